//! controller-load: the controller and the webhook at scale, on the project's local control
//! plane (tests/cluster) in a cluster folder of its own.
//!
//! For each N of `--rollouts` it installs the CRD and the webhook configurations (as
//! tests/local/services.sh does), starts the webhook, creates N Deployments and N v1beta1
//! Rollouts through the API with a bounded concurrency, waits until the Deployments have
//! settled, and only then starts the controller: a cold start over N Rollouts. It measures
//! 1. the time until every Rollout has `status.phase`,
//! 2. the writes to Rollouts meanwhile (MODIFIED watch events) and the controller's status
//!    conflicts (its /metrics),
//! 3. RSS (VmRSS, VmHWM) of both services once the writes have stopped,
//! 4. idle CPU of both over `--idle-seconds`,
//! 5. the writes in the 60 s after a restart (SIGTERM, start again) has become ready.
//!
//! One table row per N goes to stdout, one JSON line per N is appended to `--out`.
//! Everything stays on 127.0.0.1, every wait is bounded, and the processes it started (services
//! and, if it started it, the cluster) are stopped at the end, also on failure or Ctrl-C.

mod cli;
mod common;
mod measure;
mod objects;
mod processes;
mod procfs;
mod report;
mod watch;

use clap::Parser;
use cli::Cli;
use common::log;
use objects::delete_bench_namespaces;
use report::{Row, print_table};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long the Rollout writes must have stopped before the cold start counts as over.
pub(crate) const QUIET: Duration = Duration::from_secs(15);
/// Bound on the wait for the writes to stop once every Rollout is observed.
pub(crate) const QUIET_LIMIT: Duration = Duration::from_secs(300);

/// Paths the run works with.
pub(crate) struct Paths {
    pub(crate) root: PathBuf,
    pub(crate) cluster_dir: PathBuf,
    pub(crate) kubeconfig: PathBuf,
    pub(crate) kubectl: PathBuf,
    pub(crate) manifests: PathBuf,
    pub(crate) controller_bin: PathBuf,
    pub(crate) webhook_bin: PathBuf,
    pub(crate) logs: PathBuf,
    pub(crate) out: PathBuf,
}

/// What must be undone at the end, whatever happens.
#[derive(Default)]
pub(crate) struct Owned {
    pub(crate) webhook: Option<Child>,
    pub(crate) controller: Option<Child>,
    pub(crate) cluster_started: bool,
    pub(crate) cluster_running: bool,
    pub(crate) webhook_configs_installed: bool,
}

pub(crate) struct Harness {
    pub(crate) cli: Cli,
    pub(crate) paths: Paths,
    pub(crate) owned: Mutex<Owned>,
    pub(crate) clock_ticks: u64,
}

pub(crate) fn main() {
    let cli = Cli::parse();
    let root = absolute(
        cli.repo
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")),
    )
    .canonicalize()
    .expect("the repository root");
    let cluster_dir = absolute(
        cli.cluster_dir
            .clone()
            .unwrap_or_else(|| root.join(".cluster-bench")),
    );
    let out = absolute(
        cli.out
            .clone()
            .unwrap_or_else(|| root.join("target/bench/controller-load.jsonl")),
    );
    let paths = Paths {
        kubeconfig: cluster_dir.join("kubeconfig"),
        kubectl: root.join("tests/cluster/bin/kubectl"),
        manifests: absolute(
            cli.manifests
                .clone()
                .unwrap_or_else(|| root.join("manifests")),
        ),
        controller_bin: absolute(
            cli.controller_bin
                .clone()
                .unwrap_or_else(|| root.join("target/release/rollouts-controller")),
        ),
        webhook_bin: absolute(
            cli.webhook_bin
                .clone()
                .unwrap_or_else(|| root.join("target/release/rollouts-webhook")),
        ),
        logs: out.with_extension("logs"),
        out,
        cluster_dir,
        root,
    };
    let clock_ticks = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100);
    let harness = Arc::new(Harness {
        cli,
        paths,
        owned: Mutex::new(Owned::default()),
        clock_ticks,
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = runtime.block_on(async {
        let work = tokio::spawn(run(harness.clone()));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            joined = work => match joined {
                Ok(result) => result,
                Err(e) => Err(format!("the run panicked: {e}")),
            },
            _ = tokio::signal::ctrl_c() => Err("interrupted (SIGINT)".to_string()),
            _ = term.recv() => Err("terminated (SIGTERM)".to_string()),
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(2));
    harness.cleanup();
    if let Err(error) = outcome {
        eprintln!("controller-load: FAILED: {error}");
        std::process::exit(1);
    }
}

pub(crate) fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir()
            .expect("a working folder")
            .join(path)
    }
}

pub(crate) async fn run(h: Arc<Harness>) -> Result<(), String> {
    let p = &h.paths;
    for (what, path) in [
        ("controller binary", &p.controller_bin),
        ("webhook binary", &p.webhook_bin),
        ("kubectl", &p.kubectl),
    ] {
        if !path.exists() {
            return Err(format!("{what} {} does not exist", path.display()));
        }
    }
    if !p.manifests.join("crds").is_dir() {
        return Err(format!(
            "{} has no crds/ folder (--manifests)",
            p.manifests.display()
        ));
    }
    let mut ns = h.cli.rollouts.clone();
    ns.retain(|n| *n > 0);
    if ns.is_empty() {
        return Err("--rollouts names no positive number".into());
    }
    std::fs::create_dir_all(&p.logs).map_err(|e| format!("{}: {e}", p.logs.display()))?;
    if let Some(parent) = p.out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    for (port, what) in [
        (h.cli.webhook_port, "webhook HTTPS"),
        (h.cli.webhook_admin_port, "webhook admin"),
        (h.cli.controller_admin_port, "controller admin"),
    ] {
        if TcpStream::connect_timeout(
            &SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_millis(300),
        )
        .is_ok()
        {
            return Err(format!(
                "port {port} ({what}) is already in use on 127.0.0.1; choose another with its flag"
            ));
        }
    }
    log(format!(
        "controller {}, webhook {}, manifests {}, cluster folder {}, {} core(s), replicas {}",
        p.controller_bin.display(),
        p.webhook_bin.display(),
        p.manifests.display(),
        p.cluster_dir.display(),
        cores(),
        h.cli.replicas
    ));
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for (i, n) in ns.iter().copied().enumerate() {
        if i > 0 {
            h.between_runs().await?;
        }
        let mut row = Row {
            bench: "controller-load",
            label: h.cli.label.clone(),
            unix_time: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs(),
            rollouts: n,
            replicas: h.cli.replicas,
            namespaces: n.div_ceil(h.cli.per_namespace.max(1)),
            controller_bin: p.controller_bin.display().to_string(),
            webhook_bin: p.webhook_bin.display().to_string(),
            cores: cores(),
            restart_window_seconds: h.cli.restart_seconds,
            ..Row::default()
        };
        if let Err(error) = h.measure(n, &mut row).await {
            log(format!("N={n}: FAILED: {error}"));
            row.error = Some(error.clone());
            failed.push(format!("N={n}: {error}"));
        }
        let line = serde_json::to_string(&row).map_err(|e| e.to_string())?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p.out)
            .map_err(|e| format!("{}: {e}", p.out.display()))?;
        writeln!(file, "{line}").map_err(|e| e.to_string())?;
        print_table(std::slice::from_ref(&row), true);
        rows.push(row);
    }
    if !h.owned.lock().unwrap().cluster_started {
        // A reused cluster keeps running: leave it without the bench objects (the controller of
        // the last N, if it still runs, removes the finalizers).
        let client = h.client().await?;
        delete_bench_namespaces(&client, Duration::from_secs(900), Duration::from_secs(450))
            .await?;
    }
    println!();
    println!("controller-load summary ({} core(s)):", cores());
    print_table(&rows, false);
    println!("JSON lines appended to {}", p.out.display());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
