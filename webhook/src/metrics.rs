//! Admission metrics in the Prometheus text format: request counts and a latency histogram per
//! path and decision.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 10] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters shared by every request.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(&'static str, &'static str), Histogram>>,
}

impl Metrics {
    /// Records one answered request.
    pub fn observe(&self, path: &'static str, decision: &'static str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let h = series.entry((path, decision)).or_default();
        h.count += 1;
        h.sum += seconds;
        for (bound, count) in BUCKETS.iter().zip(h.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str(
            "# HELP rollouts_webhook_requests_total Admission and conversion requests answered.\n",
        );
        out.push_str("# TYPE rollouts_webhook_requests_total counter\n");
        for ((path, decision), h) in series.iter() {
            let _ = writeln!(
                out,
                "rollouts_webhook_requests_total{{path=\"{path}\",decision=\"{decision}\"}} {}",
                h.count
            );
        }
        out.push_str(
            "# HELP rollouts_webhook_request_duration_seconds Time to answer a request.\n",
        );
        out.push_str("# TYPE rollouts_webhook_request_duration_seconds histogram\n");
        for ((path, decision), h) in series.iter() {
            let labels = format!("path=\"{path}\",decision=\"{decision}\"");
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "rollouts_webhook_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "rollouts_webhook_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "rollouts_webhook_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "rollouts_webhook_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets_are_cumulative_per_path_and_decision() {
        let m = Metrics::default();
        m.observe("/convert", "allowed", Duration::from_micros(200));
        m.observe("/convert", "allowed", Duration::from_millis(2));
        m.observe("/convert", "invalid", Duration::from_micros(50));
        let text = m.render();
        assert!(
            text.contains(
                "rollouts_webhook_requests_total{path=\"/convert\",decision=\"allowed\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("decision=\"allowed\",le=\"0.00025\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("decision=\"allowed\",le=\"0.0025\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("decision=\"invalid\",le=\"0.0001\"} 1"),
            "{text}"
        );
    }
}
