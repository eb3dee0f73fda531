//! Whether an update of a workload is a new release (reference §3.1 "effective revision change").

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn workload(image: &str, rollout_id: Option<&str>, replicas: i64) -> Value {
        let mut object = json!({
            "metadata": {"name": "echoserver", "labels": {"app": "echoserver"}},
            "spec": {"replicas": replicas, "template": {"metadata": {"labels": {"app": "echoserver"}},
                     "spec": {"containers": [{"name": "main", "image": image}]}}}
        });
        if let Some(id) = rollout_id {
            object["metadata"]["annotations"] = json!({"rollouts.kruise.io/rollout-id": id});
        }
        object
    }

    #[test]
    fn release_starts_on_template_or_rollout_id_change_only() {
        let cases = [
            (
                "image changed",
                workload("v1", None, 5),
                workload("v2", None, 5),
                true,
            ),
            (
                "scale only",
                workload("v1", None, 5),
                workload("v1", None, 10),
                false,
            ),
            (
                "nothing",
                workload("v1", None, 5),
                workload("v1", None, 5),
                false,
            ),
            (
                "rollout-id changed, same template",
                workload("v1", Some("a"), 5),
                workload("v1", Some("b"), 5),
                true,
            ),
            (
                "rollout-id set, same template",
                workload("v1", None, 5),
                workload("v1", Some("a"), 5),
                true,
            ),
            (
                "same rollout-id, template changed",
                workload("v1", Some("a"), 5),
                workload("v2", Some("a"), 5),
                false,
            ),
            (
                "rollout-id removed, template changed",
                workload("v1", Some("a"), 5),
                workload("v2", None, 5),
                true,
            ),
        ];
        for (name, old, new, expected) in cases {
            assert_eq!(is_effective_revision_change(&old, &new), expected, "{name}");
        }
    }

    #[test]
    fn label_only_and_hash_label_changes_are_not_releases() {
        let old = workload("v1", None, 5);
        let mut labelled = old.clone();
        labelled["metadata"]["labels"]["team"] = json!("a");
        assert!(!is_effective_revision_change(&old, &labelled));
        let mut hashed = old.clone();
        hashed["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] = json!("abc");
        assert!(!is_effective_revision_change(&old, &hashed));
        let mut relabelled_pods = old.clone();
        relabelled_pods["spec"]["template"]["metadata"]["labels"]["tier"] = json!("web");
        assert!(is_effective_revision_change(&old, &relabelled_pods));
    }
}
