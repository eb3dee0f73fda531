//! Kinds released through a partition (the number or share of pods kept on the old version),
//! which their own controller honours: StatefulSets and Advanced StatefulSets
//! (`rollingUpdate.partition`, highest ordinals first) and CloneSets
//! (`updateStrategy.partition`), Advanced DaemonSets (`rollingUpdate.partition`, in nodes).
//! One release serves them all; each kind is a [`PartitionKind`]:
//! how its facts are read and its partition is written and removed.

use super::common::{delete_pods_on, key_of, label_effect, match_labels, merge_effect, to_json};
use super::contract::Release;
use crate::WorkloadKind;
use crate::control::{
    advanced_daemonset_batch_patch, advanced_daemonset_release_patch, cloneset_batch_patch,
    cloneset_freeze_patch, cloneset_release_patch, statefulset_batch_patch,
    statefulset_freeze_patch, statefulset_release_patch,
};
use crate::facts::{self, WorkloadFacts};
use crate::labels::PodLabels;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::Value;
use std::collections::BTreeMap;

/// How one partition-driven kind is read and changed.
pub struct PartitionKind {
    kind: WorkloadKind,
    /// Its name in messages.
    name: &'static str,
    facts: fn(&Value) -> WorkloadFacts,
    /// The patch that frees the pods a step asks for (given the pods a rollback in batches
    /// need not update), `None` when they are free already.
    batch: fn(&Value, &IntOrString, i32) -> Option<Value>,
    /// The patch that removes the partition and the release's marks, `None` when none is left.
    finish: fn(&Value) -> Option<Value>,
    /// The patch that keeps every pod on the old version (after a failed analysis), `None` when
    /// it is in place; unset for kinds whose pods cannot go back that way.
    freeze: Option<fn(&Value) -> Option<Value>>,
    /// The pod label carrying a pod's revision.
    revision_key: &'static str,
    /// Whether a rollback may be released in batches (its partition counts pods).
    rolls_back_in_batches: bool,
}

const STATEFUL_SET: PartitionKind = PartitionKind {
    kind: WorkloadKind::StatefulSet,
    name: "StatefulSet",
    facts: facts::statefulset,
    batch: statefulset_batch_patch,
    finish: statefulset_release_patch,
    freeze: Some(statefulset_freeze_patch),
    revision_key: keys::CONTROLLER_REVISION_HASH,
    rolls_back_in_batches: true,
};

const CLONE_SET: PartitionKind = PartitionKind {
    kind: WorkloadKind::CloneSet,
    name: "CloneSet",
    facts: facts::cloneset,
    batch: cloneset_batch_patch,
    finish: cloneset_release_patch,
    freeze: Some(cloneset_freeze_patch),
    revision_key: keys::POD_TEMPLATE_HASH,
    rolls_back_in_batches: true,
};

const ADVANCED_DAEMON_SET: PartitionKind = PartitionKind {
    kind: WorkloadKind::AdvancedDaemonSet,
    name: "DaemonSet",
    facts: facts::advanced_daemonset,
    batch: |object, step, _| advanced_daemonset_batch_patch(object, step),
    finish: advanced_daemonset_release_patch,
    freeze: None,
    revision_key: keys::POD_TEMPLATE_HASH,
    rolls_back_in_batches: false,
};

/// A workload released through its partition.
pub struct PartitionedRelease {
    key: ObjectKey,
    object: Value,
    facts: WorkloadFacts,
    kind: &'static PartitionKind,
}

impl PartitionedRelease {
    fn of(kind: &'static PartitionKind, resource: Resource, object: Value) -> Self {
        Self {
            key: key_of(resource, &object),
            facts: (kind.facts)(&object),
            object,
            kind,
        }
    }

    /// A native StatefulSet as cached.
    pub fn statefulset(statefulset: &StatefulSet) -> Self {
        Self::statefulset_json(to_json(statefulset, Resource::STATEFUL_SET))
    }

    /// A StatefulSet, native or OpenKruise's Advanced StatefulSet (by its apiVersion), as JSON.
    pub fn statefulset_json(object: Value) -> Self {
        let advanced = object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("apps.kruise.io/"));
        let resource = match advanced {
            true => Resource::ADVANCED_STATEFUL_SET,
            false => Resource::STATEFUL_SET,
        };
        Self::of(&STATEFUL_SET, resource, object)
    }

    /// An Advanced DaemonSet as JSON.
    pub fn advanced_daemonset_json(object: Value) -> Self {
        Self::of(&ADVANCED_DAEMON_SET, Resource::ADVANCED_DAEMON_SET, object)
    }

    /// A CloneSet as JSON.
    pub fn cloneset_json(object: Value) -> Self {
        Self::of(&CLONE_SET, Resource::CLONE_SET, object)
    }
}

impl Release for PartitionedRelease {
    fn object(&self) -> &ObjectKey {
        &self.key
    }

    fn facts(&self) -> &WorkloadFacts {
        &self.facts
    }

    fn batch(&self, step: &IntOrString, no_need_update: i32) -> Vec<Effect> {
        let planned = self.planned(step, no_need_update);
        let patch = (self.kind.batch)(&self.object, step, no_need_update);
        merge_effect(&self.key, patch, || {
            format!("partition for {planned} new pods")
        })
    }

    fn rolls_back_in_batches(&self) -> bool {
        self.kind.rolls_back_in_batches
    }

    fn may_have_stuck_pods(&self) -> bool {
        let status = &self.object["status"];
        let ready = status["readyReplicas"].as_i64().unwrap_or(0);
        self.kind.kind == WorkloadKind::StatefulSet && ready < i64::from(self.facts.replicas)
    }

    /// A StatefulSet's controller replaces a pod only once every pod is Ready, so a pod that
    /// never becomes Ready on a revision the StatefulSet no longer runs (a broken version,
    /// rolled back or replaced by a newer one) stays forever, and with it every later update:
    /// the "forced rollback" Kubernetes leaves to a person. Deleted, it comes back on the
    /// revision its ordinal should run.
    fn stuck_pods(&self, pods: &[PodLabels]) -> Vec<Effect> {
        let status = &self.object["status"];
        let current = status["currentRevision"].as_str().unwrap_or_default();
        let update = status["updateRevision"].as_str().unwrap_or_default();
        if self.kind.kind != WorkloadKind::StatefulSet || update.is_empty() {
            return Vec::new();
        }
        pods.iter()
            .filter(|pod| !pod.ready && !pod.terminating)
            .filter_map(|pod| {
                let revision = pod.revision.as_deref()?;
                (revision != current && revision != update).then(|| Effect {
                    object: ObjectKey::new(Resource::POD, &self.key.namespace, &pod.name),
                    change: rollouts_change::Change::Delete,
                    why: format!(
                        "not Ready on revision {revision}, which the StatefulSet no longer runs: it would wait for this pod forever"
                    ),
                })
            })
            .collect()
    }

    fn abort(&self, pods: Option<&[PodLabels]>) -> Option<Vec<Effect>> {
        let patch = (self.kind.freeze?)(&self.object);
        let mut effects = merge_effect(&self.key, patch, || {
            format!(
                "keep every pod of the {} on the stable version",
                self.kind.name
            )
        });
        // Pods already on the new version are not taken back by the partition: deleted, they
        // come back on the stable version.
        if effects.is_empty() {
            effects = delete_pods_on(
                &self.key.namespace,
                pods?,
                &self.facts.pod_template_hash,
                "back to the stable version after a failed analysis",
            );
        }
        Some(effects)
    }

    fn reset(&self) -> Vec<Effect> {
        Vec::new()
    }

    fn finish(&self, _promote: bool) -> Vec<Effect> {
        let patch = (self.kind.finish)(&self.object);
        merge_effect(&self.key, patch, || {
            format!("give the {} back", self.kind.name)
        })
    }

    fn revision_key(&self) -> &'static str {
        self.kind.revision_key
    }

    fn pod_selector(&self) -> BTreeMap<String, String> {
        match_labels(&self.object)
    }

    fn label(&self) -> Option<Effect> {
        label_effect(&self.key, &self.object, self.kind.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloneset(partition: Value, status: Value) -> PartitionedRelease {
        PartitionedRelease::cloneset_json(json!({
            "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
            "metadata": {"name": "echo", "namespace": "shop", "generation": 2,
                "annotations": {keys::IN_PROGRESSING: "{}"}},
            "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "echo"}},
                "updateStrategy": {"partition": partition}},
            "status": status,
        }))
    }

    #[test]
    fn facts_come_from_the_cloneset_status_with_short_revisions() {
        let release = cloneset(
            json!("80%"),
            json!({"observedGeneration": 2, "replicas": 5, "updatedReplicas": 1,
                "updatedReadyReplicas": 1, "currentRevision": "echo-6f7b9c8d4",
                "updateRevision": "echo-85c4f6b7d9"}),
        );
        let facts = release.facts();
        assert_eq!(facts.stable_revision, "6f7b9c8d4");
        assert_eq!(facts.canary_revision, "85c4f6b7d9");
        assert_eq!(facts.pod_template_hash, "85c4f6b7d9");
        assert_eq!((facts.updated, facts.updated_ready), (1, 1));
        assert!(!facts.in_rollback && !facts.released && !facts.promoted);
        assert_eq!(release.object().to_string(), "CloneSet shop/echo");
    }

    #[test]
    fn the_old_revision_back_with_pods_on_the_new_one_is_a_rollback() {
        let release = cloneset(
            json!("80%"),
            json!({"observedGeneration": 2, "replicas": 5, "updatedReplicas": 4,
                "updatedReadyReplicas": 4, "currentRevision": "echo-6f7b9c8d4",
                "updateRevision": "echo-6f7b9c8d4"}),
        );
        assert!(release.facts().in_rollback);
    }

    #[test]
    fn advanced_statefulsets_are_patched_through_their_own_api() {
        let native = json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": "shop"}, "spec": {"replicas": 3}});
        let mut advanced = native.clone();
        advanced["apiVersion"] = json!("apps.kruise.io/v1beta1");
        let native = PartitionedRelease::statefulset_json(native);
        let advanced = PartitionedRelease::statefulset_json(advanced);
        assert_eq!(native.object().resource, Resource::STATEFUL_SET);
        assert_eq!(advanced.object().resource, Resource::ADVANCED_STATEFUL_SET);
        assert_eq!(advanced.revision_key(), keys::CONTROLLER_REVISION_HASH);
    }

    #[test]
    fn a_batch_lowers_the_partition_and_the_end_removes_it() {
        let release = cloneset(json!("100%"), json!({"replicas": 5}));
        let batch = release.batch(&IntOrString::String("60%".into()), 0);
        assert_eq!(batch.len(), 1);
        assert_eq!(
            batch[0].change,
            rollouts_change::Change::Merge(
                json!({"spec": {"updateStrategy": {"paused": false, "partition": "40%"}}})
            )
        );
        let end = release.finish(true);
        assert_eq!(end.len(), 1);
        let all_updated = cloneset(
            Value::Null,
            json!({"observedGeneration": 2, "replicas": 5, "updatedReplicas": 5,
                "updatedReadyReplicas": 5}),
        );
        assert!(all_updated.facts().promoted);
    }
}
