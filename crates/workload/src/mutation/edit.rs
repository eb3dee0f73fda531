//! What freezing every kind shares: the freeze partition, the `in-progressing` mark, and small
//! edits of a workload's JSON.

use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use serde_json::{Value, json};

/// StatefulSet / Advanced DaemonSet partition that keeps every pod on the old revision,
/// including pods a scale-up adds during the release (upstream's MaxInt16).
pub const FREEZE_PARTITION: i64 = 32767;

/// Value of the `in-progressing` annotation for a Rollout.
pub fn in_progressing_value(rollout_name: &str) -> String {
    json!({ "rolloutName": rollout_name }).to_string()
}

/// Whether the Rollout routes traffic (then a release needs the workload on one version).
pub fn has_traffic_routing(rollout: &Rollout) -> bool {
    let strategy = &rollout.spec.strategy;
    let routings = match (&strategy.blue_green, &strategy.canary) {
        (Some(b), _) => b.traffic_routings.as_ref(),
        (None, Some(c)) => c.traffic_routings.as_ref(),
        (None, None) => None,
    };
    routings.is_some_and(|r| !r.is_empty())
}

/// `spec.replicas`, which Kubernetes defaults to 1.
pub(super) fn replicas(object: &Value) -> i64 {
    object
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// Sets `metadata.<map>.<key>`, creating the map when absent.
pub(super) fn set_meta(object: &mut Value, map: &str, key: &str, value: &str) {
    let metadata = object
        .as_object_mut()
        .expect("a workload is a JSON object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    let entries = metadata
        .as_object_mut()
        .expect("metadata is an object")
        .entry(map)
        .or_insert_with(|| json!({}));
    if !entries.is_object() {
        *entries = json!({});
    }
    entries[key] = Value::String(value.to_string());
}

/// Marks the workload as under the Rollout's control.
pub(super) fn mark_in_progressing(object: &mut Value, rollout: &Rollout) {
    let name = rollout.metadata.name.as_deref().unwrap_or_default();
    set_meta(
        object,
        "annotations",
        keys::IN_PROGRESSING,
        &in_progressing_value(name),
    );
}

/// Writes `value` at the JSON pointer `path` (`/a/b/c`), creating objects on the way.
pub(super) fn set_path(object: &mut Value, path: &str, value: Value) {
    let mut current = object;
    let mut parts = path.split('/').skip(1).peekable();
    while let Some(part) = parts.next() {
        if !current.is_object() {
            *current = json!({});
        }
        let map = current.as_object_mut().expect("made an object above");
        if parts.peek().is_none() {
            map.insert(part.to_string(), value);
            return;
        }
        current = map.entry(part).or_insert_with(|| json!({}));
    }
}
