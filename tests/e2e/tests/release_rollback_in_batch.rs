//! Rollback in batches (`rollouts.kruise.io/rollback-in-batch: "true"` on the Rollout): the
//! stable version applied again mid-release is released like a new version, from step 1, each
//! step rolling back its share of the pods still on the abandoned version. CloneSet (with pod
//! batch labels under a new rollout-id) and native StatefulSet (highest ordinals first).

use rollouts_e2e::release::*;

const NAME: &str = "rollouts-rollback";

/// Five steps of 20% (the last at 100% without approval), rolling back in batches.
fn rollout(api_version: &str, kind: &str) -> String {
    format!(
        r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: {NAME}
  annotations:
    rollouts.kruise.io/rollback-in-batch: "true"
spec:
  workloadRef:
    apiVersion: {api_version}
    kind: {kind}
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 20%
      - replicas: 40%
      - replicas: 60%
      - replicas: 80%
      - replicas: 100%
"#
    )
}

/// The CloneSet at `version` labelled `rollouts.kruise.io/rollout-id: <id>`.
fn cloneset(version: &str, rollout_id: &str) -> String {
    echoserver_cloneset(version, 5).replacen(
        "  labels:\n    app: echoserver\n",
        &format!(
            "  labels:\n    app: echoserver\n    rollouts.kruise.io/rollout-id: \"{rollout_id}\"\n"
        ),
        1,
    )
}

/// Pods marked by the rollback as already on the stable revision.
async fn marked_pods(client: &kube::Client, ns: &str) -> usize {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), ns);
    let params =
        kube::api::ListParams::default().labels("app=echoserver,rollouts.kruise.io/no-need-update");
    pods.list(&params).await.map_or(0, |l| l.items.len())
}

/// Approves step `step` of 5 once it is paused, then waits for the next pause (or the end).
async fn approve_step(ns: &str, step: u32) {
    wait_paused(ns, NAME, step, 5).await;
    approve(ns, NAME);
}

#[tokio::test]
async fn a_cloneset_rolled_back_mid_release_goes_back_in_batches_from_step_one() {
    let (client, ns) = release_namespace("rollback-cloneset").await;
    let ns = ns.name.clone();
    let rollout = rollout("apps.kruise.io/v1alpha1", "CloneSet");
    apply(&ns, &cloneset("version1", "1"));
    apply(&ns, &rollout);
    rollouts_e2e::wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "5", "Completed", None).await;

    apply(&ns, &cloneset("version2", "1"));
    approve_step(&ns, 1).await;
    approve_step(&ns, 2).await;
    wait_paused(&ns, NAME, 3, 5).await;
    let three_of_v2 = [("version1", 2), ("version2", 3)];
    wait_pods(&client, &ns, "echoserver", &three_of_v2).await;
    wait_batches(&client, &ns, "1", &[("1", 1), ("2", 1), ("3", 1)]).await;

    // Back to version 1 under a new rollout-id: step 1 again, 20% of the 3 pods on version 2.
    apply(&ns, &cloneset("version1", "2"));
    wait_paused(&ns, NAME, 1, 5).await;
    let one_back = [("version1", 3), ("version2", 2)];
    wait_pods(&client, &ns, "echoserver", &one_back).await;
    assert_eq!(
        marked_pods(&client, &ns).await,
        2,
        "the 2 pods never updated"
    );
    wait_batches(&client, &ns, "2", &[("1", 1)]).await;

    // 40% and 60% of 3 are 2 pods, 80% and 100% all 3.
    approve(&ns, NAME);
    for (step, on_v1) in [(2, 4), (3, 4), (4, 5)] {
        wait_paused(&ns, NAME, step, 5).await;
        let want = [("version1", on_v1), ("version2", 5 - on_v1)];
        let want: Vec<(&str, usize)> = want.into_iter().filter(|(_, n)| *n > 0).collect();
        wait_pods(&client, &ns, "echoserver", &want).await;
        approve(&ns, NAME);
    }
    wait_row(&ns, NAME, "Healthy", "5", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    let batches = [("1", 1), ("2", 1), ("3", 1), ("4", 1), ("5", 1)];
    wait_batches(&client, &ns, "2", &batches).await;
    assert_eq!(
        rollout_field(
            &ns,
            NAME,
            ".status.conditions[?(@.type==\"Succeeded\")].status"
        ),
        "True",
        "a rollback in batches completes as a release"
    );
    let cloneset = workload(
        &client,
        &ns,
        "apps.kruise.io/v1alpha1",
        "CloneSet",
        "echoserver",
    )
    .await;
    let partition = cloneset.pointer("/spec/updateStrategy/partition");
    assert!(
        partition.is_none_or(|p| p.as_i64() == Some(0)),
        "the partition is removed: {partition:?}"
    );
}

#[tokio::test]
async fn a_statefulset_rolled_back_mid_release_goes_back_in_batches_highest_ordinals_first() {
    let (client, ns) = release_namespace("rollback-sts").await;
    let ns = ns.name.clone();
    let rollout = rollout("apps/v1", "StatefulSet");
    apply(&ns, &echoserver_statefulset("apps/v1", "version1", 5));
    apply(&ns, &rollout);
    rollouts_e2e::wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "5", "Completed", None).await;

    apply(&ns, &echoserver_statefulset("apps/v1", "version2", 5));
    approve_step(&ns, 1).await;
    approve_step(&ns, 2).await;
    wait_paused(&ns, NAME, 3, 5).await;
    let wait_ordinals = |want: [&'static str; 5]| {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            let want: Vec<String> = want.iter().map(|v| v.to_string()).collect();
            rollouts_e2e::wait_for(&format!("pods {want:?}"), STEP_DEADLINE, || async {
                let seen = versions_by_ordinal(&client, &ns, 5).await;
                match seen == want {
                    true => Ok(()),
                    false => Err(format!("{seen:?}")),
                }
            })
            .await;
        }
    };
    let (v1, v2) = ("version1", "version2");
    wait_ordinals([v1, v1, v2, v2, v2]).await;

    apply(&ns, &echoserver_statefulset("apps/v1", "version1", 5));
    wait_paused(&ns, NAME, 1, 5).await;
    wait_ordinals([v1, v1, v2, v2, v1]).await;
    approve(&ns, NAME);
    wait_paused(&ns, NAME, 2, 5).await;
    wait_ordinals([v1, v1, v2, v1, v1]).await;
    approve(&ns, NAME);
    wait_paused(&ns, NAME, 3, 5).await;
    approve(&ns, NAME);
    wait_paused(&ns, NAME, 4, 5).await;
    wait_ordinals([v1; 5]).await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "5", "Completed", None).await;
    let sts = workload(&client, &ns, "apps/v1", "StatefulSet", "echoserver").await;
    let partition = sts.pointer("/spec/updateStrategy/rollingUpdate/partition");
    assert!(
        partition.is_none_or(|p| p.as_i64() == Some(0)),
        "the partition is removed: {partition:?}"
    );
}
