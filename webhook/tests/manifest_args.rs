//! The webhook accepts the arguments its installation manifest passes (a wrong flag would
//! crash-loop the Deployment on every real cluster).

use std::process::Command;

#[test]
fn manifest_arguments_are_accepted() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../manifests/webhook/deployment.yaml"
    ))
    .unwrap();
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("args:"))
        .expect("an args line");
    let args: Vec<String> =
        serde_json::from_str(line.trim_start().trim_start_matches("args:").trim())
            .expect("a flow list");
    // With no cluster to reach it fails after parsing; clap's usage errors exit 2.
    let out = Command::new(env!("CARGO_BIN_EXE_rollouts-webhook"))
        .args(&args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("unexpected argument") && out.status.code() != Some(2),
        "{args:?}: {stderr}"
    );
}
