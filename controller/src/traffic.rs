//! Traffic I/O: reads a Rollout's Services, Ingresses and HTTPRoute, and applies the changes
//! `rollouts_traffic` computes (merge patches with the controller's field manager).

use crate::apply::ApplyError;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_plan::machine::{Control, TrafficView};
use rollouts_traffic::view::{Observed, Revisions, Target};
use rollouts_traffic::{Change, Provider, StepTraffic, canary_name};
use serde_json::Value;

fn resource(target: Target) -> ApiResource {
    match target {
        Target::Service => ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&()),
        Target::Ingress => ApiResource::erase::<k8s_openapi::api::networking::v1::Ingress>(&()),
        Target::HttpRoute => ApiResource {
            group: "gateway.networking.k8s.io".into(),
            version: "v1".into(),
            api_version: "gateway.networking.k8s.io/v1".into(),
            kind: "HTTPRoute".into(),
            plural: "httproutes".into(),
        },
    }
}

fn api(client: &kube::Client, namespace: &str, target: Target) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &resource(target))
}

async fn get(
    client: &kube::Client,
    namespace: &str,
    target: Target,
    name: &str,
) -> Result<Option<Value>, ApplyError> {
    let found = api(client, namespace, target)
        .get_opt(name)
        .await
        .map_err(|source| ApplyError {
            action: format!("read {target:?} {namespace}/{name}"),
            source,
        })?;
    Ok(found.map(|o| serde_json::to_value(o).unwrap_or_default()))
}

/// The traffic objects of `rollout`, or `None` when it routes no traffic.
pub async fn observe(
    client: &kube::Client,
    rollout: &Rollout,
) -> Result<Option<Observed>, ApplyError> {
    let Some(canary) = rollout.spec.strategy.canary.as_ref() else {
        return Ok(None);
    };
    let Some(reference) = canary.traffic_routings.as_ref().and_then(|r| r.first()) else {
        return Ok(None);
    };
    let namespace = rollout.namespace().unwrap_or_default();
    let provider = Provider::of(reference);
    let service = reference.service.clone();
    let (route_object, canary_ingress) = match &provider {
        Ok(Provider::Nginx { ingress } | Provider::Mse { ingress }) => (
            get(client, &namespace, Target::Ingress, ingress).await?,
            get(client, &namespace, Target::Ingress, &canary_name(ingress)).await?,
        ),
        Ok(Provider::Gateway { route }) => (
            get(client, &namespace, Target::HttpRoute, route).await?,
            None,
        ),
        Err(_) => (None, None),
    };
    let grace = reference.grace_period_seconds.map_or(3, i64::from);
    Ok(Some(Observed {
        provider,
        stable_service: get(client, &namespace, Target::Service, &service).await?,
        canary_service: get(client, &namespace, Target::Service, &canary_name(&service)).await?,
        stable_service_name: service,
        route_object,
        canary_ingress,
        grace_seconds: if grace < 0 { 3 } else { grace },
        canary_service_disabled: canary.disable_generate_canary_service == Some(true),
    }))
}

/// Revision label key of the pods of a control.
pub fn revision_key(control: Control) -> &'static str {
    match control {
        Control::StatefulSet => keys::CONTROLLER_REVISION_HASH,
        _ => keys::POD_TEMPLATE_HASH,
    }
}

/// The step the Rollout status is at, its traffic, and the revisions it records.
pub fn current(rollout: &Rollout) -> (i32, Option<StepTraffic>, String, String) {
    let common = rollout
        .status
        .as_ref()
        .and_then(|s| s.canary_status.as_ref())
        .map(|c| &c.common);
    let index = common
        .and_then(|c| c.current_step_index)
        .unwrap_or(1)
        .max(1);
    let steps = rollouts_plan::steps(rollout);
    let step = steps.get(index as usize - 1).and_then(StepTraffic::of);
    let stable = common
        .and_then(|c| c.stable_revision.clone())
        .unwrap_or_default();
    let canary = common
        .and_then(|c| c.pod_template_hash.clone())
        .unwrap_or_default();
    (index, step, stable, canary)
}

/// The view of `observed` for the step machine.
pub fn view(observed: &Observed, rollout: &Rollout, control: Control) -> TrafficView {
    let (index, step, stable, canary) = current(rollout);
    let revisions = Revisions {
        key: revision_key(control),
        stable: &stable,
        canary: &canary,
    };
    observed.view(index, step.as_ref(), revisions, &owner(rollout))
}

/// The controller ownerReference canary objects carry.
pub fn owner(rollout: &Rollout) -> Value {
    rollout
        .controller_owner_ref(&())
        .map(|o| serde_json::to_value(o).unwrap_or_default())
        .unwrap_or_default()
}

/// Applies `changes` in the Rollout's namespace.
pub async fn apply_changes(
    client: &kube::Client,
    namespace: &str,
    changes: Vec<(Target, Change)>,
) -> Result<(), ApplyError> {
    let params = PatchParams {
        field_manager: Some(keys::CONTROLLER_FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    for (target, change) in changes {
        let api = api(client, namespace, target);
        let result = match &change {
            Change::Create(object) => {
                let object: DynamicObject =
                    serde_json::from_value(object.clone()).map_err(|e| ApplyError {
                        action: format!("build {target:?}"),
                        source: kube::Error::SerdeError(e),
                    })?;
                let post = PostParams {
                    field_manager: params.field_manager.clone(),
                    ..PostParams::default()
                };
                match api.create(&post, &object).await {
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
                    other => other.map(|_| ()),
                }
            }
            Change::Patch { name, patch } => api
                .patch(name, &params, &Patch::Merge(patch))
                .await
                .map(|_| ()),
            Change::Delete { name } => match api.delete(name, &DeleteParams::background()).await {
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
                other => other.map(|_| ()),
            },
        };
        tracing::info!(?target, change = ?change, "traffic change");
        result.map_err(|source| ApplyError {
            action: format!("{change:?} on {target:?}"),
            source,
        })?;
    }
    Ok(())
}
