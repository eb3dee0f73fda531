//! Partition-style Deployments, replaced in place batch by batch WITHOUT changing them to
//! `Recreate`. While a release drives a Deployment it runs unpaused with
//! `maxSurge: 0`, `maxUnavailable: <new pods allowed>` and a `minReadySeconds` so large that new
//! pods never count as available: the Deployment controller then replaces exactly that many old
//! pods and stops, because every new pod counts against `maxUnavailable`. Old pods keep their
//! ReplicaSet's own `minReadySeconds`, so they stay available. A controller crash leaves this
//! fixed point in place; the original settings are saved in an annotation and restored at the end.

use crate::facts::spec_replicas;
use crate::revision::annotation;
use rollouts_api::keys;
use serde_json::{Value, json};

/// `minReadySeconds` while a release drives the Deployment (new pods never become available).
pub const MIN_READY_SECONDS_WHILE_DRIVEN: i64 = 2_147_483_646;
/// `progressDeadlineSeconds` while driven; it must exceed `minReadySeconds`.
pub const PROGRESS_DEADLINE_WHILE_DRIVEN: i64 = 2_147_483_647;

/// An int-or-percent of `total` as Kubernetes resolves it (`round_up` for maxSurge, down for
/// maxUnavailable); a missing value is 25%, the API default.
pub fn resolve_int_or_percent(value: Option<&Value>, total: i32, round_up: bool) -> i32 {
    match value {
        Some(Value::Number(n)) => n.as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(0),
        Some(Value::String(s)) => {
            let percent: i64 = s.trim_end_matches('%').trim().parse().unwrap_or(0);
            let scaled = percent * i64::from(total.max(0));
            let rounded = if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            };
            i32::try_from(rounded).unwrap_or(i32::MAX)
        }
        _ => resolve_int_or_percent(Some(&json!("25%")), total, round_up),
    }
}

/// The settings a release changes, as the Deployment had them before. A blue-green release
/// started by upstream Kruise Rollout saved them flat (`maxSurge`, `maxUnavailable`,
/// `minReadySeconds`, `progressDeadlineSeconds`); they read the same.
pub(crate) fn original_settings(deployment: &Value) -> Value {
    if let Some(saved) = annotation(deployment, keys::ORIGINAL_DEPLOYMENT_STRATEGY)
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .filter(Value::is_object)
    {
        if saved.get("strategy").is_none() && saved.get("maxSurge").is_some() {
            return json!({
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {
                    "maxSurge": saved["maxSurge"],
                    "maxUnavailable": saved.get("maxUnavailable").cloned().unwrap_or(json!("25%")),
                }},
                "minReadySeconds": saved.get("minReadySeconds").cloned().unwrap_or(Value::Null),
                "progressDeadlineSeconds": saved.get("progressDeadlineSeconds").cloned().unwrap_or(Value::Null),
            });
        }
        return saved;
    }
    let spec = &deployment["spec"];
    json!({
        "strategy": spec.get("strategy").cloned().unwrap_or(Value::Null),
        "minReadySeconds": spec.get("minReadySeconds").cloned().unwrap_or(Value::Null),
        "progressDeadlineSeconds": spec.get("progressDeadlineSeconds").cloned().unwrap_or(Value::Null),
    })
}

/// The merge patch that lets `planned` pods of the batch run the new version, at most as many
/// unready new pods at a time as the Deployment's own `maxUnavailable` allows (at least one).
/// `None` when the Deployment is already driven exactly so.
pub fn partition_batch_patch(deployment: &Value, planned: i32, new_ready: i32) -> Option<Value> {
    let original = original_settings(deployment);
    let replicas = spec_replicas(deployment);
    let original_rolling = original.pointer("/strategy/rollingUpdate");
    let wave = resolve_int_or_percent(
        original_rolling.and_then(|r| r.get("maxUnavailable")),
        replicas,
        false,
    )
    .max(1);
    let limit = planned.min(new_ready.saturating_add(wave)).max(1);
    let progress = json!({"updatedReadyReplicas": new_ready, "expectedUpdatedReplicas": planned});
    let patch = json!({
        "metadata": {"annotations": {
            keys::ORIGINAL_DEPLOYMENT_STRATEGY: original.to_string(),
            keys::BATCH_POD_LIMIT: limit.to_string(),
            keys::DEPLOYMENT_EXTRA_STATUS: progress.to_string(),
        }},
        "spec": {
            "paused": planned == 0,
            "minReadySeconds": MIN_READY_SECONDS_WHILE_DRIVEN,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_WHILE_DRIVEN,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": limit}},
        },
    });
    (!rollouts_change::is_noop(deployment, &patch)).then_some(patch)
}

/// The merge patch that gives the Deployment back to its own controller: original strategy,
/// `minReadySeconds` and `progressDeadlineSeconds`, unpaused, every release mark removed.
/// `None` when nothing is left to undo.
pub fn partition_release_patch(deployment: &Value) -> Option<Value> {
    let original = original_settings(deployment);
    let mut strategy = original.get("strategy").cloned().unwrap_or(Value::Null);
    if strategy.get("type").and_then(Value::as_str) == Some("Recreate") {
        strategy["rollingUpdate"] = Value::Null;
    }
    let driven = annotation(deployment, keys::ORIGINAL_DEPLOYMENT_STRATEGY).is_some();
    let mut spec = json!({"paused": false});
    if driven {
        spec["strategy"] = strategy;
        spec["minReadySeconds"] = original["minReadySeconds"].clone();
        spec["progressDeadlineSeconds"] = original["progressDeadlineSeconds"].clone();
    }
    let patch = json!({
        "metadata": {
            "annotations": {
                keys::IN_PROGRESSING: null,
                keys::ORIGINAL_DEPLOYMENT_STRATEGY: null,
                keys::BATCH_POD_LIMIT: null,
                keys::DEPLOYMENT_EXTRA_STATUS: null,
            },
            "labels": {keys::STABLE_REVISION: null},
        },
        "spec": spec,
    });
    (!rollouts_change::is_noop(deployment, &patch)).then_some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i32, max_unavailable: Value) -> Value {
        json!({
            "metadata": {"name": "echoserver", "annotations": {}},
            "spec": {
                "replicas": replicas,
                "paused": true,
                "minReadySeconds": 5,
                "progressDeadlineSeconds": 600,
                "strategy": {"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": max_unavailable}},
            },
        })
    }

    fn limit(patch: &Value) -> i64 {
        patch["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"]
            .as_i64()
            .unwrap()
    }

    #[test]
    fn batch_limit_grows_in_waves_of_the_deployments_max_unavailable() {
        // (replicas, maxUnavailable, planned, new ready) -> new pods allowed now
        let cases = [
            (5, json!("25%"), 1, 0, 1),
            (5, json!("25%"), 3, 1, 2),
            (5, json!("25%"), 3, 2, 3),
            (5, json!("25%"), 5, 3, 4),
            (10, json!("30%"), 10, 4, 7),
            (10, json!(0), 6, 2, 3),
            (4, json!(4), 2, 0, 2),
        ];
        for (replicas, max_unavailable, planned, ready, expected) in cases {
            let patch = partition_batch_patch(
                &deployment(replicas, max_unavailable.clone()),
                planned,
                ready,
            )
            .expect("a change");
            assert_eq!(
                limit(&patch),
                expected,
                "{replicas} {max_unavailable} {planned} {ready}"
            );
            assert_eq!(patch["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 0);
            assert_eq!(patch["spec"]["strategy"]["type"], "RollingUpdate");
            assert_eq!(patch["spec"]["paused"], false);
        }
    }

    #[test]
    fn originals_are_saved_once_and_restored_exactly() {
        let before = deployment(5, json!("25%"));
        let mut driven = before.clone();
        json_patch::merge(&mut driven, &partition_batch_patch(&before, 1, 0).unwrap());
        assert_eq!(
            driven["spec"]["minReadySeconds"],
            MIN_READY_SECONDS_WHILE_DRIVEN
        );
        // A later batch keeps the first saved settings, not the driven ones.
        let mut later = driven.clone();
        json_patch::merge(&mut later, &partition_batch_patch(&driven, 3, 1).unwrap());
        assert_eq!(
            annotation(&later, keys::ORIGINAL_DEPLOYMENT_STRATEGY),
            annotation(&driven, keys::ORIGINAL_DEPLOYMENT_STRATEGY)
        );
        let mut restored = later.clone();
        json_patch::merge(&mut restored, &partition_release_patch(&later).unwrap());
        let mut expected = before.clone();
        expected["spec"]["paused"] = json!(false);
        expected["metadata"]["labels"] = json!({});
        assert_eq!(restored, expected);
        assert_eq!(partition_release_patch(&restored), None);
    }

    #[test]
    fn each_batch_publishes_its_progress_and_the_release_removes_it() {
        let before = deployment(5, json!("25%"));
        let patch = partition_batch_patch(&before, 3, 1).unwrap();
        let progress = patch["metadata"]["annotations"][keys::DEPLOYMENT_EXTRA_STATUS]
            .as_str()
            .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(progress).unwrap(),
            json!({"updatedReadyReplicas": 1, "expectedUpdatedReplicas": 3})
        );
        let mut driven = before.clone();
        json_patch::merge(&mut driven, &patch);
        assert_eq!(partition_batch_patch(&driven, 3, 1), None);
        let more_ready = partition_batch_patch(&driven, 3, 2).unwrap();
        assert!(
            more_ready["metadata"]["annotations"][keys::DEPLOYMENT_EXTRA_STATUS]
                .as_str()
                .unwrap()
                .contains("\"updatedReadyReplicas\":2")
        );
        let release = partition_release_patch(&driven).unwrap();
        json_patch::merge(&mut driven, &release);
        assert_eq!(annotation(&driven, keys::DEPLOYMENT_EXTRA_STATUS), None);
    }

    #[test]
    fn a_recreate_deployment_gets_recreate_back_without_rolling_parameters() {
        let before = json!({"metadata": {}, "spec": {"replicas": 3, "paused": true,
            "strategy": {"type": "Recreate"}}});
        let mut driven = before.clone();
        json_patch::merge(&mut driven, &partition_batch_patch(&before, 1, 0).unwrap());
        assert_eq!(driven["spec"]["strategy"]["type"], "RollingUpdate");
        let release = partition_release_patch(&driven).unwrap();
        json_patch::merge(&mut driven, &release);
        assert_eq!(driven["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn an_already_driven_batch_needs_no_patch_and_zero_planned_keeps_it_paused() {
        let before = deployment(5, json!("25%"));
        let mut driven = before.clone();
        json_patch::merge(&mut driven, &partition_batch_patch(&before, 1, 0).unwrap());
        assert_eq!(partition_batch_patch(&driven, 1, 0), None);
        assert_eq!(
            partition_batch_patch(&before, 0, 0).unwrap()["spec"]["paused"],
            true
        );
    }
}
