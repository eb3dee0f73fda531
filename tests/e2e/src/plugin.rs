//! The kubectl-kruise binary of this workspace (built once per test run), run against the local
//! control plane.

use crate::cluster::cluster;
use std::process::Command;
use std::sync::OnceLock;

/// The path of the kubectl-kruise binary, built on first use.
pub fn plugin_path() -> &'static std::path::PathBuf {
    static BUILT: OnceLock<std::path::PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| crate::cluster::build_binary("kubectl-kruise", "kubectl-kruise"))
}

/// Runs `kubectl-kruise <args>`: exit code, stdout, stderr.
pub fn plugin(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(plugin_path())
        .args(args)
        .env("KUBECONFIG", &cluster().kubeconfig)
        .output()
        .expect("kubectl-kruise runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
