//! After a failed metric analysis each kind brings its pods back to the stable revision while
//! its template stays frozen on the new version: what it changes, in which order, and that it
//! stops changing anything once there.

use rollouts_api::keys;
use rollouts_change::{Change, Effect, Resource};
use rollouts_workload::labels::PodLabels;
use rollouts_workload::release::{PartitionDeployment, PartitionedRelease, Release, can_abort};
use serde_json::{Value, json};

fn replica_set(hash: &str, replicas: i64) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": format!("web-{hash}"), "namespace": "demo",
            "labels": {keys::POD_TEMPLATE_HASH: hash},
            "ownerReferences": [{"uid": "dep-uid", "controller": true, "kind": "Deployment", "name": "web"}]},
        "spec": {"replicas": replicas},
    })
}

fn partition_deployment(paused: bool) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "uid": "dep-uid", "generation": 3,
            "labels": {keys::STABLE_REVISION: "v1hash"},
            "annotations": {keys::IN_PROGRESSING: "{}"}},
        "spec": {"replicas": 5, "paused": paused,
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "web:v2"}]}}},
        "status": {"observedGeneration": 3},
    })
}

/// `(kind, name, patch)` of each merge, `(kind, name, null)` of each deletion.
fn changes(effects: &[Effect]) -> Vec<(&str, &str, Value)> {
    effects
        .iter()
        .map(|e| {
            let patch = match &e.change {
                Change::Merge(patch) => patch.clone(),
                Change::Delete => Value::Null,
                other => panic!("unexpected {other:?}"),
            };
            (e.object.resource.kind, e.object.name.as_str(), patch)
        })
        .collect()
}

#[test]
fn a_partition_style_deployment_is_paused_then_its_stable_replica_set_scaled_up_before_the_new_one_down()
 {
    let sets = [replica_set("v1hash", 3), replica_set("v2hash", 2)];
    let release = PartitionDeployment::new(partition_deployment(false), &sets);
    let effects = release.abort(None).unwrap();
    assert_eq!(
        changes(&effects),
        vec![
            ("Deployment", "web", json!({"spec": {"paused": true}})),
            ("ReplicaSet", "web-v1hash", json!({"spec": {"replicas": 5}})),
            ("ReplicaSet", "web-v2hash", json!({"spec": {"replicas": 0}})),
        ]
    );
    let done = [replica_set("v1hash", 5), replica_set("v2hash", 0)];
    let release = PartitionDeployment::new(partition_deployment(true), &done);
    assert!(
        release.abort(None).unwrap().is_empty(),
        "nothing once there"
    );
}

#[test]
fn a_partition_style_deployment_without_its_stable_replica_set_scales_nothing_down() {
    let sets = [replica_set("v2hash", 5)];
    let release = PartitionDeployment::new(partition_deployment(false), &sets);
    let effects = release.abort(None).unwrap();
    assert_eq!(
        changes(&effects),
        vec![("Deployment", "web", json!({"spec": {"paused": true}}))]
    );
}

fn pods(revisions: &[&str]) -> Vec<PodLabels> {
    revisions
        .iter()
        .enumerate()
        .map(|(i, revision)| PodLabels {
            name: format!("web-{i}"),
            revision: Some(revision.to_string()),
            ..PodLabels::default()
        })
        .collect()
}

#[test]
fn a_statefulset_raises_its_partition_first_then_deletes_the_pods_on_the_new_revision() {
    let statefulset = |partition: i64| {
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "web", "namespace": "demo", "generation": 2,
                "annotations": {keys::IN_PROGRESSING: "{}"}},
            "spec": {"replicas": 4, "updateStrategy": {"type": "RollingUpdate",
                "rollingUpdate": {"partition": partition}}},
            "status": {"observedGeneration": 2, "currentRevision": "web-1", "updateRevision": "web-2",
                "updatedReplicas": 2},
        })
    };
    let pods = pods(&["web-1", "web-1", "web-2", "web-2"]);
    let release = PartitionedRelease::statefulset_json(statefulset(2));
    assert_eq!(
        changes(&release.abort(Some(&pods)).unwrap()),
        vec![(
            "StatefulSet",
            "web",
            json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 4}}}})
        )]
    );
    let release = PartitionedRelease::statefulset_json(statefulset(4));
    assert_eq!(
        changes(&release.abort(Some(&pods)).unwrap()),
        vec![("Pod", "web-2", Value::Null), ("Pod", "web-3", Value::Null)]
    );
    assert_eq!(
        release.abort(None),
        None,
        "the pods must be known before any goes"
    );
}

#[test]
fn a_cloneset_keeps_every_pod_on_the_old_version_through_its_partition() {
    let cloneset = json!({
        "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": "demo", "generation": 2,
            "annotations": {keys::IN_PROGRESSING: "{}"}},
        "spec": {"replicas": 4, "updateStrategy": {"partition": "50%", "paused": false}},
        "status": {"observedGeneration": 2, "currentRevision": "web-aaa", "updateRevision": "web-bbb",
            "updatedReplicas": 2},
    });
    let release = PartitionedRelease::cloneset_json(cloneset);
    let effects = release.abort(Some(&pods(&["aaa", "bbb"]))).unwrap();
    assert_eq!(
        changes(&effects),
        vec![(
            "CloneSet",
            "web",
            json!({"spec": {"updateStrategy": {"partition": 4, "paused": false}}})
        )]
    );
    assert_eq!(effects[0].object.resource, Resource::CLONE_SET);
}

#[test]
fn daemonsets_and_blue_green_releases_cannot_go_back_while_frozen() {
    let table = [
        ("apps/v1", "Deployment", false, true),
        ("apps/v1", "StatefulSet", false, true),
        ("apps.kruise.io/v1beta1", "StatefulSet", false, true),
        ("apps.kruise.io/v1alpha1", "CloneSet", false, true),
        ("apps/v1", "DaemonSet", false, false),
        ("apps.kruise.io/v1alpha1", "DaemonSet", false, false),
        ("apps/v1", "Deployment", true, false),
        ("apps.kruise.io/v1alpha1", "CloneSet", true, false),
    ];
    for (api_version, kind, blue_green, expected) in table {
        assert_eq!(
            can_abort(api_version, kind, blue_green),
            expected,
            "{api_version} {kind} blue-green {blue_green}"
        );
    }
}
