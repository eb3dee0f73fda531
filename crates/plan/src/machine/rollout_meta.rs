//! The Rollout's own metadata the step machine keeps: our finalizer on a live Rollout (and its
//! guarded removal once a deleted one has given everything back) and the plan hash annotation.

use super::model::{Decision, Snapshot};
use rollouts_api::common::RolloutPhase;
use rollouts_api::keys;
use rollouts_change::Effect;
use serde_json::{Value, json};

/// The finalizer list with ours added, when a live Rollout lacks it (`None`: nothing to add).
/// The webhook adds it when a Rollout is created; the controller adds it to Rollouts created
/// while the webhook was not called.
pub fn finalizers_with_ours(finalizers: &[String], deleting: bool) -> Option<Vec<String>> {
    if deleting || finalizers.iter().any(|f| f == keys::ROLLOUT_FINALIZER) {
        return None;
    }
    let mut with_ours = finalizers.to_vec();
    with_ours.push(keys::ROLLOUT_FINALIZER.to_string());
    Some(with_ours)
}

/// Our finalizer on a live Rollout, and the plan hash annotations kept current while a release
/// runs (the plan a release started with is what a plan change is measured against) or once
/// written. A Rollout that never released has nothing to record, so a controller start over
/// settled Rollouts writes their status and nothing else.
pub(super) fn keep_metadata(s: &Snapshot, d: &mut Decision) {
    let rollout = s.rollout;
    let finalizers = rollout.metadata.finalizers.as_deref().unwrap_or_default();
    let deleting = rollout.metadata.deletion_timestamp.is_some();
    if let Some(with_ours) = finalizers_with_ours(finalizers, deleting) {
        d.rollout_metadata
            .insert("finalizers".into(), json!(with_ours));
    }
    let hash = crate::plan_hash(rollout);
    let recorded = rollout
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::ROLLOUT_HASH));
    let releasing = d.status.phase == Some(RolloutPhase::Progressing);
    if recorded != Some(&hash) && (releasing || recorded.is_some()) {
        d.annotate_rollout(keys::ROLLOUT_HASH, Value::String(hash));
        let replicas = crate::step_replicas_list(rollout);
        d.annotate_rollout(keys::PLAN_REPLICAS, json!(json!(replicas).to_string()));
    }
}

/// Removes our finalizer, and only it: the JSON patch first tests the entry is still ours at
/// that position, so a concurrent change of the list conflicts instead of being overwritten.
pub(super) fn finalizer_removal(s: &Snapshot) -> Option<Effect> {
    let position = s
        .rollout
        .metadata
        .finalizers
        .iter()
        .flatten()
        .position(|f| f == keys::ROLLOUT_FINALIZER)?;
    let path = format!("/metadata/finalizers/{position}");
    Some(Effect::json(
        s.rollout_key(),
        json!([
            {"op": "test", "path": path, "value": keys::ROLLOUT_FINALIZER},
            {"op": "remove", "path": path},
        ]),
        "everything given back: the Rollout may go",
    ))
}

/// The one change of the Rollout's metadata this decision gathered, guarded by the
/// `resourceVersion` it was read at: it goes first, so if the Rollout changed since, nothing
/// else is done.
pub(super) fn metadata_effect(s: &Snapshot, d: &mut Decision) -> Option<Effect> {
    if d.rollout_metadata.is_empty() {
        return None;
    }
    let mut metadata = std::mem::take(&mut d.rollout_metadata);
    metadata.insert(
        "resourceVersion".into(),
        json!(s.rollout.metadata.resource_version),
    );
    Some(Effect::merge(
        s.rollout_key(),
        json!({ "metadata": metadata }),
        "finalizer, plan hash and approval of the Rollout",
    ))
}
