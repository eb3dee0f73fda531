//! Leader election on a Lease: of two controllers only one is active (its leader gauge is 1
//! and the Lease names it); when it is killed the other takes over within the lease duration.

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use rollouts_e2e::*;
use std::time::Duration;

#[tokio::test]
async fn one_of_two_controllers_leads_and_the_other_takes_over_when_it_dies() {
    webhook();
    let lease_name = rollouts_e2e::service_account::e2e_lease();
    let args = [
        "--lease-name",
        lease_name.as_str(),
        "--namespace",
        "kruise-rollout",
    ];
    // `start` waits for /readyz, which a standby also answers once its caches are synced.
    let first = ControllerProcess::start_with_election("leader-a", &args);
    let second = ControllerProcess::start_with_election("leader-b", &args);
    let mut controllers = [first, second];
    let leases: Api<Lease> = Api::namespaced(cluster().client().await, "kruise-rollout");
    let leader = wait_for("exactly one leader", DEFAULT_DEADLINE, || async {
        let gauges: Vec<Option<String>> = controllers
            .iter()
            .map(ControllerProcess::leader_gauge)
            .collect();
        match gauges.iter().filter(|g| g.as_deref() == Some("1")).count() {
            1 => Ok(gauges
                .iter()
                .position(|g| g.as_deref() == Some("1"))
                .unwrap()),
            _ => Err(format!("{gauges:?}")),
        }
    })
    .await;
    let holder = leases
        .get(&lease_name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity);
    assert!(
        holder.is_some_and(|h| !h.is_empty()),
        "the Lease names its holder"
    );

    controllers[leader].kill();
    let standby = &controllers[1 - leader];
    wait_for(
        "the standby to take over",
        Duration::from_secs(60),
        || async {
            match standby.leader_gauge().as_deref() {
                Some("1") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}
