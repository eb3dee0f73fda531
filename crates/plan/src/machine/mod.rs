//! The step machine: from a [`Snapshot`] of the cluster and the current time to the next status
//! and the concrete effects that get there ([`decide`]). Pure: the controller reads its caches,
//! calls [`decide`], applies the effects in order, writes the status, then records the Events.

mod conditions;
mod model;
mod phase;
mod progressing;
mod stages;
mod status;
mod steps;

pub use conditions::{condition, messages};
pub use model::{Decision, Event, Snapshot};
pub use stages::Stage;
pub use steps::REASON_DEADLINE;

use k8s_openapi::jiff::Timestamp;
use rollouts_api::common::StepState;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Effect;
use serde_json::{Value, json};

/// Decides the next status and the effects that lead there.
pub fn decide(snapshot: &Snapshot) -> Decision {
    let mut decision = Decision {
        status: snapshot.rollout.status.clone().unwrap_or_default(),
        ..Decision::default()
    };
    decision.status.observed_generation = snapshot.rollout.metadata.generation;
    keep_metadata(snapshot, &mut decision);
    phase::advance(snapshot, &mut decision);
    let (index, state) = decision
        .status
        .canary_status
        .as_ref()
        .map_or((None, None), |c| {
            (c.common.current_step_index, c.common.current_step_state)
        });
    decision.status.current_step_index = index;
    decision.status.current_step_state = state;
    let mut effects = Vec::new();
    if !decision.rollout_metadata.is_empty() {
        // First, and guarded: if the Rollout changed since it was read, nothing else is done.
        let mut metadata = std::mem::take(&mut decision.rollout_metadata);
        metadata.insert(
            "resourceVersion".into(),
            json!(snapshot.rollout.metadata.resource_version),
        );
        effects.push(Effect::merge(
            snapshot.rollout_key(),
            json!({ "metadata": metadata }),
            "finalizer, plan hash and approval of the Rollout",
        ));
    }
    let deleting = snapshot.rollout.metadata.deletion_timestamp.is_some();
    if let Some(label) = snapshot
        .workload
        .filter(|_| !deleting)
        .and_then(|w| w.label())
    {
        effects.push(label);
    }
    effects.append(&mut decision.effects);
    decision.effects = effects;
    decision
}

/// Our finalizer on a live Rollout, and the plan hash annotation, kept current.
fn keep_metadata(s: &Snapshot, d: &mut Decision) {
    let rollout = s.rollout;
    let finalizers = rollout.metadata.finalizers.as_deref().unwrap_or_default();
    let finalized = finalizers.iter().any(|f| f == keys::ROLLOUT_FINALIZER);
    if rollout.metadata.deletion_timestamp.is_none() && !finalized {
        let mut with_ours = finalizers.to_vec();
        with_ours.push(keys::ROLLOUT_FINALIZER.to_string());
        d.rollout_metadata
            .insert("finalizers".into(), json!(with_ours));
    }
    let hash = crate::plan_hash(rollout);
    let recorded = rollout
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::ROLLOUT_HASH));
    if recorded != Some(&hash) {
        d.annotate_rollout(keys::ROLLOUT_HASH, Value::String(hash));
    }
}

/// Removes our finalizer, and only it: the JSON patch first tests the entry is still ours at
/// that position, so a concurrent change of the list conflicts instead of being overwritten.
fn finalizer_removal(s: &Snapshot) -> Option<Effect> {
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

/// Label key the workload's pods carry their revision under (a `pod-template-hash` when the
/// workload is gone).
fn revision_key(s: &Snapshot) -> &'static str {
    s.workload
        .map_or(keys::POD_TEMPLATE_HASH, |w| w.revision_key())
}

/// Whether the Rollout's current step has been upgrading for longer than `deadline_seconds`:
/// then the controller lists the step's pods so the decision can name those that are not Ready.
pub fn step_overdue(rollout: &Rollout, now: Timestamp, deadline_seconds: i64) -> bool {
    let Some(common) = rollout
        .status
        .as_ref()
        .and_then(|s| s.canary_status.as_ref())
        .map(|c| &c.common)
    else {
        return false;
    };
    let since = common
        .last_update_time
        .as_ref()
        .map_or(0, |t| t.0.as_second());
    common.current_step_state == Some(StepState::StepUpgrade)
        && now.as_second() - since > deadline_seconds
}
