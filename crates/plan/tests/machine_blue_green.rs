//! The step machine on a blue-green Rollout: progress is kept in `blueGreenStatus`, every step
//! waits for approval (also the last at 100%), a newer version mid-release is refused until
//! rolled back, and a successful end waits for the old pods to be replaced.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use machine_support::*;
use rollouts_api::common::{FinalisingStep, RolloutPhase, StepState};
use rollouts_api::v1beta1::BlueGreenStatus;
use rollouts_plan::machine::Decision;
use rollouts_workload::facts::WorkloadFacts;

/// 50% beside the old pods, then all of them; both wait for approval.
const STEPS: &str = "[{replicas: 50%}, {replicas: 100%}]";

/// Releasing `rev-v2` blue-green at step `index` in `state`.
fn blue_green_at(index: i32, state: StepState, workload: WorkloadFacts) -> Sim {
    let mut sim = sim_at(STEPS, index, index + 1, state, workload);
    into_blue_green(&mut sim);
    sim
}

fn autoscaler(target: &str) -> serde_json::Value {
    serde_json::json!({"metadata": {"name": "echoserver", "namespace": "default"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}}})
}

/// The autoscaler target names a decision sets.
fn retargeted(d: &Decision) -> Vec<String> {
    d.effects
        .iter()
        .filter(|e| e.object.resource == rollouts_change::Resource::HORIZONTAL_POD_AUTOSCALER)
        .filter_map(|e| match &e.change {
            rollouts_change::Change::Merge(patch) => patch["spec"]["scaleTargetRef"]["name"]
                .as_str()
                .map(String::from),
            _ => None,
        })
        .collect()
}

fn sub(d: &Decision) -> &BlueGreenStatus {
    assert!(d.status.canary_status.is_none(), "no canaryStatus");
    d.status
        .blue_green_status
        .as_ref()
        .expect("blueGreenStatus")
}

#[test]
fn progress_is_kept_in_the_blue_green_status() {
    let mut sim = blue_green_at(1, StepUpgrade, releasing().updated(5, 5));
    let d = sim.step();
    let status = sub(&d);
    assert_eq!(status.common.current_step_index, Some(1));
    assert_eq!(status.common.current_step_state, Some(StepPaused));
    assert_eq!(
        (status.updated_replicas, status.updated_ready_replicas),
        (Some(5), Some(5))
    );
    assert_eq!(status.updated_revision.as_deref(), Some("rev-v2"));
    assert_eq!(d.status.current_step_state, Some(StepPaused), "the column");
}

#[test]
fn the_last_step_at_100_percent_waits_for_approval_too() {
    let mut sim = blue_green_at(2, StepUpgrade, releasing().updated(10, 10));
    let d = sim.step();
    assert_eq!(sub(&d).common.current_step_state, Some(StepPaused));
    assert_eq!(
        message(&d),
        Some("Rollout is in step(2/2), and you need manually confirm to enter the next step")
    );
    let d = sim.step();
    assert_eq!(sub(&d).common.current_step_state, Some(StepPaused), "still");
}

#[test]
fn a_newer_version_mid_release_is_refused_until_rolled_back() {
    let refused = "new version releasing detected in the progress of blue-green release, please rollback first";
    let v3 = releasing().updated(5, 5).revision("rev-v3", "hash-v3");
    let mut sim = blue_green_at(1, StepPaused, v3);
    for _ in 0..2 {
        let d = sim.step();
        assert_eq!(message(&d), Some(refused));
        assert_eq!(
            condition(&d, "Progressing"),
            Some(("True", "InRolling", refused))
        );
        assert!(d.actions().is_empty(), "nothing moves: {:?}", d.actions());
        assert_eq!(sub(&d).common.current_step_index, Some(1));
        assert_eq!(sub(&d).updated_revision.as_deref(), Some("rev-v2"));
    }
    // The version being released applied again: the release goes on where it was.
    sim.workload = Some(releasing().updated(5, 5));
    let d = sim.step();
    assert_eq!(
        message(&d),
        Some("Rollout is in step(1/2), and you need manually confirm to enter the next step")
    );
    // The stable one: rolled back.
    sim.workload = Some(releasing().updated(5, 5).rolled_back());
    let d = sim.step();
    assert_eq!(
        condition(&d, "Progressing").map(|c| c.1),
        Some("Cancelling")
    );
    assert_eq!(d.actions(), vec![Action::Release { promote: false }]);
}

#[test]
fn success_waits_until_the_workload_has_replaced_the_old_pods() {
    let mut sim = blue_green_at(2, StepReady, releasing().updated(10, 10));
    let d = sim.step();
    assert_eq!(
        condition(&d, "Progressing").map(|c| c.1),
        Some("Finalising")
    );
    assert_eq!(d.actions(), vec![Action::Release { promote: true }]);

    // Settings given back, old pods still there: wait.
    let replacing = WorkloadFacts {
        promoted: false,
        ..releasing().updated(10, 10).released()
    };
    sim.workload = Some(replacing);
    let d = sim.step();
    assert!(d.actions().is_empty());
    assert_eq!(
        sub(&d).common.finalising_step,
        Some(FinalisingStep::ResumeWorkload)
    );
    assert_eq!(d.status.phase, Some(RolloutPhase::Progressing));

    sim.workload = Some(WorkloadFacts {
        promoted: true,
        ..releasing().updated(10, 10).released()
    });
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(condition(&d, "Succeeded").map(|c| c.0), Some("True"));
}

#[test]
fn the_workloads_autoscaler_is_off_during_the_release_and_back_at_its_end() {
    let mut sim = blue_green_at(1, StepUpgrade, releasing().updated(5, 5));
    sim.autoscalers = Some(vec![autoscaler("echoserver")]);
    let d = sim.step();
    assert_eq!(retargeted(&d), vec!["echoserver-DisableByRollout"]);

    sim.autoscalers = Some(vec![autoscaler("echoserver-DisableByRollout")]);
    let d = sim.step();
    assert!(retargeted(&d).is_empty(), "turned off once");

    // Rolled back: the workload is given back, then the autoscaler.
    sim.workload = Some(releasing().updated(5, 5).rolled_back());
    let d = sim.step();
    assert_eq!(
        d.actions().first(),
        Some(&Action::Release { promote: false })
    );
    sim.workload = Some(releasing().rolled_back().released());
    // Not known (the list failed): the release is not over.
    sim.autoscalers = None;
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Progressing));
    assert!(d.requeue_after.is_some());
    sim.autoscalers = Some(vec![autoscaler("echoserver-DisableByRollout")]);
    let d = sim.step();
    assert_eq!(retargeted(&d), vec!["echoserver"]);
    assert_eq!(d.status.phase, Some(RolloutPhase::Progressing));
    assert!(
        d.requeue_after
            .is_some_and(|t| t <= std::time::Duration::from_secs(1)),
        "autoscalers are not watched: look again soon"
    );
    sim.autoscalers = Some(vec![autoscaler("echoserver")]);
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
    assert!(retargeted(&d).is_empty());
}

#[test]
fn autoscalers_are_read_only_while_a_blue_green_release_runs_or_ends() {
    use rollouts_plan::machine::needs_autoscalers;
    let release = |facts| FakeRelease::new(facts, Control::PartitionDeployment);
    let running = blue_green_at(1, StepPaused, releasing());
    assert!(needs_autoscalers(&running.rollout, &release(releasing())));
    // Ending: the marks are gone from the workload, the Rollout still Progressing.
    assert!(needs_autoscalers(
        &running.rollout,
        &release(releasing().released())
    ));
    let mut idle = running.rollout.clone();
    idle.status.as_mut().unwrap().phase = Some(RolloutPhase::Healthy);
    assert!(!needs_autoscalers(&idle, &release(stable_workload())));
    let canary = sim_at(STEPS, 1, 2, StepPaused, releasing());
    assert!(!needs_autoscalers(&canary.rollout, &release(releasing())));
}
