//! Whether an update of a workload is a new release.

use crate::hash::content_hash;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
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

/// Revision of a workload's pod template as this project records it (a content hash of the
/// template, `pod-template-hash` ignored).
pub fn template_revision(workload: &Value) -> String {
    content_hash(&template_without_hash(workload))
}

/// Revision of a ReplicaSet's pod template: the one recorded on a cached copy, else computed.
pub fn replica_set_template_revision(replica_set: &Value) -> String {
    annotation(replica_set, keys::CACHED_TEMPLATE_REVISION)
        .map_or_else(|| template_revision(replica_set), str::to_string)
}

/// Shrinks a ReplicaSet to what the webhook and the controller read of it: its pod template
/// becomes its revision (an annotation of the cached copy), and conditions go.
pub fn trim_replica_set(replica_set: &mut ReplicaSet) {
    let Some(template) = replica_set.spec.template.take() else {
        return;
    };
    let object = serde_json::json!({"spec": {"template": template}});
    replica_set
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(
            keys::CACHED_TEMPLATE_REVISION.into(),
            template_revision(&object),
        );
    replica_set.spec.selector = Default::default();
    if let Some(status) = replica_set.status.as_mut() {
        status.conditions = None;
    }
}

/// Shrinks a Deployment to what the controller reads of it: its pod template is kept as
/// compact JSON text (an annotation of the cached copy; [`restore_template`] puts it back), and
/// its conditions go.
pub fn trim_deployment(deployment: &mut Deployment) {
    let template = std::mem::take(&mut deployment.spec.template);
    if let Ok(text) = serde_json::to_string(&template) {
        deployment
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(keys::CACHED_TEMPLATE.into(), text);
    }
    if let Some(status) = deployment.status.as_mut() {
        status.conditions = None;
    }
}

/// Puts back the pod template [`trim_deployment`] kept as text, in the JSON of a cached copy.
pub fn restore_template(object: &mut Value) {
    let text = object
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
        .and_then(|a| a.remove(keys::CACHED_TEMPLATE));
    if let Some(template) = text
        .as_ref()
        .and_then(Value::as_str)
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
    {
        object["spec"]["template"] = template;
    }
}
