//! Releases routed by Lua scripts: an Istio VirtualService through the built-in script (a step
//! of header, query and path matches, then a weight, then the object put back exactly, at the
//! end and on a rollback), the same VirtualService next to an Nginx Ingress, a VirtualService
//! with DestinationRule subsets and no canary Service, Aliyun ALB (a weight) and Higress (header
//! and cookie matches) through their built-in scripts, and an Ingress class whose script, from the kruise-rollout-configuration
//! ConfigMap, fails: the Rollout names the script and the line, no traffic changes, and the
//! release goes on once the script is fixed.
//! No mesh runs on the local cluster: minimal Istio CRDs are installed and the tests assert the
//! objects one reads.

use rollouts_e2e::istio::*;
use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;
use rollouts_e2e::*;
use serde_json::{Value, json};

const NAME: &str = "rollouts-demo";

/// The Rollout of upstream's VirtualService test: matches, then 50%; `routing` is the rest of
/// its traffic routing (after `service`).
fn rollout(routing: &str) -> String {
    format!(
        r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: {NAME}
spec:
  workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: echoserver}}
  strategy:
    canary:
      enableExtraWorkloadForCanary: true
      steps:
        - replicas: 1
          matches:
            - headers: [{{type: Exact, name: user-agent, value: pc}}]
            - queryParams: [{{type: Exact, name: user-agent, value: pc}}]
            - path: {{value: /pc}}
        - replicas: 50%
          traffic: 50%
      trafficRoutings:
        - service: echoserver
{routing}
"#
    )
}

const VS_REF: &str = "          customNetworkRefs:
            - {apiVersion: networking.istio.io/v1alpha3, kind: VirtualService, name: vs-demo}";

fn virtual_service(ns: &str) -> Value {
    object(ns, "virtualservice", "vs-demo")
}

/// Waits until the VirtualService's spec is `spec`; returns the object.
async fn wait_virtual_service(ns: &str, spec: &Value) -> Value {
    wait_for(
        "the VirtualService routes the step",
        STEP_DEADLINE,
        || async {
            let object = virtual_service(ns);
            match &object["spec"] == spec {
                true => Ok(object),
                false => Err(object["spec"].to_string()),
            }
        },
    )
    .await
}

fn original_spec() -> Value {
    json!({"gateways": ["nginx-gateway"], "hosts": ["*"],
        "http": [{"route": [{"destination": {"host": "echoserver"}}]}]})
}

fn to(host: &str) -> Value {
    json!([{"destination": {"host": host}}])
}

fn three_matches() -> Value {
    json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [
        {"match": [{"uri": {"prefix": "/pc"}}], "route": to("echoserver-canary")},
        {"match": [{"queryParams": {"user-agent": {"exact": "pc"}}}], "route": to("echoserver-canary")},
        {"match": [{"headers": {"user-agent": {"exact": "pc"}}}], "route": to("echoserver-canary")},
        {"route": to("echoserver")},
    ]})
}

fn half_and_half() -> Value {
    json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [{"route": [
        {"destination": {"host": "echoserver"}, "weight": 50},
        {"destination": {"host": "echoserver-canary"}, "weight": 50},
    ]}]})
}

/// Deploys echoserver v1 (4 pods), the VirtualService (created, so no kubectl annotation is
/// saved with it), `extra` objects and `rollout`, then releases v2 to step 1.
async fn release_to_step_1(client: &kube::Client, ns: &str, extra: &str, rollout: &str) {
    install_istio_crds();
    apply(ns, &echoserver("version1", 4));
    cluster()
        .kubectl_with_input(&["create", "-n", ns, "-f", "-"], VIRTUAL_SERVICE)
        .expect("the VirtualService is created");
    if !extra.is_empty() {
        apply(ns, extra);
    }
    apply(ns, rollout);
    wait_webhook_sees(ns, rollout).await;
    wait_row(ns, NAME, "Healthy", "2", "Completed", None).await;
    apply(ns, &echoserver("version2", 4));
    wait_paused(ns, NAME, 1, 2).await;
    let _ = client;
}

#[tokio::test]
async fn a_virtual_service_routes_matches_then_a_weight_and_is_put_back_exactly() {
    let (client, ns) = release_namespace("istio").await;
    let ns = ns.name.clone();
    release_to_step_1(&client, &ns, "", &rollout(VS_REF)).await;
    let routed = wait_virtual_service(&ns, &three_matches()).await;
    assert_eq!(
        routed["metadata"]["annotations"]["rollouts.kruise.io/original-spec-configuration"],
        json!(
            r#"{"spec":{"gateways":["nginx-gateway"],"hosts":["*"],"http":[{"route":[{"destination":{"host":"echoserver"}}]}]}}"#
        ),
    );

    approve(&ns, NAME);
    wait_paused(&ns, NAME, 2, 2).await;
    wait_virtual_service(&ns, &half_and_half()).await;

    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "2", "Completed", None).await;
    let restored = wait_virtual_service(&ns, &original_spec()).await;
    assert_eq!(
        restored["metadata"].get("annotations"),
        None,
        "the saved copy goes with the release: {}",
        restored["metadata"]
    );
    assert_traffic_cleaned(&client, &ns).await;
}

#[tokio::test]
async fn a_virtual_service_and_an_nginx_ingress_route_the_same_steps_each_as_it_can() {
    let (client, ns) = release_namespace("istio-nginx").await;
    let ns = ns.name.clone();
    let routing = format!("          ingress: {{classType: nginx, name: echoserver}}\n{VS_REF}");
    let ingress = example("echoserver-ingress-nginx.yaml");
    release_to_step_1(&client, &ns, &ingress, &rollout(&routing)).await;
    wait_virtual_service(&ns, &three_matches()).await;
    // Nginx reads only a match's first header; the path and query matches are the
    // VirtualService's alone.
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-by-header", "user-agent"),
            ("nginx.ingress.kubernetes.io/canary-by-header-value", "pc"),
        ],
    )
    .await;

    approve(&ns, NAME);
    wait_paused(&ns, NAME, 2, 2).await;
    wait_virtual_service(&ns, &half_and_half()).await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "50"),
        ],
    )
    .await;

    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "2", "Completed", None).await;
    wait_virtual_service(&ns, &original_spec()).await;
    assert_traffic_cleaned(&client, &ns).await;
}

#[tokio::test]
async fn a_failing_ingress_script_is_named_with_its_line_and_routes_nothing_until_fixed() {
    let (client, ns) = release_namespace("lua-broken").await;
    let ns = ns.name.clone();
    let class = format!("e2e-broken-{}", std::process::id());
    let key = format!("lua.traffic.routing.ingress.{class}");
    set_script(
        &key,
        "local annotations = obj.annotations\nreturn annotations.missing.field",
    );
    let ingress = example("echoserver-ingress-nginx.yaml");
    let rollout = example("rollout-canary.yaml")
        .replace(
            "        ingress:\n          name: echoserver",
            &format!("        ingress:\n          classType: {class}\n          name: echoserver"),
        )
        .replace("duration: 60", "duration: 3");
    assert!(rollout.contains(&class), "the example names its class");
    apply(&ns, &echoserver("version1", 5));
    apply(&ns, &ingress);
    apply(&ns, &rollout);
    wait_webhook_sees(&ns, &rollout).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    apply(&ns, &echoserver("version2", 5));
    let expected = format!("Lua script {key} line 2: ");
    wait_for(
        "the script's error in the status",
        STEP_DEADLINE,
        || async {
            let message = rollout_row(&ns, NAME)
                .get("MESSAGE")
                .cloned()
                .unwrap_or_default();
            match message.starts_with(&expected) {
                true => Ok(()),
                false => Err(message),
            }
        },
    )
    .await;
    assert_eq!(
        canary_annotations(&client, &ns).await,
        None,
        "no canary Ingress"
    );

    set_script(
        &key,
        "local a = obj.annotations or {}\na['nginx.ingress.kubernetes.io/canary'] = 'true'\n\
         a['nginx.ingress.kubernetes.io/canary-weight'] = obj.weight\nreturn a",
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
    wait_paused(&ns, NAME, 1, 3).await;
}

/// Deploys echoserver v1 (5 pods), the example Ingress and `rollout` (3 steps), then
/// releases v2 to its first pause.
async fn release_through_the_example_ingress(ns: &str, rollout: &str) {
    apply(ns, &echoserver("version1", 5));
    apply(ns, &example("echoserver-ingress-nginx.yaml"));
    apply(ns, rollout);
    wait_webhook_sees(ns, rollout).await;
    wait_row(ns, NAME, "Healthy", "3", "Completed", None).await;
    apply(ns, &echoserver("version2", 5));
    wait_paused(ns, NAME, 1, 3).await;
}

#[tokio::test]
async fn an_aliyun_alb_ingress_gets_its_canary_through_the_built_in_script() {
    let (client, ns) = release_namespace("alb").await;
    let ns = ns.name.clone();
    let rollout = example("rollout-canary.yaml")
        .replace(
            "        ingress:\n          name: echoserver",
            "        ingress:\n          classType: aliyun-alb\n          name: echoserver",
        )
        .replace("duration: 60", "duration: 3");
    assert!(
        rollout.contains("aliyun-alb"),
        "the example names its class"
    );
    release_through_the_example_ingress(&ns, &rollout).await;
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("alb.ingress.kubernetes.io/canary", "true"),
            ("alb.ingress.kubernetes.io/canary-weight", "20"),
        ],
    )
    .await;
    let order = cluster().kubectl(&[
        "get",
        "ingress",
        "echoserver-canary",
        "-n",
        &ns,
        "-o",
        r"jsonpath={.metadata.annotations.alb\.ingress\.kubernetes\.io/order}",
    ]);
    assert_eq!(order, "1", "ALB evaluates the canary rule first");
    approve(&ns, NAME);
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("alb.ingress.kubernetes.io/canary", "true"),
            ("alb.ingress.kubernetes.io/canary-weight", "50"),
        ],
    )
    .await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
}

#[tokio::test]
async fn without_a_canary_service_the_virtual_service_routes_to_a_destination_rule_subset() {
    let (client, ns) = release_namespace("istio-subset").await;
    let ns = ns.name.clone();
    let rollout = format!(
        r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: {NAME}
spec:
  workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: echoserver}}
  strategy:
    canary:
      enableExtraWorkloadForCanary: true
      disableGenerateCanaryService: true
      steps:
        - replicas: 1
          matches:
            - headers: [{{type: Exact, name: user-agent, value: pc}}]
        - replicas: 100%
      trafficRoutings:
        - service: echoserver
          customNetworkRefs:
            - {{apiVersion: networking.istio.io/v1alpha3, kind: VirtualService, name: vs-demo}}
            - {{apiVersion: networking.istio.io/v1alpha3, kind: DestinationRule, name: ds-demo}}
"#
    );
    install_istio_crds();
    cluster()
        .kubectl_with_input(&["create", "-n", &ns, "-f", "-"], DESTINATION_RULE)
        .expect("the DestinationRule is created");
    release_to_step_1(&client, &ns, "", &rollout).await;
    wait_virtual_service(
        &ns,
        &json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [
            {"match": [{"headers": {"user-agent": {"exact": "pc"}}}],
             "route": [{"destination": {"host": "echoserver", "subset": "canary"}}]},
            {"route": to("echoserver")},
        ]}),
    )
    .await;
    let rule = |ns: &str| object(ns, "destinationrule", "ds-demo");
    assert_eq!(
        rule(&ns)["spec"]["subsets"],
        json!([{"labels": {"version": "base"}, "name": "echoserver"},
            {"labels": {"istio.service.tag": "gray"}, "name": "canary"}])
    );
    assert_eq!(
        selector(&client, &ns, "echoserver")
            .await
            .unwrap()
            .get("pod-template-hash"),
        None,
        "the stable Service serves both versions"
    );
    assert_eq!(selector(&client, &ns, "echoserver-canary").await, None);

    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "2", "Completed", None).await;
    wait_virtual_service(&ns, &original_spec()).await;
    wait_for("the DestinationRule put back", STEP_DEADLINE, || async {
        let now = rule(&ns);
        let subsets = &now["spec"]["subsets"];
        let saved =
            now["metadata"]["annotations"].get("rollouts.kruise.io/original-spec-configuration");
        match (subsets.as_array().map(Vec::len), saved) {
            (Some(1), None) => Ok(()),
            _ => Err(now.to_string()),
        }
    })
    .await;
}

#[tokio::test]
async fn a_rollback_puts_the_virtual_service_back_exactly_before_the_old_version_returns() {
    let (client, ns) = release_namespace("istio-back").await;
    let ns = ns.name.clone();
    release_to_step_1(&client, &ns, "", &rollout(VS_REF)).await;
    wait_virtual_service(&ns, &three_matches()).await;
    approve(&ns, NAME);
    wait_paused(&ns, NAME, 2, 2).await;
    wait_virtual_service(&ns, &half_and_half()).await;

    apply(&ns, &echoserver("version1", 4));
    wait_row(
        &ns,
        NAME,
        "Healthy",
        "2",
        "Completed",
        Some("Rollout progressing has been cancelled"),
    )
    .await;
    let restored = wait_virtual_service(&ns, &original_spec()).await;
    assert_eq!(
        restored["metadata"].get("annotations"),
        None,
        "{}",
        restored["metadata"]
    );
    wait_pods(&client, &ns, "echoserver", &[("version1", 4)]).await;
    assert_traffic_cleaned(&client, &ns).await;
}

#[tokio::test]
async fn a_higress_ingress_routes_header_and_cookie_matches_through_the_built_in_script() {
    let (client, ns) = release_namespace("higress").await;
    let ns = ns.name.clone();
    // Step 1 also matches the cookie `demo` (a header named canary-by-cookie, as upstream).
    let rollout = example("rollout-ab.yaml")
        .replace(
            "        ingress:\n          name: echoserver",
            "        ingress:\n          classType: higress\n          name: echoserver",
        )
        .replace(
            "        pause: {}\n        replicas: 1\n",
            "        - headers:\n          - name: canary-by-cookie\n            value: demo\n        pause: {}\n        replicas: 1\n",
        )
        .replace("duration: 60", "duration: 3");
    assert!(rollout.contains("higress"), "the example names its class");
    assert!(rollout.contains("canary-by-cookie"), "the example's step 1");
    release_through_the_example_ingress(&ns, &rollout).await;
    // Higress reads the Nginx keys.
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-by-header", "User-Agent"),
            (
                "nginx.ingress.kubernetes.io/canary-by-header-value",
                "Android",
            ),
            ("nginx.ingress.kubernetes.io/canary-by-cookie", "demo"),
        ],
    )
    .await;
    approve(&ns, NAME);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    assert_traffic_cleaned(&client, &ns).await;
}
