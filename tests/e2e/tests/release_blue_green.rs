//! Blue-green releases with Nginx traffic, for a Deployment and a CloneSet of 5 pods: step 1
//! brings all 5 new pods up beside the 5 old ones with 0% of the traffic (the canary Service
//! is there, a canary Ingress is not needed yet), step 2 sends 50%,
//! step 3 all; approving the last step lets the workload remove the old pods, then the routes
//! go. Rolling back takes traffic off the new pods first, then removes them; a newer version
//! mid-release is refused until rolled back; disabling gives the settings back.

use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;

const NAME: &str = "rollouts-bg";

fn rollout(api_version: &str, kind: &str) -> String {
    format!(
        r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: {NAME}
spec:
  workloadRef:
    apiVersion: {api_version}
    kind: {kind}
    name: echoserver
  strategy:
    blueGreen:
      steps:
      - replicas: 100%
        traffic: 0%
      - replicas: 100%
        traffic: 50%
      - replicas: 100%
        traffic: 100%
      trafficRoutings:
      - service: echoserver
        ingress:
          classType: nginx
          name: echoserver
"#
    )
}

/// A kind released blue-green.
struct Kind {
    api_version: &'static str,
    kind: &'static str,
    yaml: fn(&str) -> String,
}

const DEPLOYMENT: Kind = Kind {
    api_version: "apps/v1",
    kind: "Deployment",
    yaml: |version| echoserver(version, 5),
};

const CLONE_SET: Kind = Kind {
    api_version: "apps.kruise.io/v1alpha1",
    kind: "CloneSet",
    yaml: |version| echoserver_cloneset(version, 5),
};

fn weight(percent: &str) -> [(&'static str, String); 2] {
    [
        ("nginx.ingress.kubernetes.io/canary", "true".into()),
        ("nginx.ingress.kubernetes.io/canary-weight", percent.into()),
    ]
}

async fn wait_weight(client: &kube::Client, ns: &str, percent: &str) {
    let expected = weight(percent);
    let expected: Vec<(&str, &str)> = expected.iter().map(|(k, v)| (*k, v.as_str())).collect();
    wait_canary_annotations(client, ns, &expected).await;
}

/// What is left of the release on the workload: our annotations and labels, a pause, a
/// partition, the surge settings.
async fn leftovers(client: &kube::Client, ns: &str, kind: &Kind) -> Option<String> {
    let object = workload(client, ns, kind.api_version, kind.kind, "echoserver").await;
    let ours = |field: &str| -> Vec<String> {
        object["metadata"][field]
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| {
                        k.starts_with("rollouts.kruise.io/") && !k.ends_with("workload-type")
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    };
    let spec = &object["spec"];
    let min_ready = spec["minReadySeconds"].as_i64().unwrap_or(0);
    let paused = spec["paused"] == true || spec["updateStrategy"]["paused"] == true;
    let partition = spec["updateStrategy"]
        .get("partition")
        .filter(|p| !p.is_null() && p.as_i64() != Some(0));
    let marks = [ours("annotations"), ours("labels")].concat();
    match (marks.is_empty(), min_ready, paused, partition) {
        (true, 0, false, None) => None,
        _ => Some(format!(
            "marks {marks:?}, minReadySeconds {min_ready}, paused {paused}, partition {partition:?}"
        )),
    }
}

async fn wait_given_back(client: &kube::Client, ns: &str, kind: &Kind) {
    rollouts_e2e::wait_for("the workload given back", STEP_DEADLINE, || async {
        match leftovers(client, ns, kind).await {
            None => Ok(()),
            Some(problem) => Err(problem),
        }
    })
    .await;
}

/// Deploys v1 with the Ingress and the Rollout, then releases v2 up to step 1: every new pod
/// up beside the old ones, no traffic yet.
async fn release_v2_to_step_1(client: &kube::Client, ns: &str, kind: &Kind) {
    let rollout = rollout(kind.api_version, kind.kind);
    apply(ns, &(kind.yaml)("version1"));
    apply(ns, &example("echoserver-ingress-nginx.yaml"));
    apply(ns, &rollout);
    rollouts_e2e::wait_webhook_sees(ns, &rollout).await;
    wait_pods(client, ns, "echoserver", &[("version1", 5)]).await;
    wait_row(ns, NAME, "Healthy", "3", "Completed", None).await;

    apply(ns, &(kind.yaml)("version2"));
    wait_paused(ns, NAME, 1, 3).await;
    wait_pods(
        client,
        ns,
        "echoserver",
        &[("version1", 5), ("version2", 5)],
    )
    .await;
    // 0%: the canary Service selects the new pods, no canary Ingress is needed yet.
    rollouts_e2e::wait_for("the canary Service", STEP_DEADLINE, || async {
        match selector(client, ns, "echoserver-canary").await {
            Some(selector) if selector.contains_key("pod-template-hash") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(canary_annotations(client, ns).await, None);
    let stable = selector(client, ns, "echoserver").await.unwrap();
    assert!(
        stable.contains_key("pod-template-hash"),
        "pinned: {stable:?}"
    );
    assert_eq!(
        rollout_field(ns, NAME, ".status.canaryStatus"),
        "",
        "blue-green only"
    );
    assert_eq!(
        rollout_field(ns, NAME, ".status.blueGreenStatus.updatedReplicas"),
        "5"
    );
}

fn jump(ns: &str, step: u32) {
    let patch = format!(r#"{{"status":{{"blueGreenStatus":{{"nextStepIndex":{step}}}}}}}"#);
    rollouts_e2e::cluster().kubectl(&[
        "patch",
        "rollout",
        NAME,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

fn approve_blue_green(ns: &str) {
    rollouts_e2e::cluster().kubectl(&[
        "patch",
        "rollout",
        NAME,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"blueGreenStatus":{"currentStepState":"StepReady"}}}"#,
    ]);
}

async fn release_to_completion(kind: Kind, prefix: &str) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns, &kind).await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 2, 3).await;
    wait_weight(&client, &ns, "50").await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 3, 3).await;
    wait_weight(&client, &ns, "100").await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 5)],
    )
    .await;
    approve_blue_green(&ns);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_given_back(&client, &ns, &kind).await;
    let succeeded = ".status.conditions[?(@.type==\"Succeeded\")].status";
    assert_eq!(rollout_field(&ns, NAME, succeeded), "True");
}

#[tokio::test]
async fn deployment_blue_green_release_with_traffic_to_completion() {
    release_to_completion(DEPLOYMENT, "bg-deploy").await;
}

#[tokio::test]
async fn cloneset_blue_green_release_with_traffic_to_completion() {
    release_to_completion(CLONE_SET, "bg-cloneset").await;
}

async fn rollback_after_jumps(kind: Kind, prefix: &str) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns, &kind).await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 2, 3).await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 3, 3).await;
    wait_weight(&client, &ns, "100").await;
    // Back to step 2 and 1: traffic follows, the new pods stay.
    jump(&ns, 2);
    wait_paused(&ns, NAME, 2, 3).await;
    wait_weight(&client, &ns, "50").await;
    jump(&ns, 1);
    wait_paused(&ns, NAME, 1, 3).await;
    wait_weight(&client, &ns, "0").await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 5)],
    )
    .await;

    apply(&ns, &(kind.yaml)("version1"));
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_given_back(&client, &ns, &kind).await;
    let succeeded = ".status.conditions[?(@.type==\"Succeeded\")].status";
    assert_eq!(rollout_field(&ns, NAME, succeeded), "False");
}

#[tokio::test]
async fn deployment_blue_green_rollback_after_jumping_back() {
    rollback_after_jumps(DEPLOYMENT, "bg-deploy-back").await;
}

#[tokio::test]
async fn cloneset_blue_green_rollback_after_jumping_back() {
    rollback_after_jumps(CLONE_SET, "bg-cloneset-back").await;
}

async fn newer_version_refused_then_disabled(kind: Kind, prefix: &str) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns, &kind).await;
    apply(&ns, &(kind.yaml)("version3"));
    let refused = "new version releasing detected in the progress of blue-green release, please rollback first";
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", Some(refused)).await;
    let counts = pods_by_version(&client, &ns, "echoserver").await;
    assert_eq!(
        counts.get("version3"),
        None,
        "no pod of version 3: {counts:?}"
    );

    rollouts_e2e::cluster().kubectl(&[
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
    assert_traffic_cleaned(&client, &ns).await;
    wait_given_back(&client, &ns, &kind).await;
    // Given back, the workload rolls to the version applied last on its own.
    wait_pods(&client, &ns, "echoserver", &[("version3", 5)]).await;
}

#[tokio::test]
async fn deployment_blue_green_refuses_a_newer_version_then_disabling_gives_it_back() {
    newer_version_refused_then_disabled(DEPLOYMENT, "bg-deploy-v3").await;
}

#[tokio::test]
async fn cloneset_blue_green_refuses_a_newer_version_then_disabling_gives_it_back() {
    newer_version_refused_then_disabled(CLONE_SET, "bg-cloneset-v3").await;
}
