//! The Helm chart (charts/rollouts-rs) with the cluster's real Helm: it lints, renders with its
//! defaults exactly the objects of manifests/ (so the two installs never drift), its values
//! change what they say, and what it renders is accepted by the local API server.

use rollouts_e2e::*;
use serde_json::Value;
use std::collections::BTreeMap;

const CHART: &str = "charts/rollouts-rs";
const NAMESPACE: &str = "kruise-rollout";

fn chart() -> String {
    repo_root().join(CHART).display().to_string()
}

/// `helm template` of the chart with `sets` (`key=value`), CRDs included.
fn render(sets: &[&str]) -> Result<String, String> {
    let chart = chart();
    let mut args = vec![
        "template",
        "rollouts-rs",
        chart.as_str(),
        "--namespace",
        NAMESPACE,
        "--include-crds",
    ];
    for set in sets {
        args.extend(["--set", set]);
    }
    cluster().helm(&args)
}

/// The objects of a multi-document YAML stream, keyed `Kind namespace/name`.
fn objects(yaml: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for document in serde_yaml::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(document).expect("a YAML document");
        if value.is_null() {
            continue;
        }
        let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).unwrap_or("");
        let key = format!(
            "{} {}/{}",
            text("/kind"),
            text("/metadata/namespace"),
            text("/metadata/name")
        );
        out.insert(key, value);
    }
    out
}

#[test]
fn the_chart_lints_and_renders_exactly_the_objects_of_the_manifests() {
    let lint = cluster().helm(&["lint", &chart()]);
    assert!(lint.is_ok(), "helm lint: {lint:?}");
    let rendered = objects(&render(&[]).expect("helm template"));
    let manifests = repo_root().join("manifests").display().to_string();
    let mut kustomized = objects(&cluster().kubectl(&["kustomize", &manifests]));
    // Helm creates the release's namespace (--create-namespace); the kustomization declares it.
    let namespace = kustomized.remove(&format!("Namespace /{NAMESPACE}"));
    assert!(namespace.is_some(), "{:?}", kustomized.keys());
    assert_eq!(
        rendered.keys().collect::<Vec<_>>(),
        kustomized.keys().collect::<Vec<_>>()
    );
    for (key, object) in &kustomized {
        let difference = first_difference(&rendered[key], object, "");
        assert!(
            difference.is_none(),
            "{key} differs between the chart and manifests/ at {difference:?}"
        );
    }
}

/// The first JSON pointer where `a` and `b` differ, with both values there (cut short).
fn first_difference(a: &Value, b: &Value, at: &str) -> Option<String> {
    let short = |v: &Value| v.to_string().chars().take(200).collect::<String>();
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<_> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (va, vb) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(va, vb, &format!("{at}/{k}"))
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (va, vb))| first_difference(va, vb, &format!("{at}/{i}"))),
        // kustomize writes `0.0` as `0`: numbers are compared by value.
        (Value::Number(x), Value::Number(y)) if x.as_f64() == y.as_f64() => None,
        _ if a == b => None,
        _ => Some(format!(
            "{at}: chart {} vs manifests {}",
            short(a),
            short(b)
        )),
    }
}

#[test]
fn values_change_what_they_say() {
    let rendered = objects(
        &render(&[
            "webhook.failurePolicy=Ignore",
            "webhook.namespaceSelector.matchLabels.team=web",
            "controller.prometheusAddress=http://prometheus.monitoring:9090",
            "controller.logLevel=debug",
            "controller.image.tag=v9",
            "controller.replicas=3",
            "serviceMonitor.enabled=true",
            "dashboard.enabled=true",
        ])
        .expect("helm template"),
    );
    let mutating =
        &rendered["MutatingWebhookConfiguration /kruise-rollout-mutating-webhook-configuration"];
    for webhook in mutating["webhooks"].as_array().unwrap() {
        let name = webhook["name"].as_str().unwrap();
        if name == "mrollout.kb.io" {
            assert_eq!(webhook["failurePolicy"], "Ignore", "always Ignore");
            continue;
        }
        assert_eq!(webhook["failurePolicy"], "Ignore", "{name}");
        assert_eq!(
            webhook["namespaceSelector"]["matchLabels"]["team"], "web",
            "{name}"
        );
    }
    let controller = &rendered[&format!("Deployment {NAMESPACE}/rollouts-controller")];
    assert_eq!(controller["spec"]["replicas"], 3);
    let container = &controller["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "rollouts-controller:v9");
    assert!(container["args"].as_array().unwrap().contains(&Value::from(
        "--prometheus-address=http://prometheus.monitoring:9090"
    )));
    assert!(
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "RUST_LOG" && e["value"] == "debug")
    );
    assert!(rendered.contains_key(&format!("ServiceMonitor {NAMESPACE}/rollouts-rs")));
    assert!(rendered.contains_key(&format!("Service {NAMESPACE}/rollouts-controller-metrics")));
    let dashboard = &rendered[&format!("ConfigMap {NAMESPACE}/rollouts-rs-dashboard")];
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");
    let json = dashboard["data"]["rollouts-rs.json"].as_str().unwrap();
    let parsed: Value = serde_json::from_str(json).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| !p.is_empty()));

    let refused = render(&["controller.leaderElection=false"]).unwrap_err();
    assert!(
        refused.contains("controller.leaderElection=false runs one replica"),
        "{refused}"
    );
    let single =
        objects(&render(&["controller.leaderElection=false", "controller.replicas=1"]).unwrap());
    let args = &single[&format!("Deployment {NAMESPACE}/rollouts-controller")]["spec"]["template"]
        ["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&Value::from("--no-leader-election"))
    );
}

#[test]
fn the_api_server_accepts_what_the_chart_renders() {
    // The CRD is left out: the running cluster's copy carries the local webhook's URL, which a
    // client-side dry run would merge with the chart's Service reference.
    let chart = chart();
    let rendered = cluster()
        .helm(&[
            "template",
            "rollouts-rs",
            chart.as_str(),
            "--namespace",
            NAMESPACE,
            "--set",
            "dashboard.enabled=true",
        ])
        .expect("helm template");
    // A server-side dry run needs the namespace (Helm's --create-namespace makes it).
    cluster().apply_repo_file("manifests/namespace.yaml");
    let checked = cluster().kubectl_with_input(
        &["apply", "--dry-run=server", "-n", NAMESPACE, "-f", "-"],
        &rendered,
    );
    let out = checked.unwrap_or_else(|e| panic!("the API server refused the chart: {e}"));
    assert!(out.contains("deployment.apps/rollouts-controller"), "{out}");
    assert!(
        out.contains("mutatingwebhookconfiguration.admissionregistration.k8s.io/kruise-rollout-mutating-webhook-configuration"),
        "{out}"
    );
}
