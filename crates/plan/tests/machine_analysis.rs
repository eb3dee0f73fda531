//! Metric analysis in the step machine: when a check is due, passing after the checks a step
//! needs (then going on by itself or waiting for its pause), failing at the limit, no answers,
//! a failure during the pause, the approval that runs the analysis again, and a rollback that
//! takes traffic to the stable version before the pods.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use machine_support::traffic::{apply_traffic, routed};
use machine_support::*;
use rollouts_api::common::StepState;
use rollouts_api::keys;
use rollouts_api::v1beta1::{AnalysisPhase, AnalysisStatus, MetricOutcome};
use rollouts_plan::analysis::verdict::Answer;
use rollouts_plan::machine::{self, Decision, REASON_ANALYSIS_FAILED};
use serde_json::json;

/// Step 1 with traffic (as `pause` says), then 100%.
fn analysed(pause: &str, analysis: serde_json::Value) -> Sim {
    let steps = format!("[{{replicas: 1, traffic: 10%{pause}}}, {{replicas: 100%}}]");
    let mut sim = sim_at(&steps, 1, 2, StepMetricsAnalysis, releasing().updated(1, 1));
    sim.rollout.spec.strategy.canary.as_mut().unwrap().analysis =
        Some(serde_json::from_value(analysis).unwrap());
    let hash = rollouts_plan::plan_hash(&sim.rollout);
    let status = sim.rollout.status.as_mut().unwrap();
    status.canary_status.as_mut().unwrap().common.rollout_hash = Some(hash);
    sim
}

/// Errors at most 5%, checked every 10 s.
fn errors(extra: serde_json::Value) -> serde_json::Value {
    let mut analysis = json!({
        "intervalSeconds": 10,
        "metrics": [{"name": "errors", "max": 0.05,
            "query": "rate(errors{namespace=\"{{namespace}}\",revision=\"{{canaryRevision}}\"}[1m])"}],
    });
    analysis
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    analysis
}

fn analysis(d: &Decision) -> AnalysisStatus {
    d.status
        .canary_status
        .as_ref()
        .and_then(|c| c.common.analysis.clone())
        .expect("an analysis status")
}

fn state(d: &Decision) -> (Option<i32>, Option<StepState>) {
    let common = &d.status.canary_status.as_ref().unwrap().common;
    (common.current_step_index, common.current_step_state)
}

/// Runs the check due at `second` with `answer`, as the controller does, and writes it back.
fn check_at(sim: &mut Sim, second: i64, answer: Answer) -> Decision {
    sim.now = at(second);
    let due = machine::due_check(&sim.rollout, sim.now);
    sim.analysis = due.map(|due| vec![answer; due.queries.len()]);
    let d = sim.step();
    sim.analysis = None;
    d
}

fn reasons(d: &Decision) -> Vec<&str> {
    d.events.iter().map(|e| e.reason).collect()
}

#[test]
fn a_check_is_due_one_interval_after_the_start_then_after_each_check_with_values_filled_in() {
    let mut sim = analysed("", errors(json!({"successfulChecks": 2})));
    let d = sim.step();
    let started = analysis(&d);
    assert_eq!((started.step, started.phase), (1, AnalysisPhase::Running));
    assert_eq!(d.requeue_after, Some(std::time::Duration::from_secs(10)));
    assert!(machine::due_check(&sim.rollout, at(9)).is_none());
    let due = machine::due_check(&sim.rollout, at(10)).expect("due after one interval");
    assert_eq!(
        due.queries,
        vec!["rate(errors{namespace=\"default\",revision=\"hash-v2\"}[1m])"]
    );
    let d = check_at(&mut sim, 10, Answer::Value(0.01));
    assert_eq!(analysis(&d).passed, 1);
    assert_eq!(state(&d), (Some(1), Some(StepMetricsAnalysis)));
    assert!(machine::due_check(&sim.rollout, at(19)).is_none());
    assert!(machine::due_check(&sim.rollout, at(20)).is_some());
    // Not while the step upgrades its pods.
    sim.rollout
        .status
        .as_mut()
        .unwrap()
        .canary_status
        .as_mut()
        .unwrap()
        .common
        .current_step_state = Some(StepUpgrade);
    assert!(machine::due_check(&sim.rollout, at(20)).is_none());
}

#[test]
fn a_step_without_pause_goes_on_by_itself_once_enough_checks_passed() {
    let mut sim = analysed("", errors(json!({"successfulChecks": 2})));
    sim.step();
    let first = check_at(&mut sim, 10, Answer::Value(0.01));
    assert!(!reasons(&first).contains(&keys::EVENT_ANALYSIS_PASSED));
    let d = check_at(&mut sim, 20, Answer::Value(0.02));
    assert!(
        reasons(&d).contains(&keys::EVENT_ANALYSIS_PASSED),
        "{:?}",
        d.events
    );
    assert_eq!(state(&d).0, Some(2), "on to step 2 at once");
    let passed = &d
        .events
        .iter()
        .find(|e| e.reason == keys::EVENT_ANALYSIS_PASSED);
    assert!(passed.unwrap().message.contains("errors 0.02 (<= 0.05)"));
}

#[test]
fn a_step_with_a_pause_waits_for_approval_and_keeps_checking_meanwhile() {
    let mut sim = analysed(", pause: {}", errors(json!({})));
    sim.step();
    let d = check_at(&mut sim, 10, Answer::Value(0.0));
    assert_eq!(state(&d), (Some(1), Some(StepPaused)));
    assert_eq!(analysis(&d).phase, AnalysisPhase::Passed);
    assert!(
        machine::due_check(&sim.rollout, at(20)).is_some(),
        "checks go on"
    );
    let d = check_at(&mut sim, 20, Answer::Value(0.01));
    assert_eq!(state(&d), (Some(1), Some(StepPaused)));
    assert_eq!(analysis(&d).passed, 2);
    annotate(&mut sim.rollout, keys::APPROVED_STEP, "1");
    sim.now = at(25);
    assert_eq!(state(&sim.step()).0, Some(2));
}

#[test]
fn failing_beyond_the_limit_rolls_back_traffic_first_then_pods_and_stays_there() {
    let mut sim = analysed(", pause: {}", errors(json!({"failureLimit": 1})));
    sim.traffic = Some(routed(10, 5));
    sim.step();
    let tolerated = check_at(&mut sim, 10, Answer::Value(0.5));
    assert_eq!(analysis(&tolerated).failed, 1);
    assert_eq!(state(&tolerated), (Some(1), Some(StepMetricsAnalysis)));
    let d = check_at(&mut sim, 20, Answer::Value(0.4));
    let failed = analysis(&d);
    assert_eq!(failed.phase, AnalysisPhase::RolledBack);
    assert_eq!(failed.metrics[0].outcome, MetricOutcome::Failed);
    assert_eq!(failed.metrics[0].value.as_deref(), Some("0.4"));
    assert_eq!(failed.metrics[0].threshold, "<= 0.05");
    let warning = d
        .events
        .iter()
        .find(|e| e.reason == keys::EVENT_ANALYSIS_FAILED);
    let warning = warning.expect("AnalysisFailed event");
    assert!(warning.warning);
    assert!(
        warning
            .message
            .contains("metric errors is 0.4, it must be <= 0.05"),
        "{}",
        warning.message
    );
    let succeeded = machine::condition(&d.status, keys::CONDITION_SUCCEEDED).unwrap();
    assert_eq!(
        (succeeded.status.as_str(), succeeded.reason.as_str()),
        ("False", REASON_ANALYSIS_FAILED)
    );

    // Traffic goes back first; the pods only after the grace period of 5 s.
    sim.now = at(21);
    let d = sim.step();
    assert!(
        d.actions().iter().all(|a| matches!(a, Action::Traffic(_))),
        "{:?}",
        d.actions()
    );
    assert!(!d.actions().is_empty());
    apply_traffic(sim.traffic.as_mut().unwrap(), &d.effects);
    sim.now = at(23);
    assert!(
        !sim.step().actions().contains(&Action::Abort),
        "grace period"
    );
    sim.now = at(27);
    let d = sim.step();
    assert_eq!(d.actions(), vec![Action::Abort]);
    assert!(d.status.message.as_deref().unwrap().contains("rolled back"));
    // Held there: no batch, no approval moves it, no more checks.
    annotate(&mut sim.rollout, keys::APPROVED_STEP, "1");
    sim.now = at(100);
    let d = sim.step();
    assert_eq!(d.actions(), vec![Action::Abort]);
    assert_eq!(state(&d), (Some(1), Some(StepPaused)));
    assert!(machine::due_check(&sim.rollout, at(200)).is_none());
}

#[test]
fn a_failure_during_the_pause_fails_the_release() {
    let mut sim = analysed(", pause: {}", errors(json!({})));
    sim.step();
    check_at(&mut sim, 10, Answer::Value(0.0));
    let d = check_at(&mut sim, 20, Answer::Value(0.9));
    assert_eq!(analysis(&d).phase, AnalysisPhase::RolledBack);
    assert_eq!(state(&d), (Some(1), Some(StepPaused)));
}

#[test]
fn no_answer_counts_against_its_own_limit_and_names_why() {
    let mut sim = analysed("", errors(json!({"inconclusiveLimit": 1})));
    sim.step();
    let d = check_at(&mut sim, 10, Answer::Empty);
    let first = analysis(&d);
    assert_eq!(
        (first.inconclusive, first.phase),
        (1, AnalysisPhase::Running)
    );
    assert_eq!(first.metrics[0].outcome, MetricOutcome::Inconclusive);
    assert_eq!(first.metrics[0].reason.as_deref(), Some("no sample"));
    let d = check_at(&mut sim, 20, Answer::Value(f64::NAN));
    let message = analysis(&d).message.unwrap();
    assert!(
        message.contains("metric errors has no answer (the answer is NaN)"),
        "{message}"
    );
}

#[test]
fn on_failure_pause_holds_the_step_until_an_approval_runs_the_analysis_again() {
    for by_status in [false, true] {
        let mut sim = analysed("", errors(json!({"onFailure": "Pause"})));
        sim.step();
        let d = check_at(&mut sim, 10, Answer::Value(0.3));
        assert_eq!(analysis(&d).phase, AnalysisPhase::Failed);
        assert_eq!(state(&d), (Some(1), Some(StepPaused)));
        sim.now = at(30);
        let held = sim.step();
        assert!(!held.actions().contains(&Action::Abort), "the pods stay");
        assert!(
            held.status
                .message
                .as_deref()
                .unwrap()
                .contains("approve the step to run the analysis again")
        );
        assert!(machine::due_check(&sim.rollout, at(60)).is_none());
        if by_status {
            let canary = sim.rollout.status.as_mut().unwrap();
            canary
                .canary_status
                .as_mut()
                .unwrap()
                .common
                .current_step_state = Some(StepReady);
        } else {
            annotate(&mut sim.rollout, keys::APPROVED_STEP, "1");
        }
        sim.now = at(40);
        let retried = sim.step();
        assert_eq!(state(&retried), (Some(1), Some(StepMetricsAnalysis)));
        let fresh = analysis(&retried);
        assert_eq!(
            (fresh.phase, fresh.passed, fresh.failed),
            (AnalysisPhase::Running, 0, 0)
        );
        assert_eq!(
            retried.actions().contains(&Action::ClearApprovedStep),
            !by_status
        );
        assert!(machine::condition(&retried.status, keys::CONDITION_SUCCEEDED).is_none());
        if !by_status {
            sim.rollout.metadata.annotations = None;
        }
        let d = check_at(&mut sim, 50, Answer::Value(0.0));
        assert_eq!(state(&d).0, Some(2), "passes on the retry");
    }
}

#[test]
fn a_step_that_switches_the_analysis_off_pauses_as_upstream() {
    let mut sim = analysed(", pause: {}", errors(json!({})));
    sim.rollout
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .steps
        .as_mut()
        .unwrap()[0]
        .analysis = Some(serde_json::from_value(json!({"disabled": true})).unwrap());
    let d = sim.step();
    assert_eq!(state(&d), (Some(1), Some(StepPaused)));
    assert!(d.status.canary_status.unwrap().common.analysis.is_none());
}
