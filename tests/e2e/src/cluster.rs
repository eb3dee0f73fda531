//! Finding or starting the local control plane once per test process, and reading its logs.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The columns `kubectl get rollouts` prints, as upstream's.
pub const ROLLOUT_COLUMNS: [&str; 6] = [
    "NAME",
    "STATUS",
    "CANARY_STEP",
    "CANARY_STATE",
    "MESSAGE",
    "AGE",
];

/// The header words of a `kubectl get` table.
pub fn table_header(table: &str) -> Vec<&str> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

/// Names the folder of the team's conformance data (holding `seed/`, `upstream/` and
/// `upstream-crds/`). When it is set, the folder must exist.
pub const CONFORMANCE_ENV: &str = "ROLLOUTS_CONFORMANCE_DIR";

/// The conformance data folder: `$ROLLOUTS_CONFORMANCE_DIR` (which must then be a folder), else none:
/// nothing outside the repository is read unless asked for.
pub fn conformance_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFORMANCE_ENV) {
        let dir = PathBuf::from(dir);
        assert!(
            dir.is_absolute(),
            "{CONFORMANCE_ENV}={} must be an absolute path (tests run in their crate's folder)",
            dir.display()
        );
        assert!(
            dir.is_dir(),
            "{CONFORMANCE_ENV}={} is not a folder: point it at the conformance data or unset it",
            dir.display()
        );
        return Some(dir);
    }
    None
}

/// Says, past the test harness's capture (so a normal `cargo test` run shows it), whether
/// `test` ran over the conformance data (`Some((dir, files))`) or skipped that part.
pub fn report_conformance(test: &str, ran: Option<(&Path, usize)>) {
    use std::io::Write;
    let line = match ran {
        Some((dir, files)) => format!(
            "conformance data: {test}: ran over {} ({files} files)",
            dir.display()
        ),
        None => format!(
            "conformance data: {test}: not found (set {CONFORMANCE_ENV}); skipped upstream part"
        ),
    };
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The control plane the tests run against.
#[derive(Debug)]
pub struct Cluster {
    /// Path of its kubeconfig.
    pub kubeconfig: PathBuf,
}

/// The repository's root folder.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The cluster of this test run: the one `KUBECONFIG` names if it is a ready cluster of
/// `tests/cluster` (a `ready` file beside the kubeconfig), else `tests/cluster/up.sh .cluster`
/// (which builds what is missing and reuses a running cluster). Any other `KUBECONFIG`, such as
/// a real cluster's, is ignored: the tests create namespaces and CRDs. Fails the test, never
/// skips it, when no cluster can be had.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let local_ready = |path: &Path| path.is_file() && path.with_file_name("ready").is_file();
        if let Some(path) = std::env::var_os("KUBECONFIG").map(PathBuf::from)
            && local_ready(&path)
        {
            return Cluster { kubeconfig: path };
        }
        let dir = repo_root().join(".cluster");
        let script = repo_root().join("tests/cluster/up.sh");
        let output = Command::new(&script)
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the local control plane did not start ({}):\n{}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let kubeconfig = stdout
            .lines()
            .find_map(|l| l.strip_prefix("export KUBECONFIG="))
            .unwrap_or_else(|| panic!("up.sh printed no KUBECONFIG line:\n{stdout}"));
        Cluster {
            kubeconfig: PathBuf::from(kubeconfig),
        }
    })
}

impl Cluster {
    /// A client for the current test's runtime.
    pub async fn client(&self) -> Client {
        let kubeconfig = Kubeconfig::read_from(&self.kubeconfig)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", self.kubeconfig.display()));
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig is usable");
        Client::try_from(config).expect("client builds")
    }

    /// The folder of the cluster's component logs, when the cluster is a local one.
    pub fn logs_dir(&self) -> Option<PathBuf> {
        let dir = self.kubeconfig.parent()?.join("logs");
        dir.is_dir().then_some(dir)
    }

    /// The last `lines` lines of every component log, for failure messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let Some(dir) = self.logs_dir() else {
            return "(no local cluster logs)".into();
        };
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        let mut out = String::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let tail: Vec<_> = text.lines().rev().take(lines).collect();
            out.push_str(&format!("==> {} <==\n", file.display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Runs kubectl with `stdin`; returns stdout, or stderr when kubectl fails.
    pub fn kubectl_with_input(&self, args: &[&str], stdin: &str) -> Result<String, String> {
        self.tool("kubectl", args, Some(stdin))
    }

    /// Runs the cluster's Helm (`tests/cluster/bin/helm`) with this cluster's kubeconfig;
    /// returns stdout, or stderr when it fails.
    pub fn helm(&self, args: &[&str]) -> Result<String, String> {
        self.tool("helm", args, None)
    }

    /// Runs `tests/cluster/bin/<name>` with this cluster's kubeconfig (and `stdin`, if given);
    /// returns stdout, or stderr when it fails.
    pub fn tool(&self, name: &str, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        use std::io::Write;
        let binary = repo_root().join("tests/cluster/bin").join(name);
        let mut child = Command::new(&binary)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
        let input = child.stdin.take().expect("stdin");
        if let Some(stdin) = stdin {
            let mut input = input;
            input
                .write_all(stdin.as_bytes())
                .unwrap_or_else(|e| panic!("{name} reads stdin: {e}"));
        }
        let output = child.wait_with_output().expect("the tool finishes");
        match output.status.success() {
            true => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
            false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
        }
    }

    /// SIGKILLs one component of the local control plane (e.g. `kube-apiserver`), keeps it down
    /// for `down_for`, and waits until the launcher has started it again and it is ready
    /// (`k8scluster restart`).
    pub fn restart_component(
        &self,
        component: &str,
        down_for: std::time::Duration,
    ) -> Result<(), String> {
        let dir = self
            .kubeconfig
            .parent()
            .ok_or("the kubeconfig has no folder")?;
        let output = Command::new(repo_root().join("tests/cluster/bin/k8scluster"))
            .args([
                "restart",
                "--dir",
                &dir.display().to_string(),
                "--component",
                component,
                "--down-for",
                &format!("{}ms", down_for.as_millis()),
            ])
            .output()
            .map_err(|e| format!("k8scluster restart: {e}"))?;
        match output.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&output.stderr).into_owned()),
        }
    }

    /// Server-side `kubectl apply -f` of a file of this repository (path relative to its root):
    /// an upsert, so test processes applying the same file at once never race on its creation.
    pub fn apply_repo_file(&self, path: &str) -> String {
        let file = repo_root().join(path).display().to_string();
        self.kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=rollouts-e2e",
            "-f",
            &file,
        ])
    }

    /// Runs the cluster's kubectl with this cluster's kubeconfig; returns stdout or panics with stderr.
    pub fn kubectl(&self, args: &[&str]) -> String {
        let kubectl = repo_root().join("tests/cluster/bin/kubectl");
        let output = Command::new(&kubectl)
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", kubectl.display()));
        assert!(
            output.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// Builds the binary of workspace package `package` (debug) and returns its path,
/// `target/debug/<binary>`.
pub fn build_binary(package: &str, binary: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = std::process::Command::new(cargo)
        .args(["build", "--quiet", "-p", package])
        .current_dir(repo_root())
        .status()
        .expect("cargo runs");
    assert!(built.success(), "building {package} failed");
    repo_root().join("target/debug").join(binary)
}
