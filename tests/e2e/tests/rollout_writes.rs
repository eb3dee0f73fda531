//! What the controller writes to a Rollout: a Rollout created through the webhook carries our
//! finalizer from its first version, a settled one gets its status and nothing else, and the
//! plan hash annotation is recorded when a release starts, equal to the status's `rolloutHash`.

use kube::Api;
use kube::api::PostParams;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::v1beta1::Rollout;
use rollouts_e2e::release::*;
use rollouts_e2e::*;

const FINALIZER: &str = "rollouts.kruise.io/rollout";
const CONTROLLER: &str = "rollouts-controller";

fn partition_rollout() -> Rollout {
    serde_yaml::from_str(
        "apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata: {name: rollouts-demo}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: echoserver}
  strategy:
    canary:
      steps: [{replicas: 1, pause: {}}, {replicas: 100%}]
",
    )
    .expect("the Rollout parses")
}

#[tokio::test]
async fn a_settled_rollout_costs_one_write_and_the_plan_is_recorded_when_a_release_starts() {
    let (client, ns) = release_namespace("writes").await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver("version1", 2));
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    let created = rollouts
        .create(&PostParams::default(), &partition_rollout())
        .await
        .expect("the Rollout is created");
    assert_eq!(
        created.metadata.finalizers.as_deref(),
        Some(&[FINALIZER.to_string()][..]),
        "the webhook adds the finalizer to the created object"
    );

    let healthy = wait_for("Healthy", STEP_DEADLINE, || async {
        let r = rollouts
            .get("rollouts-demo")
            .await
            .map_err(|e| e.to_string())?;
        match r.status.as_ref().and_then(|s| s.phase) {
            Some(RolloutPhase::Healthy) => Ok(r),
            other => Err(format!("phase {other:?}")),
        }
    })
    .await;
    let ours: Vec<_> = healthy
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter(|m| m.manager.as_deref() == Some(CONTROLLER))
        .map(|m| m.subresource.clone().unwrap_or_default())
        .collect();
    assert_eq!(ours, ["status"], "the controller wrote the status only");
    let annotations = healthy.metadata.annotations.clone().unwrap_or_default();
    assert!(
        !annotations.contains_key("rollouts.kruise.io/hash"),
        "no release yet, no plan recorded: {annotations:?}"
    );

    apply(&ns, &echoserver("version2", 2));
    wait_for(
        "step 1 paused with the plan recorded",
        STEP_DEADLINE,
        || async {
            let r = rollouts
                .get("rollouts-demo")
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status.clone().unwrap_or_default();
            let recorded = r
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("rollouts.kruise.io/hash").cloned());
            let in_status = status
                .canary_status
                .as_ref()
                .and_then(|c| c.common.rollout_hash.clone());
            let seen = (status.current_step_index, status.current_step_state);
            if seen != (Some(1), Some(StepState::StepPaused)) {
                return Err(format!("at {seen:?}"));
            }
            match (recorded, in_status) {
                (Some(a), Some(s)) if a == s => Ok(()),
                other => Err(format!("annotation and status hash: {other:?}")),
            }
        },
    )
    .await;
}
