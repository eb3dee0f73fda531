//! The Progressing phase: Initializing, InRolling with its special cases (rollback at once,
//! paused, rollback in batches, continuous release, plan change), Finalising and Cancelling.

use super::conditions::{messages, progressing_reason, set_condition};
use super::model::{Decision, Event, Snapshot};
use super::rollback_in_batch;
use super::stages::{Stage, finish, run_stages};
use super::status::{completed, starting};
use super::steps as machine;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::keys;
use rollouts_workload::facts::WorkloadFacts;
use rollouts_workload::release::Release;

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

pub(super) fn advance(s: &Snapshot, release: &dyn Release, d: &mut Decision) {
    let workload = release.facts();
    match progressing_reason(&d.status).unwrap_or(keys::REASON_INITIALIZING) {
        keys::REASON_INITIALIZING => initialize(s, release, d),
        keys::REASON_IN_ROLLING => in_rolling(s, release, d),
        keys::REASON_PAUSED => {
            if s.rollout.spec.strategy.paused != Some(true) {
                set_reason(s, d, keys::REASON_IN_ROLLING, messages::PROGRESSING);
                in_rolling(s, release, d);
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

fn initialize(s: &Snapshot, release: &dyn Release, d: &mut Decision) {
    let workload = release.facts();
    if let Some(traffic) = s.traffic
        && let Some(problem) = traffic.problem()
    {
        // The Service, Ingress or HTTPRoute must exist before any pod changes; its creation
        // wakes us (objects read live are looked at again now and then).
        set_reason(s, d, keys::REASON_INITIALIZING, &problem);
        if traffic.reads_unwatched_objects() {
            d.requeue(super::steps::UNWATCHED_RECHECK);
        }
        return;
    }
    if let Some(linked) = s.linked_routing {
        match linked.hold(s.name()) {
            Ok(finalizer) => d.effects.extend(finalizer),
            Err(why) => {
                // TrafficRoutings are not watched for Rollouts: look again now and then.
                set_reason(s, d, keys::REASON_INITIALIZING, &why);
                d.requeue(super::steps::UNWATCHED_RECHECK);
                return;
            }
        }
    }
    if workload.in_rollback || workload.canary_revision == workload.stable_revision {
        // The stable version was applied again before the release started: nothing to
        // release, the workload is given back as after a rollback.
        d.events.push(Event::normal(
            keys::EVENT_ROLLBACK,
            "the workload is back on its stable version before the release started, then rollout is canceled",
        ));
        set_reason(s, d, keys::REASON_CANCELLING, messages::CANCELLING);
        return end(s, workload, d, false);
    }
    d.status.canary_status = Some(starting(s, workload));
    // An approval left from an earlier release must not approve a step of this one.
    d.clear_approval(s.rollout);
    set_reason(s, d, keys::REASON_IN_ROLLING, messages::PROGRESSING);
    in_rolling(s, release, d);
}

fn in_rolling(s: &Snapshot, release: &dyn Release, d: &mut Decision) {
    let workload = release.facts();
    let recorded = d
        .status
        .canary_status
        .as_ref()
        .and_then(|c| c.canary_revision.clone())
        .unwrap_or_default();
    let new_version = workload.canary_revision != recorded;
    let rolled_back = workload.in_rollback && new_version;
    let in_batches = rollback_in_batch::asked(s.rollout, release);
    if rolled_back && !in_batches {
        if let Some(canary) = d.status.canary_status.as_mut() {
            canary.canary_revision = Some(workload.canary_revision.clone());
        }
        d.events.push(Event::normal(
            keys::EVENT_ROLLBACK,
            "workload has been rollback, then rollout is canceled",
        ));
        set_reason(s, d, keys::REASON_CANCELLING, messages::CANCELLING);
        return end(s, workload, d, false);
    }
    if s.rollout.spec.strategy.paused == Some(true) {
        set_reason(s, d, keys::REASON_PAUSED, messages::PAUSED);
        return;
    }
    if rolled_back {
        return rollback_in_batch::restart(s, release, d);
    }
    if !recorded.is_empty() && new_version {
        if crate::is_blue_green(s.rollout) {
            return refuse_newer_version(s, d);
        }
        return restart_for_newer_version(s, d);
    }
    machine::run(s, release, d);
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

/// A newer version was applied mid-release: traffic goes back to stable and the data plane
/// gets its grace period before the old canary goes away; then the plan restarts at step 1.
fn restart_for_newer_version(s: &Snapshot, d: &mut Decision) {
    if s.traffic.is_some() && !run_stages(s, d, &[Stage::RouteTrafficToStable], false) {
        return;
    }
    if let Some(remove) = s.traffic.and_then(|t| t.remove_canary_service()) {
        d.effects.push(remove);
    }
    if let Some(workload) = s.workload {
        d.effects.extend(workload.reset());
    }
    d.events.push(Event::normal(
        keys::EVENT_CONTINUOUS_RELEASE,
        "workload continuous publishing canaryRevision, then restart publishing",
    ));
    d.status.canary_status = None;
    set_reason(s, d, keys::REASON_INITIALIZING, messages::CONTINUOUS);
}

/// A newer version during a blue-green release: the old pods still serve, the new ones are up
/// beside them, and a third version has nowhere to go. The workload stays frozen (the webhook
/// keeps it so) until the stable version, or the one being released, is applied again.
fn refuse_newer_version(s: &Snapshot, d: &mut Decision) {
    let message = messages::BLUE_GREEN_NEW_VERSION;
    if d.status.message.as_deref() != Some(message) {
        d.events
            .push(Event::warning(keys::EVENT_CONTINUOUS_RELEASE, message));
    }
    set_reason(s, d, keys::REASON_IN_ROLLING, message);
    if let Some(canary) = d.status.canary_status.as_mut() {
        canary.common.message = Some(message.to_string());
    }
}

/// Finalising (success) or Cancelling (rollback): release the workload, then complete.
fn end(s: &Snapshot, workload: &WorkloadFacts, d: &mut Decision, success: bool) {
    if !finish(s, d, success, !success) {
        return;
    }
    let message = if success {
        messages::COMPLETED
    } else {
        messages::CANCELED
    };
    for type_ in [keys::CONDITION_PROGRESSING, keys::CONDITION_SUCCEEDED] {
        let value = type_ == keys::CONDITION_SUCCEEDED && success;
        set_condition(
            &mut d.status,
            type_,
            value,
            keys::REASON_COMPLETED,
            message,
            s.now,
        );
    }
    d.status.phase = Some(RolloutPhase::Healthy);
    d.status.message = Some(message.to_string());
    if !success {
        d.status.canary_status = Some(completed(s, workload));
    }
    d.events
        .push(Event::normal(keys::EVENT_COMPLETED, message.to_string()));
    d.requeue_after = None;
}
