//! A controller killed (SIGKILL) while it applies a step, then started again: nothing more
//! than the current batch is replaced while it is down, and the release continues from where
//! it was, never going back a step or skipping one. This binary runs its own controller.

use rollouts_e2e::release::*;
use rollouts_e2e::*;
use serde_json::json;
use std::time::{Duration, Instant};

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
      - replicas: 3
      - replicas: 100%
"#;

fn manual(step: u32) -> String {
    format!("Rollout is in step({step}/3), and you need manually confirm to enter the next step")
}

#[tokio::test]
async fn a_killed_controller_resumes_the_release_where_it_was() {
    let hook = webhook();
    let mut controller = ControllerProcess::start("restart", &[]);
    let client = cluster().client().await;
    let ns =
        TestNamespace::create_labelled(&client, "restart", json!({NAMESPACE_LABEL: hook.selector}))
            .await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver("version1", 5));
    apply(&ns, ROLLOUT);
    wait_webhook_sees(&ns, ROLLOUT).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    wait_row(&ns, "rollouts-demo", "Healthy", "3", "Completed", None).await;
    apply(&ns, &echoserver("version2", 5));
    wait_row(
        &ns,
        "rollouts-demo",
        "Progressing",
        "1",
        "StepPaused",
        Some(&manual(1)),
    )
    .await;

    approve(&ns, "rollouts-demo");
    controller.kill();
    // While the controller is down the Deployment stays within the batch being applied.
    let down = Instant::now();
    let mut steps_seen = Vec::new();
    while down.elapsed() < Duration::from_secs(6) {
        let pods = pods_by_version(&client, &ns, "echoserver").await;
        assert!(
            pods.get("version2").copied().unwrap_or(0) <= 3,
            "beyond step 2's batch: {pods:?}"
        );
        steps_seen.push(rollout_row(&ns, "rollouts-demo")["CANARY_STEP"].clone());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let _restarted = ControllerProcess::start("restart", &[]);
    wait_row(
        &ns,
        "rollouts-demo",
        "Progressing",
        "2",
        "StepPaused",
        Some(&manual(2)),
    )
    .await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 2), ("version2", 3)],
    )
    .await;
    steps_seen.push("2".into());
    approve(&ns, "rollouts-demo");
    wait_row(&ns, "rollouts-demo", "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    let numbers: Vec<u32> = steps_seen.iter().filter_map(|s| s.parse().ok()).collect();
    assert!(
        numbers.windows(2).all(|w| w[0] <= w[1]),
        "the step never goes back: {numbers:?}"
    );
    assert!(
        numbers.iter().all(|n| (1..=2).contains(n)),
        "no step skipped while down: {numbers:?}"
    );
}
