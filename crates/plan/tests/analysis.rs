//! Metric analysis settings: what each step runs with (the step's fields over the strategy's,
//! defaults filled in), every field's check, and where a rollback on failure is refused.

use rollouts_api::v1beta1::{AnalysisFailurePolicy, Rollout};
use rollouts_plan::analysis::{self, DEFAULT_INCONCLUSIVE_LIMIT, DEFAULT_INTERVAL_SECONDS};
use rollouts_plan::validation::{Context, validate_v1beta1};
use serde_json::{Value, json};

fn rollout(analysis: Value, steps: Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
        "metadata": {"name": "r", "namespace": "default"},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                 "strategy": {"canary": {"analysis": analysis, "steps": steps}}}
    }))
    .unwrap()
}

fn errors_query() -> Value {
    json!([{"name": "errors", "query": "sum(rate(errors{ns=\"{{namespace}}\"}[1m]))", "max": 0.05}])
}

#[test]
fn each_step_runs_the_strategys_analysis_with_its_own_changes() {
    let r = rollout(
        json!({"metrics": errors_query(), "failureLimit": 2, "onFailure": "Pause",
               "prometheus": {"address": "http://prometheus:9090"}}),
        json!([
            {"replicas": 1, "analysis": {"disabled": true}},
            {"replicas": "50%", "analysis": {"intervalSeconds": 5, "successfulChecks": 3}},
            {"replicas": "100%"}
        ]),
    );
    assert_eq!(analysis::for_step(&r, 1), None, "switched off for step 1");
    let second = analysis::for_step(&r, 2).unwrap();
    assert_eq!(
        (
            second.interval_seconds,
            second.successful_checks,
            second.failure_limit
        ),
        (5, 3, 2)
    );
    assert_eq!(second.on_failure, AnalysisFailurePolicy::Pause);
    assert_eq!(second.address.as_deref(), Some("http://prometheus:9090"));
    let third = analysis::for_step(&r, 3).unwrap();
    assert_eq!(
        (
            third.interval_seconds,
            third.successful_checks,
            third.inconclusive_limit
        ),
        (DEFAULT_INTERVAL_SECONDS, 1, DEFAULT_INCONCLUSIVE_LIMIT)
    );
    assert_eq!(third.metrics[0].name, "errors");
    assert_eq!(analysis::for_step(&r, 4), None, "no such step");
    assert!(analysis::required(&r));

    let none = rollout(Value::Null, json!([{"replicas": 1}]));
    assert!(!analysis::required(&none));
    // Only one step asks for it.
    let one = rollout(
        Value::Null,
        json!([{"replicas": 1}, {"replicas": "100%", "analysis": {"metrics": errors_query()}}]),
    );
    assert_eq!(analysis::for_step(&one, 1), None);
    assert!(analysis::for_step(&one, 2).is_some());
}

#[test]
fn every_field_is_checked_and_named() {
    let metric = |name: &str, query: &str, min: Value, max: Value| json!({"name": name, "query": query, "min": min, "max": max});
    // (analysis, the field each expected error names)
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"metrics": errors_query()}), vec![]),
        (
            json!({"metrics": errors_query(), "prometheus": {"address": "prometheus:9090"}}),
            vec!["a.prometheus.address"],
        ),
        (
            json!({"metrics": errors_query(), "prometheus": {"address": "https://"}}),
            vec!["a.prometheus.address"],
        ),
        (
            json!({"metrics": errors_query(),
                   "prometheus": {"bearerTokenSecret": {"name": "prom", "key": ""}}}),
            vec!["a.prometheus.bearerTokenSecret"],
        ),
        (
            json!({"metrics": errors_query(), "intervalSeconds": 0, "successfulChecks": 0,
                   "failureLimit": -1, "inconclusiveLimit": -1}),
            vec![
                "a.intervalSeconds",
                "a.successfulChecks",
                "a.failureLimit",
                "a.inconclusiveLimit",
            ],
        ),
        (
            json!({"metrics": [metric("", " ", Value::Null, Value::Null)]}),
            vec!["a.metrics[0].name", "a.metrics[0].query", "a.metrics[0]"],
        ),
        (
            json!({"metrics": [metric("e", "q", json!(2.0), json!(1.0)), metric("e", "q", json!(0), Value::Null)]}),
            vec!["a.metrics[0]", "a.metrics[1].name"],
        ),
    ];
    for (value, expected) in cases {
        let section = serde_json::from_value(value.clone()).unwrap();
        let fields: Vec<String> = analysis::problems(&section, "a")
            .into_iter()
            .map(|(field, _)| field)
            .collect();
        assert_eq!(fields, expected, "{value}");
    }
}

#[test]
fn admission_checks_the_fields_and_where_a_rollback_is_possible() {
    let check = |r: &Rollout| -> Vec<String> {
        let ctx = Context {
            old: None,
            others: &[],
            partition_percent_limit: 50,
        };
        validate_v1beta1(r, &ctx)
            .iter()
            .map(|e| e.field.clone())
            .collect()
    };
    let valid = rollout(json!({"metrics": errors_query()}), json!([{"replicas": 1}]));
    assert!(check(&valid).is_empty(), "{:?}", check(&valid));
    let invalid = rollout(
        json!({"metrics": errors_query(), "intervalSeconds": 0}),
        json!([{"replicas": 1}]),
    );
    assert_eq!(
        check(&invalid),
        vec!["spec.strategy.canary.analysis.intervalSeconds"]
    );
    let no_metric = rollout(json!({"failureLimit": 1}), json!([{"replicas": 1}]));
    assert_eq!(
        check(&no_metric),
        vec!["spec.strategy.canary.steps[0].analysis"]
    );
    let switched_off = rollout(json!({"disabled": true}), json!([{"replicas": 1}]));
    assert!(check(&switched_off).is_empty(), "nothing would run");

    // A DaemonSet's pods come back on the old version only with the old template: a rollback
    // on failure is refused (the default), a pause is fine.
    let on_daemonset = |analysis: Value| {
        let mut r = rollout(analysis, json!([{"replicas": 1}, {"replicas": 2}]));
        r.spec.workload_ref.kind = "DaemonSet".into();
        check(&r)
    };
    assert_eq!(
        on_daemonset(json!({"metrics": errors_query()})),
        vec!["spec.strategy.canary.steps[0].analysis.onFailure"]
    );
    assert!(on_daemonset(json!({"metrics": errors_query(), "onFailure": "Pause"})).is_empty());
    let message = rollouts_plan::analysis::rollback_problem(
        &{
            let mut r = rollout(json!({"metrics": errors_query()}), json!([{"replicas": 1}]));
            r.spec.workload_ref.kind = "DaemonSet".into();
            r
        },
        "spec.strategy.canary",
    )
    .unwrap()
    .1;
    assert!(message.contains("set onFailure: Pause"), "{message}");
}
