//! Pod batch labels during a release: once a step's batch is upgraded (and while the step
//! lasts), its new pods are labelled with the workload's `rollout-id` and their batch
//! (`rollouts_workload::labels` decides which pod gets which batch).

use super::model::{Decision, Snapshot};
use rollouts_api::common::StepState;
use rollouts_api::v1beta1::CanaryStatus;
use rollouts_workload::labels::{PodLabels, batch_assignments, batch_label_effects, on_revision};
use rollouts_workload::release::Release;
use std::time::Duration;

/// The rollout-id whose pods are labelled and the new-version pods, when both are known.
pub(super) fn labelling<'a>(
    s: &Snapshot<'a>,
    release: &'a dyn Release,
) -> Option<(&'a str, Vec<PodLabels>)> {
    let facts = release.facts();
    let id = facts.rollout_id.as_str();
    (!id.is_empty()).then_some(())?;
    let new_pods = s
        .pods?
        .iter()
        .filter(|pod| on_revision(pod, &facts.pod_template_hash))
        .cloned()
        .collect();
    Some((id, new_pods))
}

/// Once a step's batch is upgraded (and while the step lasts), its new pods get their batch
/// labels. `planned[i]`: the new-version pods wanted once batch `i + 1` is done, up to the
/// current step.
pub(super) fn label_batches(
    s: &Snapshot,
    release: &dyn Release,
    canary: &CanaryStatus,
    planned: impl FnOnce() -> Vec<i32>,
    d: &mut Decision,
) {
    let Some((id, pods)) = labelling(s, release) else {
        return;
    };
    let started = matches!(
        canary.common.current_step_state,
        Some(
            StepState::StepUpgrade
                | StepState::StepTrafficRouting
                | StepState::StepMetricsAnalysis
                | StepState::StepPaused
                | StepState::StepReady
        )
    );
    if !started {
        return;
    }
    let assignments = batch_assignments(&pods, id, &planned());
    if !assignments.is_empty() {
        d.effects.extend(batch_label_effects(
            &release.object().namespace,
            id,
            &assignments,
        ));
        // Pods are not watched: look again once the labels are on.
        d.requeue(Duration::from_secs(1));
    }
}
