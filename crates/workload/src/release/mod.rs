//! One release per workload kind: what the step machine reads of a workload (its facts) and the
//! concrete changes it makes to it (a batch, a reset, the end of a release). Each kind is one
//! implementation of [`Release`]; [`supported`] says which kinds and rolling styles have one.
//! Adding a kind is one implementation here plus one watch in the controller
//! (docs/controller.md shows how).

mod deployment;
mod statefulset;

pub use deployment::{CanaryDeployment, PartitionDeployment, deployment_release};
pub use statefulset::StatefulSetRelease;

use crate::WorkloadKind;
use crate::facts::WorkloadFacts;
use crate::style::{RollingStyle, rolling_style};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
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
    /// Pods on the new version that a step's `replicas` ask for.
    fn planned(&self, step: &IntOrString) -> i32;
    /// The changes that bring the new version to `planned` pods (never fewer than run now).
    fn batch(&self, planned: i32) -> Vec<Effect>;
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

/// The kind of `rollout`'s workload when this controller can release it in the rolling style
/// asked for; otherwise the message that says why not.
pub fn supported(rollout: &Rollout) -> Result<WorkloadKind, String> {
    let reference = &rollout.spec.workload_ref;
    let kind = WorkloadKind::of(reference);
    match (kind, rolling_style(rollout)) {
        (_, RollingStyle::BlueGreen) => Err("blue-green releases are not supported yet".into()),
        (Some(kind @ (WorkloadKind::Deployment | WorkloadKind::StatefulSet)), _) => Ok(kind),
        _ => Err(format!(
            "the workload type '{}/{}' is not supported",
            reference.api_version, reference.kind
        )),
    }
}

/// The key of `object` (a workload read from a cache).
fn key_of(resource: rollouts_change::Resource, object: &Value) -> ObjectKey {
    let text = |field: &str| {
        object["metadata"][field]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    ObjectKey::new(resource, text("namespace"), text("name"))
}

/// The `workload-type` label patch, when `object` lacks it.
fn label_effect(key: &ObjectKey, object: &Value, kind: WorkloadKind) -> Option<Effect> {
    let labelled = object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(keys::WORKLOAD_TYPE))
        .is_some();
    (!labelled).then(|| {
        Effect::merge(
            key.clone(),
            json!({"metadata": {"labels": {keys::WORKLOAD_TYPE: kind.type_label()}}}),
            format!("label with {} so the webhook sees it", keys::WORKLOAD_TYPE),
        )
    })
}

/// `spec.selector.matchLabels` of a workload.
fn match_labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A typed object as JSON with its apiVersion and kind (cached objects carry neither).
fn to_json<K: serde::Serialize>(object: &K, resource: rollouts_change::Resource) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    value["apiVersion"] = json!(resource.api_version);
    value["kind"] = json!(resource.kind);
    value
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
