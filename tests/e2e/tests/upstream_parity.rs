//! Behaviour users and tools migrating from upstream Kruise Rollout can see: a deleted Rollout
//! always goes away, a paused canary follows a scaled workload, and partition-style Deployments
//! publish their batch progress in the annotation upstream's tools read.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use rollouts_api::v1beta1::Rollout;
use rollouts_e2e::release::*;
use rollouts_e2e::*;
use serde_json::{Value, json};

const NAME: &str = "rollouts-demo";
const EXTRA_STATUS: &str = "rollouts.kruise.io/deployment-extra-status";

/// A Rollout of a kind the controller cannot release (a ReplicaSet).
fn unreleasable(name: &str, workload: (&str, &str)) -> String {
    let strategy = "canary: {steps: [{replicas: 1}, {replicas: 100%}]}";
    format!(
        "apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata: {{name: {name}}}
spec:
  workloadRef: {{apiVersion: apps/v1, kind: {}, name: {}}}
  strategy:
    {strategy}
",
        workload.0, workload.1
    )
}

#[tokio::test]
async fn deleting_a_rollout_the_controller_cannot_release_always_completes() {
    let (client, ns) = release_namespace("unreleasable").await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver("version1", 2));
    apply(&ns, &unreleasable("agent", ("ReplicaSet", "agent")));
    apply(
        &ns,
        &unreleasable("echoserver", ("ReplicaSet", "echoserver")),
    );
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    for name in ["agent", "echoserver"] {
        wait_for(
            &format!("{name}: finalizer and a 'not supported' message"),
            STEP_DEADLINE,
            || async {
                let r = rollouts.get(name).await.map_err(|e| e.to_string())?;
                let message = r.status.as_ref().and_then(|s| s.message.clone());
                let finalized = r
                    .metadata
                    .finalizers
                    .iter()
                    .flatten()
                    .any(|f| f == "rollouts.kruise.io/rollout");
                match message {
                    Some(m) if finalized && m.contains("not supported") => Ok(()),
                    other => Err(format!("finalized {finalized}, message {other:?}")),
                }
            },
        )
        .await;
        cluster().kubectl(&["delete", "rollout", name, "-n", &ns, "--wait=false"]);
    }
    wait_for("both Rollouts gone", STEP_DEADLINE, || async {
        let left = rollouts
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let names: Vec<_> = left
            .items
            .iter()
            .filter_map(|r| r.metadata.name.clone())
            .collect();
        if names.is_empty() {
            Ok(())
        } else {
            Err(format!("still there: {names:?}"))
        }
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let untouched = deployments.get("echoserver").await.unwrap();
    assert_ne!(untouched.spec.paused, Some(true), "never frozen by us");
}

/// A canary-style Rollout (extra Deployment) of 20%, 40%, 100%, each waiting for approval.
fn canary_20_40() -> String {
    format!(
        "apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata: {{name: {NAME}}}
spec:
  workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: echoserver}}
  strategy:
    canary:
      enableExtraWorkloadForCanary: true
      steps: [{{replicas: 20%, pause: {{}}}}, {{replicas: 40%, pause: {{}}}}, {{replicas: 100%}}]
"
    )
}

async fn canary_deployment_replicas(client: &kube::Client, ns: &str) -> Result<i32, String> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let list = deployments
        .list(
            &kube::api::ListParams::default()
                .labels("rollouts.kruise.io/canary-deployment=echoserver"),
        )
        .await
        .map_err(|e| e.to_string())?;
    match list.items.as_slice() {
        [canary] => Ok(canary.spec.replicas.unwrap_or(1)),
        other => Err(format!("{} canary Deployments", other.len())),
    }
}

#[tokio::test]
async fn scaling_the_workload_while_a_canary_step_is_paused_resizes_the_canary() {
    let (client, ns) = release_namespace("scale-paused").await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver("version1", 5));
    apply(&ns, &canary_20_40());
    wait_webhook_sees(&ns, &canary_20_40()).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    apply(&ns, &echoserver("version2", 5));
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", None).await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", None).await;
    assert_eq!(canary_deployment_replicas(&client, &ns).await, Ok(2));
    let revisions = ("version1", "version2");
    assert_status_revisions(&client, &ns, NAME, "pod-template-hash", revisions).await;

    cluster().kubectl(&["scale", "deployment/echoserver", "-n", &ns, "--replicas=10"]);
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    wait_for(
        "the canary follows the scale while paused",
        STEP_DEADLINE,
        || async {
            let canary = canary_deployment_replicas(&client, &ns).await?;
            let r = rollouts.get(NAME).await.map_err(|e| e.to_string())?;
            let status = r.status.unwrap_or_default();
            let sub = status.canary_status.unwrap_or_default();
            let seen = (canary, sub.canary_replicas, status.current_step_state);
            if seen
                == (
                    4,
                    Some(4),
                    Some(rollouts_api::common::StepState::StepPaused),
                )
            {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await;
    let row = rollout_row(&ns, NAME);
    assert_eq!(row["CANARY_STEP"], "2", "still at step 2: {row:?}");
}

async fn extra_status(deployments: &Api<Deployment>) -> Option<Value> {
    let d = deployments.get("echoserver").await.ok()?;
    let text = d.metadata.annotations?.get(EXTRA_STATUS)?.clone();
    serde_json::from_str(&text).ok()
}

#[tokio::test]
async fn a_partition_release_publishes_its_progress_and_removes_it_at_the_end() {
    let (client, ns) = release_namespace("extra-status").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-partition.yaml").replace("duration: 60", "duration: 3");
    apply(&ns, &echoserver("version1", 5));
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    assert_eq!(extra_status(&deployments).await, None);

    apply(&ns, &echoserver("version2", 5));
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", None).await;
    let expected = json!({"updatedReadyReplicas": 1, "expectedUpdatedReplicas": 1});
    wait_for("step 1's progress", STEP_DEADLINE, || async {
        match extra_status(&deployments).await {
            Some(v) if v == expected => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    let revisions = ("version1", "version2");
    assert_status_revisions(&client, &ns, NAME, "pod-template-hash", revisions).await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_eq!(extra_status(&deployments).await, None, "removed at the end");
}
