//! Blue-green releases with Nginx traffic, for a Deployment and a CloneSet of 5 pods: step 1
//! brings all 5 new pods up beside the 5 old ones with 0% of the traffic (the canary Service
//! is there, a canary Ingress is not needed yet), step 2 sends 50%,
//! step 3 all; approving the last step lets the workload remove the old pods, then the routes
//! go. Rolling back takes traffic off the new pods first, then removes them; a newer version
//! mid-release is refused until rolled back; disabling gives the settings back.

use rollouts_e2e::blue_green::*;
use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;

async fn release_to_completion(kind: Kind, prefix: &str) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns, &kind).await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 2, 3).await;
    wait_weight(&client, &ns, "50").await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 3, 3).await;
    wait_weight(&client, &ns, "100").await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 5)],
    )
    .await;
    approve_blue_green(&ns);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_given_back(&client, &ns, &kind).await;
    let succeeded = ".status.conditions[?(@.type==\"Succeeded\")].status";
    assert_eq!(rollout_field(&ns, NAME, succeeded), "True");
}

#[tokio::test]
async fn deployment_blue_green_release_with_traffic_to_completion() {
    release_to_completion(DEPLOYMENT, "bg-deploy").await;
}

#[tokio::test]
async fn cloneset_blue_green_release_with_traffic_to_completion() {
    release_to_completion(CLONE_SET, "bg-cloneset").await;
}

async fn rollback_after_jumps(kind: Kind, prefix: &str) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns, &kind).await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 2, 3).await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 3, 3).await;
    wait_weight(&client, &ns, "100").await;
    // Back to step 2 and 1: traffic follows, the new pods stay.
    jump(&ns, 2);
    wait_paused(&ns, NAME, 2, 3).await;
    wait_weight(&client, &ns, "50").await;
    jump(&ns, 1);
    wait_paused(&ns, NAME, 1, 3).await;
    wait_weight(&client, &ns, "0").await;
    wait_pods(
        &client,
        &ns,
        "echoserver",
        &[("version1", 5), ("version2", 5)],
    )
    .await;

    apply(&ns, &(kind.yaml)("version1"));
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_given_back(&client, &ns, &kind).await;
    let succeeded = ".status.conditions[?(@.type==\"Succeeded\")].status";
    assert_eq!(rollout_field(&ns, NAME, succeeded), "False");
}

#[tokio::test]
async fn deployment_blue_green_rollback_after_jumping_back() {
    rollback_after_jumps(DEPLOYMENT, "bg-deploy-back").await;
}

#[tokio::test]
async fn cloneset_blue_green_rollback_after_jumping_back() {
    rollback_after_jumps(CLONE_SET, "bg-cloneset-back").await;
}

/// What follows the refusal of a newer version.
enum Then {
    /// Re-apply the version being released (the release goes on), then the stable one.
    RollBack,
    /// Disable the Rollout: the workload rolls to the version applied last on its own.
    Disable,
}

async fn newer_version_refused(kind: Kind, prefix: &str, then: Then) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns, &kind).await;
    apply(&ns, &(kind.yaml)("version3"));
    let refused = "new version releasing detected in the progress of blue-green release, please rollback first";
    wait_row(&ns, NAME, "Progressing", "1", "StepPaused", Some(refused)).await;
    let counts = pods_by_version(&client, &ns, "echoserver").await;
    assert_eq!(
        counts.get("version3"),
        None,
        "no pod of version 3: {counts:?}"
    );
    match then {
        Then::RollBack => {
            apply(&ns, &(kind.yaml)("version2"));
            wait_paused(&ns, NAME, 1, 3).await;
            apply(&ns, &(kind.yaml)("version1"));
            let cancelled = "Rollout progressing has been cancelled";
            wait_row(&ns, NAME, "Healthy", "3", "Completed", Some(cancelled)).await;
            wait_pods(&client, &ns, "echoserver", &[("version1", 5)]).await;
        }
        Then::Disable => {
            disable_rollout(&ns, NAME).await;
            wait_pods(&client, &ns, "echoserver", &[("version3", 5)]).await;
        }
    }
    assert_traffic_cleaned(&client, &ns).await;
    wait_given_back(&client, &ns, &kind).await;
}

#[tokio::test]
async fn deployment_blue_green_refuses_a_newer_version_until_rolled_back() {
    newer_version_refused(DEPLOYMENT, "bg-deploy-v3", Then::RollBack).await;
}

#[tokio::test]
async fn cloneset_blue_green_refuses_a_newer_version_then_disabling_gives_it_back() {
    newer_version_refused(CLONE_SET, "bg-cloneset-v3", Then::Disable).await;
}
