//! One check of a step's analysis and what the checks so far add up to: a metric out of its
//! thresholds fails the check, a metric without an answer makes it inconclusive, and the step's
//! tally passes, fails, or runs on. Also the query text with the release's values filled in.

use super::StepAnalysis;
use rollouts_api::v1beta1::AnalysisMetric;

/// What Prometheus answered for one metric.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// One number (NaN counts as no answer).
    Value(f64),
    /// No sample.
    Empty,
    /// The query failed: unreachable, refused, not one number.
    Error(String),
}

/// The outcome of one check.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// Every metric within its thresholds.
    Passed,
    /// The first metric out of its thresholds, its value and the threshold it crossed.
    Failed {
        metric: String,
        value: f64,
        threshold: String,
    },
    /// No metric failed, but one had no answer (the first, and why).
    Inconclusive { metric: String, reason: String },
}

/// The checks of the current step so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Checks passed.
    pub passed: i32,
    /// Checks failed.
    pub failed: i32,
    /// Checks without an answer.
    pub inconclusive: i32,
}

/// Where the step's analysis stands after a check.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// More checks needed.
    Running,
    /// Enough checks passed.
    Passed,
    /// The release fails: why, naming the metric.
    Failed(String),
}

/// `value` for people: at most 4 significant digits (`0.2429`, `1235`), integers and non-finite
/// values as they are.
pub fn short(value: f64) -> String {
    if !value.is_finite() || (value == value.trunc() && value.abs() < 1e15) {
        return value.to_string();
    }
    let magnitude = value.abs().log10().floor() as i32 + 1;
    let decimals = (4 - magnitude).clamp(0, 15) as usize;
    let text = format!("{value:.decimals$}");
    match text.contains('.') {
        true => text.trim_end_matches('0').trim_end_matches('.').to_string(),
        false => text,
    }
}

/// Judges one check: `answers[i]` is the answer for `metrics[i]`.
pub fn judge(metrics: &[AnalysisMetric], answers: &[Answer]) -> Check {
    let mut inconclusive = None;
    for (metric, answer) in metrics.iter().zip(answers) {
        match answer {
            Answer::Value(value) if value.is_nan() => {
                inconclusive.get_or_insert((metric, "the answer is NaN".to_string()));
            }
            Answer::Value(value) => {
                let below = metric
                    .min
                    .filter(|min| value < min)
                    .map(|m| format!(">= {m}"));
                let above = metric
                    .max
                    .filter(|max| value > max)
                    .map(|m| format!("<= {m}"));
                if let Some(threshold) = below.or(above) {
                    return Check::Failed {
                        metric: metric.name.clone(),
                        value: *value,
                        threshold,
                    };
                }
            }
            Answer::Empty => {
                inconclusive.get_or_insert((metric, "no sample".to_string()));
            }
            Answer::Error(error) => {
                inconclusive.get_or_insert((metric, error.clone()));
            }
        }
    }
    if answers.len() < metrics.len() {
        let missing = &metrics[answers.len()];
        inconclusive.get_or_insert((missing, "not queried".to_string()));
    }
    match inconclusive {
        Some((metric, reason)) => Check::Inconclusive {
            metric: metric.name.clone(),
            reason,
        },
        None => Check::Passed,
    }
}

/// Adds one check to the step's tally and says where the analysis stands.
pub fn count(analysis: &StepAnalysis, mut tally: Tally, check: &Check) -> (Tally, Verdict) {
    let verdict = match check {
        Check::Passed => {
            tally.passed += 1;
            match tally.passed >= analysis.successful_checks {
                true => Verdict::Passed,
                false => Verdict::Running,
            }
        }
        Check::Failed {
            metric,
            value,
            threshold,
        } => {
            tally.failed += 1;
            match tally.failed > analysis.failure_limit {
                true => Verdict::Failed(format!(
                    "metric {metric} is {}, it must be {threshold} ({} failed check(s), {} tolerated)",
                    short(*value),
                    tally.failed,
                    analysis.failure_limit
                )),
                false => Verdict::Running,
            }
        }
        Check::Inconclusive { metric, reason } => {
            tally.inconclusive += 1;
            match tally.inconclusive > analysis.inconclusive_limit {
                true => Verdict::Failed(format!(
                    "metric {metric} has no answer ({reason}) in {} check(s), {} tolerated",
                    tally.inconclusive, analysis.inconclusive_limit
                )),
                false => Verdict::Running,
            }
        }
    };
    (tally, verdict)
}

/// The values a query may use, as `{{name}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryValues<'a> {
    /// The Rollout's namespace.
    pub namespace: &'a str,
    /// The workload's name.
    pub workload: &'a str,
    /// The Rollout's name.
    pub rollout: &'a str,
    /// Revision label value of the stable pods.
    pub stable_revision: &'a str,
    /// Revision label value of the new pods.
    pub canary_revision: &'a str,
    /// The current step, from 1.
    pub step: i32,
}

/// `query` with every `{{name}}` of [`QueryValues`] replaced (others are left as written).
pub fn fill(query: &str, values: &QueryValues) -> String {
    let step = values.step.to_string();
    [
        ("{{namespace}}", values.namespace),
        ("{{workload}}", values.workload),
        ("{{rollout}}", values.rollout),
        ("{{stableRevision}}", values.stable_revision),
        ("{{canaryRevision}}", values.canary_revision),
        ("{{step}}", step.as_str()),
    ]
    .into_iter()
    .fold(query.to_string(), |text, (name, value)| {
        text.replace(name, value)
    })
}
