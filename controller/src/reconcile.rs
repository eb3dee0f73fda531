//! One reconcile of a Rollout: read (caches) -> decide (pure step machine) -> apply actions ->
//! record events -> write status (a guarded merge patch of the status subresource).

use crate::apply::{ApplyError, Targets, apply};
use crate::context::Context;
use crate::pods::not_ready_pods;
use crate::workload::{control_of, observe};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};
use rollouts_api::common::StepState;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_plan::machine::{self, Decision, Snapshot};
use rollouts_workload::control::merge_diff;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// Why a reconcile failed; it is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// An API call failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl ReconcileError {
    /// Short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Apply(e) => match &e.source {
                kube::Error::Api(s) if s.code == 409 => "conflict",
                kube::Error::Api(_) => "api",
                _ => "transport",
            },
        }
    }
}

/// A resync even when nothing changes, so nothing waits on a lost event forever.
const RESYNC: Duration = Duration::from_secs(300);

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(keys::CONTROLLER_FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

fn api_failed(action: &str) -> impl FnOnce(kube::Error) -> ApplyError + '_ {
    move |source| ApplyError {
        action: action.to_string(),
        source,
    }
}

/// Entry point for kube-runtime.
pub async fn reconcile(
    rollout: Arc<Rollout>,
    ctx: Arc<Context>,
) -> Result<Requeue, ReconcileError> {
    let started = Instant::now();
    let key = format!(
        "{}/{}",
        rollout.namespace().unwrap_or_default(),
        rollout.name_any()
    );
    let span = tracing::info_span!("reconcile", rollout = %key);
    let result = reconcile_inner(&rollout, &ctx).instrument(span).await;
    ctx.metrics.observe_reconcile(
        started.elapsed(),
        result.as_ref().err().map(ReconcileError::kind),
    );
    result
}

async fn reconcile_inner(rollout: &Rollout, ctx: &Context) -> Result<Requeue, ReconcileError> {
    if !ctx.synced.load(std::sync::atomic::Ordering::SeqCst) {
        // Deciding on half-listed caches would take a workload for missing and reset a release.
        return Ok(Requeue::requeue(Duration::from_millis(500)));
    }
    let api: Api<Rollout> =
        Api::namespaced(ctx.client.clone(), &rollout.namespace().unwrap_or_default());
    let deleting = rollout.metadata.deletion_timestamp.is_some();
    // Finalizer and plan hash in one guarded write, and the reconcile goes on with the object it
    // returned: a new Rollout gets its first status in this same pass, without a conflict.
    let updated = ensure_metadata(rollout, &api).await?;
    let rollout = updated.as_ref().unwrap_or(rollout);
    let control = match control_of(rollout) {
        Ok(control) => control,
        // We never touch a workload we cannot release, so a deletion has nothing to restore.
        Err(_) if deleting => {
            remove_finalizer(rollout, &api).await?;
            return Ok(Requeue::await_change());
        }
        Err(message) => return unsupported(rollout, ctx, &api, message).await,
    };
    let observed = observe(&ctx.stores, rollout, control);
    let facts = observed.facts();
    if let Some(object) = observed.object.as_ref().filter(|_| !deleting) {
        label_workload(ctx, &observed, object).await?;
    }
    let deadline = facts
        .as_ref()
        .and_then(|f| f.progress_deadline_seconds)
        .unwrap_or(ctx.settings.progress_deadline_seconds);
    let not_ready = match (&facts, step_overdue(rollout, deadline)) {
        (Some(facts), true) => not_ready_pods(&ctx.client, &observed, facts).await,
        _ => Vec::new(),
    };
    let traffic = crate::traffic::observe(&ctx.client, rollout).await?;
    let snapshot = Snapshot {
        rollout,
        workload: facts.as_ref(),
        control,
        now: Timestamp::now(),
        progress_deadline_seconds: deadline,
        not_ready_pods: &not_ready,
        traffic: traffic
            .as_ref()
            .map(|t| crate::traffic::view(t, rollout, control)),
    };
    let decision = machine::decide(&snapshot);
    let targets = Targets {
        workload: &observed,
        facts: facts.as_ref(),
        traffic: traffic.as_ref(),
        status: &decision.status,
    };
    for action in &decision.actions {
        apply(&ctx.client, rollout, &targets, action).await?;
    }
    // Events and metrics describe transitions, which happened only if the status was written:
    // a decision made on a stale read ends in a conflict and is decided again.
    write_status(rollout, &api, &decision).await?;
    publish_events(rollout, ctx, &decision).await;
    record_durations(rollout, ctx, &decision);
    if decision.remove_finalizer {
        remove_finalizer(rollout, &api).await?;
    }
    Ok(match decision.requeue_after {
        Some(after) => Requeue::requeue(after),
        None => Requeue::requeue(RESYNC),
    })
}

/// Removes our finalizer, and only it: a JSON patch that first tests the entry is still ours at
/// that position, so a concurrent change of the list conflicts instead of being overwritten.
async fn remove_finalizer(rollout: &Rollout, api: &Api<Rollout>) -> Result<(), ApplyError> {
    let Some(position) = rollout
        .finalizers()
        .iter()
        .position(|f| f == keys::ROLLOUT_FINALIZER)
    else {
        return Ok(());
    };
    let path = format!("/metadata/finalizers/{position}");
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": path, "value": keys::ROLLOUT_FINALIZER},
        {"op": "remove", "path": path},
    ]))
    .expect("a well-formed JSON patch");
    api.patch(&rollout.name_any(), &params(), &Patch::Json::<()>(patch))
        .await
        .map_err(api_failed("remove the finalizer"))?;
    Ok(())
}

/// A kind or style this controller cannot release: say so in the status, once as an Event.
async fn unsupported(
    rollout: &Rollout,
    ctx: &Context,
    api: &Api<Rollout>,
    message: String,
) -> Result<Requeue, ReconcileError> {
    let status = rollout.status.clone().unwrap_or_default();
    if status.message.as_deref() != Some(message.as_str()) {
        let event = Event {
            type_: EventType::Warning,
            reason: keys::EVENT_UNSUPPORTED_WORKLOAD.into(),
            note: Some(message.clone()),
            action: "Reconcile".into(),
            secondary: None,
        };
        publish(rollout, ctx, &event).await;
        let decision = Decision {
            status: rollouts_api::v1beta1::RolloutStatus {
                message: Some(message),
                observed_generation: rollout.metadata.generation,
                ..status
            },
            ..Decision::default()
        };
        write_status(rollout, api, &decision).await?;
    }
    Ok(Requeue::requeue(RESYNC))
}

/// The `workload-type` label makes the webhook see the workload (its objectSelector).
async fn label_workload(
    ctx: &Context,
    observed: &crate::workload::Observed,
    object: &serde_json::Value,
) -> Result<(), ApplyError> {
    let kind = match observed.control {
        machine::Control::StatefulSet => "statefulset",
        _ => "deployment",
    };
    if object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(keys::WORKLOAD_TYPE))
        .is_some()
    {
        return Ok(());
    }
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let patch = json!({"metadata": {"labels": {keys::WORKLOAD_TYPE: kind}}});
    let action = format!("label {namespace}/{name} with {}", keys::WORKLOAD_TYPE);
    match observed.control {
        machine::Control::StatefulSet => {
            let api: Api<k8s_openapi::api::apps::v1::StatefulSet> =
                Api::namespaced(ctx.client.clone(), namespace);
            api.patch(name, &params(), &Patch::Merge(&patch))
                .await
                .map_err(api_failed(&action))?;
        }
        _ => {
            let api: Api<k8s_openapi::api::apps::v1::Deployment> =
                Api::namespaced(ctx.client.clone(), namespace);
            api.patch(name, &params(), &Patch::Merge(&patch))
                .await
                .map_err(api_failed(&action))?;
        }
    }
    Ok(())
}

/// Adds our finalizer (unless the Rollout is being deleted) and records the plan hash, in one
/// merge patch guarded by the resourceVersion. Returns the updated Rollout when it wrote.
async fn ensure_metadata(
    rollout: &Rollout,
    api: &Api<Rollout>,
) -> Result<Option<Rollout>, ApplyError> {
    let mut metadata = serde_json::Map::new();
    let deleting = rollout.metadata.deletion_timestamp.is_some();
    if !deleting
        && !rollout
            .finalizers()
            .iter()
            .any(|f| f == keys::ROLLOUT_FINALIZER)
    {
        let mut finalizers = rollout.finalizers().to_vec();
        finalizers.push(keys::ROLLOUT_FINALIZER.to_string());
        metadata.insert("finalizers".into(), json!(finalizers));
    }
    let hash = rollouts_plan::plan_hash(rollout);
    if rollout.annotations().get(keys::ROLLOUT_HASH) != Some(&hash) {
        metadata.insert("annotations".into(), json!({keys::ROLLOUT_HASH: hash}));
    }
    if metadata.is_empty() {
        return Ok(None);
    }
    metadata.insert("resourceVersion".into(), json!(rollout.resource_version()));
    let patch = json!({ "metadata": metadata });
    let updated = api
        .patch(&rollout.name_any(), &params(), &Patch::Merge(&patch))
        .await
        .map_err(api_failed("add the finalizer and record the plan hash"))?;
    Ok(Some(updated))
}

/// The current step has been upgrading for longer than the deadline (then pods are listed).
fn step_overdue(rollout: &Rollout, deadline_seconds: i64) -> bool {
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
        && Timestamp::now().as_second() - since > deadline_seconds
}

async fn write_status(
    rollout: &Rollout,
    api: &Api<Rollout>,
    decision: &Decision,
) -> Result<(), ApplyError> {
    let old = serde_json::to_value(rollout.status.clone().unwrap_or_default()).unwrap_or_default();
    let new = serde_json::to_value(&decision.status).unwrap_or_default();
    let Some(changes) = merge_diff(&old, &new) else {
        return Ok(());
    };
    // The resourceVersion makes a concurrent approval (a status patch) a conflict, not a loss.
    let patch =
        json!({"metadata": {"resourceVersion": rollout.resource_version()}, "status": changes});
    api.patch_status(&rollout.name_any(), &params(), &Patch::Merge(&patch))
        .await
        .map_err(api_failed("write the Rollout status"))?;
    Ok(())
}

async fn publish_events(rollout: &Rollout, ctx: &Context, decision: &Decision) {
    for event in &decision.events {
        let event = Event {
            type_: if event.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: event.reason.into(),
            note: Some(event.message.clone()),
            // kube's recorder folds events with the same reason and action into one series that
            // keeps the first note: a distinct action per message keeps each change visible.
            action: event.message.chars().take(128).collect(),
            secondary: None,
        };
        publish(rollout, ctx, &event).await;
    }
}

async fn publish(rollout: &Rollout, ctx: &Context, event: &Event) {
    if let Err(error) = ctx.recorder.publish(event, &rollout.object_ref(&())).await {
        tracing::warn!(%error, reason = %event.reason, "could not record an event");
    }
}

/// How long a step took to get its pods ready, and how long a pause lasted.
fn record_durations(rollout: &Rollout, ctx: &Context, decision: &Decision) {
    let before = rollout
        .status
        .as_ref()
        .and_then(|s| s.canary_status.as_ref())
        .map(|c| &c.common);
    let after = decision.status.canary_status.as_ref().map(|c| &c.common);
    let (Some(before), Some(after)) = (before, after) else {
        return;
    };
    let since = before.last_update_time.as_ref().map(|t| t.0.as_second());
    let elapsed = since.map(|s| (Timestamp::now().as_second() - s).max(0) as f64);
    let left_pause = before.current_step_state == Some(StepState::StepPaused)
        && after.current_step_state != Some(StepState::StepPaused);
    if let (true, Some(elapsed)) = (left_pause, elapsed) {
        ctx.metrics.observe_approval_wait(elapsed);
    }
    let upgraded = before.current_step_state == Some(StepState::StepUpgrade)
        && after.current_step_state != Some(StepState::StepUpgrade);
    if let (true, Some(elapsed)) = (upgraded, elapsed) {
        ctx.metrics.observe_step_duration(elapsed);
    }
}
