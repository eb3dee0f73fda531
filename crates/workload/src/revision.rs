//! Whether an update of a workload is a new release.

use rollouts_api::keys;
use serde_json::Value;

/// A release starts when the pod template changed (ignoring `pod-template-hash`) or when the
/// `rollout-id` annotation changed; an unchanged non-empty `rollout-id` means "same release"
/// even if the template changed.
pub fn is_effective_revision_change(old: &Value, new: &Value) -> bool {
    let new_id = annotation(new, keys::ROLLOUT_ID).unwrap_or_default();
    let old_id = annotation(old, keys::ROLLOUT_ID).unwrap_or_default();
    if !new_id.is_empty() {
        return new_id != old_id;
    }
    template_without_hash(old) != template_without_hash(new)
}

/// A metadata annotation of an object, if set.
pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// A metadata label of an object, if set.
pub fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/labels")?.get(key)?.as_str()
}

/// `spec.template` without the `pod-template-hash` label Kubernetes adds to ReplicaSets.
pub fn template_without_hash(object: &Value) -> Value {
    let mut template = object
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    if let Some(labels) = template
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(keys::POD_TEMPLATE_HASH);
        if labels.is_empty() {
            template["metadata"]
                .as_object_mut()
                .map(|m| m.remove("labels"));
        }
    }
    template
}
