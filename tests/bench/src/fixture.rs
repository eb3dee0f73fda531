//! The server side of the benchmark and the review it answers: a namespace with 100 Rollouts
//! and their ReplicaSets, one of which governs the Deployment being updated.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollouts_api::v1beta1::Rollout;
use rollouts_tls::{ReloadableResolver, issue_ca, issue_serving};
use rollouts_webhook::handlers::Lookup;
use rollouts_webhook::metrics::Metrics;
use rollouts_webhook::server::{AppState, serve_tls, tls_config, webhook_router};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

struct Fixed {
    rollouts: Vec<Arc<Rollout>>,
    replica_sets: Vec<Arc<ReplicaSet>>,
}

impl Lookup for Fixed {
    fn rollouts(&self, _: &str) -> Vec<Arc<Rollout>> {
        self.rollouts.clone()
    }
    fn owned_replica_sets(&self, uid: &str) -> Vec<Arc<ReplicaSet>> {
        let owned = |rs: &&Arc<ReplicaSet>| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        };
        self.replica_sets.iter().filter(owned).cloned().collect()
    }
}

fn template(image: &str, hash: Option<&str>) -> serde_json::Value {
    let mut labels = json!({"app": "echoserver"});
    if let Some(hash) = hash {
        labels["pod-template-hash"] = json!(hash);
    }
    json!({"metadata": {"labels": labels}, "spec": {"containers": [{"name": "echoserver", "image": image,
        "env": [{"name": "PORT", "value": "8080"}, {"name": "NODE_NAME", "value": "version1"}]}]}})
}

fn cache() -> Fixed {
    let rollouts = (0..100)
        .map(|i| {
            let workload = if i == 0 { "echoserver".to_string() } else { format!("app-{i}") };
            let rollout: Rollout = serde_json::from_value(json!({
                "apiVersion": <Rollout as kube::Resource>::api_version(&()), "kind": "Rollout",
                "metadata": {"name": format!("rollout-{i}"), "namespace": "default"},
                "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload},
                         "strategy": {"canary": {"steps": [{"replicas": 1}, {"replicas": "50%"}, {"replicas": "100%"}]}}}
            }))
            .unwrap();
            Arc::new(rollout)
        })
        .collect();
    let replica_sets = (0..100)
        .map(|i| {
            let owner = if i == 0 { "dep-uid".to_string() } else { format!("uid-{i}") };
            let rs: ReplicaSet = serde_json::from_value(json!({
                "metadata": {"name": format!("rs-{i}"), "namespace": "default", "labels": {"pod-template-hash": format!("h{i}")},
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "x", "uid": owner, "controller": true}]},
                "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "echoserver"}}, "template": template("demo:1.10.2", Some(&format!("h{i}")))}
            }))
            .unwrap();
            Arc::new(rs)
        })
        .collect();
    Fixed {
        rollouts,
        replica_sets,
    }
}

/// The AdmissionReview every request sends: an image update of a governed Deployment.
pub fn review_body() -> Vec<u8> {
    let deployment = |image: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "echoserver", "namespace": "default", "uid": "dep-uid", "labels": {"app": "echoserver"}},
               "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "echoserver"}}, "template": template(image, None)}})
    };
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "bench", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
                    "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
                    "name": "echoserver", "namespace": "default", "operation": "UPDATE", "userInfo": {"username": "bench"},
                    "object": deployment("demo:1.10.3"), "oldObject": deployment("demo:1.10.2")}
    }))
    .unwrap()
}

/// Serves on a free loopback port; writes `port` and `ca.pem` into `dir`.
pub async fn serve(dir: std::path::PathBuf) {
    let year = Duration::from_secs(365 * 86400);
    let ca = issue_ca(year).unwrap();
    let serving = issue_serving(&ca, &["127.0.0.1".to_string()], year).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Arc::new(ReloadableResolver::new(provider, &serving).unwrap());
    let state = Arc::new(AppState {
        lookup: Arc::new(cache()),
        metrics: Arc::new(Metrics::default()),
        partition_percent_limit: 50,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    std::fs::write(dir.join("ca.pem"), &ca.cert_pem).unwrap();
    std::fs::write(
        dir.join("port"),
        listener.local_addr().unwrap().port().to_string(),
    )
    .unwrap();
    serve_tls(
        listener,
        tls_config(resolver).unwrap(),
        webhook_router(state),
    )
    .await;
}

/// One keep-alive HTTP/1.1 connection over TLS that sends a fixed request and reads each
/// response by its Content-Length: a minimal client, so the generator leaves the CPU to the
/// server it measures (like wrk, not a general HTTP client).
pub struct Connection {
    tls: tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
    request: Arc<Vec<u8>>,
    buffer: Vec<u8>,
}

/// Builds the raw request bytes for `path` with `body`.
pub fn raw_request(path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

impl Connection {
    /// Connects to 127.0.0.1:`port`, trusting `ca`.
    pub async fn open(ca: &str, port: u16, request: Arc<Vec<u8>>) -> std::io::Result<Self> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from_pem_slice(ca.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        Ok(Self {
            tls,
            request,
            buffer: Vec::with_capacity(8192),
        })
    }

    /// Sends the request and reads the whole response; returns its status code.
    pub async fn round_trip(&mut self) -> std::io::Result<u16> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.tls.write_all(&self.request).await?;
        self.buffer.clear();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end]).unwrap_or_default();
                let status = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_string())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while self.buffer.len() < end + 4 + length {
                    let n = self.tls.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    self.buffer.extend_from_slice(&chunk[..n]);
                }
                return Ok(status);
            }
            let n = self.tls.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
