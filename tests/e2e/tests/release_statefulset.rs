//! A StatefulSet released through its partition: 4 replicas in steps
//! of 1, 50% and 100%, highest ordinals first, the partition removed at the end.

use k8s_openapi::api::apps::v1::StatefulSet;
use kube::Api;
use rollouts_e2e::release::*;

const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-sts
spec:
  workloadRef:
    apiVersion: apps/v1
    kind: StatefulSet
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 1
      - replicas: 50%
      - replicas: 100%
"#;

fn statefulset(version: &str) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: echoserver
spec:
  serviceName: echoserver
  replicas: 4
  selector:
    matchLabels:
      app: echoserver
  template:
    metadata:
      labels:
        app: echoserver
    spec:
      containers:
      - name: echoserver
        image: openkruise-registry.cn-shanghai.cr.aliyuncs.com/openkruise/demo:1.10.2
        env:
        - name: NODE_NAME
          value: {version}
"#
    )
}

/// Versions of pods echoserver-0..3, in ordinal order.
async fn versions_by_ordinal(client: &kube::Client, ns: &str) -> Vec<String> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    for ordinal in 0..4 {
        let version = match pods
            .get_opt(&format!("echoserver-{ordinal}"))
            .await
            .ok()
            .flatten()
        {
            Some(pod) => serde_json::to_string(&pod.spec)
                .ok()
                .and_then(|s| {
                    ["version1", "version2"]
                        .into_iter()
                        .find(|v| s.contains(v))
                        .map(String::from)
                })
                .unwrap_or_default(),
            None => String::new(),
        };
        out.push(version);
    }
    out
}

#[tokio::test]
async fn statefulset_partition_release_updates_highest_ordinals_first_in_three_steps() {
    let (client, ns) = release_namespace("sts").await;
    let ns = ns.name.clone();
    apply(&ns, &statefulset("version1"));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 4)]).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;

    apply(&ns, &statefulset("version2"));
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
        versions_by_ordinal(&client, &ns).await,
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
        versions_by_ordinal(&client, &ns).await,
        ["version1", "version1", "version2", "version2"]
    );

    approve(&ns, "rollouts-sts");
    wait_row(&ns, "rollouts-sts", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 4)]).await;
    let sts: StatefulSet = Api::namespaced(client.clone(), &ns)
        .get("echoserver")
        .await
        .unwrap();
    let partition = sts
        .spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition);
    assert_eq!(partition.unwrap_or(0), 0, "the partition is removed");
    let annotations = sts.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("rollouts.kruise.io/in-progressing"));
}
