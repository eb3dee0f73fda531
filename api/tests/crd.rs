//! The generated CRD: committed file up to date, versions and printer columns as upstream's,
//! invalid objects rejected with the field named, and (with the team's conformance data) every
//! field path of upstream's generated CRD present.

mod support;

use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::{
    conformance_dir, our_crd, report_ran, report_skipped, schema_errors, version_schema,
};

#[test]
fn committed_crds_match_the_types() {
    for (file, wanted) in rollouts_api::crd::crd_files() {
        for dir in ["manifests/crds", "charts/rollouts-rs/crds"] {
            let path = format!("{}/../{dir}/{file}", env!("CARGO_MANIFEST_DIR"));
            let committed = std::fs::read_to_string(&path).expect("the CRDs are committed");
            assert!(
                committed == wanted,
                "{dir}/{file} is out of date: run `make manifests`"
            );
        }
    }
}

#[test]
fn trafficrouting_is_served_as_upstream_v1alpha1_only_with_status_and_columns() {
    let crd = serde_json::to_value(rollouts_api::crd::traffic_routing_crd()).unwrap();
    assert_eq!(
        crd["metadata"]["name"],
        "trafficroutings.rollouts.kruise.io"
    );
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let versions = crd["spec"]["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 1);
    let version = &versions[0];
    assert_eq!(
        (&version["name"], &version["served"], &version["storage"]),
        (&json!("v1alpha1"), &json!(true), &json!(true))
    );
    assert_eq!(version["subresources"], json!({"status": {}}));
    let columns: Vec<_> = version["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["jsonPath"].as_str().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [
            ("STATUS", ".status.phase"),
            ("MESSAGE", ".status.message"),
            ("AGE", ".metadata.creationTimestamp")
        ]
    );
    assert!(crd["spec"].get("conversion").is_none());
}

#[test]
fn the_stored_api_version_constant_is_the_stored_types_one() {
    use kube::Resource;
    let stored = rollouts_api::v1beta1::Rollout::api_version(&()).to_string();
    assert_eq!(rollouts_api::keys::ROLLOUT_API_VERSION, stored);
    assert!(stored.starts_with(rollouts_api::keys::GROUP));
    let routing = rollouts_api::v1alpha1::TrafficRouting::api_version(&()).to_string();
    assert_eq!(rollouts_api::keys::TRAFFIC_ROUTING_API_VERSION, routing);
}

#[test]
fn both_versions_served_v1beta1_stored_with_status_and_webhook_conversion() {
    let crd = our_crd();
    let spec = &crd["spec"];
    assert_eq!(crd["metadata"]["name"], "rollouts.rollouts.kruise.io");
    assert_eq!(spec["scope"], "Namespaced");
    let versions: Vec<_> = spec["versions"].as_array().unwrap().iter().collect();
    let summary: Vec<_> = versions
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap(),
                v["served"].as_bool().unwrap(),
                v["storage"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("v1alpha1", true, false), ("v1beta1", true, true)]
    );
    for v in &versions {
        assert_eq!(v["subresources"], json!({"status": {}}), "{}", v["name"]);
    }
    assert_eq!(spec["conversion"]["strategy"], "Webhook");
    assert_eq!(
        spec["conversion"]["webhook"]["clientConfig"]["service"]["path"],
        "/convert"
    );
}

#[test]
fn printer_columns_are_upstreams_for_both_versions() {
    let crd = our_crd();
    for (version, step_path, state_path) in [
        (
            "v1alpha1",
            ".status.canaryStatus.currentStepIndex",
            ".status.canaryStatus.currentStepState",
        ),
        (
            "v1beta1",
            ".status.currentStepIndex",
            ".status.currentStepState",
        ),
    ] {
        let v = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == version)
            .unwrap();
        let columns: Vec<(String, String, String)> = v["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().into(),
                    c["type"].as_str().unwrap().into(),
                    c["jsonPath"].as_str().unwrap().into(),
                )
            })
            .collect();
        let expected = [
            ("STATUS", "string", ".status.phase"),
            ("CANARY_STEP", "integer", step_path),
            ("CANARY_STATE", "string", state_path),
            ("MESSAGE", "string", ".status.message"),
            ("AGE", "date", ".metadata.creationTimestamp"),
        ]
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()));
        assert_eq!(columns, expected, "{version}");
    }
}

/// Every property path of a schema, `spec.strategy.canary.steps[].replicas` style.
fn field_paths(schema: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            let path = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}.{name}")
            };
            out.insert(path.clone());
            field_paths(child, &path, out);
        }
    }
    if let Some(items) = schema.get("items") {
        field_paths(items, &format!("{prefix}[]"), out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        field_paths(values, &format!("{prefix}{{}}"), out);
    }
}

/// Fields we have and upstream's CRD does not, each with everything under it: only metric
/// analysis, this project's extension (docs/api.md).
const INTENTIONAL_ADDITIONS: &[(&str, &str)] = &[
    ("v1beta1", "spec.strategy.canary.analysis"),
    ("v1beta1", "spec.strategy.canary.steps[].analysis"),
    ("v1beta1", "spec.strategy.blueGreen.analysis"),
    ("v1beta1", "spec.strategy.blueGreen.steps[].analysis"),
    ("v1beta1", "status.canaryStatus.analysis"),
    ("v1beta1", "status.blueGreenStatus.analysis"),
];

#[test]
fn conformance_schema_has_every_upstream_field_path_and_only_listed_additions() {
    let test = "conformance_schema_has_every_upstream_field_path_and_only_listed_additions";
    let Some(dir) = conformance_dir() else {
        return report_skipped(test);
    };
    let file = dir.join("upstream-crds/rollouts.kruise.io_rollouts.yaml");
    let upstream_text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let upstream: Value = serde_yaml::from_str(&upstream_text).unwrap();
    let ours = our_crd();
    for version in ["v1alpha1", "v1beta1"] {
        let mut theirs = BTreeSet::new();
        let mut mine = BTreeSet::new();
        field_paths(&version_schema(&upstream, version), "", &mut theirs);
        field_paths(&version_schema(&ours, version), "", &mut mine);
        let missing: Vec<_> = theirs.difference(&mine).collect();
        assert!(
            missing.is_empty(),
            "{version}: upstream fields we lack: {missing:#?}"
        );
        let added: BTreeSet<_> = mine.difference(&theirs).cloned().collect();
        let allowed: BTreeSet<_> = INTENTIONAL_ADDITIONS
            .iter()
            .filter(|(v, _)| *v == version)
            .map(|(_, p)| p.to_string())
            .collect();
        let unlisted: Vec<_> = added
            .iter()
            .filter(|path| {
                !allowed
                    .iter()
                    .any(|root| *path == root || path.starts_with(&format!("{root}.")))
            })
            .collect();
        assert!(
            unlisted.is_empty(),
            "{version}: fields upstream does not have: {unlisted:#?}"
        );
        let stale: Vec<_> = allowed.difference(&added).collect();
        assert!(
            stale.is_empty(),
            "{version}: listed but not added: {stale:?}"
        );
        assert!(
            theirs.len() > 60,
            "{version}: upstream schema walk found only {} paths",
            theirs.len()
        );
    }
    report_ran(test, &dir, 1);
}

#[test]
fn conformance_trafficrouting_schema_has_exactly_upstreams_field_paths() {
    let test = "conformance_trafficrouting_schema_has_exactly_upstreams_field_paths";
    let Some(dir) = conformance_dir() else {
        return report_skipped(test);
    };
    let file = dir.join("upstream-crds/rollouts.kruise.io_trafficroutings.yaml");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let upstream: Value = serde_yaml::from_str(&text).unwrap();
    let ours = serde_json::to_value(rollouts_api::crd::traffic_routing_crd()).unwrap();
    let (mut theirs, mut mine) = (BTreeSet::new(), BTreeSet::new());
    field_paths(&version_schema(&upstream, "v1alpha1"), "", &mut theirs);
    field_paths(&version_schema(&ours, "v1alpha1"), "", &mut mine);
    let missing: Vec<_> = theirs.difference(&mine).collect();
    let added: Vec<_> = mine.difference(&theirs).collect();
    assert!(
        missing.is_empty() && added.is_empty(),
        "upstream fields we lack: {missing:#?}; fields upstream does not have: {added:#?}"
    );
    assert!(theirs.len() > 20, "only {} paths", theirs.len());
    report_ran(test, &dir, 1);
}

fn example_canary_with(step: Value) -> Value {
    json!({
        "apiVersion": "rollouts.kruise.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "rollouts-demo"},
        "spec": {
            "objectRef": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"}},
            "strategy": {"canary": {"steps": [step], "trafficRoutings": [{"service": "echoserver", "ingress": {"name": "echoserver"}}]}}
        }
    })
}

#[test]
fn weight_above_100_is_rejected_naming_the_field() {
    let errors = schema_errors(&example_canary_with(
        json!({"weight": 120, "replicas": 1, "pause": {}}),
    ));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("spec.strategy.canary.steps[0].weight: 120"),
        "{errors:?}"
    );
    assert!(errors[0].contains("maximum of 100"), "{errors:?}");
}

#[test]
fn replicas_above_100_percent_is_rejected_naming_the_field() {
    let mut object = example_canary_with(json!({"replicas": "150%"}));
    object["apiVersion"] = json!("rollouts.kruise.io/v1beta1");
    let spec = object["spec"].as_object_mut().unwrap();
    let reference = spec.remove("objectRef").unwrap()["workloadRef"].clone();
    spec.insert("workloadRef".into(), reference);
    let errors = schema_errors(&object);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("spec.strategy.canary.steps[0].replicas: \"150%\""),
        "{errors:?}"
    );
    let zero = schema_errors(&example_canary_with(json!({"replicas": 0})));
    assert!(
        zero.len() == 1 && zero[0].starts_with("spec.strategy.canary.steps[0].replicas: 0"),
        "{zero:?}"
    );
    assert!(schema_errors(&example_canary_with(json!({"replicas": "100%"}))).is_empty());
    assert!(schema_errors(&example_canary_with(json!({"replicas": 5}))).is_empty());
}

#[test]
fn missing_workload_ref_is_rejected_naming_the_field() {
    let object = json!({
        "apiVersion": "rollouts.kruise.io/v1beta1",
        "kind": "Rollout",
        "metadata": {"name": "rollouts-demo"},
        "spec": {"strategy": {"canary": {"steps": [{"replicas": 1}]}}}
    });
    let errors = schema_errors(&object);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("spec: \"workloadRef\" is a required property"),
        "{errors:?}"
    );
}

#[test]
fn header_match_and_path_constraints_are_upstreams() {
    let mut object = example_canary_with(
        json!({"replicas": 1, "matches": [{"headers": [{"name": "bad header", "value": "x"}]}]}),
    );
    let errors = schema_errors(&object);
    assert!(
        errors.len() == 1
            && errors[0].starts_with("spec.strategy.canary.steps[0].matches[0].headers[0].name"),
        "{errors:?}"
    );
    object["spec"]["strategy"]["canary"]["steps"][0]["matches"][0]["headers"][0]["name"] =
        json!("User-Agent");
    assert!(schema_errors(&object).is_empty());
}
