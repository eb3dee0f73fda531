//! Kinds frozen through their update strategy: CloneSet partition "100%",
//! StatefulSet / Advanced StatefulSet and Advanced DaemonSet partition 32767, native DaemonSet
//! OnDelete with the original strategy saved.

use super::edit::{
    FREEZE_PARTITION, has_traffic_routing, mark_in_progressing, replicas, set_meta, set_path,
};
use crate::revision::{annotation, is_effective_revision_change};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use serde_json::{Value, json};

/// CloneSet: `updateStrategy.partition: "100%"`. With traffic routing the CloneSet must be
/// entirely on one version first.
pub fn freeze_cloneset(old: &Value, new: &Value, rollout: &Rollout) -> Option<Value> {
    if replicas(new) == 0 || !is_effective_revision_change(old, new) {
        return None;
    }
    if has_traffic_routing(rollout) {
        let replicas = new.pointer("/status/replicas").and_then(Value::as_i64);
        let updated = new
            .pointer("/status/updatedReplicas")
            .and_then(Value::as_i64);
        if replicas != updated {
            return None;
        }
    }
    let mut mutated = new.clone();
    set_path(
        &mut mutated,
        "/spec/updateStrategy/partition",
        json!("100%"),
    );
    mark_in_progressing(&mut mutated, rollout);
    Some(mutated)
}

/// StatefulSet and Advanced StatefulSet: `rollingUpdate.partition: 32767`, creating the
/// update strategy when absent. Only RollingUpdate StatefulSets are released in steps.
pub fn freeze_statefulset(old: &Value, new: &Value, rollout: &Rollout) -> Option<Value> {
    let strategy_type = new
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str);
    if replicas(new) == 0 || !matches!(strategy_type, None | Some("RollingUpdate") | Some("")) {
        return None;
    }
    if new.pointer("/spec/template").is_none() || !is_effective_revision_change(old, new) {
        return None;
    }
    let mut mutated = new.clone();
    if strategy_type.is_none() {
        set_path(
            &mut mutated,
            "/spec/updateStrategy/type",
            json!("RollingUpdate"),
        );
    }
    Some(with_freeze_partition(mutated, rollout))
}

/// Advanced DaemonSet: `rollingUpdate.partition: 32767`.
pub fn freeze_advanced_daemonset(old: &Value, new: &Value, rollout: &Rollout) -> Option<Value> {
    if !is_effective_revision_change(old, new) {
        return None;
    }
    Some(with_freeze_partition(new.clone(), rollout))
}

/// Native DaemonSet: `updateStrategy.type: OnDelete`, the original type saved in
/// `daemonset-original-update-strategy` (its rollingUpdate settings too, so they come back).
/// A newer version mid-release finds the DaemonSet frozen by us: what was saved when the release
/// began stays, unless the update sets a strategy of its own.
pub fn freeze_native_daemonset(old: &Value, new: &Value, rollout: &Rollout) -> Option<Value> {
    if !is_effective_revision_change(old, new) {
        return None;
    }
    let mut mutated = new.clone();
    let strategy_type = new
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate");
    let saved = annotation(old, keys::DAEMONSET_ORIGINAL_UPDATE_STRATEGY);
    let rolling = mutated
        .pointer_mut("/spec/updateStrategy")
        .and_then(Value::as_object_mut)
        .and_then(|s| s.remove("rollingUpdate"));
    let (original, original_rolling) = match (saved, strategy_type, rolling) {
        (Some(saved), "OnDelete", None) => (
            saved.to_string(),
            annotation(old, keys::DAEMONSET_ORIGINAL_ROLLING_UPDATE).map(str::to_string),
        ),
        (_, strategy_type, rolling) => (strategy_type.to_string(), rolling.map(|r| r.to_string())),
    };
    set_meta(
        &mut mutated,
        "annotations",
        keys::DAEMONSET_ORIGINAL_UPDATE_STRATEGY,
        &original,
    );
    match original_rolling {
        Some(rolling) => set_meta(
            &mut mutated,
            "annotations",
            keys::DAEMONSET_ORIGINAL_ROLLING_UPDATE,
            &rolling,
        ),
        None => remove_annotation(&mut mutated, keys::DAEMONSET_ORIGINAL_ROLLING_UPDATE),
    }
    set_path(&mut mutated, "/spec/updateStrategy/type", json!("OnDelete"));
    mark_in_progressing(&mut mutated, rollout);
    Some(mutated)
}

fn remove_annotation(object: &mut Value, key: &str) {
    if let Some(annotations) = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    {
        annotations.remove(key);
    }
}

/// `rollingUpdate.partition: 32767` and the in-progressing mark.
fn with_freeze_partition(mut object: Value, rollout: &Rollout) -> Value {
    set_path(
        &mut object,
        "/spec/updateStrategy/rollingUpdate/partition",
        json!(FREEZE_PARTITION),
    );
    mark_in_progressing(&mut object, rollout);
    object
}
