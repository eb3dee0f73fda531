//! One release per workload kind: what the step machine reads of a workload (its facts) and the
//! concrete changes it makes to it (a batch, a reset, the end of a release). Each kind is one
//! implementation of [`Release`]; [`supported`] says which kinds and rolling styles have one.
//! Adding a kind is one implementation here plus one watch in the controller
//! (docs/controller.md shows how).

mod blue_green;
mod common;
mod contract;
mod deployment;
mod native_daemonset;
mod partitioned;

pub use blue_green::BlueGreenRelease;
pub use contract::{Release, can_abort, owner_reference};
pub use deployment::{CanaryDeployment, PartitionDeployment, deployment_release};
pub use native_daemonset::{DaemonPod, NativeDaemonSetRelease};
pub use partitioned::PartitionedRelease;

use crate::WorkloadKind;
use crate::style::{RollingStyle, rolling_style};
use rollouts_api::v1beta1::Rollout;
use serde_json::Value;

/// The release of a CloneSet (as JSON) in the style `rollout` asks for.
pub fn cloneset_release(rollout: &Rollout, object: Value) -> Box<dyn Release> {
    match rolling_style(rollout) {
        RollingStyle::BlueGreen => Box::new(BlueGreenRelease::cloneset_json(object)),
        _ => Box::new(PartitionedRelease::cloneset_json(object)),
    }
}

/// The kind of `rollout`'s workload when this controller can release it in the rolling style
/// asked for; otherwise the message that says why not.
pub fn supported(rollout: &Rollout) -> Result<WorkloadKind, String> {
    let reference = &rollout.spec.workload_ref;
    let kind = WorkloadKind::of(reference);
    match (kind, rolling_style(rollout)) {
        (
            Some(kind @ (WorkloadKind::Deployment | WorkloadKind::CloneSet)),
            RollingStyle::BlueGreen,
        ) => Ok(kind),
        (_, RollingStyle::BlueGreen) => Err(format!(
            "blue-green releases support Deployments and CloneSets, not '{}/{}'",
            reference.api_version, reference.kind
        )),
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
