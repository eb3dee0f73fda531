//! Deployments, in two styles: partition (the Deployment replaces its own pods batch by batch)
//! and canary (an extra Deployment runs the new version next to the untouched stable one).

use super::common::{key_of, label_effect, match_labels, merge_effect, to_json};
use super::contract::Release;
use crate::WorkloadKind;
use crate::batch::{canary_deployment_replicas, deployment_updated_limit};
use crate::control::{
    canary_deployment, canary_scale_patch, partition_batch_patch, partition_release_patch,
    stable_release_patch,
};
use crate::facts::{self, WorkloadFacts};
use crate::labels::PodLabels;
use crate::style::{RollingStyle, rolling_style};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A partition-style Deployment back on its stable pods while staying on the new template:
/// paused first (so its controller does not roll on), then the stable ReplicaSet scaled to all
/// pods and every other one to none. Nothing is scaled down when the stable ReplicaSet is gone.
fn partition_abort(
    key: &ObjectKey,
    deployment: &Value,
    replica_sets: &[Value],
    facts: &WorkloadFacts,
) -> Vec<Effect> {
    let mut effects = merge_effect(
        key,
        (deployment.pointer("/spec/paused") != Some(&Value::Bool(true)))
            .then(|| json!({"spec": {"paused": true}})),
        || "pause the Deployment while its pods go back to the stable version".into(),
    );
    let hash = |rs: &Value| crate::revision::label(rs, keys::POD_TEMPLATE_HASH).map(str::to_string);
    let stable = &facts.stable_revision;
    if stable.is_empty()
        || !replica_sets
            .iter()
            .any(|rs| hash(rs).as_ref() == Some(stable))
    {
        return effects;
    }
    let mut scales: Vec<(&Value, i32)> = replica_sets
        .iter()
        .map(|rs| {
            let wanted = match hash(rs).as_ref() == Some(stable) {
                true => facts.replicas,
                false => 0,
            };
            (rs, wanted)
        })
        .collect();
    // Up before down, so the stable pods come while the new ones still run.
    scales.sort_by_key(|(_, wanted)| std::cmp::Reverse(*wanted));
    for (rs, wanted) in scales {
        let current = rs.pointer("/spec/replicas").and_then(Value::as_i64);
        if current != Some(i64::from(wanted)) {
            effects.push(Effect::merge(
                key_of(Resource::REPLICA_SET, rs),
                json!({"spec": {"replicas": wanted}}),
                format!("{wanted} pods on this ReplicaSet after a failed analysis"),
            ));
        }
    }
    effects
}

/// The release of a Deployment in the style `rollout` asks for. `replica_sets` are those owned
/// by the Deployment and by its canary Deployments; `canaries` the Deployments labelled as its
/// canaries. `owner` is the Rollout's controller ownerReference (for a canary Deployment).
pub fn deployment_release(
    rollout: &Rollout,
    deployment: &Deployment,
    replica_sets: &[Arc<ReplicaSet>],
    canaries: &[Arc<Deployment>],
    owner: Value,
) -> Box<dyn Release> {
    let object = to_json(deployment, Resource::DEPLOYMENT);
    let replica_sets: Vec<Value> = replica_sets
        .iter()
        .map(|rs| {
            to_json(
                rs.as_ref(),
                Resource::new("apps/v1", "ReplicaSet", "replicasets"),
            )
        })
        .collect();
    if rolling_style(rollout) == RollingStyle::BlueGreen {
        return Box::new(super::BlueGreenRelease::deployment(object, &replica_sets));
    }
    if rolling_style(rollout) == RollingStyle::Canary {
        let canaries = canaries
            .iter()
            .map(|d| to_json(d.as_ref(), Resource::DEPLOYMENT))
            .collect();
        Box::new(CanaryDeployment::new(
            rollout,
            object,
            replica_sets,
            canaries,
            owner,
        ))
    } else {
        Box::new(PartitionDeployment::new(object, &replica_sets))
    }
}

/// A Deployment released in place, without changing its strategy type (docs/controller.md).
pub struct PartitionDeployment {
    key: ObjectKey,
    object: Value,
    facts: WorkloadFacts,
    /// The ReplicaSets it owns.
    replica_sets: Vec<Value>,
}

impl PartitionDeployment {
    /// From the Deployment and the ReplicaSets it owns (as JSON).
    pub fn new(object: Value, replica_sets: &[Value]) -> Self {
        Self {
            key: key_of(Resource::DEPLOYMENT, &object),
            facts: facts::partition_deployment(&object, replica_sets),
            replica_sets: replica_sets
                .iter()
                .filter(|rs| facts::is_controlled_by(rs, &object))
                .cloned()
                .collect(),
            object,
        }
    }
}

impl Release for PartitionDeployment {
    fn object(&self) -> &ObjectKey {
        &self.key
    }

    fn facts(&self) -> &WorkloadFacts {
        &self.facts
    }

    fn planned(&self, step: &IntOrString, _no_need_update: i32) -> i32 {
        deployment_updated_limit(step, self.facts.replicas)
    }

    fn batch(&self, step: &IntOrString, no_need_update: i32) -> Vec<Effect> {
        let planned = self.planned(step, no_need_update);
        partition_batch_patch(&self.object, planned, self.facts.updated_ready)
            .map(|patch| {
                Effect::merge(
                    self.key.clone(),
                    patch,
                    format!("batch of {planned} new pods"),
                )
            })
            .into_iter()
            .collect()
    }

    fn abort(&self, _pods: Option<&[PodLabels]>) -> Option<Vec<Effect>> {
        Some(partition_abort(
            &self.key,
            &self.object,
            &self.replica_sets,
            &self.facts,
        ))
    }

    fn reset(&self) -> Vec<Effect> {
        Vec::new()
    }

    fn finish(&self, _promote: bool) -> Vec<Effect> {
        partition_release_patch(&self.object)
            .map(|patch| Effect::merge(self.key.clone(), patch, "give the Deployment back"))
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
        label_effect(&self.key, &self.object, WorkloadKind::Deployment)
    }
}

/// A Deployment released through an extra canary Deployment; the stable one stays paused and
/// untouched until the release ends.
pub struct CanaryDeployment {
    key: ObjectKey,
    object: Value,
    canaries: Vec<Value>,
    facts: WorkloadFacts,
    owner: Value,
    patch_metadata: Option<rollouts_api::common::PatchPodTemplateMetadata>,
}

impl CanaryDeployment {
    /// From the stable Deployment, the ReplicaSets of it and of its canaries, and its canaries.
    pub fn new(
        rollout: &Rollout,
        object: Value,
        replica_sets: Vec<Value>,
        canaries: Vec<Value>,
        owner: Value,
    ) -> Self {
        Self {
            key: key_of(Resource::DEPLOYMENT, &object),
            facts: facts::canary_style_deployment(&object, &replica_sets, &canaries),
            patch_metadata: rollout
                .spec
                .strategy
                .canary
                .as_ref()
                .and_then(|c| c.patch_pod_template_metadata.clone()),
            object,
            canaries,
            owner,
        }
    }

    fn canary_key(&self, canary: &Value) -> ObjectKey {
        key_of(Resource::DEPLOYMENT, canary)
    }

    /// Deletes every live canary Deployment except `keep`.
    fn delete_canaries(&self, keep: Option<&str>, why: &str) -> Vec<Effect> {
        facts::canary_deployments(&self.object, &self.canaries)
            .into_iter()
            .filter(|c| c["metadata"]["name"].as_str() != keep)
            .map(|c| Effect::delete(self.canary_key(c), why))
            .collect()
    }
}

impl Release for CanaryDeployment {
    fn object(&self) -> &ObjectKey {
        &self.key
    }

    fn facts(&self) -> &WorkloadFacts {
        &self.facts
    }

    fn planned(&self, step: &IntOrString, _no_need_update: i32) -> i32 {
        canary_deployment_replicas(step, self.facts.replicas, self.facts.replicas)
    }

    fn batch(&self, step: &IntOrString, no_need_update: i32) -> Vec<Effect> {
        let planned = self.planned(step, no_need_update);
        let name = facts::canary_deployment_name(&self.object);
        let existing = facts::canary_deployments(&self.object, &self.canaries)
            .into_iter()
            .find(|d| d["metadata"]["name"].as_str() == Some(name.as_str()));
        match existing {
            Some(canary) => canary_scale_patch(canary, planned)
                .map(|patch| {
                    Effect::merge(
                        self.canary_key(canary),
                        patch,
                        format!("scale the canary to {planned} pods"),
                    )
                })
                .into_iter()
                .collect(),
            None => vec![Effect::create(
                Resource::DEPLOYMENT,
                canary_deployment(
                    &self.object,
                    planned,
                    self.owner.clone(),
                    self.patch_metadata.as_ref(),
                ),
                format!("canary Deployment with {planned} pods"),
            )],
        }
    }

    fn abort(&self, _pods: Option<&[PodLabels]>) -> Option<Vec<Effect>> {
        // The stable Deployment never left the stable version: the canary goes down to none.
        let effects = facts::canary_deployments(&self.object, &self.canaries)
            .into_iter()
            .filter(|c| c.pointer("/spec/replicas").and_then(Value::as_i64) != Some(0))
            .map(|c| {
                Effect::merge(
                    self.canary_key(c),
                    json!({"spec": {"replicas": 0}}),
                    "no canary pods after a failed analysis",
                )
            })
            .collect();
        Some(effects)
    }

    fn reset(&self) -> Vec<Effect> {
        let keep = facts::canary_deployment_name(&self.object);
        self.delete_canaries(Some(&keep), "a newer version replaced this canary")
    }

    fn finish(&self, promote: bool) -> Vec<Effect> {
        let mut effects: Vec<Effect> = stable_release_patch(&self.object)
            .map(|patch| Effect::merge(self.key.clone(), patch, "give the Deployment back"))
            .into_iter()
            .collect();
        if !promote || self.facts.promoted {
            effects.extend(self.delete_canaries(None, "the release ended"));
        }
        effects
    }

    fn revision_key(&self) -> &'static str {
        keys::POD_TEMPLATE_HASH
    }

    fn pod_selector(&self) -> BTreeMap<String, String> {
        match_labels(&self.object)
    }

    fn label(&self) -> Option<Effect> {
        label_effect(&self.key, &self.object, WorkloadKind::Deployment)
    }
}
