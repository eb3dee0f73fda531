//! Metric analysis of a release's steps: Prometheus queries with thresholds that a step must
//! pass before it goes on. An extension of this project (upstream's `StepMetricsAnalysis` state
//! passes at once); Rollouts without it behave as upstream's.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The analysis of a strategy's steps (in `canary` or `blueGreen`), or a step's changes to it
/// (in a step: the fields set there replace the strategy's, `disabled: true` switches it off).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Where the metrics are read; the controller's `--prometheus-address` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusSource>,
    /// The checks; a check passes when every metric is within its thresholds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub metrics: Option<Vec<AnalysisMetric>>,
    /// Seconds between two checks (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub interval_seconds: Option<i32>,
    /// Passing checks a step needs before it may go on (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub successful_checks: Option<i32>,
    /// Failing checks tolerated in a step; one more fails the release (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub failure_limit: Option<i32>,
    /// Checks without an answer (no sample, NaN) tolerated in a step; one more fails the
    /// release (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub inconclusive_limit: Option<i32>,
    /// What a failed analysis does (default `Rollback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<AnalysisFailurePolicy>,
    /// Switch the analysis off (in a step: for that step only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A Prometheus server, reached over HTTP(S).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusSource {
    /// Base URL, `http://` or `https://` (e.g. `http://prometheus.monitoring:9090`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A bearer token sent with every query, from a Secret in the Rollout's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bearer_token_secret: Option<SecretKeyRef>,
    /// PEM certificates to trust for `https://`, from a Secret in the Rollout's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret: Option<SecretKeyRef>,
}

/// One key of a Secret in the Rollout's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key in its data.
    pub key: String,
}

/// One PromQL query and the range its single value must be in. The query may use
/// `{{namespace}}`, `{{workload}}`, `{{rollout}}`, `{{stableRevision}}`, `{{canaryRevision}}`
/// (the revision label value of the pods) and `{{step}}`, filled in by the controller.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisMetric {
    /// Name shown in the status, Events and messages.
    pub name: String,
    /// The PromQL query; its answer must be one number (a scalar or a one-sample vector).
    pub query: String,
    /// The value must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The value must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

/// What a failed analysis does.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AnalysisFailurePolicy {
    /// All traffic back to the stable version, every pod back on it, the workload kept frozen.
    #[default]
    Rollback,
    /// Stay at the step until approved (the analysis then runs again) or rolled back.
    Pause,
}

/// Where the current step's analysis stands (in `canaryStatus.analysis` or
/// `blueGreenStatus.analysis`): its counts, the last value of each metric, and the verdict.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisStatus {
    /// The step these checks belong to (1-based).
    pub step: i32,
    /// `Running`, `Passed`, `Failed` (paused until approved) or `RolledBack`.
    pub phase: AnalysisPhase,
    /// Checks passed in this step.
    #[serde(default)]
    pub passed: i32,
    /// Checks failed in this step.
    #[serde(default)]
    pub failed: i32,
    /// Checks without an answer in this step.
    #[serde(default)]
    pub inconclusive: i32,
    /// When the analysis of this step started; the first check comes one interval later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// When the last check ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_check_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Each metric's answer at the last check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricResult>,
    /// Why the analysis failed, naming the metric, its value and its threshold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A metric's answer at the last check.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// The metric's name.
    pub name: String,
    /// The value as Prometheus gave it (`NaN` included); unset without an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The thresholds, e.g. `<= 0.05`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub threshold: String,
    /// `Passed`, `Failed` or `Inconclusive`.
    pub outcome: MetricOutcome,
    /// Why there is no answer (no sample, NaN, the query's error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a step's analysis stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum AnalysisPhase {
    /// More checks needed.
    #[default]
    Running,
    /// Enough checks passed; checks go on while the step is paused.
    Passed,
    /// Failed with `onFailure: Pause`: the step waits for approval (which checks again).
    Failed,
    /// Failed with `onFailure: Rollback`: traffic and pods are back on the stable version.
    RolledBack,
}

/// How one metric fared at a check.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MetricOutcome {
    /// Within its thresholds.
    #[default]
    Passed,
    /// Out of its thresholds.
    Failed,
    /// No answer.
    Inconclusive,
}
