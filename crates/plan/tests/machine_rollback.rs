//! Rollback in batches: a Rollout annotated `rollouts.kruise.io/rollback-in-batch: "true"`
//! releases the re-applied stable version in batches from step 1 instead of giving the workload
//! back at once, sizing each batch by the pods that still run the abandoned version.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use machine_support::*;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::keys;
use rollouts_change::{Change, Resource};
use rollouts_workload::facts::WorkloadFacts;
use rollouts_workload::labels::PodLabels;
use serde_json::json;

const FIVE_STEPS: &str = "[{replicas: 20%, pause: {}}, {replicas: 40%, pause: {}}, \
    {replicas: 60%, pause: {}}, {replicas: 80%, pause: {}}, {replicas: 100%}]";

/// 5 pods: `v1` of them on `hash-v1` (the first `marked` marked as needing no update), the
/// rest on `hash-v2`.
fn pods(v1: usize, marked: usize) -> Vec<PodLabels> {
    (0..5)
        .map(|i| {
            let on_v1 = i < v1;
            PodLabels {
                name: format!("web-{i}"),
                revision: Some(if on_v1 { "hash-v1" } else { "hash-v2" }.into()),
                no_need_update: (on_v1 && i < marked).then(|| "hash-v1".into()),
                ..PodLabels::default()
            }
        })
        .collect()
}

/// A StatefulSet of 5 pods whose release of v2 paused at step 3 (3 pods on v2), then v1 was
/// applied again: 2 pods run the (again current) v1 template.
fn rolled_back_at_step_three(annotated: bool, control: Control) -> Sim {
    let mut sim = sim_at(
        FIVE_STEPS,
        3,
        4,
        StepPaused,
        releasing().replicas(5).updated(2, 2).rolled_back(),
    );
    if annotated {
        annotate(&mut sim.rollout, keys::ROLLBACK_IN_BATCH, "true");
    }
    sim.control = control;
    sim.pods = Some(pods(2, 0));
    sim
}

fn marks(d: &rollouts_plan::machine::Decision) -> Vec<(String, serde_json::Value)> {
    d.effects
        .iter()
        .filter(|e| e.object.resource == Resource::POD)
        .map(|e| match &e.change {
            Change::Merge(patch) => (
                e.object.name.clone(),
                patch["metadata"]["labels"][keys::NO_NEED_UPDATE].clone(),
            ),
            other => panic!("unexpected {other:?}"),
        })
        .collect()
}

#[test]
fn only_an_annotated_rollout_of_a_kind_with_a_pod_partition_rolls_back_in_batches() {
    // (annotated, kind, traffic routed) -> restarts at step 1 (else gives the workload back)
    let cases = [
        (true, Control::StatefulSet, false, true),
        (false, Control::StatefulSet, false, false),
        (true, Control::PartitionDeployment, false, false),
        (true, Control::CanaryDeployment, false, false),
        (true, Control::StatefulSet, true, false),
    ];
    for (annotated, control, routed, restarts) in cases {
        let mut sim = rolled_back_at_step_three(annotated, control);
        if routed {
            let canary = sim.rollout.spec.strategy.canary.as_mut().unwrap();
            canary.traffic_routings = Some(vec![
                serde_json::from_value(json!({"service": "echoserver"})).unwrap(),
            ]);
        }
        let d = sim.step();
        let case = format!("annotated {annotated}, {control:?}, routed {routed}");
        if restarts {
            assert_eq!(position(&d), pos(1, 2, BeforeStepUpgrade), "{case}");
            assert_eq!(d.status.phase, Some(RolloutPhase::Progressing), "{case}");
            assert!(!d.actions().contains(&Action::Release { promote: false }));
        } else {
            assert_eq!(
                d.actions(),
                vec![Action::Release { promote: false }],
                "{case}"
            );
        }
    }
}

#[test]
fn the_restart_marks_the_pods_already_on_the_stable_revision_then_sizes_batches_by_the_rest() {
    let mut sim = rolled_back_at_step_three(true, Control::StatefulSet);
    annotate(&mut sim.rollout, keys::APPROVED_STEP, "3");
    let d = sim.step();
    assert_eq!(
        marks(&d),
        vec![
            ("web-0".into(), json!("hash-v1")),
            ("web-1".into(), json!("hash-v1"))
        ]
    );
    assert!(d.actions().contains(&Action::ClearApprovedStep));
    let restarted = canary(&d);
    assert_eq!(restarted.canary_revision.as_deref(), Some("rev-v1"));
    assert_eq!(restarted.common.stable_revision.as_deref(), Some("rev-v1"));
    assert_eq!(
        restarted.common.pod_template_hash.as_deref(),
        Some("hash-v1")
    );
    assert!(upgrades(&d).is_empty(), "no batch before the marks are on");

    // With the 2 pods marked, step 1 (20%) rolls back 1 of the 3 others: 3 pods on v1.
    sim.pods = Some(pods(2, 2));
    sim.rollout
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .remove(keys::APPROVED_STEP);
    let d = sim.step();
    assert_eq!(upgrades(&d), vec![3]);
    assert_eq!(position(&d), pos(1, 2, StepUpgrade));
    assert!(marks(&d).is_empty(), "marked once");

    // (step, pods on v1 after it): 40% and 60% of 3 are 2, 80% and 100% are 3.
    sim.workload = Some(rolled_back_facts(3));
    sim.pods = Some(pods(3, 2));
    let d = sim.step();
    assert_eq!(position(&d), pos(1, 2, StepPaused));
    for (step, planned) in [(2, 4), (3, 4), (4, 5), (5, 5)] {
        sim.rollout
            .status
            .as_mut()
            .unwrap()
            .canary_status
            .as_mut()
            .unwrap()
            .common
            .current_step_state = Some(StepReady);
        let d = sim.step();
        assert_eq!(upgrades(&d).first().copied(), Some(planned), "step {step}");
        sim.workload = Some(rolled_back_facts(planned));
        sim.pods = Some(pods(planned as usize, 2));
        sim.step();
    }
}

/// The workload during the rollback in batches with `on_v1` pods on the stable revision.
fn rolled_back_facts(on_v1: i32) -> WorkloadFacts {
    let facts = releasing().replicas(5).updated(on_v1, on_v1).rolled_back();
    WorkloadFacts {
        in_rollback: on_v1 < 5,
        ..facts
    }
}

#[test]
fn without_the_pods_no_batch_is_sized() {
    let mut sim = rolled_back_at_step_three(true, Control::StatefulSet);
    sim.pods = None;
    let d = sim.step();
    assert_eq!(position(&d), pos(3, 4, StepPaused), "not restarted blind");
    assert!(d.requeue_after.is_some());

    sim.pods = Some(pods(2, 0));
    sim.step();
    sim.pods = None;
    let d = sim.step();
    assert!(upgrades(&d).is_empty(), "no batch sized without the marks");
    assert_eq!(position(&d), pos(1, 2, BeforeStepUpgrade));
}
