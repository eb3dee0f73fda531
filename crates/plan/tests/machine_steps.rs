//! The states of one step: upgrade, pause, approval by status patch and by annotation, the last
//! step, step jumps by a patched `nextStepIndex` (upstream's table), plan changes while
//! progressing, and the step deadline.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use machine_support::*;
use rollouts_api::common::{RolloutPhase, StepState};

use rollouts_plan::plan_hash;
use std::time::Duration;

const APPROVED_STEP: &str = "rollouts.kruise.io/approved-step";

fn manual(index: i32, total: i32) -> String {
    format!(
        "Rollout is in step({index}/{total}), and you need manually confirm to enter the next step"
    )
}

fn upgrading(index: i32, total: i32) -> String {
    format!("Rollout is in step({index}/{total}), and upgrade workload to new version")
}

#[test]
fn step_upgrade_waits_for_a_ready_batch_then_pauses_for_manual_approval() {
    let mut sim = sim_at(STEPS, 1, 2, StepUpgrade, releasing());
    for (updated, ready) in [(0, 0), (1, 0)] {
        sim.workload = Some(releasing().updated(updated, ready));
        let d = sim.step();
        assert_eq!(position(&d), pos(1, 2, StepUpgrade), "{updated}/{ready}");
        assert_eq!(d.actions(), vec![Action::UpgradeBatch { planned: 1 }]);
        assert_eq!(
            d.requeue_after,
            Some(Duration::from_secs(601)),
            "the deadline timer"
        );
        assert_eq!(message(&d), Some(upgrading(1, 3).as_str()));
    }
    sim.workload = Some(releasing().updated(1, 1));
    let d = sim.step();
    assert_eq!(position(&d), pos(1, 2, StepPaused));
    assert_eq!(message(&d), Some(manual(1, 3).as_str()));
    assert_eq!(
        canary(&d).common.pod_template_hash.as_deref(),
        Some("hash-v2")
    );
    assert_eq!(
        (canary(&d).canary_replicas, canary(&d).canary_ready_replicas),
        (Some(1), Some(1))
    );
    assert_eq!(event_reasons(&d), vec!["Progressing", "StepPaused"]);
    assert_eq!(
        d.events[0].message,
        "upgrade step(1) canary pods with new versions done"
    );

    let d = sim.step();
    assert_eq!(
        position(&d),
        pos(1, 2, StepPaused),
        "no approval, no progress"
    );
    assert!(d.events.is_empty(), "the pause is announced once");
}

#[test]
fn a_pause_duration_requeues_for_the_time_left_then_starts_the_next_step() {
    let steps =
        "[{replicas: 1, pause: {duration: 60}}, {replicas: 50%, pause: {}}, {replicas: 100%}]";
    let mut sim = sim_at(steps, 1, 2, StepUpgrade, releasing().updated(1, 1));
    let wait = "Rollout is in step(1/3), and wait duration(60 seconds) to enter the next step";
    for (elapsed, left) in [(0, 60), (20, 40), (59, 1)] {
        sim.now = at(elapsed);
        let d = sim.step();
        assert_eq!(position(&d), pos(1, 2, StepPaused), "after {elapsed}s");
        assert_eq!(message(&d), Some(wait));
        assert_eq!(
            d.requeue_after,
            Some(Duration::from_secs(left)),
            "after {elapsed}s"
        );
    }
    sim.now = at(61);
    let d = sim.step();
    assert_eq!(position(&d), pos(2, 3, StepUpgrade));
    assert_eq!(upgrades(&d), vec![5]);
}

#[test]
fn status_patch_to_step_ready_moves_to_the_next_step_upgrade() {
    let mut sim = sim_at(STEPS, 1, 2, StepReady, releasing().updated(1, 1));
    sim.now = at(30);
    let d = sim.step();
    assert_eq!(position(&d), pos(2, 3, StepUpgrade));
    assert_eq!(d.actions(), vec![Action::UpgradeBatch { planned: 5 }]);
    assert_eq!(message(&d), Some(upgrading(2, 3).as_str()));
    let since = since(&d);
    assert_eq!(
        since,
        Some(at(30)),
        "the deadline of step 2 counts from now"
    );
}

#[test]
fn approved_step_annotation_approves_only_the_step_it_names() {
    // (current step, annotation, approved)
    let cases = [
        (1, "1", true),
        (1, " 1 ", true),
        (1, "2", false),
        (2, "1", false),
        (2, "2", true),
        (2, "3", false),
    ];
    for (index, value, approved) in cases {
        let updated = [1, 5][index as usize - 1];
        let mut sim = sim_at(
            STEPS,
            index,
            index + 1,
            StepPaused,
            releasing().updated(updated, updated),
        );
        annotate(&mut sim.rollout, APPROVED_STEP, value);
        let d = sim.step();
        let case = format!("step {index}, annotation {value:?}");
        if approved {
            assert_eq!(
                position(&d),
                (Some(index + 1), Some(next(index + 1)), Some(StepUpgrade)),
                "{case}"
            );
            assert!(event_reasons(&d).contains(&"StepApproved"), "{case}");
        } else {
            assert_eq!(position(&d), pos(index, index + 1, StepPaused), "{case}");
            assert_eq!(message(&d), Some(manual(index, 3).as_str()), "{case}");
        }
    }
}

fn next(index: i32) -> i32 {
    if index < 3 { index + 1 } else { -1 }
}

#[test]
fn a_stale_approval_does_not_carry_over_to_the_next_step() {
    let mut sim = sim_at(STEPS, 1, 2, StepPaused, releasing().updated(1, 1));
    annotate(&mut sim.rollout, APPROVED_STEP, "1");
    sim.step();
    sim.workload = Some(releasing().updated(5, 5));
    let d = sim.step();
    assert_eq!(position(&d), pos(2, 3, StepPaused));
    assert_eq!(message(&d), Some(manual(2, 3).as_str()));
}

#[test]
fn only_a_last_step_of_string_100_percent_completes_without_approval() {
    // (last step, completes)
    let cases = [
        ("{replicas: 100%, pause: {}}", true),
        ("{replicas: 100%}", true),
        ("{replicas: 100%, pause: {duration: 3600}}", true),
        ("{replicas: 10, pause: {}}", false),
        ("{replicas: 99%, pause: {}}", false),
    ];
    for (last, completes) in cases {
        let steps = format!("[{{replicas: 1, pause: {{}}}}, {last}]");
        let mut sim = sim_at(&steps, 1, 2, StepReady, releasing().updated(10, 10));
        sim.control = Control::StatefulSet;
        let d = sim.step();
        if completes {
            assert_eq!(position(&d), pos(2, -1, Completed), "{last}");
            assert_eq!(
                message(&d),
                Some("Rollout has been completed and some closing work is being done"),
                "{last}"
            );
            assert_eq!(
                d.actions().last(),
                Some(&Action::Release { promote: true }),
                "{last}"
            );
        } else {
            assert_eq!(position(&d), pos(2, -1, StepPaused), "{last}");
            assert!(
                message(&d).unwrap().starts_with("Rollout is in step(2/2)"),
                "{last}"
            );
        }
    }
}

/// At step `current` paused since `at(0)` (StatefulSet: plain ceil), decided at `at(30)`.
fn paused_at(steps: &str, current: i32, next: i32, updated: i32) -> Sim {
    let mut sim = sim_at(
        steps,
        current,
        next,
        StepPaused,
        releasing().updated(updated, updated),
    );
    sim.control = Control::StatefulSet;
    sim.now = at(30);
    sim
}

#[test]
fn next_step_index_patch_jumps_forwards_and_backwards_and_invalid_values_are_corrected() {
    // (replicas of the steps, current, patched next, updated, expected position, upgrade)
    // A paused step keeps its batch applied: asking for as many pods as already run changes nothing.
    let cases = [
        ("10% 30% 100%", 1, 3, 1, (3, -1, StepUpgrade), Some(10)),
        ("40% 40% 40%", 1, 3, 4, (3, -1, StepPaused), Some(4)), // target reached: same batch
        ("10% 30% 60%", 3, 1, 6, (1, 2, StepPaused), Some(1)),  // pods are never scaled down
        ("10% 30%", 5, 2, 1, (2, -1, StepUpgrade), Some(3)),    // current out of range
        ("10% 30%", 1, 2, 1, (1, 2, StepPaused), Some(1)),
        ("10% 30%", 1, -1, 1, (1, 2, StepPaused), Some(1)),
        ("10% 30%", 1, 0, 1, (1, 2, StepPaused), Some(1)),
        ("10% 30%", 1, -2, 1, (1, 2, StepPaused), Some(1)),
        ("10% 30%", 1, 5, 1, (1, 2, StepPaused), Some(1)),
    ];
    for (steps, current, patched, updated, (index, next, state), planned) in cases {
        let d = paused_at(&plan(steps), current, patched, updated).step();
        let case = format!("{steps}: {current} -> {patched}, updated {updated}");
        assert_eq!(position(&d), pos(index, next, state), "{case}");
        assert_eq!(upgrades(&d), Vec::from_iter(planned), "{case}");
        let moved = index != current;
        assert_eq!(since(&d), Some(at(if moved { 30 } else { 0 })), "{case}");
    }
}

#[test]
fn a_changed_plan_recalculates_the_step_from_the_pods_already_updated() {
    // (old replicas, current, updated, new replicas, expected position, upgrade)
    #[rustfmt::skip]
    let cases = [
        ("40% 60% 100%", 1, 4, "20% 50% 100%", (2, 3, StepUpgrade), Some(5)),
        ("20% 40% 100%", 1, 2, "40% 60% 100%", (1, 2, StepUpgrade), Some(4)), // re-run, more pods
        ("20% 40% 100%", 2, 4, "40% 60% 100%", (2, 3, StepUpgrade), Some(6)), // current step first
        ("20% 50% 100%", 2, 5, "10% 30% 100%", (3, -1, StepUpgrade), Some(10)),
        // Fewer steps (a v1alpha1 update may do that): step 4 is gone, so the search starts at 1.
        ("20% 40% 60% 80% 100%", 4, 8, "50% 90% 100%", (2, 3, StepUpgrade), Some(9)),
    ];
    for (old, current, updated, new, (index, next, state), planned) in cases {
        let mut sim = paused_at(&plan(old), current, current + 1, updated);
        sim.rollout.spec = rollout(&plan(new)).spec;
        let d = sim.step();
        let case = format!("{old} @{current} -> {new}");
        assert_eq!(position(&d), pos(index, next, state), "{case}");
        assert_eq!(upgrades(&d), Vec::from_iter(planned), "{case}");
        assert_eq!(
            canary(&d).common.rollout_hash,
            Some(plan_hash(&sim.rollout)),
            "{case}"
        );
        assert_eq!(since(&d), Some(at(30)), "{case}");
    }
}

#[test]
fn a_traffic_only_plan_change_reruns_the_current_step_without_upgrading() {
    let mut sim = paused_at("[{replicas: 20%, traffic: 10%}, {replicas: 100%}]", 1, 2, 2);
    sim.rollout.spec = rollout("[{replicas: 20%, traffic: 20%}, {replicas: 100%}]").spec;
    let d = sim.step();
    assert_eq!(position(&d), pos(1, 2, StepPaused));
    assert_eq!(upgrades(&d), vec![2], "the same batch, no new pod");
    assert_eq!(
        canary(&d).common.rollout_hash,
        Some(plan_hash(&sim.rollout))
    );
    assert_eq!(since(&d), Some(at(30)));
}

#[test]
fn a_step_past_its_deadline_names_the_pods_warns_once_and_recovers_when_ready() {
    let pods = vec![
        "echoserver-7d9f-abcde (ImagePullBackOff)".to_string(),
        "echoserver-7d9f-fghij (CrashLoopBackOff)".to_string(),
    ];
    let mut sim = sim_at(STEPS, 2, 3, StepUpgrade, releasing().updated(5, 3));
    sim.not_ready = pods.clone();
    sim.now = at(600);
    let d = sim.step();
    assert_eq!(condition(&d, "Succeeded"), None, "not before the deadline");
    assert_eq!(message(&d), Some(upgrading(2, 3).as_str()));

    sim.now = at(601);
    let d = sim.step();
    let (status, reason, detail) = condition(&d, "Succeeded").expect("deadline condition");
    assert_eq!((status, reason), ("False", "ProgressDeadlineExceeded"));
    let shown = d.status.message.clone().unwrap();
    assert!(shown.starts_with(&upgrading(2, 3)), "{shown}");
    for pod in &pods {
        assert!(detail.contains(pod), "{detail}");
        assert!(shown.contains(pod), "{shown}");
    }
    assert_eq!(warnings(&d), vec!["ProgressDeadlineExceeded"]);
    assert!(d.events[0].message.contains(&pods[0]));
    assert_eq!(position(&d), pos(2, 3, StepUpgrade));
    assert_eq!(d.status.phase, Some(RolloutPhase::Progressing));

    sim.now = at(610);
    let d = sim.step();
    assert!(warnings(&d).is_empty(), "the Warning is not repeated");
    assert_eq!(
        condition_reason(&d, "Succeeded"),
        Some(("False", "ProgressDeadlineExceeded"))
    );

    sim.workload = Some(releasing().updated(5, 5));
    sim.not_ready.clear();
    let d = sim.step();
    assert_eq!(condition(&d, "Succeeded"), None);
    assert_eq!(position(&d), pos(2, 3, StepPaused));
}

#[test]
fn an_approval_left_from_the_last_release_is_cleared_and_ignored_by_the_new_one() {
    // A workload scaled to zero: step 1 is ready at once, in the reconcile that starts the release.
    let mut sim = Sim::new(
        rollout(STEPS),
        Some(stable_workload().replicas(0).updated(0, 0)),
    );
    sim.step();
    annotate(&mut sim.rollout, APPROVED_STEP, "1");
    sim.workload = Some(releasing().replicas(0));
    let d = sim.step();
    assert!(d.actions().contains(&Action::ClearApprovedStep));
    assert_eq!(position(&d), pos(1, 2, StepPaused));
    assert_eq!(message(&d), Some(manual(1, 3).as_str()));
}

#[test]
fn scaling_the_workload_while_a_step_is_paused_resizes_the_batch_and_stays_paused() {
    let steps = "[{replicas: 20%, pause: {}}, {replicas: 40%, pause: {}}, {replicas: 100%}]";
    for control in [
        Control::CanaryDeployment,
        Control::PartitionDeployment,
        Control::StatefulSet,
    ] {
        let mut sim = sim_at(
            steps,
            2,
            3,
            StepPaused,
            releasing().replicas(5).updated(2, 2),
        );
        sim.control = control;
        let d = sim.step();
        assert_eq!(upgrades(&d), vec![2], "{control:?}: the batch as it is");
        sim.workload = Some(releasing().replicas(10).updated(2, 2));
        let d = sim.step();
        assert_eq!(position(&d), pos(2, 3, StepPaused), "{control:?}");
        assert_eq!(upgrades(&d), vec![4], "{control:?}");
        sim.workload = Some(releasing().replicas(10).updated(4, 3));
        let d = sim.step();
        assert_eq!(position(&d), pos(2, 3, StepPaused), "{control:?}");
        assert_eq!(upgrades(&d), vec![4], "{control:?}");
        assert_eq!(canary(&d).canary_replicas, Some(4), "{control:?}");
    }
}

#[test]
fn pods_are_listed_for_the_deadline_message_only_when_an_upgrading_step_is_overdue() {
    use rollouts_plan::machine::step_overdue;
    // (state, seconds since the step started, overdue with a 600 s deadline)
    let cases = [
        (StepUpgrade, 600, false),
        (StepUpgrade, 601, true),
        (StepPaused, 6000, false),
        (StepTrafficRouting, 6000, false),
    ];
    for (state, waited, overdue) in cases {
        let sim = sim_at(STEPS, 1, 2, state, releasing());
        assert_eq!(
            step_overdue(&sim.rollout, at(waited), 600),
            overdue,
            "{state:?} after {waited}s"
        );
    }
}

#[test]
fn a_plan_change_after_a_backward_jump_reruns_the_current_step_of_the_old_plan() {
    // Step 4 ran 4 of 5 pods, then a jump went back to step 3 (pods are never scaled down):
    // the current step planned 3 pods under the old plan, so a plan change keeps step 3.
    let old = "20% 40% 60% 80% 100%";
    let mut sim = paused_at(&plan(old), 3, 4, 4);
    sim.workload = Some(releasing().replicas(5).updated(4, 4));
    annotate(
        &mut sim.rollout,
        "rollouts.kruise.io/plan-replicas",
        r#"["20%","40%","60%","80%","100%"]"#,
    );
    sim.rollout.spec = rollout(&plan("20% 50% 60% 80% 100%")).spec;
    let d = sim.step();
    let (index, _, _) = position(&d);
    assert_eq!(index, Some(3), "{:?}", position(&d));
    // Without the record of the old plan, the pods already updated decide (here: step 4).
    let mut sim = paused_at(&plan(old), 3, 4, 4);
    sim.workload = Some(releasing().replicas(5).updated(4, 4));
    sim.rollout.spec = rollout(&plan("20% 50% 60% 80% 100%")).spec;
    assert_eq!(position(&sim.step()).0, Some(4));
}
