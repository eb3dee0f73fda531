//! Rollback, disable and delete mid-release for the kinds released through their own update
//! strategy (native and Advanced StatefulSet, Advanced and native DaemonSet): re-applying the
//! old version puts every pod back on it (a StatefulSet at once, ending the release not
//! succeeded; a DaemonSet, whose old revision is not known, releases it again in steps as
//! upstream does); disabling or deleting the Rollout mid-release gives the workload back whole,
//! and its own strategy then finishes the update. Nothing of ours is left on the workload.

use rollouts_e2e::release::*;
use serde_json::Value;

const NAME: &str = "rollouts-give-back";

/// A workload kind under test.
struct Kind {
    api_version: &'static str,
    kind: &'static str,
    /// Its pods (3 DaemonSet pods: one per node of the local cluster).
    pods: usize,
    /// The workload at a version.
    yaml: fn(&str) -> String,
    /// Re-applying the old version is released in steps like a new one.
    rollback_in_steps: bool,
}

const STATEFUL_SET: Kind = Kind {
    api_version: "apps/v1",
    kind: "StatefulSet",
    pods: 4,
    yaml: |version| echoserver_statefulset("apps/v1", version, 4),
    rollback_in_steps: false,
};

const ADVANCED_STATEFUL_SET: Kind = Kind {
    api_version: "apps.kruise.io/v1beta1",
    kind: "StatefulSet",
    pods: 4,
    yaml: |version| echoserver_statefulset("apps.kruise.io/v1beta1", version, 4),
    rollback_in_steps: false,
};

const ADVANCED_DAEMON_SET: Kind = Kind {
    api_version: "apps.kruise.io/v1alpha1",
    kind: "DaemonSet",
    pods: 3,
    yaml: |version| echoserver_daemonset("apps.kruise.io/v1alpha1", version),
    rollback_in_steps: true,
};

const DAEMON_SET: Kind = Kind {
    api_version: "apps/v1",
    kind: "DaemonSet",
    pods: 3,
    yaml: |version| echoserver_daemonset("apps/v1", version),
    rollback_in_steps: true,
};

/// How the release is ended the second time.
#[derive(Clone, Copy, Debug)]
enum End {
    Disable,
    Delete,
}

fn rollout(kind: &Kind) -> String {
    format!(
        r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: {NAME}
spec:
  workloadRef:
    apiVersion: {}
    kind: {}
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 1
      - replicas: 2
      - replicas: 100%
"#,
        kind.api_version, kind.kind
    )
}

/// What is wrong with the workload for one given back whole, if anything: a partition, a
/// pause, our annotations, a strategy we changed.
fn leftovers(workload: &Value) -> Option<String> {
    let strategy = &workload["spec"]["updateStrategy"];
    let rolling = &strategy["rollingUpdate"];
    let partition = rolling
        .get("partition")
        .filter(|p| !p.is_null() && p.as_i64() != Some(0));
    let ours: Vec<&String> = workload
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.keys()
                .filter(|k| k.starts_with("rollouts.kruise.io/"))
                .collect()
        })
        .unwrap_or_default();
    let on_delete = strategy["type"] == "OnDelete";
    let paused = rolling["paused"] == true;
    match (partition, ours.is_empty(), on_delete, paused) {
        (None, true, false, false) => None,
        _ => Some(format!("strategy {strategy}, our annotations {ours:?}")),
    }
}

async fn wait_given_back(client: &kube::Client, ns: &str, kind: &Kind) {
    rollouts_e2e::wait_for(
        &format!("the {} given back", kind.kind),
        STEP_DEADLINE,
        || async {
            let object = workload(client, ns, kind.api_version, kind.kind, "echoserver").await;
            match leftovers(&object) {
                None => Ok(()),
                Some(problem) => Err(problem),
            }
        },
    )
    .await;
}

async fn release_v2_to_step_1(client: &kube::Client, ns: &str, kind: &Kind) {
    apply(ns, &(kind.yaml)("version2"));
    wait_paused(ns, NAME, 1, 3).await;
    let counts = [("version1", kind.pods - 1), ("version2", 1)];
    wait_pods(client, ns, "echoserver", &counts).await;
}

async fn rollback_then_end_mid_release(prefix: &str, kind: Kind, end: End) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    let rollout = rollout(&kind);
    apply(&ns, &(kind.yaml)("version1"));
    apply(&ns, &rollout);
    rollouts_e2e::wait_webhook_sees(&ns, &rollout).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", kind.pods)]).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;

    release_v2_to_step_1(&client, &ns, &kind).await;
    let revision = ".status.canaryStatus.canaryRevision";
    let releasing = rollout_field(&ns, NAME, revision);
    apply(&ns, &(kind.yaml)("version1"));
    if kind.rollback_in_steps {
        // Step 1 of version 2 looks the same until the controller sees version 1.
        rollouts_e2e::wait_for("the release of version 1", STEP_DEADLINE, || async {
            match rollout_field(&ns, NAME, revision) {
                now if now != releasing => Ok(()),
                now => Err(now),
            }
        })
        .await;
        // Step 1 (1 pod) and step 2 (2 pods) are met by the pods still on version 1.
        for step in [1, 2] {
            wait_paused(&ns, NAME, step, 3).await;
            approve(&ns, NAME);
        }
    }
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", kind.pods)]).await;
    let succeeded = ".status.conditions[?(@.type==\"Succeeded\")].status";
    let expected = match kind.rollback_in_steps {
        true => "True",
        false => "False",
    };
    assert_eq!(rollout_field(&ns, NAME, succeeded), expected, "rolled back");
    wait_given_back(&client, &ns, &kind).await;

    release_v2_to_step_1(&client, &ns, &kind).await;
    match end {
        End::Disable => disable_rollout(&ns, NAME).await,
        End::Delete => delete_rollout(&ns, NAME),
    }
    wait_given_back(&client, &ns, &kind).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", kind.pods)]).await;
}

#[tokio::test]
async fn statefulset_rolled_back_then_deleted_mid_release() {
    rollback_then_end_mid_release("back-sts", STATEFUL_SET, End::Delete).await;
}

#[tokio::test]
async fn advanced_statefulset_rolled_back_then_disabled_mid_release() {
    rollback_then_end_mid_release("back-asts", ADVANCED_STATEFUL_SET, End::Disable).await;
}

#[tokio::test]
async fn advanced_daemonset_rolled_back_then_deleted_mid_release() {
    rollback_then_end_mid_release("back-ads", ADVANCED_DAEMON_SET, End::Delete).await;
}

#[tokio::test]
async fn native_daemonset_rolled_back_then_disabled_mid_release() {
    rollback_then_end_mid_release("back-ds", DAEMON_SET, End::Disable).await;
}
