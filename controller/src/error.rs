//! The one error type of the controller: which operation failed on which object, and why.
//! Every failed reconcile is retried with a per-Rollout exponential backoff ([`Backoff`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// A failed operation on a named object.
#[derive(Debug, thiserror::Error)]
#[error("{operation} {object}: {cause}")]
pub struct ControllerError {
    /// What was being done (`patch`, `create`, `delete`, `write the status of`, ...).
    pub operation: String,
    /// The object, as `Kind namespace/name`.
    pub object: String,
    /// Why it failed.
    pub cause: Cause,
}

/// Why an operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    /// The API server refused or could not be reached.
    #[error(transparent)]
    Api(#[from] kube::Error),
    /// The API server answered, but the object does not show the change (another writer, such
    /// as a webhook working from an older view, undid it); the reconcile is retried.
    #[error("the change did not take effect")]
    NotApplied,
    /// The object is not what it must be (e.g. a Rollout without a namespace).
    #[error("{0}")]
    Invalid(String),
}

impl ControllerError {
    /// An error of `operation` on `object`.
    pub fn new(
        operation: impl Into<String>,
        object: impl ToString,
        cause: impl Into<Cause>,
    ) -> Self {
        Self {
            operation: operation.into(),
            object: object.to_string(),
            cause: cause.into(),
        }
    }

    /// The label of the `reconcile_errors_total` metric.
    pub fn metric_label(&self) -> &'static str {
        match &self.cause {
            Cause::Api(kube::Error::Api(status)) if status.code == 409 => "conflict",
            Cause::Api(kube::Error::Api(status)) if status.code == 403 => "forbidden",
            Cause::Api(kube::Error::Api(status)) if status.code == 404 => "not_found",
            Cause::Api(kube::Error::Api(_)) => "api",
            Cause::Api(_) => "transport",
            Cause::NotApplied => "not_applied",
            Cause::Invalid(_) => "invalid",
        }
    }
}

/// Failed reconciles per Rollout: the retry waits 1 s, doubling with each further failure up
/// to 5 minutes; a success forgets the count.
#[derive(Debug, Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, u32>>,
}

/// First retry delay.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// Longest retry delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

impl Backoff {
    /// Records a failure of `key` and returns how long to wait before retrying.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(key.to_string()).or_insert(0);
        let delay = BACKOFF_FIRST
            .saturating_mul(1u32 << (*count).min(16))
            .min(BACKOFF_MAX);
        *count = count.saturating_add(1);
        delay
    }

    /// Forgets the failures of `key`.
    pub fn succeeded(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_one_second_to_five_minutes_per_rollout_and_reset_on_success() {
        let backoff = Backoff::default();
        let delays: Vec<u64> = (0..11).map(|_| backoff.failed("d/a").as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(backoff.failed("d/b").as_secs(), 1, "per Rollout");
        backoff.succeeded("d/a");
        assert_eq!(backoff.failed("d/a").as_secs(), 1);
    }

    #[test]
    fn errors_name_operation_object_and_cause_with_a_metric_label() {
        let error = ControllerError::new("patch", "Deployment demo/echoserver", Cause::NotApplied);
        assert_eq!(
            error.to_string(),
            "patch Deployment demo/echoserver: the change did not take effect"
        );
        assert_eq!(error.metric_label(), "not_applied");
    }
}
