//! kube-apiserver killed (SIGKILL) and started again by the launcher: the controller and the
//! webhook carry on without a restart of their own. The next release is frozen, paused at its
//! first step and approved to its end, as if nothing had happened. This binary runs its own
//! controller, and restarts the API server that every test of the run shares, so it keeps to
//! itself (one test).

use rollouts_e2e::release::*;
use rollouts_e2e::*;
use serde_json::json;

const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-demo
spec:
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 1
      - replicas: 100%
"#;

#[tokio::test]
async fn releases_go_on_after_the_api_server_restarts() {
    let hook = webhook();
    let controller = ControllerProcess::start("api-server-restart", &[]);
    let client = cluster().client().await;
    let ns = TestNamespace::create_labelled(
        &client,
        "apiserver",
        json!({NAMESPACE_LABEL: hook.selector}),
    )
    .await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver("version1", 3));
    apply(&ns, ROLLOUT);
    wait_webhook_sees(&ns, ROLLOUT).await;
    wait_row(&ns, "rollouts-demo", "Healthy", "2", "Completed", None).await;

    cluster()
        .restart_component("kube-apiserver")
        .unwrap_or_else(|e| panic!("{e}"));
    apply(&ns, &echoserver("version2", 3));
    wait_row(&ns, "rollouts-demo", "Progressing", "1", "StepPaused", None).await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 1)],
    )
    .await;
    approve(&ns, "rollouts-demo");
    wait_row(&ns, "rollouts-demo", "Healthy", "2", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 3)]).await;
    drop(controller);
}
