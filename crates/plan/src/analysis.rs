//! Metric analysis settings (`analysis` of a strategy and of a step): the analysis a step runs
//! with (the step's fields replace the strategy's, defaults filled in) and what is wrong with
//! them; [`verdict`] judges checks; the step machine runs them (`machine::analysis`).

pub mod verdict;

use rollouts_api::v1beta1::{
    Analysis, AnalysisFailurePolicy, AnalysisMetric, Rollout, SecretKeyRef,
};

/// Seconds between two checks when the Rollout does not say.
pub const DEFAULT_INTERVAL_SECONDS: i32 = 30;
/// Checks without an answer tolerated when the Rollout does not say.
pub const DEFAULT_INCONCLUSIVE_LIMIT: i32 = 3;

/// The analysis one step runs with, every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct StepAnalysis {
    /// Prometheus base URL; `None`: the controller's default.
    pub address: Option<String>,
    /// The Secret key (in the Rollout's namespace) holding a bearer token, if any.
    pub bearer_token_secret: Option<SecretKeyRef>,
    /// The Secret key (in the Rollout's namespace) holding the CA bundle for TLS, if any.
    pub ca_secret: Option<SecretKeyRef>,
    /// The checks.
    pub metrics: Vec<AnalysisMetric>,
    /// Seconds between two checks.
    pub interval_seconds: i32,
    /// Passing checks the step needs.
    pub successful_checks: i32,
    /// Failing checks tolerated.
    pub failure_limit: i32,
    /// Checks without an answer tolerated.
    pub inconclusive_limit: i32,
    /// What a failure does.
    pub on_failure: AnalysisFailurePolicy,
}

/// The strategy's analysis, whichever strategy is set.
fn strategy_analysis(rollout: &Rollout) -> Option<&Analysis> {
    let strategy = &rollout.spec.strategy;
    match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => blue_green.analysis.as_ref(),
        (None, Some(canary)) => canary.analysis.as_ref(),
        (None, None) => None,
    }
}

/// `base` with every field `step` sets replaced.
fn merged(base: Option<&Analysis>, step: Option<&Analysis>) -> Option<Analysis> {
    let (base, step) = match (base, step) {
        (None, None) => return None,
        (Some(base), None) => return Some(base.clone()),
        (None, Some(step)) => (Analysis::default(), step),
        (Some(base), Some(step)) => (base.clone(), step),
    };
    Some(Analysis {
        prometheus: step.prometheus.clone().or(base.prometheus),
        metrics: step.metrics.clone().or(base.metrics),
        interval_seconds: step.interval_seconds.or(base.interval_seconds),
        successful_checks: step.successful_checks.or(base.successful_checks),
        failure_limit: step.failure_limit.or(base.failure_limit),
        inconclusive_limit: step.inconclusive_limit.or(base.inconclusive_limit),
        on_failure: step.on_failure.or(base.on_failure),
        disabled: step.disabled.or(base.disabled),
    })
}

/// The analysis step `index` (1-based) runs with; `None` when it runs none.
pub fn for_step(rollout: &Rollout, index: usize) -> Option<StepAnalysis> {
    let step = crate::steps(rollout).get(index.checked_sub(1)?)?;
    let analysis = merged(strategy_analysis(rollout), step.analysis.as_ref())?;
    let metrics = analysis.metrics.unwrap_or_default();
    if analysis.disabled == Some(true) || metrics.is_empty() {
        return None;
    }
    let prometheus = analysis.prometheus.unwrap_or_default();
    Some(StepAnalysis {
        address: prometheus.address,
        bearer_token_secret: prometheus.bearer_token_secret,
        ca_secret: prometheus.ca_secret,
        metrics,
        interval_seconds: analysis
            .interval_seconds
            .unwrap_or(DEFAULT_INTERVAL_SECONDS),
        successful_checks: analysis.successful_checks.unwrap_or(1),
        failure_limit: analysis.failure_limit.unwrap_or(0),
        inconclusive_limit: analysis
            .inconclusive_limit
            .unwrap_or(DEFAULT_INCONCLUSIVE_LIMIT),
        on_failure: analysis.on_failure.unwrap_or_default(),
    })
}

/// A step whose failed analysis would roll back (`onFailure: Rollback`, the default) on a
/// workload that cannot go back while frozen, as `(field, message)`.
pub fn rollback_problem(rollout: &Rollout, prefix: &str) -> Option<(String, String)> {
    let workload = &rollout.spec.workload_ref;
    let blue_green = crate::is_blue_green(rollout);
    if rollouts_workload::release::can_abort(&workload.api_version, &workload.kind, blue_green) {
        return None;
    }
    let index = (1..=crate::steps(rollout).len()).find(|index| {
        for_step(rollout, *index).is_some_and(|a| a.on_failure == AnalysisFailurePolicy::Rollback)
    })?;
    let what = match blue_green {
        true => "a blue-green release".to_string(),
        false => format!("a {}", workload.kind),
    };
    Some((
        format!("{prefix}.steps[{}].analysis.onFailure", index - 1),
        format!(
            "Rollback (the default) cannot take the pods of {what} back while it stays frozen: set onFailure: Pause"
        ),
    ))
}

/// Whether any step of `rollout` runs an analysis.
pub fn required(rollout: &Rollout) -> bool {
    (1..=crate::steps(rollout).len()).any(|index| for_step(rollout, index).is_some())
}

/// What is wrong with one analysis section at `at` (field path), as `(field, message)`.
pub fn problems(analysis: &Analysis, at: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut problem = |field: String, message: &str| found.push((field, message.to_string()));
    let address = analysis
        .prometheus
        .as_ref()
        .and_then(|p| p.address.as_deref());
    if let Some(address) = address {
        let host = address
            .strip_prefix("http://")
            .or_else(|| address.strip_prefix("https://"));
        if host
            .is_none_or(|h| h.is_empty() || h.starts_with('/') || h.contains(char::is_whitespace))
        {
            problem(
                format!("{at}.prometheus.address"),
                "must be an http:// or https:// URL with a host",
            );
        }
    }
    let secrets = analysis.prometheus.iter().flat_map(|p| {
        [
            ("bearerTokenSecret", &p.bearer_token_secret),
            ("caSecret", &p.ca_secret),
        ]
    });
    for (field, secret) in secrets {
        if let Some(secret) = secret
            && (secret.name.is_empty() || secret.key.is_empty())
        {
            problem(format!("{at}.prometheus.{field}"), "needs a name and a key");
        }
    }
    let limits = [
        ("intervalSeconds", analysis.interval_seconds, 1),
        ("successfulChecks", analysis.successful_checks, 1),
        ("failureLimit", analysis.failure_limit, 0),
        ("inconclusiveLimit", analysis.inconclusive_limit, 0),
    ];
    for (field, value, lowest) in limits {
        if value.is_some_and(|v| v < lowest) {
            problem(
                format!("{at}.{field}"),
                &format!("must be at least {lowest}"),
            );
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, metric) in analysis.metrics.iter().flatten().enumerate() {
        let field = format!("{at}.metrics[{i}]");
        if metric.name.trim().is_empty() {
            problem(format!("{field}.name"), "must be set");
        } else if !names.insert(metric.name.as_str()) {
            problem(format!("{field}.name"), "must be unique");
        }
        if metric.query.trim().is_empty() {
            problem(format!("{field}.query"), "must be set");
        }
        match (metric.min, metric.max) {
            (None, None) => problem(field.clone(), "needs a threshold: min, max or both"),
            (Some(min), Some(max)) if min > max => {
                problem(field.clone(), "min must not exceed max")
            }
            (min, max) if min.into_iter().chain(max).any(|v| !v.is_finite()) => {
                problem(field.clone(), "thresholds must be finite numbers")
            }
            _ => {}
        }
    }
    found
}

/// What is wrong with every analysis section of `rollout` (the strategy's, each step's, and
/// what each step runs with).
pub fn validate(rollout: &Rollout, prefix: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if let Some(analysis) = strategy_analysis(rollout) {
        found.extend(problems(analysis, &format!("{prefix}.analysis")));
    }
    for (i, step) in crate::steps(rollout).iter().enumerate() {
        let at = format!("{prefix}.steps[{i}].analysis");
        if let Some(analysis) = &step.analysis {
            found.extend(problems(analysis, &at));
        }
        let runs = merged(strategy_analysis(rollout), step.analysis.as_ref())
            .filter(|a| a.disabled != Some(true));
        if runs.is_some_and(|a| a.metrics.as_ref().is_none_or(Vec::is_empty)) {
            found.push((at, "an analysis needs at least one metric".into()));
        }
    }
    found
}
