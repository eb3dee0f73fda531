//! kube-apiserver killed (SIGKILL) and started again by the launcher: the controller and the
//! webhook carry on without a restart of their own. The next release is frozen, paused at its
//! first step and approved to its end, as if nothing had happened. The second outage lasts
//! 20 s, long enough for every watch to be listed again: a Rollout created right after it must
//! be reconciled within seconds (the watches' retry delay once grew to 30 s during an outage,
//! and the Rollout then went unseen that long). This binary runs its own controller, and
//! restarts the API server that every test of the run shares, so it keeps to itself (one test).

use rollouts_e2e::release::*;
use rollouts_e2e::*;
use serde_json::json;
use std::time::Duration;

/// How soon after the API server serves again a new Rollout must have been reconciled: the
/// watches' longest retry delay (4 s), a list, a reconcile, with room for a slow machine.
const BACK_WITHIN: Duration = Duration::from_secs(15);

/// A Rollout created after the outage, for a workload that does not exist yet: nothing but its
/// own watch can wake it.
const LATE_ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: created-after-the-outage
spec:
  workloadRef:
    apiVersion: apps/v1
    kind: Deployment
    name: not-there-yet
  strategy:
    canary:
      steps:
      - replicas: 1
"#;

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
        .restart_component("kube-apiserver", Duration::ZERO)
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

    cluster()
        .restart_component("kube-apiserver", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}"));
    apply(&ns, LATE_ROLLOUT);
    let rollouts = kube::Api::<rollouts_api::v1beta1::Rollout>::namespaced(client.clone(), &ns);
    wait_for(
        "the Rollout created after the outage is reconciled",
        BACK_WITHIN,
        || async {
            let rollout = rollouts
                .get("created-after-the-outage")
                .await
                .map_err(|e| e.to_string())?;
            let observed = rollout.status.as_ref().and_then(|s| s.observed_generation);
            match observed == rollout.metadata.generation {
                true => Ok(()),
                false => Err(format!("status {:?}", rollout.status)),
            }
        },
    )
    .await;
    // The next test binary shares the control plane. kube-controller-manager's own watches come
    // back from such an outage a minute or more later; a fresh one acts at once. Leave only
    // once it does.
    cluster()
        .restart_component("kube-controller-manager", Duration::ZERO)
        .unwrap_or_else(|e| panic!("{e}"));
    apply(&ns, &echoserver("version2", 4));
    wait_pods(&client, &ns, "echoserver", &[("version2", 4)]).await;
    drop(controller);
}
