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

use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Label on every namespace, Deployment and Rollout this harness creates.
const BENCH_LABEL: &str = "rollouts-rs.bench/controller-load";
/// How long the Rollout writes must have stopped before the cold start counts as over.
const QUIET: Duration = Duration::from_secs(15);
/// Bound on the wait for the writes to stop once every Rollout is observed.
const QUIET_LIMIT: Duration = Duration::from_secs(300);

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Controller and webhook at scale on the local control plane: cold start, writes, conflicts, RSS, idle CPU, restart"
)]
struct Cli {
    /// Repository whose tests/cluster scripts and manifests are used [default: the one this
    /// binary was built from].
    #[arg(long)]
    repo: Option<PathBuf>,
    /// Numbers of Rollouts to measure, comma separated (one run each).
    #[arg(long, default_value = "500,2000,10000", value_delimiter = ',')]
    rollouts: Vec<usize>,
    /// Pods per Deployment (0 or 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1))]
    replicas: u32,
    /// Controller binary [default: <repo>/target/release/rollouts-controller].
    #[arg(long)]
    controller_bin: Option<PathBuf>,
    /// Webhook binary [default: <repo>/target/release/rollouts-webhook].
    #[arg(long)]
    webhook_bin: Option<PathBuf>,
    /// Folder with namespace.yaml, crds/ and webhook/ to install [default: <repo>/manifests].
    #[arg(long)]
    manifests: Option<PathBuf>,
    /// Cluster folder for tests/cluster/up.sh [default: <repo>/.cluster-bench].
    #[arg(long)]
    cluster_dir: Option<PathBuf>,
    /// Seconds of idle CPU measurement (nothing changes meanwhile).
    #[arg(long, default_value_t = 120)]
    idle_seconds: u64,
    /// Seconds after the restarted controller is ready during which writes are counted.
    #[arg(long, default_value_t = 60)]
    restart_seconds: u64,
    /// Rollouts (and Deployments) per namespace.
    #[arg(long, default_value_t = 100)]
    per_namespace: usize,
    /// Concurrent create requests.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds the Deployments may take to settle [default: 300 + N/4].
    #[arg(long)]
    settle_timeout: Option<u64>,
    /// Seconds the controller may take to give every Rollout a phase [default: max(600, N/5)].
    #[arg(long)]
    observe_timeout: Option<u64>,
    /// HTTPS port of the webhook.
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 24876)]
    webhook_port: u16,
    /// Admin port (/readyz, /metrics) of the webhook.
    #[arg(long, env = "WEBHOOK_ADMIN_PORT", default_value_t = 24081)]
    webhook_admin_port: u16,
    /// Admin port (/readyz, /metrics) of the controller.
    #[arg(long, env = "CONTROLLER_ADMIN_PORT", default_value_t = 24082)]
    controller_admin_port: u16,
    /// File the JSON lines are appended to [default: <repo>/target/bench/controller-load.jsonl].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Free text stored in every JSON line (e.g. the commit the binaries were built from).
    #[arg(long, default_value = "")]
    label: String,
    /// Extra argument for the controller (repeatable).
    #[arg(long = "controller-arg", allow_hyphen_values = true)]
    controller_args: Vec<String>,
}

/// Paths the run works with.
struct Paths {
    root: PathBuf,
    cluster_dir: PathBuf,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    manifests: PathBuf,
    controller_bin: PathBuf,
    webhook_bin: PathBuf,
    logs: PathBuf,
    out: PathBuf,
}

/// What must be undone at the end, whatever happens.
#[derive(Default)]
struct Owned {
    webhook: Option<Child>,
    controller: Option<Child>,
    cluster_started: bool,
    cluster_running: bool,
    webhook_configs_installed: bool,
}

struct Harness {
    cli: Cli,
    paths: Paths,
    owned: Mutex<Owned>,
    clock_ticks: u64,
}

fn main() {
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

fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        path
    } else {
        std::env::current_dir()
            .expect("a working folder")
            .join(path)
    }
}

fn log(message: impl AsRef<str>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
    eprintln!(
        "[controller-load {h:02}:{m:02}:{s:02}Z] {}",
        message.as_ref()
    );
}

/// One measured N: what goes into the table and the JSON line.
#[derive(Serialize, Default, Debug)]
struct Row {
    bench: &'static str,
    label: String,
    unix_time: u64,
    rollouts: usize,
    replicas: u32,
    nodes: usize,
    namespaces: usize,
    controller_bin: String,
    webhook_bin: String,
    cores: usize,
    create_seconds: f64,
    create_retries: u64,
    settle_seconds: f64,
    controller_ready_seconds: Option<f64>,
    all_observed_seconds: Option<f64>,
    observed_within_60s: usize,
    all_observed_within_60s: bool,
    modified_until_all_observed: u64,
    start_window_seconds: f64,
    start_rollout_modified: u64,
    start_modified_per_rollout: f64,
    conflicts: Option<u64>,
    reconcile_errors: BTreeMap<String, u64>,
    start_reconciles: Option<u64>,
    controller_start_cpu_seconds: f64,
    webhook_start_cpu_seconds: f64,
    controller_rss_mib: f64,
    controller_hwm_mib: f64,
    webhook_rss_mib: f64,
    webhook_hwm_mib: f64,
    idle_seconds: f64,
    controller_idle_cpu_seconds: f64,
    controller_idle_cpu_percent: f64,
    webhook_idle_cpu_seconds: f64,
    webhook_idle_cpu_percent: f64,
    idle_rollout_modified: u64,
    idle_reconciles: Option<u64>,
    restart_stop_seconds: Option<f64>,
    restart_ready_seconds: Option<f64>,
    restart_modified_before_ready: u64,
    restart_window_seconds: u64,
    restart_rollout_modified: u64,
    restart_conflicts: Option<u64>,
    restart_reconciles: Option<u64>,
    restart_controller_rss_mib: f64,
    watch_relists: u64,
    error: Option<String>,
}

async fn run(h: Arc<Harness>) -> Result<(), String> {
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn print_table(rows: &[Row], with_header_note: bool) {
    if with_header_note {
        println!();
    }
    println!(
        "| N | pods/Deployment | all phases set (s) | all within 60 s | Rollout writes at start (per Rollout) | status conflicts | controller CPU at start (s) | controller RSS / HWM (MiB) | webhook RSS / HWM (MiB) | idle CPU controller | idle CPU webhook | writes in {} s after restart |",
        rows.first().map_or(60, |r| r.restart_window_seconds)
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        if let Some(error) = &r.error {
            println!(
                "| {} | {} | FAILED: {error} |||||||||",
                r.rollouts, r.replicas
            );
            continue;
        }
        println!(
            "| {} | {} | {} | {} ({}/{}) | {} ({:.2}) | {} | {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} % ({:.2} CPU-s / {:.0} s; {} reconciles) | {:.2} % ({:.2} CPU-s / {:.0} s) | {} |",
            r.rollouts,
            r.replicas,
            opt(r.all_observed_seconds, 1),
            if r.all_observed_within_60s {
                "yes"
            } else {
                "no"
            },
            r.observed_within_60s,
            r.rollouts,
            r.start_rollout_modified,
            r.start_modified_per_rollout,
            r.conflicts.map_or("n/a".into(), |c| c.to_string()),
            r.controller_start_cpu_seconds,
            r.controller_rss_mib,
            r.controller_hwm_mib,
            r.webhook_rss_mib,
            r.webhook_hwm_mib,
            r.controller_idle_cpu_percent,
            r.controller_idle_cpu_seconds,
            r.idle_seconds,
            r.idle_reconciles.map_or("n/a".into(), |c| c.to_string()),
            r.webhook_idle_cpu_percent,
            r.webhook_idle_cpu_seconds,
            r.idle_seconds,
            r.restart_rollout_modified,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Processes: the cluster (scripts of tests/cluster), the webhook and the controller.

impl Harness {
    fn script(&self, name: &str) -> Command {
        let mut command = Command::new(self.paths.root.join("tests/cluster").join(name));
        command.arg(&self.paths.cluster_dir);
        command
    }

    fn cluster_is_running(&self) -> bool {
        Command::new(self.paths.root.join("tests/cluster/bin/k8scluster"))
            .args(["status", "--dir"])
            .arg(&self.paths.cluster_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts the cluster (or reuses one running for the folder). A started cluster gets enough
    /// fake nodes for `pods` pods (KWOK nodes take 110 pods each).
    async fn cluster_up(&self, pods: usize) -> Result<(), String> {
        let running = self.cluster_is_running();
        if !running {
            // Marked before the start, so that a failure half-way still stops it.
            self.owned.lock().unwrap().cluster_started = true;
        }
        let started = Instant::now();
        let mut up = self.script("up.sh");
        up.env("K8SCLUSTER_NODES", nodes_for(pods).to_string());
        up.stdout(Stdio::null());
        let status = tokio::task::spawn_blocking(move || up.status())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("tests/cluster/up.sh: {e}"))?;
        if !status.success() {
            return Err(format!("tests/cluster/up.sh failed ({status})"));
        }
        self.owned.lock().unwrap().cluster_running = true;
        log(format!(
            "cluster {} in {:.1} s ({})",
            if running { "reused" } else { "started" },
            started.elapsed().as_secs_f64(),
            self.paths.cluster_dir.display()
        ));
        Ok(())
    }

    fn cluster_down(&self) {
        log("stopping the cluster this run started");
        let _ = self.script("down.sh").stdout(Stdio::null()).status();
        self.owned.lock().unwrap().cluster_running = false;
    }

    fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.paths.kubectl)
            .args(args)
            .env("KUBECONFIG", &self.paths.kubeconfig)
            .output()
            .map_err(|e| format!("kubectl: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr = stderr.trim();
            let skip = stderr.chars().count().saturating_sub(600);
            let tail: String = stderr.chars().skip(skip).collect();
            Err(format!("kubectl {}: {tail}", args.join(" ")))
        }
    }

    /// The namespace, the Rollout CRD and the webhook configurations, as services.sh installs
    /// them (the CRD replaced, not applied: the webhook points its conversion at a URL).
    fn install(&self) -> Result<(), String> {
        let m = &self.paths.manifests;
        let s = |p: PathBuf| p.display().to_string();
        self.kubectl(&["apply", "-f", &s(m.join("namespace.yaml"))])?;
        let crd = s(m.join("crds/rollouts.kruise.io_rollouts.yaml"));
        if self.kubectl(&["replace", "-f", &crd]).is_err() {
            self.kubectl(&["create", "-f", &crd])?;
        }
        self.kubectl(&[
            "wait",
            "--for",
            "condition=Established",
            "--timeout=60s",
            "crd/rollouts.rollouts.kruise.io",
        ])?;
        self.owned.lock().unwrap().webhook_configs_installed = true;
        // Deleted first: the configurations a webhook has pointed at its URL cannot take an
        // apply that brings back the Service reference (clientConfig would name both).
        self.uninstall_webhook_configs();
        self.kubectl(&[
            "create",
            "-f",
            &s(m.join("webhook/mutating.yaml")),
            "-f",
            &s(m.join("webhook/validating.yaml")),
        ])?;
        Ok(())
    }

    fn uninstall_webhook_configs(&self) {
        let m = &self.paths.manifests;
        let _ = self.kubectl(&[
            "delete",
            "--ignore-not-found",
            "-f",
            &m.join("webhook/mutating.yaml").display().to_string(),
            "-f",
            &m.join("webhook/validating.yaml").display().to_string(),
        ]);
    }

    fn spawn(&self, bin: &Path, args: &[String], log_name: &str) -> Result<Child, String> {
        let log_path = self.paths.logs.join(log_name);
        let file =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        Command::new(bin)
            .args(args)
            .env("KUBECONFIG", &self.paths.kubeconfig)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))
    }

    async fn start_webhook(&self, n: usize) -> Result<u32, String> {
        let cli = &self.cli;
        let args: Vec<String> = [
            "--webhook-host",
            "127.0.0.1",
            "--bind",
            "127.0.0.1",
            "--webhook-port",
            &cli.webhook_port.to_string(),
            "--admin-addr",
            &format!("127.0.0.1:{}", cli.webhook_admin_port),
            "--parent-pid",
            &std::process::id().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let child = self.spawn(&self.paths.webhook_bin, &args, &format!("webhook-{n}.log"))?;
        let pid = child.id();
        self.owned.lock().unwrap().webhook = Some(child);
        let started = Instant::now();
        wait_ready(cli.webhook_admin_port, Duration::from_secs(60), || {
            self.child_alive(|o| &mut o.webhook)
        })
        .await
        .map_err(|e| {
            format!(
                "webhook: {e} (log {}/webhook-{n}.log)",
                self.paths.logs.display()
            )
        })?;
        log(format!(
            "webhook ready in {:.1} s (pid {pid}, https://127.0.0.1:{})",
            started.elapsed().as_secs_f64(),
            cli.webhook_port
        ));
        Ok(pid)
    }

    fn start_controller(&self, log_name: &str) -> Result<u32, String> {
        let mut args = vec![
            "--no-leader-election".to_string(),
            "--admin-addr".to_string(),
            format!("127.0.0.1:{}", self.cli.controller_admin_port),
            "--parent-pid".to_string(),
            std::process::id().to_string(),
        ];
        args.extend(self.cli.controller_args.iter().cloned());
        let child = self.spawn(&self.paths.controller_bin, &args, log_name)?;
        let pid = child.id();
        self.owned.lock().unwrap().controller = Some(child);
        Ok(pid)
    }

    fn child_alive(&self, which: impl Fn(&mut Owned) -> &mut Option<Child>) -> bool {
        let mut owned = self.owned.lock().unwrap();
        match which(&mut owned) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns how long the process took to exit.
    fn stop_child(
        &self,
        which: impl Fn(&mut Owned) -> &mut Option<Child>,
        grace: Duration,
    ) -> Option<Duration> {
        let mut child = which(&mut self.owned.lock().unwrap()).take()?;
        let started = Instant::now();
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Some(Duration::ZERO);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < grace {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        log(format!(
            "pid {} did not exit {:.0} s after SIGTERM; killing it",
            child.id(),
            grace.as_secs_f64()
        ));
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Between two N: a fresh cluster when this run started it, else the namespaces deleted.
    async fn between_runs(&self) -> Result<(), String> {
        let started_it = self.owned.lock().unwrap().cluster_started;
        if started_it {
            self.stop_child(|o| &mut o.controller, Duration::from_secs(10));
            self.stop_child(|o| &mut o.webhook, Duration::from_secs(10));
            self.cluster_down();
            self.owned.lock().unwrap().webhook_configs_installed = false;
        } else {
            // The controller removes the finalizers while the namespaces go away.
            let client = self.client().await?;
            delete_bench_namespaces(&client, Duration::from_secs(900), Duration::from_secs(450))
                .await?;
            self.stop_child(|o| &mut o.controller, Duration::from_secs(10));
            self.stop_child(|o| &mut o.webhook, Duration::from_secs(10));
        }
        Ok(())
    }

    /// Stops what this run started: services, webhook configurations, the cluster.
    fn cleanup(&self) {
        self.stop_child(|o| &mut o.controller, Duration::from_secs(10));
        self.stop_child(|o| &mut o.webhook, Duration::from_secs(10));
        let (started, running, configs) = {
            let o = self.owned.lock().unwrap();
            (
                o.cluster_started,
                o.cluster_running,
                o.webhook_configs_installed,
            )
        };
        if started {
            self.cluster_down();
        } else if running && configs {
            // failurePolicy is Fail: a reused cluster must not keep pointing at a stopped webhook.
            self.uninstall_webhook_configs();
            log("removed the webhook configurations from the reused cluster");
        }
    }

    async fn client(&self) -> Result<kube::Client, String> {
        let kubeconfig = Kubeconfig::read_from(&self.paths.kubeconfig)
            .map_err(|e| format!("{}: {e}", self.paths.kubeconfig.display()))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| e.to_string())?;
        if !["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|host| config.cluster_url.host() == Some(*host))
        {
            return Err(format!(
                "{} points at {}, not a loopback address",
                self.paths.kubeconfig.display(),
                config.cluster_url
            ));
        }
        kube::Client::try_from(config).map_err(|e| e.to_string())
    }

    fn cpu_seconds(&self, pid: u32) -> f64 {
        cpu_ticks(pid) as f64 / self.clock_ticks as f64
    }
}

/// Polls `/readyz` on the admin port until it answers 200, the process dies or time runs out.
async fn wait_ready(
    port: u16,
    limit: Duration,
    alive: impl Fn() -> bool,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        if matches!(http_get(port, "/readyz").await, Some((200, _))) {
            return Ok(started.elapsed());
        }
        if !alive() {
            return Err("exited before it became ready".into());
        }
        if started.elapsed() > limit {
            return Err(format!("not ready after {} s", limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A plain HTTP/1.0 GET on 127.0.0.1: status code and body.
async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_string()))
    })
    .await
    .ok()
    .flatten()
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// utime + stime of the process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: field 3 (state) is index 0, so utime (14) and stime (15) are 11, 12.
    [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum()
}

/// Status conflicts in the controller's Prometheus text, read leniently: samples of
/// `..._reconcile_errors_total` (or any `rollouts_controller_` family) labelled
/// `kind="conflict"`, and families whose name says conflict. None when the exposition has
/// neither an error family nor a conflict family (the metric is gone or renamed).
fn parse_conflicts(metrics: &str) -> (Option<u64>, BTreeMap<String, u64>) {
    let mut total = 0u64;
    let mut known = false;
    let mut errors = BTreeMap::new();
    for line in metrics.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            if name.starts_with("rollouts_controller_")
                && (name.contains("reconcile_errors") || name.contains("conflict"))
            {
                known = true;
            }
            continue;
        }
        if line.starts_with('#') || !line.starts_with("rollouts_controller_") {
            continue;
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some((s, v)) => (s, v.parse::<f64>().unwrap_or(0.0) as u64),
            None => continue,
        };
        let name = series.split('{').next().unwrap_or_default();
        let labels = series
            .split_once('{')
            .map(|(_, l)| l.trim_end_matches('}'))
            .unwrap_or_default();
        let kind = labels.split(',').find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "kind").then(|| v.trim().trim_matches('"').to_string())
        });
        if name.contains("reconcile_errors") {
            known = true;
            if let Some(kind) = &kind {
                *errors.entry(kind.clone()).or_default() += value;
            }
        }
        let labelled_conflict = kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("conflict"));
        if name.ends_with("_bucket") || name.ends_with("_sum") || name.ends_with("_count") {
            continue;
        }
        if (labelled_conflict && name.contains("error")) || name.contains("conflict") {
            known = true;
            total += value;
        }
    }
    (known.then_some(total), errors)
}

/// Reconciles so far (the count of the reconcile-duration histogram), read leniently; None when
/// the exposition has no such family.
fn parse_reconciles(metrics: &str) -> Option<u64> {
    let mut total = None;
    for line in metrics.lines().map(str::trim) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or_default();
        if name.starts_with("rollouts_controller_")
            && (name.ends_with("reconcile_duration_seconds_count")
                || name.ends_with("reconciles_total"))
        {
            *total.get_or_insert(0) += value.parse::<f64>().unwrap_or(0.0) as u64;
        }
    }
    total
}

// ---------------------------------------------------------------------------------------------
// Objects.

/// Fake nodes for `pods` pods: KWOK nodes take 110 pods each; at least 3, as tests/cluster.
fn nodes_for(pods: usize) -> usize {
    (pods + 50).div_ceil(100).max(3)
}

/// Nodes and the pods they can take together (status.allocatable.pods).
async fn pod_capacity(client: &kube::Client) -> Result<(usize, usize), String> {
    let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let (nodes, _) = list_all(&api, "").await?;
    let capacity = nodes
        .iter()
        .filter_map(|n| {
            let pods = n.status.as_ref()?.allocatable.as_ref()?.get("pods")?;
            pods.0.parse::<usize>().ok()
        })
        .sum();
    Ok((nodes.len(), capacity))
}

fn rollout_resource() -> ApiResource {
    ApiResource {
        group: "rollouts.kruise.io".into(),
        version: "v1beta1".into(),
        api_version: "rollouts.kruise.io/v1beta1".into(),
        kind: "Rollout".into(),
        plural: "rollouts".into(),
    }
}

fn namespace_name(n: usize, i: usize) -> String {
    format!("clb-{n}-{i:03}")
}

/// The example echoserver's shape, shrunk: one container, `replicas` pods.
fn deployment(namespace: &str, name: &str, replicas: u32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, BENCH_LABEL: "true"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "echoserver",
                    "image": "openkruise-registry.cn-shanghai.cr.aliyuncs.com/openkruise/demo:1.10.2",
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "PORT", "value": "8080"}, {"name": "NODE_NAME", "value": "version1"}]
                }]}
            }
        }
    }))
    .expect("a Deployment")
}

/// A v1beta1 canary Rollout without traffic: 1 pod and wait for approval, then all.
fn rollout(namespace: &str, name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace, "labels": {BENCH_LABEL: "true"}},
        "spec": {
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "strategy": {"canary": {"steps": [
                {"replicas": 1, "pause": {}},
                {"replicas": "100%"}
            ]}}
        }
    }))
    .expect("a Rollout")
}

/// Create requests that failed and were tried again, and the first such error.
static CREATE_RETRIES: AtomicU64 = AtomicU64::new(0);
static FIRST_RETRY: Mutex<Option<String>> = Mutex::new(None);

/// Creates the object; AlreadyExists counts as done, other errors are retried (bounded).
async fn create<K>(api: &Api<K>, object: &K) -> Result<(), String>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=8 {
        match api.create(&PostParams::default(), object).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" => {
                return Ok(());
            }
            Err(e) if attempt == 8 => return Err(e.to_string()),
            Err(e) => {
                CREATE_RETRIES.fetch_add(1, Ordering::SeqCst);
                FIRST_RETRY
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| e.to_string());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    unreachable!()
}

/// Every item of a paginated LIST, and the list's resourceVersion.
async fn list_all<K>(api: &Api<K>, selector: &str) -> Result<(Vec<K>, String), String>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    let mut items = Vec::new();
    let mut params = ListParams::default().labels(selector).limit(500);
    let mut version = None;
    loop {
        let page = api.list(&params).await.map_err(|e| e.to_string())?;
        version.get_or_insert_with(|| page.metadata.resource_version.clone().unwrap_or_default());
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok((items, version.unwrap_or_default()))
}

async fn create_objects(
    client: &kube::Client,
    n: usize,
    per_namespace: usize,
    replicas: u32,
    concurrency: usize,
) -> Result<(), String> {
    let per_namespace = per_namespace.max(1);
    let namespaces = n.div_ceil(per_namespace);
    let ns_api: Api<Namespace> = Api::all(client.clone());
    futures::stream::iter(0..namespaces)
        .map(|i| {
            let ns_api = ns_api.clone();
            async move {
                let namespace: Namespace = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace_name(n, i), "labels": {BENCH_LABEL: "true"}}
                }))
                .expect("a Namespace");
                create(&ns_api, &namespace).await
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, String>>()?;
    let resource = rollout_resource();
    let results = futures::stream::iter(0..n)
        .map(|j| {
            let client = client.clone();
            let resource = resource.clone();
            async move {
                let namespace = namespace_name(n, j / per_namespace);
                let name = format!("app-{j:05}");
                let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
                create(&deployments, &deployment(&namespace, &name, replicas))
                    .await
                    .map_err(|e| format!("Deployment {namespace}/{name}: {e}"))?;
                let rollouts: Api<DynamicObject> =
                    Api::namespaced_with(client, &namespace, &resource);
                create(&rollouts, &rollout(&namespace, &name))
                    .await
                    .map_err(|e| format!("Rollout {namespace}/{name}: {e}"))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    match errors.first() {
        None => Ok(()),
        Some(first) => Err(format!("{} creates failed, first: {first}", errors.len())),
    }
}

/// Waits until every bench Deployment has been observed by its controller and (with pods) has
/// its pods available, and the Deployments have stopped changing for a few seconds.
async fn wait_deployments_settled(
    client: &kube::Client,
    n: usize,
    replicas: u32,
    limit: Duration,
) -> Result<(), String> {
    let api: Api<Deployment> = Api::all(client.clone());
    let selector = format!("{BENCH_LABEL}=true");
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut last_fingerprint = None;
    loop {
        let (items, _) = list_all(&api, &selector).await?;
        // The items' resourceVersions (the list's own one moves with every write in the cluster).
        let fingerprint = items
            .iter()
            .filter_map(|d| d.metadata.resource_version.as_deref()?.parse::<u64>().ok())
            .fold(0u64, u64::wrapping_add);
        let settled = items
            .iter()
            .filter(|d| {
                let status = d.status.clone().unwrap_or_default();
                status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(1)
                    && (replicas == 0
                        || (status.available_replicas.unwrap_or(0) as u32 == replicas
                            && status.updated_replicas.unwrap_or(0) as u32 == replicas))
            })
            .count();
        if items.len() == n && settled == n {
            // No Deployment changed between two polls: they have stopped changing.
            if last_fingerprint == Some(fingerprint) {
                return Ok(());
            }
            last_fingerprint = Some(fingerprint);
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            log(format!(
                "  settling: {settled}/{n} Deployments settled after {:.0} s",
                started.elapsed().as_secs_f64()
            ));
            last_report = Instant::now();
        }
        if started.elapsed() > limit {
            return Err(format!(
                "only {settled}/{n} Deployments settled after {} s (--settle-timeout)",
                limit.as_secs()
            ));
        }
        // Each poll lists every Deployment: fewer polls for more of them.
        tokio::time::sleep(Duration::from_secs((n as u64 / 1000).clamp(5, 30))).await;
    }
}

/// Deletes the bench namespaces and waits until they are gone. Rollout finalizers that are still
/// there after `strip_after` (no controller, or a slow one) are removed by the harness.
async fn delete_bench_namespaces(
    client: &kube::Client,
    limit: Duration,
    strip_after: Duration,
) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let selector = format!("{BENCH_LABEL}=true");
    let (namespaces, _) = list_all(&api, &selector).await?;
    if namespaces.is_empty() {
        return Ok(());
    }
    log(format!("deleting {} bench namespaces", namespaces.len()));
    let started = Instant::now();
    for namespace in &namespaces {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(format!("delete namespace {name}: {e}")),
        }
    }
    let rollouts: Api<DynamicObject> = Api::all_with(client.clone(), &rollout_resource());
    let mut stripped = false;
    loop {
        let (left, _) = list_all(&api, &selector).await?;
        if left.is_empty() {
            log(format!(
                "bench namespaces gone after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if !stripped && started.elapsed() >= strip_after {
            stripped = true;
            let (items, _) = list_all(&rollouts, &selector).await?;
            log(format!(
                "namespaces still terminating after {} s: removing the finalizers of {} Rollouts",
                started.elapsed().as_secs(),
                items.len()
            ));
            for r in items {
                let api: Api<DynamicObject> = Api::namespaced_with(
                    client.clone(),
                    &r.metadata.namespace.clone().unwrap_or_default(),
                    &rollout_resource(),
                );
                let _ = api
                    .patch(
                        &r.metadata.name.clone().unwrap_or_default(),
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
            }
        }
        if started.elapsed() > limit {
            return Err(format!(
                "{} bench namespaces still there after {} s",
                left.len(),
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The Rollout watch: MODIFIED events and the first time each Rollout has a phase.

#[derive(Default)]
struct Watch {
    modified: AtomicU64,
    relists: AtomicU64,
    last_modified: Mutex<Option<Instant>>,
    phased: Mutex<HashMap<String, Instant>>,
}

impl Watch {
    fn note(&self, object: &DynamicObject) {
        let has_phase = object
            .data
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .is_some_and(|p| !p.is_empty());
        if has_phase {
            let key = format!(
                "{}/{}",
                object.metadata.namespace.as_deref().unwrap_or_default(),
                object.metadata.name.as_deref().unwrap_or_default()
            );
            self.phased
                .lock()
                .unwrap()
                .entry(key)
                .or_insert_with(Instant::now);
        }
    }

    fn modified(&self) -> u64 {
        self.modified.load(Ordering::SeqCst)
    }

    fn phased(&self) -> usize {
        self.phased.lock().unwrap().len()
    }

    fn quiet_for(&self) -> Option<Duration> {
        self.last_modified.lock().unwrap().map(|t| t.elapsed())
    }
}

/// Watches the bench Rollouts from `version` on until aborted, resuming after each timeout.
async fn watch_rollouts(api: Api<DynamicObject>, mut version: String, watch: Arc<Watch>) {
    let selector = format!("{BENCH_LABEL}=true");
    loop {
        let params = WatchParams::default().labels(&selector).timeout(240);
        let events = match api.watch(&params, &version).await {
            Ok(events) => events,
            Err(error) => {
                log(format!("rollout watch: {error}; retrying"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Deleted(o)) => {
                    version = o.metadata.resource_version.clone().unwrap_or(version);
                    watch.note(&o);
                }
                Ok(WatchEvent::Modified(o)) => {
                    watch.modified.fetch_add(1, Ordering::SeqCst);
                    *watch.last_modified.lock().unwrap() = Some(Instant::now());
                    version = o.metadata.resource_version.clone().unwrap_or(version);
                    watch.note(&o);
                }
                Ok(WatchEvent::Bookmark(b)) => version = b.metadata.resource_version,
                Ok(WatchEvent::Error(status)) => {
                    // 410 Gone: events were compacted away. Relist (counts may miss writes).
                    log(format!(
                        "rollout watch: {} {}; relisting",
                        status.code, status.message
                    ));
                    if status.code == 410 {
                        watch.relists.fetch_add(1, Ordering::SeqCst);
                        if let Ok((items, v)) = list_all(&api, &selector).await {
                            items.iter().for_each(|o| watch.note(o));
                            version = v;
                        }
                    }
                    break;
                }
                Err(error) => {
                    log(format!("rollout watch stream: {error}; resuming"));
                    break;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One N.

impl Harness {
    async fn measure(&self, n: usize, row: &mut Row) -> Result<(), String> {
        let cli = &self.cli;
        log(format!(
            "=== N={n}: {n} Deployments ({} pod(s) each) and {n} Rollouts in {} namespaces",
            cli.replicas, row.namespaces
        ));
        let pods = n * cli.replicas as usize;
        self.cluster_up(pods).await?;
        let client = self.client().await?;
        let (nodes, capacity) = pod_capacity(&client).await?;
        row.nodes = nodes;
        if capacity < pods + 10 {
            return Err(format!(
                "the cluster's {nodes} nodes take {capacity} pods, fewer than the {pods} needed (and 10 spare); start it with K8SCLUSTER_NODES={} or let this harness start its own",
                nodes_for(pods)
            ));
        }
        // Leftovers of an earlier run in a reused cluster (no controller runs: finalizers go).
        delete_bench_namespaces(&client, Duration::from_secs(300), Duration::ZERO).await?;
        self.install()?;
        let webhook_pid = self.start_webhook(n).await?;

        let started = Instant::now();
        create_objects(&client, n, cli.per_namespace, cli.replicas, cli.concurrency).await?;
        row.create_seconds = started.elapsed().as_secs_f64();
        row.create_retries = CREATE_RETRIES.swap(0, Ordering::SeqCst);
        log(format!(
            "created {n} Deployments and {n} Rollouts in {:.1} s ({:.0} objects/s, concurrency {}); {} retried requests{}",
            row.create_seconds,
            2.0 * n as f64 / row.create_seconds,
            cli.concurrency,
            row.create_retries,
            FIRST_RETRY
                .lock()
                .unwrap()
                .take()
                .map_or(String::new(), |e| format!(", first error: {e}"))
        ));
        let started = Instant::now();
        let settle_limit = Duration::from_secs(cli.settle_timeout.unwrap_or(300 + n as u64 / 4));
        wait_deployments_settled(&client, n, cli.replicas, settle_limit).await?;
        row.settle_seconds = started.elapsed().as_secs_f64();
        log(format!(
            "Deployments settled {:.1} s after the creates",
            row.settle_seconds
        ));

        // The watch starts at the list's version, before the controller: it sees every write.
        let rollouts: Api<DynamicObject> = Api::all_with(client.clone(), &rollout_resource());
        let (items, version) = list_all(&rollouts, &format!("{BENCH_LABEL}=true")).await?;
        if items.len() != n {
            return Err(format!("{} Rollouts listed, {n} expected", items.len()));
        }
        let watch = Arc::new(Watch::default());
        items.iter().for_each(|o| watch.note(o));
        if watch.phased() > 0 {
            return Err(format!(
                "{} Rollouts had a phase before the controller started",
                watch.phased()
            ));
        }
        let watcher = tokio::spawn(watch_rollouts(rollouts, version, watch.clone()));
        let result = self.measure_controller(n, row, webhook_pid, &watch).await;
        watcher.abort();
        row.watch_relists = watch.relists.load(Ordering::SeqCst);
        result
    }

    async fn measure_controller(
        &self,
        n: usize,
        row: &mut Row,
        webhook_pid: u32,
        watch: &Watch,
    ) -> Result<(), String> {
        let cli = &self.cli;
        let webhook_cpu_before = self.cpu_seconds(webhook_pid);
        // 1. Cold start: until every Rollout has a phase.
        let started = Instant::now();
        let controller_pid = self.start_controller(&format!("controller-{n}.log"))?;
        log(format!("controller started (pid {controller_pid})"));
        let observe_limit =
            Duration::from_secs(cli.observe_timeout.unwrap_or((n as u64 / 5).max(600)));
        let mut last_report = Instant::now();
        loop {
            if row.controller_ready_seconds.is_none()
                && matches!(
                    http_get(cli.controller_admin_port, "/readyz").await,
                    Some((200, _))
                )
            {
                row.controller_ready_seconds = Some(started.elapsed().as_secs_f64());
            }
            let phased = watch.phased();
            if phased >= n {
                break;
            }
            if !self.child_alive(|o| &mut o.controller) {
                return Err(format!(
                    "the controller exited during the cold start (log {}/controller-{n}.log)",
                    self.paths.logs.display()
                ));
            }
            if started.elapsed() > observe_limit {
                return Err(format!(
                    "only {phased}/{n} Rollouts had a phase after {} s (--observe-timeout)",
                    observe_limit.as_secs()
                ));
            }
            if last_report.elapsed() > Duration::from_secs(30) {
                log(format!(
                    "  {phased}/{n} Rollouts have a phase after {:.0} s, {} MODIFIED events",
                    started.elapsed().as_secs_f64(),
                    watch.modified()
                ));
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let all = {
            let phased = watch.phased.lock().unwrap();
            phased
                .values()
                .map(|t| t.duration_since(started))
                .max()
                .unwrap_or_default()
        };
        row.all_observed_seconds = Some(all.as_secs_f64());
        row.observed_within_60s = watch
            .phased
            .lock()
            .unwrap()
            .values()
            .filter(|t| t.duration_since(started) <= Duration::from_secs(60))
            .count();
        row.all_observed_within_60s = row.observed_within_60s >= n;
        row.modified_until_all_observed = watch.modified();
        log(format!(
            "every Rollout has a phase {:.1} s after the controller started (ready after {} s); {} MODIFIED events so far",
            all.as_secs_f64(),
            opt(row.controller_ready_seconds, 1),
            row.modified_until_all_observed
        ));

        // 2. Until the writes stop.
        let quiet_started = Instant::now();
        loop {
            let quiet = watch.quiet_for().unwrap_or(quiet_started.elapsed());
            if quiet >= QUIET || quiet_started.elapsed() > QUIET_LIMIT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let quiet = watch.quiet_for().unwrap_or(quiet_started.elapsed());
        if quiet < QUIET {
            log(format!(
                "WARNING: Rollouts were still being written {} s after every one had a phase",
                QUIET_LIMIT.as_secs()
            ));
        }
        // The window ends at the last write (the quiet tail is not part of it).
        row.start_window_seconds = (started.elapsed().saturating_sub(quiet)).as_secs_f64();
        row.start_rollout_modified = watch.modified();
        row.start_modified_per_rollout = row.start_rollout_modified as f64 / n as f64;
        let metrics = http_get(cli.controller_admin_port, "/metrics")
            .await
            .map(|m| m.1)
            .unwrap_or_default();
        let (conflicts, errors) = parse_conflicts(&metrics);
        row.start_reconciles = parse_reconciles(&metrics);
        row.conflicts = conflicts;
        row.reconcile_errors = errors;
        row.controller_start_cpu_seconds = self.cpu_seconds(controller_pid);
        row.webhook_start_cpu_seconds = self.cpu_seconds(webhook_pid) - webhook_cpu_before;

        // 3. Memory after settling.
        row.controller_rss_mib = mib(proc_status_kib(controller_pid, "VmRSS"));
        row.controller_hwm_mib = mib(proc_status_kib(controller_pid, "VmHWM"));
        row.webhook_rss_mib = mib(proc_status_kib(webhook_pid, "VmRSS"));
        row.webhook_hwm_mib = mib(proc_status_kib(webhook_pid, "VmHWM"));
        log(format!(
            "writes stopped: {} MODIFIED ({:.2} per Rollout), conflicts {}, controller {:.1} CPU-s, RSS controller {:.1} MiB (HWM {:.1}), webhook {:.1} MiB (HWM {:.1})",
            row.start_rollout_modified,
            row.start_modified_per_rollout,
            row.conflicts.map_or("n/a".into(), |c| c.to_string()),
            row.controller_start_cpu_seconds,
            row.controller_rss_mib,
            row.controller_hwm_mib,
            row.webhook_rss_mib,
            row.webhook_hwm_mib
        ));

        // 4. Idle CPU.
        let (c0, w0, m0) = (
            self.cpu_seconds(controller_pid),
            self.cpu_seconds(webhook_pid),
            watch.modified(),
        );
        let idle_started = Instant::now();
        tokio::time::sleep(Duration::from_secs(cli.idle_seconds)).await;
        let reconciles = http_get(cli.controller_admin_port, "/metrics")
            .await
            .and_then(|m| parse_reconciles(&m.1));
        row.idle_reconciles = reconciles
            .zip(row.start_reconciles)
            .map(|(after, before)| after.saturating_sub(before));
        let elapsed = idle_started.elapsed().as_secs_f64();
        row.idle_seconds = elapsed;
        row.controller_idle_cpu_seconds = self.cpu_seconds(controller_pid) - c0;
        row.webhook_idle_cpu_seconds = self.cpu_seconds(webhook_pid) - w0;
        row.controller_idle_cpu_percent = 100.0 * row.controller_idle_cpu_seconds / elapsed;
        row.webhook_idle_cpu_percent = 100.0 * row.webhook_idle_cpu_seconds / elapsed;
        row.idle_rollout_modified = watch.modified() - m0;
        if !self.child_alive(|o| &mut o.controller) || !self.child_alive(|o| &mut o.webhook) {
            return Err("a service exited during the idle measurement".into());
        }
        log(format!(
            "idle {:.0} s: controller {:.2} CPU-s ({:.2} %, {} reconciles), webhook {:.2} CPU-s ({:.2} %), {} MODIFIED",
            elapsed,
            row.controller_idle_cpu_seconds,
            row.controller_idle_cpu_percent,
            row.idle_reconciles.map_or("n/a".into(), |r| r.to_string()),
            row.webhook_idle_cpu_seconds,
            row.webhook_idle_cpu_percent,
            row.idle_rollout_modified
        ));

        // 5. Restart.
        row.restart_stop_seconds = self
            .stop_child(|o| &mut o.controller, Duration::from_secs(30))
            .map(|d| d.as_secs_f64());
        let m0 = watch.modified();
        let pid = self.start_controller(&format!("controller-{n}-restart.log"))?;
        let ready = wait_ready(cli.controller_admin_port, Duration::from_secs(300), || {
            self.child_alive(|o| &mut o.controller)
        })
        .await
        .map_err(|e| format!("restarted controller: {e}"))?;
        row.restart_ready_seconds = Some(ready.as_secs_f64());
        let m1 = watch.modified();
        row.restart_modified_before_ready = m1 - m0;
        tokio::time::sleep(Duration::from_secs(cli.restart_seconds)).await;
        row.restart_rollout_modified = watch.modified() - m1;
        let metrics = http_get(cli.controller_admin_port, "/metrics")
            .await
            .map(|m| m.1)
            .unwrap_or_default();
        row.restart_conflicts = parse_conflicts(&metrics).0;
        row.restart_reconciles = parse_reconciles(&metrics);
        row.restart_controller_rss_mib = mib(proc_status_kib(pid, "VmRSS"));
        log(format!(
            "restart: stopped in {} s, ready in {:.1} s, {} MODIFIED before ready and {} in the {} s after; {} reconciles",
            opt(row.restart_stop_seconds, 1),
            ready.as_secs_f64(),
            row.restart_modified_before_ready,
            row.restart_rollout_modified,
            cli.restart_seconds,
            row.restart_reconciles
                .map_or("n/a".into(), |r| r.to_string())
        ));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_conflicts, parse_reconciles};

    #[test]
    fn conflicts_are_read_leniently() {
        let text = "# TYPE rollouts_controller_reconcile_errors_total counter\n\
            rollouts_controller_reconcile_errors_total{kind=\"conflict\"} 7\n\
            rollouts_controller_reconcile_errors_total{kind=\"api\"} 2\n";
        let (c, errors) = parse_conflicts(text);
        assert_eq!(c, Some(7));
        assert_eq!(errors.get("api"), Some(&2));
        let none = "# TYPE rollouts_controller_reconcile_errors_total counter\n";
        assert_eq!(parse_conflicts(none).0, Some(0));
        assert_eq!(
            parse_conflicts("# TYPE other_total counter\nother_total 3\n").0,
            None
        );
        let renamed = "rollouts_controller_status_conflicts_total 4\n";
        assert_eq!(parse_conflicts(renamed).0, Some(4));
        let histogram = "rollouts_controller_reconcile_duration_seconds_bucket{le=\"+Inf\"} 9\n\
            rollouts_controller_reconcile_duration_seconds_count 9\n";
        assert_eq!(parse_reconciles(histogram), Some(9));
        assert_eq!(parse_reconciles("other_count 3\n"), None);
    }
}
