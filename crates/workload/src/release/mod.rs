//! One release per workload kind: what the step machine reads of a workload (its facts) and the
//! concrete changes it makes to it (a batch, a reset, the end of a release). Each kind is one
//! implementation of [`Release`]; [`supported`] says which kinds and rolling styles have one.
//! Adding a kind is one implementation here plus one watch in the controller
//! (docs/controller.md shows how).

mod common;
mod contract;
mod deployment;
mod native_daemonset;
mod partitioned;

pub use contract::{Release, owner_reference};
pub use deployment::{CanaryDeployment, PartitionDeployment, deployment_release};
pub use native_daemonset::{DaemonPod, NativeDaemonSetRelease};
pub use partitioned::PartitionedRelease;

use crate::WorkloadKind;
use crate::style::{RollingStyle, rolling_style};
use rollouts_api::v1beta1::Rollout;

/// The kind of `rollout`'s workload when this controller can release it in the rolling style
/// asked for; otherwise the message that says why not.
pub fn supported(rollout: &Rollout) -> Result<WorkloadKind, String> {
    let reference = &rollout.spec.workload_ref;
    let kind = WorkloadKind::of(reference);
    match (kind, rolling_style(rollout)) {
        (_, RollingStyle::BlueGreen) => Err("blue-green releases are not supported yet".into()),
        (
            Some(
                kind @ (WorkloadKind::Deployment
                | WorkloadKind::StatefulSet
                | WorkloadKind::AdvancedStatefulSet
                | WorkloadKind::CloneSet
                | WorkloadKind::AdvancedDaemonSet
                | WorkloadKind::DaemonSet),
            ),
            _,
        ) => Ok(kind),
        _ => Err(format!(
            "the workload type '{}/{}' is not supported",
            reference.api_version, reference.kind
        )),
    }
}
