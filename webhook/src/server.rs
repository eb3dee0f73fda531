//! HTTP plumbing: the admission routes served over rustls (TLS 1.2+), and the plain-HTTP
//! admin routes (`/healthz`, `/readyz`, `/metrics`).

use crate::handlers::{self, AdmissionRequest, AdmissionResponse, Decision, Lookup, MutatingPath};
use crate::metrics::Metrics;
use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rollouts_tls::ReloadableResolver;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest request body accepted (the API server's own limit for objects is 3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
const VALIDATE_PATH: &str = "/validate-rollouts-kruise-io-rollout";
const CONVERT_PATH: &str = "/convert";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What every request handler shares.
pub struct AppState {
    /// Cached cluster state.
    pub lookup: Arc<dyn Lookup>,
    /// Request metrics.
    pub metrics: Arc<Metrics>,
    /// `--partition-percent-limit`.
    pub partition_percent_limit: i32,
}

/// A body that could not be read: HTTP 400 with the reason (413 from axum becomes 400 here).
fn bad_body(
    path: &'static str,
    state: &AppState,
    started: Instant,
    rejection: BytesRejection,
) -> Response {
    tracing::warn!(path, error = %rejection.body_text(), "unreadable request body");
    state
        .metrics
        .observe(path, Decision::Invalid.as_str(), started.elapsed());
    let message = format!(
        "cannot read the request body (at most {MAX_BODY_BYTES} bytes): {}",
        rejection.body_text()
    );
    (StatusCode::BAD_REQUEST, message).into_response()
}

fn admission(
    path: &'static str,
    state: &AppState,
    body: &[u8],
    answer: impl FnOnce(&AdmissionRequest) -> (AdmissionResponse, Decision),
) -> Response {
    let started = Instant::now();
    let (review, decision) = match handlers::decode_admission(body) {
        Ok(request) => {
            let (response, decision) = answer(&request);
            if decision == Decision::Denied || decision == Decision::Invalid {
                tracing::info!(path, name = %request.name, namespace = ?request.namespace, message = %response.message, "refused");
            }
            (response.into_review(), decision)
        }
        Err(response) => {
            tracing::warn!(path, message = %response.message, "malformed AdmissionReview");
            (response.into_review(), Decision::Invalid)
        }
    };
    state
        .metrics
        .observe(path, decision.as_str(), started.elapsed());
    ([(header::CONTENT_TYPE, "application/json")], review).into_response()
}

/// The admission and conversion routes.
pub fn webhook_router(state: Arc<AppState>) -> Router {
    let mut router = Router::new();
    for (kind, path) in MutatingPath::ALL {
        let state = state.clone();
        router = router.route(
            path,
            post(move |body: Result<Bytes, BytesRejection>| async move {
                match body {
                    Ok(body) => admission(path, &state, &body, |r| {
                        handlers::mutate(kind, r, state.lookup.as_ref())
                    }),
                    Err(rejection) => bad_body(path, &state, Instant::now(), rejection),
                }
            }),
        );
    }
    let finalizer_state = state.clone();
    router = router.route(
        handlers::ROLLOUT_MUTATE_PATH,
        post(move |body: Result<Bytes, BytesRejection>| async move {
            let state = finalizer_state;
            match body {
                Ok(body) => admission(
                    handlers::ROLLOUT_MUTATE_PATH,
                    &state,
                    &body,
                    handlers::add_finalizer,
                ),
                Err(rejection) => bad_body(
                    handlers::ROLLOUT_MUTATE_PATH,
                    &state,
                    Instant::now(),
                    rejection,
                ),
            }
        }),
    );
    let validate_state = state.clone();
    router = router.route(
        VALIDATE_PATH,
        post(move |body: Result<Bytes, BytesRejection>| async move {
            let state = validate_state;
            let limit = state.partition_percent_limit;
            match body {
                Ok(body) => admission(VALIDATE_PATH, &state, &body, |r| {
                    handlers::validate(r, state.lookup.as_ref(), limit)
                }),
                Err(rejection) => bad_body(VALIDATE_PATH, &state, Instant::now(), rejection),
            }
        }),
    );
    router
        .route(
            CONVERT_PATH,
            post(move |body: Result<Bytes, BytesRejection>| async move {
                let started = Instant::now();
                match body {
                    Ok(body) => {
                        let review = handlers::convert(&body);
                        let failed = review.response.as_ref().is_some_and(|r| {
                            r.result.status != Some(kube::core::response::StatusSummary::Success)
                        });
                        let decision = if failed {
                            Decision::Invalid
                        } else {
                            Decision::Allowed
                        };
                        if failed {
                            let message = review
                                .response
                                .as_ref()
                                .map(|r| r.result.message.clone())
                                .unwrap_or_default();
                            tracing::warn!(%message, "conversion failed");
                        }
                        state
                            .metrics
                            .observe(CONVERT_PATH, decision.as_str(), started.elapsed());
                        Json(review).into_response()
                    }
                    Err(rejection) => bad_body(CONVERT_PATH, &state, started, rejection),
                }
            }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The admin routes: liveness, readiness (certificates published and caches synced), metrics.
pub fn admin_router(metrics: Arc<Metrics>, ready: Arc<AtomicBool>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(move || async move {
                match ready.load(Ordering::Acquire) {
                    true => (StatusCode::OK, "ok"),
                    false => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "certificates or caches not ready",
                    ),
                }
            }),
        )
        .route("/metrics", get(move || async move { metrics.render() }))
}

/// TLS 1.2 and 1.3 with the resolver's current certificate, HTTP/2 and HTTP/1.1.
pub fn tls_config(
    resolver: Arc<ReloadableResolver>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Accepts TLS connections forever; each is served on its own task.
pub async fn serve_tls(listener: TcpListener, config: rustls::ServerConfig, router: Router) {
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection(TokioIo::new(tls), service).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
