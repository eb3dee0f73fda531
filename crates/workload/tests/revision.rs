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

#[test]
fn a_trimmed_replica_set_keeps_its_template_revision_and_drops_the_template() {
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use rollouts_workload::revision::{
        replica_set_template_revision, template_revision, trim_replica_set,
    };
    let full = serde_json::json!({
        "metadata": {"name": "web-abc", "labels": {"pod-template-hash": "abc"}},
        "spec": {"replicas": 2, "template": {
            "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}},
            "spec": {"containers": [{"name": "web", "image": "web:2"}]}}},
        "status": {"replicas": 2, "conditions": [{"type": "ReplicaFailure", "status": "False"}]}
    });
    let deployment = serde_json::json!({"spec": {"template": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "web:2"}]}}}});
    let mut typed: ReplicaSet = serde_json::from_value(full.clone()).unwrap();
    trim_replica_set(&mut typed);
    let trimmed = serde_json::to_value(&typed).unwrap();
    assert!(trimmed.pointer("/spec/template").is_none());
    assert!(trimmed.pointer("/status/conditions").is_none());
    assert_eq!(
        replica_set_template_revision(&trimmed),
        replica_set_template_revision(&full)
    );
    assert_eq!(
        replica_set_template_revision(&trimmed),
        template_revision(&deployment),
        "the pod-template-hash label does not count"
    );
}

#[test]
fn a_cached_deployment_keeps_its_template_as_text_and_gets_it_back_whole() {
    use k8s_openapi::api::apps::v1::Deployment;
    use rollouts_workload::revision::{restore_template, template_revision, trim_deployment};
    let full = serde_json::json!({
        "metadata": {"name": "web", "namespace": "d", "annotations": {"team": "a"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:2",
                    "env": [{"name": "A", "value": "1"}]}]}}},
        "status": {"replicas": 3, "conditions": [{"type": "Available", "status": "True"}]}
    });
    let mut typed: Deployment = serde_json::from_value(full.clone()).unwrap();
    trim_deployment(&mut typed);
    let mut cached = serde_json::to_value(&typed).unwrap();
    assert!(cached["metadata"]["annotations"]["rollouts.kruise.io/cached-template"].is_string());
    restore_template(&mut cached);
    let restored: Deployment = serde_json::from_value(cached.clone()).unwrap();
    let original: Deployment = serde_json::from_value(full.clone()).unwrap();
    assert_eq!(restored.spec.template, original.spec.template);
    assert_eq!(template_revision(&cached), template_revision(&full));
    assert_eq!(
        cached["metadata"]["annotations"],
        serde_json::json!({"team": "a"}),
        "nothing of the cache is left in the restored copy"
    );
    assert!(cached.pointer("/status/conditions").is_none());
}
