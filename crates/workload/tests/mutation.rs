//! Table tests of how each kind is frozen when a release starts (upstream's table),
//! plus scale-only, label-only, rollout-id, replicas 0 and empty-UID updates.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollouts_api::v1beta1::Rollout;
use rollouts_workload::mutation::*;
use serde_json::{Value, json};

const NO_REPLICA_SETS: &[ReplicaSet] = &[];
const IN_PROGRESSING: &str = "rollouts.kruise.io/in-progressing";

fn rollout(traffic: bool, blue_green: bool) -> Rollout {
    let mut strategy = json!({"steps": [{"replicas": 1}]});
    if traffic {
        strategy["trafficRoutings"] =
            json!([{"service": "echoserver", "ingress": {"name": "echoserver"}}]);
    }
    let key = if blue_green { "blueGreen" } else { "canary" };
    serde_json::from_value(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
        "metadata": {"name": "rollout-demo", "namespace": "default"},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"},
                 "strategy": {key: strategy}}
    }))
    .unwrap()
}

fn deployment(image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "echoserver", "namespace": "default", "uid": "dep-uid",
                     "labels": {"app": "echoserver", "rollouts.kruise.io/workload-type": "deployment"}},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "echoserver"}},
                 "template": {"metadata": {"labels": {"app": "echoserver"}},
                              "spec": {"containers": [{"name": "echoserver", "image": image}]}}}
    })
}

fn replica_set(image: &str, hash: &str, revision: &str, replicas: i64) -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": format!("echoserver-{hash}"), "namespace": "default",
                     "labels": {"app": "echoserver", "pod-template-hash": hash},
                     "annotations": {"deployment.kubernetes.io/revision": revision},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver",
                                          "uid": "dep-uid", "controller": true}]},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "echoserver"}},
                 "template": {"metadata": {"labels": {"app": "echoserver", "pod-template-hash": hash}},
                              "spec": {"containers": [{"name": "echoserver", "image": image}]}}}
    }))
    .unwrap()
}

fn with_annotation(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["annotations"][key] = json!(value);
    object
}

fn paused(object: &Value) -> bool {
    object["spec"]["paused"] == json!(true)
}

#[test]
fn deployment_new_image_with_governing_rollout_is_paused_and_marked() {
    let rs = [replica_set("v1", "hash-v1", "1", 10)];
    let out = freeze_deployment(
        &deployment("v1"),
        &deployment("v2"),
        &rollout(false, false),
        &rs,
    )
    .expect("mutated");
    assert!(paused(&out));
    assert_eq!(
        out["metadata"]["annotations"][IN_PROGRESSING],
        json!(r#"{"rolloutName":"rollout-demo"}"#)
    );
    assert_eq!(
        out["metadata"]["labels"]["rollouts.kruise.io/stable-revision"],
        json!("hash-v1")
    );
    assert_eq!(
        out["spec"]["template"],
        deployment("v2")["spec"]["template"],
        "the new template is kept"
    );
    assert!(
        out["spec"].get("strategy").is_none(),
        "the strategy is never touched"
    );
}

#[test]
fn deployment_updates_that_are_not_releases_are_admitted_untouched() {
    let rs = [replica_set("v1", "hash-v1", "1", 10)];
    let r = rollout(false, false);
    let mut scaled = deployment("v1");
    scaled["spec"]["replicas"] = json!(20);
    let mut labelled = deployment("v1");
    labelled["metadata"]["labels"]["team"] = json!("a");
    let mut zero = deployment("v2");
    zero["spec"]["replicas"] = json!(0);
    let same_id_new_image =
        with_annotation(deployment("v2"), "rollouts.kruise.io/rollout-id", "v1");
    let same_id_old = with_annotation(deployment("v1"), "rollouts.kruise.io/rollout-id", "v1");
    let cases = [
        ("scale only", deployment("v1"), scaled),
        ("label only", deployment("v1"), labelled),
        ("replicas 0", deployment("v1"), zero),
        ("same rollout-id, new image", same_id_old, same_id_new_image),
    ];
    for (name, old, new) in cases {
        assert_eq!(freeze_deployment(&old, &new, &r, &rs), None, "{name}");
    }
}

#[test]
fn deployment_rollout_id_change_alone_starts_a_release() {
    let rs = [replica_set("v1", "hash-v1", "1", 10)];
    let old = with_annotation(deployment("v1"), "rollouts.kruise.io/rollout-id", "a");
    let new = with_annotation(deployment("v1"), "rollouts.kruise.io/rollout-id", "b");
    let out = freeze_deployment(&old, &new, &rollout(false, false), &rs).expect("mutated");
    assert!(paused(&out));
    assert!(out["metadata"]["annotations"][IN_PROGRESSING].is_string());
}

#[test]
fn deployment_needs_active_replica_sets_and_one_version_with_traffic() {
    let r_traffic = rollout(true, false);
    let two_versions = [
        replica_set("v1", "hash-v1", "1", 5),
        replica_set("v2", "hash-v2", "2", 5),
    ];
    assert_eq!(
        freeze_deployment(
            &deployment("v2"),
            &deployment("v3"),
            &r_traffic,
            &two_versions
        ),
        None
    );
    let out = freeze_deployment(
        &deployment("v2"),
        &deployment("v3"),
        &rollout(false, false),
        &two_versions,
    )
    .unwrap();
    assert_eq!(
        out["metadata"]["labels"]["rollouts.kruise.io/stable-revision"],
        json!("hash-v1"),
        "lowest revision"
    );
    let none_active = [replica_set("v1", "hash-v1", "1", 0)];
    assert_eq!(
        freeze_deployment(
            &deployment("v1"),
            &deployment("v2"),
            &r_traffic,
            &none_active
        ),
        None
    );
    let mut foreign = replica_set("v1", "hash-v1", "1", 10);
    foreign.metadata.owner_references.as_mut().unwrap()[0].uid = "other".into();
    assert_eq!(
        freeze_deployment(&deployment("v1"), &deployment("v2"), &r_traffic, &[foreign]),
        None
    );
}

#[test]
fn deployment_update_without_uid_uses_the_stored_uid() {
    let rs = [replica_set("v1", "hash-v1", "1", 10)];
    let mut new = deployment("v2");
    new["metadata"]["uid"] = json!("");
    let out =
        freeze_deployment(&deployment("v1"), &new, &rollout(false, false), &rs).expect("mutated");
    assert!(paused(&out));
    assert_eq!(
        out["metadata"]["uid"],
        json!(""),
        "the uid is not rewritten"
    );
}

#[test]
fn deployment_in_release_stays_paused_and_keeps_its_marks() {
    let r = rollout(false, false);
    let marked = |image: &str| {
        let mut d = with_annotation(
            deployment(image),
            IN_PROGRESSING,
            r#"{"rolloutName":"rollout-demo"}"#,
        );
        d["metadata"]["labels"]["rollouts.kruise.io/stable-revision"] = json!("hash-v1");
        d["spec"]["paused"] = json!(true);
        d
    };
    let mut unpaused = marked("v2");
    unpaused["spec"]["paused"] = json!(false);
    let out = freeze_deployment(&marked("v2"), &unpaused, &r, NO_REPLICA_SETS).expect("re-paused");
    assert!(paused(&out));
    // `kubectl replace` with the user's manifest drops our marks and the pause: all come back.
    let out = freeze_deployment(&marked("v2"), &deployment("v3"), &r, NO_REPLICA_SETS)
        .expect("protected");
    assert!(paused(&out));
    assert!(out["metadata"]["annotations"][IN_PROGRESSING].is_string());
    assert_eq!(
        out["metadata"]["labels"]["rollouts.kruise.io/stable-revision"],
        json!("hash-v1")
    );
    // Nothing to change: admitted as sent.
    assert_eq!(
        freeze_deployment(&marked("v2"), &marked("v2"), &r, NO_REPLICA_SETS),
        None
    );
}

#[test]
fn blue_green_deployment_in_release_is_paused_only_on_a_new_template() {
    let r = rollout(true, true);
    let marked = |image: &str, paused: bool| {
        let mut d = with_annotation(
            deployment(image),
            IN_PROGRESSING,
            r#"{"rolloutName":"rollout-demo"}"#,
        );
        d["spec"]["paused"] = json!(paused);
        d
    };
    assert_eq!(
        freeze_deployment(
            &marked("v2", true),
            &marked("v2", false),
            &r,
            NO_REPLICA_SETS
        ),
        None
    );
    let out = freeze_deployment(
        &marked("v2", false),
        &marked("v1", false),
        &r,
        NO_REPLICA_SETS,
    )
    .expect("rollback paused");
    assert!(paused(&out));
}

fn cloneset(image: &str, replicas: i64, updated: i64) -> Value {
    json!({
        "apiVersion": "apps.kruise.io/v1alpha1", "kind": "CloneSet",
        "metadata": {"name": "echoserver", "namespace": "default"},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "main", "image": image}]}}},
        "status": {"replicas": replicas, "updatedReplicas": updated}
    })
}

#[test]
fn cloneset_is_frozen_with_partition_100_percent_on_one_version() {
    let out = freeze_cloneset(
        &cloneset("v1", 5, 5),
        &cloneset("v2", 5, 5),
        &rollout(true, false),
    )
    .unwrap();
    assert_eq!(out["spec"]["updateStrategy"]["partition"], json!("100%"));
    assert!(out["metadata"]["annotations"][IN_PROGRESSING].is_string());
    assert_eq!(
        freeze_cloneset(
            &cloneset("v1", 5, 3),
            &cloneset("v2", 5, 3),
            &rollout(true, false)
        ),
        None
    );
    assert!(
        freeze_cloneset(
            &cloneset("v1", 5, 3),
            &cloneset("v2", 5, 3),
            &rollout(false, false)
        )
        .is_some()
    );
    assert_eq!(
        freeze_cloneset(
            &cloneset("v1", 0, 0),
            &cloneset("v2", 0, 0),
            &rollout(false, false)
        ),
        None
    );
    assert_eq!(
        freeze_cloneset(
            &cloneset("v1", 5, 5),
            &cloneset("v1", 8, 5),
            &rollout(false, false)
        ),
        None
    );
}

fn statefulset(image: &str, strategy: Option<Value>) -> Value {
    let mut s = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "sts-demo", "namespace": "default"},
        "spec": {"replicas": 5, "template": {"spec": {"containers": [{"name": "main", "image": image}]}}}
    });
    if let Some(strategy) = strategy {
        s["spec"]["updateStrategy"] = strategy;
    }
    s
}

#[test]
fn statefulset_is_frozen_with_partition_32767_creating_the_strategy() {
    let r = rollout(false, false);
    let out = freeze_statefulset(&statefulset("v1", None), &statefulset("v2", None), &r).unwrap();
    assert_eq!(
        out["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 32767}})
    );
    let existing = Some(
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 2}}),
    );
    let out = freeze_statefulset(
        &statefulset("v1", existing.clone()),
        &statefulset("v2", existing),
        &r,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["updateStrategy"]["rollingUpdate"],
        json!({"partition": 32767, "maxUnavailable": 2})
    );
    let on_delete = Some(json!({"type": "OnDelete"}));
    assert_eq!(
        freeze_statefulset(
            &statefulset("v1", on_delete.clone()),
            &statefulset("v2", on_delete),
            &r
        ),
        None
    );
    let mut scaled = statefulset("v1", None);
    scaled["spec"]["replicas"] = json!(8);
    assert_eq!(
        freeze_statefulset(&statefulset("v1", None), &scaled, &r),
        None
    );
}

fn daemonset(api_version: &str, image: &str, strategy: Value) -> Value {
    json!({
        "apiVersion": api_version, "kind": "DaemonSet", "metadata": {"name": "fluentd", "namespace": "default"},
        "spec": {"updateStrategy": strategy, "template": {"spec": {"containers": [{"name": "main", "image": image}]}}}
    })
}

#[test]
fn native_daemonset_goes_on_delete_and_saves_its_strategy() {
    let r = rollout(false, false);
    let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}});
    let out = freeze_native_daemonset(
        &daemonset("apps/v1", "v1", rolling.clone()),
        &daemonset("apps/v1", "v2", rolling.clone()),
        &r,
    )
    .unwrap();
    assert_eq!(out["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    let annotations = &out["metadata"]["annotations"];
    assert_eq!(
        annotations["rollouts.kruise.io/daemonset-original-update-strategy"],
        json!("RollingUpdate")
    );
    assert_eq!(
        annotations["rollouts.kruise.io/daemonset-original-rolling-update"],
        json!(r#"{"maxUnavailable":2}"#)
    );
    assert!(annotations[IN_PROGRESSING].is_string());
    let on_delete = json!({"type": "OnDelete"});
    let out = freeze_native_daemonset(
        &daemonset("apps/v1", "v1", on_delete.clone()),
        &daemonset("apps/v1", "v2", on_delete),
        &r,
    )
    .unwrap();
    assert_eq!(
        out["metadata"]["annotations"]["rollouts.kruise.io/daemonset-original-update-strategy"],
        json!("OnDelete")
    );
    assert_eq!(
        freeze_native_daemonset(
            &daemonset("apps/v1", "v1", rolling.clone()),
            &daemonset("apps/v1", "v1", rolling),
            &r
        ),
        None
    );
}

#[test]
fn a_newer_version_mid_release_keeps_the_native_daemonset_strategy_saved_when_it_began() {
    let r = rollout(false, false);
    let rolling = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}});
    let frozen = freeze_native_daemonset(
        &daemonset("apps/v1", "v1", rolling.clone()),
        &daemonset("apps/v1", "v2", rolling.clone()),
        &r,
    )
    .unwrap();
    let mut v3 = frozen.clone();
    v3["spec"]["template"]["spec"]["containers"][0]["image"] = json!("v3");
    let saved = |object: &Value| {
        let annotations = &object["metadata"]["annotations"];
        (
            annotations["rollouts.kruise.io/daemonset-original-update-strategy"].clone(),
            annotations["rollouts.kruise.io/daemonset-original-rolling-update"].clone(),
        )
    };
    // The update carries our frozen strategy (an apply that does not set one).
    let out = freeze_native_daemonset(&frozen, &v3, &r).unwrap();
    assert_eq!(out["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    assert_eq!(
        saved(&out),
        (json!("RollingUpdate"), json!(r#"{"maxUnavailable":2}"#))
    );
    // Without our annotations on the update (a replace), the old object's are kept.
    let mut replaced = v3.clone();
    replaced["metadata"]["annotations"] = json!({});
    let out = freeze_native_daemonset(&frozen, &replaced, &r).unwrap();
    assert_eq!(
        saved(&out),
        (json!("RollingUpdate"), json!(r#"{"maxUnavailable":2}"#))
    );
    // An update that sets a strategy of its own: that one is saved.
    let mut own = v3;
    own["spec"]["updateStrategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}});
    let out = freeze_native_daemonset(&frozen, &own, &r).unwrap();
    assert_eq!(
        saved(&out),
        (json!("RollingUpdate"), json!(r#"{"maxSurge":1}"#))
    );
}

#[test]
fn advanced_daemonset_is_frozen_with_partition_32767() {
    let r = rollout(false, false);
    let strategy = json!({"type": "RollingUpdate"});
    let old = daemonset("apps.kruise.io/v1alpha1", "v1", strategy.clone());
    let out = freeze_advanced_daemonset(
        &old,
        &daemonset("apps.kruise.io/v1alpha1", "v2", strategy),
        &r,
    )
    .unwrap();
    assert_eq!(
        out["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 32767}})
    );
    assert_eq!(freeze_advanced_daemonset(&old, &old, &r), None);
}

/// A Deployment a partition batch drives: unpaused, maxSurge 0, maxUnavailable 2.
fn driven(image: &str) -> Value {
    let mut d = with_annotation(
        deployment(image),
        IN_PROGRESSING,
        r#"{"rolloutName":"rollout-demo"}"#,
    );
    d = with_annotation(d, "rollouts.kruise.io/batch-pod-limit", "2");
    d = with_annotation(
        d,
        "rollouts.kruise.io/original-deployment-strategy",
        r#"{"strategy":null}"#,
    );
    d["spec"]["paused"] = json!(false);
    d["spec"]["minReadySeconds"] = json!(2147483646);
    d["spec"]["progressDeadlineSeconds"] = json!(2147483647);
    d["spec"]["strategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 2}});
    d
}

#[test]
fn driven_partition_deployment_keeps_its_batch_settings_against_other_edits() {
    let r = rollout(false, false);
    // The controller's own batch change (annotation and spec together) is admitted as sent.
    let mut next_batch = with_annotation(driven("v2"), "rollouts.kruise.io/batch-pod-limit", "3");
    next_batch["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] = json!(3);
    assert_eq!(
        freeze_deployment(&driven("v2"), &next_batch, &r, NO_REPLICA_SETS),
        None
    );
    // A user's edit of the rolling settings (e.g. `kubectl replace` of the original manifest)
    // cannot let the Deployment replace more pods than the batch allows.
    let mut edited = driven("v2");
    edited["spec"]["minReadySeconds"] = json!(0);
    edited["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    let out = freeze_deployment(&driven("v2"), &edited, &r, NO_REPLICA_SETS).expect("pinned");
    assert_eq!(out["spec"], driven("v2")["spec"]);
    // Dropped marks come back, and a new template pauses it.
    let out = freeze_deployment(&driven("v2"), &deployment("v3"), &r, NO_REPLICA_SETS)
        .expect("protected");
    assert!(paused(&out));
    assert_eq!(
        out["metadata"]["annotations"]["rollouts.kruise.io/batch-pod-limit"],
        json!("2")
    );
    assert_eq!(
        out["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
        json!(2)
    );
}

#[test]
fn removal_of_the_marks_is_admitted_only_while_the_rollout_ends_its_release() {
    let released = deployment("v2");
    for (reason, admitted) in [
        ("InRolling", false),
        ("Finalising", true),
        ("Cancelling", true),
    ] {
        let mut r = rollout(false, false);
        r.status = Some(
            serde_json::from_value(json!({"phase": "Progressing",
                "conditions": [{"type": "Progressing", "status": "True", "reason": reason, "message": ""}]}))
            .unwrap(),
        );
        let out = freeze_deployment(&driven("v2"), &released, &r, NO_REPLICA_SETS);
        assert_eq!(out.is_none(), admitted, "{reason}");
    }
}

/// What a GitOps tool or another owner often changes besides the template: labels and
/// annotations (its own tracking marks). Only a template change is a release.
fn with_owner_marks(mut object: Value) -> Value {
    object["metadata"]["labels"] = json!({"app.kubernetes.io/managed-by": "kubevela"});
    object["metadata"]["annotations"] = json!({"argocd.argoproj.io/tracking-id": "shop:apps/x"});
    object
}

/// How one kind is frozen.
type Freeze = fn(&Value, &Value, &Rollout) -> Option<Value>;

#[test]
fn label_and_annotation_only_updates_pass_for_every_kind() {
    let rollout = rollout(false, false);
    let cases: [(&str, Value, Freeze); 5] = [
        ("CloneSet", cloneset("v1", 5, 5), freeze_cloneset),
        ("StatefulSet", statefulset("v1", None), freeze_statefulset),
        (
            "Advanced StatefulSet",
            {
                let mut s = statefulset("v1", None);
                s["apiVersion"] = json!("apps.kruise.io/v1beta1");
                s
            },
            freeze_statefulset,
        ),
        (
            "Advanced DaemonSet",
            daemonset(
                "apps.kruise.io/v1alpha1",
                "v1",
                json!({"type": "RollingUpdate"}),
            ),
            freeze_advanced_daemonset,
        ),
        (
            "DaemonSet",
            daemonset("apps/v1", "v1", json!({"type": "RollingUpdate"})),
            freeze_native_daemonset,
        ),
    ];
    for (kind, old, freeze) in cases {
        let new = with_owner_marks(old.clone());
        assert_eq!(freeze(&old, &new, &rollout), None, "{kind}: metadata only");
        let mut image = new.clone();
        image["spec"]["template"]["spec"]["containers"][0]["image"] = json!("v2");
        assert!(
            freeze(&old, &image, &rollout).is_some(),
            "{kind}: with a new image"
        );
    }
}
