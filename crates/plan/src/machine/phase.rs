//! Phase transitions: Initial, Healthy, Progressing, Terminating, Disabling, Disabled, a
//! workload no release serves, and the completed sub-status synthesized on first sight.

use super::conditions::{messages, remove_condition, set_condition};
use super::model::{Decision, Event, Snapshot};
use super::progressing;
use super::rollout_meta::finalizer_removal;
use super::stages::finish;
use super::status::{completed, rollout_id};
use rollouts_api::common::RolloutPhase;
use rollouts_api::keys;
use rollouts_api::v1beta1::RolloutStatus;
use rollouts_workload::release::Release;

pub(super) fn advance(s: &Snapshot, d: &mut Decision) {
    let rollout = s.rollout;
    let phase = d.status.phase;
    if let Err(message) = rollouts_workload::release::supported(rollout) {
        return unsupported(s, d, message);
    }
    if let Some((field, message)) = crate::analysis::rollback_problem(rollout, "analysis") {
        // Admission refuses it; a Rollout stored without the webhook is not released either.
        return unsupported(s, d, format!("{field}: {message}"));
    }
    if rollout.metadata.deletion_timestamp.is_some() {
        return terminating(s, d);
    }
    if rollout.spec.disabled == Some(true) {
        match phase {
            Some(RolloutPhase::Progressing) | Some(RolloutPhase::Disabling) => {
                d.status.phase = Some(RolloutPhase::Disabling);
                d.status.message = Some(messages::DISABLING.into());
                if finish(s, d, false, false) {
                    disabled(d);
                }
            }
            Some(RolloutPhase::Disabled) => {}
            _ => disabled(d),
        }
        return;
    }
    let Some(release) = s.workload else {
        d.status = RolloutStatus {
            observed_generation: d.status.observed_generation,
            phase: Some(RolloutPhase::Initial),
            message: Some(messages::WORKLOAD_NOT_FOUND.into()),
            ..RolloutStatus::default()
        };
        return;
    };
    let workload = release.facts();
    if !workload.generation_observed {
        // The workload's own controller has not caught up; its status change wakes us.
        return;
    }
    if let Some(canary) = d.status.canary_status.as_mut()
        && canary.canary_revision.as_deref() == Some(workload.canary_revision.as_str())
    {
        canary.common.observed_workload_generation = Some(workload.generation);
        canary.common.observed_rollout_id = Some(rollout_id(workload));
    }
    match phase {
        None | Some(RolloutPhase::Initial) | Some(RolloutPhase::Disabled) => {
            d.status.phase = Some(RolloutPhase::Healthy);
            d.status.message = Some(messages::HEALTHY.into());
            healthy(s, release, d);
        }
        Some(RolloutPhase::Healthy) => healthy(s, release, d),
        Some(RolloutPhase::Progressing) => progressing::advance(s, release, d),
        // Terminating and Disabling without their cause: a deletion or a disable was undone.
        Some(_) => d.status.phase = Some(RolloutPhase::Healthy),
    }
}

/// No release serves this kind or style: nothing of ours is ever on such a workload, so a
/// deletion only drops the finalizer; otherwise the status says why, once with an Event.
fn unsupported(s: &Snapshot, d: &mut Decision, message: String) {
    if s.rollout.metadata.deletion_timestamp.is_some() {
        d.remove_finalizer = finalizer_removal(s);
        return;
    }
    if d.status.message.as_deref() != Some(message.as_str()) {
        d.events.push(Event::warning(
            keys::EVENT_UNSUPPORTED_WORKLOAD,
            message.clone(),
        ));
        d.status.message = Some(message);
    }
}

fn terminating(s: &Snapshot, d: &mut Decision) {
    if d.status.phase != Some(RolloutPhase::Terminating) {
        d.status.phase = Some(RolloutPhase::Terminating);
        d.status.message = Some(messages::TERMINATING.into());
        let (reason, message) = (keys::REASON_IN_TERMINATING, messages::TERMINATING);
        set_condition(
            &mut d.status,
            keys::CONDITION_TERMINATING,
            true,
            reason,
            message,
            s.now,
        );
    }
    if finish(s, d, false, false) {
        set_condition(
            &mut d.status,
            keys::CONDITION_TERMINATING,
            false,
            keys::REASON_COMPLETED,
            messages::TERMINATED,
            s.now,
        );
        d.remove_finalizer = finalizer_removal(s);
    }
}

fn disabled(d: &mut Decision) {
    d.status.phase = Some(RolloutPhase::Disabled);
    d.status.message = Some(messages::DISABLED.into());
    d.status.canary_status = None;
    remove_condition(&mut d.status, keys::CONDITION_PROGRESSING);
}

fn healthy(s: &Snapshot, release: &dyn Release, d: &mut Decision) {
    let workload = release.facts();
    if workload.in_progressing {
        d.status.phase = Some(RolloutPhase::Progressing);
        d.status.message = Some(messages::PROGRESSING.into());
        let (reason, message) = (keys::REASON_INITIALIZING, messages::PROGRESSING);
        set_condition(
            &mut d.status,
            keys::CONDITION_PROGRESSING,
            true,
            reason,
            message,
            s.now,
        );
        remove_condition(&mut d.status, keys::CONDITION_SUCCEEDED);
        progressing::advance(s, release, d);
    } else if d.status.canary_status.is_none() {
        d.status.canary_status = Some(completed(s, workload));
        d.status.message = Some(messages::COMPLETED_WORKLOAD.into());
    }
}
