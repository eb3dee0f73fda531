//! Canary-style Deployments: the stable Deployment stays
//! paused and untouched; a canary Deployment running the new template is scaled up per batch
//! and never down, then deleted once the stable Deployment has taken over.

use crate::facts::canary_deployment_name;
use crate::revision::label;
use rollouts_api::common::PatchPodTemplateMetadata;
use rollouts_api::keys;
use serde_json::{Value, json};

/// The canary Deployment to create for `stable`'s current template with `replicas` pods,
/// controlled by the Rollout (`owner` is its controller ownerReference).
pub fn canary_deployment(
    stable: &Value,
    replicas: i32,
    owner: Value,
    patch_metadata: Option<&PatchPodTemplateMetadata>,
) -> Value {
    let mut spec = stable["spec"].clone();
    spec["replicas"] = json!(replicas);
    spec["paused"] = json!(false);
    if let Some(extra) = patch_metadata {
        for (field, entries) in [
            ("labels", &extra.labels),
            ("annotations", &extra.annotations),
        ] {
            for (key, value) in entries.iter().flatten() {
                if !spec["template"]["metadata"][field].is_object() {
                    spec["template"]["metadata"][field] = json!({});
                }
                spec["template"]["metadata"][field][key] = json!(value);
            }
        }
    }
    let stable_name = stable["metadata"]["name"].as_str().unwrap_or_default();
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": canary_deployment_name(stable),
            "namespace": stable["metadata"]["namespace"],
            "labels": {keys::CANARY_DEPLOYMENT: stable_name},
            "ownerReferences": [owner],
        },
        "spec": spec,
    })
}

/// Scale the canary up to `replicas`; `None` when it already has at least that many (a canary
/// is never scaled down during a release).
pub fn canary_scale_patch(canary: &Value, replicas: i32) -> Option<Value> {
    let current = canary
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    (current < i64::from(replicas)).then(|| json!({"spec": {"replicas": replicas}}))
}

/// Hand the stable Deployment back: unpaused, release marks removed. `None` when done.
pub fn stable_release_patch(stable: &Value) -> Option<Value> {
    let patch = json!({
        "metadata": {
            "annotations": {keys::IN_PROGRESSING: null},
            "labels": {keys::STABLE_REVISION: null},
        },
        "spec": {"paused": false},
    });
    let marked = label(stable, keys::STABLE_REVISION).is_some()
        || crate::revision::annotation(stable, keys::IN_PROGRESSING).is_some();
    (marked || stable.pointer("/spec/paused") == Some(&Value::Bool(true))).then_some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stable() -> Value {
        json!({
            "metadata": {"name": "echoserver", "namespace": "demo", "uid": "u1",
                "labels": {"app": "echoserver", keys::WORKLOAD_TYPE: "deployment"},
                "annotations": {keys::IN_PROGRESSING: "{}"}},
            "spec": {"replicas": 5, "paused": true,
                "selector": {"matchLabels": {"app": "echoserver"}},
                "template": {"metadata": {"labels": {"app": "echoserver"}},
                    "spec": {"containers": [{"name": "c", "image": "demo:2"}]}}},
        })
    }

    #[test]
    fn canary_copies_the_new_template_unpaused_with_the_step_replicas_and_patched_metadata() {
        let extra = PatchPodTemplateMetadata {
            labels: Some(BTreeMap::from([(
                "track".to_string(),
                "canary".to_string(),
            )])),
            annotations: None,
        };
        let owner = json!({"kind": "Rollout", "name": "r", "uid": "r1", "controller": true});
        let canary = canary_deployment(&stable(), 2, owner.clone(), Some(&extra));
        assert_eq!(canary["spec"]["replicas"], 2);
        assert_eq!(canary["spec"]["paused"], false);
        assert_eq!(
            canary["spec"]["template"]["spec"],
            stable()["spec"]["template"]["spec"]
        );
        assert_eq!(
            canary["spec"]["template"]["metadata"]["labels"]["track"],
            "canary"
        );
        assert_eq!(
            canary["metadata"]["labels"],
            json!({keys::CANARY_DEPLOYMENT: "echoserver"})
        );
        assert_eq!(canary["metadata"]["ownerReferences"], json!([owner]));
        assert_eq!(
            canary["metadata"]["name"],
            canary_deployment_name(&stable())
        );
    }

    #[test]
    fn canary_is_scaled_up_never_down() {
        let canary = json!({"spec": {"replicas": 3}});
        assert_eq!(
            canary_scale_patch(&canary, 5),
            Some(json!({"spec": {"replicas": 5}}))
        );
        assert_eq!(canary_scale_patch(&canary, 3), None);
        assert_eq!(canary_scale_patch(&canary, 2), None);
    }

    #[test]
    fn stable_release_removes_marks_and_unpauses_once() {
        let mut released = stable();
        json_patch::merge(&mut released, &stable_release_patch(&stable()).unwrap());
        assert_eq!(released["spec"]["paused"], false);
        assert!(
            released["metadata"]["annotations"]
                .get(keys::IN_PROGRESSING)
                .is_none()
        );
        assert_eq!(stable_release_patch(&released), None);
    }
}
