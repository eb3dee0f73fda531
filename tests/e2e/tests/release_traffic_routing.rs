//! TrafficRouting objects, as upstream's end-to-end canary test: a v1alpha1 Rollout without
//! traffic routing of its own links TrafficRouting `tr-demo` by annotation; while the release
//! runs the TrafficRouting is Progressing and routes its header match through a VirtualService
//! and DestinationRule to the stable Service's canary subset; at the end it is Healthy and both
//! objects are back exactly. Also: a TrafficRouting that names a missing Service says so, and a
//! deleted one restores its routes before it goes.

use rollouts_e2e::istio::*;
use rollouts_e2e::release::*;
use rollouts_e2e::traffic::selector;
use rollouts_e2e::*;
use serde_json::{Value, json};

const NAME: &str = "rollouts-demo";
const ORIGINAL_SPEC: &str = "rollouts.kruise.io/original-spec-configuration";

/// Upstream's Rollout linked by annotation (two steps here, so a step can be watched paused).
const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
  annotations:
    rollouts.kruise.io/rolling-style: canary
    rollouts.kruise.io/trafficrouting: tr-demo
spec:
  objectRef:
    workloadRef: {apiVersion: apps/v1, kind: Deployment, name: echoserver}
  strategy:
    canary:
      steps:
        - replicas: 1
          pause: {}
        - replicas: 100%
"#;

/// Upstream's TrafficRouting: a header match through the VirtualService and DestinationRule.
fn traffic_routing(service: &str) -> String {
    format!(
        r#"
apiVersion: rollouts.kruise.io/v1alpha1
kind: TrafficRouting
metadata:
  name: tr-demo
spec:
  strategy:
    matches:
      - headers: [{{type: Exact, name: user-agent, value: pc}}]
  objectRef:
    - service: {service}
      customNetworkRefs:
        - {{apiVersion: networking.istio.io/v1alpha3, kind: VirtualService, name: vs-demo}}
        - {{apiVersion: networking.istio.io/v1alpha3, kind: DestinationRule, name: ds-demo}}
"#
    )
}

fn create(ns: &str, yaml: &str) {
    cluster()
        .kubectl_with_input(&["create", "-n", ns, "-f", "-"], yaml)
        .unwrap_or_else(|e| panic!("created: {e}"));
}

/// Waits until `field` of TrafficRouting tr-demo (a kubectl jsonpath) reads `expected`.
async fn wait_routing(ns: &str, field: &str, expected: &str) {
    let jsonpath = format!("jsonpath={{{field}}}");
    wait_for(
        &format!("TrafficRouting tr-demo {field} = {expected}"),
        STEP_DEADLINE,
        || async {
            let seen = cluster().kubectl(&[
                "get",
                "trafficrouting",
                "tr-demo",
                "-n",
                ns,
                "-o",
                &jsonpath,
            ]);
            match seen == expected {
                true => Ok(()),
                false => Err(seen),
            }
        },
    )
    .await;
}

/// Patches TrafficRouting tr-demo with a `kind` (`json` or `merge`) patch.
fn patch_routing(ns: &str, kind: &str, patch: &str) {
    let kind = format!("--type={kind}");
    cluster().kubectl(&[
        "patch",
        "trafficrouting",
        "tr-demo",
        "-n",
        ns,
        &kind,
        "-p",
        patch,
    ]);
}

/// Waits until `kind`/`name`'s spec is `spec`; returns the object.
async fn wait_spec(ns: &str, kind: &str, name: &str, spec: &Value) -> Value {
    wait_for(&format!("{kind} {name}'s spec"), STEP_DEADLINE, || async {
        let now = object(ns, kind, name);
        match &now["spec"] == spec {
            true => Ok(now),
            false => Err(now["spec"].to_string()),
        }
    })
    .await
}

/// Upstream's expected VirtualService for the strategy: requests with `user-agent: pc` to the
/// stable Service's canary subset.
fn header_routed() -> Value {
    json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [
        {"match": [{"headers": {"user-agent": {"exact": "pc"}}}],
         "route": [{"destination": {"host": "echoserver", "subset": "canary"}}]},
        {"route": [{"destination": {"host": "echoserver"}}]}]})
}

fn spec_of(yaml: &str) -> Value {
    let object: Value = serde_yaml::from_str(yaml).unwrap();
    object["spec"].clone()
}

#[tokio::test]
async fn a_linked_trafficrouting_routes_its_match_while_the_release_runs_and_restores_after() {
    let (client, ns) = release_namespace("tr").await;
    let ns = ns.name.clone();
    install_istio_crds();
    apply(&ns, &echoserver("version1", 4));
    create(&ns, VIRTUAL_SERVICE);
    create(&ns, DESTINATION_RULE);
    create(&ns, &traffic_routing("echoserver"));
    wait_routing(&ns, ".status.phase", "Healthy").await;
    wait_routing(&ns, ".status.message", "TrafficRouting is Healthy").await;
    wait_routing(
        &ns,
        ".metadata.finalizers",
        r#"["rollouts.kruise.io/trafficrouting"]"#,
    )
    .await;
    let columns = cluster().kubectl(&["get", "trafficrouting", "tr-demo", "-n", &ns]);
    assert!(
        columns.starts_with("NAME") && columns.contains("STATUS") && columns.contains("MESSAGE"),
        "{columns}"
    );

    apply(&ns, ROLLOUT);
    wait_webhook_sees(&ns, ROLLOUT).await;
    wait_row(&ns, NAME, "Healthy", "2", "Completed", None).await;
    apply(&ns, &echoserver("version2", 4));
    wait_paused(&ns, NAME, 1, 2).await;
    wait_routing(&ns, ".status.phase", "Progressing").await;
    wait_routing(
        &ns,
        ".metadata.finalizers",
        r#"["rollouts.kruise.io/trafficrouting","progressing.rollouts.kruise.io/rollouts-demo"]"#,
    )
    .await;
    let routed = wait_spec(&ns, "virtualservice", "vs-demo", &header_routed()).await;
    assert!(routed["metadata"]["annotations"][ORIGINAL_SPEC].is_string());
    let rule = wait_spec(
        &ns,
        "destinationrule",
        "ds-demo",
        &json!({"host": "svc-demo",
            "subsets": [{"labels": {"version": "base"}, "name": "echoserver"},
                {"labels": {"istio.service.tag": "gray"}, "name": "canary"}],
            "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}}),
    )
    .await;
    assert!(rule["metadata"]["annotations"][ORIGINAL_SPEC].is_string());
    assert!(
        selector(&client, &ns, "echoserver-canary").await.is_none(),
        "a Rollout without traffic routing makes no canary Service"
    );

    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "2", "Completed", None).await;
    wait_routing(&ns, ".status.phase", "Healthy").await;
    wait_routing(
        &ns,
        ".metadata.finalizers",
        r#"["rollouts.kruise.io/trafficrouting"]"#,
    )
    .await;
    for (kind, name, yaml) in [
        ("virtualservice", "vs-demo", VIRTUAL_SERVICE),
        ("destinationrule", "ds-demo", DESTINATION_RULE),
    ] {
        let restored = wait_spec(&ns, kind, name, &spec_of(yaml)).await;
        assert_eq!(
            restored["metadata"].get("annotations"),
            None,
            "{kind}: the saved copy goes with the release: {}",
            restored["metadata"]
        );
    }
    wait_pods(&client, &ns, "echoserver", &[("version2", 4)]).await;
}

#[tokio::test]
async fn a_trafficrouting_names_what_it_misses_and_a_deleted_one_restores_before_it_goes() {
    let (_client, ns) = release_namespace("tr-missing").await;
    let ns = ns.name.clone();
    install_istio_crds();
    create(&ns, VIRTUAL_SERVICE);
    create(&ns, DESTINATION_RULE);
    create(&ns, &traffic_routing("no-such-service"));
    wait_routing(&ns, ".status.phase", "Initial").await;
    wait_routing(
        &ns,
        ".status.message",
        "TrafficRouting is Initializing: Service no-such-service not found: traffic routing needs it",
    )
    .await;

    // Fixed, then routing for a Rollout that holds it; deleted while it routes.
    patch_routing(
        &ns,
        "json",
        r#"[{"op": "replace", "path": "/spec/objectRef/0/service", "value": "echoserver"}]"#,
    );
    apply(&ns, &echoserver("version1", 1));
    wait_routing(&ns, ".status.phase", "Healthy").await;
    patch_routing(
        &ns,
        "json",
        r#"[{"op": "add", "path": "/metadata/finalizers/-", "value": "progressing.rollouts.kruise.io/e2e"}]"#,
    );
    wait_routing(&ns, ".status.phase", "Progressing").await;
    wait_spec(&ns, "virtualservice", "vs-demo", &header_routed()).await;
    cluster().kubectl(&[
        "delete",
        "trafficrouting",
        "tr-demo",
        "-n",
        &ns,
        "--wait=false",
    ]);
    wait_routing(&ns, ".status.phase", "Terminating").await;
    wait_spec(&ns, "virtualservice", "vs-demo", &spec_of(VIRTUAL_SERVICE)).await;
    wait_routing(
        &ns,
        ".metadata.finalizers",
        r#"["progressing.rollouts.kruise.io/e2e"]"#,
    )
    .await;
    patch_routing(&ns, "merge", r#"{"metadata": {"finalizers": null}}"#);
    wait_for("the TrafficRouting gone", STEP_DEADLINE, || async {
        let left = cluster().kubectl(&["get", "trafficrouting", "-n", &ns, "-o", "name"]);
        match left.trim().is_empty() {
            true => Ok(()),
            false => Err(left),
        }
    })
    .await;
}
