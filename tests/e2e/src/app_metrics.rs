//! A metrics source the tests control: a loopback HTTP server that plays an application's request
//! metrics per revision (`app_requests_total` by status code, `app_request_duration_seconds` p99)
//! in Prometheus text format 0.0.4, registered with the local cluster's Prometheus through a
//! file-based discovery target file (`<cluster dir>/prometheus/targets/<name>.json`, see
//! tests/cluster/prometheus.go); plus reading that Prometheus's URL and asking it a query.
//!
//! The counters are a function of wall-clock time: each revision serves `requests_per_second`,
//! `error_ratio` of them with code 500, so `rate(app_requests_total[5s])` is right whatever the
//! scrape timing. The same settings can be changed over HTTP, for the `app-metrics` binary:
//! `PUT /revisions/<namespace>/<app>/<revision>?rps=10&errorRatio=0.5&p99=0.2` (a parameter left
//! out keeps its value), `GET /` (the settings and counts as JSON), `GET /metrics`.

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, put};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How one revision of an application behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Requests served per second (at least 0).
    pub requests_per_second: f64,
    /// The share of requests that fail with code 500, from 0 to 1.
    pub error_ratio: f64,
    /// The 99th percentile of request latency, in seconds (at least 0).
    pub p99_seconds: f64,
}

impl Default for Settings {
    /// 10 requests per second, no errors, p99 latency 0.1 s.
    fn default() -> Self {
        Self {
            requests_per_second: 10.0,
            error_ratio: 0.0,
            p99_seconds: 0.1,
        }
    }
}

impl Settings {
    /// Why these settings cannot be played, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let finite_non_negative = |v: f64| v.is_finite() && v >= 0.0;
        if !finite_non_negative(self.requests_per_second) {
            return Err(format!(
                "requests per second must be a number >= 0, not {}",
                self.requests_per_second
            ));
        }
        if !(self.error_ratio.is_finite() && (0.0..=1.0).contains(&self.error_ratio)) {
            return Err(format!(
                "error ratio must be from 0 to 1, not {}",
                self.error_ratio
            ));
        }
        if !finite_non_negative(self.p99_seconds) {
            return Err(format!(
                "p99 latency must be a number of seconds >= 0, not {}",
                self.p99_seconds
            ));
        }
        Ok(())
    }
}

/// Which revision of which application: the labels of its series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision {
    /// The `namespace` label.
    pub namespace: String,
    /// The `app` label.
    pub app: String,
    /// The `revision` label.
    pub revision: String,
}

/// A counter growing at a constant rate since `since`, on top of what it had counted before.
/// Its value is computed from the elapsed time (one multiplication), so repeated scrapes add no
/// rounding drift; only whole requests are shown.
#[derive(Clone, Copy, Debug)]
struct Counter {
    before: f64,
    per_second: f64,
    since: Instant,
}

impl Counter {
    fn new(per_second: f64, now: Instant) -> Self {
        Self {
            before: 0.0,
            per_second,
            since: now,
        }
    }

    fn exact(&self, now: Instant) -> f64 {
        self.before + self.per_second * now.saturating_duration_since(self.since).as_secs_f64()
    }

    /// Whole requests counted at `now`; never decreases as `now` grows.
    fn value(&self, now: Instant) -> u64 {
        self.exact(now).floor() as u64
    }

    /// From `now` on, grow at `per_second`.
    fn set_rate(&mut self, per_second: f64, now: Instant) {
        if now > self.since {
            self.before = self.exact(now);
            self.since = now;
        }
        self.per_second = per_second;
    }
}

#[derive(Clone, Copy, Debug)]
struct Played {
    settings: Settings,
    ok: Counter,
    errors: Counter,
}

/// Requests counted for one revision at some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Requests answered with code 200.
    pub ok: u64,
    /// Requests answered with code 500.
    pub errors: u64,
}

/// Every revision played, with its counters: the pure part of the source (time is a parameter).
#[derive(Clone, Debug, Default)]
pub struct Revisions {
    played: BTreeMap<Revision, Played>,
}

impl Revisions {
    /// Plays `revision` with `settings` from `now` on; its counters keep what they have counted
    /// so far (a new revision starts at 0).
    pub fn set(
        &mut self,
        revision: Revision,
        settings: Settings,
        now: Instant,
    ) -> Result<(), String> {
        settings.check()?;
        let ok_rate = settings.requests_per_second * (1.0 - settings.error_ratio);
        let error_rate = settings.requests_per_second * settings.error_ratio;
        match self.played.get_mut(&revision) {
            Some(played) => {
                played.ok.set_rate(ok_rate, now);
                played.errors.set_rate(error_rate, now);
                played.settings = settings;
            }
            None => {
                self.played.insert(
                    revision,
                    Played {
                        settings,
                        ok: Counter::new(ok_rate, now),
                        errors: Counter::new(error_rate, now),
                    },
                );
            }
        }
        Ok(())
    }

    /// The settings of `revision`, if it is played.
    pub fn settings(&self, revision: &Revision) -> Option<Settings> {
        self.played.get(revision).map(|p| p.settings)
    }

    /// The requests `revision` has counted at `now`, if it is played.
    pub fn counts(&self, revision: &Revision, now: Instant) -> Option<Counts> {
        self.played.get(revision).map(|p| Counts {
            ok: p.ok.value(now),
            errors: p.errors.value(now),
        })
    }

    /// The metrics at `now` in Prometheus text format 0.0.4.
    pub fn exposition(&self, now: Instant) -> String {
        let mut out = String::new();
        out.push_str("# HELP app_requests_total Requests served, by revision and status code.\n");
        out.push_str("# TYPE app_requests_total counter\n");
        for (revision, played) in &self.played {
            let labels = labels(revision);
            for (code, counter) in [("200", &played.ok), ("500", &played.errors)] {
                let _ = writeln!(
                    out,
                    "app_requests_total{{{labels},code=\"{code}\"}} {}",
                    counter.value(now)
                );
            }
        }
        out.push_str(
            "# HELP app_request_duration_seconds Request latency quantiles, by revision.\n",
        );
        out.push_str("# TYPE app_request_duration_seconds gauge\n");
        for (revision, played) in &self.played {
            let _ = writeln!(
                out,
                "app_request_duration_seconds{{{},quantile=\"0.99\"}} {}",
                labels(revision),
                played.settings.p99_seconds
            );
        }
        out
    }

    /// Every revision with its settings and counts at `now`, as JSON (the answer to `GET /`).
    pub fn listing(&self, now: Instant) -> serde_json::Value {
        let revisions: Vec<_> = self
            .played
            .iter()
            .map(|(r, p)| {
                serde_json::json!({
                    "namespace": r.namespace,
                    "app": r.app,
                    "revision": r.revision,
                    "requestsPerSecond": p.settings.requests_per_second,
                    "errorRatio": p.settings.error_ratio,
                    "p99Seconds": p.settings.p99_seconds,
                    "requests": {"200": p.ok.value(now), "500": p.errors.value(now)},
                })
            })
            .collect();
        serde_json::json!({ "revisions": revisions })
    }
}

/// `namespace="…",app="…",revision="…"` with the values escaped for the text format.
fn labels(revision: &Revision) -> String {
    format!(
        "namespace=\"{}\",app=\"{}\",revision=\"{}\"",
        escape(&revision.namespace),
        escape(&revision.app),
        escape(&revision.revision)
    )
}

/// A label value in the text format: backslash, double quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The query of `PUT /revisions/...`: each parameter left out keeps its value.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsChange {
    /// Requests per second.
    pub rps: Option<f64>,
    /// Share of requests failing with code 500.
    #[serde(rename = "errorRatio")]
    pub error_ratio: Option<f64>,
    /// p99 latency in seconds.
    pub p99: Option<f64>,
}

impl SettingsChange {
    /// `current` with the given parameters replaced.
    pub fn apply(&self, current: Settings) -> Settings {
        Settings {
            requests_per_second: self.rps.unwrap_or(current.requests_per_second),
            error_ratio: self.error_ratio.unwrap_or(current.error_ratio),
            p99_seconds: self.p99.unwrap_or(current.p99_seconds),
        }
    }
}

type Shared = Arc<Mutex<Revisions>>;

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Revisions> {
    // A panic while holding the lock leaves plain data behind; it is still consistent.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .route("/", get(serve_listing))
        .route(
            "/revisions/{namespace}/{app}/{revision}",
            put(serve_change).post(serve_change),
        )
        .with_state(shared)
}

async fn serve_metrics(State(shared): State<Shared>) -> impl IntoResponse {
    let text = lock(&shared).exposition(Instant::now());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

async fn serve_listing(State(shared): State<Shared>) -> impl IntoResponse {
    axum::Json(lock(&shared).listing(Instant::now()))
}

async fn serve_change(
    State(shared): State<Shared>,
    UrlPath((namespace, app, revision)): UrlPath<(String, String, String)>,
    Query(change): Query<SettingsChange>,
) -> axum::response::Response {
    let revision = Revision {
        namespace,
        app,
        revision,
    };
    let mut revisions = lock(&shared);
    let settings = change.apply(revisions.settings(&revision).unwrap_or_default());
    match revisions.set(revision, settings, Instant::now()) {
        Ok(()) => axum::Json(serde_json::json!({
            "requestsPerSecond": settings.requests_per_second,
            "errorRatio": settings.error_ratio,
            "p99Seconds": settings.p99_seconds,
        }))
        .into_response(),
        Err(why) => (StatusCode::BAD_REQUEST, why).into_response(),
    }
}

/// A running metrics source: serves `http://127.0.0.1:<port>/metrics` until dropped. Dropping it
/// stops the server and removes its target file, so Prometheus stops scraping it.
pub struct AppMetrics {
    url: String,
    target_file: Option<PathBuf>,
    revisions: Shared,
    server: tokio::task::JoinHandle<()>,
}

impl AppMetrics {
    /// Serves on a free loopback port and registers with the Prometheus of the local cluster in
    /// `cluster_dir`: writes `cluster_dir/prometheus/targets/<name>.json` (atomically), listing
    /// this server with the label `source="<name>"`. `name` must be unique among the running
    /// sources and made of letters, digits, `.`, `_` and `-`. Panics when the cluster has no
    /// Prometheus (no targets folder) or the server cannot start.
    pub async fn start(cluster_dir: &Path, name: &str) -> AppMetrics {
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')),
            "metrics source name {name:?}: use letters, digits, '.', '_' and '-'"
        );
        let targets = cluster_dir.join("prometheus/targets");
        assert!(
            targets.is_dir(),
            "{} does not exist: the cluster in {} runs no Prometheus (build it with \
             tests/cluster/build.sh, without K8SCLUSTER_NO_PROMETHEUS=1, and restart the cluster)",
            targets.display(),
            cluster_dir.display()
        );
        let mut metrics = Self::serve().await;
        let file = targets.join(format!("{name}.json"));
        let address = metrics.url.trim_start_matches("http://").to_string();
        let target = serde_json::json!([{ "targets": [address], "labels": { "source": name } }]);
        let tmp = targets.join(format!("{name}.json.tmp"));
        std::fs::write(&tmp, target.to_string())
            .and_then(|()| std::fs::rename(&tmp, &file))
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
        metrics.target_file = Some(file);
        metrics
    }

    /// Serves on a free loopback port without registering anywhere.
    pub async fn serve() -> AppMetrics {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free loopback port");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let revisions = Shared::default();
        let app = router(revisions.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("app metrics server stopped: {e}");
            }
        });
        AppMetrics {
            url,
            target_file: None,
            revisions,
            server,
        }
    }

    /// `http://127.0.0.1:<port>` (metrics at `/metrics`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The target file Prometheus discovers this source by, when registered.
    pub fn target_file(&self) -> Option<&Path> {
        self.target_file.as_deref()
    }

    /// Plays `revision` of `namespace/app` with `settings` from now on; its counters keep what
    /// they have counted. Panics on settings that cannot be played ([`Settings::check`]).
    pub fn set(&self, namespace: &str, app: &str, revision: &str, settings: Settings) {
        let key = Revision {
            namespace: namespace.into(),
            app: app.into(),
            revision: revision.into(),
        };
        if let Err(why) = lock(&self.revisions).set(key, settings, Instant::now()) {
            panic!("{namespace}/{app} revision {revision}: {why}");
        }
    }

    /// The requests `revision` of `namespace/app` has counted so far, if it is played.
    pub fn counts(&self, namespace: &str, app: &str, revision: &str) -> Option<Counts> {
        let revision = Revision {
            namespace: namespace.into(),
            app: app.into(),
            revision: revision.into(),
        };
        lock(&self.revisions).counts(&revision, Instant::now())
    }
}

impl Drop for AppMetrics {
    fn drop(&mut self) {
        if let Some(file) = &self.target_file
            && let Err(e) = std::fs::remove_file(file)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            eprintln!("warning: cannot remove {}: {e}", file.display());
        }
        self.server.abort();
    }
}

/// The base URL of the Prometheus of the local cluster in `cluster_dir`, from
/// `cluster_dir/prometheus-url` (written by the launcher before `ready`). Panics, saying how to
/// get one, when the cluster runs no Prometheus.
pub fn prometheus_url(cluster_dir: &Path) -> String {
    let file = cluster_dir.join("prometheus-url");
    match std::fs::read_to_string(&file) {
        Ok(url) => url.trim().to_string(),
        Err(e) => panic!(
            "cannot read {}: {e}; the cluster in {} runs no Prometheus (build it with \
             tests/cluster/build.sh, without K8SCLUSTER_NO_PROMETHEUS=1, and restart the cluster)",
            file.display(),
            cluster_dir.display()
        ),
    }
}

/// The folder of this test run's local cluster ([`crate::cluster`]): its kubeconfig's folder.
pub fn cluster_dir() -> PathBuf {
    let kubeconfig = &crate::cluster().kubeconfig;
    kubeconfig
        .parent()
        .unwrap_or_else(|| panic!("{} has no folder", kubeconfig.display()))
        .to_path_buf()
}

/// An instant query to the Prometheus at `prometheus_url`: `Ok(None)` when the answer is an
/// empty vector, `Ok(Some(value))` for one sample (which may be NaN), an error otherwise.
pub async fn query(prometheus_url: &str, promql: &str) -> Result<Option<f64>, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))?;
    let endpoint = format!("{}/api/v1/query", prometheus_url.trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(&endpoint, [("query", promql)])
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("{endpoint}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{endpoint} answered {status}: {}",
            String::from_utf8_lossy(&body)
        ));
    }
    sample(&body)
}

/// The one sample of an instant query's answer (`data.result[0].value[1]`), `None` when empty.
fn sample(body: &[u8]) -> Result<Option<f64>, String> {
    let answer: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(body)))?;
    let result = answer
        .pointer("/data/result")
        .and_then(|r| r.as_array())
        .ok_or_else(|| format!("no data.result in {answer}"))?;
    match result.as_slice() {
        [] => Ok(None),
        [one] => one
            .pointer("/value/1")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<f64>().ok())
            .map(Some)
            .ok_or_else(|| format!("no value in {one}")),
        _ => Err(format!("{} series, not one: {answer}", result.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(name: &str) -> Revision {
        Revision {
            namespace: "ns".into(),
            app: "web".into(),
            revision: name.into(),
        }
    }

    fn settings(rps: f64, error_ratio: f64, p99: f64) -> Settings {
        Settings {
            requests_per_second: rps,
            error_ratio,
            p99_seconds: p99,
        }
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn exposition_lists_every_revision_in_text_format() {
        let t0 = Instant::now();
        let mut revisions = Revisions::default();
        revisions
            .set(rev("abc"), settings(20.0, 0.25, 0.2), t0)
            .unwrap();
        revisions.set(rev("def"), Settings::default(), t0).unwrap();
        assert_eq!(
            revisions.exposition(t0 + secs(2.0)),
            "# HELP app_requests_total Requests served, by revision and status code.\n\
             # TYPE app_requests_total counter\n\
             app_requests_total{namespace=\"ns\",app=\"web\",revision=\"abc\",code=\"200\"} 30\n\
             app_requests_total{namespace=\"ns\",app=\"web\",revision=\"abc\",code=\"500\"} 10\n\
             app_requests_total{namespace=\"ns\",app=\"web\",revision=\"def\",code=\"200\"} 20\n\
             app_requests_total{namespace=\"ns\",app=\"web\",revision=\"def\",code=\"500\"} 0\n\
             # HELP app_request_duration_seconds Request latency quantiles, by revision.\n\
             # TYPE app_request_duration_seconds gauge\n\
             app_request_duration_seconds{namespace=\"ns\",app=\"web\",revision=\"abc\",quantile=\"0.99\"} 0.2\n\
             app_request_duration_seconds{namespace=\"ns\",app=\"web\",revision=\"def\",quantile=\"0.99\"} 0.1\n"
        );
    }

    #[test]
    fn no_revision_gives_only_the_metadata() {
        let text = Revisions::default().exposition(Instant::now());
        assert!(text.lines().all(|l| l.starts_with('#')), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut revisions = Revisions::default();
        let t0 = Instant::now();
        let odd = Revision {
            namespace: "a\"b".into(),
            app: "c\\d".into(),
            revision: "e\nf".into(),
        };
        revisions.set(odd, Settings::default(), t0).unwrap();
        let text = revisions.exposition(t0);
        assert!(
            text.contains(
                r#"app_requests_total{namespace="a\"b",app="c\\d",revision="e\nf",code="200"} 0"#
            ),
            "{text}"
        );
    }

    #[test]
    fn counters_grow_with_time_in_whole_requests() {
        let t0 = Instant::now();
        let mut revisions = Revisions::default();
        revisions
            .set(rev("abc"), settings(20.0, 0.25, 0.2), t0)
            .unwrap();
        let at = |s: f64| revisions.counts(&rev("abc"), t0 + secs(s)).unwrap();
        assert_eq!(at(0.0), Counts { ok: 0, errors: 0 });
        assert_eq!(at(0.1), Counts { ok: 1, errors: 0 });
        assert_eq!(at(2.5), Counts { ok: 37, errors: 12 });
        // A time before the start (clock read out of order) counts nothing, never negative.
        assert_eq!(
            revisions.counts(&rev("abc"), t0.checked_sub(secs(1.0)).unwrap_or(t0)),
            Some(Counts { ok: 0, errors: 0 })
        );
    }

    #[test]
    fn many_scrapes_add_no_drift() {
        let t0 = Instant::now();
        let mut revisions = Revisions::default();
        revisions
            .set(rev("abc"), settings(3.0, 1.0 / 3.0, 0.1), t0)
            .unwrap();
        let step = Duration::from_nanos(333_333_333);
        let mut last = Counts { ok: 0, errors: 0 };
        let mut t = t0;
        for _ in 0..10_000 {
            t += step;
            let now = revisions.counts(&rev("abc"), t).unwrap();
            assert!(now.ok >= last.ok && now.errors >= last.errors);
            last = now;
        }
        // 10 000 steps of 1/3 s (less 1 ns each) make 3333.33333 s: 9999.99999 requests, a third failing.
        assert_eq!(
            revisions.counts(&rev("abc"), t0 + secs(3600.0)),
            Some(Counts {
                ok: 7200,
                errors: 3600
            })
        );
        assert_eq!(
            last,
            Counts {
                ok: 6666,
                errors: 3333
            }
        );
    }

    #[test]
    fn a_change_applies_from_then_on_and_keeps_the_counts() {
        let t0 = Instant::now();
        let mut revisions = Revisions::default();
        revisions
            .set(rev("abc"), settings(10.0, 0.0, 0.1), t0)
            .unwrap();
        revisions
            .set(rev("abc"), settings(10.0, 1.0, 0.5), t0 + secs(3.0))
            .unwrap();
        assert_eq!(
            revisions.counts(&rev("abc"), t0 + secs(5.0)),
            Some(Counts { ok: 30, errors: 20 })
        );
        assert_eq!(
            revisions.settings(&rev("abc")),
            Some(settings(10.0, 1.0, 0.5))
        );
        // Counters never go down across changes, even with fractional requests pending.
        let mut last = Counts { ok: 0, errors: 0 };
        for i in 0..200u32 {
            let t = t0 + secs(5.0 + f64::from(i) * 0.37);
            let ratio = f64::from(i % 5) / 4.0;
            revisions
                .set(rev("abc"), settings(7.3, ratio, 0.1), t)
                .unwrap();
            let now = revisions.counts(&rev("abc"), t + secs(0.1)).unwrap();
            assert!(
                now.ok >= last.ok && now.errors >= last.errors,
                "{now:?} < {last:?}"
            );
            last = now;
        }
    }

    #[test]
    fn settings_that_cannot_be_played_are_refused() {
        let mut revisions = Revisions::default();
        let t0 = Instant::now();
        for bad in [
            settings(-1.0, 0.0, 0.1),
            settings(f64::NAN, 0.0, 0.1),
            settings(10.0, 1.5, 0.1),
            settings(10.0, -0.1, 0.1),
            settings(10.0, 0.0, f64::INFINITY),
        ] {
            assert!(revisions.set(rev("abc"), bad, t0).is_err(), "{bad:?}");
        }
        assert_eq!(revisions.settings(&rev("abc")), None);
    }

    #[test]
    fn a_change_keeps_the_parameters_left_out() {
        let change = SettingsChange {
            error_ratio: Some(0.5),
            ..Default::default()
        };
        assert_eq!(
            change.apply(settings(20.0, 0.0, 0.3)),
            settings(20.0, 0.5, 0.3)
        );
        assert_eq!(
            SettingsChange::default().apply(Settings::default()),
            Settings::default()
        );
    }

    #[test]
    fn one_sample_or_none_is_read_from_an_answer() {
        let answer = |result: &str| {
            format!(r#"{{"status":"success","data":{{"resultType":"vector","result":{result}}}}}"#)
        };
        assert_eq!(sample(answer("[]").as_bytes()), Ok(None));
        assert_eq!(
            sample(answer(r#"[{"metric":{},"value":[1.5,"0.25"]}]"#).as_bytes()),
            Ok(Some(0.25))
        );
        let nan = sample(answer(r#"[{"metric":{},"value":[1.5,"NaN"]}]"#).as_bytes());
        assert!(nan.unwrap().unwrap().is_nan());
        assert!(sample(answer(r#"[{"value":[1,"1"]},{"value":[1,"2"]}]"#).as_bytes()).is_err());
        assert!(sample(b"<html>").is_err());
    }

    #[tokio::test]
    async fn the_http_api_sets_lists_and_exposes() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let metrics = AppMetrics::serve().await;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let base = metrics.url().to_string();
        let put = http
            .put(format!("{base}/revisions/ns/web/abc?errorRatio=0.5&rps=4"))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), 200);
        let set: serde_json::Value = serde_json::from_slice(&put.bytes().await.unwrap()).unwrap();
        assert_eq!(
            set,
            serde_json::json!({"requestsPerSecond": 4.0, "errorRatio": 0.5, "p99Seconds": 0.1})
        );
        // A parameter left out keeps its value; POST works as PUT.
        let post = http
            .post(format!("{base}/revisions/ns/web/abc?p99=0.25"))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 200);
        let bad = http
            .put(format!("{base}/revisions/ns/web/abc?errorRatio=2"))
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 400);

        let listing: serde_json::Value =
            serde_json::from_slice(&http.get(&base).send().await.unwrap().bytes().await.unwrap())
                .unwrap();
        let revision = &listing["revisions"][0];
        assert_eq!(
            (
                &revision["namespace"],
                &revision["app"],
                &revision["revision"]
            ),
            (
                &serde_json::json!("ns"),
                &serde_json::json!("web"),
                &serde_json::json!("abc")
            )
        );
        assert_eq!(revision["requestsPerSecond"], 4.0);
        assert_eq!(revision["errorRatio"], 0.5);
        assert_eq!(revision["p99Seconds"], 0.25);

        let response = http.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(
            response.headers()[reqwest::header::CONTENT_TYPE],
            "text/plain; version=0.0.4; charset=utf-8"
        );
        let text = response.text().await.unwrap();
        assert!(
            text.contains(
                "app_request_duration_seconds{namespace=\"ns\",app=\"web\",revision=\"abc\",quantile=\"0.99\"} 0.25"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "app_requests_total{namespace=\"ns\",app=\"web\",revision=\"abc\",code=\"500\"} "
            ),
            "{text}"
        );
        assert!(metrics.counts("ns", "web", "abc").is_some());
        assert_eq!(metrics.counts("ns", "web", "other"), None);
    }
}
