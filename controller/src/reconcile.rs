//! One reconcile of a Rollout: observe (caches) -> decide (the pure step machine) -> execute
//! (effects, status, Events).

use crate::context::Context;
use crate::error::ControllerError;
use crate::execute::{DecidedOn, Outcome, execute};
use crate::pods::{not_ready_pods, workload_pods};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::controller::Action as Requeue;
use rollouts_api::common::StepState;
use rollouts_api::v1beta1::Rollout;
use rollouts_plan::machine::{self, Decision, Snapshot};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// A look even when nothing changes, so nothing waits on a lost event forever.
pub const RESYNC: Duration = Duration::from_secs(300);

/// A look after skipping a copy our own write replaced, in case its watch event was lost.
const STALE_RECHECK: Duration = Duration::from_secs(5);

/// A look after a decision was dropped because the workload changed since it was cached.
const WORKLOAD_RECHECK: Duration = Duration::from_secs(1);

/// `namespace/name` of a Rollout, for logs and the backoff.
pub fn key_of(rollout: &Rollout) -> String {
    format!(
        "{}/{}",
        rollout.namespace().unwrap_or_default(),
        rollout.name_any()
    )
}

/// Entry point for kube-runtime.
pub async fn reconcile(
    rollout: Arc<Rollout>,
    ctx: Arc<Context>,
) -> Result<Requeue, ControllerError> {
    let started = Instant::now();
    let key = key_of(&rollout);
    let span = tracing::info_span!("reconcile", rollout = %key);
    let result = reconcile_inner(&rollout, &ctx).instrument(span).await;
    ctx.metrics.observe_reconcile(
        started.elapsed(),
        result.as_ref().err().map(ControllerError::metric_label),
    );
    if result.is_ok() {
        ctx.backoff.succeeded(&key);
    }
    result
}

async fn reconcile_inner(rollout: &Rollout, ctx: &Context) -> Result<Requeue, ControllerError> {
    tracing::debug!(
        resource_version = rollout.metadata.resource_version.as_deref(),
        "reconciling"
    );
    if !ctx.synced.load(std::sync::atomic::Ordering::SeqCst) {
        // Deciding on half-listed caches would take a workload for missing and reset a release.
        return Ok(Requeue::requeue(Duration::from_millis(500)));
    }
    if ctx.own_writes.is_stale(
        &key_of(rollout),
        rollout.metadata.resource_version.as_deref(),
    ) {
        // Our own later write is on its way through the watch and wakes this Rollout again.
        return Ok(Requeue::requeue(STALE_RECHECK));
    }
    let release = crate::kinds::observe(&ctx.client, &ctx.stores, rollout).await;
    let traffic = crate::traffic::observe(ctx, rollout).await;
    let linked_routing = crate::traffic_routing::linked(ctx, rollout).await?;
    let mut snapshot = Snapshot {
        rollout,
        workload: release.as_deref(),
        traffic: traffic.as_ref(),
        linked_routing: linked_routing.as_ref(),
        now: Timestamp::now(),
        default_deadline_seconds: ctx.settings.progress_deadline_seconds,
        not_ready_pods: &[],
        pods: None,
        autoscalers: None,
        analysis: None,
    };
    let overdue = machine::step_overdue(rollout, snapshot.now, snapshot.deadline_seconds());
    let not_ready = match release.as_deref() {
        Some(release) if overdue => not_ready_pods(&ctx.client, release).await,
        _ => Vec::new(),
    };
    snapshot.not_ready_pods = &not_ready;
    let pods = match release.as_deref() {
        Some(release) => workload_pods(&ctx.client, rollout, release).await,
        None => None,
    };
    snapshot.pods = pods.as_deref();
    let autoscalers = match release.as_deref() {
        Some(release) if machine::needs_autoscalers(rollout, release) => {
            crate::pods::autoscalers(&ctx.client, rollout).await
        }
        _ => None,
    };
    snapshot.autoscalers = autoscalers.as_deref();
    let answers = match machine::due_check(rollout, snapshot.now) {
        Some(due) => Some(crate::analysis::run_check(ctx, rollout, &due).await),
        None => None,
    };
    // The queries took time: the check counts at the moment its answers came.
    if answers.is_some() {
        snapshot.now = Timestamp::now();
    }
    snapshot.analysis = answers.as_deref();
    let decision = machine::decide(&snapshot);
    let decided_on = release.as_deref().map(|release| DecidedOn {
        object: release.object().clone(),
        generation: release.facts().generation,
    });
    if execute(ctx, rollout, &decision, decided_on.as_ref()).await? == Outcome::WorkloadChanged {
        // The watch delivering the new spec wakes the Rollout sooner, unless it is down.
        return Ok(Requeue::requeue(WORKLOAD_RECHECK));
    }
    record_durations(rollout, ctx, &decision);
    Ok(Requeue::requeue(
        decision.requeue_after.unwrap_or(RESYNC).min(RESYNC),
    ))
}

/// How long a step took to get its pods ready, and how long a pause lasted.
fn record_durations(rollout: &Rollout, ctx: &Context, decision: &Decision) {
    let before = rollout.status.as_ref().and_then(machine::sub_status_common);
    let after = machine::sub_status_common(&decision.status);
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
