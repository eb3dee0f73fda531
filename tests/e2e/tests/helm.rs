//! Releases made the way platform teams deploy: `helm install/upgrade/rollback` of an
//! application chart (tests/fixtures/charts/echoserver) with the cluster's real Helm, and
//! server-side applies under other field managers (as KubeVela and Argo CD do). Each update is
//! intercepted and released in steps like a `kubectl apply`, Helm's own record stays truthful,
//! and our marks never make an apply fail with a field-ownership conflict.

use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;
use rollouts_e2e::*;
use serde_json::Value;

const NAME: &str = "rollouts-demo";

fn manual(step: u32) -> String {
    format!("Rollout is in step({step}/3), and you need manually confirm to enter the next step")
}

fn chart() -> String {
    repo_root()
        .join("tests/fixtures/charts/echoserver")
        .display()
        .to_string()
}

/// `helm <args> -n <ns>`, panicking with Helm's message when it fails.
fn helm(ns: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["-n", ns]);
    cluster()
        .helm(&all)
        .unwrap_or_else(|e| panic!("helm {all:?} failed: {e}"))
}

/// `(revision, status)` of each entry of `helm history`.
fn history(ns: &str) -> Vec<(i64, String)> {
    let json: Value = serde_json::from_str(&helm(ns, &["history", "app", "-o", "json"])).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["revision"].as_i64().unwrap(),
                e["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn helm_upgrade_is_released_in_steps_and_helm_rollback_takes_the_fast_rollback_path() {
    let (client, ns) = release_namespace("helm").await;
    let ns = ns.name.clone();
    let chart = chart();
    helm(
        &ns,
        &["install", "app", &chart, "--set", "version=version1"],
    );
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    let rollout = example("rollout-canary.yaml").replace("duration: 60", "duration: 3");
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;

    // `--wait` returns once the upgrade is applied: the frozen Deployment counts as ready (Helm
    // treats a paused Deployment so), while the Rollout holds the release at step 1.
    let started = std::time::Instant::now();
    helm(
        &ns,
        &[
            "upgrade",
            "app",
            &chart,
            "--set",
            "version=version2",
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    wait_row(
        &ns,
        NAME,
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
        &[("version1", 5), ("version2", 1)],
    )
    .await;
    assert_eq!(
        history(&ns),
        vec![(1, "superseded".into()), (2, "deployed".into())]
    );
    let status: Value = serde_json::from_str(&helm(&ns, &["status", "app", "-o", "json"])).unwrap();
    assert_eq!(status["info"]["status"], "deployed");
    assert_eq!(status["version"], 2);

    // Helm's rollback re-applies version1: the release is cancelled at once.
    helm(&ns, &["rollback", "app", "1"]);
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
    assert_eq!(
        history(&ns),
        vec![
            (1, "superseded".into()),
            (2, "superseded".into()),
            (3, "deployed".into())
        ]
    );
    let deployment = workload(&client, &ns, "apps/v1", "Deployment", "echoserver").await;
    assert_ne!(deployment["spec"]["paused"], true, "given back");
}

/// `kubectl apply --server-side` of `yaml` as field manager `manager`.
fn server_side_apply(ns: &str, yaml: &str, manager: &str, force: bool) -> Result<String, String> {
    let manager = format!("--field-manager={manager}");
    let mut args = vec![
        "apply",
        "--server-side",
        manager.as_str(),
        "-n",
        ns,
        "-f",
        "-",
    ];
    if force {
        args.push("--force-conflicts");
    }
    cluster().kubectl_with_input(&args, yaml)
}

#[tokio::test]
async fn server_side_applies_of_other_field_managers_are_released_without_conflicts() {
    let (client, ns) = release_namespace("ssa").await;
    let ns = ns.name.clone();
    server_side_apply(&ns, &echoserver("version1", 5), "kubevela", false).unwrap();
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    let rollout = example("rollout-partition.yaml").replace("pause: {duration: 60}", "pause: {}");
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;

    // A new version by KubeVela's field manager, without forcing: intercepted, no conflict.
    server_side_apply(&ns, &echoserver("version2", 5), "kubevela", false)
        .unwrap_or_else(|e| panic!("the apply must not conflict with our marks: {e}"));
    wait_paused(&ns, NAME, 1, 3).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;
    // The same version again while we hold the Deployment in a batch: still no conflict.
    server_side_apply(&ns, &echoserver("version2", 5), "kubevela", false)
        .unwrap_or_else(|e| panic!("re-applying mid-release must not conflict: {e}"));
    // Argo CD's manager, forcing: the release goes on from where it is.
    server_side_apply(&ns, &echoserver("version2", 5), "argocd-controller", true).unwrap();
    wait_paused(&ns, NAME, 1, 3).await;
    approve(&ns, NAME);
    wait_paused(&ns, NAME, 2, 3).await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    // Afterwards the last applier applies again without forcing: nothing of ours is in its way.
    server_side_apply(&ns, &echoserver("version2", 5), "argocd-controller", false)
        .unwrap_or_else(|e| panic!("after the release: {e}"));
}

#[tokio::test]
async fn helm_wait_on_a_partition_style_release_never_disturbs_it() {
    let (client, ns) = release_namespace("helm-wait").await;
    let ns = ns.name.clone();
    let chart = chart();
    let v1 = "version=version1,ingress.enabled=false";
    helm(&ns, &["install", "app", &chart, "--set", v1]);
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    let rollout = example("rollout-partition.yaml").replace("pause: {duration: 60}", "pause: {}");
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;

    // The Deployment replaces its own pods batch by batch: Helm's --wait sees it ready while the
    // webhook has it paused, or else waits for a fully updated Deployment and gives up. Either
    // way Helm only reports; the release is the Rollout's.
    let v2 = "version=version2,ingress.enabled=false";
    let args = [
        "upgrade",
        "app",
        &chart,
        "--set",
        v2,
        "--wait",
        "--timeout",
        "10s",
        "-n",
        &ns,
    ];
    match cluster().helm(&args) {
        Ok(out) => assert!(out.contains("STATUS: deployed"), "{out}"),
        Err(error) => assert!(
            error.contains("context deadline exceeded") || error.contains("timed out"),
            "{error}"
        ),
    }
    wait_paused(&ns, NAME, 1, 3).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;
    approve(&ns, NAME);
    wait_paused(&ns, NAME, 2, 3).await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}
