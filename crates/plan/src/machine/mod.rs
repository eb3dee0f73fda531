//! The step machine (reference §4.2–4.8): from a Rollout, the facts of its workload and the
//! current time to the next status and the effects the controller must apply. Pure: the
//! controller reads the cluster, calls [`decide`], applies the actions, then writes the status.

mod conditions;
mod finalise;
mod phase;
mod progressing;
mod steps;
mod traffic;

pub use conditions::{condition, messages};
pub use traffic::{Stage, TrafficView};

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use rollouts_api::v1beta1::{Rollout, RolloutStatus};
use rollouts_workload::facts::WorkloadFacts;
use std::time::Duration;

/// How the workload is moved through a release; decides how a step's replicas are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// A Deployment replaced in place (`rolling-style: partition`).
    PartitionDeployment,
    /// A Deployment next to an extra canary Deployment.
    CanaryDeployment,
    /// A StatefulSet or Advanced StatefulSet through its partition.
    StatefulSet,
}

impl Control {
    /// Pods on the new version a step asks for (reference Appendix A, per control).
    pub fn planned(self, step: &IntOrString, replicas: i32) -> i32 {
        use crate::batch;
        match self {
            Self::PartitionDeployment => batch::deployment_updated_limit(step, replicas),
            Self::CanaryDeployment => batch::canary_deployment_replicas(step, replicas, replicas),
            Self::StatefulSet => batch::planned_replicas(step, replicas),
        }
    }
}

/// Everything a decision depends on.
#[derive(Clone, Debug)]
pub struct Snapshot<'a> {
    /// The Rollout as read (spec, annotations, status, deletion).
    pub rollout: &'a Rollout,
    /// The referenced workload, `None` when it does not exist.
    pub workload: Option<&'a WorkloadFacts>,
    /// How the workload is released.
    pub control: Control,
    /// Now.
    pub now: Timestamp,
    /// Seconds a step may take to get its pods Ready before the Rollout is marked failed.
    pub progress_deadline_seconds: i64,
    /// New-version pods that are not Ready, as `name (reason)`, for the deadline message.
    pub not_ready_pods: &'a [String],
    /// The traffic objects, when the Rollout routes traffic.
    pub traffic: Option<TrafficView>,
}

/// An effect on the cluster. Every action is idempotent: applying it twice is harmless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Bring the workload to `planned` pods on the new version (never fewer than now).
    UpgradeBatch {
        /// Pods on the new version after this batch.
        planned: i32,
    },
    /// A newer version replaced the one being released: drop the old release's canary objects.
    ResetRelease,
    /// Give the workload back to its own controller and remove every mark of the release.
    /// `promote`: wait until the workload runs the new version everywhere before removing
    /// the canary (success); otherwise remove it at once (rollback, disable, delete).
    Release {
        /// Success path.
        promote: bool,
    },
    /// Remove the `approved-step` annotation so it cannot approve a step of a new release.
    ClearApprovedStep,
    /// Pin the stable Service to the stable revision before any new pod exists.
    PinStableService,
    /// Bring the canary Service, the stable pin and the routes to what step `step` asks.
    RouteTraffic {
        /// 1-based step.
        step: i32,
    },
    /// Remove the stable Service's revision pin.
    RestoreStableService,
    /// Send all traffic to the stable Service again.
    RouteTrafficToStable,
    /// Delete the canary Service.
    RemoveCanaryService,
}

/// A Kubernetes Event to record on the Rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// Machine-readable reason (from `keys`).
    pub reason: &'static str,
    /// What happened.
    pub message: String,
}

/// The outcome of one decision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// The status to write.
    pub status: RolloutStatus,
    /// Effects to apply before writing the status, in order.
    pub actions: Vec<Action>,
    /// Events to record.
    pub events: Vec<Event>,
    /// Reconcile again after this long, even if nothing changes.
    pub requeue_after: Option<Duration>,
    /// Cleanup after deletion is done: the finalizer may go.
    pub remove_finalizer: bool,
}

/// How often a running release is looked at even without events.
pub const ACTIVE_RECHECK: Duration = Duration::from_secs(3);

/// Decide the next status and effects (reference §4.1 steps 4–6).
pub fn decide(snapshot: &Snapshot) -> Decision {
    let mut decision = Decision {
        status: snapshot.rollout.status.clone().unwrap_or_default(),
        ..Decision::default()
    };
    decision.status.observed_generation = snapshot.rollout.metadata.generation;
    phase::advance(snapshot, &mut decision);
    let (index, state) = decision
        .status
        .canary_status
        .as_ref()
        .map_or((None, None), |c| {
            (c.common.current_step_index, c.common.current_step_state)
        });
    decision.status.current_step_index = index;
    decision.status.current_step_state = state;
    decision
}

/// `NextBatchIndex`: the step after `index`, or -1 after the last.
pub fn next_step_index(index: i32, steps: usize) -> i32 {
    if (index as usize) < steps {
        index + 1
    } else {
        -1
    }
}
