//! The actions: approve (as upstream's CLI: a status patch, only at StepPaused), pause, resume,
//! and undo (the workload's template back to its stable revision).

use crate::client::{CliError, Connection};
use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment, ReplicaSet, StatefulSet};
use kube::api::{Api, ListParams, Patch, PatchParams};
use rollouts_api::common::StepState;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use serde_json::json;

const FIELD_MANAGER: &str = "kubectl-kruise";

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    }
}

/// Reads the Rollout.
pub async fn get(conn: &Connection, name: &str) -> Result<Rollout, CliError> {
    let api: Api<Rollout> = Api::namespaced(conn.client.clone(), &conn.namespace);
    api.get(name)
        .await
        .map_err(|e| conn.explain("read the Rollout", name, e))
}

/// Approves the paused step; refuses unless the state is StepPaused.
pub async fn approve(conn: &Connection, name: &str) -> Result<String, CliError> {
    let rollout = get(conn, name).await?;
    let status = rollout.status.clone().unwrap_or_default();
    let (field, state) = match (&status.blue_green_status, &status.canary_status) {
        (Some(b), _) => ("blueGreenStatus", b.common.current_step_state),
        (None, Some(c)) => ("canaryStatus", c.common.current_step_state),
        (None, None) => ("canaryStatus", None),
    };
    if state != Some(StepState::StepPaused) {
        let shown = state.map(|s| format!("{s:?}")).unwrap_or_default();
        return Err(CliError::Refused(format!(
            "rollouts.rollouts.kruise.io {name:?} does not allow to approve, because current canary state is not 'StepPaused' (it is '{shown}')"
        )));
    }
    let api: Api<Rollout> = Api::namespaced(conn.client.clone(), &conn.namespace);
    let patch = json!({"status": {field: {"currentStepState": "StepReady"}}});
    api.patch_status(name, &params(), &Patch::Merge(&patch))
        .await
        .map_err(|e| conn.explain("approve", name, e))?;
    Ok(format!("rollout.{}/{name} approved", keys::GROUP))
}

/// Sets `spec.strategy.paused`.
pub async fn set_paused(conn: &Connection, name: &str, paused: bool) -> Result<String, CliError> {
    get(conn, name).await?;
    let api: Api<Rollout> = Api::namespaced(conn.client.clone(), &conn.namespace);
    let patch = json!({"spec": {"strategy": {"paused": paused}}});
    api.patch(name, &params(), &Patch::Merge(&patch))
        .await
        .map_err(|e| conn.explain("pause", name, e))?;
    Ok(format!(
        "rollout.{}/{name} {}",
        keys::GROUP,
        if paused { "paused" } else { "resumed" }
    ))
}

/// Puts the workload's pod template back to the stable revision the Rollout records.
pub async fn undo(conn: &Connection, name: &str) -> Result<String, CliError> {
    let rollout = get(conn, name).await?;
    let workload = &rollout.spec.workload_ref;
    let stable = rollout
        .status
        .as_ref()
        .and_then(rollouts_plan::machine::sub_status_common)
        .and_then(|c| c.stable_revision.clone())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            CliError::Refused(format!(
                "rollouts.rollouts.kruise.io {name:?} records no stable revision to go back to"
            ))
        })?;
    let fail = |action: &'static str| move |e| conn.explain(action, name, e);
    match (workload.group(), workload.kind.as_str()) {
        ("apps", "Deployment") => {
            let replica_sets: Api<ReplicaSet> =
                Api::namespaced(conn.client.clone(), &conn.namespace);
            let selector = format!("{}={stable}", keys::POD_TEMPLATE_HASH);
            let list = replica_sets
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(fail("list ReplicaSets"))?;
            let owned = list.items.into_iter().find(|rs| {
                rs.metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.kind == "Deployment" && o.name == workload.name)
            });
            let Some(mut template) = owned.and_then(|rs| rs.spec.template) else {
                return Err(CliError::Refused(format!(
                    "no ReplicaSet of Deployment {} has the stable revision {stable}",
                    workload.name
                )));
            };
            if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                labels.remove(keys::POD_TEMPLATE_HASH);
            }
            let deployments: Api<Deployment> =
                Api::namespaced(conn.client.clone(), &conn.namespace);
            // `$patch: replace` swaps the whole template, as a ControllerRevision does.
            let mut template = serde_json::to_value(template).unwrap_or_default();
            template["$patch"] = json!("replace");
            let patch = json!({"spec": {"template": template}});
            deployments
                .patch(&workload.name, &params(), &Patch::Strategic(patch))
                .await
                .map_err(fail("roll back the Deployment"))?;
        }
        ("apps", "StatefulSet") => {
            let revisions: Api<ControllerRevision> =
                Api::namespaced(conn.client.clone(), &conn.namespace);
            let revision = revisions
                .get(&stable)
                .await
                .map_err(fail("read the stable ControllerRevision"))?;
            let data = revision.data.0;
            let statefulsets: Api<StatefulSet> =
                Api::namespaced(conn.client.clone(), &conn.namespace);
            statefulsets
                .patch(&workload.name, &params(), &Patch::Strategic(data))
                .await
                .map_err(fail("roll back the StatefulSet"))?;
        }
        ("apps.kruise.io", kind @ ("CloneSet" | "StatefulSet")) => {
            // A CloneSet's status names revisions by their hash, an Advanced StatefulSet's by
            // the ControllerRevision's full name.
            let revision_name = match kind {
                "CloneSet" => format!("{}-{stable}", workload.name),
                _ => stable.clone(),
            };
            let revisions: Api<ControllerRevision> =
                Api::namespaced(conn.client.clone(), &conn.namespace);
            let revision = revisions
                .get(&revision_name)
                .await
                .map_err(fail("read the stable ControllerRevision"))?;
            let template = stored_template(&revision.data.0).ok_or_else(|| {
                CliError::Refused(format!(
                    "ControllerRevision {revision_name} holds no pod template"
                ))
            })?;
            let (group, version) = workload
                .api_version
                .rsplit_once('/')
                .unwrap_or(("", &workload.api_version));
            let resource = kube::api::ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: workload.api_version.clone(),
                kind: kind.into(),
                plural: format!("{}s", kind.to_lowercase()),
            };
            let api: Api<kube::api::DynamicObject> =
                Api::namespaced_with(conn.client.clone(), &conn.namespace, &resource);
            // Custom resources take no strategic merge patch: the template is replaced whole.
            let patch: json_patch::Patch = serde_json::from_value(json!([
                {"op": "replace", "path": "/spec/template", "value": template}
            ]))
            .map_err(|e| CliError::Refused(format!("cannot build the patch: {e}")))?;
            api.patch(&workload.name, &params(), &Patch::Json::<()>(patch))
                .await
                .map_err(fail("roll back the workload"))?;
        }
        (_, kind) => {
            return Err(CliError::Refused(format!(
                "undo supports Deployments, StatefulSets, CloneSets and Advanced StatefulSets, not {kind}"
            )));
        }
    }
    Ok(format!(
        "rollout.{}/{name}: {} {} rolled back to its stable revision {stable}",
        keys::GROUP,
        workload.kind,
        workload.name
    ))
}

/// The pod template a workload's ControllerRevision stores (as the strategic merge patch
/// `{"spec": {"template": {..., "$patch": "replace"}}}`), without the patch directive.
fn stored_template(data: &serde_json::Value) -> Option<serde_json::Value> {
    let mut template = data.pointer("/spec/template")?.clone();
    template.as_object_mut()?.remove("$patch");
    Some(template)
}

#[cfg(test)]
mod tests {
    use super::stored_template;
    use serde_json::json;

    #[test]
    fn the_stored_template_loses_only_the_patch_directive() {
        let data = json!({"spec": {"template": {"$patch": "replace",
            "metadata": {"labels": {"app": "echo"}},
            "spec": {"containers": [{"name": "echo", "image": "demo:1"}]}}}});
        assert_eq!(
            stored_template(&data),
            Some(json!({"metadata": {"labels": {"app": "echo"}},
                "spec": {"containers": [{"name": "echo", "image": "demo:1"}]}}))
        );
        assert_eq!(stored_template(&json!({"spec": {}})), None);
    }
}
