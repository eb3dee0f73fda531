//! Gateway API HTTPRoutes: a weight step splits each rule that leads to the
//! stable Service between it and the canary Service; an A/B step appends, per such rule, a rule
//! that sends the matching requests to the canary Service only. The end of a release removes
//! every canary backend and rule and sets the stable weight to 1.

use crate::common::{Change, StepTraffic, canary_name};
use rollouts_api::common::MatchType;
use rollouts_api::v1beta1::HttpRouteMatch;
use serde_json::{Value, json};

fn is_service(backend: &Value, name: &str) -> bool {
    backend["name"].as_str() == Some(name)
        && backend
            .get("kind")
            .and_then(Value::as_str)
            .is_none_or(|k| k == "Service")
}

fn backends(rule: &Value) -> Vec<Value> {
    rule["backendRefs"].as_array().cloned().unwrap_or_default()
}

fn match_type(kind: Option<MatchType>) -> &'static str {
    match kind {
        Some(MatchType::RegularExpression) => "RegularExpression",
        _ => "Exact",
    }
}

/// A rule match extended with a rollout match's headers and query parameters.
fn extended(base: &Value, rollout: &HttpRouteMatch) -> Value {
    let mut out = base.clone();
    if !out.is_object() {
        out = json!({});
    }
    for header in rollout.headers.iter().flatten() {
        let entry = json!({"type": match_type(header.match_type), "name": header.name, "value": header.value});
        push(&mut out, "headers", entry);
    }
    for query in rollout.query_params.iter().flatten() {
        let entry =
            json!({"type": match_type(query.match_type), "name": query.name, "value": query.value});
        push(&mut out, "queryParams", entry);
    }
    out
}

fn push(object: &mut Value, field: &str, entry: Value) {
    match object[field].as_array_mut() {
        Some(list) => list.push(entry),
        None => object[field] = json!([entry]),
    }
}

/// The route's rules with every trace of a release removed; the flag says whether any was found.
fn without_canary(rules: &[Value], canary: &str) -> (Vec<Value>, bool) {
    let mut found = false;
    let mut out = Vec::new();
    for rule in rules {
        let all = backends(rule);
        let kept: Vec<Value> = all
            .iter()
            .filter(|b| !is_service(b, canary))
            .cloned()
            .collect();
        if kept.len() != all.len() {
            found = true;
            if kept.is_empty() {
                continue;
            }
            let mut rule = rule.clone();
            rule["backendRefs"] = json!(kept);
            out.push(rule);
        } else {
            out.push(rule.clone());
        }
    }
    (out, found)
}

/// The rules the route needs for `step`, or (with `None`) after the release.
pub fn desired_rules(rules: &[Value], stable: &str, step: Option<&StepTraffic>) -> Vec<Value> {
    let canary = canary_name(stable);
    let (mut base, found) = without_canary(rules, &canary);
    let stable_backend = |rule: &Value| backends(rule).into_iter().find(|b| is_service(b, stable));
    let Some(step) = step else {
        if found {
            for rule in &mut base {
                for backend in rule["backendRefs"].as_array_mut().into_iter().flatten() {
                    if is_service(backend, stable) {
                        backend["weight"] = json!(1);
                    }
                }
            }
        }
        return base;
    };
    if step.matches.is_empty() {
        let weight = step.weight.unwrap_or(0).clamp(0, 100);
        for rule in &mut base {
            let Some(mut canary_backend) = stable_backend(rule) else {
                continue;
            };
            for backend in rule["backendRefs"].as_array_mut().into_iter().flatten() {
                if is_service(backend, stable) {
                    backend["weight"] = json!(100 - weight);
                }
            }
            canary_backend["name"] = json!(canary);
            canary_backend["weight"] = json!(weight);
            push(rule, "backendRefs", canary_backend);
        }
        return base;
    }
    let mut extra = Vec::new();
    let mut paths_emitted = false;
    for rule in &base {
        let Some(mut canary_backend) = stable_backend(rule) else {
            continue;
        };
        if let Some(b) = canary_backend.as_object_mut() {
            b.remove("weight");
        }
        canary_backend["name"] = json!(canary);
        let mut matches = Vec::new();
        if !paths_emitted {
            for rollout in step.matches.iter().filter(|m| m.path.is_some()) {
                let path = serde_json::to_value(&rollout.path).unwrap_or_default();
                matches.push(extended(&json!({"path": path}), rollout));
            }
            paths_emitted = true;
        }
        let own = rule["matches"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![json!({})]);
        for base_match in &own {
            for rollout in step.matches.iter().filter(|m| m.path.is_none()) {
                matches.push(extended(base_match, rollout));
            }
        }
        if !matches.is_empty() {
            extra.push(json!({"matches": matches, "backendRefs": [canary_backend]}));
        }
    }
    base.extend(extra);
    base
}

/// The change the HTTPRoute `name` needs (`None`: converged).
pub fn ensure(
    route: &Value,
    name: &str,
    stable: &str,
    step: Option<&StepTraffic>,
) -> Option<Change> {
    let rules = route
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let desired = desired_rules(&rules, stable, step);
    (desired != rules).then(|| Change::Patch {
        name: name.to_string(),
        patch: json!({"spec": {"rules": desired}}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's HTTPRoute fixture: R0 /web -> web-svc; R1 /store + header, /v2/store -> store-svc;
    /// R2 /list -> list-svc; R3 /storage -> store-svc.
    fn rules() -> Vec<Value> {
        let backend = |name: &str| json!([{"name": name, "port": 8080}]);
        vec![
            json!({"matches": [{"path": {"value": "/web"}}], "backendRefs": backend("web-svc")}),
            json!({"matches": [{"path": {"value": "/store"}, "headers": [{"name": "version", "value": "v2"}]},
                {"path": {"value": "/v2/store"}}], "backendRefs": backend("store-svc")}),
            json!({"matches": [{"path": {"value": "/list"}}], "backendRefs": backend("list-svc")}),
            json!({"matches": [{"path": {"value": "/storage"}}], "backendRefs": backend("store-svc")}),
        ]
    }

    fn step(yaml: &str) -> StepTraffic {
        StepTraffic::of(&serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    #[test]
    fn weight_splits_every_rule_of_the_stable_service_and_finalise_restores_weight_1() {
        let desired = desired_rules(&rules(), "store-svc", Some(&step("traffic: 20%")));
        for index in [1, 3] {
            assert_eq!(
                desired[index]["backendRefs"],
                json!([
                {"name": "store-svc", "port": 8080, "weight": 80},
                {"name": "store-svc-canary", "port": 8080, "weight": 20}])
            );
        }
        assert_eq!(desired[0], rules()[0]);
        assert_eq!(desired[2], rules()[2]);
        // The next weight updates in place instead of adding a second canary backend.
        let next = desired_rules(&desired, "store-svc", Some(&step("traffic: 50%")));
        assert_eq!(
            next[1]["backendRefs"][1],
            json!({"name": "store-svc-canary", "port": 8080, "weight": 50})
        );
        assert_eq!(next[1]["backendRefs"].as_array().unwrap().len(), 2);
        let done = desired_rules(&next, "store-svc", None);
        assert_eq!(
            done[1]["backendRefs"],
            json!([{"name": "store-svc", "port": 8080, "weight": 1}])
        );
        // A route a release never touched is left as it is.
        assert_eq!(desired_rules(&rules(), "store-svc", None), rules());
    }

    #[test]
    fn header_matches_append_a_canary_rule_per_stable_rule() {
        let desired = desired_rules(
            &rules(),
            "store-svc",
            Some(&step(
                "matches: [{headers: [{type: RegularExpression, name: user_id, value: '123*'}]}]",
            )),
        );
        assert_eq!(desired.len(), 6);
        let header = json!({"type": "RegularExpression", "name": "user_id", "value": "123*"});
        assert_eq!(
            desired[4],
            json!({"matches": [
            {"path": {"value": "/store"}, "headers": [{"name": "version", "value": "v2"}, header]},
            {"path": {"value": "/v2/store"}, "headers": [header]}],
            "backendRefs": [{"name": "store-svc-canary", "port": 8080}]})
        );
        assert_eq!(
            desired[5],
            json!({"matches": [{"path": {"value": "/storage"}, "headers": [header]}],
            "backendRefs": [{"name": "store-svc-canary", "port": 8080}]})
        );
        // Finalising drops the canary-only rules; stable weights become 1.
        let done = desired_rules(&desired, "store-svc", None);
        assert_eq!(done.len(), 4);
    }

    #[test]
    fn a_match_with_its_own_path_becomes_one_standalone_canary_match() {
        let desired = desired_rules(
            &rules(),
            "store-svc",
            Some(&step(
                "matches: [{path: {value: /storage/v2}, queryParams: [{name: a, value: b}]}]",
            )),
        );
        assert_eq!(
            desired[4]["matches"],
            json!([{"path": {"value": "/storage/v2"},
            "queryParams": [{"type": "Exact", "name": "a", "value": "b"}]}])
        );
        assert_eq!(
            desired.len(),
            5,
            "only the first stable rule carries the standalone path match"
        );
    }
}
