//! Property tests over the admission and conversion decoders: any bytes, and any mangling of a
//! valid review (an update of every workload kind, a Rollout to validate, a ConversionReview of
//! a Rollout), give an answer (a review, never a panic). 256 cases each in `make test`;
//! `make chaos` runs them with many more (`PROPTEST_CASES`).

use proptest::prelude::*;
use rollouts_webhook::handlers::{
    Lookup, MutatingPath, convert, decode_admission, mutate, validate,
};
use serde_json::{Value, json};
use std::sync::Arc;

struct Empty;

impl Lookup for Empty {
    fn rollouts(&self, _: &str) -> Vec<Arc<rollouts_api::v1beta1::Rollout>> {
        Vec::new()
    }
    fn owned_replica_sets(&self, _: &str) -> Vec<Arc<k8s_openapi::api::apps::v1::ReplicaSet>> {
        Vec::new()
    }
}

/// An UPDATE review of a workload of `kind` (group, version, kind, plural).
fn workload_review((group, version, kind, plural): (&str, &str, &str, &str)) -> Value {
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let object = |replicas: i64, image: &str| {
        json!({"apiVersion": api_version, "kind": kind,
            "metadata": {"name": "d", "namespace": "default", "uid": "w-1",
                "labels": {"rollouts.kruise.io/workload-type": kind.to_lowercase()}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "a"}},
                "updateStrategy": {"rollingUpdate": {"partition": 0}},
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": image}]}}}})
    };
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u", "kind": {"group": group, "version": version, "kind": kind},
            "resource": {"group": group, "version": version, "resource": plural},
            "name": "d", "namespace": "default", "operation": "UPDATE", "userInfo": {},
            "object": object(1, "v2"), "oldObject": object(2, "v1")
        }
    })
}

const WORKLOADS: [(&str, &str, &str, &str); 6] = [
    ("apps", "v1", "Deployment", "deployments"),
    ("apps", "v1", "StatefulSet", "statefulsets"),
    ("apps", "v1", "DaemonSet", "daemonsets"),
    ("apps.kruise.io", "v1beta1", "StatefulSet", "statefulsets"),
    ("apps.kruise.io", "v1alpha1", "CloneSet", "clonesets"),
    ("apps.kruise.io", "v1alpha1", "DaemonSet", "daemonsets"),
];

fn rollout(api_version: &str) -> Value {
    json!({"apiVersion": api_version, "kind": "Rollout",
        "metadata": {"name": "r", "namespace": "default", "annotations": {"rollouts.kruise.io/rolling-style": "partition"}},
        "spec": {"objectRef": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}},
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
            "strategy": {"canary": {
                "steps": [{"weight": 20, "replicas": 1, "pause": {}}, {"replicas": "50%", "pause": {"duration": 60}}],
                "trafficRoutings": [{"service": "s", "ingress": {"name": "i"}}],
                "analysis": {"interval": "10s", "metrics": [{"name": "m", "query": "up", "max": 1}]}}}}})
}

/// A CREATE review of a Rollout (validation).
fn rollout_review() -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u", "kind": {"group": "rollouts.kruise.io", "version": "v1beta1", "kind": "Rollout"},
            "resource": {"group": "rollouts.kruise.io", "version": "v1beta1", "resource": "rollouts"},
            "name": "r", "namespace": "default", "operation": "CREATE", "userInfo": {},
            "object": rollout("rollouts.kruise.io/v1beta1")
        }
    })
}

fn conversion_review(from: &str, desired: &str) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "ConversionReview",
        "request": {"uid": "c", "desiredAPIVersion": desired, "objects": [rollout(from)]}})
}

/// Cases per property: 256, or `PROPTEST_CASES`.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256)
}

/// Replaces the value at a JSON path chosen by `pick` with `replacement`.
fn mangle(value: &mut Value, pick: &[usize], replacement: Value) {
    match (pick.split_first(), value) {
        (Some((index, rest)), Value::Object(map)) if !map.is_empty() => {
            let key = map.keys().nth(index % map.len()).cloned().unwrap();
            mangle(map.get_mut(&key).unwrap(), rest, replacement);
        }
        (Some((index, rest)), Value::Array(items)) if !items.is_empty() => {
            let len = items.len();
            mangle(&mut items[index % len], rest, replacement);
        }
        (_, value) => *value = replacement,
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        ".{0,12}".prop_map(Value::String),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn assert_answered(body: &[u8]) -> Result<(), TestCaseError> {
    match decode_admission(body) {
        Ok(request) => {
            for (path, _) in MutatingPath::ALL {
                let (response, _) = mutate(path, &request, &Empty);
                prop_assert_eq!(&response.uid, &request.uid);
            }
            let (response, _) = validate(&request, &Empty, 50);
            prop_assert_eq!(&response.uid, &request.uid);
        }
        Err(response) => prop_assert!(!response.allowed),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn any_bytes_get_an_answer(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(response) = decode_admission(&body) {
            prop_assert!(!response.allowed);
        }
        prop_assert!(convert(&body).response.is_some());
    }

    #[test]
    fn mangled_workload_reviews_get_an_answer(
        workload in 0..WORKLOADS.len(),
        pick in proptest::collection::vec(any::<usize>(), 1..8),
        replacement in any_json(),
    ) {
        let mut review = workload_review(WORKLOADS[workload]);
        mangle(&mut review, &pick, replacement);
        assert_answered(&serde_json::to_vec(&review).unwrap())?;
    }

    #[test]
    fn mangled_rollouts_get_a_verdict(pick in proptest::collection::vec(any::<usize>(), 1..10), replacement in any_json()) {
        let mut review = rollout_review();
        mangle(&mut review, &pick, replacement);
        assert_answered(&serde_json::to_vec(&review).unwrap())?;
    }

    #[test]
    fn mangled_conversion_reviews_get_an_answer(
        to_beta in any::<bool>(),
        pick in proptest::collection::vec(any::<usize>(), 1..10),
        replacement in any_json(),
    ) {
        let (from, desired) = if to_beta {
            ("rollouts.kruise.io/v1alpha1", "rollouts.kruise.io/v1beta1")
        } else {
            ("rollouts.kruise.io/v1beta1", "rollouts.kruise.io/v1alpha1")
        };
        let mut review = conversion_review(from, desired);
        mangle(&mut review, &pick, replacement);
        let answer = convert(&serde_json::to_vec(&review).unwrap());
        let response = answer.response.expect("a response");
        // Either every object converted to the desired version, or none and a failure status.
        if response.result.status == Some(kube::core::response::StatusSummary::Success) {
            let wanted = review.pointer("/request/desiredAPIVersion").and_then(Value::as_str).unwrap_or_default();
            for object in &response.converted_objects {
                prop_assert_eq!(object["apiVersion"].as_str(), Some(wanted));
            }
        } else {
            prop_assert!(response.converted_objects.is_empty());
        }
    }
}
