//! A StatefulSet, native and OpenKruise's Advanced StatefulSet, released through its partition:
//! 4 replicas in steps of 1, 50% and 100%, highest ordinals first, the partition removed at the
//! end.

use rollouts_e2e::release::*;

fn rollout(api_version: &str) -> String {
    format!(
        r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-sts
spec:
  workloadRef:
    apiVersion: {api_version}
    kind: StatefulSet
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 1
      - replicas: 50%
      - replicas: 100%
"#
    )
}

fn statefulset(api_version: &str, version: &str) -> String {
    echoserver_statefulset(api_version, version, 4)
}

#[tokio::test]
async fn statefulset_partition_release_updates_highest_ordinals_first_in_three_steps() {
    partition_release("apps/v1").await;
}

#[tokio::test]
async fn advanced_statefulset_partition_release_updates_highest_ordinals_first_in_three_steps() {
    partition_release("apps.kruise.io/v1beta1").await;
}

async fn partition_release(api_version: &str) {
    let (client, ns) = release_namespace("sts").await;
    let ns = ns.name.clone();
    apply(&ns, &statefulset(api_version, "version1"));
    let rollout = rollout(api_version);
    apply(&ns, &rollout);
    rollouts_e2e::wait_webhook_sees(&ns, &rollout).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 4)]).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;

    apply(&ns, &statefulset(api_version, "version2"));
    let manual = |i: u32| {
        format!("Rollout is in step({i}/3), and you need manually confirm to enter the next step")
    };
    wait_row(
        &ns,
        "rollouts-sts",
        "Progressing",
        "1",
        "StepPaused",
        Some(&manual(1)),
    )
    .await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 3), ("version2", 1)],
    )
    .await;
    assert_eq!(
        versions_by_ordinal(&client, &ns, 4).await,
        ["version1", "version1", "version1", "version2"]
    );
    let revisions = ("version1", "version2");
    let key = "controller-revision-hash";
    assert_status_revisions(&client, &ns, "rollouts-sts", key, revisions).await;

    approve(&ns, "rollouts-sts");
    wait_row(
        &ns,
        "rollouts-sts",
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
        &[("version1", 2), ("version2", 2)],
    )
    .await;
    assert_eq!(
        versions_by_ordinal(&client, &ns, 4).await,
        ["version1", "version1", "version2", "version2"]
    );

    approve(&ns, "rollouts-sts");
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 4)]).await;
    let sts = workload(&client, &ns, api_version, "StatefulSet", "echoserver").await;
    let partition = sts.pointer("/spec/updateStrategy/rollingUpdate/partition");
    assert!(
        partition.is_none_or(|p| p.as_i64() == Some(0)),
        "the partition is removed: {partition:?}"
    );
    let annotations = sts.pointer("/metadata/annotations");
    assert!(
        annotations.is_none_or(|a| a.get("rollouts.kruise.io/in-progressing").is_none()),
        "{annotations:?}"
    );
}

#[tokio::test]
async fn statefulset_newer_version_mid_release_restarts_at_step_one() {
    continuous_release("apps/v1").await;
}

#[tokio::test]
async fn advanced_statefulset_newer_version_mid_release_restarts_at_step_one() {
    continuous_release("apps.kruise.io/v1beta1").await;
}

/// v2 released to step 2 (ordinals 2 and 3), then v3: the release starts again at step 1 with
/// the highest ordinal on v3; the ordinals below the partition keep whatever they run.
async fn continuous_release(api_version: &str) {
    let (client, ns) = release_namespace("sts-v3").await;
    let ns = ns.name.clone();
    apply(&ns, &statefulset(api_version, "version1"));
    let rollout = rollout(api_version);
    apply(&ns, &rollout);
    rollouts_e2e::wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;
    let paused_at = |step: u32| wait_paused(&ns, "rollouts-sts", step, 3);
    let ordinals = |expected: [&'static str; 4]| {
        let (client, ns) = (client.clone(), ns.clone());
        async move {
            rollouts_e2e::wait_for(
                &format!("pods by ordinal {expected:?}"),
                STEP_DEADLINE,
                || async {
                    let seen = versions_by_ordinal(&client, &ns, 4).await;
                    match seen == expected {
                        true => Ok(()),
                        false => Err(format!("{seen:?}")),
                    }
                },
            )
            .await;
        }
    };

    apply(&ns, &statefulset(api_version, "version2"));
    paused_at(1).await;
    approve(&ns, "rollouts-sts");
    paused_at(2).await;
    ordinals(["version1", "version1", "version2", "version2"]).await;

    apply(&ns, &statefulset(api_version, "version3"));
    paused_at(1).await;
    ordinals(["version1", "version1", "version2", "version3"]).await;
    approve(&ns, "rollouts-sts");
    paused_at(2).await;
    ordinals(["version1", "version1", "version3", "version3"]).await;
    approve(&ns, "rollouts-sts");
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;
    ordinals(["version3", "version3", "version3", "version3"]).await;
}

#[tokio::test]
async fn statefulset_release_with_nginx_traffic_selects_pods_by_revision() {
    release_with_traffic("apps/v1").await;
}

#[tokio::test]
async fn advanced_statefulset_release_with_nginx_traffic_selects_pods_by_revision() {
    release_with_traffic("apps.kruise.io/v1beta1").await;
}

/// With an Ingress: the canary Service selects the new pods by `controller-revision-hash`
/// (the StatefulSet's update revision), the stable one the old pods; all removed at the end.
async fn release_with_traffic(api_version: &str) {
    use rollouts_e2e::traffic::*;
    let (client, ns) = release_namespace("sts-traffic").await;
    let ns = ns.name.clone();
    let service = example("echoserver.yaml");
    let service = &service[service.find("---").expect("the Service follows")..];
    apply(&ns, &statefulset(api_version, "version1"));
    apply(&ns, service);
    apply(&ns, &example("echoserver-ingress-nginx.yaml"));
    let rollout = rollout(api_version).replace(
        "      - replicas: 1\n",
        "      - replicas: 1\n        traffic: 20%\n        pause: {}\n",
    ) + "      trafficRoutings:\n      - service: echoserver\n        ingress:\n          name: echoserver\n";
    apply(&ns, &rollout);
    rollouts_e2e::wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;

    apply(&ns, &statefulset(api_version, "version2"));
    wait_paused(&ns, "rollouts-sts", 1, 3).await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "20"),
        ],
    )
    .await;
    let workload = workload(&client, &ns, api_version, "StatefulSet", "echoserver").await;
    let revision = |field: &str| {
        workload["status"][field]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let hash = |selector: Option<std::collections::BTreeMap<String, String>>| {
        selector
            .unwrap_or_default()
            .get("controller-revision-hash")
            .cloned()
    };
    assert_eq!(
        hash(selector(&client, &ns, "echoserver-canary").await),
        Some(revision("updateRevision")),
        "the canary Service selects the new pods"
    );
    assert_eq!(
        hash(selector(&client, &ns, "echoserver").await),
        Some(revision("currentRevision")),
        "the stable Service is pinned to the old pods"
    );
    approve(&ns, "rollouts-sts");
    wait_paused(&ns, "rollouts-sts", 2, 3).await;
    approve(&ns, "rollouts-sts");
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 4)]).await;
}
