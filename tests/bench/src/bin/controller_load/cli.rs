//! Command line of controller-load.

use clap::Parser;
use std::fmt::Debug;
use std::path::PathBuf;

#[derive(Parser, Debug, Clone)]
#[command(
    about = "Controller and webhook at scale on the local control plane: cold start, writes, conflicts, RSS, idle CPU, restart"
)]
pub(crate) struct Cli {
    /// Repository whose tests/cluster scripts and manifests are used [default: the one this
    /// binary was built from].
    #[arg(long)]
    pub(crate) repo: Option<PathBuf>,
    /// Numbers of Rollouts to measure, comma separated (one run each).
    #[arg(long, default_value = "500,2000,10000", value_delimiter = ',')]
    pub(crate) rollouts: Vec<usize>,
    /// Pods per Deployment (0 or 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=1))]
    pub(crate) replicas: u32,
    /// Controller binary [default: <repo>/target/release/rollouts-controller].
    #[arg(long)]
    pub(crate) controller_bin: Option<PathBuf>,
    /// Webhook binary [default: <repo>/target/release/rollouts-webhook].
    #[arg(long)]
    pub(crate) webhook_bin: Option<PathBuf>,
    /// Folder with namespace.yaml, crds/ and webhook/ to install [default: <repo>/manifests].
    #[arg(long)]
    pub(crate) manifests: Option<PathBuf>,
    /// Cluster folder for tests/cluster/up.sh [default: <repo>/.cluster-bench].
    #[arg(long)]
    pub(crate) cluster_dir: Option<PathBuf>,
    /// Seconds of idle CPU measurement (nothing changes meanwhile).
    #[arg(long, default_value_t = 120)]
    pub(crate) idle_seconds: u64,
    /// Seconds after the restarted controller is ready during which writes are counted.
    #[arg(long, default_value_t = 60)]
    pub(crate) restart_seconds: u64,
    /// Rollouts (and Deployments) per namespace.
    #[arg(long, default_value_t = 100)]
    pub(crate) per_namespace: usize,
    /// Concurrent create requests.
    #[arg(long, default_value_t = 32)]
    pub(crate) concurrency: usize,
    /// Seconds the Deployments may take to settle [default: 300 + N/4].
    #[arg(long)]
    pub(crate) settle_timeout: Option<u64>,
    /// Seconds the controller may take to give every Rollout a phase [default: max(600, N/5)].
    #[arg(long)]
    pub(crate) observe_timeout: Option<u64>,
    /// HTTPS port of the webhook.
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 24876)]
    pub(crate) webhook_port: u16,
    /// Admin port (/readyz, /metrics) of the webhook.
    #[arg(long, env = "WEBHOOK_ADMIN_PORT", default_value_t = 24081)]
    pub(crate) webhook_admin_port: u16,
    /// Admin port (/readyz, /metrics) of the controller.
    #[arg(long, env = "CONTROLLER_ADMIN_PORT", default_value_t = 24082)]
    pub(crate) controller_admin_port: u16,
    /// File the JSON lines are appended to [default: <repo>/target/bench/controller-load.jsonl].
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
    /// Free text stored in every JSON line (e.g. the commit the binaries were built from).
    #[arg(long, default_value = "")]
    pub(crate) label: String,
    /// Extra argument for the controller (repeatable).
    #[arg(long = "controller-arg", allow_hyphen_values = true)]
    pub(crate) controller_args: Vec<String>,
}
