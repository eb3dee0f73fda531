//! The local control plane is real Kubernetes: it serves /readyz, and the real Deployment
//! controller rolls pods from v1 to v2 that KWOK makes Ready.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use rollouts_e2e::{DEFAULT_DEADLINE, TestNamespace, apply_yaml, cluster, wait_for};

#[tokio::test]
async fn cluster_serves_readyz_and_has_three_ready_nodes() {
    let client = cluster().client().await;
    let request = http::Request::get("/readyz").body(Vec::new()).unwrap();
    let body = client.request_text(request).await.expect("/readyz answers");
    assert_eq!(body.trim(), "ok");
    let nodes = cluster().kubectl(&["get", "nodes", "--no-headers"]);
    let ready = nodes
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some("Ready"))
        .count();
    assert_eq!(ready, 3, "{nodes}");
}

const DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: echoserver
spec:
  replicas: 3
  selector:
    matchLabels: {app: echoserver}
  template:
    metadata:
      labels: {app: echoserver}
    spec:
      containers:
      - name: echoserver
        image: demo:1.10.2
"#;

/// Pod names and images of `app=echoserver` pods that are Ready and not terminating.
async fn ready_pod_images(pods: &Api<Pod>) -> Vec<String> {
    let list = pods
        .list(&ListParams::default().labels("app=echoserver"))
        .await
        .unwrap();
    list.items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let conditions = p.status.as_ref().and_then(|s| s.conditions.as_ref());
            conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .map(|p| {
            p.spec.as_ref().unwrap().containers[0]
                .image
                .clone()
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn deployment_rolls_from_v1_to_v2_and_pods_become_ready() {
    let client = cluster().client().await;
    let ns = TestNamespace::create(&client, "deploy").await;
    apply_yaml(&client, &ns.name, DEPLOYMENT).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns.name);

    for image in ["demo:1.10.2", "demo:1.10.3"] {
        let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "echoserver", "image": image}]}}}});
        deployments
            .patch(
                "echoserver",
                &PatchParams::default(),
                &Patch::Strategic(&patch),
            )
            .await
            .unwrap();
        wait_for(
            &format!("3 Ready pods of {image}"),
            DEFAULT_DEADLINE,
            || async {
                let d = deployments
                    .get("echoserver")
                    .await
                    .map_err(|e| e.to_string())?;
                let status = d.status.clone().unwrap_or_default();
                let images = ready_pod_images(&pods).await;
                let done = status.observed_generation == d.metadata.generation
                    && status.updated_replicas == Some(3)
                    && status.available_replicas == Some(3)
                    && status.replicas == Some(3)
                    && images.len() == 3
                    && images.iter().all(|i| i == image);
                if done {
                    Ok(())
                } else {
                    Err(format!("status {status:?}, ready pod images {images:?}"))
                }
            },
        )
        .await;
    }
}

#[tokio::test]
async fn failure_messages_carry_the_last_lines_of_every_component_log() {
    let tails = cluster().log_tails(3);
    for component in [
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "etcd",
    ] {
        assert!(tails.contains(component), "no {component} log in:\n{tails}");
    }
    assert!(tails.lines().count() > 10, "{tails}");
}
