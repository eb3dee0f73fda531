//! Table tests of `revision`: which updates start a release.

use rollouts_workload::revision::*;
use serde_json::{Value, json};

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
