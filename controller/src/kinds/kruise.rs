//! OpenKruise's kinds (CloneSet, Advanced StatefulSet, Advanced DaemonSet): cached as dynamic
//! objects without their pod template (see `cache::trim_kruise_workload`) when their CRDs are
//! served, and released through their partition.

use crate::cache::api_resource;
use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::reflector::{ObjectRef, Store};
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Resource;
use rollouts_workload::release::Release;
use serde_json::Value;

/// The release of `rollout`'s workload of `resource` found in `store` (built by `release`),
/// `None` when it does not exist or the kind is not served.
pub fn observe(
    store: Option<&Store<DynamicObject>>,
    resource: Resource,
    rollout: &Rollout,
    release: impl FnOnce(Value) -> Box<dyn Release>,
) -> Option<Box<dyn Release>> {
    let namespace = rollout.namespace()?;
    let key = ObjectRef::<DynamicObject>::new_with(
        &rollout.spec.workload_ref.name,
        api_resource(resource),
    )
    .within(&namespace);
    let workload = serde_json::to_value(store?.get(&key)?.as_ref()).ok()?;
    Some(release(workload))
}
