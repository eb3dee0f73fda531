//! A StatefulSet's controller replaces a pod only once every pod is Ready: a pod that never
//! becomes Ready on a revision the StatefulSet no longer runs would stay forever. The release
//! deletes exactly those pods, and only for StatefulSets (CloneSets replace unready pods
//! themselves).

use rollouts_change::{Change, Resource};
use rollouts_workload::labels::PodLabels;
use rollouts_workload::release::{PartitionedRelease, Release};
use serde_json::{Value, json};

fn statefulset(api_version: &str, ready: i64) -> Value {
    json!({
        "apiVersion": api_version, "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "demo", "generation": 4},
        "spec": {"replicas": 4, "updateStrategy": {"rollingUpdate": {"partition": 3}}},
        "status": {"observedGeneration": 4, "replicas": 4, "readyReplicas": ready,
            "currentRevision": "web-stable", "updateRevision": "web-new"},
    })
}

fn pod(name: &str, revision: Option<&str>, ready: bool, terminating: bool) -> PodLabels {
    PodLabels {
        name: name.into(),
        revision: revision.map(String::from),
        ready,
        terminating,
        ..PodLabels::default()
    }
}

#[test]
fn only_unready_pods_on_an_abandoned_revision_are_deleted() {
    let pods = [
        pod("web-0", Some("web-stable"), true, false),
        pod("web-1", Some("web-stable"), false, false),
        pod("web-2", Some("web-new"), false, false),
        pod("web-3", Some("web-broken"), false, false),
        pod("web-4", Some("web-broken"), true, false),
        pod("web-5", Some("web-broken"), false, true),
        pod("web-6", None, false, false),
    ];
    for api_version in ["apps/v1", "apps.kruise.io/v1beta1"] {
        let release = PartitionedRelease::statefulset_json(statefulset(api_version, 3));
        assert!(
            release.may_have_stuck_pods(),
            "{api_version}: a pod is not Ready"
        );
        let effects = release.stuck_pods(&pods);
        let deleted: Vec<(&str, &str)> = effects
            .iter()
            .map(|e| {
                assert_eq!(e.change, Change::Delete);
                assert_eq!(e.object.resource, Resource::POD);
                assert_eq!(e.object.namespace, "demo");
                (e.object.name.as_str(), e.why.as_str())
            })
            .collect();
        assert_eq!(deleted.len(), 1, "{api_version}: {deleted:?}");
        assert_eq!(deleted[0].0, "web-3");
        assert!(
            deleted[0].1.contains("web-broken"),
            "the reason names the revision"
        );
    }
}

#[test]
fn nothing_is_looked_for_when_every_pod_is_ready_or_for_a_cloneset() {
    let all_ready = PartitionedRelease::statefulset_json(statefulset("apps/v1", 4));
    assert!(!all_ready.may_have_stuck_pods());
    let cloneset = PartitionedRelease::cloneset_json(json!({
        "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
        "metadata": {"name": "web", "namespace": "demo"},
        "spec": {"replicas": 4},
        "status": {"readyReplicas": 1, "currentRevision": "web-a", "updateRevision": "web-b"},
    }));
    assert!(!cloneset.may_have_stuck_pods());
    let broken = [pod("web-0", Some("web-c"), false, false)];
    assert!(cloneset.stuck_pods(&broken).is_empty());
}
