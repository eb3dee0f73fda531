//! The real HTTPS server (rustls, in-process) answered by reqwest trusting a generated CA:
//! admission and conversion over TLS, TLS 1.2 and 1.3 both work, and bad input gets a clear
//! error instead of a hang or a panic.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollouts_api::v1beta1::Rollout;
use rollouts_tls::{PemPair, ReloadableResolver, issue_ca, issue_serving};
use rollouts_webhook::handlers::Lookup;
use rollouts_webhook::metrics::Metrics;
use rollouts_webhook::server::{AppState, MAX_BODY_BYTES, serve_tls, tls_config, webhook_router};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Empty;

impl Lookup for Empty {
    fn rollouts(&self, _: &str) -> Vec<Arc<Rollout>> {
        Vec::new()
    }
    fn owned_replica_sets(&self, _: &str) -> Vec<Arc<ReplicaSet>> {
        Vec::new()
    }
}

const YEAR: Duration = Duration::from_secs(365 * 86400);

/// Starts the server on a free loopback port; returns its base URL, the CA and the metrics.
async fn start() -> (String, PemPair, Arc<Metrics>) {
    let ca = issue_ca(YEAR).unwrap();
    let serving = issue_serving(&ca, &["127.0.0.1".to_string()], YEAR).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = Arc::new(ReloadableResolver::new(provider, &serving).unwrap());
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(AppState {
        lookup: Arc::new(Empty),
        metrics: metrics.clone(),
        partition_percent_limit: 50,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(serve_tls(
        listener,
        tls_config(resolver).unwrap(),
        webhook_router(state),
    ));
    (base, ca, metrics)
}

fn client(ca: &PemPair, versions: &[&'static rustls::SupportedProtocolVersion]) -> reqwest::Client {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn validation_review(steps: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "https-1", "kind": {"group": "rollouts.kruise.io", "version": "v1beta1", "kind": "Rollout"},
            "resource": {"group": "rollouts.kruise.io", "version": "v1beta1", "resource": "rollouts"},
            "name": "r", "namespace": "default", "operation": "CREATE", "userInfo": {},
            "object": {"apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout", "metadata": {"name": "r", "namespace": "default"},
                       "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                                "strategy": {"canary": {"steps": steps}}}}
        }
    }))
    .unwrap()
}

async fn post(client: &reqwest::Client, url: String, body: Vec<u8>) -> (u16, Value) {
    let response = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn admission_answers_over_tls_1_2_and_1_3() {
    let (base, ca, metrics) = start().await;
    for versions in [
        &[&rustls::version::TLS12][..],
        &[&rustls::version::TLS13][..],
    ] {
        let client = client(&ca, versions);
        let url = format!("{base}/validate-rollouts-kruise-io-rollout");
        let (status, review) = post(
            &client,
            url.clone(),
            validation_review(json!([{"replicas": 1}])),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(review["response"]["allowed"], json!(true));
        assert_eq!(review["response"]["uid"], json!("https-1"));
        let (_, review) = post(
            &client,
            url,
            validation_review(json!([{"replicas": 3}, {"replicas": 2}])),
        )
        .await;
        assert_eq!(review["response"]["allowed"], json!(false));
        assert_eq!(review["response"]["status"]["code"], json!(422));
        let message = review["response"]["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("spec.strategy.canary.steps[1].replicas"),
            "{message}"
        );
    }
    let text = metrics.render();
    assert!(
        text.contains("path=\"/validate-rollouts-kruise-io-rollout\",decision=\"denied\"} 2"),
        "{text}"
    );
}

#[tokio::test]
async fn conversion_answers_over_tls() {
    let (base, ca, _) = start().await;
    let body = serde_json::to_vec(&json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {"uid": "c-1", "desiredAPIVersion": "rollouts.kruise.io/v1beta1", "objects": [{
            "apiVersion": "rollouts.kruise.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "r"},
            "spec": {"objectRef": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"}},
                     "strategy": {"canary": {"steps": [{"weight": 20, "replicas": 1}]}}}}]}
    }))
    .unwrap();
    let (status, review) = post(
        &client(&ca, &[&rustls::version::TLS13]),
        format!("{base}/convert"),
        body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["result"]["status"], json!("Success"));
    assert_eq!(
        review["response"]["convertedObjects"][0]["spec"]["strategy"]["canary"]["steps"][0]["traffic"],
        json!("20%")
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_error() {
    let (base, ca, metrics) = start().await;
    let client = client(&ca, &[&rustls::version::TLS13]);
    let (status, review) = post(
        &client,
        format!("{base}/mutate-apps-v1-deployment"),
        b"{not json".to_vec(),
    )
    .await;
    assert_eq!(
        status, 200,
        "the API server expects a review with allowed: false"
    );
    assert_eq!(review["response"]["allowed"], json!(false));
    assert!(
        review["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("not an AdmissionReview")
    );
    let huge = vec![b' '; MAX_BODY_BYTES + 1];
    let (status, body) = post(&client, format!("{base}/mutate-apps-v1-deployment"), huge).await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("at most"), "{body}");
    let (status, _) = post(&client, format!("{base}/no-such-path"), b"{}".to_vec()).await;
    assert_eq!(status, 404);
    assert!(metrics.render().contains("decision=\"invalid\""));
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused() {
    let (base, _, _) = start().await;
    let stranger = issue_ca(YEAR).unwrap();
    let result = client(&stranger, &[&rustls::version::TLS13])
        .post(format!("{base}/convert"))
        .body("{}")
        .send()
        .await;
    assert!(
        result.is_err(),
        "the handshake must fail for an untrusted CA"
    );
}
