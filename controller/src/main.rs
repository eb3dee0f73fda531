//! rollouts-controller: parses its configuration. Reconciling Rollouts is not built yet
//! (controller issue); until then it says so and exits non-zero rather than pretend to run.

use clap::Parser;
use std::process::ExitCode;

/// Rollout controller of rollouts.kruise.io.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Plain-HTTP port of /healthz, /readyz and /metrics.
    #[arg(long, default_value_t = 8080)]
    admin_port: u16,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = rollouts_api::crd::INSTALL_NAMESPACE)]
    namespace: String,
    /// Run without leader election (single replica, local development).
    #[arg(long)]
    no_leader_election: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    eprintln!(
        "rollouts-controller {}: reconciling is not implemented yet (configuration: {args:?})",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
