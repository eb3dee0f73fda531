//! JSON merge patch helpers (RFC 7386): the smallest patch between two objects, and whether a
//! patch would change anything.

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

/// Whether `object`, as the API server returned it after a merge `patch`, shows the patch: every
/// value it sets is there (an absent field stands for `false`, `0` or empty, which the server
/// leaves out), and every metadata entry it removes is gone. Removals elsewhere are not
/// checked, since the server may fill in a default for a removed field.
pub fn took_effect(object: &Value, patch: &Value) -> bool {
    shows(object, patch, false)
}

/// `null`, `false`, `0`, `""`, or a list or map of nothing else: what an API server omits.
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.values().all(is_zero),
    }
}

fn shows(object: &Value, patch: &Value, in_metadata: bool) -> bool {
    match patch {
        Value::Object(changes) => changes.iter().all(|(key, change)| {
            let metadata = in_metadata || key == "metadata";
            match (object.get(key), change) {
                (None, change) => is_zero(change),
                (Some(_), Value::Null) => !metadata,
                (Some(value), change) => shows(value, change, metadata),
            }
        }),
        change => object == change,
    }
}

#[cfg(test)]
mod tests {
    use super::{is_noop, merge_diff, took_effect};
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

    #[test]
    fn a_patch_took_effect_when_its_values_are_there_and_its_metadata_removals_are_gone() {
        let object = json!({"metadata": {"annotations": {"kept": "1"}},
            "spec": {"paused": false, "progressDeadlineSeconds": 600}});
        let cases = [
            (json!({"spec": {"paused": false}}), true),
            (json!({"spec": {"paused": true}}), false),
            // The server leaves out false, zero and empty values.
            (
                json!({"spec": {"suspended": false, "minReadySeconds": 0}}),
                true,
            ),
            (json!({"spec": {"minReadySeconds": 5}}), false),
            // The server filled in a default for a removed spec field.
            (json!({"spec": {"progressDeadlineSeconds": null}}), true),
            (json!({"metadata": {"annotations": {"gone": null}}}), true),
            // Another writer put back an annotation the patch removed.
            (json!({"metadata": {"annotations": {"kept": null}}}), false),
        ];
        for (patch, expected) in cases {
            assert_eq!(took_effect(&object, &patch), expected, "{patch}");
        }
    }
}
