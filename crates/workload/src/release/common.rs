//! What the releases of all kinds share: object keys, the `workload-type` label, pod selectors
//! and the JSON form of cached objects.

use crate::WorkloadKind;
use rollouts_api::keys;
use rollouts_change::{Effect, ObjectKey};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The key of `object` (a workload read from a cache).
pub(super) fn key_of(resource: rollouts_change::Resource, object: &Value) -> ObjectKey {
    let text = |field: &str| {
        object["metadata"][field]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    ObjectKey::new(resource, text("namespace"), text("name"))
}

/// The `workload-type` label patch, when `object` lacks it.
pub(super) fn label_effect(key: &ObjectKey, object: &Value, kind: WorkloadKind) -> Option<Effect> {
    let labelled = object
        .pointer("/metadata/labels")
        .and_then(|l| l.get(keys::WORKLOAD_TYPE))
        .is_some();
    (!labelled).then(|| {
        Effect::merge(
            key.clone(),
            json!({"metadata": {"labels": {keys::WORKLOAD_TYPE: kind.type_label()}}}),
            format!("label with {} so the webhook sees it", keys::WORKLOAD_TYPE),
        )
    })
}

/// The merge of `patch` into the object `key`, when there is a patch (`why` says what it does).
pub(super) fn merge_effect(
    key: &ObjectKey,
    patch: Option<Value>,
    why: impl FnOnce() -> String,
) -> Vec<Effect> {
    patch
        .map(|patch| Effect::merge(key.clone(), patch, why()))
        .into_iter()
        .collect()
}

/// `spec.selector.matchLabels` of a workload.
pub(super) fn match_labels(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// A typed object as JSON with its apiVersion and kind (cached objects carry neither), and its
/// pod template back in place when the cache kept it as text.
pub(super) fn to_json<K: serde::Serialize>(
    object: &K,
    resource: rollouts_change::Resource,
) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or_default();
    value["apiVersion"] = json!(resource.api_version);
    value["kind"] = json!(resource.kind);
    crate::revision::restore_template(&mut value);
    value
}

/// Deletions of the pods of `namespace` on `revision` (their controller recreates them on the
/// revision its partition asks for).
pub(super) fn delete_pods_on(
    namespace: &str,
    pods: &[crate::labels::PodLabels],
    revision: &str,
    why: &str,
) -> Vec<Effect> {
    pods.iter()
        .filter(|pod| !revision.is_empty() && pod.revision.as_deref() == Some(revision))
        .map(|pod| Effect {
            object: ObjectKey::new(rollouts_change::Resource::POD, namespace, &pod.name),
            change: rollouts_change::Change::Delete,
            why: why.to_string(),
        })
        .collect()
}
