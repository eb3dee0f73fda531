//! Our generated CRD installs on a real API server, the repository's v1beta1 Rollouts (and, with
//! the team's conformance data, upstream's) are accepted, `kubectl get rollout` prints
//! upstream's columns, and invalid objects are refused with the field named.

use kube::Client;
use rollouts_e2e::{
    ROLLOUT_COLUMNS, TestNamespace, apply_json, cluster, conformance_dir, install_crds, repo_root,
    report_conformance, table_header,
};
use serde_json::{Value, json};
use std::path::Path;

async fn install_crd(client: &Client) {
    install_crds(client).await;
}

/// Every v1beta1 Rollout in the YAML files under `dir`, with its file (v1alpha1 ones need the
/// conversion webhook, which this CRD-only test does not run).
fn v1beta1_rollouts(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for de in serde_yaml::Deserializer::from_str(&text) {
                let value: Value = serde::Deserialize::deserialize(de).unwrap();
                if value["kind"] == "Rollout" && value["apiVersion"] == "rollouts.kruise.io/v1beta1"
                {
                    out.push((path.display().to_string(), value));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Applies each Rollout under its own name and workload in a fresh namespace, then checks
/// `kubectl get rollouts` lists them with upstream's columns.
async fn apply_and_list(prefix: &str, rollouts: Vec<(String, Value)>) {
    let client = cluster().client().await;
    install_crd(&client).await;
    let ns = TestNamespace::create(&client, prefix).await;
    for (i, (file, mut rollout)) in rollouts.into_iter().enumerate() {
        rollout["metadata"] = json!({"name": format!("rollout-{i}")});
        // One workload per Rollout, so a running webhook's one-Rollout-per-workload rule holds.
        rollout["spec"]["workloadRef"]["name"] = json!(format!("workload-{i}"));
        apply_json(&client, &ns.name, rollout)
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let table = cluster().kubectl(&["get", "rollouts", "-n", &ns.name]);
    assert_eq!(table_header(&table), ROLLOUT_COLUMNS, "{table}");
    assert!(table.contains("rollout-0"), "{table}");
}

#[tokio::test]
async fn fixture_v1beta1_rollouts_are_accepted_and_listed_with_upstreams_columns() {
    let rollouts = v1beta1_rollouts(&repo_root().join("tests/fixtures/rollouts"));
    assert!(
        rollouts.len() >= 4,
        "found {} v1beta1 fixtures",
        rollouts.len()
    );
    apply_and_list("crd", rollouts).await;
}

#[tokio::test]
async fn conformance_upstream_v1beta1_rollouts_are_accepted_and_listed_with_upstreams_columns() {
    let test =
        "conformance_upstream_v1beta1_rollouts_are_accepted_and_listed_with_upstreams_columns";
    let Some(dir) = conformance_dir() else {
        return report_conformance(test, None);
    };
    let rollouts = v1beta1_rollouts(&dir.join("upstream"));
    assert!(
        rollouts.len() >= 5,
        "found {} v1beta1 Rollouts",
        rollouts.len()
    );
    let files = rollouts
        .iter()
        .map(|(f, _)| f.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    apply_and_list("crd-upstream", rollouts).await;
    report_conformance(test, Some((&dir, files)));
}

fn v1beta1_rollout(step: Value, workload_ref: Option<Value>) -> Value {
    let mut spec = json!({"strategy": {"canary": {"steps": [step]}}});
    if let Some(reference) = workload_ref {
        spec["workloadRef"] = reference;
    }
    json!({"apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout", "metadata": {"name": "invalid"}, "spec": spec})
}

#[tokio::test]
async fn api_server_refuses_invalid_rollouts_naming_the_field() {
    let client = cluster().client().await;
    install_crd(&client).await;
    let ns = TestNamespace::create(&client, "invalid").await;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"});
    let cases = [
        (
            v1beta1_rollout(json!({"replicas": "150%"}), Some(deployment.clone())),
            "spec.strategy.canary.steps[0].replicas",
        ),
        (
            v1beta1_rollout(
                json!({"replicas": 1, "traffic": "120%"}),
                Some(deployment.clone()),
            ),
            "spec.strategy.canary.steps[0].traffic",
        ),
        (
            v1beta1_rollout(json!({"replicas": 1}), None),
            "spec.workloadRef: Required value",
        ),
    ];
    for (object, field) in cases {
        let error = apply_json(&client, &ns.name, object.clone())
            .await
            .expect_err("refused");
        assert!(
            error.contains(field),
            "{object}: expected {field:?} in {error}"
        );
    }
}
