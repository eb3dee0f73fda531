//! Rollout validation table (upstream's table, limit 30 as upstream's tests) and the v1alpha1
//! rules; every error names its field.

use rollouts_api::v1beta1::Rollout;
use rollouts_api::{common::RolloutPhase, v1alpha1};
use rollouts_plan::validation::*;
use serde_json::{Value, json};

fn base() -> Value {
    json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
        "metadata": {"name": "rollout-demo", "namespace": "default"},
        "spec": {
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "deployment-demo"},
            "strategy": {"canary": {
                "steps": [
                    {"traffic": "10%", "replicas": 1},
                    {"traffic": "10%", "replicas": 3, "pause": {"duration": 86400}},
                    {"traffic": "30%", "replicas": 10, "pause": {"duration": 604800}},
                    {"traffic": "100%", "replicas": 20}
                ],
                "trafficRoutings": [{"service": "service-demo", "ingress": {"classType": "nginx", "name": "ingress-nginx-demo"}}]
            }}
        }
    })
}

fn rollout(value: Value) -> Rollout {
    serde_json::from_value(value).unwrap()
}

fn errors_with(value: Value, limit: i32, others: &[Rollout]) -> Vec<String> {
    let others: Vec<&Rollout> = others.iter().collect();
    let ctx = Context {
        old: None,
        others: &others,
        partition_percent_limit: limit,
    };
    validate_v1beta1(&rollout(value), &ctx)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn errors(value: Value) -> Vec<String> {
    errors_with(value, 30, &[])
}

fn edit(f: impl FnOnce(&mut Value)) -> Value {
    let mut v = base();
    f(&mut v);
    v
}

fn assert_one_error(value: Value, field: &str) {
    let found = errors(value);
    assert!(
        found.len() == 1 && found[0].starts_with(&format!("{field}: ")),
        "expected one error on {field}, got {found:?}"
    );
}

#[test]
fn upstream_validation_table() {
    assert_eq!(errors(base()), Vec::<String>::new());
    assert_one_error(edit(|v| v["spec"]["strategy"] = json!({})), "spec.strategy");
    assert_one_error(
        edit(|v| v["spec"]["strategy"]["canary"]["trafficRoutings"][0]["service"] = json!("")),
        "spec.strategy.canary.trafficRoutings[0].service",
    );
    assert_one_error(
        edit(|v| {
            v["spec"]["strategy"]["canary"]["trafficRoutings"][0]["ingress"]["name"] = json!("")
        }),
        "spec.strategy.canary.trafficRoutings[0].ingress.name",
    );
    assert_one_error(
        edit(|v| v["spec"]["strategy"]["canary"]["steps"] = json!([])),
        "spec.strategy.canary.steps",
    );
    assert_eq!(
        errors(edit(
            |v| v["spec"]["workloadRef"]["kind"] = json!("StatefulSet")
        )),
        Vec::<String>::new()
    );
    assert_one_error(
        edit(|v| v["spec"]["strategy"]["canary"]["steps"][1]["traffic"] = json!("%5")),
        "spec.strategy.canary.steps[1].traffic",
    );
    for bad in [json!("50"), json!("101%"), json!("0%"), json!(0)] {
        assert_one_error(
            edit(|v| v["spec"]["strategy"]["canary"]["steps"][3]["replicas"] = bad.clone()),
            "spec.strategy.canary.steps[3].replicas",
        );
    }
    for bad in ["0%", "101%"] {
        assert_one_error(
            edit(|v| v["spec"]["strategy"]["canary"]["steps"][0]["traffic"] = json!(bad)),
            "spec.strategy.canary.steps[0].traffic",
        );
    }
    assert_eq!(
        errors(edit(
            |v| v["spec"]["strategy"]["canary"]["enableExtraWorkloadForCanary"] = json!(true)
        )),
        Vec::<String>::new()
    );
}

fn last_step_percent(replicas: &str, extra: bool, kind: (&str, &str)) -> Value {
    edit(|v| {
        v["spec"]["strategy"]["canary"]["steps"] = json!([{"traffic": "10%", "replicas": "10%"}, {"traffic": "100%", "replicas": replicas}]);
        v["spec"]["strategy"]["canary"]["enableExtraWorkloadForCanary"] = json!(extra);
        v["spec"]["workloadRef"]["apiVersion"] = json!(kind.0);
        v["spec"]["workloadRef"]["kind"] = json!(kind.1);
    })
}

#[test]
fn partition_style_steps_with_traffic_are_limited_to_the_percent_limit() {
    let deployment = ("apps/v1", "Deployment");
    let cloneset = ("apps.kruise.io/v1alpha1", "CloneSet");
    assert!(errors(last_step_percent("30%", false, deployment)).is_empty());
    assert_one_error(
        last_step_percent("31%", false, deployment),
        "spec.strategy.canary.steps[1].replicas",
    );
    assert!(
        errors(last_step_percent("31%", true, deployment)).is_empty(),
        "canary style is not limited"
    );
    assert_one_error(
        last_step_percent("31%", true, cloneset),
        "spec.strategy.canary.steps[1].replicas",
    );
    assert!(errors_with(last_step_percent("100%", false, deployment), 100, &[]).is_empty());
    assert_eq!(
        errors_with(last_step_percent("51%", false, deployment), 50, &[]).len(),
        1
    );
}

#[test]
fn decreasing_replicas_name_the_step() {
    let value = edit(|v| v["spec"]["strategy"]["canary"]["steps"][2]["replicas"] = json!(2));
    assert_eq!(
        errors(value),
        ["spec.strategy.canary.steps[2].replicas: must be >= step 1's replicas"]
    );
    let mixed = edit(|v| v["spec"]["strategy"]["canary"]["steps"][2]["replicas"] = json!("5%"));
    assert!(
        errors(mixed).is_empty(),
        "a percentage after a number is not compared"
    );
}

#[test]
fn one_workload_has_one_rollout() {
    let other = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = base();
        v["metadata"]["name"] = json!(name);
        f(&mut v);
        rollout(v)
    };
    let others = [
        other("a", &|v| v["spec"]["workloadRef"]["name"] = json!("other")),
        other("b", &|v| {
            v["spec"]["workloadRef"]["kind"] = json!("StatefulSet")
        }),
        other("c", &|v| {
            v["spec"]["workloadRef"]["apiVersion"] = json!("apps/v1beta1")
        }),
        rollout(base()),
    ];
    assert!(
        errors_with(base(), 30, &others).is_empty(),
        "different references, and the object itself"
    );
    let duplicate = [other("e", &|_| {})];
    let found = errors_with(base(), 30, &duplicate);
    assert!(
        found.len() == 1 && found[0].starts_with("spec.workloadRef: Rollout e already governs"),
        "{found:?}"
    );
}

#[test]
fn updates_while_progressing_keep_workload_routing_style_and_step_count() {
    let mut old = rollout(base());
    old.status = Some(serde_json::from_value(json!({"phase": "Progressing"})).unwrap());
    let check_against = |old: &Rollout, new: Value| {
        let ctx = Context {
            old: Some(old),
            others: &[],
            partition_percent_limit: 30,
        };
        validate_v1beta1(&rollout(new), &ctx)
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let check = |new: Value| check_against(&old, new);
    assert!(check(base()).is_empty());
    assert!(
        check(edit(
            |v| v["spec"]["strategy"]["canary"]["steps"][0]["traffic"] = json!("5%")
        ))
        .is_empty()
    );
    let style = check(edit(|v| {
        v["spec"]["strategy"]["canary"]["enableExtraWorkloadForCanary"] = json!(true)
    }));
    assert!(
        style.len() == 1 && style[0].starts_with("spec.strategy: rolling style"),
        "{style:?}"
    );
    let routing = check(edit(|v| {
        v["spec"]["strategy"]["canary"]["trafficRoutings"][0]["ingress"]["classType"] = json!("mse")
    }));
    assert!(
        routing.len() == 1 && routing[0].starts_with("spec.strategy.trafficRoutings"),
        "{routing:?}"
    );
    let steps = check(edit(|v| {
        v["spec"]["strategy"]["canary"]["steps"]
            .as_array_mut()
            .unwrap()
            .pop();
    }));
    assert!(
        steps.len() == 1 && steps[0].starts_with("spec.strategy.steps"),
        "{steps:?}"
    );
    let workload = check(edit(|v| v["spec"]["workloadRef"]["name"] = json!("other")));
    assert!(
        workload.len() == 1 && workload[0].starts_with("spec.workloadRef"),
        "{workload:?}"
    );
    old.status.as_mut().unwrap().phase = Some(RolloutPhase::Healthy);
    assert!(
        check_against(
            &old,
            edit(|v| v["spec"]["strategy"]["canary"]["enableExtraWorkloadForCanary"] = json!(true))
        )
        .is_empty()
    );
}

#[test]
fn blue_green_allows_zero_traffic_on_deployments_and_clonesets_only() {
    let blue_green = |kind: (&str, &str)| {
        json!({
            "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout", "metadata": {"name": "bg", "namespace": "default"},
            "spec": {"workloadRef": {"apiVersion": kind.0, "kind": kind.1, "name": "w"},
                     "strategy": {"blueGreen": {"steps": [{"replicas": "50%", "traffic": "0%"}, {"replicas": "100%", "traffic": "100%"}],
                                                "trafficRoutings": [{"service": "s", "ingress": {"name": "i"}}]}}}
        })
    };
    assert!(errors(blue_green(("apps/v1", "Deployment"))).is_empty());
    assert!(errors(blue_green(("apps.kruise.io/v1alpha1", "CloneSet"))).is_empty());
    assert_one_error(blue_green(("apps/v1", "StatefulSet")), "spec.workloadRef");
    let mut unrouted = blue_green(("apps/v1", "Deployment"));
    unrouted["spec"]["strategy"]["blueGreen"]
        .as_object_mut()
        .unwrap()
        .remove("trafficRoutings");
    let found = errors(unrouted.clone());
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found[0].starts_with("spec.strategy.blueGreen.steps[0].traffic"),
        "{found:?}"
    );
    unrouted["spec"]["strategy"]["blueGreen"]["steps"] = json!([{"replicas": "100%"}]);
    assert!(errors(unrouted).is_empty(), "no traffic, no routing needed");
}

fn alpha(annotations: Value, steps: Value, kind: &str) -> v1alpha1::Rollout {
    let mut metadata = json!({"name": "rollouts-demo", "namespace": "default"});
    if annotations != json!({}) {
        metadata["annotations"] = annotations;
    }
    serde_json::from_value(json!({
        "apiVersion": "rollouts.kruise.io/v1alpha1", "kind": "Rollout", "metadata": metadata,
        "spec": {"objectRef": {"workloadRef": {"apiVersion": if kind == "CloneSet" { "apps.kruise.io/v1alpha1" } else { "apps/v1" }, "kind": kind, "name": "w"}},
                 "strategy": {"canary": {"steps": steps, "trafficRoutings": [{"service": "s", "ingress": {"name": "i"}}]}}}
    }))
    .unwrap()
}

fn alpha_errors(rollout: &v1alpha1::Rollout, limit: i32) -> Vec<String> {
    let ctx = Context {
        old: None,
        others: &[],
        partition_percent_limit: limit,
    };
    validate_v1alpha1(rollout, None, &ctx)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn v1alpha1_rules_name_v1alpha1_fields() {
    let partition = json!({"rollouts.kruise.io/rolling-style": "partition"});
    let weights =
        json!([{"weight": 20}, {"weight": 40}, {"weight": 60}, {"weight": 80}, {"weight": 100}]);
    assert!(
        alpha_errors(&alpha(json!({}), weights.clone(), "Deployment"), 30).is_empty(),
        "canary style"
    );
    let limited = alpha_errors(&alpha(partition.clone(), weights.clone(), "Deployment"), 30);
    assert!(
        !limited.is_empty() && limited.iter().all(|e| e.contains(".weight: ")),
        "{limited:?}"
    );
    assert!(alpha_errors(&alpha(partition.clone(), weights, "Deployment"), 100).is_empty());
    let cloneset = alpha_errors(&alpha(json!({}), json!([{"weight": 40}]), "CloneSet"), 30);
    assert_eq!(
        cloneset,
        [
            "spec.strategy.canary.steps[0].weight: a partition-style step that routes traffic may update at most 30% of pods"
        ]
    );
    let bad_style = alpha_errors(
        &alpha(
            json!({"rollouts.kruise.io/rolling-style": "bluegreen"}),
            json!([{"replicas": 1}]),
            "Deployment",
        ),
        50,
    );
    assert!(
        bad_style[0].starts_with("metadata.annotations[rollouts.kruise.io/rolling-style]"),
        "{bad_style:?}"
    );
    let empty = alpha_errors(&alpha(json!({}), json!([{"pause": {}}]), "Deployment"), 50);
    assert!(
        empty.contains(
            &"spec.strategy.canary.steps[0]: weight and replicas cannot both be empty".to_string()
        ),
        "{empty:?}"
    );
    let heavy = alpha_errors(
        &alpha(
            json!({}),
            json!([{"weight": 120, "replicas": 1}]),
            "Deployment",
        ),
        50,
    );
    assert!(
        heavy
            .iter()
            .any(|e| e
                .starts_with("spec.strategy.canary.steps[0].weight: must be between 1 and 100")),
        "{heavy:?}"
    );
    let decreasing = alpha_errors(
        &alpha(
            json!({}),
            json!([{"weight": 40, "replicas": 1}, {"weight": 20, "replicas": 2}]),
            "Deployment",
        ),
        50,
    );
    assert_eq!(
        decreasing,
        ["spec.strategy.canary.steps[1].weight: must be >= step 0's weight"]
    );
}

#[test]
fn ingress_providers_refuse_match_conditions_they_would_ignore() {
    let with_match = |class: &str, matched: Value| {
        edit(|v| {
            v["spec"]["strategy"]["canary"]["trafficRoutings"][0]["ingress"]["classType"] =
                json!(class);
            v["spec"]["strategy"]["canary"]["steps"][0]["matches"] = json!([matched]);
        })
    };
    let header = json!({"headers": [{"name": "User-Agent", "value": "Android"}]});
    let query = json!({"queryParams": [{"name": "user", "value": "1"}]});
    let path = json!({"path": {"value": "/v2"}});
    assert_eq!(
        errors(with_match("nginx", header.clone())),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(with_match("mse", query.clone())),
        Vec::<String>::new()
    );
    assert_one_error(
        with_match("nginx", query),
        "spec.strategy.canary.steps[0].matches[0].queryParams",
    );
    assert_one_error(
        with_match("mse", path.clone()),
        "spec.strategy.canary.steps[0].matches[0].path",
    );
    assert_one_error(
        with_match("aliyun-alb", json!({"path": {"value": "/v2"}})),
        "spec.strategy.canary.steps[0].matches[0].path",
    );
    // A Gateway API HTTPRoute supports all three.
    let mut gateway = with_match("nginx", path.clone());
    gateway["spec"]["strategy"]["canary"]["trafficRoutings"][0] =
        json!({"service": "s", "gateway": {"httpRouteName": "r"}});
    assert_eq!(errors(gateway), Vec::<String>::new());
    // So does an Istio VirtualService next to the Ingress: the Ingress takes the header, the
    // VirtualService all three.
    let mut mixed = with_match("nginx", path.clone());
    mixed["spec"]["strategy"]["canary"]["trafficRoutings"][0]["customNetworkRefs"] = json!([{"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService", "name": "vs"}]);
    assert_eq!(errors(mixed), Vec::<String>::new());
    // A class routed by the user's own script may read anything.
    assert_eq!(errors(with_match("traefik", path)), Vec::<String>::new());
}

#[test]
fn v1alpha1_updates_while_progressing_may_change_steps_but_not_workload_routing_or_style() {
    let five =
        json!([{"weight": 20}, {"weight": 40}, {"weight": 60}, {"weight": 80}, {"weight": 100}]);
    let three = json!([{"weight": 20}, {"weight": 60}, {"weight": 100}]);
    let mut old = alpha(json!({}), five, "Deployment");
    old.status = Some(serde_json::from_value(json!({"phase": "Progressing"})).unwrap());
    let ctx = Context {
        old: None,
        others: &[],
        partition_percent_limit: 100,
    };
    let check = |new: &v1alpha1::Rollout| -> Vec<String> {
        validate_v1alpha1(new, Some(&old), &ctx)
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        check(&alpha(json!({}), three.clone(), "Deployment")),
        Vec::<String>::new()
    );
    let mut extra = alpha(json!({}), three.clone(), "Deployment");
    extra
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .steps
        .as_mut()
        .unwrap()[0]
        .replicas = Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(2));
    assert_eq!(check(&extra), Vec::<String>::new());
    let styled = check(&alpha(
        json!({"rollouts.kruise.io/rolling-style": "partition"}),
        three.clone(),
        "Deployment",
    ));
    assert!(
        styled.len() == 1
            && styled[0].starts_with("metadata.annotations[rollouts.kruise.io/rolling-style]"),
        "{styled:?}"
    );
    let mut moved = alpha(json!({}), three.clone(), "Deployment");
    moved.spec.object_ref.workload_ref.as_mut().unwrap().name = "other".into();
    let moved = check(&moved);
    assert!(
        moved.len() == 1 && moved[0].starts_with("spec.objectRef.workloadRef"),
        "{moved:?}"
    );
    let mut rerouted = alpha(json!({}), three, "Deployment");
    rerouted
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .traffic_routings
        .as_mut()
        .unwrap()[0]
        .service = "t".into();
    let rerouted = check(&rerouted);
    assert!(
        rerouted.len() == 1 && rerouted[0].starts_with("spec.strategy.canary.trafficRoutings"),
        "{rerouted:?}"
    );
}
