//! Judging a step's analysis: one check against the metrics' thresholds, the tally of a step's
//! checks against its limits, and the query text with the release's values.

use rollouts_api::v1beta1::{AnalysisFailurePolicy, AnalysisMetric};
use rollouts_plan::analysis::StepAnalysis;
use rollouts_plan::analysis::verdict::{
    Answer, Check, QueryValues, Tally, Verdict, count, fill, judge,
};

fn metric(name: &str, min: Option<f64>, max: Option<f64>) -> AnalysisMetric {
    AnalysisMetric {
        name: name.into(),
        query: "q".into(),
        min,
        max,
    }
}

#[test]
fn a_check_fails_on_the_first_metric_out_of_range_and_is_inconclusive_without_an_answer() {
    let metrics = [
        metric("errors", None, Some(0.05)),
        metric("success", Some(0.99), None),
    ];
    let failed = |metric: &str, value: f64, threshold: &str| Check::Failed {
        metric: metric.into(),
        value,
        threshold: threshold.into(),
    };
    let inconclusive = |metric: &str, reason: &str| Check::Inconclusive {
        metric: metric.into(),
        reason: reason.into(),
    };
    use Answer::*;
    // (answers) -> check
    let cases = [
        (vec![Value(0.01), Value(0.999)], Check::Passed),
        (vec![Value(0.05), Value(0.99)], Check::Passed),
        (
            vec![Value(0.2), Value(0.999)],
            failed("errors", 0.2, "<= 0.05"),
        ),
        (
            vec![Value(0.01), Value(0.5)],
            failed("success", 0.5, ">= 0.99"),
        ),
        // A failure wins over a metric without an answer.
        (vec![Empty, Value(0.5)], failed("success", 0.5, ">= 0.99")),
        (
            vec![Empty, Value(0.999)],
            inconclusive("errors", "no sample"),
        ),
        (
            vec![Value(f64::NAN), Value(0.999)],
            inconclusive("errors", "the answer is NaN"),
        ),
        (
            vec![Value(0.01), Error("connection refused".into())],
            inconclusive("success", "connection refused"),
        ),
        (vec![Value(0.01)], inconclusive("success", "not queried")),
    ];
    for (answers, expected) in cases {
        assert_eq!(judge(&metrics, &answers), expected, "{answers:?}");
    }
}

fn analysis(successful_checks: i32, failure_limit: i32, inconclusive_limit: i32) -> StepAnalysis {
    StepAnalysis {
        address: None,
        bearer_token_secret: None,
        ca_secret: None,
        metrics: vec![metric("errors", None, Some(0.05))],
        interval_seconds: 10,
        successful_checks,
        failure_limit,
        inconclusive_limit,
        on_failure: AnalysisFailurePolicy::Rollback,
    }
}

/// Successful checks needed, failure limit, inconclusive limit, the checks, the verdict after each.
type TallyCase = (i32, i32, i32, Vec<Check>, Vec<&'static str>);

#[test]
fn the_tally_passes_after_enough_checks_and_fails_one_past_a_limit() {
    let fail = Check::Failed {
        metric: "errors".into(),
        value: 0.2,
        threshold: "<= 0.05".into(),
    };
    let unknown = Check::Inconclusive {
        metric: "errors".into(),
        reason: "no sample".into(),
    };
    // (successful checks, failure limit, inconclusive limit, checks) -> verdict after each
    let cases: Vec<TallyCase> = vec![
        (1, 0, 0, vec![Check::Passed], vec!["passed"]),
        (
            3,
            0,
            0,
            vec![Check::Passed; 3],
            vec!["running", "running", "passed"],
        ),
        (
            3,
            0,
            0,
            vec![Check::Passed, fail.clone()],
            vec!["running", "failed"],
        ),
        (
            1,
            1,
            0,
            vec![fail.clone(), fail.clone()],
            vec!["running", "failed"],
        ),
        (
            2,
            1,
            0,
            vec![fail.clone(), Check::Passed, Check::Passed],
            vec!["running", "running", "passed"],
        ),
        (
            1,
            0,
            2,
            vec![unknown.clone(); 3],
            vec!["running", "running", "failed"],
        ),
        (
            1,
            0,
            1,
            vec![unknown.clone(), Check::Passed],
            vec!["running", "passed"],
        ),
    ];
    for (successful, failures, inconclusive, checks, expected) in cases {
        let step = analysis(successful, failures, inconclusive);
        let mut tally = Tally::default();
        let mut seen = Vec::new();
        for check in &checks {
            let (next, verdict) = count(&step, tally, check);
            tally = next;
            seen.push(match verdict {
                Verdict::Running => "running",
                Verdict::Passed => "passed",
                Verdict::Failed(_) => "failed",
            });
        }
        assert_eq!(
            seen, expected,
            "{successful}/{failures}/{inconclusive}: {checks:?}"
        );
    }
    let (tally, verdict) = count(&analysis(1, 0, 0), Tally::default(), &fail);
    assert_eq!(
        tally,
        Tally {
            passed: 0,
            failed: 1,
            inconclusive: 0
        }
    );
    assert_eq!(
        verdict,
        Verdict::Failed(
            "metric errors is 0.2, it must be <= 0.05 (1 failed check(s), 0 tolerated)".into()
        )
    );
}

#[test]
fn queries_get_the_release_values() {
    let values = QueryValues {
        namespace: "shop",
        workload: "echoserver",
        rollout: "rollouts-demo",
        stable_revision: "6f7b",
        canary_revision: "85c4",
        step: 2,
    };
    let query = r#"sum(rate(errors{namespace="{{namespace}}",pod_template_hash="{{canaryRevision}}"}[1m])) / {{step}} + {{stableRevision}} {{workload}} {{rollout}} {{unknown}}"#;
    assert_eq!(
        fill(query, &values),
        r#"sum(rate(errors{namespace="shop",pod_template_hash="85c4"}[1m])) / 2 + 6f7b echoserver rollouts-demo {{unknown}}"#
    );
}

#[test]
fn values_for_people_keep_four_significant_digits() {
    use rollouts_plan::analysis::verdict::short;
    let table = [
        (0.24285724044804638, "0.2429"),
        (0.05, "0.05"),
        (0.0012345, "0.001234"),
        (1234.5678, "1235"),
        (12.0, "12"),
        (0.0, "0"),
        (-0.333333, "-0.3333"),
        (f64::INFINITY, "inf"),
    ];
    for (value, expected) in table {
        assert_eq!(short(value), expected, "{value}");
    }
}
