//! Blue-green releases and the workload's size: a HorizontalPodAutoscaler (autoscaling/v1 and
//! autoscaling/v2) is turned away from the workload while old and new pods run side by side and
//! pointed back at it when the release ends (here by deleting or disabling the Rollout); and
//! scaling the workload mid-release resizes the new pods to the step's share of the new size.

use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler;
use kube::Api;
use rollouts_e2e::blue_green::*;
use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;

fn autoscaler(api_version: &str, kind: &Kind) -> String {
    let metric = match api_version {
        "autoscaling/v1" => "  targetCPUUtilizationPercentage: 80\n".to_string(),
        _ => "  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n      target:\n        type: AverageValue\n        averageValue: 1m\n".to_string(),
    };
    format!(
        "apiVersion: {api_version}\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: echoserver\nspec:\n  scaleTargetRef:\n    apiVersion: {}\n    kind: {}\n    name: echoserver\n  minReplicas: 5\n  maxReplicas: 6\n{metric}",
        kind.api_version, kind.kind
    )
}

async fn target(client: &kube::Client, ns: &str) -> String {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), ns);
    api.get("echoserver")
        .await
        .map(|h| h.spec.scale_target_ref.name)
        .unwrap_or_default()
}

async fn wait_target(client: &kube::Client, ns: &str, name: &str) {
    rollouts_e2e::wait_for(
        &format!("the autoscaler targeting {name}"),
        STEP_DEADLINE,
        || async {
            match target(client, ns).await {
                seen if seen == name => Ok(()),
                seen => Err(seen),
            }
        },
    )
    .await;
}

async fn autoscaler_turned_off_then_back(
    kind: Kind,
    api_version: &str,
    prefix: &str,
    delete: bool,
) {
    let (client, ns) = release_namespace(prefix).await;
    let ns = ns.name.clone();
    apply(&ns, &autoscaler(api_version, &kind));
    release_v2_to_step_1(&client, &ns, &kind).await;
    wait_target(&client, &ns, "echoserver-DisableByRollout").await;

    if delete {
        delete_rollout(&ns, NAME);
    } else {
        disable_rollout(&ns, NAME).await;
    }
    wait_target(&client, &ns, "echoserver").await;
    assert_traffic_cleaned(&client, &ns).await;
    wait_given_back(&client, &ns, &kind).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 5)]).await;
}

#[tokio::test]
async fn an_autoscaling_v1_autoscaler_is_off_during_a_deployment_release_until_disabled() {
    autoscaler_turned_off_then_back(DEPLOYMENT, "autoscaling/v1", "bg-hpa-v1", false).await;
}

#[tokio::test]
async fn an_autoscaling_v2_autoscaler_is_off_during_a_cloneset_release_until_deleted() {
    autoscaler_turned_off_then_back(CLONE_SET, "autoscaling/v2", "bg-hpa-v2", true).await;
}

#[tokio::test]
async fn scaling_a_deployment_mid_release_resizes_the_new_pods_to_the_step() {
    let (client, ns) = release_namespace("bg-scale").await;
    let ns = ns.name.clone();
    release_v2_to_step_1(&client, &ns, &DEPLOYMENT).await;
    for replicas in [7, 4] {
        rollouts_e2e::cluster().kubectl(&[
            "scale",
            "deployment/echoserver",
            "-n",
            &ns,
            &format!("--replicas={replicas}"),
        ]);
        // Step 1 asks for 100%: as many new pods as the workload has.
        rollouts_e2e::wait_for(&format!("{replicas} new pods"), STEP_DEADLINE, || async {
            let counts = pods_by_version(&client, &ns, "echoserver").await;
            match counts.get("version2") {
                Some(n) if *n == replicas => Ok(()),
                _ => Err(format!("{counts:?}")),
            }
        })
        .await;
        rollouts_e2e::wait_for("the status follows", STEP_DEADLINE, || async {
            let path = ".status.blueGreenStatus.updatedReplicas";
            match rollout_field(&ns, NAME, path) {
                seen if seen == replicas.to_string() => Ok(()),
                seen => Err(seen),
            }
        })
        .await;
        let old = pods_by_version(&client, &ns, "echoserver").await;
        assert_eq!(
            old.get("version1"),
            Some(&replicas),
            "the old pods stay: {old:?}"
        );
    }
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 2, 3).await;
    approve_blue_green(&ns);
    wait_paused(&ns, NAME, 3, 3).await;
    approve_blue_green(&ns);
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, "echoserver", &[("version2", 4)]).await;
    wait_given_back(&client, &ns, &DEPLOYMENT).await;
}
