//! Starts rollouts-controller as a local process against the local cluster: one shared per
//! test process, or a private one a test may kill and restart.

use crate::cluster::{cluster, repo_root};
use crate::webhook::admin_ok;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A running controller process.
#[derive(Debug)]
pub struct ControllerProcess {
    /// Plain-HTTP admin port on 127.0.0.1.
    pub admin_port: u16,
    /// Its log file.
    pub log: PathBuf,
    /// The process; it also exits by itself when the test process does (`--parent-pid`).
    pub process: Child,
}

fn build_once() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        crate::cluster::build_binary("rollouts-controller", "rollouts-controller");
    });
}

impl ControllerProcess {
    /// Builds (once) and starts a controller whose log is `<logs>/rollouts-controller-<name>.log`
    /// (appended to), without leader election, waiting until its caches are synced.
    pub fn start(name: &str, extra_args: &[&str]) -> Self {
        let mut args = vec!["--no-leader-election"];
        args.extend_from_slice(extra_args);
        Self::start_with_election(name, &args)
    }

    /// Like [`ControllerProcess::start`], with leader election unless `args` turn it off.
    pub fn start_with_election(name: &str, extra_args: &[&str]) -> Self {
        build_once();
        let cluster = cluster();
        let admin_port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let log = cluster
            .kubeconfig
            .with_file_name("logs")
            .join(format!("rollouts-controller-{name}.log"));
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let process = Command::new(repo_root().join("target/debug/rollouts-controller"))
            .args(["--admin-addr", &format!("127.0.0.1:{admin_port}")])
            .args(["--parent-pid", &std::process::id().to_string()])
            .args(prometheus_args(cluster))
            .args(extra_args)
            .env(
                "KUBECONFIG",
                crate::service_account::service_kubeconfig(
                    crate::service_account::Service::Controller,
                ),
            )
            .env(
                "RUST_LOG",
                std::env::var("E2E_CONTROLLER_LOG")
                    .unwrap_or_else(|_| "info,kube_runtime=warn".into()),
            )
            .stdout(Stdio::from(log_file.try_clone().unwrap()))
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("rollouts-controller starts");
        let controller = Self {
            admin_port,
            log,
            process,
        };
        let started = Instant::now();
        while !admin_ok(admin_port, "/readyz") {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "rollouts-controller not ready after 60 s; its log:\n{}",
                controller.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        controller
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Its `rollouts_controller_leader` gauge (`"1"` while it leads), when it answers.
    pub fn leader_gauge(&self) -> Option<String> {
        let (_, body) = crate::webhook::admin_get(self.admin_port, "/metrics")?;
        body.lines()
            .find(|l| l.starts_with("rollouts_controller_leader "))
            .map(|l| l.split_whitespace().last().unwrap_or_default().to_string())
    }

    /// Whether the process has exited (by itself, or killed).
    pub fn exited(&mut self) -> bool {
        !matches!(self.process.try_wait(), Ok(None))
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The controller shared by the tests of this process.
pub fn controller() -> &'static Mutex<ControllerProcess> {
    static CONTROLLER: OnceLock<Mutex<ControllerProcess>> = OnceLock::new();
    CONTROLLER.get_or_init(|| {
        Mutex::new(ControllerProcess::start(
            &std::process::id().to_string(),
            &[],
        ))
    })
}

/// `--prometheus-address` of the local Prometheus, when the cluster runs one.
fn prometheus_args(cluster: &crate::Cluster) -> Vec<String> {
    let url = cluster.kubeconfig.with_file_name("prometheus-url");
    match std::fs::read_to_string(url) {
        Ok(address) if !address.trim().is_empty() => {
            vec!["--prometheus-address".into(), address.trim().to_string()]
        }
        _ => Vec::new(),
    }
}
