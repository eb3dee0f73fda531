//! An OpenKruise Advanced DaemonSet (run by the real kruise-manager, one pod per node of the
//! local cluster's 3 nodes) released through `rollingUpdate.partition`: steps of 1 and 2 pods,
//! then every pod, each step waiting for approval; a newer version mid-release starts again at
//! step 1; the partition is removed at the end.

use rollouts_e2e::release::*;

const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-ds
spec:
  workloadRef:
    apiVersion: apps.kruise.io/v1alpha1
    kind: DaemonSet
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 1
      - replicas: 2
      - replicas: 100%
"#;

fn daemonset(version: &str) -> String {
    echoserver_daemonset("apps.kruise.io/v1alpha1", version)
}

async fn wait_paused_at(ns: &str, step: u32) {
    wait_paused(ns, "rollouts-ds", step, 3).await;
}

#[tokio::test]
async fn advanced_daemonset_release_by_node_with_a_newer_version_mid_release() {
    let (client, ns) = release_namespace("ads").await;
    let ns = ns.name.clone();
    apply(&ns, &daemonset("version1"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 3)]).await;
    wait_row(&ns, "rollouts-ds", "Healthy", "3", "Completed", None).await;

    apply(&ns, &daemonset("version2"));
    wait_paused_at(&ns, 1).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 1)],
    )
    .await;
    approve(&ns, "rollouts-ds");
    wait_paused_at(&ns, 2).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 1), ("version2", 2)],
    )
    .await;

    apply(&ns, &daemonset("version3"));
    wait_paused_at(&ns, 1).await;
    rollouts_e2e::wait_for("1 of 3 pods on version3", STEP_DEADLINE, || async {
        let seen = pods_by_version(&client, &ns, "echoserver").await;
        match (seen.get("version3"), seen.values().sum::<usize>()) {
            (Some(1), 3) => Ok(()),
            _ => Err(format!("{seen:?}")),
        }
    })
    .await;
    approve(&ns, "rollouts-ds");
    wait_paused_at(&ns, 2).await;
    approve(&ns, "rollouts-ds");
    wait_row(&ns, "rollouts-ds", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version3", 3)]).await;
    let daemonset = workload(
        &client,
        &ns,
        "apps.kruise.io/v1alpha1",
        "DaemonSet",
        "echoserver",
    )
    .await;
    let rolling = &daemonset["spec"]["updateStrategy"]["rollingUpdate"];
    assert!(
        rolling
            .get("partition")
            .is_none_or(|p| p.is_null() || p.as_i64() == Some(0)),
        "the partition is removed: {rolling}"
    );
    let annotations = daemonset.pointer("/metadata/annotations");
    assert!(
        annotations.is_none_or(|a| a.get("rollouts.kruise.io/in-progressing").is_none()),
        "{annotations:?}"
    );
}

fn native_daemonset(version: &str) -> String {
    echoserver_daemonset("apps/v1", version)
}

#[tokio::test]
async fn native_daemonset_release_replaces_old_pods_node_by_node_then_restores_its_strategy() {
    let (client, ns) = release_namespace("native-ds").await;
    let ns = ns.name.clone();
    let rollout = ROLLOUT.replace("apiVersion: apps.kruise.io/v1alpha1", "apiVersion: apps/v1");
    apply(&ns, &native_daemonset("version1"));
    apply(&ns, &rollout);
    rollouts_e2e::wait_webhook_sees(&ns, &rollout).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 3)]).await;
    wait_row(&ns, "rollouts-ds", "Healthy", "3", "Completed", None).await;

    apply(&ns, &native_daemonset("version2"));
    wait_paused_at(&ns, 1).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 1)],
    )
    .await;
    let daemonset = workload(&client, &ns, "apps/v1", "DaemonSet", "echoserver").await;
    assert_eq!(
        daemonset["spec"]["updateStrategy"]["type"], "OnDelete",
        "frozen: only the controller replaces pods"
    );
    approve(&ns, "rollouts-ds");
    wait_paused_at(&ns, 2).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 1), ("version2", 2)],
    )
    .await;
    approve(&ns, "rollouts-ds");
    wait_row(&ns, "rollouts-ds", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 3)]).await;
    let daemonset = workload(&client, &ns, "apps/v1", "DaemonSet", "echoserver").await;
    assert_eq!(
        daemonset["spec"]["updateStrategy"]["type"], "RollingUpdate",
        "the original strategy is back"
    );
    let annotations = daemonset.pointer("/metadata/annotations");
    assert!(
        annotations.is_none_or(|a| a
            .as_object()
            .is_none_or(|a| a.keys().all(|k| !k.starts_with("rollouts.kruise.io/")))),
        "{annotations:?}"
    );
}
