//! Nginx and MSE Ingress canaries: a twin `<ingress>-canary` of the
//! user's Ingress whose paths lead to the canary Service, with the canary weight or header,
//! cookie and (MSE) query matches as annotations.

use crate::common::{Change, StepTraffic, canary_name, copied_annotations};
use rollouts_api::common::MatchType;
use serde_json::{Map, Value, json};

const NGINX: &str = "nginx.ingress.kubernetes.io/";
const MSE: &str = "mse.ingress.kubernetes.io/";
/// Nginx canary annotations this provider owns (cleared before each step is written).
const NGINX_KEYS: [&str; 5] = [
    "canary-by-cookie",
    "canary-by-header",
    "canary-by-header-pattern",
    "canary-by-header-value",
    "canary-weight",
];
const QUERY_KEYS: [&str; 3] = [
    "canary-by-query",
    "canary-by-query-pattern",
    "canary-by-query-value",
];

/// The canary annotations for `step` on top of `existing` (upstream's nginx.lua / mse.lua).
pub fn desired_annotations(
    existing: &Map<String, Value>,
    step: &StepTraffic,
    mse: bool,
) -> Map<String, Value> {
    let mut out = existing.clone();
    out.insert(format!("{NGINX}canary"), json!("true"));
    for key in NGINX_KEYS {
        out.remove(&format!("{NGINX}{key}"));
    }
    if mse {
        for key in QUERY_KEYS {
            out.remove(&format!("{MSE}{key}"));
            out.remove(&format!("{NGINX}{key}"));
        }
        if out.contains_key(&format!("{MSE}service-subset")) {
            out.insert(format!("{MSE}service-subset"), json!("gray"));
        }
        let set = step.header_modifier.as_ref().and_then(|m| m.set.as_ref());
        if let Some(set) = set.filter(|s| !s.is_empty()) {
            let lines: String = set
                .iter()
                .map(|h| format!("{} {}\n", h.name, h.value))
                .collect();
            out.insert(format!("{MSE}request-header-control-update"), json!(lines));
        }
    }
    if let Some(weight) = step.weight {
        out.insert(format!("{NGINX}canary-weight"), json!(weight.to_string()));
    }
    for matched in &step.matches {
        if let Some(header) = matched.headers.as_ref().and_then(|h| h.first()) {
            if header.name == "canary-by-cookie" {
                out.insert(format!("{NGINX}canary-by-cookie"), json!(header.value));
            } else {
                out.insert(format!("{NGINX}canary-by-header"), json!(header.name));
                let kind = match header.match_type {
                    Some(MatchType::RegularExpression) => "canary-by-header-pattern",
                    _ => "canary-by-header-value",
                };
                out.insert(format!("{NGINX}{kind}"), json!(header.value));
            }
        }
        let query = matched.query_params.as_ref().and_then(|q| q.first());
        if let (true, Some(query)) = (mse, query) {
            out.insert(format!("{NGINX}canary-by-query"), json!(query.name));
            let kind = match query.match_type {
                Some(MatchType::RegularExpression) => "canary-by-query-pattern",
                _ => "canary-by-query-value",
            };
            out.insert(format!("{NGINX}{kind}"), json!(query.value));
        }
    }
    out
}

/// The canary twin of `ingress`: same class, TLS, labels and annotations; only the paths that
/// lead to the stable Service, sent to the canary one instead (`services`: stable, canary);
/// owned by `owner`.
pub fn canary_ingress(
    ingress: &Value,
    services: (&str, &str),
    annotations: Map<String, Value>,
    owner: &Value,
) -> Value {
    let (stable_service, canary_service) = services;
    let mut rules = Vec::new();
    for rule in ingress
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let paths: Vec<Value> = rule
            .pointer("/http/paths")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| {
                p.pointer("/backend/service/name").and_then(Value::as_str) == Some(stable_service)
            })
            .map(|p| {
                let mut path = p.clone();
                path["backend"]["service"]["name"] = json!(canary_service);
                path
            })
            .collect();
        if !paths.is_empty() {
            let mut rule = rule.clone();
            rule["http"]["paths"] = json!(paths);
            rules.push(rule);
        }
    }
    let name = ingress["metadata"]["name"].as_str().unwrap_or_default();
    let mut spec = json!({"rules": rules});
    for field in ["ingressClassName", "tls"] {
        if let Some(value) = ingress["spec"].get(field) {
            spec[field] = value.clone();
        }
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": canary_name(name),
            "namespace": ingress["metadata"]["namespace"],
            "labels": ingress["metadata"].get("labels").cloned().unwrap_or(json!({})),
            "annotations": annotations,
            "ownerReferences": [owner],
        },
        "spec": spec,
    })
}

/// The change the canary Ingress needs for `step` (`None`: converged), with the Nginx (or MSE)
/// canary annotations.
pub fn ensure(
    ingress: &Value,
    canary: Option<&Value>,
    services: (&str, &str),
    step: &StepTraffic,
    mse: bool,
    owner: &Value,
) -> Option<Change> {
    let annotate = |existing: &Map<String, Value>, step: &StepTraffic| {
        Ok(desired_annotations(existing, step, mse))
    };
    ensure_with(ingress, canary, services, step, owner, &annotate).unwrap_or_default()
}

/// How a class of Ingress controller reads a step: the canary Ingress's annotations for
/// `step`, from its current ones (or why they cannot be computed).
pub type Annotate<'a> =
    dyn Fn(&Map<String, Value>, &StepTraffic) -> Result<Map<String, Value>, String> + 'a;

/// The change the canary Ingress needs for `step` (`None`: converged), its annotations
/// written by `annotate`.
pub fn ensure_with(
    ingress: &Value,
    canary: Option<&Value>,
    services: (&str, &str),
    step: &StepTraffic,
    owner: &Value,
    annotate: &Annotate,
) -> Result<Option<Change>, String> {
    let annotations_of = |object: &Value| {
        object
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let Some(canary) = canary else {
        if step.weight == Some(0) && step.matches.is_empty() {
            return Ok(None);
        }
        let desired = annotate(&copied_annotations(ingress), step)?;
        return Ok(Some(Change::Create(canary_ingress(
            ingress, services, desired, owner,
        ))));
    };
    let current = annotations_of(canary);
    let desired = annotate(&current, step)?;
    if desired == current {
        return Ok(None);
    }
    let mut changes: Map<String, Value> = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for key in current.keys().filter(|k| !desired.contains_key(*k)) {
        changes.insert(key.clone(), Value::Null);
    }
    Ok(Some(Change::Patch {
        name: canary["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        patch: json!({"metadata": {"annotations": changes}}),
    }))
}

/// The canary annotations a Lua `script` writes for `step` (upstream's input: the current
/// annotations, the weight as text or `"-1"`, the matches, the canary Service and the header
/// changes; the script returns the annotations, all text).
pub fn scripted_annotations(
    script: &rollouts_script::Script,
    existing: &Map<String, Value>,
    step: &StepTraffic,
    canary_service: &str,
) -> Result<Map<String, Value>, String> {
    let mut input = json!({
        "annotations": existing,
        "weight": step.weight.unwrap_or(-1).to_string(),
        "canaryService": canary_service,
    });
    if !step.matches.is_empty() {
        input["matches"] = serde_json::to_value(&step.matches).unwrap_or_default();
    }
    if let Some(modifier) = &step.header_modifier {
        input["requestHeaderModifier"] = serde_json::to_value(modifier).unwrap_or_default();
    }
    let result = rollouts_script::run(script, &input, &rollouts_script::Limits::default())
        .map_err(|e| e.to_string())?;
    let annotations = result.as_object().cloned().unwrap_or_default();
    if let Some((key, _)) = annotations.iter().find(|(_, v)| !v.is_string()) {
        return Err(format!(
            "Lua script {} returned a value for annotation {key} that is not text",
            script.name
        ));
    }
    Ok(annotations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(yaml: &str) -> StepTraffic {
        StepTraffic::of(&serde_yaml::from_str(yaml).unwrap()).unwrap()
    }

    fn annotations(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn nginx_annotations_follow_the_step_and_clear_the_previous_one() {
        // Upstream's ensure-routes cases 1-3 and the seed's canary and A/B steps.
        let cases = [
            (
                "traffic: 20%",
                json!({}),
                json!({"nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": "20"}),
            ),
            (
                "matches: [{headers: [{name: User-Agent, value: Android}]}]",
                json!({}),
                json!({"nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-by-header": "User-Agent",
                    "nginx.ingress.kubernetes.io/canary-by-header-value": "Android"}),
            ),
            (
                "matches: [{headers: [{type: RegularExpression, name: user_id, value: '123*'}]}, {headers: [{name: canary-by-cookie, value: demo}]}]",
                json!({"nginx.ingress.kubernetes.io/canary-weight": "20", "kept": "x"}),
                json!({"nginx.ingress.kubernetes.io/canary": "true", "kept": "x",
                    "nginx.ingress.kubernetes.io/canary-by-header": "user_id",
                    "nginx.ingress.kubernetes.io/canary-by-header-pattern": "123*",
                    "nginx.ingress.kubernetes.io/canary-by-cookie": "demo"}),
            ),
            (
                "traffic: 40%",
                json!({"nginx.ingress.kubernetes.io/canary-by-header": "user_id",
                "nginx.ingress.kubernetes.io/canary-by-cookie": "demo"}),
                json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "40"}),
            ),
        ];
        for (yaml, existing, expected) in cases {
            assert_eq!(
                desired_annotations(&annotations(existing), &step(yaml), false),
                annotations(expected),
                "{yaml}"
            );
        }
    }

    #[test]
    fn mse_adds_query_matches_header_modifier_and_the_gray_subset() {
        // Upstream's ensure-routes cases 1 and 5.
        let existing = json!({"mse.ingress.kubernetes.io/service-subset": "", "mse.ingress.kubernetes.io/canary-by-query": "old"});
        let got = desired_annotations(
            &annotations(existing),
            &step(
                "matches: [{queryParams: [{name: user_id, value: '123456'}]}]\nrequestHeaderModifier: {set: [{name: gray, value: blue}, {name: gray, value: green}]}",
            ),
            true,
        );
        assert_eq!(
            got,
            annotations(json!({
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-by-query": "user_id",
                "nginx.ingress.kubernetes.io/canary-by-query-value": "123456",
                "mse.ingress.kubernetes.io/service-subset": "gray",
                "mse.ingress.kubernetes.io/request-header-control-update": "gray blue\ngray green\n",
            }))
        );
    }

    fn stable_ingress() -> Value {
        json!({"metadata": {"name": "echoserver", "namespace": "demo", "labels": {"app": "e"},
                "annotations": {"kubernetes.io/ingress.class": "nginx", crate::LAST_APPLIED: "{}"}},
            "spec": {"ingressClassName": "nginx", "rules": [
                {"host": "a", "http": {"paths": [
                    {"path": "/apis/echo", "pathType": "Exact", "backend": {"service": {"name": "echoserver", "port": {"number": 80}}}},
                    {"path": "/other", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 80}}}}]}},
                {"host": "b", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "other", "port": {"number": 80}}}}]}}]}})
    }

    #[test]
    fn canary_ingress_keeps_only_stable_service_paths_renamed_to_the_canary_service() {
        let owner = json!({"name": "r"});
        let Some(Change::Create(canary)) = ensure(
            &stable_ingress(),
            None,
            ("echoserver", "echoserver-canary"),
            &step("traffic: 20%"),
            false,
            &owner,
        ) else {
            panic!("a create");
        };
        assert_eq!(canary["metadata"]["name"], "echoserver-canary");
        assert_eq!(canary["spec"]["ingressClassName"], "nginx");
        assert_eq!(
            canary["spec"]["rules"],
            json!([{"host": "a", "http": {"paths": [
            {"path": "/apis/echo", "pathType": "Exact", "backend": {"service": {"name": "echoserver-canary", "port": {"number": 80}}}}]}}])
        );
        assert_eq!(
            canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
            "20"
        );
        assert_eq!(
            canary["metadata"]["annotations"]["kubernetes.io/ingress.class"],
            "nginx"
        );
        assert!(
            canary["metadata"]["annotations"]
                .get(crate::LAST_APPLIED)
                .is_none()
        );
        // Converged once it carries the step's annotations; the next step is a patch with nulls.
        assert_eq!(
            ensure(
                &stable_ingress(),
                Some(&canary),
                ("echoserver", "echoserver-canary"),
                &step("traffic: 20%"),
                false,
                &owner
            ),
            None
        );
        let next = ensure(
            &stable_ingress(),
            Some(&canary),
            ("echoserver", "echoserver-canary"),
            &step("matches: [{headers: [{name: User-Agent, value: Android}]}]"),
            false,
            &owner,
        );
        assert_eq!(
            next,
            Some(Change::Patch {
                name: "echoserver-canary".into(),
                patch: json!({"metadata": {"annotations": {
            "nginx.ingress.kubernetes.io/canary-weight": null,
            "nginx.ingress.kubernetes.io/canary-by-header": "User-Agent",
            "nginx.ingress.kubernetes.io/canary-by-header-value": "Android"}}})
            })
        );
        // A weight of 0 with no canary Ingress yet needs none.
        assert_eq!(
            ensure(
                &stable_ingress(),
                None,
                ("echoserver", "echoserver-canary"),
                &step("traffic: 0%"),
                false,
                &owner
            ),
            None
        );
    }
}
