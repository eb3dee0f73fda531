//! Blue-green scenarios shared by the e2e tests: the Rollout (3 steps of 100% with 0%, 50% and
//! 100% of the traffic through Nginx), the workload kinds, approval and step jumps through
//! `blueGreenStatus`, and what must be left on the workload once it is given back.

use crate::release::*;
use crate::traffic::*;

/// The Rollout's name.
pub const NAME: &str = "rollouts-bg";

/// The blue-green Rollout of the echoserver workload of `kind`.
pub fn rollout(api_version: &str, kind: &str) -> String {
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
pub struct Kind {
    /// apiVersion of the workload.
    pub api_version: &'static str,
    /// Its kind.
    pub kind: &'static str,
    /// The workload at a version.
    pub yaml: fn(&str) -> String,
}

/// The echoserver Deployment.
pub const DEPLOYMENT: Kind = Kind {
    api_version: "apps/v1",
    kind: "Deployment",
    yaml: |version| echoserver(version, 5),
};

/// The echoserver CloneSet.
pub const CLONE_SET: Kind = Kind {
    api_version: "apps.kruise.io/v1alpha1",
    kind: "CloneSet",
    yaml: |version| echoserver_cloneset(version, 5),
};

/// The canary Ingress annotations for `percent` of the requests.
pub fn weight(percent: &str) -> [(&'static str, String); 2] {
    [
        ("nginx.ingress.kubernetes.io/canary", "true".into()),
        ("nginx.ingress.kubernetes.io/canary-weight", percent.into()),
    ]
}

/// Waits until the canary Ingress sends `percent` of the requests to the new pods.
pub async fn wait_weight(client: &kube::Client, ns: &str, percent: &str) {
    let expected = weight(percent);
    let expected: Vec<(&str, &str)> = expected.iter().map(|(k, v)| (*k, v.as_str())).collect();
    wait_canary_annotations(client, ns, &expected).await;
}

/// What is left of the release on the workload: our annotations and labels, a pause, a
/// partition, the surge settings.
pub async fn leftovers(client: &kube::Client, ns: &str, kind: &Kind) -> Option<String> {
    let object = workload(client, ns, kind.api_version, kind.kind, "echoserver").await;
    let ours = |field: &str| -> Vec<String> {
        object["metadata"][field]
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| {
                        k.starts_with(&format!("{}/", rollouts_api::keys::GROUP))
                            && k.as_str() != rollouts_api::keys::WORKLOAD_TYPE
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

/// Waits until nothing of the release is left on the workload ([`leftovers`]).
pub async fn wait_given_back(client: &kube::Client, ns: &str, kind: &Kind) {
    crate::wait_for("the workload given back", STEP_DEADLINE, || async {
        match leftovers(client, ns, kind).await {
            None => Ok(()),
            Some(problem) => Err(problem),
        }
    })
    .await;
}

/// Deploys v1 with the Ingress and the Rollout, then releases v2 up to step 1: every new pod
/// up beside the old ones, no traffic yet.
pub async fn release_v2_to_step_1(client: &kube::Client, ns: &str, kind: &Kind) {
    let rollout = rollout(kind.api_version, kind.kind);
    apply(ns, &(kind.yaml)("version1"));
    apply(ns, &example("echoserver-ingress-nginx.yaml"));
    apply(ns, &rollout);
    crate::wait_webhook_sees(ns, &rollout).await;
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
    crate::wait_for("the canary Service", STEP_DEADLINE, || async {
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

/// Merge-patches the Rollout's `status.blueGreenStatus` with `fields` (a JSON object).
fn patch_blue_green_status(ns: &str, fields: serde_json::Value) {
    let patch = serde_json::json!({"status": {"blueGreenStatus": fields}}).to_string();
    crate::cluster().kubectl(&[
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

/// Jumps to `step` (1-based) the way users do: a patched `nextStepIndex`.
pub fn jump(ns: &str, step: u32) {
    patch_blue_green_status(ns, serde_json::json!({"nextStepIndex": step}));
}

/// Approves the paused step as upstream's CLI does (a status merge patch).
pub fn approve_blue_green(ns: &str) {
    patch_blue_green_status(ns, serde_json::json!({"currentStepState": "StepReady"}));
}
