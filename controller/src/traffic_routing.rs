//! TrafficRouting objects: their reconcile (observe the objects of their first reference ->
//! the pure decision of `rollouts_plan::traffic_routing` -> route changes, status, finalizer)
//! and the live read of the one a Rollout links.

use crate::context::Context;
use crate::error::ControllerError;
use crate::execute::apply;
use crate::traffic::observe_reference;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::Action;
use rollouts_api::keys;
use rollouts_api::v1alpha1::TrafficRouting;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::merge_diff;
use rollouts_plan::traffic_routing::{LinkedRouting, decide_routing, linked_name};
use rollouts_traffic::objects::{CanaryTarget, TrafficObjects};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// A look even when nothing changes.
const RESYNC: Duration = Duration::from_secs(300);

fn describe(namespace: &str, name: &str) -> String {
    format!("TrafficRouting {namespace}/{name}")
}

/// The TrafficRouting `rollout` links, read live (it is not cached for Rollouts): `None` when
/// it links none.
pub async fn linked(
    ctx: &Context,
    rollout: &Rollout,
) -> Result<Option<LinkedRouting>, ControllerError> {
    let Some(name) = linked_name(rollout) else {
        return Ok(None);
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let api: Api<TrafficRouting> = Api::namespaced(ctx.client.clone(), &namespace);
    let object = api
        .get_opt(name)
        .await
        .map_err(|e| ControllerError::new("read", describe(&namespace, name), e))?;
    Ok(Some(LinkedRouting {
        name: name.to_string(),
        object,
    }))
}

/// The objects `routing` routes: those of its first reference, as upstream, the new pods'
/// share sent to each stable Service itself.
async fn observe(ctx: &Context, routing: &TrafficRouting, namespace: &str) -> TrafficObjects {
    match routing.spec.object_ref.first() {
        Some(reference) => {
            observe_reference(ctx, namespace, reference, CanaryTarget::StableService).await
        }
        None => TrafficObjects {
            namespace: namespace.to_string(),
            routes: Err("spec.objectRef names no Service to route".into()),
            stable_service_name: String::new(),
            stable_service: None,
            canary_service: None,
            grace_seconds: 0,
            canary_target: CanaryTarget::StableService,
        },
    }
}

/// Entry point for kube-runtime.
pub async fn reconcile(
    routing: Arc<TrafficRouting>,
    ctx: Arc<Context>,
) -> Result<Action, ControllerError> {
    let namespace = routing.namespace().unwrap_or_default();
    let name = routing.name_any();
    if !ctx.synced.load(std::sync::atomic::Ordering::SeqCst) {
        // A Service not yet listed would be taken for missing.
        return Ok(Action::requeue(Duration::from_millis(500)));
    }
    let traffic = observe(&ctx, &routing, &namespace).await;
    let decision = decide_routing(&routing, &traffic);
    for effect in &decision.effects {
        apply(&ctx.client, effect).await?;
    }
    let old = serde_json::to_value(routing.status.clone().unwrap_or_default()).unwrap_or_default();
    let new = serde_json::to_value(&decision.status).unwrap_or_default();
    if let Some(changes) = merge_diff(&old, &new) {
        let api: Api<TrafficRouting> = Api::namespaced(ctx.client.clone(), &namespace);
        let params = PatchParams {
            field_manager: Some(keys::CONTROLLER_FIELD_MANAGER.into()),
            ..PatchParams::default()
        };
        let patch = json!({"status": changes});
        api.patch_status(&name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| {
                ControllerError::new("write the status of", describe(&namespace, &name), e)
            })?;
        tracing::info!(
            trafficrouting = %describe(&namespace, &name),
            phase = ?decision.status.phase,
            message = decision.status.message.as_deref().unwrap_or_default(),
            "status"
        );
    }
    if let Some(removal) = &decision.remove_finalizer {
        apply(&ctx.client, removal).await?;
    }
    ctx.backoff.succeeded(&describe(&namespace, &name));
    Ok(Action::requeue(
        decision.requeue_after.unwrap_or(RESYNC).min(RESYNC),
    ))
}

/// Retries a failed reconcile after the object's next backoff delay.
pub fn error_policy(
    routing: Arc<TrafficRouting>,
    error: &ControllerError,
    ctx: Arc<Context>,
) -> Action {
    let key = describe(
        &routing.namespace().unwrap_or_default(),
        &routing.name_any(),
    );
    let delay = ctx.backoff.failed(&key);
    tracing::warn!(trafficrouting = %key, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
