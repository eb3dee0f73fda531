//! Found by `make chaos` (docs/reliability.md): a release of a StatefulSet whose new pod never
//! becomes Ready, rolled back by re-applying the stable version. Kubernetes' StatefulSet
//! controller waits for every pod to be Ready before it replaces one (the "forced rollback"
//! that its documentation leaves to a person), so the broken pod must be deleted by the release
//! for the StatefulSet to come back whole; without that the broken pod stayed, and every later
//! release stalled at its first step.

use rollouts_e2e::release::*;

/// The Rollout for a StatefulSet of `API_VERSION`.
const ROLLOUT: &str = r#"
apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollouts-sts
spec:
  workloadRef:
    apiVersion: API_VERSION
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
    rolled_back_with_a_broken_pod("apps/v1", "sts-broken").await;
}

#[tokio::test]
async fn a_rolled_back_advanced_statefulset_replaces_its_broken_pod() {
    rolled_back_with_a_broken_pod("apps.kruise.io/v1beta1", "asts-broken").await;
}

async fn rolled_back_with_a_broken_pod(api_version: &str, prefix: &str) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    apply(&ns, &echoserver_statefulset(api_version, "version1", 4));
    apply(&ns, &ROLLOUT.replace("API_VERSION", api_version));
    wait_pods(&client, &ns, "echoserver", &[("version1", 4)]).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "2", "Completed", None).await;

    apply(
        &ns,
        &never_ready(&echoserver_statefulset(api_version, "version2", 4)),
    );
    wait_pod_counts(
        &client,
        &ns,
        "echoserver",
        &[("version1", 3), ("version2", 1)],
        false,
    )
    .await;
    apply(&ns, &echoserver_statefulset(api_version, "version1", 4));
    wait_pods(&client, &ns, "echoserver", &[("version1", 4)]).await;
    wait_row(&ns, "rollouts-sts", "Healthy", "2", "Completed", None).await;
}
