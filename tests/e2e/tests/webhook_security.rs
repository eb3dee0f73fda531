//! The webhook's transport and logs as an attacker or an auditor sees them: plain HTTP and TLS
//! below 1.2 get no answer, TLS 1.2 works, and what a request carries never reaches the log at
//! info level (the level the manifests run).

use rollouts_e2e::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The first bytes the webhook port answers to `hello`, until it closes or 5 s pass.
fn answer_to(port: u16, hello: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the webhook listens");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(hello).unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 512];
    while let Ok(n) = stream.read(&mut buffer) {
        if n == 0 || answer.len() > 4096 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    answer
}

/// A TLS 1.1 ClientHello offering one cipher suite and no extensions (so no later version).
fn tls_1_1_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([7u8; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x02, 0x00, 0x2f]); // one suite: TLS_RSA_WITH_AES_128_CBC_SHA
    body.extend([0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8]; // ClientHello
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend(handshake);
    record
}

#[test]
fn plain_http_and_tls_below_1_2_get_no_answer() {
    let port = webhook().port;
    let http = answer_to(
        port,
        b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(
        !http.starts_with(b"HTTP/"),
        "plain HTTP was answered: {:?}",
        String::from_utf8_lossy(&http)
    );
    let old = answer_to(port, &tls_1_1_client_hello());
    // Either an alert record (21) or nothing; never a handshake record (22) with a ServerHello.
    assert!(
        old.is_empty() || old[0] == 21,
        "TLS 1.1 was answered with {old:?}"
    );
}

#[tokio::test]
async fn tls_1_2_is_served() {
    let port = webhook().port;
    let ca = webhook_ca(&cluster().client().await).await;
    let tls = webhook_tls(&ca, port, &[&rustls::version::TLS12]).await;
    assert_eq!(
        tls.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

#[tokio::test]
async fn what_a_request_carries_never_reaches_the_log_at_info_level() {
    let hook = webhook();
    let marker = format!("secret-marker-{}", std::process::id());
    let deployment = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "annotations": {"token": marker}},
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": marker,
            "env": [{"name": "PASSWORD", "value": marker}]}]}}},
    });
    let review = serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u1", "operation": "UPDATE", "name": "web", "namespace": "default",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "object": deployment, "oldObject": deployment},
    });
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{}", hook.port);
    for (path, body) in [
        ("/mutate-apps-v1-deployment", review.to_string()),
        ("/validate-rollouts-kruise-io-rollout", review.to_string()),
        // Malformed: the marker sits in text that is not an AdmissionReview.
        (
            "/mutate-apps-v1-deployment",
            format!("{{\"not\": \"{marker}\""),
        ),
    ] {
        let response = http
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            response.status().as_u16() < 500,
            "{path}: {}",
            response.status()
        );
    }
    // The log is written as requests are answered; give it a moment to reach the file.
    wait_for(
        "the webhook's log written",
        Duration::from_secs(5),
        || async {
            match std::fs::metadata(&hook.log) {
                Ok(meta) if meta.len() > 0 => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
    let log = std::fs::read_to_string(&hook.log).unwrap();
    assert!(
        !log.contains(&marker),
        "the webhook logged what a request carried"
    );
}
