//! Table tests of `matching`: which Rollout governs a workload.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use rollouts_api::common::RolloutPhase;
use rollouts_api::v1beta1::Rollout;
use rollouts_api::v1beta1::RolloutStatus;
use rollouts_workload::matching::*;
use serde_json::Value;
use serde_json::json;

fn rollout(name: &str, api_version: &str, kind: &str, workload: &str) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"workloadRef": {"apiVersion": api_version, "kind": kind, "name": workload},
                 "strategy": {"canary": {"steps": [{"replicas": 1}]}}}
    }))
    .unwrap()
}

fn deployment() -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "echoserver", "namespace": "default"}})
}

#[test]
fn matches_group_kind_and_name_in_the_namespace() {
    let rollouts = [
        rollout("other-name", "apps/v1", "Deployment", "other"),
        rollout("other-kind", "apps/v1", "StatefulSet", "echoserver"),
        rollout(
            "other-group",
            "apps.kruise.io/v1alpha1",
            "Deployment",
            "echoserver",
        ),
        rollout("demo", "apps/v1beta1", "Deployment", "echoserver"),
    ];
    let found = governing_rollout(&rollouts, "default", &deployment())
        .map(|r| r.metadata.name.clone().unwrap());
    assert_eq!(found.as_deref(), Some("demo"));
    assert!(governing_rollout(&rollouts, "elsewhere", &deployment()).is_none());
}

#[test]
fn deleting_disabled_and_empty_rollouts_govern_nothing() {
    let mut deleting = rollout("deleting", "apps/v1", "Deployment", "echoserver");
    deleting.metadata.deletion_timestamp = Some(Time(Default::default()));
    let mut disabled = rollout("disabled", "apps/v1", "Deployment", "echoserver");
    disabled.spec.disabled = Some(true);
    let mut phase_disabled = rollout("phase-disabled", "apps/v1", "Deployment", "echoserver");
    phase_disabled.status = Some(RolloutStatus {
        phase: Some(RolloutPhase::Disabled),
        ..Default::default()
    });
    let mut empty = rollout("empty", "apps/v1", "Deployment", "echoserver");
    empty.spec.strategy.canary = None;
    for r in [deleting, disabled, phase_disabled, empty] {
        let name = r.metadata.name.clone();
        assert!(
            governing_rollout([&r], "default", &deployment()).is_none(),
            "{name:?}"
        );
    }
}
