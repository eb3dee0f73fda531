//! Blue-green releases (Deployments and CloneSets): every step adds its share of new pods
//! beside all the old ones (`control::deployment_blue_green_patch` and its CloneSet twin);
//! traffic moves by the steps' weights; the end restores the workload's settings, and its own
//! controller then removes the old pods (success) or the new ones (rollback).

use super::common::{key_of, label_effect, match_labels, merge_effect};
use super::contract::Release;
use crate::WorkloadKind;
use crate::control::{
    cloneset_blue_green_patch, cloneset_blue_green_release_patch, deployment_blue_green_patch,
    partition_release_patch,
};
use crate::facts::{self, WorkloadFacts};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::Value;
use std::collections::BTreeMap;

/// How one kind is surged and given back.
struct BlueGreenKind {
    kind: WorkloadKind,
    name: &'static str,
    batch: fn(&Value, &IntOrString) -> Option<Value>,
    finish: fn(&Value) -> Option<Value>,
}

const DEPLOYMENT: BlueGreenKind = BlueGreenKind {
    kind: WorkloadKind::Deployment,
    name: "Deployment",
    batch: deployment_blue_green_patch,
    finish: partition_release_patch,
};

const CLONE_SET: BlueGreenKind = BlueGreenKind {
    kind: WorkloadKind::CloneSet,
    name: "CloneSet",
    batch: cloneset_blue_green_patch,
    finish: cloneset_blue_green_release_patch,
};

/// A Deployment or CloneSet released blue-green.
pub struct BlueGreenRelease {
    key: ObjectKey,
    object: Value,
    facts: WorkloadFacts,
    kind: &'static BlueGreenKind,
}

impl BlueGreenRelease {
    /// A Deployment and the ReplicaSets it owns (as JSON).
    pub fn deployment(object: Value, replica_sets: &[Value]) -> Self {
        Self {
            key: key_of(Resource::DEPLOYMENT, &object),
            facts: facts::partition_deployment(&object, replica_sets),
            object,
            kind: &DEPLOYMENT,
        }
    }

    /// A CloneSet as JSON.
    pub fn cloneset_json(object: Value) -> Self {
        Self {
            key: key_of(Resource::CLONE_SET, &object),
            facts: facts::cloneset(&object),
            object,
            kind: &CLONE_SET,
        }
    }
}

impl Release for BlueGreenRelease {
    fn object(&self) -> &ObjectKey {
        &self.key
    }

    fn facts(&self) -> &WorkloadFacts {
        &self.facts
    }

    fn batch(&self, step: &IntOrString, no_need_update: i32) -> Vec<Effect> {
        let planned = self.planned(step, no_need_update);
        let patch = (self.kind.batch)(&self.object, step);
        merge_effect(&self.key, patch, || {
            format!("{planned} new pods beside the old ones")
        })
    }

    fn reset(&self) -> Vec<Effect> {
        Vec::new()
    }

    fn finish(&self, _promote: bool) -> Vec<Effect> {
        let patch = (self.kind.finish)(&self.object);
        merge_effect(&self.key, patch, || {
            format!("give the {} its settings back", self.kind.name)
        })
    }

    fn revision_key(&self) -> &'static str {
        keys::POD_TEMPLATE_HASH
    }

    fn pod_selector(&self) -> BTreeMap<String, String> {
        match_labels(&self.object)
    }

    fn label(&self) -> Option<Effect> {
        label_effect(&self.key, &self.object, self.kind.kind)
    }
}
