//! Releases of the seed's echoserver Deployment with the real webhook and controller
//!: the partition style
//! in place, the canary style with an extra Deployment, approval by status patch and by
//! annotation, rollback, continuous release, disable and delete mid-release.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use rollouts_e2e::release::*;
use rollouts_e2e::*;

const NAME: &str = "rollouts-demo";
const MANUAL_1: &str =
    "Rollout is in step(1/3), and you need manually confirm to enter the next step";

/// The seed's partition Rollout with its 60 s pauses shortened to `seconds`.
fn partition_rollout(seconds: u32) -> String {
    example("rollout-partition.yaml").replace("duration: 60", &format!("duration: {seconds}"))
}

/// The seed's plan in the canary style (no rolling-style annotation), no traffic routing.
fn canary_rollout(seconds: u32) -> String {
    partition_rollout(seconds).replace(
        "  annotations:\n    rollouts.kruise.io/rolling-style: partition\n",
        "",
    )
}

/// Deploys echoserver v1 (5 pods) and the Rollout, and waits for the seed's first table row.
async fn deploy(client: &kube::Client, ns: &str, rollout: &str) {
    apply(ns, &echoserver("version1", 5));
    apply(ns, rollout);
    wait_webhook_sees(ns, rollout).await;
    wait_pods(client, ns, "echoserver", &[("version1", 5)]).await;
    wait_row(
        ns,
        NAME,
        "Healthy",
        "3",
        "Completed",
        Some("workload deployment is completed"),
    )
    .await;
}

/// Annotations and labels on the Deployment, for "nothing of ours is left" checks.
async fn release_marks(deployments: &Api<Deployment>) -> Vec<String> {
    let d = deployments.get("echoserver").await.unwrap();
    let annotations = d.metadata.annotations.unwrap_or_default();
    let labels = d.metadata.labels.unwrap_or_default();
    annotations
        .keys()
        .chain(labels.keys())
        .filter(|k| {
            k.starts_with("rollouts.kruise.io/") && *k != "rollouts.kruise.io/workload-type"
        })
        .cloned()
        .collect()
}

/// The Deployment is back in its own hands: unpaused, its original strategy, no marks.
async fn assert_given_back(deployments: &Api<Deployment>) {
    let d = deployments.get("echoserver").await.unwrap();
    let spec = &d.spec;
    assert_ne!(spec.paused, Some(true), "the Deployment is unpaused");
    let strategy = serde_json::to_value(&spec.strategy).unwrap();
    assert_eq!(
        strategy,
        serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        "the original strategy is back"
    );
    assert_eq!(
        spec.min_ready_seconds.unwrap_or(0),
        0,
        "minReadySeconds is back"
    );
    assert_eq!(spec.progress_deadline_seconds, Some(600));
    assert_eq!(
        release_marks(deployments).await,
        Vec::<String>::new(),
        "no release marks are left"
    );
}

fn succeeded(ns: &str) -> String {
    cluster().kubectl(&[
        "get",
        "rollout",
        NAME,
        "-n",
        ns,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Succeeded\")].status}",
    ])
}

#[tokio::test]
async fn seed_partition_release_steps_through_1_then_50_then_100_percent_in_place() {
    let (client, ns) = release_namespace("partition").await;
    let ns = ns.name.clone();
    deploy(&client, &ns, &partition_rollout(3)).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);

    apply(&ns, &echoserver("version2", 5));
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", Some(MANUAL_1)).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;
    let row = rollout_row(&ns, NAME);
    assert_eq!(
        row.keys().map(String::as_str).collect::<Vec<_>>().len(),
        ROLLOUT_COLUMNS.len(),
        "{row:?}"
    );
    assert_eq!(
        deployments
            .get("echoserver")
            .await
            .unwrap()
            .spec
            .strategy
            .and_then(|s| s.type_)
            .as_deref(),
        Some("RollingUpdate"),
        "the strategy type is never switched to Recreate"
    );

    approve(&ns, NAME);
    wait_row(
        &ns,
        NAME,
        "Progressing",
        "2",
        "StepPaused",
        Some("Rollout is in step(2/3), and wait duration(3 seconds) to enter the next step"),
    )
    .await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 3)],
    )
    .await;

    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    assert_eq!(succeeded(&ns), "True");
    assert_given_back(&deployments).await;
}

#[tokio::test]
async fn canary_style_release_runs_an_extra_deployment_and_keeps_stable_pods_until_the_end() {
    let (client, ns) = release_namespace("canary").await;
    let ns = ns.name.clone();
    deploy(&client, &ns, &canary_rollout(3)).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let stable_pods = pod_names(&client, &ns, "version1").await;

    apply(&ns, &echoserver("version2", 5));
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", Some(MANUAL_1)).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 1)],
    )
    .await;
    assert_eq!(canary_replicas(&deployments).await, vec![1]);
    assert_eq!(
        pod_names(&client, &ns, "version1").await,
        stable_pods,
        "stable pods untouched"
    );

    approve(&ns, NAME);
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", None).await;
    assert_eq!(canary_replicas(&deployments).await, vec![3]);
    assert_eq!(
        pod_names(&client, &ns, "version1").await,
        stable_pods,
        "stable pods untouched"
    );

    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    assert_eq!(
        canary_replicas(&deployments).await,
        Vec::<i32>::new(),
        "canary Deployment deleted"
    );
    assert_eq!(succeeded(&ns), "True");
    let d = deployments.get("echoserver").await.unwrap();
    assert_ne!(d.spec.paused, Some(true));
    assert_eq!(release_marks(&deployments).await, Vec::<String>::new());
}

async fn pod_names(client: &kube::Client, ns: &str, version: &str) -> Vec<String> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut names: Vec<String> = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            serde_json::to_string(&p.spec)
                .unwrap()
                .contains(&format!("\"{version}\""))
        })
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

async fn canary_replicas(deployments: &Api<Deployment>) -> Vec<i32> {
    let list = deployments
        .list(
            &kube::api::ListParams::default()
                .labels("rollouts.kruise.io/canary-deployment=echoserver"),
        )
        .await
        .unwrap();
    list.items.iter().filter_map(|d| d.spec.replicas).collect()
}

/// Starts a partition release of v2 and waits for step 1 to pause (1 new pod).
async fn release_v2_to_step_1(client: &kube::Client, ns: &str) {
    deploy(client, ns, &partition_rollout(3)).await;
    apply(ns, &echoserver("version2", 5));
    wait_row(ns, NAME, "Progressing", "1", "StepPaused", Some(MANUAL_1)).await;
    wait_pods(
        client,
        ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;
}

#[tokio::test]
async fn approval_by_annotation_approves_that_step_only() {
    let (client, ns) = release_namespace("annotation").await;
    let ns = ns.name.clone();
    let manual_every_step = partition_rollout(3).replace("pause: {duration: 3}", "pause: {}");
    deploy(&client, &ns, &manual_every_step).await;
    apply(&ns, &echoserver("version2", 5));
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", Some(MANUAL_1)).await;

    cluster().kubectl(&[
        "annotate",
        "rollout",
        NAME,
        "-n",
        &ns,
        "rollouts.kruise.io/approved-step=1",
    ]);
    let manual_2 = "Rollout is in step(2/3), and you need manually confirm to enter the next step";
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", Some(manual_2)).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 3)],
    )
    .await;
    // The stale value "1" must not approve step 2: watch for a few reconcile periods.
    let window = std::time::Instant::now();
    while window.elapsed() < std::time::Duration::from_secs(8) {
        let row = rollout_row(&ns, NAME);
        assert_eq!(row["CANARY_STEP"], "2", "{row:?}");
        assert_eq!(row["CANARY_STATE"], "StepPaused", "{row:?}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    cluster().kubectl(&[
        "annotate",
        "--overwrite",
        "rollout",
        NAME,
        "-n",
        &ns,
        "rollouts.kruise.io/approved-step=2",
    ]);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}

#[tokio::test]
async fn reapplying_the_old_version_cancels_the_release_and_keeps_stable_pods() {
    let (client, ns) = release_namespace("rollback").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;
    let stable_pods = pod_names(&client, &ns, "version1").await;
    assert_eq!(stable_pods.len(), 4);

    apply(&ns, &echoserver("version1", 5));
    wait_row(
        &ns,
        NAME,
        "Healthy",
        "3",
        "Completed",
        Some("Rollout progressing has been cancelled"),
    )
    .await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    assert_eq!(succeeded(&ns), "False");
    let after: Vec<String> = pod_names(&client, &ns, "version1").await;
    assert!(
        stable_pods.iter().all(|p| after.contains(p)),
        "stable pods survive: {stable_pods:?} {after:?}"
    );
    assert_given_back(&Api::namespaced(client.clone(), &ns)).await;
}

#[tokio::test]
async fn a_newer_version_mid_release_restarts_at_step_1_and_keeps_the_stable_version() {
    let (client, ns) = release_namespace("continuous").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;

    apply(&ns, &echoserver("version3", 5));
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version3", 1)],
    )
    .await;
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", Some(MANUAL_1)).await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version3", 5)]).await;
    assert_given_back(&Api::namespaced(client.clone(), &ns)).await;
}

#[tokio::test]
async fn disabling_mid_release_gives_the_deployment_back_whole() {
    let (client, ns) = release_namespace("disable").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;

    cluster().kubectl(&[
        "patch",
        "rollout",
        NAME,
        "-n",
        &ns,
        "--type=merge",
        "-p",
        r#"{"spec":{"disabled":true}}"#,
    ]);
    wait_row(&ns, NAME, "Disabled", "", "", Some("Rollout is disabled")).await;
    assert_given_back(&Api::namespaced(client.clone(), &ns)).await;
    // Given back, the Deployment finishes the update under its own rolling strategy.
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}

#[tokio::test]
async fn deleting_the_rollout_mid_release_gives_the_deployment_back_whole() {
    let (client, ns) = release_namespace("delete").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;

    cluster().kubectl(&[
        "delete",
        "rollout",
        NAME,
        "-n",
        &ns,
        "--wait=true",
        "--timeout=60s",
    ]);
    assert_given_back(&Api::namespaced(client.clone(), &ns)).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}

#[tokio::test]
async fn a_rollout_waits_for_its_workload_and_picks_it_up_when_created() {
    let (client, ns) = release_namespace("notfound").await;
    let ns = ns.name.clone();
    apply(&ns, &partition_rollout(3));
    wait_for("status Workload Not Found", STEP_DEADLINE, || async {
        let row = rollout_row(&ns, NAME);
        match (row["STATUS"].as_str(), row["MESSAGE"].as_str()) {
            ("Initial", "Workload Not Found") => Ok(()),
            _ => Err(format!("{row:?}")),
        }
    })
    .await;
    apply(&ns, &echoserver("version1", 5));
    wait_row(
        &ns,
        NAME,
        "Healthy",
        "3",
        "Completed",
        Some("workload deployment is completed"),
    )
    .await;
    let d: Deployment = Api::namespaced(client.clone(), &ns)
        .get("echoserver")
        .await
        .unwrap();
    assert_eq!(
        d.metadata
            .labels
            .unwrap_or_default()
            .get("rollouts.kruise.io/workload-type")
            .map(String::as_str),
        Some("deployment"),
        "the controller labels referenced workloads so the webhook sees them"
    );
}

#[tokio::test]
async fn a_step_whose_pods_never_get_ready_is_reported_after_the_deadline_and_can_be_rolled_back() {
    let (client, ns) = release_namespace("deadline").await;
    let ns = ns.name.clone();
    let with_deadline = |version: &str, unready: bool| {
        let mut yaml = echoserver(version, 5).replace(
            "  replicas: 5\n",
            "  replicas: 5\n  progressDeadlineSeconds: 10\n",
        );
        if unready {
            yaml = yaml.replace(
                "    metadata:\n      labels:\n        app: echoserver\n",
                "    metadata:\n      annotations:\n        k8scluster.test/not-ready: \"true\"\n      labels:\n        app: echoserver\n",
            );
        }
        yaml
    };
    apply(&ns, &with_deadline("version1", false));
    apply(&ns, &partition_rollout(3));
    wait_webhook_sees(&ns, &partition_rollout(3)).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;

    apply(&ns, &with_deadline("version2", true));
    let message = wait_for("the deadline message", STEP_DEADLINE, || async {
        let row = rollout_row(&ns, NAME);
        match row["MESSAGE"].contains("not ready after") {
            true => Ok(row["MESSAGE"].clone()),
            false => Err(format!("{row:?}")),
        }
    })
    .await;
    assert!(message.starts_with("Rollout is in step(1/3), and upgrade workload to new version; step(1) wants 1 ready pod(s)"), "{message}");
    assert!(message.contains("echoserver-"), "names the pod: {message}");
    let condition = cluster().kubectl(&[
        "get", "rollout", NAME, "-n", &ns, "-o",
        "jsonpath={.status.conditions[?(@.type==\"Succeeded\")].reason}/{.status.conditions[?(@.type==\"Succeeded\")].status}",
    ]);
    assert_eq!(condition, "ProgressDeadlineExceeded/False");
    let events = cluster().kubectl(&[
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        "reason=ProgressDeadlineExceeded",
        "-o",
        "name",
    ]);
    assert!(!events.trim().is_empty(), "a Warning event is recorded");
    wait_pod_counts(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
        false,
    )
    .await;

    apply(&ns, &with_deadline("version1", false));
    wait_row(
        &ns,
        NAME,
        "Healthy",
        "3",
        "Completed",
        Some("Rollout progressing has been cancelled"),
    )
    .await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
}

#[tokio::test]
async fn scaling_the_deployment_mid_release_keeps_the_step_and_scales_the_next_batches() {
    let (client, ns) = release_namespace("scale").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns).await;

    cluster().kubectl(&["scale", "deployment/echoserver", "-n", &ns, "--replicas=10"]);
    let during = wait_for("10 ready pods after the scale", STEP_DEADLINE, || async {
        let pods = pods_by_version(&client, &ns, "echoserver").await;
        let total: usize = pods.values().sum();
        if total == 10 {
            Ok(pods)
        } else {
            Err(format!("{pods:?}"))
        }
    })
    .await;
    // Scaled proportionally by the Deployment controller, never beyond step 1's share of 10.
    assert!(during["version2"] <= 2, "{during:?}");
    let row = rollout_row(&ns, NAME);
    assert_eq!(
        (row["CANARY_STEP"].as_str(), row["CANARY_STATE"].as_str()),
        ("1", "StepPaused")
    );

    approve(&ns, NAME);
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", None).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 5)],
    )
    .await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 10)]).await;
}
