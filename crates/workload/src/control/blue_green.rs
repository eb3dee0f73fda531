//! Blue-green releases of Deployments and CloneSets: the new pods are added beside the old ones
//! as a surge (`maxSurge` = the step's pods, `maxUnavailable: 0`) with a `minReadySeconds` so
//! large that no new pod ever counts as available, so the workload's own controller never
//! removes an old pod. The original settings are saved in the `original-deployment-strategy`
//! annotation and restored at the end; then the workload replaces the old pods (success) or
//! removes the new ones (rollback) by itself.

use super::partition_deployment::{
    MIN_READY_SECONDS_WHILE_DRIVEN, PROGRESS_DEADLINE_WHILE_DRIVEN, original_settings,
    resolve_int_or_percent,
};
use crate::facts::spec_replicas;
use crate::revision::annotation;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use rollouts_change::is_noop;
use serde_json::{Value, json};

/// `maxSurge` for a step: the step's pods, but never fewer than a surge already set by this
/// release (a step jumped back to keeps the pods it has).
fn surge(workload: &Value, current: Option<&Value>, step: &IntOrString) -> Value {
    let replicas = spec_replicas(workload);
    let wanted = json!(step);
    let driven = annotation(workload, keys::ORIGINAL_DEPLOYMENT_STRATEGY).is_some();
    match current {
        Some(current)
            if driven
                && resolve_int_or_percent(Some(current), replicas, true)
                    >= resolve_int_or_percent(Some(&wanted), replicas, true) =>
        {
            current.clone()
        }
        _ => wanted,
    }
}

/// The Deployment patch that runs `step`'s new pods beside all old ones; `None` when it runs so.
pub fn deployment_blue_green_patch(deployment: &Value, step: &IntOrString) -> Option<Value> {
    let current = deployment.pointer("/spec/strategy/rollingUpdate/maxSurge");
    let patch = json!({
        "metadata": {"annotations": {
            keys::ORIGINAL_DEPLOYMENT_STRATEGY: original_settings(deployment).to_string(),
        }},
        "spec": {
            "paused": false,
            "minReadySeconds": MIN_READY_SECONDS_WHILE_DRIVEN,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_WHILE_DRIVEN,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                "maxSurge": surge(deployment, current, step),
                "maxUnavailable": 0,
            }},
        },
    });
    (!is_noop(deployment, &patch)).then_some(patch)
}

/// A CloneSet's settings before the release.
fn cloneset_original(cloneset: &Value) -> Value {
    if let Some(saved) = annotation(cloneset, keys::ORIGINAL_DEPLOYMENT_STRATEGY)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object)
    {
        return saved;
    }
    let strategy = &cloneset["spec"]["updateStrategy"];
    json!({
        "maxSurge": strategy.get("maxSurge").cloned().unwrap_or(Value::Null),
        "maxUnavailable": strategy.get("maxUnavailable").cloned().unwrap_or(Value::Null),
        "minReadySeconds": cloneset["spec"].get("minReadySeconds").cloned().unwrap_or(Value::Null),
    })
}

/// The CloneSet patch that runs `step`'s new pods beside all old ones; `None` when it runs so.
pub fn cloneset_blue_green_patch(cloneset: &Value, step: &IntOrString) -> Option<Value> {
    let current = cloneset.pointer("/spec/updateStrategy/maxSurge");
    let patch = json!({
        "metadata": {"annotations": {
            keys::ORIGINAL_DEPLOYMENT_STRATEGY: cloneset_original(cloneset).to_string(),
        }},
        "spec": {
            "minReadySeconds": MIN_READY_SECONDS_WHILE_DRIVEN,
            "updateStrategy": {
                "partition": null,
                "paused": false,
                "maxSurge": surge(cloneset, current, step),
                "maxUnavailable": 0,
            },
        },
    });
    (!is_noop(cloneset, &patch)).then_some(patch)
}

/// The CloneSet patch that gives it back: its own surge, unavailability and `minReadySeconds`,
/// no partition, unpaused, the release's marks removed; `None` when nothing is left to undo.
pub fn cloneset_blue_green_release_patch(cloneset: &Value) -> Option<Value> {
    let driven = annotation(cloneset, keys::ORIGINAL_DEPLOYMENT_STRATEGY).is_some();
    let mut spec = json!({"updateStrategy": {"partition": null, "paused": false}});
    if driven {
        let original = cloneset_original(cloneset);
        spec["minReadySeconds"] = original["minReadySeconds"].clone();
        spec["updateStrategy"]["maxSurge"] = original["maxSurge"].clone();
        spec["updateStrategy"]["maxUnavailable"] = original["maxUnavailable"].clone();
    }
    let patch = json!({
        "metadata": {"annotations": {
            keys::IN_PROGRESSING: null,
            keys::ORIGINAL_DEPLOYMENT_STRATEGY: null,
        }},
        "spec": spec,
    });
    (!is_noop(cloneset, &patch)).then_some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent(p: &str) -> IntOrString {
        IntOrString::String(p.into())
    }

    fn apply(object: &mut Value, patch: &Value) {
        json_patch::merge(object, patch);
    }

    #[test]
    fn a_deployment_surges_the_step_and_gets_every_setting_back() {
        let mut deployment = json!({
            "metadata": {"name": "echo", "annotations": {keys::IN_PROGRESSING: "{}"},
                "labels": {keys::STABLE_REVISION: "abc"}},
            "spec": {"replicas": 5, "paused": true, "minReadySeconds": 3,
                "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}},
        });
        let before = deployment.clone();
        let first = deployment_blue_green_patch(&deployment, &percent("50%")).unwrap();
        apply(&mut deployment, &first);
        assert_eq!(deployment["spec"]["paused"], false);
        assert_eq!(
            deployment["spec"]["strategy"]["rollingUpdate"],
            json!({"maxSurge": "50%", "maxUnavailable": 0})
        );
        assert_eq!(
            deployment["spec"]["minReadySeconds"],
            MIN_READY_SECONDS_WHILE_DRIVEN
        );
        assert_eq!(
            deployment_blue_green_patch(&deployment, &percent("50%")),
            None
        );
        // A step jumped back to keeps the pods there are.
        assert_eq!(
            deployment_blue_green_patch(&deployment, &IntOrString::Int(1)),
            None
        );
        let full = deployment_blue_green_patch(&deployment, &percent("100%")).unwrap();
        apply(&mut deployment, &full);
        assert_eq!(
            deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"],
            "100%"
        );

        let back = crate::control::partition_release_patch(&deployment).unwrap();
        apply(&mut deployment, &back);
        let mut expected = before;
        expected["spec"]["paused"] = json!(false);
        expected["metadata"]["annotations"] = json!({});
        expected["metadata"]["labels"] = json!({});
        assert_eq!(deployment, expected);
    }

    #[test]
    fn settings_saved_by_upstream_come_back_too() {
        let saved = r#"{"maxSurge":1,"maxUnavailable":0,"minReadySeconds":0,"progressDeadlineSeconds":600}"#;
        let deployment = json!({
            "metadata": {"name": "echo", "annotations": {
                keys::IN_PROGRESSING: "{}", keys::ORIGINAL_DEPLOYMENT_STRATEGY: saved}},
            "spec": {"replicas": 5, "minReadySeconds": MIN_READY_SECONDS_WHILE_DRIVEN,
                "progressDeadlineSeconds": PROGRESS_DEADLINE_WHILE_DRIVEN,
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": 0}}},
        });
        let back = crate::control::partition_release_patch(&deployment).unwrap();
        assert_eq!(
            back["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
        );
        assert_eq!(back["spec"]["minReadySeconds"], 0);
        assert_eq!(back["spec"]["progressDeadlineSeconds"], 600);
    }

    #[test]
    fn a_cloneset_surges_the_step_and_gets_every_setting_back() {
        let mut cloneset = json!({
            "metadata": {"name": "echo", "annotations": {keys::IN_PROGRESSING: "{}"}},
            "spec": {"replicas": 5,
                "updateStrategy": {"partition": "100%", "maxUnavailable": "20%"}},
        });
        let patch = cloneset_blue_green_patch(&cloneset, &percent("100%")).unwrap();
        apply(&mut cloneset, &patch);
        assert_eq!(
            cloneset["spec"]["updateStrategy"],
            json!({"paused": false, "maxSurge": "100%", "maxUnavailable": 0})
        );
        assert_eq!(cloneset_blue_green_patch(&cloneset, &percent("50%")), None);
        let back = cloneset_blue_green_release_patch(&cloneset).unwrap();
        apply(&mut cloneset, &back);
        assert_eq!(
            cloneset,
            json!({"metadata": {"name": "echo", "annotations": {}},
                "spec": {"replicas": 5, "updateStrategy": {"paused": false, "maxUnavailable": "20%"}}})
        );
        assert_eq!(cloneset_blue_green_release_patch(&cloneset), None);
    }
}
