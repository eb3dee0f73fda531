//! Phase transitions (reference §4.2): Initial, Healthy, Progressing, Terminating, Disabling,
//! Disabled, and the completed sub-status synthesized on first sight of a workload.

use super::conditions::{messages, remove_condition, set_condition};
use super::{Decision, Snapshot, finalise, progressing};
use crate::{plan_hash, steps};
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::keys;
use rollouts_api::v1beta1::{CanaryStatus, CommonStatus, RolloutStatus};
use rollouts_workload::facts::WorkloadFacts;

pub(super) fn advance(s: &Snapshot, d: &mut Decision) {
    let rollout = s.rollout;
    let phase = d.status.phase;
    if rollout.metadata.deletion_timestamp.is_some() {
        if phase != Some(RolloutPhase::Terminating) {
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
        if finalise::release(s, d, false, false) {
            let message = messages::TERMINATED;
            set_condition(
                &mut d.status,
                keys::CONDITION_TERMINATING,
                false,
                keys::REASON_COMPLETED,
                message,
                s.now,
            );
            d.remove_finalizer = true;
        }
        return;
    }
    if rollout.spec.disabled == Some(true) {
        match phase {
            Some(RolloutPhase::Progressing) | Some(RolloutPhase::Disabling) => {
                d.status.phase = Some(RolloutPhase::Disabling);
                d.status.message = Some(messages::DISABLING.into());
                if finalise::release(s, d, false, false) {
                    disabled(d);
                }
            }
            Some(RolloutPhase::Disabled) => {}
            _ => disabled(d),
        }
        return;
    }
    let Some(workload) = s.workload else {
        d.status = RolloutStatus {
            observed_generation: d.status.observed_generation,
            phase: Some(RolloutPhase::Initial),
            message: Some(messages::WORKLOAD_NOT_FOUND.into()),
            ..RolloutStatus::default()
        };
        return;
    };
    if !workload.generation_observed {
        d.requeue_after = Some(super::ACTIVE_RECHECK);
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
            healthy(s, workload, d);
        }
        Some(RolloutPhase::Healthy) => healthy(s, workload, d),
        Some(RolloutPhase::Progressing) => progressing::advance(s, workload, d),
        // Terminating and Disabling without their cause: a deletion or a disable was undone.
        Some(_) => d.status.phase = Some(RolloutPhase::Healthy),
    }
}

fn disabled(d: &mut Decision) {
    d.status.phase = Some(RolloutPhase::Disabled);
    d.status.message = Some(messages::DISABLED.into());
    d.status.canary_status = None;
    remove_condition(&mut d.status, keys::CONDITION_PROGRESSING);
}

fn healthy(s: &Snapshot, workload: &WorkloadFacts, d: &mut Decision) {
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
        progressing::advance(s, workload, d);
    } else if d.status.canary_status.is_none() {
        d.status.canary_status = Some(completed_status(s, workload));
        d.status.message = Some(messages::COMPLETED_WORKLOAD.into());
    }
}

/// The release identifier: the `rollout-id` label, else the new revision.
pub(super) fn rollout_id(workload: &WorkloadFacts) -> String {
    if workload.rollout_id.is_empty() {
        workload.canary_revision.clone()
    } else {
        workload.rollout_id.clone()
    }
}

/// A sub-status saying "every step done" for the workload as it is.
pub(super) fn completed_status(s: &Snapshot, workload: &WorkloadFacts) -> CanaryStatus {
    let total = steps(s.rollout).len() as i32;
    CanaryStatus {
        common: CommonStatus {
            observed_workload_generation: Some(workload.generation),
            observed_rollout_id: Some(rollout_id(workload)),
            rollout_hash: Some(plan_hash(s.rollout)),
            stable_revision: Some(workload.stable_revision.clone()),
            pod_template_hash: Some(workload.pod_template_hash.clone()),
            current_step_index: Some(total),
            next_step_index: Some(-1),
            current_step_state: Some(StepState::Completed),
            last_update_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(s.now)),
            ..CommonStatus::default()
        },
        canary_revision: Some(workload.canary_revision.clone()),
        ..CanaryStatus::default()
    }
}
