//! What every part of the harness shares: the label on its objects and its log line.

use std::time::{SystemTime, UNIX_EPOCH};

/// Label on every namespace, Deployment and Rollout this harness creates.
pub(crate) const BENCH_LABEL: &str = "rollouts-rs.bench/controller-load";

pub(crate) fn log(message: impl AsRef<str>) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let (h, m, s) = ((now / 3600) % 24, (now / 60) % 60, now % 60);
    eprintln!(
        "[controller-load {h:02}:{m:02}:{s:02}Z] {}",
        message.as_ref()
    );
}
