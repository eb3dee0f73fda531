//! rollouts-webhook on the real control plane, through real `kubectl apply`: a governed
//! Deployment is frozen, an ungoverned one rolls, a StatefulSet gets its partition, an invalid
//! Rollout is refused naming the field, both API versions are served (conversion), and the
//! serving certificate is renewed without a restart.
//!
//! The `rollouts.kruise.io/workload-type` label is set by the tests here: adding it is the
//! controller's job, which does not exist yet.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::ListParams;
use rollouts_e2e::release::example;
use rollouts_e2e::*;
use serde_json::json;
use std::time::Duration;

async fn webhook_namespace(prefix: &str) -> (kube::Client, TestNamespace) {
    let hook = webhook();
    let client = cluster().client().await;
    let ns =
        TestNamespace::create_labelled(&client, prefix, json!({NAMESPACE_LABEL: hook.selector}))
            .await;
    (client, ns)
}

fn apply(ns: &str, yaml: &str) -> Result<String, String> {
    cluster().kubectl_with_input(&["apply", "-n", ns, "-f", "-"], yaml)
}

async fn wait_deployment_settled(deployments: &Api<Deployment>, name: &str) -> Deployment {
    wait_for(
        &format!("Deployment {name} observed by its controller"),
        DEFAULT_DEADLINE,
        || async {
            let d = deployments.get(name).await.map_err(|e| e.to_string())?;
            let status = d.status.clone().unwrap_or_default();
            match status.observed_generation == d.metadata.generation {
                true => Ok(d),
                false => Err(format!(
                    "generation {:?}, observed {:?}",
                    d.metadata.generation, status.observed_generation
                )),
            }
        },
    )
    .await
}

#[tokio::test]
async fn governed_deployment_image_update_is_frozen_and_creates_no_pods() {
    let (client, ns) = webhook_namespace("frozen").await;
    apply(&ns.name, &example("echoserver.yaml")).unwrap();
    apply(&ns.name, &example("rollout-partition.yaml"))
        .expect("the example v1alpha1 Rollout is admitted");
    wait_webhook_sees(&ns.name, &example("rollout-partition.yaml")).await;
    cluster().kubectl(&[
        "label",
        "-n",
        &ns.name,
        "deployment/echoserver",
        "rollouts.kruise.io/workload-type=deployment",
    ]);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    wait_for("5 available echoserver pods", DEFAULT_DEADLINE, || async {
        let d = deployments
            .get("echoserver")
            .await
            .map_err(|e| e.to_string())?;
        let available = d.status.and_then(|s| s.available_replicas);
        if available == Some(5) {
            Ok(())
        } else {
            Err(format!("available {available:?}"))
        }
    })
    .await;

    apply(&ns.name, &example("echoserver-v2.yaml")).unwrap();
    let d = wait_deployment_settled(&deployments, "echoserver").await;
    assert_eq!(d.spec.paused, Some(true));
    let annotations = d.metadata.annotations.clone().unwrap_or_default();
    assert_eq!(
        annotations
            .get("rollouts.kruise.io/in-progressing")
            .map(String::as_str),
        Some(r#"{"rolloutName":"rollouts-demo"}"#)
    );
    let labels = d.metadata.labels.clone().unwrap_or_default();
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), &ns.name);
    let rs_list = replica_sets
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(
        rs_list.len(),
        1,
        "a paused Deployment creates no ReplicaSet for the new template"
    );
    let stable_hash = rs_list[0]
        .metadata
        .labels
        .as_ref()
        .unwrap()
        .get("pod-template-hash")
        .cloned();
    assert_eq!(
        labels.get("rollouts.kruise.io/stable-revision").cloned(),
        stable_hash
    );
    let image = d.spec.template.spec.unwrap().containers[0].image.clone();
    assert!(
        image.unwrap().ends_with("demo:1.10.3"),
        "the new template is stored, just not rolled"
    );
}

#[tokio::test]
async fn ungoverned_deployment_rolls_normally() {
    let (client, ns) = webhook_namespace("ungoverned").await;
    apply(&ns.name, &example("echoserver.yaml")).unwrap();
    cluster().kubectl(&[
        "label",
        "-n",
        &ns.name,
        "deployment/echoserver",
        "rollouts.kruise.io/workload-type=deployment",
    ]);
    let v2 = example("echoserver.yaml").replace("demo:1.10.2", "demo:1.10.3");
    apply(&ns.name, &v2).unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    wait_for(
        "the new template fully rolled out",
        DEFAULT_DEADLINE,
        || async {
            let d = deployments
                .get("echoserver")
                .await
                .map_err(|e| e.to_string())?;
            let status = d.status.clone().unwrap_or_default();
            let done = status.observed_generation == d.metadata.generation
                && status.updated_replicas == Some(5)
                && status.available_replicas == Some(5);
            if done {
                Ok(())
            } else {
                Err(format!("{status:?}"))
            }
        },
    )
    .await;
    let d = deployments.get("echoserver").await.unwrap();
    assert_ne!(d.spec.paused, Some(true));
    let annotations = d.metadata.annotations.unwrap_or_default();
    assert!(!annotations.contains_key("rollouts.kruise.io/in-progressing"));
}

const STATEFULSET: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: sts-demo
  labels: {rollouts.kruise.io/workload-type: statefulset}
spec:
  serviceName: sts-demo
  replicas: 3
  selector: {matchLabels: {app: sts-demo}}
  template:
    metadata: {labels: {app: sts-demo}}
    spec:
      containers: [{name: main, image: "busybox:1.33"}]
---
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: sts-rollout
spec:
  workloadRef: {apiVersion: apps/v1, kind: StatefulSet, name: sts-demo}
  strategy:
    canary:
      steps: [{replicas: 1}, {replicas: "100%"}]
"#;

#[tokio::test]
async fn statefulset_image_update_gets_partition_32767() {
    let (client, ns) = webhook_namespace("sts").await;
    apply(&ns.name, STATEFULSET).unwrap();
    wait_webhook_sees(&ns.name, STATEFULSET).await;
    apply(
        &ns.name,
        &STATEFULSET.replace("busybox:1.33", "busybox:1.34"),
    )
    .unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client, &ns.name);
    let sts = sets.get("sts-demo").await.unwrap();
    let strategy = sts.spec.update_strategy.unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
    assert_eq!(strategy.rolling_update.unwrap().partition, Some(32767));
    assert!(
        sts.metadata
            .annotations
            .unwrap_or_default()
            .contains_key("rollouts.kruise.io/in-progressing")
    );
}

#[tokio::test]
async fn invalid_rollout_is_refused_by_kubectl_apply_naming_the_field() {
    let (_client, ns) = webhook_namespace("invalid").await;
    // Steps that shrink pass the schema; only the webhook knows they are wrong.
    let invalid = example("rollout-canary.yaml").replace("replicas: 100%", "replicas: 40%");
    let error = apply(&ns.name, &invalid).expect_err("refused");
    assert!(
        error.contains("admission webhook \"vrollout.kb.io\" denied the request"),
        "{error}"
    );
    assert!(
        error.contains("spec.strategy.canary.steps[2].replicas: must be >= step 1's replicas"),
        "{error}"
    );
}

#[tokio::test]
async fn both_api_versions_are_served_through_conversion() {
    let (_client, ns) = webhook_namespace("versions").await;
    apply(&ns.name, &example("echoserver.yaml")).unwrap();
    apply(&ns.name, &example("rollout-ab.yaml")).unwrap();
    for version in ["v1alpha1", "v1beta1"] {
        let table = cluster().kubectl(&[
            "get",
            &format!("rollouts.{version}.rollouts.kruise.io"),
            "-n",
            &ns.name,
        ]);
        assert_eq!(table_header(&table), ROLLOUT_COLUMNS, "{version}: {table}");
        assert!(table.contains("rollouts-demo"), "{version}: {table}");
    }
    let alpha = cluster().kubectl(&[
        "get",
        "rollouts.v1alpha1.rollouts.kruise.io",
        "rollouts-demo",
        "-n",
        &ns.name,
        "-o",
        "json",
    ]);
    let alpha: serde_json::Value = serde_json::from_str(&alpha).unwrap();
    assert_eq!(
        alpha["spec"]["strategy"]["canary"]["steps"][0]["matches"][0]["headers"][0]["value"],
        "Android"
    );
    assert!(
        alpha["metadata"]["annotations"]["rollouts.kruise.io/conversion-data"].is_null(),
        "the example maps cleanly"
    );
}

/// The certificate the webhook presents now, verified against the CA in its Secret.
async fn served_certificate(ca_pem: &[u8], port: u16) -> Vec<u8> {
    let versions = rustls::DEFAULT_VERSIONS;
    let tls = webhook_tls(ca_pem, port, versions).await;
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[tokio::test]
async fn serving_certificate_is_renewed_without_restarting() {
    let hook = webhook();
    let client = cluster().client().await;
    let ca = webhook_ca(&client).await;
    let first = served_certificate(&ca, hook.port).await;
    wait_for(
        "a renewed serving certificate",
        Duration::from_secs(40),
        || async {
            let now = served_certificate(&ca, hook.port).await;
            if now != first {
                Ok(())
            } else {
                Err("still the first certificate".into())
            }
        },
    )
    .await;
    assert!(
        std::path::Path::new(&format!("/proc/{}", hook.pid())).exists(),
        "same process"
    );
    let log = std::fs::read_to_string(&hook.log).unwrap();
    assert!(log.contains("serving a renewed certificate"), "{log}");
    // The API server still trusts it (same CA): admission keeps working across renewals.
    let (_client, ns) = webhook_namespace("after-renewal").await;
    let invalid = example("rollout-canary.yaml").replace("weight: 50", "weight: 10");
    let error = apply(&ns.name, &invalid).expect_err("refused");
    assert!(
        error.contains("spec.strategy.canary.steps[1].weight"),
        "{error}"
    );
    let (status, metrics) = admin_get(hook.admin_port, "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(metrics.contains("rollouts_webhook_requests_total{path=\"/validate-rollouts-kruise-io-rollout\",decision=\"denied\"}"), "{metrics}");
}

#[tokio::test]
async fn replicas_starting_together_converge_on_one_certificate_secret() {
    use rollouts_webhook::certs::{CertConfig, ensure};
    let client = cluster().client().await;
    let config = CertConfig {
        namespace: rollouts_api::crd::INSTALL_NAMESPACE.into(),
        secret_name: format!("e2e-{}-race-certs", std::process::id()),
        names: vec!["127.0.0.1".into()],
        ca_validity: Duration::from_secs(3600),
        serving_validity: Duration::from_secs(3600),
    };
    cluster().apply_repo_file("manifests/namespace.yaml");
    let replicas = (0..4).map(|_| ensure(&client, &config));
    let results = futures::future::join_all(replicas).await;
    let first = results[0].as_ref().expect("issued").clone();
    for result in &results {
        assert_eq!(
            result.as_ref().expect("issued"),
            &first,
            "every replica serves what the Secret holds"
        );
    }
    let again = ensure(&client, &config).await.unwrap();
    assert_eq!(again, first, "a good Secret is reused, not re-issued");
    let secrets: Api<Secret> = Api::namespaced(client, &config.namespace);
    secrets
        .delete(&config.secret_name, &Default::default())
        .await
        .unwrap();
}
