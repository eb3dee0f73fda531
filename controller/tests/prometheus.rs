//! The Prometheus client against a loopback HTTP server that plays Prometheus: the query and
//! the bearer token it sends, an answer read back, a server that never answers (timeout), and
//! nothing listening (unreachable).

use rollouts_controller::prometheus::Prometheus;
use rollouts_plan::analysis::verdict::Answer;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Serves one connection: returns the request head it read, after answering with `body`
/// (HTTP 200), or holding the connection open unanswered when `body` is `None`.
async fn serve_once(listener: TcpListener, body: Option<&'static str>) -> String {
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut head = Vec::new();
    let mut buffer = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = socket.read(&mut buffer).await.unwrap();
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    match body {
        Some(body) => {
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(response.as_bytes()).await.unwrap();
        }
        None => {
            // Hold the connection until the client gives up and closes it.
            let _ = socket.read(&mut buffer).await;
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    (listener, address)
}

#[tokio::test]
async fn a_query_is_sent_with_its_token_and_the_answer_read() {
    let (listener, address) = listener().await;
    let body = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1796062308.278,"0.02"]}]}}"#;
    let server = tokio::spawn(serve_once(listener, Some(body)));
    let prometheus = Prometheus::new(
        &format!("{address}/"),
        Some("s3cret".into()),
        None,
        Duration::from_secs(5),
    )
    .unwrap();
    let answer = prometheus
        .query(r#"sum(rate(errors{app="echo"}[1m]))"#)
        .await;
    assert_eq!(answer, Answer::Value(0.02));
    let head = server.await.unwrap();
    let request_line = head.lines().next().unwrap_or_default();
    assert!(
        request_line.starts_with(
            "GET /api/v1/query?query=sum%28rate%28errors%7Bapp%3D%22echo%22%7D%5B1m%5D%29%29 "
        ),
        "{request_line}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer s3cret"),
        "{head}"
    );
}

#[tokio::test]
async fn a_server_that_does_not_answer_in_time_is_an_error_saying_so() {
    let (listener, address) = listener().await;
    let server = tokio::spawn(serve_once(listener, None));
    let prometheus = Prometheus::new(&address, None, None, Duration::from_millis(300)).unwrap();
    let answer = prometheus.query("up").await;
    assert_eq!(
        answer,
        Answer::Error(format!("Prometheus at {address} did not answer in time"))
    );
    server.await.unwrap();
}

#[tokio::test]
async fn nothing_listening_is_an_error_naming_the_address() {
    let (listener, address) = listener().await;
    drop(listener);
    let prometheus = Prometheus::new(&address, None, None, Duration::from_secs(5)).unwrap();
    match prometheus.query("up").await {
        Answer::Error(message) => assert!(
            message.starts_with(&format!("Prometheus at {address} unreachable")),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_ca_bundle_without_a_certificate_is_refused() {
    let error = Prometheus::new(
        "https://prometheus:9090",
        None,
        Some(b"not a certificate"),
        Duration::from_secs(1),
    )
    .err()
    .unwrap();
    assert_eq!(error, "the CA bundle holds no certificate");
}
