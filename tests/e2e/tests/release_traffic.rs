//! Releases that route traffic:
//! the canary Ingress with its weight or header match, the canary Service selecting the new
//! revision, the stable Service pinned to the stable one, all removed at the end; the same
//! plan through MSE and through a Gateway API HTTPRoute; rollback order with traffic.
//! No ingress controller runs on the local cluster: the tests assert the objects one reads.

use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;
use rollouts_e2e::*;
use serde_json::Value;
use std::collections::BTreeMap;

const NAME: &str = "rollouts-demo";

fn manual(step: u32) -> String {
    format!("Rollout is in step({step}/3), and you need manually confirm to enter the next step")
}

/// Deploys echoserver v1, `ingress` and `rollout`, and waits until the Rollout is Healthy.
async fn deploy(client: &kube::Client, ns: &str, ingress: &str, rollout: &str) {
    apply(ns, &echoserver("version1", 5));
    apply(ns, ingress);
    apply(ns, rollout);
    wait_webhook_sees(ns, rollout).await;
    wait_pods(client, ns, "echoserver", &[("version1", 5)]).await;
    wait_row(ns, NAME, "Healthy", "3", "Completed", None).await;
}

/// Deploys v1 with `ingress` and `rollout`, releases v2 and waits until step 1 pauses.
async fn release_v2_to_step_1(client: &kube::Client, ns: &str, ingress: &str, rollout: &str) {
    deploy(client, ns, ingress, rollout).await;
    apply(ns, &echoserver("version2", 5));
    wait_row(ns, NAME, "Progressing", "1", "StepPaused", Some(&manual(1))).await;
}

/// Messages of the Rollout's `TrafficRouting` Events, oldest first.
fn traffic_events(ns: &str) -> Vec<String> {
    let out = cluster().kubectl(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        "reason=TrafficRouting",
        "--sort-by=.metadata.creationTimestamp",
        "-o",
        "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}",
    ]);
    out.lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn status_field(ns: &str, path: &str) -> String {
    rollout_field(ns, NAME, path)
}

#[tokio::test]
async fn seed_canary_release_sets_weights_20_50_100_then_removes_the_canary_objects() {
    let (client, ns) = release_namespace("nginx").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-canary.yaml").replace("duration: 60", "duration: 3");
    release_v2_to_step_1(
        &client,
        &ns,
        &example("echoserver-ingress-nginx.yaml"),
        &rollout,
    )
    .await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "20"),
        ],
    )
    .await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 1)],
    )
    .await;
    let stable_revision = status_field(&ns, ".status.canaryStatus.stableRevision");
    let canary_revision = status_field(&ns, ".status.canaryStatus.podTemplateHash");
    assert_eq!(
        selector(&client, &ns, "echoserver").await.unwrap()["pod-template-hash"],
        stable_revision
    );
    assert_eq!(
        selector(&client, &ns, "echoserver-canary").await.unwrap()["pod-template-hash"],
        canary_revision
    );
    assert_ne!(stable_revision, canary_revision);
    let events = cluster().kubectl(&[
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        "reason=TrafficRouting",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("weight 20"), "{events}");

    approve(&ns, NAME);
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "50"),
        ],
    )
    .await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
    assert_eq!(
        traffic_events(&ns),
        [
            "step(1/3): weight 20%",
            "step(2/3): weight 50%",
            "step(3/3): weight 100%"
        ],
        "one Event per traffic change, step 3 included"
    );
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}

#[tokio::test]
async fn seed_ab_release_routes_by_header_without_a_weight() {
    let (client, ns) = release_namespace("ab").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-ab.yaml").replace("duration: 60", "duration: 3");
    release_v2_to_step_1(
        &client,
        &ns,
        &example("echoserver-ingress-nginx.yaml"),
        &rollout,
    )
    .await;
    let header = [
        ("nginx.ingress.kubernetes.io/canary", "true"),
        ("nginx.ingress.kubernetes.io/canary-by-header", "User-Agent"),
        (
            "nginx.ingress.kubernetes.io/canary-by-header-value",
            "Android",
        ),
    ];
    wait_canary_annotations(&client, &ns, &header).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 1)],
    )
    .await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", None).await;
    wait_canary_annotations(&client, &ns, &header).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 3)],
    )
    .await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
    assert_eq!(
        traffic_events(&ns),
        ["step(1/3): matches [User-Agent=Android]"],
        "one Event per traffic change: steps 2 and 3 route the same header, so nothing changes"
    );
}

#[tokio::test]
async fn mse_ingress_gets_the_same_canary_plan() {
    let (client, ns) = release_namespace("mse").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-canary.yaml")
        .replace("duration: 60", "duration: 3")
        .replace(
            "          name: echoserver\n",
            "          name: echoserver\n          classType: mse\n",
        );
    release_v2_to_step_1(
        &client,
        &ns,
        &example("echoserver-ingress-mse.yaml"),
        &rollout,
    )
    .await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "20"),
        ],
    )
    .await;
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), &ns);
    let canary = ingresses.get("echoserver-canary").await.unwrap();
    assert_eq!(
        canary.spec.and_then(|s| s.ingress_class_name).as_deref(),
        Some("mse")
    );
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
}

const HTTP_ROUTE: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: echoserver
spec:
  parentRefs:
  - name: demo-gateway
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /apis/echo
    backendRefs:
    - name: echoserver
      port: 80
"#;

async fn backend_weights(ns: &str) -> Vec<(String, i64)> {
    let json = cluster().kubectl(&["get", "httproute", "echoserver", "-n", ns, "-o", "json"]);
    let route: Value = serde_json::from_str(&json).unwrap();
    route["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["weight"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

async fn wait_weights(ns: &str, expected: &[(&str, i64)]) {
    let want: Vec<(String, i64)> = expected.iter().map(|(n, w)| (n.to_string(), *w)).collect();
    wait_for(
        &format!("HTTPRoute weights {want:?}"),
        STEP_DEADLINE,
        || async {
            let seen = backend_weights(ns).await;
            if seen == want {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    )
    .await;
}

#[tokio::test]
async fn gateway_api_release_splits_the_httproute_80_20_then_50_50_then_restores_it() {
    let (client, ns) = release_namespace("gateway").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-canary.yaml")
        .replace("duration: 60", "duration: 3")
        .replace(
            "        ingress:\n          name: echoserver\n",
            "        gateway:\n          httpRouteName: echoserver\n",
        );
    release_v2_to_step_1(&client, &ns, HTTP_ROUTE, &rollout).await;
    wait_weights(&ns, &[("echoserver", 80), ("echoserver-canary", 20)]).await;
    approve(&ns, NAME);
    wait_weights(&ns, &[("echoserver", 50), ("echoserver-canary", 50)]).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_weights(&ns, &[("echoserver", 1)]).await;
    assert!(
        selector(&client, &ns, "echoserver-canary").await.is_none(),
        "canary Service removed"
    );
}

#[tokio::test]
async fn rollback_with_traffic_sends_traffic_to_stable_first_then_restores_the_workload_then_the_services()
 {
    let (client, ns) = release_namespace("trafficback").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-canary.yaml").replace("pause: {duration: 60}", "pause: {}");
    release_v2_to_step_1(
        &client,
        &ns,
        &example("echoserver-ingress-nginx.yaml"),
        &rollout,
    )
    .await;
    approve(&ns, NAME);
    wait_row(
        &ns,
        NAME,
        "Progressing",
        "2",
        "StepPaused",
        Some(&manual(2)),
    )
    .await;

    apply(&ns, &echoserver("version1", 5));
    wait_row(
        &ns,
        NAME,
        "Healthy",
        "3",
        "Completed",
        Some("Rollout progressing has been cancelled"),
    )
    .await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    let order = cluster().kubectl(&[
        "get",
        "events",
        "-n",
        &ns,
        "--field-selector",
        "reason=Finalising",
        "--sort-by=.metadata.creationTimestamp",
        "-o",
        "jsonpath={range .items[*]}{.note}{.message}{\"\\n\"}{end}",
    ]);
    let stages: Vec<&str> = order.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(
        stages,
        [
            "RouteTrafficToStable",
            "ResumeWorkload",
            "RestoreStableService",
            "RemoveCanaryService"
        ],
        "finalisation order of a rollback; all events:\n{}",
        cluster().kubectl(&[
            "get",
            "events",
            "-n",
            &ns,
            "--sort-by=.metadata.creationTimestamp"
        ])
    );
}

#[tokio::test]
async fn a_release_waits_with_a_clear_message_until_its_ingress_exists() {
    let (client, ns) = release_namespace("noingress").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-canary.yaml").replace("duration: 60", "duration: 3");
    apply(&ns, &echoserver("version1", 5));
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;

    apply(&ns, &echoserver("version2", 5));
    wait_for(
        "the missing Ingress named in the status",
        STEP_DEADLINE,
        || async {
            let row = rollout_row(&ns, NAME);
            match (row["STATUS"].as_str(), row["MESSAGE"].as_str()) {
                ("Progressing", "Ingress echoserver not found: traffic routing needs it") => Ok(()),
                _ => Err(format!("{row:?}")),
            }
        },
    )
    .await;
    assert_eq!(
        pods_by_version(&client, &ns, "echoserver").await,
        BTreeMap::from([("version1".to_string(), 5)]),
        "no pod changes before the traffic objects exist"
    );

    apply(&ns, &example("echoserver-ingress-nginx.yaml"));
    wait_row(
        &ns,
        NAME,
        "Progressing",
        "1",
        "StepPaused",
        Some(&manual(1)),
    )
    .await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "20"),
        ],
    )
    .await;
}

#[tokio::test]
async fn a_newer_version_mid_release_reroutes_the_canary_to_it_and_keeps_the_stable_pin() {
    let (client, ns) = release_namespace("trafficv3").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-canary.yaml").replace("duration: 60", "duration: 3");
    release_v2_to_step_1(
        &client,
        &ns,
        &example("echoserver-ingress-nginx.yaml"),
        &rollout,
    )
    .await;
    let stable_revision = status_field(&ns, ".status.canaryStatus.stableRevision");
    let v2_revision = status_field(&ns, ".status.canaryStatus.podTemplateHash");

    apply(&ns, &echoserver("version3", 5));
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version3", 1)],
    )
    .await;
    wait_row(
        &ns,
        NAME,
        "Progressing",
        "1",
        "StepPaused",
        Some(&manual(1)),
    )
    .await;
    let v3_revision = status_field(&ns, ".status.canaryStatus.podTemplateHash");
    assert_ne!(v3_revision, v2_revision);
    assert_eq!(
        status_field(&ns, ".status.canaryStatus.stableRevision"),
        stable_revision
    );
    wait_for("the canary Service on version3", STEP_DEADLINE, || async {
        let canary = selector(&client, &ns, "echoserver-canary").await;
        match canary.as_ref().and_then(|s| s.get("pod-template-hash")) {
            Some(hash) if *hash == v3_revision => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        selector(&client, &ns, "echoserver").await.unwrap()["pod-template-hash"],
        stable_revision
    );
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "20"),
        ],
    )
    .await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_pods(&client, &ns, "echoserver", &[("version3", 5)]).await;
}
