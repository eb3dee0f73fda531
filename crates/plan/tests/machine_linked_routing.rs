//! A Rollout linked to a TrafficRouting object: the release waits for the object, holds it
//! (its finalizer) before any pod changes, and at the end lets it go and waits until its routes
//! are restored before the workload is given back.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use machine_support::*;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::v1alpha1::{TrafficRouting, TrafficRoutingPhase, TrafficRoutingStatus};
use rollouts_change::{Change, Resource};
use rollouts_plan::machine::Decision;
use rollouts_plan::traffic_routing::LinkedRouting;
use serde_json::json;

const STEPS: &str = "[{replicas: 1, pause: {}}, {replicas: 100%}]";
const HOLD: &str = "the linked TrafficRouting routes while the release runs";
const LET_GO: &str = "the release ended: the linked TrafficRouting restores its routes";

fn routing_in(phase: TrafficRoutingPhase, finalizers: &[&str]) -> LinkedRouting {
    let mut object: TrafficRouting = serde_yaml::from_str(
        "apiVersion: rollouts.kruise.io/v1alpha1
kind: TrafficRouting
metadata: {name: tr-demo, namespace: default, resourceVersion: '3'}
spec: {objectRef: [{service: echoserver}], strategy: {weight: 10}}
",
    )
    .unwrap();
    object.metadata.finalizers = Some(finalizers.iter().map(|f| f.to_string()).collect());
    object.status = Some(TrafficRoutingStatus {
        phase: Some(phase),
        ..Default::default()
    });
    LinkedRouting {
        name: "tr-demo".into(),
        object: Some(object),
    }
}

/// The finalizers a decision writes on the TrafficRouting, if it writes them.
fn routing_finalizers(d: &Decision) -> Option<serde_json::Value> {
    d.effects
        .iter()
        .find(|e| e.object.resource == Resource::TRAFFIC_ROUTING)
        .map(|e| match &e.change {
            Change::Merge(patch) => patch["metadata"]["finalizers"].clone(),
            other => panic!("a merge patch: {other:?}"),
        })
}

#[test]
fn the_release_waits_for_its_trafficrouting_then_holds_it_before_the_first_batch() {
    let mut sim = Sim::new(rollout(STEPS), Some(stable_workload()));
    annotate(
        &mut sim.rollout,
        "rollouts.kruise.io/trafficrouting",
        "tr-demo",
    );
    sim.step();
    sim.workload = Some(releasing());
    sim.linked_routing = Some(LinkedRouting {
        name: "tr-demo".into(),
        object: None,
    });
    let d = sim.step();
    let waiting = "TrafficRouting tr-demo not found: the release waits for it";
    assert_eq!(
        condition(&d, "Progressing"),
        Some(("True", "Initializing", waiting))
    );
    assert!(d.actions().is_empty(), "{:?}", d.actions());
    assert!(d.requeue_after.is_some(), "TrafficRoutings are not watched");

    sim.linked_routing = Some(routing_in(TrafficRoutingPhase::Finalizing, &[]));
    let d = sim.step();
    assert_eq!(
        message(&d),
        Some("TrafficRouting tr-demo is restoring its routes: the release waits for it")
    );
    assert!(d.actions().is_empty());

    sim.linked_routing = Some(routing_in(TrafficRoutingPhase::Healthy, &[]));
    let d = sim.step();
    assert_eq!(
        d.actions(),
        [
            Action::Traffic(HOLD.into()),
            Action::UpgradeBatch { planned: 1 }
        ],
        "held before any pod changes"
    );
    assert_eq!(
        routing_finalizers(&d),
        Some(json!(["progressing.rollouts.kruise.io/rollout-demo"]))
    );
    assert_eq!(position(&d), pos(1, 2, StepUpgrade));
}

#[test]
fn the_end_lets_the_trafficrouting_go_and_waits_for_its_routes_before_the_workload() {
    let held = ["progressing.rollouts.kruise.io/rollout-demo"];
    let mut sim = sim_at(
        STEPS,
        1,
        2,
        StepPaused,
        releasing().updated(1, 1).rolled_back(),
    );
    sim.linked_routing = Some(routing_in(TrafficRoutingPhase::Progressing, &held));
    let d = sim.step();
    assert_eq!(d.actions(), [Action::Traffic(LET_GO.into())]);
    assert_eq!(routing_finalizers(&d), Some(json!([])));
    assert_eq!(
        condition_reason(&d, "Progressing"),
        Some(("True", "Cancelling"))
    );

    // Let go, still routing (then restoring): the new pods stay.
    for phase in [
        TrafficRoutingPhase::Progressing,
        TrafficRoutingPhase::Finalizing,
    ] {
        sim.linked_routing = Some(routing_in(phase, &[]));
        let d = sim.step();
        assert!(d.actions().is_empty(), "{phase:?}: {:?}", d.actions());
        assert!(d.requeue_after.is_some());
    }

    sim.linked_routing = Some(routing_in(TrafficRoutingPhase::Healthy, &[]));
    let d = sim.step();
    assert_eq!(d.actions(), [Action::Release { promote: false }]);
    sim.workload = sim.workload.take().map(FactsExt::released);
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
}
