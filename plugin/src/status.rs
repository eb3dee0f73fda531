//! `rollout status -w`: follows the Rollout with a watch; on a terminal the block is redrawn,
//! otherwise one line is printed per change. Ends when the release is Healthy and Completed.

use crate::client::{CliError, Connection};
use crate::render::{Summary, block};
use futures::StreamExt;
use kube::Api;
use kube::runtime::{WatchStreamExt, watcher};
use rollouts_api::v1beta1::Rollout;
use std::io::IsTerminal;
use std::time::Duration;

/// Watches `name` until its release is done, or fails after `timeout_seconds`.
pub async fn watch(conn: &Connection, name: &str, timeout_seconds: u64) -> Result<(), CliError> {
    crate::commands::get(conn, name).await?;
    let api: Api<Rollout> = Api::namespaced(conn.client.clone(), &conn.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(api, config)
        .default_backoff()
        .applied_objects()
        .boxed();
    let terminal = std::io::stdout().is_terminal();
    let mut last: Option<Summary> = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_seconds);
    loop {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let rollout = match next {
            Err(_) => {
                let seen = last.map(|s| s.line()).unwrap_or_default();
                return Err(CliError::Refused(format!(
                    "timed out after {timeout_seconds}s; last seen: {seen}"
                )));
            }
            Ok(None) => return Err(CliError::Refused("the watch ended".into())),
            // The watcher lists again after an expired resource version or a dropped
            // connection; the deadline bounds how long that may go on.
            Ok(Some(Err(_))) => continue,
            Ok(Some(Ok(rollout))) => rollout,
        };
        let summary = Summary::of(&rollout);
        if last.as_ref() != Some(&summary) {
            if terminal {
                print!("\x1b[2J\x1b[H{}", block(&rollout));
            } else {
                println!("{}", summary.line());
            }
            if summary.is_done() {
                return Ok(());
            }
            last = Some(summary);
        }
    }
}
