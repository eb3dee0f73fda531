//! rollouts-webhook: parses its configuration. Serving admission requests is not built yet
//! (webhook issue); until then it says so and exits non-zero rather than pretend to serve.

use clap::Parser;
use std::process::ExitCode;

/// Admission webhook of rollouts.kruise.io.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// HTTPS port of the admission endpoints.
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 9876)]
    webhook_port: u16,
    /// Plain-HTTP port of /healthz, /readyz and /metrics.
    #[arg(long, default_value_t = 8081)]
    admin_port: u16,
    /// Namespace of the certificate Secret.
    #[arg(long, env = "POD_NAMESPACE", default_value = rollouts_api::crd::INSTALL_NAMESPACE)]
    namespace: String,
    /// Service name the API server reaches the webhook through.
    #[arg(long, env = "SERVICE_NAME", default_value = rollouts_api::crd::WEBHOOK_SERVICE)]
    service_name: String,
    /// Reach the webhook by URL `https://<host>:<port>` instead of the Service.
    #[arg(long, env = "WEBHOOK_HOST")]
    webhook_host: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    eprintln!(
        "rollouts-webhook {}: admission serving is not implemented yet (configuration: {args:?})",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
