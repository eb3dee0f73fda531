//! Which Rollouts a change of an object wakes, found in the in-memory Rollout cache.

use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use rollouts_api::v1beta1::Rollout;

/// Rollouts of `namespace` for which `refers` is true.
pub fn rollouts_where(
    store: &Store<Rollout>,
    namespace: &str,
    refers: impl Fn(&Rollout) -> bool,
) -> Vec<ObjectRef<Rollout>> {
    store
        .state()
        .iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace) && refers(r))
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// Rollouts of `namespace` whose workloadRef names a `kind` called `name`.
pub fn rollouts_of_workload(
    store: &Store<Rollout>,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Vec<ObjectRef<Rollout>> {
    rollouts_where(store, namespace, |r| {
        r.spec.workload_ref.kind == kind && r.spec.workload_ref.name == name
    })
}
