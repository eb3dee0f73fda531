//! Traffic routing inside the step machine (reference §4.4, §5.1, §5.8): what the controller
//! observed of the Services and routes, the grace period after each change, and the steps of
//! a release that set or tear down traffic.

use super::{Action, Decision, Event, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollouts_api::keys;
use rollouts_api::v1beta1::CommonStatus;
use std::time::Duration;

/// The traffic objects of a release as observed in one reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrafficView {
    /// Seconds to wait after each change so the data plane catches up.
    pub grace_seconds: i64,
    /// Why traffic cannot be routed (a missing Service, Ingress or HTTPRoute, an unsupported
    /// provider); a release does not start, or a traffic step does not go on, until it is fixed.
    pub problem: Option<String>,
    /// The step `for_step` has its Services and routes in place.
    pub step_converged: bool,
    /// The step the view was computed for.
    pub for_step: i32,
    /// The stable Service selects the stable revision.
    pub stable_pinned: bool,
    /// The stable Service selector carries no revision of ours.
    pub stable_unpinned: bool,
    /// The Ingress or HTTPRoute sends nothing to the canary Service.
    pub routes_restored: bool,
    /// The canary Service does not exist (or is not generated).
    pub canary_service_gone: bool,
}

/// One task of the end of a release (reference §4.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Unpin the stable Service.
    RestoreStableService,
    /// Send all traffic to the stable Service (delete the canary Ingress / reset the route).
    RouteTrafficToStable,
    /// Delete the canary Service.
    RemoveCanaryService,
    /// Give the workload back (and remove the canary Deployment).
    ResumeWorkload,
}

impl Stage {
    fn done(self, s: &Snapshot, view: Option<&TrafficView>) -> bool {
        match self {
            Self::RestoreStableService => view.is_none_or(|v| v.stable_unpinned),
            Self::RouteTrafficToStable => view.is_none_or(|v| v.routes_restored),
            Self::RemoveCanaryService => view.is_none_or(|v| v.canary_service_gone),
            Self::ResumeWorkload => s.workload.is_none_or(|w| w.released),
        }
    }

    fn action(self, promote: bool) -> Action {
        match self {
            Self::RestoreStableService => Action::RestoreStableService,
            Self::RouteTrafficToStable => Action::RouteTrafficToStable,
            Self::RemoveCanaryService => Action::RemoveCanaryService,
            Self::ResumeWorkload => Action::Release { promote },
        }
    }

    /// The `finalisingStep` value shown while this task runs.
    pub fn status_value(self) -> rollouts_api::common::FinalisingStep {
        use rollouts_api::common::FinalisingStep as F;
        match self {
            Self::RestoreStableService => F::RestoreStableService,
            Self::RouteTrafficToStable => F::FinalisingStepRouteTrafficToStable,
            Self::RemoveCanaryService => F::RemoveCanaryService,
            Self::ResumeWorkload => F::ResumeWorkload,
        }
    }
}

/// Success, disable and delete: stop pinning first so traffic spreads over all pods, then
/// remove the routes, the canary Service, and only then let the workload finish.
pub const SUCCESS: [Stage; 4] = [
    Stage::RestoreStableService,
    Stage::RouteTrafficToStable,
    Stage::RemoveCanaryService,
    Stage::ResumeWorkload,
];
/// Rollback: traffic back to stable first, then the workload, then the Services.
pub const ROLLBACK: [Stage; 4] = [
    Stage::RouteTrafficToStable,
    Stage::ResumeWorkload,
    Stage::RestoreStableService,
    Stage::RemoveCanaryService,
];
/// Before a step without traffic: everything but the workload, in the success order.
pub const TEARDOWN: [Stage; 3] = [
    Stage::RestoreStableService,
    Stage::RouteTrafficToStable,
    Stage::RemoveCanaryService,
];

fn waited(common: Option<&CommonStatus>, s: &Snapshot) -> i64 {
    common
        .and_then(|c| c.last_update_time.as_ref())
        .map_or(i64::MAX, |t| s.now.as_second() - t.0.as_second())
}

/// Runs `stages` in order: the first one not done gets its action (and the status records it);
/// after a stage acted, the next waits the grace period. `true` once every stage is done.
pub(super) fn run_stages(s: &Snapshot, d: &mut Decision, stages: &[Stage], promote: bool) -> bool {
    let view = s.traffic.as_ref();
    let grace = view.map_or(0, |v| v.grace_seconds);
    for stage in stages {
        let common = d.status.canary_status.as_ref().map(|c| &c.common);
        let acted_on = common.and_then(|c| c.finalising_step) == Some(stage.status_value());
        if stage.done(s, view) {
            let left = grace - waited(common, s);
            if acted_on && *stage != Stage::ResumeWorkload && left > 0 {
                d.requeue_after = Some(Duration::from_secs(left as u64));
                return false;
            }
            continue;
        }
        d.actions.push(stage.action(promote));
        if let Some(canary) = d.status.canary_status.as_mut()
            && !acted_on
        {
            d.events.push(Event {
                warning: false,
                reason: keys::EVENT_FINALISING,
                message: format!("{stage:?}"),
            });
            canary.common.finalising_step = Some(stage.status_value());
            canary.common.last_update_time = Some(Time(s.now));
        }
        d.requeue_after = Some(super::ACTIVE_RECHECK);
        return false;
    }
    true
}
