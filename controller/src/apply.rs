//! Applies the step machine's actions: merge patches with the controller's field manager,
//! creation and deletion of canary Deployments. Every action is idempotent.

use crate::workload::Observed;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_api::v1beta1::RolloutStatus;
use rollouts_plan::machine::{Action, Control};
use rollouts_traffic::view::{Observed as TrafficObjects, Revisions, Target};
use rollouts_traffic::{Change, StepTraffic};
use rollouts_workload::control;
use rollouts_workload::facts::{self, WorkloadFacts};
use serde_json::{Value, json};

/// A failed API call, named after what it tried to do.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {source}")]
pub struct ApplyError {
    /// What was being done.
    pub action: String,
    /// Why it failed.
    #[source]
    pub source: kube::Error,
}

fn failed(action: impl Into<String>) -> impl FnOnce(kube::Error) -> ApplyError {
    let action = action.into();
    move |source| ApplyError { action, source }
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(keys::CONTROLLER_FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Merge-patches a Deployment or StatefulSet.
async fn patch_workload(
    client: &kube::Client,
    control: Control,
    object: &Value,
    patch: Value,
) -> Result<(), ApplyError> {
    let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let what = format!("patch {namespace}/{name}");
    tracing::info!(workload = name, patch = %patch, "patching workload");
    match control {
        Control::StatefulSet => {
            let api: Api<StatefulSet> = Api::namespaced(client.clone(), namespace);
            api.patch(name, &params(), &Patch::Merge(&patch))
                .await
                .map_err(failed(what))?;
        }
        _ => {
            let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
            api.patch(name, &params(), &Patch::Merge(&patch))
                .await
                .map_err(failed(what))?;
        }
    }
    Ok(())
}

/// What an action is applied to, as read in this reconcile.
pub struct Targets<'a> {
    /// The workload and its related objects.
    pub workload: &'a Observed,
    /// Its facts.
    pub facts: Option<&'a WorkloadFacts>,
    /// The traffic objects, when the Rollout routes traffic.
    pub traffic: Option<&'a TrafficObjects>,
    /// The status being written (revisions and step of this decision).
    pub status: &'a RolloutStatus,
}

/// The traffic change an action asks for; `None` for workload actions.
fn traffic_changes(
    rollout: &Rollout,
    targets: &Targets,
    action: &Action,
) -> Option<Vec<(Target, Change)>> {
    let traffic = targets.traffic?;
    let key = crate::traffic::revision_key(targets.workload.control);
    let common = targets.status.canary_status.as_ref().map(|c| &c.common);
    let stable = common
        .and_then(|c| c.stable_revision.clone())
        .unwrap_or_default();
    let canary = common
        .and_then(|c| c.pod_template_hash.clone())
        .unwrap_or_default();
    let changes = match action {
        Action::PinStableService => traffic
            .stable_pin_change(key, Some(&stable))
            .into_iter()
            .collect(),
        Action::RouteTraffic { step } => {
            let steps = rollouts_plan::steps(rollout);
            let Some(step) = steps.get(*step as usize - 1).and_then(StepTraffic::of) else {
                return Some(Vec::new());
            };
            let revisions = Revisions {
                key,
                stable: &stable,
                canary: &canary,
            };
            traffic.step_changes(&step, revisions, &crate::traffic::owner(rollout))
        }
        Action::RestoreStableService => traffic.stable_pin_change(key, None).into_iter().collect(),
        Action::RouteTrafficToStable => traffic.restore_routes_change().into_iter().collect(),
        Action::RemoveCanaryService => traffic.remove_canary_service_change().into_iter().collect(),
        _ => return None,
    };
    Some(changes)
}

/// Applies `action` for `rollout`.
pub async fn apply(
    client: &kube::Client,
    rollout: &Rollout,
    targets: &Targets<'_>,
    action: &Action,
) -> Result<(), ApplyError> {
    if let Some(changes) = traffic_changes(rollout, targets, action) {
        let namespace = rollout.namespace().unwrap_or_default();
        return crate::traffic::apply_changes(client, &namespace, changes).await;
    }
    let (observed, facts) = (targets.workload, targets.facts);
    if let Action::ClearApprovedStep = action {
        let api: Api<Rollout> =
            Api::namespaced(client.clone(), &rollout.namespace().unwrap_or_default());
        let patch = json!({"metadata": {"annotations": {keys::APPROVED_STEP: null}}});
        api.patch(&rollout.name_any(), &params(), &Patch::Merge(&patch))
            .await
            .map_err(failed("clear the approved-step annotation"))?;
        return Ok(());
    }
    let (Some(object), Some(facts)) = (observed.object.as_ref(), facts) else {
        return Ok(());
    };
    let control = observed.control;
    let patch = match (action, control) {
        (Action::UpgradeBatch { planned }, Control::PartitionDeployment) => {
            control::partition_batch_patch(object, *planned, facts.updated_ready)
        }
        (Action::UpgradeBatch { planned }, Control::StatefulSet) => {
            control::statefulset_batch_patch(object, *planned)
        }
        (Action::UpgradeBatch { planned }, Control::CanaryDeployment) => {
            return upgrade_canary(client, rollout, observed, object, *planned).await;
        }
        (Action::Release { .. }, Control::PartitionDeployment) => {
            control::partition_release_patch(object)
        }
        (Action::Release { .. }, Control::StatefulSet) => {
            control::statefulset_release_patch(object)
        }
        (Action::Release { promote }, Control::CanaryDeployment) => {
            if let Some(patch) = control::stable_release_patch(object) {
                patch_workload(client, control, object, patch).await?;
            }
            if !promote || facts.promoted {
                delete_canaries(client, observed, object, None).await?;
            }
            return Ok(());
        }
        (Action::ResetRelease, Control::CanaryDeployment) => {
            let keep = facts::canary_deployment_name(object);
            return delete_canaries(client, observed, object, Some(&keep)).await;
        }
        _ => None,
    };
    match patch {
        Some(patch) => patch_workload(client, control, object, patch).await,
        None => Ok(()),
    }
}

async fn upgrade_canary(
    client: &kube::Client,
    rollout: &Rollout,
    observed: &Observed,
    stable: &Value,
    planned: i32,
) -> Result<(), ApplyError> {
    let name = facts::canary_deployment_name(stable);
    let namespace = stable["metadata"]["namespace"].as_str().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    let existing = observed
        .deployments
        .iter()
        .find(|d| d["metadata"]["name"].as_str() == Some(name.as_str()));
    if let Some(canary) = existing {
        if let Some(patch) = control::canary_scale_patch(canary, planned) {
            api.patch(&name, &params(), &Patch::Merge(&patch))
                .await
                .map_err(failed(format!("scale canary Deployment {name}")))?;
        }
        return Ok(());
    }
    let owner = rollout
        .controller_owner_ref(&())
        .map(|o| serde_json::to_value(o).unwrap_or_default());
    let metadata = rollout
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.patch_pod_template_metadata.as_ref());
    let canary = control::canary_deployment(stable, planned, owner.unwrap_or_default(), metadata);
    let canary: Deployment = serde_json::from_value(canary).map_err(|e| ApplyError {
        action: format!("build canary Deployment {name}"),
        source: kube::Error::SerdeError(e),
    })?;
    let post = PostParams {
        field_manager: Some(keys::CONTROLLER_FIELD_MANAGER.into()),
        ..PostParams::default()
    };
    match api.create(&post, &canary).await {
        Ok(_) => {
            tracing::info!(canary = %name, replicas = planned, "created canary Deployment");
            Ok(())
        }
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(failed(format!("create canary Deployment {name}"))(e)),
    }
}

async fn delete_canaries(
    client: &kube::Client,
    observed: &Observed,
    stable: &Value,
    keep: Option<&str>,
) -> Result<(), ApplyError> {
    let namespace = stable["metadata"]["namespace"].as_str().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    for canary in facts::canary_deployments(stable, &observed.deployments) {
        let name = canary["metadata"]["name"].as_str().unwrap_or_default();
        if Some(name) == keep {
            continue;
        }
        tracing::info!(canary = name, "deleting canary Deployment");
        match api.delete(name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(failed(format!("delete canary Deployment {name}"))(e)),
        }
    }
    Ok(())
}
