//! Applies a decision: its effects in order (stopping at the first failure), then the status
//! (only what changed, guarded by the resourceVersion so a concurrent approval conflicts instead
//! of being lost), then the finalizer removal, and only then the Events, which describe
//! transitions that happened. A change another writer undid stops the effects but not the
//! status write, and the reconcile is retried. A decision made from a cached workload whose spec
//! has changed since (a new version the watch has not delivered yet) is not applied at all: each
//! of its workload patches is guarded by the version read live just before.

use crate::cache::api_resource;
use crate::context::Context;
use crate::error::{Cause, ControllerError};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType};
use kube::{Resource as _, ResourceExt};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::{Change, Effect, ObjectKey, Resource, merge_diff, took_effect};
use rollouts_plan::machine::Decision;
use serde_json::{Value, json};

fn patch_params() -> PatchParams {
    PatchParams {
        field_manager: Some(keys::CONTROLLER_FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// The API of `object`'s resource in its namespace.
fn api_of(client: &kube::Client, object: &ObjectKey) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        &object.namespace,
        &api_resource(object.resource),
    )
}

/// Applies one effect; returns the object as the API server answered, when it answered one.
/// Creating an object that exists and deleting one that is gone are not failures.
pub async fn apply(
    client: &kube::Client,
    effect: &Effect,
) -> Result<Option<DynamicObject>, ControllerError> {
    let object = &effect.object;
    let api = api_of(client, object);
    let failed = |source: kube::Error| ControllerError::new(effect.change.verb(), object, source);
    tracing::info!(effect = %effect, "applying");
    match &effect.change {
        Change::Create(body) => {
            let body: DynamicObject = serde_json::from_value(body.clone()).map_err(|e| {
                ControllerError::new("build", object, Cause::Invalid(e.to_string()))
            })?;
            let post = PostParams {
                field_manager: Some(keys::CONTROLLER_FIELD_MANAGER.into()),
                ..PostParams::default()
            };
            match api.create(&post, &body).await {
                Ok(created) => Ok(Some(created)),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(None),
                Err(e) => Err(failed(e)),
            }
        }
        Change::Merge(patch) => {
            let updated = api
                .patch(&object.name, &patch_params(), &Patch::Merge(patch))
                .await
                .map_err(failed)?;
            let mut wanted = patch.clone();
            if let Some(metadata) = wanted.get_mut("metadata").and_then(Value::as_object_mut) {
                metadata.remove("resourceVersion");
            }
            let answered = serde_json::to_value(&updated).unwrap_or_default();
            if !took_effect(&answered, &wanted) {
                return Err(ControllerError::new("patch", object, Cause::NotApplied));
            }
            Ok(Some(updated))
        }
        Change::Json(patch) => {
            let patch: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| {
                ControllerError::new("build", object, Cause::Invalid(e.to_string()))
            })?;
            api.patch(&object.name, &patch_params(), &Patch::Json::<()>(patch))
                .await
                .map(Some)
                .map_err(failed)
        }
        Change::Delete => match api.delete(&object.name, &DeleteParams::background()).await {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(None),
            Err(e) => Err(failed(e)),
        },
    }
}

/// The workload a decision was made from: which object, and its spec's `metadata.generation`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecidedOn {
    /// The workload.
    pub object: ObjectKey,
    /// Its `metadata.generation` as cached.
    pub generation: i64,
}

/// What became of a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Applied, status written.
    Applied,
    /// Nothing applied: the workload's spec changed since it was cached (or it is gone). The
    /// decision is made again once the cache holds the new spec.
    WorkloadChanged,
}

/// The live resourceVersion of the workload when its spec is still the one `decided_on` saw;
/// `None` when it changed or is gone.
async fn unchanged_version(
    client: &kube::Client,
    decided_on: &DecidedOn,
) -> Result<Option<String>, ControllerError> {
    let object = &decided_on.object;
    match api_of(client, object).get_opt(&object.name).await {
        Ok(Some(live)) if live.metadata.generation == Some(decided_on.generation) => {
            Ok(live.resource_version())
        }
        Ok(_) => Ok(None),
        Err(error) => Err(ControllerError::new("read", object, error)),
    }
}

fn is_conflict(error: &ControllerError) -> bool {
    matches!(&error.cause, Cause::Api(kube::Error::Api(status)) if status.code == 409)
}

/// Applies `decision` for `rollout` (as read at the start of the reconcile), made from the
/// workload `decided_on` describes.
pub async fn execute(
    ctx: &Context,
    rollout: &Rollout,
    decision: &Decision,
    decided_on: Option<&DecidedOn>,
) -> Result<Outcome, ControllerError> {
    let namespace = rollout.namespace().ok_or_else(|| {
        ControllerError::new(
            "reconcile",
            rollout.name_any(),
            Cause::Invalid("the Rollout has no namespace".into()),
        )
    })?;
    let own = rollouts_change::ObjectKey::new(Resource::ROLLOUT, &namespace, rollout.name_any());
    let key = format!("{namespace}/{}", rollout.name_any());
    let mut version = rollout.resource_version();
    let mut replaced = Vec::new();
    let mut undone = None;
    let acts_beyond_the_rollout = decision.effects.iter().any(|e| e.object != own);
    let mut workload_version = None;
    if let (Some(decided_on), true) = (decided_on, acts_beyond_the_rollout) {
        workload_version = unchanged_version(&ctx.client, decided_on).await?;
        if workload_version.is_none() {
            tracing::info!(workload = %decided_on.object, "the workload changed since it was read: deciding again");
            return Ok(Outcome::WorkloadChanged);
        }
    }
    for effect in &decision.effects {
        let on_workload = decided_on.is_some_and(|d| d.object == effect.object);
        let guarded = match (&workload_version, on_workload) {
            (Some(live), true) => Effect {
                change: effect.change.guarded(live),
                ..effect.clone()
            },
            _ => effect.clone(),
        };
        match apply(&ctx.client, &guarded).await {
            Ok(answered) if effect.object == own => {
                // Later writes of the Rollout build on this one.
                replaced.extend(version.clone());
                version = answered.and_then(|o| o.resource_version()).or(version);
            }
            Ok(answered) if on_workload => {
                // Later patches of the workload build on this one.
                workload_version = answered
                    .and_then(|o| o.resource_version())
                    .or(workload_version);
            }
            Ok(_) => {}
            // Changed between the read and the patch: nothing more of this decision applies.
            Err(error) if on_workload && is_conflict(&error) => {
                tracing::info!(workload = %effect.object, "the workload changed since it was read: deciding again");
                ctx.own_writes.replaced(&key, replaced);
                return Ok(Outcome::WorkloadChanged);
            }
            // Another writer undid the change, typically the webhook still working from a view
            // where the release has not reached this point. The status still records where the
            // release is (which is what that writer waits for); the rest waits for the retry.
            Err(error) if matches!(error.cause, Cause::NotApplied) => {
                undone = Some(error);
                break;
            }
            Err(error) => return Err(error),
        }
    }
    let written = write_status(ctx, rollout, &namespace, version.clone(), decision).await;
    if let Ok(Some(_)) = &written {
        replaced.extend(version);
    }
    ctx.own_writes.replaced(&key, replaced);
    written?;
    if let Some(error) = undone {
        publish_events(ctx, rollout, decision).await;
        return Err(error);
    }
    if let Some(removal) = &decision.remove_finalizer {
        apply(&ctx.client, removal).await?;
    }
    publish_events(ctx, rollout, decision).await;
    Ok(Outcome::Applied)
}

/// Writes what changed of the status, guarded by `version`, and returns the new version;
/// nothing when nothing changed.
async fn write_status(
    ctx: &Context,
    rollout: &Rollout,
    namespace: &str,
    version: Option<String>,
    decision: &Decision,
) -> Result<Option<String>, ControllerError> {
    let old = serde_json::to_value(rollout.status.clone().unwrap_or_default()).unwrap_or_default();
    let new = serde_json::to_value(&decision.status).unwrap_or_default();
    let Some(changes) = merge_diff(&old, &new) else {
        return Ok(None);
    };
    let api: Api<Rollout> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({"metadata": {"resourceVersion": version}, "status": changes});
    let written = api
        .patch_status(&rollout.name_any(), &patch_params(), &Patch::Merge(&patch))
        .await
        .map_err(|e| {
            let object = format!("Rollout {namespace}/{}", rollout.name_any());
            ControllerError::new("write the status of", object, e)
        })?;
    Ok(written.resource_version())
}

async fn publish_events(ctx: &Context, rollout: &Rollout, decision: &Decision) {
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
        if let Err(error) = ctx.recorder.publish(&event, &rollout.object_ref(&())).await {
            tracing::warn!(%error, reason = %event.reason, "could not record an event");
        }
    }
}
