//! The tasks that take a release's changes off the cluster, in the order each ending needs
//! (docs/traffic.md): each task's changes are made, then the data plane gets its grace period
//! before the next task, and the task being worked on is shown in `finalisingStep`.

use super::model::{Decision, Event, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollouts_api::common::FinalisingStep;
use rollouts_api::keys;
use rollouts_api::v1beta1::CommonStatus;
use rollouts_change::Effect;
use rollouts_traffic::StepTraffic;
use std::time::Duration;

/// One task of the end of a release.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Send all traffic to the new version (a blue-green release that succeeded).
    RouteTrafficToNew,
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
    /// The changes this task still needs (none while it waits); `None` when it is done.
    fn pending(self, s: &Snapshot, promote: bool) -> Option<Vec<Effect>> {
        let key = s.revision_key();
        let traffic = |effect: Option<Effect>| effect.map(|e| vec![e]);
        let routes = |effects: Vec<Effect>| (!effects.is_empty()).then_some(effects);
        match self {
            Self::RouteTrafficToNew => {
                let all = StepTraffic {
                    weight: Some(100),
                    matches: Vec::new(),
                    header_modifier: None,
                };
                let owner = rollouts_workload::release::owner_reference(s.rollout);
                // A failing script leaves the traffic as it is and the release waits here (its
                // steps failed on the same script, with the error in the status).
                match s.traffic?.route_effects(&all, &owner) {
                    Ok(effects) => routes(effects),
                    Err(_) => Some(Vec::new()),
                }
            }
            Self::RestoreStableService => traffic(s.traffic?.stable_pin(key, None)),
            Self::RouteTrafficToStable => {
                let traffic = s.traffic?;
                // Routes that could not be read are not known to be back: wait and read again.
                if traffic.routes.is_err() {
                    return Some(Vec::new());
                }
                routes(traffic.restore_routes())
            }
            Self::RemoveCanaryService => traffic(s.traffic?.remove_canary_service()),
            Self::ResumeWorkload => {
                let workload = s.workload?;
                let facts = workload.facts();
                if !facts.released {
                    return Some(workload.finish(promote));
                }
                // A blue-green release keeps its route to the new pods until the workload has
                // replaced the old ones (their removal wakes us).
                if !crate::is_blue_green(s.rollout) {
                    return None;
                }
                if promote && !facts.promoted {
                    return Some(Vec::new());
                }
                // The autoscalers must be known to be back before the release counts as over.
                match s.autoscaler_effects(false) {
                    None => Some(Vec::new()),
                    Some(back) if !back.is_empty() => Some(back),
                    Some(_) => None,
                }
            }
        }
    }

    /// The `finalisingStep` value shown while this task runs.
    pub fn status_value(self) -> FinalisingStep {
        use FinalisingStep as F;
        match self {
            Self::RouteTrafficToNew => F::FinalisingStepRouteTrafficToNew,
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
/// Blue-green success: all traffic to the new pods while the old ones still run, then the
/// workload replaces the old pods, and only then the routes and Services go.
pub const BLUE_GREEN_SUCCESS: [Stage; 5] = [
    Stage::RouteTrafficToNew,
    Stage::RestoreStableService,
    Stage::ResumeWorkload,
    Stage::RouteTrafficToStable,
    Stage::RemoveCanaryService,
];
/// Blue-green rollback: traffic back to the old pods (still all there), then the new pods go.
pub const BLUE_GREEN_ROLLBACK: [Stage; 4] = [
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

/// Runs `stages` in order: the first one not done gets its changes (and the status records
/// it); after a stage changed traffic, the next one waits the grace period. `true` once every
/// stage is done.
pub(super) fn run_stages(s: &Snapshot, d: &mut Decision, stages: &[Stage], promote: bool) -> bool {
    let grace = s.traffic.map_or(0, |t| t.grace_seconds);
    let recorded = d
        .status
        .canary_status
        .as_ref()
        .and_then(|c| c.common.finalising_step);
    let reached = stages
        .iter()
        .position(|stage| Some(stage.status_value()) == recorded);
    for (index, stage) in stages.iter().enumerate() {
        // The only task a later one undoes: all traffic to the new pods, until the routes go.
        if *stage == Stage::RouteTrafficToNew && reached.is_some_and(|r| r > index) {
            continue;
        }
        let common = d.status.canary_status.as_ref().map(|c| &c.common);
        let acted_on = common.and_then(|c| c.finalising_step) == Some(stage.status_value());
        let Some(effects) = stage.pending(s, promote) else {
            let left = grace - waited(common, s);
            if acted_on && *stage != Stage::ResumeWorkload && left > 0 {
                d.requeue(Duration::from_secs(left as u64));
                return false;
            }
            continue;
        };
        if effects.is_empty() {
            // Waiting for the workload (its changes wake us) or for a list that failed.
            d.requeue(Duration::from_secs(5));
        } else if *stage == Stage::ResumeWorkload {
            // Autoscalers are not watched: nothing else says when they are back.
            d.requeue(Duration::from_secs(1));
        }
        d.effects.extend(effects);
        if let Some(canary) = d.status.canary_status.as_mut()
            && !acted_on
        {
            d.events
                .push(Event::normal(keys::EVENT_FINALISING, format!("{stage:?}")));
            canary.common.finalising_step = Some(stage.status_value());
            canary.common.last_update_time = Some(Time(s.now));
        }
        return false;
    }
    true
}

/// A look again while a linked TrafficRouting restores its routes (it is not watched for
/// Rollouts).
const LINKED_ROUTING_RECHECK: Duration = Duration::from_secs(1);

/// Ends the release: `promote` for success, otherwise rollback, disable or delete (which
/// differ only in order: a rollback takes traffic off the new version first; blue-green has
/// orders of its own). `true` once done.
pub(super) fn finish(s: &Snapshot, d: &mut Decision, promote: bool, rollback: bool) -> bool {
    if let Some(linked) = s.linked_routing {
        let (removal, wait) = linked.release(s.name());
        d.effects.extend(removal);
        if wait {
            // Its routes still send requests to the new pods: they go back first.
            d.requeue(LINKED_ROUTING_RECHECK);
            return false;
        }
    }
    let stages: &[Stage] = match (crate::is_blue_green(s.rollout), promote, rollback) {
        (true, true, _) => &BLUE_GREEN_SUCCESS,
        (true, _, true) => &BLUE_GREEN_ROLLBACK,
        (false, _, true) => &ROLLBACK,
        _ => &SUCCESS,
    };
    let done = run_stages(s, d, stages, promote);
    if done && let Some(canary) = d.status.canary_status.as_mut() {
        canary.common.finalising_step = Some(FinalisingStep::End);
    }
    done
}
