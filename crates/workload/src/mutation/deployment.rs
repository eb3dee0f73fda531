//! Deployments: paused with the `in-progressing` annotation and the
//! `stable-revision` label when a release starts, and kept paused while it runs.

use super::edit::{has_traffic_routing, mark_in_progressing, replicas, set_meta};
use crate::control::{MIN_READY_SECONDS_WHILE_DRIVEN, PROGRESS_DEADLINE_WHILE_DRIVEN};
use crate::revision::{
    annotation, is_effective_revision_change, label, replica_set_template_revision,
    template_revision,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use rollouts_api::common::RolloutPhase;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use serde_json::{Value, json};

/// The Deployment to admit for an update governed by `rollout`, or `None` to admit it as sent.
/// `replica_sets` are the ReplicaSets of the Deployment's namespace (ownership is checked here).
pub fn freeze_deployment<'a>(
    old: &Value,
    new: &Value,
    rollout: &Rollout,
    replica_sets: impl IntoIterator<Item = &'a ReplicaSet>,
) -> Option<Value> {
    let in_progress =
        annotation(old, keys::IN_PROGRESSING).or(annotation(new, keys::IN_PROGRESSING));
    let mutated = match in_progress {
        Some(value) => keep_frozen(old, new, rollout, value),
        None => start_release(old, new, rollout, replica_sets)?,
    };
    (mutated != *new).then_some(mutated)
}

/// A release is running. The Deployment keeps the marks even when an update (`kubectl
/// replace`, Helm) drops them, and cannot be unpaused by others. Once the controller drives a
/// partition batch (`batch-pod-limit`), the rolling settings it set are pinned against other
/// edits and only a new template pauses it. When the Rollout is ending the release, the
/// controller's removal of the marks is admitted as sent.
fn keep_frozen(old: &Value, new: &Value, rollout: &Rollout, in_progress: &str) -> Value {
    if annotation(new, keys::IN_PROGRESSING).is_none() && is_ending(rollout) {
        return new.clone();
    }
    let mut mutated = new.clone();
    for key in [
        keys::IN_PROGRESSING,
        keys::ORIGINAL_DEPLOYMENT_STRATEGY,
        keys::BATCH_POD_LIMIT,
    ] {
        let kept = if key == keys::IN_PROGRESSING {
            Some(in_progress)
        } else {
            annotation(old, key)
        };
        if let (None, Some(value)) = (annotation(new, key), kept) {
            set_meta(&mut mutated, "annotations", key, value);
        }
    }
    if let (Some(stable), None) = (
        label(old, keys::STABLE_REVISION),
        label(new, keys::STABLE_REVISION),
    ) {
        set_meta(&mut mutated, "labels", keys::STABLE_REVISION, stable);
    }
    let driven_limit =
        annotation(&mutated, keys::BATCH_POD_LIMIT).and_then(|l| l.parse::<i64>().ok());
    if let Some(limit) = driven_limit {
        pin_driven_settings(&mut mutated, limit);
    }
    let blue_green = rollout.spec.strategy.blue_green.is_some();
    if !(blue_green || driven_limit.is_some()) || is_effective_revision_change(old, new) {
        mutated["spec"]["paused"] = Value::Bool(true);
    }
    mutated
}

/// The settings a partition batch runs with (see `control::partition_batch_patch`).
fn pin_driven_settings(object: &mut Value, limit: i64) {
    let spec = &mut object["spec"];
    spec["minReadySeconds"] = json!(MIN_READY_SECONDS_WHILE_DRIVEN);
    spec["progressDeadlineSeconds"] = json!(PROGRESS_DEADLINE_WHILE_DRIVEN);
    spec["strategy"] = json!({
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": limit.max(1)},
    });
}

/// The Rollout is finishing or cancelling its release: the controller is giving the workload back.
fn is_ending(rollout: &Rollout) -> bool {
    let Some(status) = rollout.status.as_ref() else {
        return false;
    };
    let reason = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == keys::CONDITION_PROGRESSING)
        .map(|c| c.reason.as_str());
    status.phase == Some(RolloutPhase::Progressing)
        && matches!(
            reason,
            Some(keys::REASON_FINALISING | keys::REASON_CANCELLING)
        )
}

fn start_release<'a>(
    old: &Value,
    new: &Value,
    rollout: &Rollout,
    replica_sets: impl IntoIterator<Item = &'a ReplicaSet>,
) -> Option<Value> {
    if replicas(new) == 0 || !is_effective_revision_change(old, new) {
        return None;
    }
    // Updates sent without a UID (Karmada, OCM) keep the stored object's.
    let uid = [new, old].iter().find_map(|o| {
        o.pointer("/metadata/uid")?
            .as_str()
            .filter(|u| !u.is_empty())
    })?;
    let active: Vec<&ReplicaSet> = replica_sets
        .into_iter()
        .filter(|rs| is_active_child(rs, uid))
        .collect();
    if active.is_empty() || (has_traffic_routing(rollout) && active.len() != 1) {
        return None;
    }
    let new_template = template_revision(new);
    let stable = active
        .iter()
        .filter(|rs| {
            replica_set_template_revision(&serde_json::to_value(rs).unwrap_or_default())
                != new_template
        })
        .min_by_key(|rs| revision(rs));
    let mut mutated = new.clone();
    if let Some(hash) =
        stable.and_then(|rs| rs.metadata.labels.as_ref()?.get(keys::POD_TEMPLATE_HASH))
    {
        set_meta(&mut mutated, "labels", keys::STABLE_REVISION, hash);
    }
    mutated["spec"]["paused"] = Value::Bool(true);
    mark_in_progressing(&mut mutated, rollout);
    Some(mutated)
}

/// Controlled by the Deployment, not being deleted, and running pods.
fn is_active_child(rs: &ReplicaSet, deployment_uid: &str) -> bool {
    let owned = rs
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == deployment_uid && o.controller == Some(true));
    let replicas = rs.spec.replicas.unwrap_or(1);
    owned && rs.metadata.deletion_timestamp.is_none() && replicas > 0
}

fn revision(rs: &ReplicaSet) -> i64 {
    let annotations = rs.metadata.annotations.as_ref();
    annotations
        .and_then(|a| a.get(keys::DEPLOYMENT_REVISION))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
