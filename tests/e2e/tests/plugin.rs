//! The kubectl-kruise plugin binary itself against the local control plane: approve (and its
//! refusal outside StepPaused), pause and resume, status and status -w, undo, `kubectl kruise`
//! through kubectl's plugin mechanism, and one-line errors.

use rollouts_e2e::plugin::{plugin, plugin_path};
use rollouts_e2e::release::*;
use rollouts_e2e::*;
use std::process::Command;

const NAME: &str = "rollouts-demo";

fn manual_rollout() -> String {
    example("rollout-partition.yaml").replace("pause: {duration: 60}", "pause: {}")
}

async fn release_to_step_1(client: &kube::Client, ns: &str) {
    apply(ns, &echoserver("version1", 5));
    apply(ns, &manual_rollout());
    wait_webhook_sees(ns, &manual_rollout()).await;
    wait_pods(client, ns, "echoserver", &[("version1", 5)]).await;
    wait_row(ns, NAME, "Healthy", "3", "Completed", None).await;
    apply(ns, &echoserver("version2", 5));
    let manual = "Rollout is in step(1/3), and you need manually confirm to enter the next step";
    wait_row(ns, NAME, "Progressing", "1", "StepPaused", Some(manual)).await;
}

#[tokio::test]
async fn approve_pause_resume_and_status_drive_a_release_to_the_end() {
    let (client, ns) = release_namespace("plugin").await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver("version1", 5));
    apply(&ns, &manual_rollout());
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    let (code, _, err) = plugin(&["rollout", "approve", "rollouts/rollouts-demo", "-n", &ns]);
    assert_eq!(code, 1);
    assert!(err.starts_with("error: rollouts.rollouts.kruise.io \"rollouts-demo\" does not allow to approve, because current canary state is not 'StepPaused'"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    release_to_step_1(&client, &ns).await;
    let (code, out, _) = plugin(&["rollout", "status", "rollout/rollouts-demo", "-n", &ns]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Status:     Progressing\n") && out.contains("Step:       1/3  StepPaused\n"),
        "{out}"
    );
    assert!(
        out.contains("  ->1     1"),
        "the current step is marked: {out}"
    );

    let (code, out, err) = plugin(&["rollout", "approve", "rollouts/rollouts-demo", "-n", &ns]);
    assert_eq!(
        (code, out.trim()),
        (0, "rollout.rollouts.kruise.io/rollouts-demo approved"),
        "{err}"
    );
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", None).await;

    let (code, out, _) = plugin(&["rollout", "pause", NAME, "-n", &ns]);
    assert_eq!(
        (code, out.trim()),
        (0, "rollout.rollouts.kruise.io/rollouts-demo paused")
    );
    wait_for("the Paused reason", STEP_DEADLINE, || async {
        let row = rollout_row(&ns, NAME);
        match row["MESSAGE"].as_str() {
            "Rollout has been paused, you can resume it by kube-cli" => Ok(()),
            _ => Err(format!("{row:?}")),
        }
    })
    .await;
    let (code, out, _) = plugin(&["rollout", "resume", NAME, "-n", &ns]);
    assert_eq!(
        (code, out.trim()),
        (0, "rollout.rollouts.kruise.io/rollouts-demo resumed")
    );
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", None).await;

    plugin(&["rollout", "approve", NAME, "-n", &ns]);
    let (code, out, err) = plugin(&[
        "rollout",
        "status",
        NAME,
        "-n",
        &ns,
        "-w",
        "--timeout",
        "120",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("Healthy step 3/3 Completed"),
        "one line per change, ending Healthy: {out}"
    );
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}

#[tokio::test]
async fn undo_rolls_the_workload_back_to_its_stable_revision() {
    let (client, ns) = release_namespace("undo").await;
    let ns = ns.name.clone();
    release_to_step_1(&client, &ns).await;
    let (code, out, err) = plugin(&["rollout", "undo", "rollouts/rollouts-demo", "-n", &ns]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("rollout.rollouts.kruise.io/rollouts-demo: Deployment echoserver rolled back to its stable revision"), "{out}");
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
async fn undo_rolls_a_cloneset_back_to_its_stable_revision() {
    let (client, ns) = release_namespace("undo-cloneset").await;
    let ns = ns.name.clone();
    let rollout = manual_rollout()
        .replace("apiVersion: apps/v1", "apiVersion: apps.kruise.io/v1alpha1")
        .replace("kind: Deployment", "kind: CloneSet");
    apply(&ns, &echoserver_cloneset("version1", 5));
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    apply(&ns, &echoserver_cloneset("version2", 5));
    let manual = "Rollout is in step(1/3), and you need manually confirm to enter the next step";
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", Some(manual)).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 4), ("version2", 1)],
    )
    .await;

    let (code, out, err) = plugin(&["rollout", "undo", "rollouts/rollouts-demo", "-n", &ns]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(
            "rollout.rollouts.kruise.io/rollouts-demo: CloneSet echoserver rolled back to its stable revision"
        ),
        "{out}"
    );
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
async fn kubectl_finds_the_plugin_and_errors_are_one_line() {
    let (_client, ns) = release_namespace("pluginerr").await;
    let ns = ns.name.clone();
    // `kubectl kruise ...` through kubectl's plugin lookup on PATH.
    let dir = plugin_path().parent().unwrap().display().to_string();
    let path = format!("{dir}:{}", std::env::var("PATH").unwrap_or_default());
    let out = Command::new(repo_root().join("tests/cluster/bin/kubectl"))
        .args(["kruise", "rollout", "status", "missing", "-n", &ns])
        .env("KUBECONFIG", &cluster().kubeconfig)
        .env("PATH", path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "error: rollouts.rollouts.kruise.io \"missing\" not found in namespace \"{ns}\""
        )),
        "{err}"
    );

    let (code, _, err) = plugin(&["rollout", "approve", "deployment/echoserver", "-n", &ns]);
    assert_eq!(code, 1);
    assert_eq!(
        err.trim(),
        "error: unsupported resource type \"deployment\": use rollouts/NAME, rollout/NAME or NAME"
    );

    // A cluster that does not answer: a kubeconfig pointing at a closed port.
    let text = std::fs::read_to_string(&cluster().kubeconfig).unwrap();
    let closed = regex_free_server_swap(&text, "https://127.0.0.1:1");
    let file = std::env::temp_dir().join(format!("closed-{}.kubeconfig", std::process::id()));
    std::fs::write(&file, closed).unwrap();
    let out = Command::new(plugin_path())
        .args([
            "rollout",
            "status",
            NAME,
            "-n",
            &ns,
            "--kubeconfig",
            &file.display().to_string(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.starts_with("error: cannot reach the cluster at https://127.0.0.1:1/"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The kubeconfig with every `server:` line pointing at `server`.
fn regex_free_server_swap(kubeconfig: &str, server: &str) -> String {
    kubeconfig
        .lines()
        .map(|line| match line.split_once("server:") {
            Some((indent, _)) => format!("{indent}server: {server}"),
            None => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn undo_rolls_a_blue_green_release_back_after_a_jump_to_the_last_step() {
    use rollouts_e2e::blue_green as bg;
    let (client, ns) = release_namespace("undo-bg").await;
    let ns = ns.name.clone();
    bg::release_v2_to_step_1(&client, &ns, &bg::DEPLOYMENT).await;
    // Forward to step 3 (all traffic on the new pods) by a patched nextStepIndex.
    bg::jump(&ns, 3);
    wait_paused(&ns, bg::NAME, 3, 3).await;
    bg::wait_weight(&client, &ns, "100").await;
    let target = format!("rollouts/{}", bg::NAME);
    let (code, out, err) = plugin(&["rollout", "undo", &target, "-n", &ns]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rolled back to its stable revision"), "{out}");
    let cancelled = "Rollout progressing has been cancelled";
    wait_row(&ns, bg::NAME, "Healthy", "3", "Completed", Some(cancelled)).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    rollouts_e2e::traffic::assert_traffic_cleaned(&client, &ns).await;
    bg::wait_given_back(&client, &ns, &bg::DEPLOYMENT).await;
}
