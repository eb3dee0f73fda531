//! The built-in Istio scripts route each kind of step as upstream's end-to-end tests expect.

use rollouts_script::{Limits, builtin_for_object, run};
use serde_json::{Value, json};

const CANARY: &str = "echoserver-canary";

fn virtual_service(spec: Value, step: Value) -> Value {
    routed("networking.istio.io/v1alpha3", "VirtualService", spec, step)
}

/// What the built-in script for `kind` makes of `spec` for `step` (the rest of the input).
fn routed(api_version: &str, kind: &str, spec: Value, step: Value) -> Value {
    let script = builtin_for_object(api_version, kind).expect("a built-in script");
    let mut input =
        json!({"data": {"spec": spec}, "stableService": "echoserver", "canaryService": CANARY});
    for (key, value) in step.as_object().unwrap() {
        input[key] = value.clone();
    }
    run(&script, &input, &Limits::default()).expect("the script runs")["spec"].clone()
}

fn one_route() -> Value {
    json!({"gateways": ["nginx-gateway"], "hosts": ["*"],
        "http": [{"route": [{"destination": {"host": "echoserver"}}]}]})
}

fn to(host: &str) -> Value {
    json!([{"destination": {"host": host}}])
}

#[test]
fn matches_become_routes_to_the_canary_before_the_users_routes_last_match_first() {
    let step = json!({"canaryWeight": -1, "stableWeight": 101, "matches": [
        {"headers": [{"type": "Exact", "name": "user-agent", "value": "pc"}]},
        {"queryParams": [{"type": "Exact", "name": "user-agent", "value": "pc"}]},
        {"path": {"value": "/pc"}},
    ]});
    assert_eq!(
        virtual_service(one_route(), step),
        json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [
            {"match": [{"uri": {"prefix": "/pc"}}], "route": to(CANARY)},
            {"match": [{"queryParams": {"user-agent": {"exact": "pc"}}}], "route": to(CANARY)},
            {"match": [{"headers": {"user-agent": {"exact": "pc"}}}], "route": to(CANARY)},
            {"route": to("echoserver")},
        ]})
    );
}

#[test]
fn a_weight_splits_each_unmatched_route_to_the_stable_service() {
    let half = json!({"canaryWeight": 50, "stableWeight": 50});
    assert_eq!(
        virtual_service(one_route(), half),
        json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [{"route": [
            {"destination": {"host": "echoserver"}, "weight": 50},
            {"destination": {"host": CANARY}, "weight": 50},
        ]}]})
    );
    // (routes, canary weight, routes after)
    let cases = [
        (
            json!({"http": [{"route": [
                {"destination": {"host": "echoserver.demo.svc.cluster.local"}, "weight": 80},
                {"destination": {"host": "other"}, "weight": 20}]}]}),
            20,
            json!({"http": [{"route": [
                {"destination": {"host": "echoserver.demo.svc.cluster.local"}, "weight": 64},
                {"destination": {"host": "other"}, "weight": 16},
                {"destination": {"host": CANARY}, "weight": 20}]}]}),
        ),
        (
            json!({"http": [{"match": [{"uri": {"prefix": "/a"}}], "route": to("echoserver")}],
                "tcp": [{"route": [{"destination": {"host": "echoserver"}}, {"destination": {"host": "echoserver"}}]}],
                "tls": [{"route": to("other")}]}),
            30,
            json!({"http": [{"match": [{"uri": {"prefix": "/a"}}], "route": to("echoserver")}],
                "tcp": [{"route": [
                    {"destination": {"host": "echoserver"}, "weight": 35},
                    {"destination": {"host": "echoserver"}, "weight": 35},
                    {"destination": {"host": CANARY}, "weight": 30}]}],
                "tls": [{"route": to("other")}]}),
        ),
    ];
    for (spec, weight, expected) in cases {
        let step = json!({"canaryWeight": weight, "stableWeight": 100 - weight});
        assert_eq!(virtual_service(spec.clone(), step), expected, "{spec}");
    }
}

#[test]
fn match_kinds_and_header_changes_map_to_istio_fields() {
    let step = json!({"canaryWeight": -1, "matches": [{
        "path": {"type": "RegularExpression", "value": "/v[0-9]+"},
        "headers": [{"type": "RegularExpression", "name": "x-user", "value": "a.*"}, {"name": "x-env", "value": "qa"}],
    }], "requestHeaderModifier": {
        "set": [{"name": "x-canary", "value": "yes"}],
        "add": [{"name": "x-trace", "value": "1"}],
        "remove": ["x-debug"],
    }});
    let spec = virtual_service(json!({"http": [{"route": to("echoserver")}]}), step);
    assert_eq!(
        spec["http"][0],
        json!({
            "match": [{"uri": {"regex": "/v[0-9]+"},
                "headers": {"x-user": {"regex": "a.*"}, "x-env": {"exact": "qa"}}}],
            "route": to(CANARY),
            "headers": {"request": {"set": {"x-canary": "yes"}, "add": {"x-trace": "1"}, "remove": ["x-debug"]}},
        })
    );
}

#[test]
fn routing_to_a_subset_of_the_stable_service_uses_the_destination_rule_canary_subset() {
    let script = builtin_for_object("networking.istio.io/v1alpha3", "VirtualService").unwrap();
    let input = json!({"data": {"spec": one_route()}, "stableService": "echoserver",
        "canaryService": "echoserver", "canaryWeight": -1, "stableWeight": 101,
        "matches": [{"headers": [{"type": "Exact", "name": "user-agent", "value": "pc"}]}]});
    let spec = run(&script, &input, &Limits::default()).unwrap()["spec"].clone();
    assert_eq!(
        spec,
        json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [
            {"match": [{"headers": {"user-agent": {"exact": "pc"}}}],
             "route": [{"destination": {"host": "echoserver", "subset": "canary"}}]},
            {"route": to("echoserver")},
        ]})
    );
    let rule = json!({"host": "svc-demo",
        "subsets": [{"labels": {"version": "base"}, "name": "echoserver"}],
        "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}});
    assert_eq!(
        routed(
            "networking.istio.io/v1alpha3",
            "DestinationRule",
            rule,
            json!({"canaryWeight": -1})
        ),
        json!({"host": "svc-demo",
            "subsets": [{"labels": {"version": "base"}, "name": "echoserver"},
                {"labels": {"istio.service.tag": "gray"}, "name": "canary"}],
            "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}})
    );
}
