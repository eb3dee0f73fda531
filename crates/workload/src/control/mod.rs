//! How the controller moves a workload through a release: pure builders of the JSON merge
//! patches (and the canary Deployment) for each batch and for the end of a release.

mod canary;
mod partition_deployment;
mod statefulset;

pub use canary::{canary_deployment, canary_scale_patch, stable_release_patch};
pub use partition_deployment::{
    MIN_READY_SECONDS_WHILE_DRIVEN, PROGRESS_DEADLINE_WHILE_DRIVEN, partition_batch_patch,
    partition_release_patch, resolve_int_or_percent,
};
pub use statefulset::{statefulset_batch_patch, statefulset_release_patch};

use serde_json::Value;

/// Whether applying the merge `patch` to `object` would change nothing.
pub fn is_noop(object: &Value, patch: &Value) -> bool {
    match (object, patch) {
        (Value::Object(current), Value::Object(changes)) => {
            changes
                .iter()
                .all(|(key, change)| match (current.get(key), change) {
                    (Some(value), change) => is_noop(value, change),
                    (None, Value::Null) => true,
                    (None, nested @ Value::Object(_)) => {
                        is_noop(&Value::Object(Default::default()), nested)
                    }
                    (None, _) => false,
                })
        }
        (current, change) => current == change,
    }
}

/// The smallest JSON merge patch that turns `old` into `new` (removed keys become `null`).
pub fn merge_diff(old: &Value, new: &Value) -> Option<Value> {
    match (old, new) {
        (Value::Object(before), Value::Object(after)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in after {
                let change = match before.get(key) {
                    Some(previous) => merge_diff(previous, value),
                    None => Some(value.clone()),
                };
                if let Some(change) = change {
                    patch.insert(key.clone(), change);
                }
            }
            for key in before.keys().filter(|k| !after.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        (before, after) => (before != after).then(|| after.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::{is_noop, merge_diff};
    use serde_json::json;

    #[test]
    fn merge_diff_turns_old_into_new() {
        let old = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "gone": {"x": 1}});
        let new = json!({"a": 1, "b": {"c": 5, "d": 3}, "e": [1, 2], "f": null});
        let patch = merge_diff(&old, &new).unwrap();
        assert_eq!(
            patch,
            json!({"b": {"c": 5}, "e": [1, 2], "f": null, "gone": null})
        );
        let mut applied = old.clone();
        json_patch::merge(&mut applied, &patch);
        assert_eq!(applied, json!({"a": 1, "b": {"c": 5, "d": 3}, "e": [1, 2]}));
        assert_eq!(merge_diff(&new, &new), None);
    }

    #[test]
    fn a_patch_is_a_noop_only_when_every_value_is_already_there() {
        let object = json!({"spec": {"paused": true, "replicas": 3}, "metadata": {}});
        let cases = [
            (json!({"spec": {"paused": true}}), true),
            (json!({"spec": {"paused": false}}), false),
            (json!({"metadata": {"annotations": {"a": null}}}), true),
            (json!({"metadata": {"annotations": {"a": "1"}}}), false),
            (json!({"spec": {"replicas": null}}), false),
            (json!({"spec": {"selector": null}}), true),
        ];
        for (patch, expected) in cases {
            assert_eq!(is_noop(&object, &patch), expected, "{patch}");
        }
    }
}
