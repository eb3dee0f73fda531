//! Traffic routing in the step machine (reference §4.4, §4.6, §4.8, §5.1, §5.8, §5.10, §8.6):
//! the stable pin before step 1, routing a step and its grace period, tearing traffic down
//! before a step without it, the finalisation orders, a missing traffic object at the start,
//! and continuous release with traffic.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use machine_support::*;
use rollouts_api::common::{FinalisingStep, RolloutPhase, StepState};
use rollouts_plan::machine::{ACTIVE_RECHECK, Action, Decision, TrafficView};
use std::time::Duration;

/// Traffic in every step but the last, which ends the release without traffic.
const TRAFFIC_STEPS: &str = "[{replicas: 1, traffic: 5%, pause: {}}, {replicas: 50%, traffic: 50%, pause: {}}, {replicas: 100%}]";
/// Traffic in step 1 only: step 2 runs on a plain Service.
const MIXED: &str =
    "[{replicas: 1, traffic: 5%, pause: {}}, {replicas: 50%, pause: {}}, {replicas: 100%}]";
/// Traffic up to the end, so finalisation has everything to undo.
const TO_THE_END: &str = "[{replicas: 1, traffic: 5%, pause: {}}, {replicas: 100%, traffic: 100%}]";
const PROBLEM: &str = "Ingress echoserver not found: traffic routing needs it";

/// Nothing of a release on the Services and routes.
fn untouched(grace: i64) -> TrafficView {
    TrafficView {
        grace_seconds: grace,
        stable_unpinned: true,
        routes_restored: true,
        canary_service_gone: true,
        ..TrafficView::default()
    }
}

/// Step `step` routed: stable Service pinned, canary Service and routes in place.
fn routed(step: i32, grace: i64) -> TrafficView {
    TrafficView {
        grace_seconds: grace,
        step_converged: true,
        for_step: step,
        stable_pinned: true,
        ..TrafficView::default()
    }
}

/// Applies the actions of a decision to the view and the workload, as the controller does.
fn apply(sim: &mut Sim, actions: &[Action]) {
    let view = sim.traffic.as_mut().expect("traffic view");
    for action in actions {
        match action {
            Action::PinStableService => (view.stable_pinned, view.stable_unpinned) = (true, false),
            Action::RouteTraffic { step } => *view = routed(*step, view.grace_seconds),
            Action::RestoreStableService => {
                (view.stable_pinned, view.stable_unpinned) = (false, true)
            }
            Action::RouteTrafficToStable => {
                (view.routes_restored, view.step_converged) = (true, false)
            }
            Action::RemoveCanaryService => view.canary_service_gone = true,
            Action::Release { .. } => sim.workload = sim.workload.take().map(FactsExt::released),
            _ => {}
        }
    }
}

/// What a run of decisions did: each action with the second it was decided at, the messages
/// of the Finalising events, and the last decision.
struct Run {
    acted: Vec<(i64, Action)>,
    finalising: Vec<String>,
    last: Decision,
}

/// Decides once a second from `at(0)`, applying every decision, until `stop` says so.
fn drive(sim: &mut Sim, stop: impl Fn(&Decision) -> bool) -> Run {
    let (mut acted, mut finalising) = (Vec::new(), Vec::new());
    for second in 0..60 {
        sim.now = at(second);
        let d = sim.step();
        acted.extend(d.actions.iter().map(|a| (second, a.clone())));
        let events = d.events.iter().filter(|e| e.reason == "Finalising");
        finalising.extend(events.map(|e| e.message.clone()));
        apply(sim, &d.actions);
        if stop(&d) {
            return Run {
                acted,
                finalising,
                last: d,
            };
        }
    }
    panic!("no end after 60 s: {acted:?}");
}

/// The release is over: nothing left to do and nothing to wait for.
fn over(d: &Decision) -> bool {
    d.actions.is_empty() && d.requeue_after.is_none()
}

fn names(stages: &[&str]) -> Vec<String> {
    stages.iter().map(|s| s.to_string()).collect()
}

#[test]
fn step_one_with_traffic_pins_the_stable_service_before_the_first_batch_only_when_unpinned() {
    let (pin, first, second) = (
        Action::PinStableService,
        Action::UpgradeBatch { planned: 1 },
        Action::UpgradeBatch { planned: 5 },
    );
    // (step, stable Service pinned, actions)
    let cases = [
        (1, false, vec![pin, first.clone()]),
        (1, true, vec![first]),
        (2, false, vec![second]), // only step 1 pins; routing a later step pins anyway
    ];
    for (index, pinned, expected) in cases {
        let state = BeforeStepUpgrade;
        let mut sim = sim_at(TRAFFIC_STEPS, index, index + 1, state, releasing());
        sim.traffic = Some(TrafficView {
            stable_pinned: pinned,
            stable_unpinned: !pinned,
            ..untouched(3)
        });
        let d = sim.step();
        let case = format!("step {index}, pinned {pinned}");
        assert_eq!(d.actions, expected, "{case}");
        assert_eq!(position(&d), pos(index, index + 1, StepUpgrade), "{case}");
    }
}

#[test]
fn a_ready_batch_routes_its_step_until_converged_then_waits_the_grace_period_before_pausing() {
    let mut sim = sim_at(TRAFFIC_STEPS, 1, 2, StepUpgrade, releasing().updated(1, 1));
    let route = Action::RouteTraffic { step: 1 };
    let upgrade = Action::UpgradeBatch { planned: 1 };
    let secs = |s| Some(Duration::from_secs(s));
    // (second, view, actions, events, state, lastUpdateTime, requeue); once upgraded, the step
    // keeps its batch applied in every decision (a no-op while nothing changes).
    #[rustfmt::skip]
    let rounds = [
        (0, TrafficView { step_converged: false, ..routed(1, 10) }, vec![upgrade.clone(), route.clone()],
            vec!["Progressing", "TrafficRouting"], StepTrafficRouting, 0, secs(10)),
        (4, routed(2, 10), vec![route, upgrade.clone()], vec!["TrafficRouting"], StepTrafficRouting, 4, secs(10)),
        (5, routed(1, 10), vec![upgrade.clone()], vec![], StepTrafficRouting, 4, secs(9)),
        (13, routed(1, 10), vec![upgrade.clone()], vec![], StepTrafficRouting, 4, secs(1)),
        (14, routed(1, 10), vec![upgrade], vec!["StepPaused"], StepPaused, 14, None),
    ];
    for (second, view, actions, events, state, since_at, requeue) in rounds {
        sim.now = at(second);
        sim.traffic = Some(view);
        let d = sim.step();
        let case = format!("at {second}s");
        assert_eq!(d.actions, actions, "{case}");
        assert_eq!(event_reasons(&d), events, "{case}");
        assert_eq!(position(&d), pos(1, 2, state), "{case}");
        assert_eq!(since(&d), Some(at(since_at)), "{case}");
        assert_eq!(d.requeue_after, requeue, "{case}");
        if let Some(e) = d.events.iter().find(|e| e.reason == "TrafficRouting") {
            assert_eq!(e.message, "step(1/3): weight 5%", "{case}");
        }
    }
}

#[test]
fn grace_zero_goes_on_as_soon_as_the_step_is_routed() {
    // (view, actions, state, requeue)
    let (route, upgrade) = (
        Action::RouteTraffic { step: 1 },
        Action::UpgradeBatch { planned: 1 },
    );
    let cases = [
        (
            routed(0, 0),
            vec![route, upgrade.clone()],
            StepTrafficRouting,
            Some(Duration::from_secs(1)),
        ),
        (routed(1, 0), vec![upgrade], StepPaused, None),
    ];
    for (view, actions, state, requeue) in cases {
        let ready = releasing().updated(1, 1);
        let mut sim = sim_at(TRAFFIC_STEPS, 1, 2, StepTrafficRouting, ready);
        sim.traffic = Some(view.clone());
        let d = sim.step();
        assert_eq!(d.actions, actions, "{view:?}");
        assert_eq!(position(&d), pos(1, 2, state), "{view:?}");
        assert_eq!(d.requeue_after, requeue, "{view:?}");
    }
}

#[test]
fn a_step_without_traffic_tears_traffic_down_one_stage_at_a_time_before_its_batch() {
    // Approved by status patch: the same decision enters step 2.
    let mut sim = sim_at(MIXED, 1, 2, StepReady, releasing().updated(1, 1));
    sim.traffic = Some(routed(1, 5));
    let first = sim.decide();
    assert_eq!(first.actions, vec![Action::RestoreStableService]);
    assert_eq!(position(&first), pos(2, 3, BeforeStepUpgrade));
    assert_eq!(first.requeue_after, Some(ACTIVE_RECHECK));
    assert_eq!(
        canary(&first).common.finalising_step,
        Some(FinalisingStep::RestoreStableService)
    );

    let run = drive(&mut sim, |d| !upgrades(d).is_empty());
    let expected = [
        (0, Action::RestoreStableService),
        (5, Action::RouteTrafficToStable),
        (10, Action::RemoveCanaryService),
        (15, Action::UpgradeBatch { planned: 5 }),
    ];
    assert_eq!(run.acted, expected);
    assert_eq!(
        run.finalising,
        names(&[
            "RestoreStableService",
            "RouteTrafficToStable",
            "RemoveCanaryService"
        ])
    );
    assert_eq!(position(&run.last), pos(2, 3, StepUpgrade));
    assert_eq!(canary(&run.last).common.finalising_step, None);
}

#[test]
fn success_disable_and_delete_undo_traffic_in_success_order_and_rollback_in_its_own() {
    let success_names = names(&[
        "RestoreStableService",
        "RouteTrafficToStable",
        "RemoveCanaryService",
        "ResumeWorkload",
    ]);
    let timeline = |actions: [Action; 4], seconds: [i64; 4]| -> Vec<(i64, Action)> {
        seconds.into_iter().zip(actions).collect()
    };
    let (s1, s2, s3) = (
        Action::RestoreStableService,
        Action::RouteTrafficToStable,
        Action::RemoveCanaryService,
    );
    let release = |promote| Action::Release { promote };
    // Success: the last step completes at once, then each stage after the last one's grace.
    let mut sim = sim_at(TO_THE_END, 2, -1, StepPaused, releasing().updated(10, 10));
    sim.traffic = Some(routed(2, 5));
    let run = drive(&mut sim, over);
    let expected = [s1.clone(), s2.clone(), s3.clone(), release(true)];
    assert_eq!(run.acted, timeline(expected, [0, 5, 10, 15]));
    assert_eq!(run.finalising, success_names);
    assert_eq!(
        condition_reason(&run.last, "Succeeded"),
        Some(("True", "Completed"))
    );
    assert_eq!(run.last.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(
        canary(&run.last).common.finalising_step,
        Some(FinalisingStep::End)
    );

    // Rollback: traffic off the new version first; the workload is not a traffic change.
    let mut sim = sim_at(
        TO_THE_END,
        1,
        2,
        StepPaused,
        releasing().updated(1, 1).rolled_back(),
    );
    sim.traffic = Some(routed(1, 5));
    let run = drive(&mut sim, over);
    let expected = [s2.clone(), release(false), s1.clone(), s3.clone()];
    assert_eq!(run.acted, timeline(expected, [0, 5, 6, 11]));
    let rollback_names = names(&[
        "RouteTrafficToStable",
        "ResumeWorkload",
        "RestoreStableService",
        "RemoveCanaryService",
    ]);
    assert_eq!(run.finalising, rollback_names);
    assert_eq!(
        condition_reason(&run.last, "Succeeded"),
        Some(("False", "Completed"))
    );
    assert_eq!(run.last.status.phase, Some(RolloutPhase::Healthy));

    // Disable and delete: the success order without promotion.
    for deleting in [false, true] {
        let mut sim = sim_at(TO_THE_END, 1, 2, StepPaused, releasing().updated(1, 1));
        sim.traffic = Some(routed(1, 5));
        if deleting {
            sim.rollout.metadata.deletion_timestamp = Some(Time(at(0)));
        } else {
            sim.rollout.spec.disabled = Some(true);
        }
        let run = drive(&mut sim, over);
        let expected = [s1.clone(), s2.clone(), s3.clone(), release(false)];
        assert_eq!(run.acted, timeline(expected, [0, 5, 10, 15]), "{deleting}");
        assert_eq!(run.finalising, success_names, "deleting {deleting}");
        let phase = run.last.status.phase;
        if deleting {
            assert!(run.last.remove_finalizer);
            assert_eq!(phase, Some(RolloutPhase::Terminating));
        } else {
            assert_eq!(phase, Some(RolloutPhase::Disabled));
        }
    }
}

#[test]
fn a_missing_traffic_object_holds_the_release_at_initializing_until_it_exists() {
    let mut sim = Sim::new(rollout(TRAFFIC_STEPS), Some(stable_workload()));
    sim.traffic = Some(untouched(3));
    sim.step();
    sim.workload = Some(releasing());
    sim.traffic = Some(TrafficView {
        problem: Some(PROBLEM.into()),
        ..untouched(3)
    });
    for second in [0, 3, 30] {
        sim.now = at(second);
        let d = sim.step();
        assert_eq!(d.status.phase, Some(RolloutPhase::Progressing));
        assert_eq!(
            condition(&d, "Progressing"),
            Some(("True", "Initializing", PROBLEM)),
            "at {second}s"
        );
        assert_eq!(message(&d), Some(PROBLEM));
        assert!(d.actions.is_empty(), "at {second}s: {:?}", d.actions);
        assert_eq!(d.requeue_after, Some(ACTIVE_RECHECK));
    }
    sim.traffic = Some(untouched(3));
    let d = sim.step();
    let expected = [
        Action::PinStableService,
        Action::UpgradeBatch { planned: 1 },
    ];
    assert_eq!(d.actions, expected);
    assert_eq!(
        condition_reason(&d, "Progressing"),
        Some(("True", "InRolling"))
    );
    assert_eq!(position(&d), pos(1, 2, StepUpgrade));
}

#[test]
fn continuous_release_restores_routes_before_removing_the_canary_service_and_resetting() {
    let mut sim = sim_at(TRAFFIC_STEPS, 2, 3, StepPaused, releasing().updated(5, 5));
    sim.traffic = Some(routed(2, 3));
    sim.workload = Some(releasing().revision("rev-v3", "hash-v3"));
    for second in [0, 1] {
        sim.now = at(second);
        let d = sim.step();
        assert_eq!(
            d.actions,
            vec![Action::RouteTrafficToStable],
            "at {second}s"
        );
        assert_eq!(d.requeue_after, Some(ACTIVE_RECHECK));
        assert_eq!(
            condition_reason(&d, "Progressing"),
            Some(("True", "InRolling"))
        );
        assert_eq!(canary(&d).canary_revision.as_deref(), Some("rev-v2"));
        // One Finalising event for the task, not one per reconcile.
        let expected: Vec<&str> = if second == 0 {
            vec!["Finalising"]
        } else {
            vec![]
        };
        assert_eq!(event_reasons(&d), expected, "at {second}s");
    }
    apply(&mut sim, &[Action::RouteTrafficToStable]);
    // Routes restored at 0s: the canary Service stays until the 3 s grace period has passed.
    sim.now = at(2);
    let d = sim.step();
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(d.requeue_after, Some(std::time::Duration::from_secs(1)));
    sim.now = at(3);
    let d = sim.step();
    assert_eq!(
        d.actions,
        vec![Action::RemoveCanaryService, Action::ResetRelease]
    );
    let continuous = "Workload is continuous release";
    assert_eq!(
        condition(&d, "Progressing"),
        Some(("True", "Initializing", continuous))
    );
    assert_eq!(event_reasons(&d), vec!["ContinuousRelease"]);
    assert_eq!(d.status.canary_status, None);

    // The stable Service stays pinned: the new release needs no new pin.
    apply(&mut sim, &d.actions);
    let d = sim.step();
    assert_eq!(d.actions, vec![Action::UpgradeBatch { planned: 1 }]);
    assert_eq!(canary(&d).canary_revision.as_deref(), Some("rev-v3"));
}
