//! StatefulSets and Advanced StatefulSets: released through `rollingUpdate.partition`,
//! highest ordinals first.

use super::common::{key_of, label_effect, match_labels, to_json};
use super::contract::Release;
use crate::WorkloadKind;
use crate::batch::planned_replicas;
use crate::control::{statefulset_batch_patch, statefulset_release_patch};
use crate::facts::{self, WorkloadFacts};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::Value;
use std::collections::BTreeMap;

/// A StatefulSet released through its partition.
pub struct StatefulSetRelease {
    key: ObjectKey,
    object: Value,
    facts: WorkloadFacts,
}

impl StatefulSetRelease {
    /// From the StatefulSet as cached.
    pub fn new(statefulset: &StatefulSet) -> Self {
        Self::from_json(to_json(statefulset, Resource::STATEFUL_SET))
    }

    /// From the StatefulSet (native, or OpenKruise's Advanced StatefulSet) as JSON.
    pub fn from_json(object: Value) -> Self {
        let advanced = object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("apps.kruise.io/"));
        let resource = match advanced {
            true => Resource::ADVANCED_STATEFUL_SET,
            false => Resource::STATEFUL_SET,
        };
        Self {
            key: key_of(resource, &object),
            facts: facts::statefulset(&object),
            object,
        }
    }
}

impl Release for StatefulSetRelease {
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
        statefulset_batch_patch(&self.object, planned)
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
        statefulset_release_patch(&self.object)
            .map(|patch| Effect::merge(self.key.clone(), patch, "give the StatefulSet back"))
            .into_iter()
            .collect()
    }

    fn revision_key(&self) -> &'static str {
        keys::CONTROLLER_REVISION_HASH
    }

    fn pod_selector(&self) -> BTreeMap<String, String> {
        match_labels(&self.object)
    }

    fn label(&self) -> Option<Effect> {
        label_effect(&self.key, &self.object, WorkloadKind::StatefulSet)
    }
}
