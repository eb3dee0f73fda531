//! CloneSets: released through `updateStrategy.partition` (see `control::cloneset_batch_patch`);
//! the CloneSet's own controller replaces or updates in place the pods the partition frees.

use super::common::{key_of, label_effect, match_labels};
use super::contract::Release;
use crate::WorkloadKind;
use crate::batch::planned_replicas;
use crate::control::{cloneset_batch_patch, cloneset_release_patch};
use crate::facts::{self, WorkloadFacts};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::Value;
use std::collections::BTreeMap;

/// A CloneSet released through its partition.
pub struct CloneSetRelease {
    key: ObjectKey,
    object: Value,
    facts: WorkloadFacts,
}

impl CloneSetRelease {
    /// From the CloneSet as JSON (as cached).
    pub fn from_json(object: Value) -> Self {
        Self {
            key: key_of(Resource::CLONE_SET, &object),
            facts: facts::cloneset(&object),
            object,
        }
    }
}

impl Release for CloneSetRelease {
    fn object(&self) -> &ObjectKey {
        &self.key
    }

    fn facts(&self) -> &WorkloadFacts {
        &self.facts
    }

    fn planned(&self, step: &IntOrString) -> i32 {
        planned_replicas(step, self.facts.replicas)
    }

    fn batch(&self, step: &IntOrString) -> Vec<Effect> {
        let planned = self.planned(step);
        cloneset_batch_patch(&self.object, step)
            .map(|patch| {
                Effect::merge(
                    self.key.clone(),
                    patch,
                    format!("partition for {planned} new pods"),
                )
            })
            .into_iter()
            .collect()
    }

    fn reset(&self) -> Vec<Effect> {
        Vec::new()
    }

    fn finish(&self, _promote: bool) -> Vec<Effect> {
        cloneset_release_patch(&self.object)
            .map(|patch| Effect::merge(self.key.clone(), patch, "give the CloneSet back"))
            .into_iter()
            .collect()
    }

    fn revision_key(&self) -> &'static str {
        keys::POD_TEMPLATE_HASH
    }

    fn pod_selector(&self) -> BTreeMap<String, String> {
        match_labels(&self.object)
    }

    fn label(&self) -> Option<Effect> {
        label_effect(&self.key, &self.object, WorkloadKind::CloneSet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloneset(partition: Value, status: Value) -> CloneSetRelease {
        CloneSetRelease::from_json(json!({
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
    fn a_batch_lowers_the_partition_and_the_end_removes_it() {
        let release = cloneset(json!("100%"), json!({"replicas": 5}));
        let batch = release.batch(&IntOrString::String("60%".into()));
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
