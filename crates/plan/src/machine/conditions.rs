//! Conditions and the exact status messages of upstream.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use rollouts_api::common::RolloutCondition;
use rollouts_api::v1beta1::RolloutStatus;

/// The condition of `type_`, if present.
pub fn condition<'a>(status: &'a RolloutStatus, type_: &str) -> Option<&'a RolloutCondition> {
    status
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Sets a condition; the transition time moves only when `status` (True/False) changes.
pub fn set_condition(
    status: &mut RolloutStatus,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) {
    let value = if value { "True" } else { "False" };
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let existing = conditions.iter_mut().find(|c| c.type_ == type_);
    let transition = match &existing {
        Some(c) if c.status == value => c.last_transition_time.clone(),
        _ => Some(Time(now)),
    };
    let changed = existing
        .as_ref()
        .is_none_or(|c| c.status != value || c.reason != reason || c.message != message);
    let updated = RolloutCondition {
        type_: type_.to_string(),
        status: value.to_string(),
        last_update_time: if changed {
            Some(Time(now))
        } else {
            existing.as_ref().and_then(|c| c.last_update_time.clone())
        },
        last_transition_time: transition,
        reason: reason.to_string(),
        message: message.to_string(),
    };
    match existing {
        Some(c) => *c = updated,
        None => conditions.push(updated),
    }
}

/// Removes a condition.
pub fn remove_condition(status: &mut RolloutStatus, type_: &str) {
    if let Some(conditions) = status.conditions.as_mut() {
        conditions.retain(|c| c.type_ != type_);
    }
}

/// Reason of the `Progressing` condition.
pub fn progressing_reason(status: &RolloutStatus) -> Option<&str> {
    condition(status, rollouts_api::keys::CONDITION_PROGRESSING).map(|c| c.reason.as_str())
}

/// The status messages users see in the MESSAGE column.
pub mod messages {
    /// Initial ⇒ Healthy, and Disabled ⇒ Healthy.
    pub const HEALTHY: &str = "rollout is healthy";
    /// First sight of a workload without a release.
    pub const COMPLETED_WORKLOAD: &str = "workload deployment is completed";
    /// The referenced workload does not exist.
    pub const WORKLOAD_NOT_FOUND: &str = "Workload Not Found";
    /// A release started or continues.
    pub const PROGRESSING: &str = "Rollout is in Progressing";
    /// A newer version replaced the one being released.
    pub const CONTINUOUS: &str = "Workload is continuous release";
    /// A newer version applied during a blue-green release: refused until rolled back.
    /// `spec.strategy.paused`.
    pub const BLUE_GREEN_NEW_VERSION: &str = "new version releasing detected in the progress of blue-green release, please rollback first";
    /// Status message while a Rollout is paused.
    pub const PAUSED: &str = "Rollout has been paused, you can resume it by kube-cli";
    /// The old version was re-applied.
    pub const CANCELLING: &str =
        "The workload has been rolled back and the rollout process will be cancelled";
    /// Every step done; cleaning up.
    pub const FINALISING: &str = "Rollout has been completed and some closing work is being done";
    /// Release finished.
    pub const COMPLETED: &str = "Rollout progressing has been completed";
    /// Rollback finished.
    pub const CANCELED: &str = "Rollout progressing has been cancelled";
    /// Deleted.
    pub const TERMINATING: &str = "Rollout is in terminating";
    /// Deletion cleanup done.
    pub const TERMINATED: &str = "Rollout is terminated";
    /// `spec.disabled` during a release.
    pub const DISABLING: &str = "Disabling rollout, release resources";
    /// `spec.disabled`.
    pub const DISABLED: &str = "Rollout is disabled";

    /// Upgrading the pods of step `index` of `total`.
    pub fn upgrading(index: i32, total: usize) -> String {
        format!("Rollout is in step({index}/{total}), and upgrade workload to new version")
    }

    /// Waiting for approval.
    pub fn manual_confirm(index: i32, total: usize) -> String {
        format!(
            "Rollout is in step({index}/{total}), and you need manually confirm to enter the next step"
        )
    }

    /// Waiting for a pause to end.
    pub fn wait_duration(index: i32, total: usize, seconds: i32) -> String {
        format!(
            "Rollout is in step({index}/{total}), and wait duration({seconds} seconds) to enter the next step"
        )
    }
}
