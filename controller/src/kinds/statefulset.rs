//! StatefulSets: cached without their pod template (see `cache::trim_statefulset`); a change
//! wakes the Rollouts that reference them.

use crate::context::Stores;
use crate::wake::{ReferenceIndex, rollouts_referring_to};
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use rollouts_api::v1beta1::Rollout;
use rollouts_workload::release::{PartitionedRelease, Release};

/// The release of `rollout`'s StatefulSet, `None` when it does not exist.
pub fn observe(stores: &Stores, rollout: &Rollout) -> Option<Box<dyn Release>> {
    let namespace = rollout.namespace()?;
    let key = ObjectRef::new(&rollout.spec.workload_ref.name).within(&namespace);
    let statefulset = stores.stateful_sets.get(&key)?;
    Some(Box::new(PartitionedRelease::statefulset(&statefulset)))
}

/// Rollouts woken by a change of `statefulset`.
pub fn rollouts_of_statefulset(
    rollouts: &ReferenceIndex,
    statefulset: &StatefulSet,
) -> Vec<ObjectRef<Rollout>> {
    let namespace = statefulset.namespace().unwrap_or_default();
    rollouts_referring_to(rollouts, &namespace, "StatefulSet", &statefulset.name_any())
}
