//! The contract every workload kind's release fulfils, and the ownerReference of the objects a
//! release creates.

use crate::facts::WorkloadFacts;
use crate::labels::PodLabels;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::{Effect, ObjectKey};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A workload as one release sees it: facts in, concrete changes out. Every change is
/// idempotent, and a change that would not alter anything is never returned.
pub trait Release: Send + Sync {
    /// The workload object.
    fn object(&self) -> &ObjectKey;
    /// What the step machine needs to know about it.
    fn facts(&self) -> &WorkloadFacts;
    /// Pods on the new version that a step's `replicas` ask for: by default the step scaled to
    /// the workload's pods. `no_need_update`: pods already on the target revision when a
    /// rollback in batches began (0 otherwise); the step's share applies to the other pods.
    fn planned(&self, step: &IntOrString, no_need_update: i32) -> i32 {
        crate::batch::updated_after(step, self.facts().replicas, no_need_update)
    }
    /// The changes that bring the new version to the pods `step` asks for
    /// (`planned(step, no_need_update)`; never fewer than run now).
    fn batch(&self, step: &IntOrString, no_need_update: i32) -> Vec<Effect>;
    /// Whether a rollback of this kind may be released in batches like a new version
    /// (`rollouts.kruise.io/rollback-in-batch`): only kinds whose partition counts pods.
    fn rolls_back_in_batches(&self) -> bool {
        false
    }
    /// A failed metric analysis: the changes that bring every pod back to the stable revision
    /// while the workload stays frozen on its new template (nothing once there). `pods`: the
    /// workload's pods, when listed. `None` when this kind cannot do that without changing the
    /// template ([`can_abort`] says which kinds can).
    fn abort(&self, _pods: Option<&[PodLabels]>) -> Option<Vec<Effect>> {
        None
    }
    /// Whether [`Release::stuck_pods`] may find any now (the controller then lists the pods).
    fn may_have_stuck_pods(&self) -> bool {
        false
    }
    /// Deletions of pods that the workload's own controller will never replace, so that it
    /// does (none by default). `pods`: the workload's pods.
    fn stuck_pods(&self, _pods: &[PodLabels]) -> Vec<Effect> {
        Vec::new()
    }
    /// A newer version replaced the one being released: remove what the old release added.
    fn reset(&self) -> Vec<Effect>;
    /// Give the workload back to its own controller and remove every mark of the release.
    /// `promote` (success) keeps what still serves traffic until the workload runs the new
    /// version everywhere; otherwise (rollback, disable, delete) everything goes at once.
    fn finish(&self, promote: bool) -> Vec<Effect>;
    /// Label key under which the workload's pods carry their revision.
    fn revision_key(&self) -> &'static str;
    /// Labels selecting the workload's pods.
    fn pod_selector(&self) -> BTreeMap<String, String>;
    /// The `workload-type` label the webhook selects workloads by, when it is missing.
    fn label(&self) -> Option<Effect>;
}

/// The controller ownerReference objects created for `rollout` carry (canary Deployments and
/// Services), so they go away with it.
pub fn owner_reference(rollout: &Rollout) -> Value {
    json!({
        "apiVersion": rollouts_change::Resource::ROLLOUT.api_version,
        "kind": rollouts_change::Resource::ROLLOUT.kind,
        "name": rollout.metadata.name,
        "uid": rollout.metadata.uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether a release of `kind` (with `blue_green` or not) can bring its pods back to the stable
/// revision after a failed analysis while staying frozen ([`Release::abort`]): Deployments in
/// the canary and partition styles, StatefulSets, Advanced StatefulSets and CloneSets. Not
/// DaemonSets (a pod comes back on the old version only with the old template) and not
/// blue-green releases.
pub fn can_abort(api_version: &str, kind: &str, blue_green: bool) -> bool {
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    let supported = matches!(
        (group, kind),
        ("apps", "Deployment" | "StatefulSet") | ("apps.kruise.io", "StatefulSet" | "CloneSet")
    );
    supported && !blue_green
}
