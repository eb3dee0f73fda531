//! Deployments: cached with their ReplicaSets (indexed by owner) and canary Deployments
//! (indexed by the stable Deployment they belong to).

use crate::context::Stores;
use crate::wake::{ReferenceIndex, rollouts_referring_to};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_workload::release::{Release, deployment_release, owner_reference};

/// The release of `rollout`'s Deployment, `None` when it does not exist.
pub fn observe(stores: &Stores, rollout: &Rollout) -> Option<Box<dyn Release>> {
    let namespace = rollout.namespace()?;
    let name = &rollout.spec.workload_ref.name;
    let stable = stores
        .deployments
        .get(&ObjectRef::new(name).within(&namespace))?;
    let canaries = stores
        .canaries
        .get(&stores.deployments, &format!("{namespace}/{name}"));
    let mut replica_sets = Vec::new();
    for owner in std::iter::once(&stable).chain(canaries.iter()) {
        if let Some(uid) = owner.metadata.uid.as_deref() {
            replica_sets.extend(stores.replica_sets_by_owner.get(&stores.replica_sets, uid));
        }
    }
    Some(deployment_release(
        rollout,
        &stable,
        &replica_sets,
        &canaries,
        owner_reference(rollout),
    ))
}

/// The stable Deployment a Deployment stands for: itself, or the one it is a canary of.
fn stable_name(deployment: &Deployment) -> String {
    deployment
        .labels()
        .get(keys::CANARY_DEPLOYMENT)
        .cloned()
        .unwrap_or_else(|| deployment.name_any())
}

/// Rollouts woken by a change of `deployment` (a workload or a canary Deployment).
pub fn rollouts_of_deployment(
    rollouts: &ReferenceIndex,
    deployment: &Deployment,
) -> Vec<ObjectRef<Rollout>> {
    let namespace = deployment.namespace().unwrap_or_default();
    rollouts_referring_to(rollouts, &namespace, "Deployment", &stable_name(deployment))
}

/// Rollouts woken by a change of `replica_set`: those of the Deployment controlling it.
pub fn rollouts_of_replica_set(
    rollouts: &ReferenceIndex,
    deployments: &Store<Deployment>,
    replica_set: &ReplicaSet,
) -> Vec<ObjectRef<Rollout>> {
    let namespace = replica_set.namespace().unwrap_or_default();
    let Some(owner) = replica_set
        .owner_references()
        .iter()
        .find(|o| o.controller == Some(true) && o.kind == "Deployment")
    else {
        return Vec::new();
    };
    let deployment = deployments.get(&ObjectRef::new(&owner.name).within(&namespace));
    let stable = deployment.map_or_else(|| owner.name.clone(), |d| stable_name(&d));
    rollouts_referring_to(rollouts, &namespace, "Deployment", &stable)
}
