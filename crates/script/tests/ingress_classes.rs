//! The built-in Higress and Aliyun ALB scripts write the canary annotations of a step.

use rollouts_script::{Limits, builtin_for_ingress_class, run};
use serde_json::{Value, json};

fn annotations(class: &str, existing: Value, weight: &str, matches: Value) -> Value {
    let script = builtin_for_ingress_class(class).expect("a built-in script");
    let input = json!({"annotations": existing, "weight": weight, "matches": matches,
        "canaryService": "echoserver-canary"});
    run(&script, &input, &Limits::default()).expect("the script runs")
}

#[test]
fn higress_writes_the_nginx_canary_keys() {
    let existing = json!({"kubernetes.io/ingress.class": "higress",
        "nginx.ingress.kubernetes.io/canary-by-header": "old"});
    let cases = [
        (
            "20",
            json!([]),
            json!({"nginx.ingress.kubernetes.io/canary-weight": "20"}),
        ),
        (
            "-1",
            json!([{"headers": [{"type": "RegularExpression", "name": "user_id", "value": "123456"}]},
                {"headers": [{"name": "canary-by-cookie", "value": "demo"}]},
                {"path": {"value": "/only-a-path"}}]),
            json!({"nginx.ingress.kubernetes.io/canary-by-header": "user_id",
                "nginx.ingress.kubernetes.io/canary-by-header-pattern": "123456",
                "nginx.ingress.kubernetes.io/canary-by-cookie": "demo"}),
        ),
    ];
    for (weight, matches, step_keys) in cases {
        let mut expected = json!({"kubernetes.io/ingress.class": "higress",
            "nginx.ingress.kubernetes.io/canary": "true"});
        for (key, value) in step_keys.as_object().unwrap() {
            expected[key] = value.clone();
        }
        assert_eq!(
            annotations("higress", existing.clone(), weight, matches),
            expected,
            "{weight}"
        );
    }
}

#[test]
fn aliyun_alb_writes_its_own_keys_and_the_rule_order() {
    let matches = json!([{"headers": [{"type": "Exact", "name": "x-user", "value": "7"}]}]);
    assert_eq!(
        annotations(
            "aliyun-alb",
            json!({"alb.ingress.kubernetes.io/canary-weight": "5"}),
            "30",
            matches
        ),
        json!({"alb.ingress.kubernetes.io/canary": "true",
            "alb.ingress.kubernetes.io/order": "1",
            "alb.ingress.kubernetes.io/canary-weight": "30",
            "alb.ingress.kubernetes.io/canary-by-header": "x-user",
            "alb.ingress.kubernetes.io/canary-by-header-value": "7"})
    );
}
