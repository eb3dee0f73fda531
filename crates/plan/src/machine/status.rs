//! Constructors of the canary sub-status: a fresh release at step 1, and the "every step done"
//! status of a workload seen without a release.

use super::model::Snapshot;
use crate::{next_step_index, plan_hash, steps};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollouts_api::common::StepState;
use rollouts_api::v1beta1::{CanaryStatus, CommonStatus};
use rollouts_workload::facts::WorkloadFacts;

/// The release identifier: the `rollout-id` label, else the new revision.
pub(super) fn rollout_id(workload: &WorkloadFacts) -> String {
    if workload.rollout_id.is_empty() {
        workload.canary_revision.clone()
    } else {
        workload.rollout_id.clone()
    }
}

/// A sub-status saying "every step done" for the workload as it is.
pub(super) fn completed(s: &Snapshot, workload: &WorkloadFacts) -> CanaryStatus {
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
            last_update_time: Some(Time(s.now)),
            ..CommonStatus::default()
        },
        canary_revision: Some(workload.canary_revision.clone()),
        ..CanaryStatus::default()
    }
}

/// A release of the workload's new version starting at step 1.
pub(super) fn starting(s: &Snapshot, workload: &WorkloadFacts) -> CanaryStatus {
    let total = steps(s.rollout).len();
    CanaryStatus {
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
    }
}
