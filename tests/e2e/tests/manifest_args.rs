//! Each service accepts the arguments its installation manifest passes: a wrong flag would
//! crash-loop the Deployment on every real cluster. Needs no cluster.

use rollouts_e2e::repo_root;
use std::process::Command;

/// The `args:` flow list of a manifest's container.
fn manifest_args(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo_root().join(manifest)).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("args:"))
        .expect("an args line");
    serde_json::from_str(line.trim_start().trim_start_matches("args:").trim()).expect("a flow list")
}

#[test]
fn both_services_accept_their_manifest_arguments() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "-p",
            "rollouts-webhook",
            "-p",
            "rollouts-controller",
        ])
        .current_dir(repo_root())
        .status()
        .expect("cargo runs");
    assert!(built.success());
    for (binary, manifest) in [
        ("rollouts-webhook", "manifests/webhook/deployment.yaml"),
        (
            "rollouts-controller",
            "manifests/controller/deployment.yaml",
        ),
    ] {
        let args = manifest_args(manifest);
        // With no cluster to reach it fails after parsing; clap's usage errors exit 2.
        let out = Command::new(repo_root().join("target/debug").join(binary))
            .args(&args)
            .env("KUBECONFIG", "/nonexistent/kubeconfig")
            .env_remove("KUBERNETES_SERVICE_HOST")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("unexpected argument") && out.status.code() != Some(2),
            "{binary} {args:?}: {stderr}"
        );
    }
}
