//! Every Rollout of the seed and of upstream's test data parses into our types without losing a
//! field, is accepted by our CRD schema, and converts v1alpha1 <-> v1beta1 and back unchanged.

mod support;

use rollouts_api::conversion::{to_v1alpha1, to_v1beta1};
use rollouts_api::{v1alpha1, v1beta1};
use serde_json::Value;
use support::{Doc, rollout_docs, schema_errors};

/// Upstream samples that upstream's own CRD rejects too, and why.
const KNOWN_INVALID: &[(&str, &str)] = &[(
    "config/samples/rollouts_v1alpha1_rollout.yaml",
    "kubebuilder scaffold with `spec: {foo: bar}`: no objectRef and no strategy",
)];

fn is_known_invalid(doc: &Doc) -> bool {
    KNOWN_INVALID
        .iter()
        .any(|(file, _)| doc.file.ends_with(file))
}

/// Parses, checks nothing was dropped, validates, and round-trips one Rollout document.
fn check_rollout(doc: &Doc) {
    let label = doc.label();
    let errors = schema_errors(&doc.value);
    assert!(
        errors.is_empty(),
        "{label}: rejected by our CRD schema: {errors:#?}"
    );
    match doc.value["apiVersion"].as_str().unwrap() {
        "rollouts.kruise.io/v1alpha1" => {
            let alpha: v1alpha1::Rollout = serde_json::from_value(doc.value.clone())
                .unwrap_or_else(|e| panic!("{label}: does not parse as v1alpha1: {e}"));
            assert_eq!(
                to_json(&alpha),
                doc.value,
                "{label}: parsing dropped or changed fields"
            );
            let beta = to_v1beta1(&alpha).unwrap();
            assert_valid(&to_json(&beta), &label, "after conversion to v1beta1");
            let back = to_v1alpha1(&beta).unwrap();
            assert_eq!(
                to_json(&back),
                doc.value,
                "{label}: v1alpha1 -> v1beta1 -> v1alpha1 changed it"
            );
        }
        "rollouts.kruise.io/v1beta1" => {
            let beta: v1beta1::Rollout = serde_json::from_value(doc.value.clone())
                .unwrap_or_else(|e| panic!("{label}: does not parse as v1beta1: {e}"));
            assert_eq!(
                to_json(&beta),
                doc.value,
                "{label}: parsing dropped or changed fields"
            );
            let alpha = to_v1alpha1(&beta).unwrap();
            assert_valid(&to_json(&alpha), &label, "after conversion to v1alpha1");
            let back = to_v1beta1(&alpha).unwrap();
            assert_eq!(
                to_json(&back),
                doc.value,
                "{label}: v1beta1 -> v1alpha1 -> v1beta1 changed it"
            );
        }
        other => panic!("{label}: unexpected apiVersion {other}"),
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

fn assert_valid(object: &Value, label: &str, when: &str) {
    let errors = schema_errors(object);
    assert!(
        errors.is_empty(),
        "{label}: {when}, rejected by our CRD schema: {errors:#?}"
    );
}

#[test]
fn seed_rollouts_parse_validate_and_round_trip() {
    let docs = rollout_docs("seed");
    let names: Vec<_> = docs
        .iter()
        .map(|d| d.file.file_name().unwrap().to_owned())
        .collect();
    for expected in [
        "rollout-canary.yaml",
        "rollout-ab.yaml",
        "rollout-partition.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "seed {expected} not found in {names:?}"
        );
    }
    docs.iter().for_each(check_rollout);
}

#[test]
fn upstream_rollouts_parse_validate_and_round_trip() {
    let docs = rollout_docs("upstream");
    assert!(
        docs.len() >= 15,
        "expected upstream's Rollout samples, found {}",
        docs.len()
    );
    for doc in docs.iter().filter(|d| !is_known_invalid(d)) {
        check_rollout(doc);
    }
}

#[test]
fn known_invalid_upstream_sample_is_rejected_naming_the_missing_field() {
    let docs = rollout_docs("upstream");
    let invalid: Vec<_> = docs.iter().filter(|d| is_known_invalid(d)).collect();
    assert_eq!(
        invalid.len(),
        KNOWN_INVALID.len(),
        "every known-invalid sample is still present"
    );
    for doc in invalid {
        let errors = schema_errors(&doc.value).join("\n");
        assert!(errors.contains("objectRef"), "{}: {errors}", doc.label());
        let parse = serde_json::from_value::<v1alpha1::Rollout>(doc.value.clone());
        assert!(parse.unwrap_err().to_string().contains("objectRef"));
    }
}

#[test]
fn upstream_v1alpha1_rollouts_also_round_trip_from_their_v1beta1_form() {
    for doc in rollout_docs("upstream")
        .iter()
        .chain(rollout_docs("seed").iter())
    {
        if is_known_invalid(doc) || doc.value["apiVersion"] != "rollouts.kruise.io/v1alpha1" {
            continue;
        }
        let alpha: v1alpha1::Rollout = serde_json::from_value(doc.value.clone()).unwrap();
        // What the API server stores (v1beta1) must itself survive a v1alpha1 read and write.
        let stored = to_v1beta1(&alpha).unwrap();
        let back = to_v1beta1(&to_v1alpha1(&stored).unwrap()).unwrap();
        assert_eq!(to_json(&back), to_json(&stored), "{}", doc.label());
    }
}
