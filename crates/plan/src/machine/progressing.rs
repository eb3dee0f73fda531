//! The Progressing phase (reference §4.3 and §4.6): Initializing, InRolling with its special
//! cases (rollback, paused, continuous release, plan change), Finalising, Cancelling.

use super::conditions::{messages, progressing_reason, set_condition};
use super::phase::{completed_status, rollout_id};
use super::traffic::{Stage, run_stages};
use super::{Action, Decision, Event, Snapshot, finalise, next_step_index, steps as machine};
use crate::{plan_hash, steps};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::keys;
use rollouts_api::v1beta1::{CanaryStatus, CommonStatus};
use rollouts_workload::facts::WorkloadFacts;

fn set_reason(s: &Snapshot, d: &mut Decision, reason: &str, message: &str) {
    set_condition(
        &mut d.status,
        keys::CONDITION_PROGRESSING,
        true,
        reason,
        message,
        s.now,
    );
    d.status.message = Some(message.to_string());
}

pub(super) fn advance(s: &Snapshot, workload: &WorkloadFacts, d: &mut Decision) {
    match progressing_reason(&d.status).unwrap_or(keys::REASON_INITIALIZING) {
        keys::REASON_INITIALIZING => initialize(s, workload, d),
        keys::REASON_IN_ROLLING => in_rolling(s, workload, d),
        keys::REASON_PAUSED => {
            if s.rollout.spec.strategy.paused != Some(true) {
                set_reason(s, d, keys::REASON_IN_ROLLING, messages::PROGRESSING);
                in_rolling(s, workload, d);
            }
        }
        keys::REASON_FINALISING => end(s, workload, d, true),
        keys::REASON_CANCELLING => end(s, workload, d, false),
        _ => {
            // Completed (or a reason of a future version): the release is over.
            d.status.phase = Some(RolloutPhase::Healthy);
        }
    }
}

fn initialize(s: &Snapshot, workload: &WorkloadFacts, d: &mut Decision) {
    if let Some(problem) = s.traffic.as_ref().and_then(|v| v.problem.clone()) {
        // The Service, Ingress or HTTPRoute must exist before any pod changes.
        set_reason(s, d, keys::REASON_INITIALIZING, &problem);
        d.requeue_after = Some(super::ACTIVE_RECHECK);
        return;
    }
    let total = steps(s.rollout).len();
    d.status.canary_status = Some(CanaryStatus {
        common: CommonStatus {
            observed_workload_generation: Some(workload.generation),
            observed_rollout_id: Some(rollout_id(workload)),
            rollout_hash: Some(plan_hash(s.rollout)),
            stable_revision: Some(workload.stable_revision.clone()),
            current_step_index: Some(1),
            next_step_index: Some(next_step_index(1, total)),
            current_step_state: Some(StepState::BeforeStepUpgrade),
            last_update_time: Some(Time(s.now)),
            ..CommonStatus::default()
        },
        canary_revision: Some(workload.canary_revision.clone()),
        ..CanaryStatus::default()
    });
    let approved = s.rollout.metadata.annotations.as_ref();
    if approved.is_some_and(|a| a.contains_key(keys::APPROVED_STEP)) {
        d.actions.push(Action::ClearApprovedStep);
    }
    set_reason(s, d, keys::REASON_IN_ROLLING, messages::PROGRESSING);
    in_rolling(s, workload, d);
}

fn in_rolling(s: &Snapshot, workload: &WorkloadFacts, d: &mut Decision) {
    let recorded = d
        .status
        .canary_status
        .as_ref()
        .and_then(|c| c.canary_revision.clone())
        .unwrap_or_default();
    let new_version = workload.canary_revision != recorded;
    if workload.in_rollback && new_version {
        if let Some(canary) = d.status.canary_status.as_mut() {
            canary.canary_revision = Some(workload.canary_revision.clone());
        }
        d.events.push(Event {
            warning: false,
            reason: keys::EVENT_ROLLBACK,
            message: "workload has been rollback, then rollout is canceled".into(),
        });
        set_reason(s, d, keys::REASON_CANCELLING, messages::CANCELLING);
        return end(s, workload, d, false);
    }
    if s.rollout.spec.strategy.paused == Some(true) {
        set_reason(s, d, keys::REASON_PAUSED, messages::PAUSED);
        return;
    }
    if !recorded.is_empty() && new_version {
        // Traffic goes back to stable, and the data plane gets its grace period, before the
        // old canary goes away (reference §4.6.4, §5.8).
        if s.traffic.is_some() && !run_stages(s, d, &[Stage::RouteTrafficToStable], false) {
            return;
        }
        if s.traffic.as_ref().is_some_and(|v| !v.canary_service_gone) {
            d.actions.push(Action::RemoveCanaryService);
        }
        d.events.push(Event {
            warning: false,
            reason: keys::EVENT_CONTINUOUS_RELEASE,
            message: "workload continuous publishing canaryRevision, then restart publishing"
                .into(),
        });
        d.actions.push(Action::ResetRelease);
        d.status.canary_status = None;
        set_reason(s, d, keys::REASON_INITIALIZING, messages::CONTINUOUS);
        d.requeue_after = Some(super::ACTIVE_RECHECK);
        return;
    }
    machine::run(s, workload, d);
    let completed = d
        .status
        .canary_status
        .as_ref()
        .and_then(|c| c.common.current_step_state)
        == Some(StepState::Completed);
    if completed {
        set_reason(s, d, keys::REASON_FINALISING, messages::FINALISING);
        end(s, workload, d, true);
    }
}

/// Finalising (success) or Cancelling (rollback): release the workload, then complete.
fn end(s: &Snapshot, workload: &WorkloadFacts, d: &mut Decision, success: bool) {
    if !finalise::release(s, d, success, !success) {
        return;
    }
    let message = if success {
        messages::COMPLETED
    } else {
        messages::CANCELED
    };
    set_condition(
        &mut d.status,
        keys::CONDITION_PROGRESSING,
        false,
        keys::REASON_COMPLETED,
        message,
        s.now,
    );
    set_condition(
        &mut d.status,
        keys::CONDITION_SUCCEEDED,
        success,
        keys::REASON_COMPLETED,
        message,
        s.now,
    );
    d.status.phase = Some(RolloutPhase::Healthy);
    d.status.message = Some(message.to_string());
    if !success {
        d.status.canary_status = Some(completed_status(s, workload));
    }
    d.events.push(Event {
        warning: false,
        reason: keys::EVENT_COMPLETED,
        message: message.to_string(),
    });
    d.requeue_after = None;
}
