//! Waiting for a condition with a deadline; never a fixed sleep.

use std::future::Future;
use std::time::{Duration, Instant};

/// Long enough for the real controllers on a loaded 2-core machine.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(90);

const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Polls `check` until it returns `Some`, or panics after `deadline` with `what`, the last
/// observation and the tails of the cluster's component logs.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        let last = match check().await {
            Ok(value) => return value,
            Err(observation) => observation,
        };
        if start.elapsed() > deadline {
            panic!(
                "timed out after {deadline:?} waiting for {what}; last observation: {last}\n{}",
                crate::cluster().log_tails(20)
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
