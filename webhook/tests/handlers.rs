//! The admission and conversion handlers on raw review bodies: what the API server sends and
//! what it gets back, including malformed input.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollouts_api::v1beta1::Rollout;
use rollouts_webhook::handlers::*;
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Default)]
struct Cached {
    rollouts: Vec<Arc<Rollout>>,
    replica_sets: Vec<Arc<ReplicaSet>>,
}

impl Lookup for Cached {
    fn rollouts(&self, namespace: &str) -> Vec<Arc<Rollout>> {
        self.rollouts
            .iter()
            .filter(|r| r.metadata.namespace.as_deref() == Some(namespace))
            .cloned()
            .collect()
    }
    fn owned_replica_sets(&self, uid: &str) -> Vec<Arc<ReplicaSet>> {
        let owned = |r: &&Arc<ReplicaSet>| {
            r.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid)
        };
        self.replica_sets.iter().filter(owned).cloned().collect()
    }
}

fn rollout_demo() -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
        "metadata": {"name": "rollouts-demo", "namespace": "default"},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"},
                 "strategy": {"canary": {"steps": [{"replicas": 1}, {"replicas": "100%"}]}}}
    }))
    .unwrap()
}

/// The demo Rollout and the Deployment's stable ReplicaSet, as the webhook's caches hold them.
fn governed_cache() -> Cached {
    Cached {
        rollouts: vec![Arc::new(rollout_demo())],
        replica_sets: vec![Arc::new(stable_replica_set())],
    }
}

fn deployment(image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "echoserver", "namespace": "default", "uid": "dep-uid"},
        "spec": {"replicas": 5, "template": {"metadata": {"labels": {"app": "echoserver"}},
                 "spec": {"containers": [{"name": "echoserver", "image": image}]}}}
    })
}

fn stable_replica_set() -> ReplicaSet {
    serde_json::from_value(json!({
        "metadata": {"name": "echoserver-abc", "namespace": "default", "labels": {"pod-template-hash": "abc"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver", "uid": "dep-uid", "controller": true}]},
        "spec": {"replicas": 5, "selector": {"matchLabels": {"app": "echoserver"}},
                 "template": {"metadata": {"labels": {"app": "echoserver", "pod-template-hash": "abc"}},
                              "spec": {"containers": [{"name": "echoserver", "image": "v1"}]}}}
    }))
    .unwrap()
}

fn review(
    group: &str,
    version: &str,
    kind: &str,
    operation: &str,
    object: Value,
    old: Option<Value>,
) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "req-1", "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": format!("{}s", kind.to_lowercase())},
            "name": object["metadata"]["name"], "namespace": "default", "operation": operation,
            "userInfo": {"username": "admin"}, "object": object, "oldObject": old, "dryRun": false
        }
    }))
    .unwrap()
}

fn decoded_patch(response: &AdmissionResponse) -> Value {
    serde_json::from_slice(response.patch.as_ref().expect("a patch")).unwrap()
}

#[test]
fn governed_deployment_image_update_gets_the_freeze_patch() {
    let cache = governed_cache();
    let body = review(
        "apps",
        "v1",
        "Deployment",
        "UPDATE",
        deployment("v2"),
        Some(deployment("v1")),
    );
    let request = decode_admission(&body).unwrap();
    let (response, decision) = mutate(MutatingPath::Deployment, &request, &cache);
    assert_eq!(decision, Decision::Patched);
    assert!(response.allowed);
    assert_eq!(response.uid, "req-1");
    let mut patched = deployment("v2");
    let patch: json_patch::Patch = serde_json::from_value(decoded_patch(&response)).unwrap();
    json_patch::patch(&mut patched, &patch).unwrap();
    assert_eq!(patched["spec"]["paused"], json!(true));
    assert_eq!(
        patched["metadata"]["labels"]["rollouts.kruise.io/stable-revision"],
        json!("abc")
    );
    assert_eq!(
        patched["metadata"]["annotations"]["rollouts.kruise.io/in-progressing"],
        json!(r#"{"rolloutName":"rollouts-demo"}"#)
    );
}

#[test]
fn ungoverned_created_and_status_updates_are_admitted_untouched() {
    let governed = governed_cache();
    let mut other = deployment("v2");
    other["metadata"]["name"] = json!("other");
    let cases = [
        (
            "no rollout",
            Cached::default(),
            review(
                "apps",
                "v1",
                "Deployment",
                "UPDATE",
                deployment("v2"),
                Some(deployment("v1")),
            ),
        ),
        (
            "other deployment",
            Cached {
                rollouts: governed.rollouts.clone(),
                ..Default::default()
            },
            review(
                "apps",
                "v1",
                "Deployment",
                "UPDATE",
                other.clone(),
                Some(other),
            ),
        ),
        (
            "create",
            Cached {
                rollouts: governed.rollouts.clone(),
                ..Default::default()
            },
            review("apps", "v1", "Deployment", "CREATE", deployment("v2"), None),
        ),
    ];
    for (name, cache, body) in cases {
        let request = decode_admission(&body).unwrap();
        let (response, decision) = mutate(MutatingPath::Deployment, &request, &cache);
        assert_eq!(
            (decision, response.allowed, response.patch.is_none()),
            (Decision::Allowed, true, true),
            "{name}"
        );
    }
    let mut status = serde_json::from_slice::<Value>(&review(
        "apps",
        "v1",
        "Deployment",
        "UPDATE",
        deployment("v2"),
        Some(deployment("v1")),
    ))
    .unwrap();
    status["request"]["subResource"] = json!("status");
    let request = decode_admission(&serde_json::to_vec(&status).unwrap()).unwrap();
    assert_eq!(
        mutate(MutatingPath::Deployment, &request, &governed).1,
        Decision::Allowed
    );
}

#[test]
fn malformed_bodies_get_a_clear_refusal() {
    let wrong_version = serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}})).unwrap();
    let cases: [(&[u8], &str); 4] = [
        (b"not json", "not an AdmissionReview"),
        (b"{}", "unsupported AdmissionReview version"),
        (&wrong_version, "unsupported AdmissionReview version"),
        (
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#,
            "without a request",
        ),
    ];
    for (body, expected) in cases {
        let response = decode_admission(body).expect_err("refused");
        assert!(!response.allowed);
        assert!(
            response.message.contains(expected),
            "{:?}: {}",
            String::from_utf8_lossy(body),
            response.message
        );
    }
}

#[test]
fn invalid_rollout_is_refused_with_every_field_named() {
    let mut invalid = serde_json::to_value(rollout_demo()).unwrap();
    invalid["spec"]["strategy"]["canary"]["steps"] =
        json!([{"replicas": "150%"}, {"replicas": 5, "traffic": "0%"}]);
    let body = review(
        "rollouts.kruise.io",
        "v1beta1",
        "Rollout",
        "CREATE",
        invalid,
        None,
    );
    let (response, decision) = validate(&decode_admission(&body).unwrap(), &Cached::default(), 50);
    assert_eq!(decision, Decision::Denied);
    assert!(!response.allowed);
    assert_eq!(response.code, 422);
    let message = &response.message;
    assert!(
        message.contains("spec.strategy.canary.steps[0].replicas: "),
        "{message}"
    );
    assert!(
        message.contains("spec.strategy.canary.steps[1].traffic: "),
        "{message}"
    );
}

#[test]
fn second_rollout_for_the_same_workload_is_refused() {
    let cache = Cached {
        rollouts: vec![Arc::new(rollout_demo())],
        ..Default::default()
    };
    let mut second = serde_json::to_value(rollout_demo()).unwrap();
    second["metadata"]["name"] = json!("second");
    let body = review(
        "rollouts.kruise.io",
        "v1beta1",
        "Rollout",
        "CREATE",
        second,
        None,
    );
    let (response, decision) = validate(&decode_admission(&body).unwrap(), &cache, 50);
    assert_eq!(decision, Decision::Denied);
    assert!(
        response
            .message
            .contains("Rollout rollouts-demo already governs Deployment echoserver"),
        "{}",
        response.message
    );
}

#[test]
fn seed_v1alpha1_rollout_is_admitted() {
    let seed: Value = serde_json::from_value(json!({
        "apiVersion": "rollouts.kruise.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "rollouts-demo", "namespace": "default"},
        "spec": {"objectRef": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"}},
                 "strategy": {"canary": {"steps": [{"weight": 20, "replicas": 1, "pause": {}}, {"weight": 50, "replicas": "50%", "pause": {"duration": 60}}, {"weight": 100, "replicas": "100%", "pause": {"duration": 60}}],
                                         "trafficRoutings": [{"service": "echoserver", "ingress": {"name": "echoserver"}}]}}}
    })).unwrap();
    let body = review(
        "rollouts.kruise.io",
        "v1alpha1",
        "Rollout",
        "CREATE",
        seed,
        None,
    );
    let (response, decision) = validate(&decode_admission(&body).unwrap(), &Cached::default(), 50);
    assert_eq!(
        (decision, response.allowed),
        (Decision::Allowed, true),
        "{}",
        response.message
    );
}

fn conversion_review(desired: &str, objects: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {"uid": "conv-1", "desiredAPIVersion": desired, "objects": objects}
    }))
    .unwrap()
}

#[test]
fn conversion_review_converts_both_ways() {
    let beta = serde_json::to_value(rollout_demo()).unwrap();
    let review = convert(&conversion_review(
        "rollouts.kruise.io/v1alpha1",
        vec![beta.clone()],
    ));
    let response = review.response.expect("a response");
    assert_eq!(response.uid, "conv-1");
    assert_eq!(
        response.result.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let alpha = response.converted_objects[0].clone();
    assert_eq!(alpha["apiVersion"], "rollouts.kruise.io/v1alpha1");
    assert_eq!(
        alpha["spec"]["objectRef"]["workloadRef"]["name"],
        "echoserver"
    );
    let back = convert(&conversion_review(
        "rollouts.kruise.io/v1beta1",
        vec![alpha],
    ))
    .response
    .unwrap();
    assert_eq!(back.converted_objects[0], beta);
}

#[test]
fn malformed_conversion_reviews_fail_with_a_reason() {
    for body in [
        &b"nope"[..],
        br#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview"}"#,
    ] {
        let response = convert(body).response.expect("a response");
        assert_eq!(
            response.result.status,
            Some(kube::core::response::StatusSummary::Failure)
        );
        assert!(!response.result.message.is_empty());
    }
    let broken = json!({"apiVersion": "rollouts.kruise.io/v1alpha1", "kind": "Rollout", "metadata": {"name": "x"}, "spec": {"foo": 1}});
    let response = convert(&conversion_review(
        "rollouts.kruise.io/v1beta1",
        vec![broken],
    ))
    .response
    .unwrap();
    assert_eq!(
        response.result.status,
        Some(kube::core::response::StatusSummary::Failure)
    );
    assert!(
        response.result.message.contains("Rollout x"),
        "{}",
        response.result.message
    );
}

fn created_rollout(finalizers: Option<Value>) -> Vec<u8> {
    let mut rollout = serde_json::to_value(rollout_demo()).unwrap();
    if let Some(finalizers) = finalizers {
        rollout["metadata"]["finalizers"] = finalizers;
    }
    review(
        "rollouts.kruise.io",
        "v1beta1",
        "Rollout",
        "CREATE",
        rollout,
        None,
    )
}

#[test]
fn created_rollout_gets_our_finalizer_after_the_ones_it_has() {
    let cases = [
        (None, json!(["rollouts.kruise.io/rollout"])),
        (
            Some(json!(["example.com/keep"])),
            json!(["example.com/keep", "rollouts.kruise.io/rollout"]),
        ),
    ];
    for (finalizers, expected) in cases {
        let body = created_rollout(finalizers.clone());
        let request = decode_admission(&body).unwrap();
        let (response, decision) = add_finalizer(&request);
        assert_eq!(decision, Decision::Patched, "{finalizers:?}");
        let mut patched = request.object.clone().unwrap();
        let patch: json_patch::Patch = serde_json::from_value(decoded_patch(&response)).unwrap();
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(patched["metadata"]["finalizers"], expected);
        patched["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("finalizers");
        let mut original = request.object.clone().unwrap();
        original["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("finalizers");
        assert_eq!(patched, original, "nothing but the finalizers changes");
    }
}

#[test]
fn rollout_with_our_finalizer_updates_and_bad_finalizers_are_not_patched() {
    let has_ours = created_rollout(Some(json!(["rollouts.kruise.io/rollout"])));
    let (response, decision) = add_finalizer(&decode_admission(&has_ours).unwrap());
    assert_eq!((decision, response.patch), (Decision::Allowed, None));

    let rollout = serde_json::to_value(rollout_demo()).unwrap();
    let update = review(
        "rollouts.kruise.io",
        "v1beta1",
        "Rollout",
        "UPDATE",
        rollout.clone(),
        Some(rollout),
    );
    let (response, decision) = add_finalizer(&decode_admission(&update).unwrap());
    assert_eq!((decision, response.patch), (Decision::Allowed, None));

    let malformed = created_rollout(Some(json!("not-a-list")));
    let (response, decision) = add_finalizer(&decode_admission(&malformed).unwrap());
    assert_eq!(decision, Decision::Invalid);
    assert!(!response.allowed);
    assert!(
        response.message.contains("metadata.finalizers"),
        "{}",
        response.message
    );
}
