//! StatefulSets and OpenKruise's Advanced StatefulSets: cached without their pod template (see
//! `cache::trim_statefulset`, `cache::trim_kruise_workload`; Advanced StatefulSets only when
//! their CRD is installed); a change wakes the Rollouts that reference them.

use crate::cache::api_resource;
use crate::context::Stores;
use crate::wake::{ReferenceIndex, rollouts_referring_to};
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::ResourceExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::ObjectRef;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Resource;
use rollouts_workload::release::{PartitionedRelease, Release};

/// The release of `rollout`'s StatefulSet, `None` when it does not exist.
pub fn observe(stores: &Stores, rollout: &Rollout) -> Option<Box<dyn Release>> {
    let namespace = rollout.namespace()?;
    let key = ObjectRef::new(&rollout.spec.workload_ref.name).within(&namespace);
    let statefulset = stores.stateful_sets.get(&key)?;
    Some(Box::new(PartitionedRelease::statefulset(&statefulset)))
}

/// The Advanced StatefulSet resource.
pub fn advanced_resource() -> ApiResource {
    api_resource(Resource::ADVANCED_STATEFUL_SET)
}

/// The release of `rollout`'s Advanced StatefulSet, `None` when it does not exist (or they are
/// not served).
pub fn observe_advanced(stores: &Stores, rollout: &Rollout) -> Option<Box<dyn Release>> {
    let store = stores.advanced_stateful_sets.as_ref()?;
    let namespace = rollout.namespace()?;
    let key =
        ObjectRef::<DynamicObject>::new_with(&rollout.spec.workload_ref.name, advanced_resource())
            .within(&namespace);
    let statefulset = serde_json::to_value(store.get(&key)?.as_ref()).ok()?;
    Some(Box::new(PartitionedRelease::statefulset_json(statefulset)))
}

/// Rollouts woken by a change of `statefulset`.
pub fn rollouts_of_statefulset(
    rollouts: &ReferenceIndex,
    statefulset: &StatefulSet,
) -> Vec<ObjectRef<Rollout>> {
    let namespace = statefulset.namespace().unwrap_or_default();
    rollouts_referring_to(rollouts, &namespace, "StatefulSet", &statefulset.name_any())
}
