//! The local cluster's Prometheus scrapes a metrics source the test controls: the error ratio
//! and latency a test sets on a revision come back from PromQL within seconds, and a change
//! too. Needs only Prometheus (tests/cluster/prometheus.go), not the API server.

use rollouts_e2e::app_metrics::{self, AppMetrics, Settings};
use rollouts_e2e::wait_for;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Scrapes every second, a 5 s rate window, file discovery every second: a few seconds each.
const DEADLINE: Duration = Duration::from_secs(60);

/// `e2e-<what>-<pid>-<n>`: unique among the tests running against the same Prometheus.
fn unique(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("e2e-{what}-{}-{n}", std::process::id())
}

/// The share of `app`'s requests answered with code 500 over the last 5 s.
fn error_ratio_query(app: &str) -> String {
    format!(
        r#"sum(rate(app_requests_total{{app="{app}",code="500"}}[5s])) / sum(rate(app_requests_total{{app="{app}"}}[5s]))"#
    )
}

/// Waits until `promql` answers one number within `range`.
async fn wait_value(
    prometheus: &str,
    what: &str,
    promql: &str,
    range: std::ops::Range<f64>,
) -> f64 {
    wait_for(
        &format!("{what} in {range:?} ({promql})"),
        DEADLINE,
        || async {
            match app_metrics::query(prometheus, promql).await {
                Ok(Some(v)) if range.contains(&v) => Ok(v),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await
}

#[tokio::test]
async fn prometheus_sees_the_error_ratio_and_latency_a_test_sets() {
    let dir = app_metrics::cluster_dir();
    let prometheus = app_metrics::prometheus_url(&dir);
    let name = unique("source");
    let metrics = AppMetrics::start(&dir, &name).await;
    let target = metrics.target_file().expect("registered").to_path_buf();
    assert!(target.is_file(), "{}", target.display());
    let app = name.as_str();
    metrics.set(
        "prometheus-source",
        app,
        "abc",
        Settings {
            requests_per_second: 20.0,
            error_ratio: 0.25,
            p99_seconds: 0.2,
        },
    );
    let ratio = error_ratio_query(app);
    wait_value(&prometheus, "error ratio 0.25", &ratio, 0.2..0.3).await;
    let p99 = format!(
        r#"max(app_request_duration_seconds{{app="{app}",revision="abc",quantile="0.99"}})"#
    );
    wait_value(&prometheus, "p99 latency 0.2 s", &p99, 0.19..0.21).await;
    let rps = format!(r#"sum(rate(app_requests_total{{app="{app}"}}[5s]))"#);
    wait_value(&prometheus, "20 requests per second", &rps, 18.0..22.0).await;

    metrics.set(
        "prometheus-source",
        app,
        "abc",
        Settings {
            requests_per_second: 20.0,
            error_ratio: 0.0,
            p99_seconds: 0.2,
        },
    );
    wait_value(&prometheus, "error ratio back to 0", &ratio, 0.0..0.05).await;

    drop(metrics);
    assert!(!target.exists(), "{} is left", target.display());
}

#[tokio::test]
async fn the_binary_is_set_over_http_and_unregisters_on_sigterm() {
    let dir = app_metrics::cluster_dir();
    let prometheus = app_metrics::prometheus_url(&dir);
    let name = unique("binary");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_app-metrics"))
        .arg("--cluster-dir")
        .arg(&dir)
        .args(["--name", &name, "--max-seconds", "300"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("app-metrics starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("app-metrics prints its URL within 30 s")
        .expect("stdout readable")
        .expect("a first line");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let target = dir.join(format!("prometheus/targets/{name}.json"));
    assert!(target.is_file(), "{}", target.display());

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let put = http
        .put(format!(
            "{url}/revisions/prometheus-source/{name}/def?errorRatio=1&rps=8"
        ))
        .send()
        .await
        .expect("PUT answers");
    assert_eq!(put.status(), 200, "{:?}", put.text().await);
    wait_value(
        &prometheus,
        "error ratio 1",
        &error_ratio_query(&name),
        0.95..1.01,
    )
    .await;

    let pid = child.id().expect("running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("app-metrics exits within 30 s of SIGTERM")
        .expect("exit status");
    assert!(status.success(), "{status}");
    assert!(!target.exists(), "{} is left", target.display());

    // Prometheus forgets the target once its file is gone.
    let targets = format!("{prometheus}/api/v1/targets?state=active");
    wait_for("Prometheus drops the target", DEADLINE, || async {
        let body = http
            .get(&targets)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        let answer: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
        let active = answer["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        match active
            .iter()
            .any(|t| t["labels"]["source"] == name.as_str())
        {
            false => Ok(()),
            true => Err(format!("still active: {body}")),
        }
    })
    .await;
}
