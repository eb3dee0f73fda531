//! v1beta1 Rollout status: phase, conditions, and the canary or blue-green progress.

use crate::common::{FinalisingStep, RolloutCondition, RolloutPhase, StepState};
use crate::serde_util::empty_as_none;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Observed state of a Rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The Rollout generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Progress of a canary or partition release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_status: Option<CanaryStatus>,
    /// Progress of a blue-green release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green_status: Option<BlueGreenStatus>,
    /// `Progressing`, `Succeeded` and `Terminating` conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<RolloutCondition>>,
    /// Lifecycle phase (the STATUS column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RolloutPhase>,
    /// Human-readable summary (the MESSAGE column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Mirror of the sub-status step index (the CANARY_STEP column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Mirror of the sub-status step state (the CANARY_STATE column).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_step_state: Option<StepState>,
}

/// Progress fields shared by the canary and blue-green sub-statuses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// Workload generation last seen for the current revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_workload_generation: Option<i64>,
    /// Release identifier (rollout-id label, else the new revision).
    #[serde(
        default,
        rename = "observedRolloutID",
        skip_serializing_if = "Option::is_none"
    )]
    pub observed_rollout_id: Option<String>,
    /// Plan hash when the plan was (re)applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_hash: Option<String>,
    /// Revision of the stable version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<String>,
    /// Revision label value the canary Service selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash: Option<String>,
    /// 1-based current step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Step to go to next; `-1` at the last step. Patch it to jump.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_step_index: Option<i32>,
    /// State inside the current step.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub current_step_state: Option<StepState>,
    /// Where finalisation stands.
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub finalising_step: Option<FinalisingStep>,
    /// Progress message of the batch release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Last state change; pauses and grace periods count from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// The current step's metric analysis (this project's extension; see docs/analysis.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<super::AnalysisStatus>,
}

/// Progress of a canary or partition release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// Fields shared with the blue-green status.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Template hash of the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    /// Pods on the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_replicas: Option<i32>,
    /// Ready pods on the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_ready_replicas: Option<i32>,
}

/// Progress of a blue-green release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// Fields shared with the canary status.
    #[serde(flatten)]
    pub common: CommonStatus,
    /// Template hash of the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_revision: Option<String>,
    /// Pods on the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_replicas: Option<i32>,
    /// Ready pods on the new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_ready_replicas: Option<i32>,
}
