//! Every Rollout of the repository (examples and fixtures) and, when the team's conformance data
//! is available, of the seed and of upstream's test data parses into our types without losing a
//! field, is accepted by our CRD schema, and converts v1alpha1 <-> v1beta1 and back unchanged.

mod support;

use rollouts_api::conversion::{to_v1alpha1, to_v1beta1};
use rollouts_api::{v1alpha1, v1beta1};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use support::{
    Doc, conformance_dir, own_rollout_docs, report_ran, report_skipped, rollout_docs_in,
    schema_errors,
};

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

/// The Rollouts of the conformance data in `dir`: the seed's, then upstream's.
fn conformance_docs(dir: &Path) -> (Vec<Doc>, Vec<Doc>) {
    let seed = rollout_docs_in(&dir.join("seed"));
    let upstream = rollout_docs_in(&dir.join("upstream"));
    let names: Vec<_> = seed
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
    assert!(
        upstream.len() >= 15,
        "expected upstream's Rollout samples, found {}",
        upstream.len()
    );
    (seed, upstream)
}

fn file_count<'a>(docs: impl IntoIterator<Item = &'a Doc>) -> usize {
    docs.into_iter()
        .map(|d| &d.file)
        .collect::<BTreeSet<_>>()
        .len()
}

/// Reads v1alpha1 `doc` as stored (v1beta1) and checks that a v1alpha1 read and write of the
/// stored form gives the stored form back.
fn check_stored_form_round_trips(doc: &Doc) {
    let alpha: v1alpha1::Rollout = serde_json::from_value(doc.value.clone()).unwrap();
    let stored = to_v1beta1(&alpha).unwrap();
    let back = to_v1beta1(&to_v1alpha1(&stored).unwrap()).unwrap();
    assert_eq!(to_json(&back), to_json(&stored), "{}", doc.label());
}

#[test]
fn example_and_fixture_rollouts_parse_validate_and_round_trip() {
    let docs = own_rollout_docs();
    let names: Vec<_> = docs
        .iter()
        .map(|d| d.file.file_name().unwrap().to_owned())
        .collect();
    for expected in [
        "rollout-canary.yaml",
        "rollout-ab.yaml",
        "rollout-partition.yaml",
        "v1beta1-canary-nginx.yaml",
        "v1beta1-bluegreen.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not found in {names:?}"
        );
    }
    for version in ["rollouts.kruise.io/v1alpha1", "rollouts.kruise.io/v1beta1"] {
        assert!(
            docs.iter()
                .filter(|d| d.value["apiVersion"] == version)
                .count()
                >= 3,
            "fewer than 3 {version} Rollouts among {names:?}"
        );
    }
    docs.iter().for_each(check_rollout);
}

#[test]
fn own_v1alpha1_rollouts_also_round_trip_from_their_v1beta1_form() {
    for doc in own_rollout_docs()
        .iter()
        .filter(|d| d.value["apiVersion"] == "rollouts.kruise.io/v1alpha1")
    {
        check_stored_form_round_trips(doc);
    }
}

#[test]
fn conformance_seed_and_upstream_rollouts_parse_validate_and_round_trip() {
    let test = "conformance_seed_and_upstream_rollouts_parse_validate_and_round_trip";
    let Some(dir) = conformance_dir() else {
        return report_skipped(test);
    };
    let (seed, upstream) = conformance_docs(&dir);
    seed.iter().for_each(check_rollout);
    for doc in upstream.iter().filter(|d| !is_known_invalid(d)) {
        check_rollout(doc);
    }
    report_ran(test, &dir, file_count(seed.iter().chain(&upstream)));
}

#[test]
fn conformance_known_invalid_upstream_sample_is_rejected_naming_the_missing_field() {
    let test = "conformance_known_invalid_upstream_sample_is_rejected_naming_the_missing_field";
    let Some(dir) = conformance_dir() else {
        return report_skipped(test);
    };
    let (_, upstream) = conformance_docs(&dir);
    let invalid: Vec<_> = upstream.iter().filter(|d| is_known_invalid(d)).collect();
    assert_eq!(
        invalid.len(),
        KNOWN_INVALID.len(),
        "every known-invalid sample is still present"
    );
    for doc in &invalid {
        let errors = schema_errors(&doc.value).join("\n");
        assert!(errors.contains("objectRef"), "{}: {errors}", doc.label());
        let parse = serde_json::from_value::<v1alpha1::Rollout>(doc.value.clone());
        assert!(parse.unwrap_err().to_string().contains("objectRef"));
    }
    report_ran(test, &dir, file_count(invalid.iter().copied()));
}

#[test]
fn conformance_v1alpha1_rollouts_also_round_trip_from_their_v1beta1_form() {
    let test = "conformance_v1alpha1_rollouts_also_round_trip_from_their_v1beta1_form";
    let Some(dir) = conformance_dir() else {
        return report_skipped(test);
    };
    let (seed, upstream) = conformance_docs(&dir);
    let alpha: Vec<_> = upstream
        .iter()
        .chain(&seed)
        .filter(|d| !is_known_invalid(d) && d.value["apiVersion"] == "rollouts.kruise.io/v1alpha1")
        .collect();
    alpha
        .iter()
        .for_each(|doc| check_stored_form_round_trips(doc));
    report_ran(test, &dir, file_count(alpha.iter().copied()));
}
