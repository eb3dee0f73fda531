//! rollouts-webhook: serves admission and conversion over HTTPS with certificates it manages
//! itself (or reads from files), plus `/healthz`, `/readyz` and `/metrics` on plain HTTP.

use clap::Parser;
use rollouts_tls::{PemPair, ReloadableResolver};
use rollouts_webhook::cache::Caches;
use rollouts_webhook::certs::{self, CertConfig, Endpoint, Material};
use rollouts_webhook::metrics::Metrics;
use rollouts_webhook::server::{self, AppState};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// Admission answers allocate many small JSON values; mimalloc halves their cost over glibc's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Admission webhook of rollouts.kruise.io.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Args {
    /// Address to serve admission and conversion on (HTTPS).
    #[arg(long, env = "WEBHOOK_BIND", default_value = "0.0.0.0")]
    bind: String,
    /// HTTPS port of the admission endpoints.
    #[arg(long, env = "WEBHOOK_PORT", default_value_t = 9876)]
    webhook_port: u16,
    /// Address and port of /healthz, /readyz and /metrics (plain HTTP).
    #[arg(long, default_value = "0.0.0.0:8081")]
    admin_addr: String,
    /// Namespace of the certificate Secret.
    #[arg(long, env = "POD_NAMESPACE", default_value = rollouts_api::crd::INSTALL_NAMESPACE)]
    namespace: String,
    /// Service the API server reaches the webhook through.
    #[arg(long, env = "SERVICE_NAME", default_value = rollouts_api::crd::WEBHOOK_SERVICE)]
    service_name: String,
    /// Register the webhook by URL `https://<host>:<webhook-port>` instead of the Service
    /// (clusters without Service networking, local development).
    #[arg(long, env = "WEBHOOK_HOST")]
    webhook_host: Option<String>,
    /// Secret holding the CA and the serving certificate.
    #[arg(long, default_value = "kruise-rollout-webhook-certs")]
    secret_name: String,
    /// Serve `tls.crt` / `tls.key` from this folder (e.g. cert-manager) instead of managing
    /// certificates; caBundles are then left to whoever issues them.
    #[arg(long)]
    cert_dir: Option<PathBuf>,
    /// Validity of a newly issued serving certificate, in seconds (renewed at a fifth left).
    #[arg(long, default_value_t = 365 * 24 * 3600)]
    cert_validity_seconds: u64,
    /// How often to check whether the certificate needs renewal, in seconds.
    #[arg(long, default_value_t = 60)]
    cert_check_seconds: u64,
    /// MutatingWebhookConfiguration to keep pointed at this webhook.
    #[arg(long, default_value = certs::MUTATING_CONFIG)]
    mutating_configuration: String,
    /// ValidatingWebhookConfiguration to keep pointed at this webhook.
    #[arg(long, default_value = certs::VALIDATING_CONFIG)]
    validating_configuration: String,
    /// Exit when this process is gone (for test harnesses and local tools that start the webhook).
    #[arg(long, hide = true)]
    parent_pid: Option<u32>,
    /// Largest percentage of pods a partition-style step that routes traffic may update.
    #[arg(long, default_value_t = rollouts_plan::validation::DEFAULT_PARTITION_PERCENT_LIMIT)]
    partition_percent_limit: i32,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "rollouts-webhook stopped");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn cert_config(args: &Args) -> (CertConfig, Endpoint) {
    let (names, endpoint) = match &args.webhook_host {
        Some(host) => (
            vec![host.clone()],
            Endpoint::Url(format!("https://{host}:{}", args.webhook_port)),
        ),
        None => {
            let svc = &args.service_name;
            let ns = &args.namespace;
            let names = vec![
                format!("{svc}.{ns}.svc"),
                format!("{svc}.{ns}.svc.cluster.local"),
                format!("{svc}.{ns}"),
                svc.clone(),
            ];
            (
                names,
                Endpoint::Service {
                    namespace: ns.clone(),
                    name: svc.clone(),
                },
            )
        }
    };
    let config = CertConfig {
        namespace: args.namespace.clone(),
        secret_name: args.secret_name.clone(),
        names,
        ca_validity: Duration::from_secs(10 * 365 * 24 * 3600),
        serving_validity: Duration::from_secs(args.cert_validity_seconds),
    };
    (config, endpoint)
}

fn configurations(args: &Args) -> certs::Configurations {
    certs::Configurations {
        mutating: args.mutating_configuration.clone(),
        validating: args.validating_configuration.clone(),
    }
}

async fn run(args: Args) -> Result<(), BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = kube::Client::try_default().await?;
    let (config, endpoint) = cert_config(&args);

    let initial = match &args.cert_dir {
        Some(dir) => Material {
            ca: PemPair {
                cert_pem: String::new(),
                key_pem: String::new(),
            },
            serving: certs::read_cert_dir(dir)?,
        },
        None => certs::ensure(&client, &config).await?,
    };
    let resolver = Arc::new(ReloadableResolver::new(provider, &initial.serving)?);
    if args.cert_dir.is_none() {
        certs::publish_ca(
            &client,
            &endpoint,
            &configurations(&args),
            &initial.ca.cert_pem,
        )
        .await?;
    }

    let caches = Caches::start(
        &client,
        rollouts_webhook::cache::watch_config(&client).await,
    );
    let ready = Arc::new(AtomicBool::new(false));
    let metrics = Arc::new(Metrics::default());
    {
        let (caches, ready) = (caches.clone(), ready.clone());
        tokio::spawn(async move {
            caches.wait_until_ready().await;
            ready.store(true, Ordering::Release);
            tracing::info!("caches synced; ready");
        });
    }
    tokio::spawn(renew_forever(
        client.clone(),
        args.clone(),
        config,
        endpoint,
        resolver.clone(),
        initial,
    ));

    let admin = TcpListener::bind(&args.admin_addr)
        .await
        .map_err(|e| format!("admin address {}: {e}", args.admin_addr))?;
    let admin_router = server::admin_router(metrics.clone(), ready);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(admin, admin_router).await {
            tracing::error!(error = %e, "admin server stopped");
        }
    });
    let state = Arc::new(AppState {
        lookup: Arc::new(caches),
        metrics,
        partition_percent_limit: args.partition_percent_limit,
    });
    let address = format!("{}:{}", args.bind, args.webhook_port);
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| format!("webhook address {address}: {e}"))?;
    tracing::info!(%address, admin = %args.admin_addr, "serving");
    tokio::select! {
        () = parent_gone(args.parent_pid) => {
            tracing::info!("parent process gone; shutting down");
            Ok(())
        }
        () = server::serve_tls(listener, server::tls_config(resolver)?, server::webhook_router(state)) => Ok(()),
        () = shutdown_signal() => {
            tracing::info!("shutting down");
            Ok(())
        }
    }
}

/// Renews (or, with `--cert-dir`, re-reads) the certificate and swaps it in without a restart.
async fn renew_forever(
    client: kube::Client,
    args: Args,
    config: CertConfig,
    endpoint: Endpoint,
    resolver: Arc<ReloadableResolver>,
    mut current: Material,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(args.cert_check_seconds.max(1)));
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let next = match &args.cert_dir {
            Some(dir) => certs::read_cert_dir(dir)
                .map(|serving| Material {
                    ca: current.ca.clone(),
                    serving,
                })
                .map_err(|e| e.to_string()),
            None => certs::ensure(&client, &config)
                .await
                .map_err(|e| e.to_string()),
        };
        let next = match next {
            Ok(next) => next,
            Err(e) => {
                tracing::warn!(error = %e, "certificate check failed; keeping the current certificate");
                continue;
            }
        };
        // Published on every check, not only when the CA changes: a `kubectl apply` of the
        // manifests resets the caBundles, and this puts them back (unchanged ones are not written).
        if args.cert_dir.is_none()
            && let Err(e) = certs::publish_ca(
                &client,
                &endpoint,
                &configurations(&args),
                &next.ca.cert_pem,
            )
            .await
        {
            tracing::warn!(error = %e, "cannot publish the new CA; will retry");
            continue;
        }
        if next.serving != current.serving {
            match resolver.replace(&next.serving) {
                Ok(()) => tracing::info!("serving a renewed certificate"),
                Err(e) => {
                    tracing::warn!(error = %e, "renewed certificate unusable; keeping the current one");
                    continue;
                }
            }
        }
        current = next;
    }
}

/// Resolves when `pid` no longer exists; never when there is no parent to watch.
async fn parent_gone(pid: Option<u32>) {
    let Some(pid) = pid else {
        return std::future::pending().await;
    };
    let proc_dir = std::path::PathBuf::from(format!("/proc/{pid}"));
    while proc_dir.exists() {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
