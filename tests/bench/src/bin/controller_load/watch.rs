//! The Rollout watch: MODIFIED events and the first time each Rollout has a phase.

use crate::common::{BENCH_LABEL, log};
use crate::objects::list_all;
use futures::StreamExt;
use kube::api::{Api, DynamicObject, WatchEvent, WatchParams};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// The Rollout watch: MODIFIED events and the first time each Rollout has a phase.

#[derive(Default)]
pub(crate) struct Watch {
    pub(crate) modified: AtomicU64,
    pub(crate) relists: AtomicU64,
    pub(crate) last_modified: Mutex<Option<Instant>>,
    pub(crate) phased: Mutex<HashMap<String, Instant>>,
}

impl Watch {
    pub(crate) fn note(&self, object: &DynamicObject) {
        let has_phase = object
            .data
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .is_some_and(|p| !p.is_empty());
        if has_phase {
            let key = format!(
                "{}/{}",
                object.metadata.namespace.as_deref().unwrap_or_default(),
                object.metadata.name.as_deref().unwrap_or_default()
            );
            self.phased
                .lock()
                .unwrap()
                .entry(key)
                .or_insert_with(Instant::now);
        }
    }

    pub(crate) fn modified(&self) -> u64 {
        self.modified.load(Ordering::SeqCst)
    }

    pub(crate) fn phased(&self) -> usize {
        self.phased.lock().unwrap().len()
    }

    pub(crate) fn quiet_for(&self) -> Option<Duration> {
        self.last_modified.lock().unwrap().map(|t| t.elapsed())
    }
}

/// Watches the bench Rollouts from `version` on until aborted, resuming after each timeout.
pub(crate) async fn watch_rollouts(
    api: Api<DynamicObject>,
    mut version: String,
    watch: Arc<Watch>,
) {
    let selector = format!("{BENCH_LABEL}=true");
    loop {
        let params = WatchParams::default().labels(&selector).timeout(240);
        let events = match api.watch(&params, &version).await {
            Ok(events) => events,
            Err(error) => {
                log(format!("rollout watch: {error}; retrying"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Deleted(o)) => {
                    version = o.metadata.resource_version.clone().unwrap_or(version);
                    watch.note(&o);
                }
                Ok(WatchEvent::Modified(o)) => {
                    watch.modified.fetch_add(1, Ordering::SeqCst);
                    *watch.last_modified.lock().unwrap() = Some(Instant::now());
                    version = o.metadata.resource_version.clone().unwrap_or(version);
                    watch.note(&o);
                }
                Ok(WatchEvent::Bookmark(b)) => version = b.metadata.resource_version,
                Ok(WatchEvent::Error(status)) => {
                    // 410 Gone: events were compacted away. Relist (counts may miss writes).
                    log(format!(
                        "rollout watch: {} {}; relisting",
                        status.code, status.message
                    ));
                    if status.code == 410 {
                        watch.relists.fetch_add(1, Ordering::SeqCst);
                        if let Ok((items, v)) = list_all(&api, &selector).await {
                            items.iter().for_each(|o| watch.note(o));
                            version = v;
                        }
                    }
                    break;
                }
                Err(error) => {
                    log(format!("rollout watch stream: {error}; resuming"));
                    break;
                }
            }
        }
    }
}
