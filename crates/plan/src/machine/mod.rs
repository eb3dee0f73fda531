//! The step machine: from a [`Snapshot`] of the cluster and the current time to the next status
//! and the concrete effects that get there ([`decide`]). Pure: the controller reads its caches,
//! calls [`decide`], applies the effects in order, writes the status, then records the Events.

mod analysis;
mod batch_labels;
mod conditions;
mod model;
mod phase;
mod progressing;
mod rollback_in_batch;
mod rollout_meta;
mod stages;
mod status;
mod steps;
mod sub_status;

pub use analysis::{DueCheck, REASON_ANALYSIS_FAILED, due_check, rolled_back, threshold};
pub use conditions::{condition, messages};
pub use model::{Decision, Event, Snapshot};
pub use rollout_meta::finalizers_with_ours;
pub use stages::Stage;
pub use steps::REASON_DEADLINE;
pub use sub_status::common as sub_status_common;

use k8s_openapi::jiff::Timestamp;
use rollouts_api::common::StepState;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Effect;
use rollouts_workload::release::Release;

/// Decides the next status and the effects that lead there.
pub fn decide(snapshot: &Snapshot) -> Decision {
    let mut decision = Decision {
        status: snapshot.rollout.status.clone().unwrap_or_default(),
        ..Decision::default()
    };
    decision.status.observed_generation = snapshot.rollout.metadata.generation;
    let blue_green = crate::is_blue_green(snapshot.rollout);
    sub_status::enter(&mut decision.status, blue_green);
    phase::advance(snapshot, &mut decision);
    rollout_meta::keep_metadata(snapshot, &mut decision);
    let (index, state) = decision
        .status
        .canary_status
        .as_ref()
        .map_or((None, None), |c| {
            (c.common.current_step_index, c.common.current_step_state)
        });
    decision.status.current_step_index = index;
    decision.status.current_step_state = state;
    sub_status::leave(&mut decision.status, blue_green);
    let mut effects: Vec<Effect> = rollout_meta::metadata_effect(snapshot, &mut decision)
        .into_iter()
        .collect();
    let deleting = snapshot.rollout.metadata.deletion_timestamp.is_some();
    if let Some(label) = snapshot
        .workload
        .filter(|_| !deleting)
        .and_then(|w| w.label())
    {
        effects.push(label);
    }
    if let (Some(workload), Some(pods), false) = (snapshot.workload, snapshot.pods, deleting) {
        effects.extend(workload.stuck_pods(pods));
    }
    effects.append(&mut decision.effects);
    decision.effects = effects;
    decision
}

/// Whether the decision for `rollout` needs the workload's pods ([`Snapshot::pods`]): while a
/// release runs on a workload with a `rollout-id` label (batch labels), a rollback in batches
/// runs (pods already on the stable revision), or a failed analysis takes the pods back.
/// Also whenever the workload may hold pods its own controller will never replace.
pub fn needs_pods(rollout: &Rollout, release: &dyn Release) -> bool {
    let facts = release.facts();
    let releasing = facts.in_progressing
        && (!facts.rollout_id.is_empty()
            || rollback_in_batch::running(rollout, release)
            || analysis::rolled_back(rollout));
    releasing || release.may_have_stuck_pods()
}

/// Whether the decision for `rollout` needs the namespace's HorizontalPodAutoscalers
/// ([`Snapshot::autoscalers`]): while a blue-green release runs or ends (not for an idle one).
pub fn needs_autoscalers(rollout: &Rollout, release: &dyn Release) -> bool {
    use rollouts_api::common::RolloutPhase;
    let phase = rollout.status.as_ref().and_then(|s| s.phase);
    let ending = matches!(
        phase,
        Some(RolloutPhase::Progressing | RolloutPhase::Disabling | RolloutPhase::Terminating)
    );
    crate::is_blue_green(rollout) && (release.facts().in_progressing || ending)
}

/// Whether the Rollout's current step has been upgrading for longer than `deadline_seconds`:
/// then the controller lists the step's pods so the decision can name those that are not Ready.
pub fn step_overdue(rollout: &Rollout, now: Timestamp, deadline_seconds: i64) -> bool {
    let Some(common) = rollout.status.as_ref().and_then(sub_status::common) else {
        return false;
    };
    common.current_step_state == Some(StepState::StepUpgrade)
        && steps::upgrade_wait(common, now, deadline_seconds).1
}
