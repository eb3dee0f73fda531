//! `manifests/` installs the product with `kubectl apply -k`: every listed file exists and
//! parses, webhooks fail closed but only see labelled workloads, RBAC has no wildcards, and the
//! services run as non-root on a read-only root filesystem.

use serde_json::Value;
use std::path::{Path, PathBuf};

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
}

/// Every document of every file the kustomization lists.
fn installed_objects() -> Vec<(String, Value)> {
    let kustomization: Value = serde_yaml::from_str(
        &std::fs::read_to_string(manifests_dir().join("kustomization.yaml")).unwrap(),
    )
    .unwrap();
    let mut objects = Vec::new();
    for resource in kustomization["resources"].as_array().unwrap() {
        let file = resource.as_str().unwrap();
        let text = std::fs::read_to_string(manifests_dir().join(file))
            .unwrap_or_else(|e| panic!("kustomization lists {file}: {e}"));
        for de in serde_yaml::Deserializer::from_str(&text) {
            let value: Value =
                serde::Deserialize::deserialize(de).unwrap_or_else(|e| panic!("{file}: {e}"));
            if !value.is_null() {
                assert!(
                    value["apiVersion"].is_string() && value["kind"].is_string(),
                    "{file}: {value}"
                );
                objects.push((file.to_string(), value));
            }
        }
    }
    objects
}

fn of_kind<'a>(objects: &'a [(String, Value)], kind: &str) -> Vec<&'a Value> {
    objects
        .iter()
        .filter(|(_, o)| o["kind"] == kind)
        .map(|(_, o)| o)
        .collect()
}

#[test]
fn kustomization_installs_crd_services_and_webhook_configurations() {
    let objects = installed_objects();
    let kinds: Vec<_> = objects
        .iter()
        .map(|(_, o)| o["kind"].as_str().unwrap().to_string())
        .collect();
    for kind in [
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "Deployment",
        "Service",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }
    let crd = of_kind(&objects, "CustomResourceDefinition")[0];
    assert_eq!(
        crd,
        &serde_json::to_value(rollouts_api::crd::rollout_crd()).unwrap()
    );
}

/// The one webhook that only adds the Rollout finalizer on CREATE.
const ROLLOUT_FINALIZER_PATH: &str = "/mutate-rollouts-kruise-io-rollout";

#[test]
fn webhooks_fail_closed_with_timeouts_and_only_see_labelled_workloads() {
    let objects = installed_objects();
    let mutating = of_kind(&objects, "MutatingWebhookConfiguration")[0];
    let path = |w: &serde_json::Value| {
        w["clientConfig"]["service"]["path"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let paths: Vec<_> = mutating["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(path)
        .collect();
    assert_eq!(
        paths,
        [
            "/mutate-apps-kruise-io-v1alpha1-cloneset",
            "/mutate-apps-kruise-io-v1alpha1-daemonset",
            "/mutate-apps-v1-daemonset",
            "/mutate-apps-v1-deployment",
            "/mutate-unified-workload",
            ROLLOUT_FINALIZER_PATH,
        ]
    );
    let validating = of_kind(&objects, "ValidatingWebhookConfiguration")[0];
    let all = mutating["webhooks"]
        .as_array()
        .unwrap()
        .iter()
        .chain(validating["webhooks"].as_array().unwrap());
    for webhook in all {
        let name = &webhook["name"];
        // Only the finalizer may be skipped when the webhook is down: the controller adds it.
        let failure_policy = if path(webhook) == ROLLOUT_FINALIZER_PATH {
            "Ignore"
        } else {
            "Fail"
        };
        assert_eq!(webhook["failurePolicy"], failure_policy, "{name}");
        assert_eq!(webhook["sideEffects"], "None", "{name}");
        assert!(
            webhook["timeoutSeconds"]
                .as_i64()
                .is_some_and(|t| (1..=30).contains(&t)),
            "{name}"
        );
        assert_eq!(
            webhook["clientConfig"]["service"]["name"],
            rollouts_api::crd::WEBHOOK_SERVICE,
            "{name}"
        );
    }
    for webhook in mutating["webhooks"].as_array().unwrap() {
        let name = &webhook["name"];
        let rules = webhook["rules"].as_array().unwrap();
        if path(webhook) == ROLLOUT_FINALIZER_PATH {
            assert_eq!(
                rules,
                &[serde_json::json!({"apiGroups": ["rollouts.kruise.io"],
                    "apiVersions": ["v1alpha1", "v1beta1"], "resources": ["rollouts"],
                    "operations": ["CREATE"]})],
                "{name}"
            );
            continue;
        }
        let selector = &webhook["objectSelector"]["matchExpressions"][0];
        assert_eq!(selector["key"], rollouts_api::keys::WORKLOAD_TYPE, "{name}");
        let condition = webhook["matchConditions"][0]["expression"]
            .as_str()
            .unwrap_or_default();
        assert!(
            condition.contains(rollouts_api::keys::WORKLOAD_TYPE)
                && condition.contains("object.spec != oldObject.spec"),
            "{name}: the update that only adds the workload label must skip the webhook"
        );
        assert_eq!(selector["operator"], "Exists", "{name}");
        for rule in rules {
            assert_eq!(rule["operations"], serde_json::json!(["UPDATE"]), "{name}");
            assert!(!rule["resources"].to_string().contains('*'), "{name}");
        }
    }
}

#[test]
fn rbac_lists_exact_verbs_and_resources() {
    let objects = installed_objects();
    let roles = of_kind(&objects, "ClusterRole")
        .into_iter()
        .chain(of_kind(&objects, "Role"));
    for role in roles {
        for rule in role["rules"].as_array().unwrap() {
            let text = rule.to_string();
            assert!(
                !text.contains('*'),
                "{}: wildcard in {text}",
                role["metadata"]["name"]
            );
            let verbs = rule["verbs"].as_array().unwrap();
            assert!(
                !verbs
                    .iter()
                    .any(|v| v == "deletecollection" || v == "escalate" || v == "bind"),
                "{text}"
            );
        }
    }
}

#[test]
fn services_run_non_root_on_a_read_only_root_filesystem() {
    let objects = installed_objects();
    let deployments = of_kind(&objects, "Deployment");
    assert_eq!(deployments.len(), 2);
    for deployment in deployments {
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        for container in pod["containers"].as_array().unwrap() {
            let security = &container["securityContext"];
            assert_eq!(
                security["readOnlyRootFilesystem"], true,
                "{}",
                container["name"]
            );
            assert_eq!(
                security["allowPrivilegeEscalation"], false,
                "{}",
                container["name"]
            );
            assert!(
                container["resources"]["limits"]["memory"].is_string(),
                "{}",
                container["name"]
            );
        }
    }
}

#[test]
fn each_service_binds_its_ports_where_the_manifests_expose_and_probe_them() {
    let objects = installed_objects();
    for deployment in of_kind(&objects, "Deployment") {
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let name = container["name"].as_str().unwrap();
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let port_of = |port_name: &str| {
            container["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == port_name)
                .and_then(|p| p["containerPort"].as_i64())
                .unwrap_or_else(|| panic!("{name}: no containerPort named {port_name}"))
        };
        let admin = args
            .iter()
            .find_map(|a| a.strip_prefix("--admin-addr="))
            .unwrap_or_else(|| panic!("{name}: no --admin-addr"));
        assert_eq!(admin, format!("0.0.0.0:{}", port_of("admin")), "{name}");
        for probe in ["readinessProbe", "livenessProbe"] {
            assert_eq!(
                container[probe]["httpGet"]["port"], "admin",
                "{name} {probe}"
            );
        }
        if let Some(webhook) = args.iter().find_map(|a| a.strip_prefix("--webhook-port=")) {
            assert_eq!(webhook, port_of("webhook").to_string(), "{name}");
            let service = of_kind(&objects, "Service")[0];
            assert_eq!(service["spec"]["ports"][0]["targetPort"], "webhook");
        }
    }
}
