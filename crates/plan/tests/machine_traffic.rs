//! Traffic routing in the step machine, on real Service and Ingress objects that each
//! decision's effects are applied to: the stable pin before step 1, routing a step and its
//! grace period, tearing traffic down before a step without it, the orders of the endings, a
//! missing traffic object at the start, and continuous release with traffic.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use machine_support::traffic::{apply_traffic, routed, untouched};
use machine_support::*;
use rollouts_api::common::{FinalisingStep, RolloutPhase, StepState};
use rollouts_plan::machine::Decision;
use rollouts_traffic::objects::TrafficObjects;
use serde_json::json;
use std::time::Duration;

/// Traffic in every step but the last, which ends the release without traffic.
const TRAFFIC_STEPS: &str = "[{replicas: 1, traffic: 5%, pause: {}}, {replicas: 50%, traffic: 50%, pause: {}}, {replicas: 100%}]";
/// Traffic in step 1 only: step 2 runs on a plain Service.
const MIXED: &str =
    "[{replicas: 1, traffic: 5%, pause: {}}, {replicas: 50%, pause: {}}, {replicas: 100%}]";
/// Traffic up to the end, so finalisation has everything to undo.
const TO_THE_END: &str = "[{replicas: 1, traffic: 5%, pause: {}}, {replicas: 100%, traffic: 100%}]";
const PROBLEM: &str = "Ingress echoserver not found: traffic routing needs it";

fn traffic(why: &str) -> Action {
    Action::Traffic(why.into())
}
const PIN: &str = "pin the stable Service to the stable pods";
const UNPIN: &str = "unpin the stable Service";
const CANARY_SERVICE: &str = "canary Service selects the new pods";
const ROUTE: &str = "route the step's traffic";
const TO_STABLE: &str = "route all traffic to stable";
const REMOVE_CANARY_SERVICE: &str = "remove the canary Service";

/// The stable Service pinned to `rev-v1`, nothing else.
fn pinned(grace: i64) -> TrafficObjects {
    let mut objects = untouched(grace);
    let pin = objects.stable_pin("pod-template-hash", Some("rev-v1"));
    apply_traffic(&mut objects, &Vec::from_iter(pin));
    objects
}

/// Applies a decision to the traffic objects and the workload, as the controller does.
fn apply(sim: &mut Sim, d: &Decision) {
    apply_traffic(sim.traffic.as_mut().expect("traffic objects"), &d.effects);
    if d.actions()
        .iter()
        .any(|a| matches!(a, Action::Release { .. }))
    {
        sim.workload = sim.workload.take().map(FactsExt::released);
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
        acted.extend(d.actions().into_iter().map(|a| (second, a)));
        let events = d.events.iter().filter(|e| e.reason == "Finalising");
        finalising.extend(events.map(|e| e.message.clone()));
        apply(sim, &d);
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
    d.actions().is_empty() && d.requeue_after.is_none()
}

fn names(stages: &[&str]) -> Vec<String> {
    stages.iter().map(|s| s.to_string()).collect()
}

#[test]
fn step_one_with_traffic_pins_the_stable_service_before_the_first_batch_only_when_unpinned() {
    let (first, second) = (
        Action::UpgradeBatch { planned: 1 },
        Action::UpgradeBatch { planned: 5 },
    );
    // (step, stable Service pinned, actions)
    let cases = [
        (1, false, vec![traffic(PIN), first.clone()]),
        (1, true, vec![first]),
        (2, false, vec![second]), // only step 1 pins; routing a later step pins anyway
    ];
    for (index, is_pinned, expected) in cases {
        let state = BeforeStepUpgrade;
        let mut sim = sim_at(TRAFFIC_STEPS, index, index + 1, state, releasing());
        sim.traffic = Some(if is_pinned { pinned(3) } else { untouched(3) });
        let d = sim.step();
        let case = format!("step {index}, pinned {is_pinned}");
        assert_eq!(d.actions(), expected, "{case}");
        assert_eq!(position(&d), pos(index, index + 1, StepUpgrade), "{case}");
    }
}

#[test]
fn a_ready_batch_routes_its_step_until_converged_then_waits_the_grace_period_before_pausing() {
    let mut sim = sim_at(TRAFFIC_STEPS, 1, 2, StepUpgrade, releasing().updated(1, 1));
    sim.traffic = Some(pinned(10));
    let upgrade = Action::UpgradeBatch { planned: 1 };
    let secs = |s| Some(Duration::from_secs(s));
    // (second, actions, events, state, lastUpdateTime, requeue); once upgraded, the step keeps
    // its batch applied in every decision. Services change first, the route one round later.
    #[rustfmt::skip]
    let rounds = [
        (0, vec![upgrade.clone(), traffic(CANARY_SERVICE)], vec!["Progressing", "TrafficRouting"],
            StepTrafficRouting, 0, secs(10)),
        (4, vec![traffic(ROUTE), upgrade.clone()], vec!["TrafficRouting"], StepTrafficRouting, 4, secs(10)),
        (5, vec![upgrade.clone()], vec![], StepTrafficRouting, 4, secs(9)),
        (13, vec![upgrade.clone()], vec![], StepTrafficRouting, 4, secs(1)),
        (14, vec![upgrade], vec!["StepPaused"], StepPaused, 14, None),
    ];
    for (second, actions, events, state, since_at, requeue) in rounds {
        sim.now = at(second);
        let d = sim.step();
        let case = format!("at {second}s");
        assert_eq!(d.actions(), actions, "{case}");
        assert_eq!(event_reasons(&d), events, "{case}");
        assert_eq!(position(&d), pos(1, 2, state), "{case}");
        assert_eq!(since(&d), Some(at(since_at)), "{case}");
        assert_eq!(d.requeue_after, requeue, "{case}");
        if let Some(e) = d.events.iter().find(|e| e.reason == "TrafficRouting") {
            assert_eq!(e.message, "step(1/3): weight 5%", "{case}");
        }
        apply(&mut sim, &d);
    }
    let ingress = sim.traffic.as_ref().unwrap().routes.as_ref().unwrap()[0]
        .canary_ingress
        .clone()
        .unwrap();
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "5"
    );
}

#[test]
fn grace_zero_goes_on_as_soon_as_the_step_is_routed() {
    let upgrade = Action::UpgradeBatch { planned: 1 };
    // (objects, actions, state, requeue)
    let cases = [
        (
            untouched(0),
            vec![traffic(CANARY_SERVICE), traffic(PIN), upgrade.clone()],
            StepTrafficRouting,
            Some(Duration::from_secs(1)),
        ),
        (routed(5, 0), vec![upgrade], StepPaused, None),
    ];
    for (objects, actions, state, requeue) in cases {
        let ready = releasing().updated(1, 1);
        let mut sim = sim_at(TRAFFIC_STEPS, 1, 2, StepTrafficRouting, ready);
        sim.traffic = Some(objects);
        let d = sim.step();
        assert_eq!(d.actions(), actions, "{state:?}");
        assert_eq!(position(&d), pos(1, 2, state), "{state:?}");
        assert_eq!(d.requeue_after, requeue, "{state:?}");
    }
}

#[test]
fn a_step_without_traffic_tears_traffic_down_one_stage_at_a_time_before_its_batch() {
    // Approved by status patch: the same decision enters step 2.
    let mut sim = sim_at(MIXED, 1, 2, StepReady, releasing().updated(1, 1));
    sim.traffic = Some(routed(5, 5));
    let first = sim.decide();
    assert_eq!(first.actions(), vec![traffic(UNPIN)]);
    assert_eq!(position(&first), pos(2, 3, BeforeStepUpgrade));
    assert_eq!(
        first.requeue_after, None,
        "the Service change wakes the controller"
    );
    assert_eq!(
        canary(&first).common.finalising_step,
        Some(FinalisingStep::RestoreStableService)
    );

    let run = drive(&mut sim, |d| !upgrades(d).is_empty());
    let expected = [
        (0, traffic(UNPIN)),
        (5, traffic(TO_STABLE)),
        (10, traffic(REMOVE_CANARY_SERVICE)),
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
    let objects = sim.traffic.as_ref().unwrap();
    let canary_ingress = &objects.routes.as_ref().unwrap()[0].canary_ingress;
    assert!(canary_ingress.is_none() && objects.canary_service.is_none());
    assert_eq!(
        objects.stable_service.as_ref().unwrap()["spec"]["selector"],
        json!({"app": "echoserver"})
    );
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
        traffic(UNPIN),
        traffic(TO_STABLE),
        traffic(REMOVE_CANARY_SERVICE),
    );
    let release = |promote| Action::Release { promote };
    // Success: the last step completes at once, then each stage after the last one's grace.
    let mut sim = sim_at(TO_THE_END, 2, -1, StepPaused, releasing().updated(10, 10));
    sim.traffic = Some(routed(100, 5));
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
    sim.traffic = Some(routed(5, 5));
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
        sim.traffic = Some(routed(5, 5));
        sim.rollout.metadata.finalizers = Some(vec!["rollouts.kruise.io/rollout".into()]);
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
            assert!(run.last.remove_finalizer.is_some());
            assert_eq!(phase, Some(RolloutPhase::Terminating));
        } else {
            assert_eq!(phase, Some(RolloutPhase::Disabled));
        }
    }
}

#[test]
fn blue_green_success_keeps_the_route_to_the_new_pods_until_the_workload_is_given_back() {
    let release = |promote| Action::Release { promote };
    // All traffic already goes to the new pods (step 2 at 100%); the old ones are replaced by
    // the time the workload is given back.
    let promoted = rollouts_workload::facts::WorkloadFacts {
        promoted: true,
        ..releasing().updated(10, 10)
    };
    let mut sim = sim_at(TO_THE_END, 2, -1, StepReady, promoted);
    into_blue_green(&mut sim);
    sim.traffic = Some(routed(100, 5));
    let run = drive(&mut sim, over);
    let acted: Vec<Action> = run.acted.iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(
        acted,
        vec![
            traffic(UNPIN),
            release(true),
            traffic(TO_STABLE),
            traffic(REMOVE_CANARY_SERVICE)
        ]
    );
    assert_eq!(
        run.finalising,
        names(&[
            "RestoreStableService",
            "ResumeWorkload",
            "RouteTrafficToStable",
            "RemoveCanaryService"
        ]),
        "the route to the new pods was in place already"
    );
    assert_eq!(run.last.status.phase, Some(RolloutPhase::Healthy));

    // From step 1 (5%) straight to the end: all traffic goes to the new pods first.
    let mut sim = sim_at(TO_THE_END, 2, -1, StepReady, releasing().updated(10, 10));
    into_blue_green(&mut sim);
    sim.traffic = Some(routed(5, 5));
    let d = sim.step();
    assert_eq!(d.actions(), vec![traffic(ROUTE)]);
    apply(&mut sim, &d);
    let weight = &sim.traffic.as_ref().unwrap().routes.as_ref().unwrap()[0]
        .canary_ingress
        .as_ref()
        .unwrap()["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"];
    assert_eq!(weight, "100");
}

#[test]
fn blue_green_rollback_takes_traffic_off_the_new_pods_before_they_go() {
    let mut sim = sim_at(
        TO_THE_END,
        1,
        2,
        StepPaused,
        releasing().updated(10, 10).rolled_back(),
    );
    into_blue_green(&mut sim);
    sim.traffic = Some(routed(5, 5));
    let run = drive(&mut sim, over);
    let acted: Vec<Action> = run.acted.iter().map(|(_, a)| a.clone()).collect();
    assert_eq!(
        acted,
        vec![
            traffic(TO_STABLE),
            Action::Release { promote: false },
            traffic(UNPIN),
            traffic(REMOVE_CANARY_SERVICE)
        ]
    );
    assert_eq!(
        condition_reason(&run.last, "Succeeded"),
        Some(("False", "Completed"))
    );
}

#[test]
fn a_missing_traffic_object_holds_the_release_at_initializing_until_it_exists() {
    let mut sim = Sim::new(rollout(TRAFFIC_STEPS), Some(stable_workload()));
    sim.traffic = Some(untouched(3));
    sim.step();
    sim.workload = Some(releasing());
    let mut missing = untouched(3);
    missing.routes.as_mut().unwrap()[0].object = None;
    sim.traffic = Some(missing);
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
        assert!(d.actions().is_empty(), "at {second}s: {:?}", d.actions());
        assert_eq!(
            d.requeue_after, None,
            "the Ingress's creation wakes the controller"
        );
    }
    sim.traffic = Some(untouched(3));
    let d = sim.step();
    let expected = [traffic(PIN), Action::UpgradeBatch { planned: 1 }];
    assert_eq!(d.actions(), expected);
    assert_eq!(
        condition_reason(&d, "Progressing"),
        Some(("True", "InRolling"))
    );
    assert_eq!(position(&d), pos(1, 2, StepUpgrade));
}

#[test]
fn continuous_release_restores_routes_before_removing_the_canary_service_and_resetting() {
    let mut sim = sim_at(TRAFFIC_STEPS, 2, 3, StepPaused, releasing().updated(5, 5));
    sim.traffic = Some(routed(50, 3));
    sim.workload = Some(releasing().revision("rev-v3", "hash-v3"));
    for second in [0, 1] {
        sim.now = at(second);
        let d = sim.step();
        assert_eq!(d.actions(), vec![traffic(TO_STABLE)], "at {second}s");
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
        if second == 1 {
            apply(&mut sim, &d);
        }
    }
    // Routes restored at 0s: the canary Service stays until the 3 s grace period has passed.
    sim.now = at(2);
    let d = sim.step();
    assert!(d.actions().is_empty(), "{:?}", d.actions());
    assert_eq!(d.requeue_after, Some(Duration::from_secs(1)));
    sim.now = at(3);
    let d = sim.step();
    assert_eq!(
        d.actions(),
        vec![traffic(REMOVE_CANARY_SERVICE), Action::ResetRelease]
    );
    let continuous = "Workload is continuous release";
    assert_eq!(
        condition(&d, "Progressing"),
        Some(("True", "Initializing", continuous))
    );
    assert_eq!(event_reasons(&d), vec!["ContinuousRelease"]);
    assert_eq!(d.status.canary_status, None);

    // The stable Service stays pinned: the new release needs no new pin.
    apply(&mut sim, &d);
    let d = sim.step();
    assert_eq!(d.actions(), vec![Action::UpgradeBatch { planned: 1 }]);
    assert_eq!(canary(&d).canary_revision.as_deref(), Some("rev-v3"));
}

#[test]
fn a_failing_route_script_holds_the_step_with_its_error_and_routes_once_fixed() {
    use rollouts_change::Resource;
    use rollouts_script::Script;
    use rollouts_traffic::Provider;
    use rollouts_traffic::objects::Route;
    let route = |source: &str| Route {
        provider: Provider::Custom {
            api_version: "networking.istio.io/v1alpha3".into(),
            kind: "VirtualService".into(),
            name: "vs".into(),
            script: Ok(Script::new(
                "lua.traffic.routing.VirtualService.example",
                source,
            )),
        },
        resource: Some(Resource::new(
            "networking.istio.io/v1alpha3",
            "VirtualService",
            "virtualservices",
        )),
        object: Some(json!({"metadata": {"name": "vs", "namespace": "default"},
            "spec": {"http": [{"route": [{"destination": {"host": "echoserver"}}]}]}})),
        canary_ingress: None,
    };
    let mut sim = sim_at(TRAFFIC_STEPS, 1, 2, StepUpgrade, releasing().updated(1, 1));
    let mut objects = pinned(0);
    objects.routes = Ok(vec![route(
        "local spec = obj.data.spec\nreturn spec.nope.nope",
    )]);
    sim.traffic = Some(objects);
    let services = sim.step();
    assert!(services.actions().contains(&traffic(CANARY_SERVICE)));
    apply(&mut sim, &services);
    for second in [1, 6] {
        sim.now = at(second);
        let d = sim.step();
        assert!(
            !d.actions().contains(&traffic(ROUTE)),
            "no route change: {:?}",
            d.actions()
        );
        assert_eq!(position(&d), pos(1, 2, StepTrafficRouting));
        assert!(
            message(&d)
                .is_some_and(|m| m
                    .starts_with("Lua script lua.traffic.routing.VirtualService.example line 2:")),
            "{:?}",
            message(&d)
        );
        assert_eq!(d.requeue_after, Some(Duration::from_secs(5)));
        apply(&mut sim, &d);
    }
    sim.traffic.as_mut().unwrap().routes = Ok(vec![route("return obj.data")]);
    sim.now = at(11);
    let d = sim.step();
    assert!(d.actions().contains(&traffic(ROUTE)), "{:?}", d.actions());
}

#[test]
fn a_rollback_waits_for_routes_it_could_not_read_before_giving_the_workload_back() {
    let mut sim = sim_at(
        TRAFFIC_STEPS,
        1,
        3,
        StepPaused,
        releasing().updated(1, 1).rolled_back(),
    );
    sim.traffic = Some(routed(5, 5));
    let readable = sim.traffic.as_ref().unwrap().routes.clone();
    sim.traffic.as_mut().unwrap().routes = Err("could not read VirtualService d/vs".into());
    for second in [0, 5, 10] {
        sim.now = at(second);
        let d = sim.step();
        assert_eq!(d.actions(), Vec::<Action>::new(), "at {second}s");
        assert_eq!(
            canary(&d).common.finalising_step,
            Some(FinalisingStep::FinalisingStepRouteTrafficToStable)
        );
        assert_eq!(d.requeue_after, Some(Duration::from_secs(5)));
        apply(&mut sim, &d);
    }
    sim.traffic.as_mut().unwrap().routes = readable;
    sim.now = at(15);
    let d = sim.step();
    assert_eq!(d.actions(), vec![traffic(TO_STABLE)]);
}
