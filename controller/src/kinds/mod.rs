//! The watch wiring of each workload kind: how its objects are cached, which Rollouts a change
//! wakes, and how a Rollout's workload is read from the caches into its release (the pure
//! implementations live in `rollouts_workload::release`). Adding a kind is one module here.

pub mod daemonset;
pub mod deployment;
pub mod kruise;
pub mod statefulset;

use crate::context::Stores;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Resource;
use rollouts_workload::WorkloadKind;
use rollouts_workload::release::{PartitionedRelease, Release, cloneset_release};

/// The release of `rollout`'s workload as cached (a native DaemonSet's pods are read from the
/// API), `None` when the workload does not exist or no release serves its kind.
pub async fn observe(
    client: &kube::Client,
    stores: &Stores,
    rollout: &Rollout,
) -> Option<Box<dyn Release>> {
    match rollouts_workload::release::supported(rollout).ok()? {
        WorkloadKind::DaemonSet => daemonset::observe(client, stores, rollout).await,
        WorkloadKind::Deployment => deployment::observe(stores, rollout),
        WorkloadKind::StatefulSet => statefulset::observe(stores, rollout),
        WorkloadKind::AdvancedStatefulSet => kruise::observe(
            stores.advanced_stateful_sets.as_ref(),
            Resource::ADVANCED_STATEFUL_SET,
            rollout,
            |object| Box::new(PartitionedRelease::statefulset_json(object)),
        ),
        WorkloadKind::CloneSet => kruise::observe(
            stores.clone_sets.as_ref(),
            Resource::CLONE_SET,
            rollout,
            |object| cloneset_release(rollout, object),
        ),
        WorkloadKind::AdvancedDaemonSet => kruise::observe(
            stores.advanced_daemon_sets.as_ref(),
            Resource::ADVANCED_DAEMON_SET,
            rollout,
            |object| Box::new(PartitionedRelease::advanced_daemonset_json(object)),
        ),
        _ => None,
    }
}
