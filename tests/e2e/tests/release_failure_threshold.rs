//! `failureThreshold`: a step counts as done when all but that share of its new pods are Ready
//! (at least one must be). A CloneSet whose new pods start not Ready (the local cluster keeps a
//! pod annotated `k8scluster.test/not-ready: "true"` from getting Ready) stays in the step until
//! enough of them are made Ready by removing the annotation.

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use rollouts_e2e::release::*;

const NAME: &str = "rollouts-threshold";

/// 3 of 5 pods (60%) in step 1; half of the step's new pods may be not Ready.
const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-threshold
spec:
  workloadRef:
    apiVersion: apps.kruise.io/v1alpha1
    kind: CloneSet
    name: echoserver
  strategy:
    canary:
      failureThreshold: 50%
      steps:
      - replicas: 60%
      - replicas: 100%
"#;

/// The CloneSet at `version`; its new pods start not Ready when `unready`. Any number of pods
/// may be unavailable, so the CloneSet replaces the whole batch at once.
fn cloneset(version: &str, unready: bool) -> String {
    let mut yaml = echoserver_cloneset(version, 5).replacen(
        "spec:\n  replicas: 5\n",
        "spec:\n  replicas: 5\n  updateStrategy:\n    maxUnavailable: 100%\n",
        1,
    );
    if unready {
        yaml = yaml.replacen(
            "    metadata:\n      labels:\n        app: echoserver\n",
            "    metadata:\n      annotations:\n        k8scluster.test/not-ready: \"true\"\n      labels:\n        app: echoserver\n",
            1,
        );
    }
    yaml
}

/// Names of the pods of `version`, sorted.
async fn pods_of(client: &kube::Client, ns: &str, version: &str) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels("app=echoserver"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut names: Vec<String> = list
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| serde_json::to_string(&p.spec).is_ok_and(|s| s.contains(version)))
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    names
}

fn make_ready(ns: &str, pod: &str) {
    rollouts_e2e::cluster().kubectl(&[
        "annotate",
        "pod",
        pod,
        "-n",
        ns,
        "k8scluster.test/not-ready-",
    ]);
}

#[tokio::test]
async fn a_step_with_failure_threshold_proceeds_once_enough_new_pods_are_ready() {
    let (client, ns) = release_namespace("threshold").await;
    let ns = ns.name.clone();
    assert!(cloneset("version2", true).contains("not-ready"));
    apply(&ns, &cloneset("version1", false));
    apply(&ns, ROLLOUT);
    rollouts_e2e::wait_webhook_sees(&ns, ROLLOUT).await;
    wait_row(&ns, NAME, "Healthy", "2", "Completed", None).await;

    apply(&ns, &cloneset("version2", true));
    let counts = [("version1", 2), ("version2", 3)];
    wait_pod_counts(&client, &ns, "echoserver", &counts, false).await;
    let new_pods = pods_of(&client, &ns, "version2").await;
    assert_eq!(new_pods.len(), 3, "{new_pods:?}");
    wait_row(&ns, NAME, "Progressing", "1", "StepUpgrade", None).await;
    assert_eq!(
        rollout_field(&ns, NAME, ".status.canaryStatus.canaryReadyReplicas"),
        "0"
    );

    // One Ready pod of 3: the two others are within the threshold (ceil(50% of 3) = 2).
    make_ready(&ns, &new_pods[0]);
    wait_paused(&ns, NAME, 1, 2).await;
    assert_eq!(
        rollout_field(&ns, NAME, ".status.canaryStatus.canaryReadyReplicas"),
        "1"
    );
    approve(&ns, NAME);
    // Step 2 wants all 5 with at most 3 not Ready: the last step completes the release.
    rollouts_e2e::wait_for("5 pods of version 2", STEP_DEADLINE, || async {
        let pods = pods_of(&client, &ns, "version2").await;
        match pods.len() {
            5 => Ok(pods),
            n => Err(format!("{n}")),
        }
    })
    .await;
    for pod in pods_of(&client, &ns, "version2").await {
        make_ready(&ns, &pod);
    }
    wait_row(&ns, NAME, "Healthy", "2", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}
