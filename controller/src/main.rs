//! rollouts-controller: reconciles Rollouts under leader election, with `/healthz`, `/readyz`
//! and `/metrics` on a plain-HTTP admin port and JSON logs. It uses the system allocator: the
//! controller's work is not allocation-bound, and mimalloc kept more than twice the memory
//! (docs/benchmarks.md).

use clap::Parser;
use rollouts_controller::admin::{admin_router, serve_admin};
use rollouts_controller::context::Settings;
use rollouts_controller::lease::{LeaseConfig, run_as_leader};
use rollouts_controller::metrics::Metrics;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Rollout controller of rollouts.kruise.io.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Address and port of /healthz, /readyz and /metrics (plain HTTP).
    #[arg(long, default_value = "0.0.0.0:8080")]
    admin_addr: String,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = rollouts_api::crd::INSTALL_NAMESPACE)]
    namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "kruise-rollout-controller")]
    lease_name: String,
    /// Seconds the leader-election Lease stays with a leader that stopped renewing it: how long a
    /// standby waits after the leader crashed. The leader renews every third of it.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(3..=300))]
    lease_duration_seconds: u64,
    /// Run without leader election (single replica, local development).
    #[arg(long)]
    no_leader_election: bool,
    /// Seconds a step's pods may take to become Ready before the Rollout is marked failed, for
    /// workloads without their own `progressDeadlineSeconds` (Deployments have one).
    #[arg(long, default_value_t = 600)]
    progress_deadline_seconds: i64,
    /// Rollouts reconciled at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    reconcile_concurrency: u16,
    /// Prometheus base URL for metric analysis when a Rollout's analysis names none
    /// (e.g. `http://prometheus.monitoring:9090`).
    #[arg(long)]
    prometheus_address: Option<String>,
    /// Seconds one metric analysis query may take before it counts as no answer.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    prometheus_timeout_seconds: u64,
    /// Human-readable logs instead of JSON.
    #[arg(long)]
    plain_logs: bool,
    /// Exit when this process is gone (for test harnesses that start the controller).
    #[arg(long, hide = true)]
    parent_pid: Option<u32>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if args.plain_logs {
        logs.init();
    } else {
        logs.json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    }
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "rollouts-controller stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let client = kube::Client::try_default().await?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(&args.admin_addr).await?;
    tracing::info!(addr = %args.admin_addr, "admin endpoints listening");
    tokio::spawn(serve_admin(
        listener,
        admin_router(metrics.clone(), ready.clone()),
        stop(args.parent_pid),
    ));
    let settings = Settings {
        progress_deadline_seconds: args.progress_deadline_seconds,
        reconcile_concurrency: args.reconcile_concurrency,
        prometheus_address: args.prometheus_address.filter(|a| !a.trim().is_empty()),
        prometheus_timeout: std::time::Duration::from_secs(args.prometheus_timeout_seconds),
        namespace: args.namespace.clone(),
    };
    if !args.no_leader_election {
        // A standby is ready as soon as it runs: it has nothing to sync until it leads.
        ready.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let work = rollouts_controller::run::run(
        client.clone(),
        settings,
        metrics.clone(),
        ready,
        stop(args.parent_pid),
    );
    if args.no_leader_election {
        metrics.set_leader(true);
        work.await;
        return Ok(());
    }
    let identity = std::env::var("POD_NAME")
        .unwrap_or_else(|_| format!("{}-{}", hostname(), std::process::id()));
    let config = LeaseConfig {
        namespace: args.namespace,
        name: args.lease_name,
        identity,
        lease_duration: Duration::from_secs(args.lease_duration_seconds),
        renew_every: Duration::from_secs(args.lease_duration_seconds) / 3,
    };
    let leader_metrics = metrics.clone();
    let lead = run_as_leader(client, config, async move {
        leader_metrics.set_leader(true);
        work.await;
    });
    // A standby stops at once; a leader gets time to finish its reconciles and hand the Lease over.
    let stopped = async {
        stop(args.parent_pid).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
    };
    tokio::select! {
        result = lead => result?,
        () = stopped => {}
    }
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "rollouts-controller".into())
}

/// Resolves on SIGTERM, Ctrl-C, or when the parent process (if given) is gone.
async fn stop(parent_pid: Option<u32>) {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let parent_gone = async {
        let Some(pid) = parent_pid else {
            return std::future::pending::<()>().await;
        };
        let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
        while proc_dir.exists() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
        () = parent_gone => {}
    }
    tracing::info!("shutting down");
}
