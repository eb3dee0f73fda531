//! Deployments (reference §3.2): paused with the `in-progressing` annotation and the
//! `stable-revision` label when a release starts, and kept paused while it runs.

use super::{has_traffic_routing, mark_in_progressing, replicas, set_meta};
use crate::revision::{annotation, is_effective_revision_change, label, template_without_hash};
use k8s_openapi::api::apps::v1::ReplicaSet;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use serde_json::Value;

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

/// A release is running: the Deployment stays paused (any attempt to unpause is reverted) and
/// keeps the marks even when an update (`kubectl replace`, Helm) drops them. Blue-green only
/// re-pauses on a new template, since its controller works through the rolling parameters.
fn keep_frozen(old: &Value, new: &Value, rollout: &Rollout, in_progress: &str) -> Value {
    let mut mutated = new.clone();
    if annotation(new, keys::IN_PROGRESSING).is_none() {
        set_meta(
            &mut mutated,
            "annotations",
            keys::IN_PROGRESSING,
            in_progress,
        );
    }
    if let (Some(stable), None) = (
        label(old, keys::STABLE_REVISION),
        label(new, keys::STABLE_REVISION),
    ) {
        set_meta(&mut mutated, "labels", keys::STABLE_REVISION, stable);
    }
    let blue_green = rollout.spec.strategy.blue_green.is_some();
    if !blue_green || is_effective_revision_change(old, new) {
        mutated["spec"]["paused"] = Value::Bool(true);
    }
    mutated
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
    let new_template = template_without_hash(new);
    let stable = active
        .iter()
        .filter(|rs| {
            template_without_hash(&serde_json::to_value(rs).unwrap_or_default()) != new_template
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
