//! Property tests over the admission and conversion decoders: any bytes, and any mangling of a
//! valid review, give an answer (a review, never a panic). Kept small so `make test` stays fast.

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

fn valid_review() -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "u", "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "name": "d", "namespace": "default", "operation": "UPDATE", "userInfo": {},
            "object": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 1}},
            "oldObject": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}, "spec": {"replicas": 2}}
        }
    })
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_get_an_answer(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(response) = decode_admission(&body) {
            prop_assert!(!response.allowed);
        }
        prop_assert!(convert(&body).response.is_some());
    }

    #[test]
    fn mangled_reviews_get_an_answer(pick in proptest::collection::vec(any::<usize>(), 1..6), replacement in any_json()) {
        let mut review = valid_review();
        mangle(&mut review, &pick, replacement);
        let body = serde_json::to_vec(&review).unwrap();
        match decode_admission(&body) {
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
    }
}
