//! The canary Service `<service>-canary` selecting the new revision, and the stable Service's
//! selector pinned to the stable revision during a release and unpinned after.

use crate::common::{Change, canary_name, copied_annotations};
use serde_json::{Value, json};

fn name(object: &Value) -> String {
    object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn selector_value<'a>(service: &'a Value, key: &str) -> Option<&'a str> {
    service.pointer("/spec/selector")?.get(key)?.as_str()
}

/// The canary Service: the stable one's labels, annotations, ports and selector plus
/// `<revision_key>: <revision>`, without cluster IPs or node ports, owned by `owner`.
pub fn canary_service(stable: &Value, revision_key: &str, revision: &str, owner: &Value) -> Value {
    let mut spec = stable["spec"].clone();
    if let Some(spec) = spec.as_object_mut() {
        for field in [
            "clusterIP",
            "clusterIPs",
            "externalIPs",
            "ipFamilyPolicy",
            "ipFamilies",
            "loadBalancerIP",
            "healthCheckNodePort",
        ] {
            spec.remove(field);
        }
    }
    for port in spec["ports"].as_array_mut().into_iter().flatten() {
        if let Some(port) = port.as_object_mut() {
            port.remove("nodePort");
        }
    }
    spec["selector"][revision_key] = json!(revision);
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": canary_name(&name(stable)),
            "namespace": stable["metadata"]["namespace"],
            "labels": stable["metadata"].get("labels").cloned().unwrap_or(json!({})),
            "annotations": copied_annotations(stable),
            "ownerReferences": [owner],
        },
        "spec": spec,
    })
}

/// Creates the canary Service, or points it at `revision`; `None` when it already does.
pub fn canary_service_change(
    stable: &Value,
    canary: Option<&Value>,
    revision_key: &str,
    revision: &str,
    owner: &Value,
) -> Option<Change> {
    match canary {
        None => Some(Change::Create(canary_service(
            stable,
            revision_key,
            revision,
            owner,
        ))),
        Some(canary) if selector_value(canary, revision_key) != Some(revision) => {
            Some(Change::Patch {
                name: name(canary),
                patch: json!({"spec": {"selector": {revision_key: revision}}}),
            })
        }
        Some(_) => None,
    }
}

/// Pins the stable Service to `revision` (`Some`) or removes the pin (`None`); `None` when
/// the selector is already so.
pub fn stable_selector_change(
    stable: &Value,
    revision_key: &str,
    revision: Option<&str>,
) -> Option<Change> {
    let current = selector_value(stable, revision_key);
    (current != revision).then(|| Change::Patch {
        name: name(stable),
        patch: json!({"spec": {"selector": {revision_key: revision}}}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stable() -> Value {
        json!({"metadata": {"name": "echoserver", "namespace": "demo", "labels": {"app": "echoserver"},
                "annotations": {"team": "a", crate::LAST_APPLIED: "{}"}},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "type": "NodePort",
                "ports": [{"port": 80, "targetPort": 8080, "nodePort": 30000}],
                "selector": {"app": "echoserver"}}})
    }

    #[test]
    fn canary_service_copies_the_stable_one_and_selects_the_new_revision() {
        let owner = json!({"kind": "Rollout", "name": "r", "uid": "u", "controller": true});
        let canary = canary_service(&stable(), "pod-template-hash", "v2hash", &owner);
        assert_eq!(canary["metadata"]["name"], "echoserver-canary");
        assert_eq!(canary["metadata"]["labels"], json!({"app": "echoserver"}));
        assert_eq!(canary["metadata"]["annotations"], json!({"team": "a"}));
        assert_eq!(
            canary["spec"]["selector"],
            json!({"app": "echoserver", "pod-template-hash": "v2hash"})
        );
        assert_eq!(
            canary["spec"]["ports"],
            json!([{"port": 80, "targetPort": 8080}])
        );
        assert!(
            canary["spec"].get("clusterIP").is_none() && canary["spec"].get("clusterIPs").is_none()
        );
        assert_eq!(canary["metadata"]["ownerReferences"], json!([owner]));
    }

    #[test]
    fn canary_service_is_created_then_repointed_then_left_alone() {
        let owner = json!({});
        assert!(matches!(
            canary_service_change(&stable(), None, "k", "v2", &owner),
            Some(Change::Create(_))
        ));
        let existing = canary_service(&stable(), "k", "v2", &owner);
        assert_eq!(
            canary_service_change(&stable(), Some(&existing), "k", "v2", &owner),
            None
        );
        assert_eq!(
            canary_service_change(&stable(), Some(&existing), "k", "v3", &owner),
            Some(Change::Patch {
                name: "echoserver-canary".into(),
                patch: json!({"spec": {"selector": {"k": "v3"}}})
            })
        );
    }

    #[test]
    fn stable_selector_is_pinned_and_unpinned_only_when_needed() {
        let pin = stable_selector_change(&stable(), "pod-template-hash", Some("v1"));
        assert_eq!(
            pin,
            Some(Change::Patch {
                name: "echoserver".into(),
                patch: json!({"spec": {"selector": {"pod-template-hash": "v1"}}})
            })
        );
        let mut pinned = stable();
        pinned["spec"]["selector"]["pod-template-hash"] = json!("v1");
        assert_eq!(
            stable_selector_change(&pinned, "pod-template-hash", Some("v1")),
            None
        );
        assert_eq!(
            stable_selector_change(&pinned, "pod-template-hash", None),
            Some(Change::Patch {
                name: "echoserver".into(),
                patch: json!({"spec": {"selector": {"pod-template-hash": null}}})
            })
        );
        assert_eq!(
            stable_selector_change(&stable(), "pod-template-hash", None),
            None
        );
    }
}
