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

fn cloneset(version: &str) -> String {
    echoserver_cloneset(version, 5)
}

/// Waits until the CloneSet's Rollout pauses at `step` of 3 for approval.
async fn paused_at(ns: &str, step: u32) {
    wait_paused(ns, "rollouts-cloneset", step, 3).await;
}

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
    paused_at(&ns, 1).await;
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
    paused_at(&ns, 2).await;
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
    rollout_field(ns, "rollouts-cloneset", path)
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
    paused_at(&ns, 1).await;
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
    paused_at(&ns, 2).await;
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

/// Waits until `version` runs on exactly `count` of the 5 pods (the rest on any older version).
async fn wait_version_count(client: &kube::Client, ns: &str, version: &str, count: usize) {
    rollouts_e2e::wait_for(
        &format!("{count} of 5 pods on {version}"),
        STEP_DEADLINE,
        || async {
            let seen = pods_by_version(client, ns, "echoserver").await;
            let total: usize = seen.values().sum();
            match (seen.get(version).copied().unwrap_or(0), total) {
                (n, 5) if n == count => Ok(()),
                _ => Err(format!("{seen:?}")),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_newer_version_mid_release_restarts_the_cloneset_release_at_step_one() {
    let (client, ns) = release_namespace("cloneset-v3").await;
    let ns = ns.name.clone();
    apply(&ns, &cloneset("version1"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;

    apply(&ns, &cloneset("version2"));
    paused_at(&ns, 1).await;
    approve(&ns, "rollouts-cloneset");
    paused_at(&ns, 2).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 3)],
    )
    .await;
    let stable = status_field(&ns, ".status.canaryStatus.stableRevision");
    let v2 = status_field(&ns, ".status.canaryStatus.canaryRevision");

    apply(&ns, &cloneset("version3"));
    paused_at(&ns, 1).await;
    wait_version_count(&client, &ns, "version3", 1).await;
    let v3 = status_field(&ns, ".status.canaryStatus.canaryRevision");
    assert_ne!(v3, v2, "the release follows the newest version");
    assert_eq!(
        status_field(&ns, ".status.canaryStatus.stableRevision"),
        stable,
        "the stable revision stays the one that was running before"
    );

    approve(&ns, "rollouts-cloneset");
    paused_at(&ns, 2).await;
    wait_version_count(&client, &ns, "version3", 3).await;
    approve(&ns, "rollouts-cloneset");
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version3", 5)]).await;
}

/// Name and image of every pod of echoserver, sorted by name, once all are Ready.
async fn pod_images(client: &kube::Client, ns: &str) -> Vec<(String, String)> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: kube::Api<Pod> = kube::Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&kube::api::ListParams::default().labels("app=echoserver"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut out: Vec<(String, String)> = list
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            let image = p
                .spec
                .iter()
                .flat_map(|s| s.containers.iter())
                .filter_map(|c| c.image.clone())
                .collect::<String>();
            (p.metadata.name.clone().unwrap_or_default(), image)
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn in_place_updates_keep_every_pod_and_change_only_the_released_ones() {
    let (client, ns) = release_namespace("cloneset-inplace").await;
    let ns = ns.name.clone();
    let in_place = |image: &str| {
        cloneset("version1")
            .replacen(
                "  selector:",
                "  updateStrategy:\n    type: InPlaceIfPossible\n  selector:",
                1,
            )
            .replace("openkruise/demo:1.10.2", image)
    };
    apply(&ns, &in_place("openkruise/demo:1.10.2"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    let before = pod_images(&client, &ns).await;
    assert_eq!(before.len(), 5);

    apply(&ns, &in_place("openkruise/demo:1.10.3"));
    paused_at(&ns, 1).await;
    let after = pod_images(&client, &ns).await;
    let names = |pods: &[(String, String)]| pods.iter().map(|p| p.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&after),
        names(&before),
        "updated in place: no pod replaced"
    );
    let updated = after.iter().filter(|p| p.1.ends_with(":1.10.3")).count();
    assert_eq!(updated, 1, "{after:?}");

    approve(&ns, "rollouts-cloneset");
    paused_at(&ns, 2).await;
    approve(&ns, "rollouts-cloneset");
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    let done = pod_images(&client, &ns).await;
    assert_eq!(names(&done), names(&before), "still no pod replaced");
    assert!(done.iter().all(|p| p.1.ends_with(":1.10.3")), "{done:?}");
}

/// The CloneSet carries nothing of the release: no partition (OpenKruise shows 0), not paused,
/// no release mark.
async fn assert_given_back(client: &kube::Client, ns: &str) {
    rollouts_e2e::wait_for("the CloneSet given back", STEP_DEADLINE, || async {
        let cloneset = workload(
            client,
            ns,
            "apps.kruise.io/v1alpha1",
            "CloneSet",
            "echoserver",
        )
        .await;
        let strategy = &cloneset["spec"]["updateStrategy"];
        let partitioned = strategy
            .get("partition")
            .is_some_and(|p| !p.is_null() && p.as_i64() != Some(0));
        let marked = cloneset
            .pointer("/metadata/annotations/rollouts.kruise.io~1in-progressing")
            .is_some();
        match (
            partitioned,
            strategy["paused"] == serde_json::json!(true),
            marked,
        ) {
            (false, false, false) => Ok(()),
            _ => Err(format!("{strategy} marked: {marked}")),
        }
    })
    .await;
}

async fn release_v2_to_step_1(client: &kube::Client, ns: &str) {
    apply(ns, &cloneset("version1"));
    apply(ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(ns, ROLLOUT).await;
    wait_row(ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    apply(ns, &cloneset("version2"));
    paused_at(ns, 1).await;
    wait_pods(
        client,
        ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;
}

#[tokio::test]
async fn scaling_mid_release_keeps_the_step_share_then_disabling_gives_the_cloneset_back() {
    let (client, ns) = release_namespace("cloneset-scale").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;

    rollouts_e2e::cluster().kubectl(&[
        "scale",
        "-n",
        &ns,
        "clonesets.apps.kruise.io/echoserver",
        "--replicas=10",
    ]);
    // Step 1 asks for 20%: of 10 pods, 2 on the new version.
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 8), ("version2", 2)],
    )
    .await;
    let row = rollout_row(&ns, "rollouts-cloneset");
    assert_eq!(row["CANARY_STEP"], "1", "{row:?}");

    rollouts_e2e::cluster().kubectl(&[
        "patch",
        "rollout",
        "rollouts-cloneset",
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"disabled":true}}"#,
    ]);
    wait_row(
        &ns,
        "rollouts-cloneset",
        "Disabled",
        "",
        "",
        Some("Rollout is disabled"),
    )
    .await;
    assert_given_back(&client, &ns).await;
    // Given back, the CloneSet finishes the update under its own strategy.
    wait_pods(&client, &ns, "echoserver", &[("version2", 10)]).await;
}

#[tokio::test]
async fn deleting_the_rollout_mid_release_gives_the_cloneset_back() {
    let (client, ns) = release_namespace("cloneset-delete").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;
    rollouts_e2e::cluster().kubectl(&[
        "delete",
        "rollout",
        "rollouts-cloneset",
        "-n",
        &ns,
        "--wait=true",
        "--timeout=60s",
    ]);
    assert_given_back(&client, &ns).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}

/// The CloneSet at `version` with the label `rollouts.kruise.io/rollout-id: "1"`.
fn labelled(version: &str) -> String {
    cloneset(version).replacen(
        "  labels:\n    app: echoserver\n",
        "  labels:\n    app: echoserver\n    rollouts.kruise.io/rollout-id: \"1\"\n",
        1,
    )
}

#[tokio::test]
async fn pods_carry_the_rollout_id_and_the_batch_that_released_them() {
    let (client, ns) = release_namespace("cloneset-batch").await;
    let ns = ns.name.clone();
    assert!(labelled("version1").contains("rollout-id"));
    apply(&ns, &labelled("version1"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    assert!(
        pods_per_batch(&client, &ns, "1").await.is_empty(),
        "no release, no labels"
    );

    apply(&ns, &labelled("version2"));
    paused_at(&ns, 1).await;
    wait_batches(&client, &ns, "1", &[("1", 1)]).await;
    approve(&ns, "rollouts-cloneset");
    paused_at(&ns, 2).await;
    wait_batches(&client, &ns, "1", &[("1", 1), ("2", 2)]).await;
    approve(&ns, "rollouts-cloneset");
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    wait_batches(&client, &ns, "1", &[("1", 1), ("2", 2), ("3", 2)]).await;
}

#[tokio::test]
async fn a_patched_next_step_index_jumps_from_step_one_to_the_last_step() {
    let (client, ns) = release_namespace("cloneset-jump").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;
    rollouts_e2e::cluster().kubectl(&[
        "patch",
        "rollout",
        "rollouts-cloneset",
        "-n",
        &ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"canaryStatus":{"nextStepIndex":3}}}"#,
    ]);
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    assert_given_back(&client, &ns).await;
}

#[tokio::test]
async fn scaling_mid_release_fills_each_batch_to_its_share_of_the_new_size() {
    let (client, ns) = release_namespace("cloneset-batch-scale").await;
    let ns = ns.name.clone();
    apply(&ns, &labelled("version1"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    apply(&ns, &labelled("version2"));
    paused_at(&ns, 1).await;
    approve(&ns, "rollouts-cloneset");
    paused_at(&ns, 2).await;
    wait_batches(&client, &ns, "1", &[("1", 1), ("2", 2)]).await;

    // Of 10 pods, step 1 (20%) plans 2 and step 2 (60%) 6: one more pod for batch 1, two for 2.
    rollouts_e2e::cluster().kubectl(&[
        "scale",
        "-n",
        &ns,
        "clonesets.apps.kruise.io/echoserver",
        "--replicas=10",
    ]);
    wait_batches(&client, &ns, "1", &[("1", 2), ("2", 4)]).await;
    approve(&ns, "rollouts-cloneset");
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    wait_batches(&client, &ns, "1", &[("1", 2), ("2", 4), ("3", 4)]).await;
}

#[tokio::test]
async fn a_changed_rollout_id_relabels_the_released_pods_under_the_new_id() {
    let (client, ns) = release_namespace("cloneset-batch-id").await;
    let ns = ns.name.clone();
    apply(&ns, &labelled("version1"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    apply(&ns, &labelled("version2"));
    paused_at(&ns, 1).await;
    wait_batches(&client, &ns, "1", &[("1", 1)]).await;

    rollouts_e2e::cluster().kubectl(&[
        "label",
        "-n",
        &ns,
        "clonesets.apps.kruise.io/echoserver",
        "rollouts.kruise.io/rollout-id=2",
        "--overwrite",
    ]);
    rollouts_e2e::wait_for(
        "the released pod relabelled with id 2",
        STEP_DEADLINE,
        || async {
            let seen = pods_per_batch(&client, &ns, "2").await;
            match seen.get("1") {
                Some(1) => Ok(()),
                _ => Err(format!("{seen:?}")),
            }
        },
    )
    .await;
    paused_at(&ns, 1).await;
    approve(&ns, "rollouts-cloneset");
    paused_at(&ns, 2).await;
    approve(&ns, "rollouts-cloneset");
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    let batches = pods_per_batch(&client, &ns, "2").await;
    assert_eq!(
        batches,
        [("1", 1), ("2", 2), ("3", 2)]
            .into_iter()
            .map(|(b, n)| (b.to_string(), n))
            .collect(),
        "every released pod under id 2"
    );
    assert!(
        pods_per_batch(&client, &ns, "1").await.is_empty(),
        "no pod keeps id 1"
    );
}

#[tokio::test]
async fn a_changed_plan_mid_release_resizes_the_current_step() {
    let (client, ns) = release_namespace("cloneset-plan").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;
    // Step 1 now asks for 40% instead of 20%: 2 of the 5 pods.
    apply(&ns, &ROLLOUT.replacen("replicas: 20%", "replicas: 40%", 1));
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 3), ("version2", 2)],
    )
    .await;
    paused_at(&ns, 1).await;
    assert_eq!(partition(&client, &ns).await, serde_json::json!("60%"));
    approve(&ns, "rollouts-cloneset");
    paused_at(&ns, 2).await;
    approve(&ns, "rollouts-cloneset");
    wait_row(&ns, "rollouts-cloneset", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}
