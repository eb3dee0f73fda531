//! Found by `make chaos` (docs/reliability.md): a release of a StatefulSet whose new pod never
//! becomes Ready, rolled back by re-applying the stable version. Kubernetes' StatefulSet
//! controller waits for every pod to be Ready before it replaces one (the "forced rollback"
//! that its documentation leaves to a person), so the broken pod must be deleted by the release
//! for the StatefulSet to come back whole; without that the broken pod stayed, and every later
//! release stalled at its first step.

use rollouts_e2e::release::*;

const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-sts
spec:
  workloadRef:
    apiVersion: apps/v1
    kind: StatefulSet
    name: echoserver
  strategy:
    canary:
      steps:
      - replicas: 1
      - replicas: 100%
"#;

#[tokio::test]
async fn a_rolled_back_statefulset_replaces_its_broken_pod() {
    let (client, ns) = release_namespace("sts-broken").await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver_statefulset("apps/v1", "version1", 4));
    apply(&ns, ROLLOUT);
    wait_pods(&client, &ns, "echoserver", &[("version1", 4)]).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "2", "Completed", None).await;

    apply(
        &ns,
        &never_ready(&echoserver_statefulset("apps/v1", "version2", 4)),
    );
    wait_pod_counts(
        &client,
        &ns,
        "echoserver",
        &[("version1", 3), ("version2", 1)],
        false,
    )
    .await;
    apply(&ns, &echoserver_statefulset("apps/v1", "version1", 4));
    wait_pods(&client, &ns, "echoserver", &[("version1", 4)]).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "2", "Completed", None).await;
}
