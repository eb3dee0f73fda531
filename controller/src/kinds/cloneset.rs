//! CloneSets (OpenKruise): cached without their pod template (see
//! `cache::trim_kruise_workload`) when their CRD is installed; a change wakes the Rollouts that
//! reference them.

use crate::cache::api_resource;
use crate::context::Stores;
use kube::ResourceExt;
use kube::api::{ApiResource, DynamicObject};
use kube::runtime::reflector::ObjectRef;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Resource;
use rollouts_workload::release::{PartitionedRelease, Release};

/// The CloneSet resource.
pub fn resource() -> ApiResource {
    api_resource(Resource::CLONE_SET)
}

/// The release of `rollout`'s CloneSet, `None` when it does not exist (or CloneSets are not
/// served).
pub fn observe(stores: &Stores, rollout: &Rollout) -> Option<Box<dyn Release>> {
    let store = stores.clone_sets.as_ref()?;
    let namespace = rollout.namespace()?;
    let key = ObjectRef::<DynamicObject>::new_with(&rollout.spec.workload_ref.name, resource())
        .within(&namespace);
    let cloneset = serde_json::to_value(store.get(&key)?.as_ref()).ok()?;
    Some(Box::new(PartitionedRelease::cloneset_json(cloneset)))
}
