//! An OpenKruise CloneSet (run by the real kruise-manager of the local control plane) released
//! through `updateStrategy.partition`: 5 replicas in steps of 20%, 60% and 100%, each step
//! waiting for approval, the partition written as the percentage of pods kept on the old
//! version, and everything of the release removed at the end; with Nginx traffic, the canary
//! Service selecting the new revision's pods, and a rollback mid-release.

use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;

const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-cloneset
spec:
  workloadRef:
    apiVersion: apps.kruise.io/v1alpha1
    kind: CloneSet
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 20%
      - replicas: 60%
      - replicas: 100%
"#;

/// The example echoserver (its Service included) as a CloneSet at `version`.
fn cloneset(version: &str) -> String {
    let yaml = echoserver(version, 5);
    assert!(
        yaml.contains(DEPLOYMENT_HEAD),
        "the example still starts so"
    );
    yaml.replacen(DEPLOYMENT_HEAD, CLONESET_HEAD, 1)
}

const DEPLOYMENT_HEAD: &str = "apiVersion: apps/v1\nkind: Deployment";
const CLONESET_HEAD: &str = "apiVersion: apps.kruise.io/v1alpha1\nkind: CloneSet";

async fn partition(client: &kube::Client, ns: &str) -> serde_json::Value {
    let cloneset = workload(
        client,
        ns,
        "apps.kruise.io/v1alpha1",
        "CloneSet",
        "echoserver",
    )
    .await;
    cloneset
        .pointer("/spec/updateStrategy/partition")
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn cloneset_partition_release_in_three_approved_steps() {
    let (client, ns) = release_namespace("cloneset").await;
    let ns = ns.name.clone();
    apply(&ns, &cloneset("version1"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;

    apply(&ns, &cloneset("version2"));
    let manual = |i: u32| {
        format!("Rollout is in step({i}/3), and you need manually confirm to enter the next step")
    };
    let paused_at = |i: u32| {
        let message = manual(i);
        let ns = ns.clone();
        async move {
            wait_row(
                &ns,
                "rollouts-cloneset",
                "Progressing",
                &i.to_string(),
                "StepPaused",
                Some(&message),
            )
            .await
        }
    };
    paused_at(1).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;
    assert_eq!(partition(&client, &ns).await, serde_json::json!("80%"));
    let revisions = ("version1", "version2");
    assert_status_revisions(
        &client,
        &ns,
        "rollouts-cloneset",
        "pod-template-hash",
        revisions,
    )
    .await;

    approve(&ns, "rollouts-cloneset");
    paused_at(2).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 3)],
    )
    .await;
    assert_eq!(partition(&client, &ns).await, serde_json::json!("40%"));

    approve(&ns, "rollouts-cloneset");
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    let cloneset = workload(
        &client,
        &ns,
        "apps.kruise.io/v1alpha1",
        "CloneSet",
        "echoserver",
    )
    .await;
    let strategy = &cloneset["spec"]["updateStrategy"];
    // Removed; OpenKruise then defaults it to 0.
    assert!(
        strategy
            .get("partition")
            .is_none_or(|p| p.is_null() || p.as_i64() == Some(0)),
        "the partition is removed: {strategy}"
    );
    assert_ne!(strategy["paused"], serde_json::json!(true), "{strategy}");
    let annotations = cloneset.pointer("/metadata/annotations");
    assert!(
        annotations.is_none_or(|a| a.get("rollouts.kruise.io/in-progressing").is_none()),
        "{annotations:?}"
    );
}

const TRAFFIC_ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-cloneset
spec:
  workloadRef:
    apiVersion: apps.kruise.io/v1alpha1
    kind: CloneSet
    name: echoserver
  strategy:
    canary:
      steps:
      - {replicas: 20%, traffic: 20%, pause: {}}
      - {replicas: 60%, pause: {}}
      - {replicas: 100%}
      trafficRoutings:
      - service: echoserver
        ingress:
          name: echoserver
"#;

fn status_field(ns: &str, path: &str) -> String {
    rollouts_e2e::cluster().kubectl(&[
        "get",
        "rollout",
        "rollouts-cloneset",
        "-n",
        ns,
        "-o",
        &format!("jsonpath={{{path}}}"),
    ])
}

#[tokio::test]
async fn cloneset_release_with_nginx_traffic_rolls_back_mid_release() {
    let (client, ns) = release_namespace("cloneset-traffic").await;
    let ns = ns.name.clone();
    apply(&ns, &cloneset("version1"));
    apply(&ns, &example("echoserver-ingress-nginx.yaml"));
    apply(&ns, TRAFFIC_ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, TRAFFIC_ROLLOUT).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;

    apply(&ns, &cloneset("version2"));
    let manual = |i: u32| {
        format!("Rollout is in step({i}/3), and you need manually confirm to enter the next step")
    };
    wait_row(
        &ns,
        "rollouts-cloneset",
        "Progressing",
        "1",
        "StepPaused",
        Some(&manual(1)),
    )
    .await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "20"),
        ],
    )
    .await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;
    let stable_revision = status_field(&ns, ".status.canaryStatus.stableRevision");
    let canary_revision = status_field(&ns, ".status.canaryStatus.podTemplateHash");
    assert_ne!(stable_revision, canary_revision);
    let hash = |selector: Option<std::collections::BTreeMap<String, String>>| {
        selector
            .unwrap_or_default()
            .get("pod-template-hash")
            .cloned()
    };
    assert_eq!(
        hash(selector(&client, &ns, "echoserver").await),
        Some(stable_revision),
        "the stable Service is pinned to the old pods"
    );
    assert_eq!(
        hash(selector(&client, &ns, "echoserver-canary").await),
        Some(canary_revision),
        "the canary Service selects the new pods"
    );

    approve(&ns, "rollouts-cloneset");
    wait_row(
        &ns,
        "rollouts-cloneset",
        "Progressing",
        "2",
        "StepPaused",
        Some(&manual(2)),
    )
    .await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 3)],
    )
    .await;

    apply(&ns, &cloneset("version1"));
    wait_row(
        &ns,
        "rollouts-cloneset",
        "Healthy",
        "3",
        "Completed",
        Some("Rollout progressing has been cancelled"),
    )
    .await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    assert!(
        partition(&client, &ns)
            .await
            .as_i64()
            .is_none_or(|p| p == 0),
        "the partition is removed"
    );
}
