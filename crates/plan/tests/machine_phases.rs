//! Phase transitions of the step machine: first sight,
//! entering and finishing a release, delete, disable, rollback, pause, continuous release, and
//! the mirrored step columns.

#[allow(dead_code)]
mod machine_support;

use StepState::*;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use machine_support::*;
use rollouts_api::common::{FinalisingStep, RolloutPhase, StepState};

use rollouts_plan::plan_hash;
use rollouts_workload::facts::WorkloadFacts;
use std::time::Duration;

const PROGRESSING: &str = "Progressing";
const SUCCEEDED: &str = "Succeeded";

fn healthy_after_first_sight() -> Sim {
    let mut sim = Sim::new(rollout(STEPS), Some(stable_workload()));
    sim.step();
    sim
}

#[test]
fn missing_workload_resets_the_status_to_initial_workload_not_found() {
    let progressing = in_step(&rollout(STEPS), 2, 3, StepPaused, at(0));
    for start in [None, Some(progressing)] {
        let mut sim = Sim::new(rollout(STEPS), None);
        sim.rollout.status = start.clone();
        let d = sim.decide();
        assert_eq!(d.status.phase, Some(RolloutPhase::Initial), "{start:?}");
        assert_eq!(message(&d), Some("Workload Not Found"));
        assert_eq!(d.status.canary_status, None);
        assert_eq!(d.status.conditions, None);
        assert_eq!(columns(&d), (None, None));
        assert_eq!(d.status.observed_generation, Some(1));
        assert!(d.actions().is_empty());
    }
}

#[test]
fn initial_becomes_healthy_and_first_sight_synthesizes_a_completed_canary_status() {
    let mut sim = Sim::new(rollout(STEPS), None);
    assert_eq!(sim.step().status.phase, Some(RolloutPhase::Initial));
    sim.workload = Some(stable_workload());
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(message(&d), Some("workload deployment is completed"));
    let c = canary(&d);
    assert_eq!(position(&d), pos(3, -1, Completed));
    assert_eq!(c.common.stable_revision.as_deref(), Some("rev-v1"));
    assert_eq!(c.canary_revision.as_deref(), Some("rev-v1"));
    assert_eq!(c.common.pod_template_hash.as_deref(), Some("hash-v1"));
    assert_eq!(c.common.observed_rollout_id.as_deref(), Some("rev-v1"));
    assert_eq!(c.common.observed_workload_generation, Some(1));
    assert_eq!(c.common.rollout_hash, Some(plan_hash(&sim.rollout)));
    assert!(d.actions().is_empty());

    let again = sim.step();
    assert_eq!(again.status, d.status, "a second look changes nothing");
}

#[test]
fn healthy_workload_in_progressing_starts_step_one_with_the_planned_count_of_its_control() {
    use Control::*;
    // (control, replicas, step 1 replicas, planned)
    let cases = [
        (PartitionDeployment, 10, "50%", 5),
        (PartitionDeployment, 10, "99%", 9), // a percent below 100% never reaches all pods
        (PartitionDeployment, 1, "50%", 1),
        (PartitionDeployment, 10, "100%", 10),
        (PartitionDeployment, 10, "10", 10),
        (StatefulSet, 10, "99%", 10),
        (StatefulSet, 10, "15%", 2),
        (StatefulSet, 4, "30", 4),
        (CanaryDeployment, 10, "15%", 2),
        (CanaryDeployment, 10, "99%", 10),
        (CanaryDeployment, 3, "2", 2),
    ];
    for (control, replicas, step, planned) in cases {
        let steps = format!("[{{replicas: {step}, pause: {{}}}}, {{replicas: 100%}}]");
        let mut sim = Sim::new(rollout(&steps), Some(stable_workload().replicas(replicas)));
        sim.control = control;
        sim.step();
        sim.workload = Some(releasing().replicas(replicas));
        let d = sim.step();
        let case = format!("{control:?} R={replicas} step {step}");
        assert_eq!(d.status.phase, Some(RolloutPhase::Progressing), "{case}");
        assert_eq!(upgrades(&d), vec![planned], "{case}");
        assert_eq!(position(&d), pos(1, 2, StepUpgrade), "{case}");
        assert_eq!(
            condition(&d, PROGRESSING),
            Some(("True", "InRolling", "Rollout is in Progressing")),
            "{case}"
        );
        assert_eq!(
            message(&d),
            Some("Rollout is in step(1/2), and upgrade workload to new version"),
            "{case}"
        );
        assert_eq!(
            canary(&d).canary_revision.as_deref(),
            Some("rev-v2"),
            "{case}"
        );
        assert_eq!(
            canary(&d).common.stable_revision.as_deref(),
            Some("rev-v1"),
            "{case}"
        );
        // Ready pods wake the controller through its watches; only the deadline needs a timer.
        assert_eq!(d.requeue_after, Some(Duration::from_secs(601)), "{case}");
    }
}

#[test]
fn a_new_release_drops_the_succeeded_condition_of_the_last_one() {
    let base = rollout(STEPS);
    let finished = in_step(&base, 3, -1, Completed, at(-60));
    let mut sim =
        Sim::new(base, Some(releasing().updated(10, 10).released())).with_status(finished);
    let done = sim.step();
    assert_eq!(done.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(
        condition_reason(&done, SUCCEEDED),
        Some(("True", "Completed"))
    );

    sim.workload = Some(releasing().revision("rev-v3", "hash-v3"));
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Progressing));
    assert_eq!(condition(&d, SUCCEEDED), None);
    assert_eq!(upgrades(&d), vec![1]);
}

#[test]
fn deletion_releases_the_workload_then_completes_terminating_and_drops_the_finalizer() {
    let mut sim = Sim::new(rollout(STEPS), Some(releasing().updated(1, 1)));
    sim.rollout.status = Some(in_step(&sim.rollout, 1, 2, StepPaused, at(0)));
    sim.rollout.metadata.deletion_timestamp = Some(Time(at(0)));
    sim.rollout.metadata.finalizers = Some(vec![
        "example.com/other".into(),
        "rollouts.kruise.io/rollout".into(),
    ]);
    for _ in 0..2 {
        let d = sim.step();
        assert_eq!(d.status.phase, Some(RolloutPhase::Terminating));
        assert_eq!(message(&d), Some("Rollout is in terminating"));
        assert_eq!(
            condition_reason(&d, "Terminating"),
            Some(("True", "InTerminating"))
        );
        assert_eq!(d.actions(), vec![Action::Release { promote: false }]);
        assert_eq!(d.remove_finalizer, None);
    }
    sim.workload = Some(releasing().updated(1, 1).released());
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Terminating));
    assert_eq!(
        condition_reason(&d, "Terminating"),
        Some(("False", "Completed"))
    );
    assert!(d.actions().is_empty());
    let removal = d.remove_finalizer.expect("the finalizer goes");
    assert_eq!(
        removal.change,
        rollouts_change::Change::Json(serde_json::json!([
            {"op": "test", "path": "/metadata/finalizers/1", "value": "rollouts.kruise.io/rollout"},
            {"op": "remove", "path": "/metadata/finalizers/1"},
        ]))
    );
}

#[test]
fn disabling_a_progressing_rollout_releases_the_workload_then_disables_it() {
    let mut sim = Sim::new(rollout(STEPS), Some(releasing().updated(1, 1)));
    sim.rollout.status = Some(in_step(&sim.rollout, 1, 2, StepPaused, at(0)));
    sim.rollout.spec.disabled = Some(true);
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Disabling));
    assert_eq!(message(&d), Some("Disabling rollout, release resources"));
    assert_eq!(d.actions(), vec![Action::Release { promote: false }]);

    sim.workload = Some(releasing().updated(1, 1).released());
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Disabled));
    assert_eq!(message(&d), Some("Rollout is disabled"));
    assert_eq!(d.status.canary_status, None);
    assert_eq!(columns(&d), (None, None));
    assert_eq!(condition(&d, PROGRESSING), None);
    assert!(d.actions().is_empty());
}

#[test]
fn disabling_a_rollout_without_a_release_disables_it_at_once_and_reenabling_makes_it_healthy() {
    for start in [None, healthy_after_first_sight().rollout.status] {
        let mut sim = Sim::new(rollout(STEPS), Some(stable_workload()));
        sim.rollout.status = start;
        sim.rollout.spec.disabled = Some(true);
        let d = sim.step();
        assert_eq!(d.status.phase, Some(RolloutPhase::Disabled));
        assert_eq!(message(&d), Some("Rollout is disabled"));
        assert!(d.actions().is_empty());
        assert_eq!(sim.step().status, d.status, "Disabled stays Disabled");

        sim.rollout.spec.disabled = Some(false);
        let d = sim.step();
        assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
        assert_eq!(position(&d), pos(3, -1, Completed));
    }
}

#[test]
fn an_unobserved_workload_generation_changes_nothing_until_the_workload_catches_up() {
    let mut sim = Sim::new(rollout(STEPS), Some(releasing().updated(1, 1)));
    let status = in_step(&sim.rollout, 1, 2, StepUpgrade, at(0));
    sim.rollout.status = Some(status.clone());
    sim.workload = Some(releasing().updated(1, 1).unobserved());
    let d = sim.decide();
    assert_eq!(d.status, status);
    assert!(d.actions().is_empty());
    assert!(d.events.is_empty());
    assert_eq!(
        d.requeue_after, None,
        "the workload's status change wakes the controller"
    );
}

#[test]
fn a_release_of_the_stable_version_is_cancelled_before_its_first_step() {
    // The new version was applied and the old one again before the controller looked: the
    // workload is marked for a release, but there is nothing new to release.
    let mut sim = healthy_after_first_sight();
    let completed_before = canary(&sim.decide()).clone();
    sim.workload = Some(WorkloadFacts {
        in_progressing: true,
        released: false,
        ..stable_workload()
    });
    let d = sim.step();
    assert_eq!(
        condition_reason(&d, PROGRESSING),
        Some(("True", "Cancelling"))
    );
    assert_eq!(d.actions(), vec![Action::Release { promote: false }]);
    assert!(upgrades(&d).is_empty(), "no batch of a release of nothing");
    assert_eq!(
        canary(&d).common.current_step_index,
        completed_before.common.current_step_index,
        "the step index does not go back to 1"
    );
    sim.workload = Some(stable_workload());
    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(message(&d), Some("Rollout progressing has been cancelled"));
}

#[test]
fn reapplying_the_stable_version_cancels_the_release_and_ends_not_succeeded() {
    let mut sim = Sim::new(
        rollout(STEPS),
        Some(releasing().updated(1, 1).rolled_back()),
    );
    sim.rollout.status = Some(in_step(&sim.rollout, 1, 2, StepPaused, at(0)));
    let cancelling = "The workload has been rolled back and the rollout process will be cancelled";
    for _ in 0..2 {
        let d = sim.step();
        assert_eq!(
            condition(&d, PROGRESSING),
            Some(("True", "Cancelling", cancelling))
        );
        assert_eq!(message(&d), Some(cancelling));
        assert_eq!(d.actions(), vec![Action::Release { promote: false }]);
        assert!(upgrades(&d).is_empty());
        assert_eq!(canary(&d).canary_revision.as_deref(), Some("rev-v1"));
        assert_eq!(
            canary(&d).common.finalising_step,
            Some(FinalisingStep::ResumeWorkload)
        );
    }
    sim.workload = Some(releasing().rolled_back().released());
    let d = sim.step();
    let canceled = "Rollout progressing has been cancelled";
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(message(&d), Some(canceled));
    assert_eq!(
        condition(&d, PROGRESSING),
        Some(("False", "Completed", canceled))
    );
    assert_eq!(condition_reason(&d, SUCCEEDED).map(|c| c.0), Some("False"));
    assert_eq!(position(&d), pos(3, -1, Completed));
    assert!(d.actions().is_empty());
}

#[test]
fn spec_paused_holds_the_release_at_reason_paused_until_resumed() {
    let paused = "Rollout has been paused, you can resume it by kube-cli";
    let base = rollout(STEPS);
    let fresh = healthy_after_first_sight().rollout.status.unwrap();
    let mid_step = in_step(&base, 2, 3, StepUpgrade, at(0));
    // (start, position while paused, planned after resume)
    let cases = [
        (fresh, pos(1, 2, BeforeStepUpgrade), 1),
        (mid_step, pos(2, 3, StepUpgrade), 5),
    ];
    for (start, paused_at, planned) in cases {
        let mut sim = Sim::new(base.clone(), Some(releasing().updated(1, 1))).with_status(start);
        sim.rollout.spec.strategy.paused = Some(true);
        for _ in 0..2 {
            let d = sim.step();
            assert_eq!(condition(&d, PROGRESSING), Some(("True", "Paused", paused)));
            assert_eq!(message(&d), Some(paused));
            assert_eq!(position(&d), paused_at);
            assert!(upgrades(&d).is_empty());
        }
        sim.rollout.spec.strategy.paused = Some(false);
        let d = sim.step();
        assert_eq!(
            condition_reason(&d, PROGRESSING),
            Some(("True", "InRolling"))
        );
        assert_eq!(upgrades(&d), vec![planned]);
    }
}

#[test]
fn a_newer_version_mid_release_resets_and_restarts_the_plan_at_step_one() {
    let mut sim = Sim::new(rollout(STEPS), Some(releasing().updated(5, 5)));
    sim.rollout.status = Some(in_step(&sim.rollout, 2, 3, StepPaused, at(-60)));
    sim.workload = Some(releasing().revision("rev-v3", "hash-v3").updated(0, 0));
    let d = sim.step();
    let continuous = "Workload is continuous release";
    assert_eq!(d.actions(), vec![Action::ResetRelease]);
    assert_eq!(d.status.canary_status, None);
    assert_eq!(columns(&d), (None, None));
    assert_eq!(
        condition(&d, PROGRESSING),
        Some(("True", "Initializing", continuous))
    );
    assert_eq!(message(&d), Some(continuous));
    assert_eq!(event_reasons(&d), vec!["ContinuousRelease"]);
    assert_eq!(
        d.requeue_after, None,
        "the status write wakes the controller"
    );

    let d = sim.step();
    assert_eq!(d.actions(), vec![Action::UpgradeBatch { planned: 1 }]);
    assert_eq!(position(&d), pos(1, 2, StepUpgrade));
    assert_eq!(canary(&d).canary_revision.as_deref(), Some("rev-v3"));
    assert_eq!(canary(&d).common.stable_revision.as_deref(), Some("rev-v1"));
    assert_eq!(
        condition_reason(&d, PROGRESSING),
        Some(("True", "InRolling"))
    );
}

#[test]
fn completing_the_last_step_finalises_then_reports_success() {
    let mut sim = sim_at(STEPS, 2, 3, StepReady, releasing().updated(10, 10));
    let d = sim.step();
    assert_eq!(position(&d), pos(3, -1, Completed));
    assert_eq!(
        condition_reason(&d, "Progressing"),
        Some(("True", "Finalising"))
    );
    assert_eq!(
        d.actions(),
        vec![
            Action::UpgradeBatch { planned: 10 },
            Action::Release { promote: true }
        ]
    );
    assert_eq!(
        canary(&d).common.finalising_step,
        Some(FinalisingStep::ResumeWorkload)
    );

    let d = sim.step();
    assert_eq!(
        d.actions(),
        vec![Action::Release { promote: true }],
        "until released"
    );

    sim.workload = Some(releasing().updated(10, 10).released());
    let d = sim.step();
    let done = "Rollout progressing has been completed";
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(message(&d), Some(done));
    assert_eq!(
        condition(&d, "Progressing"),
        Some(("False", "Completed", done))
    );
    assert_eq!(
        condition_reason(&d, "Succeeded"),
        Some(("True", "Completed"))
    );
    assert_eq!(canary(&d).common.finalising_step, Some(FinalisingStep::End));
    assert_eq!(position(&d), pos(3, -1, Completed));
    assert!(d.actions().is_empty());
    assert_eq!(d.requeue_after, None);

    let d = sim.step();
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy), "stays Healthy");
    assert!(d.actions().is_empty());
}

#[test]
fn top_level_step_columns_mirror_the_canary_status() {
    let mut status = in_step(&rollout(STEPS), 1, 2, StepUpgrade, at(0));
    status.current_step_index = Some(7);
    status.current_step_state = Some(Completed);
    let mut sim = sim_at(STEPS, 1, 2, StepUpgrade, releasing()).with_status(status);
    let (ready, v3) = (
        releasing().updated(1, 1),
        releasing().revision("rev-v3", "hash-v3"),
    );
    // (workload, approve step 1, expected columns)
    let rounds = [
        (releasing(), false, (Some(1), Some(StepUpgrade))),
        (ready.clone(), false, (Some(1), Some(StepPaused))),
        (ready, true, (Some(2), Some(StepUpgrade))),
        (v3.clone(), true, (None, None)),
        (v3.clone(), true, (Some(1), Some(StepUpgrade))),
    ];
    for (round, (workload, approve, expected)) in rounds.into_iter().enumerate() {
        sim.workload = Some(workload);
        if approve {
            annotate(&mut sim.rollout, "rollouts.kruise.io/approved-step", "1");
        }
        let d = sim.step();
        let sub = d.status.canary_status.as_ref().map(|c| &c.common);
        let mirrored = sub.map_or((None, None), |c| {
            (c.current_step_index, c.current_step_state)
        });
        assert_eq!(columns(&d), mirrored, "round {round}");
        assert_eq!(columns(&d), expected, "round {round}");
    }
    sim.rollout.spec.disabled = Some(true);
    sim.workload = Some(v3.released());
    let d = sim.step();
    assert_eq!(columns(&d), (None, None), "disabled");
}

/// The merge patch of the Rollout's metadata a decision starts with, if any.
fn rollout_metadata_patch(d: &rollouts_plan::machine::Decision) -> Option<serde_json::Value> {
    let first = d.effects.first()?;
    if first.object.resource != rollouts_change::Resource::ROLLOUT {
        return None;
    }
    let rollouts_change::Change::Merge(patch) = &first.change else {
        panic!("a merge patch: {first:?}");
    };
    Some(patch["metadata"].clone())
}

#[test]
fn the_rollout_metadata_is_written_only_when_a_finalizer_or_a_release_plan_must_be_recorded() {
    use serde_json::{Value, json};
    let ours = || Some(vec!["rollouts.kruise.io/rollout".to_string()]);
    let recorded_plan = |sim: &Sim| {
        json!({
            "rollouts.kruise.io/hash": plan_hash(&sim.rollout),
            "rollouts.kruise.io/plan-replicas": r#"[1,"50%","100%"]"#,
        })
    };
    // (case, finalizers, recorded hash annotation, workload releasing, expected finalizers
    // written, plan recorded)
    let cases = [
        (
            "created without the webhook",
            None,
            None,
            false,
            Some(json!(["rollouts.kruise.io/rollout"])),
            false,
        ),
        (
            "created through the webhook",
            ours(),
            None,
            false,
            None,
            false,
        ),
        ("a release starts", ours(), None, true, None, true),
        (
            "a recorded plan went stale",
            ours(),
            Some("old"),
            false,
            None,
            true,
        ),
        (
            "the recorded plan is current",
            ours(),
            Some("current"),
            true,
            None,
            false,
        ),
    ];
    for (case, finalizers, recorded, releasing_now, finalizers_written, plan_recorded) in cases {
        let mut sim = Sim::new(rollout(STEPS), Some(stable_workload()));
        sim.step();
        sim.rollout.metadata.resource_version = Some("41".into());
        sim.rollout.metadata.finalizers = finalizers;
        if let Some(recorded) = recorded {
            let hash = if recorded == "current" {
                plan_hash(&sim.rollout)
            } else {
                recorded.into()
            };
            sim.rollout.metadata.annotations =
                Some([("rollouts.kruise.io/hash".to_string(), hash)].into());
        }
        if releasing_now {
            sim.workload = Some(releasing());
        }
        let d = sim.decide();
        let metadata = rollout_metadata_patch(&d);
        if finalizers_written.is_none() && !plan_recorded {
            assert_eq!(metadata, None, "{case}: the status is the only write");
            continue;
        }
        let metadata = metadata.unwrap_or_else(|| panic!("{case}: a Rollout patch first"));
        assert_eq!(metadata["resourceVersion"], "41", "{case}");
        assert_eq!(
            metadata.get("finalizers").cloned(),
            finalizers_written,
            "{case}"
        );
        let annotations = metadata.get("annotations").cloned().unwrap_or(Value::Null);
        let expected = if plan_recorded {
            recorded_plan(&sim)
        } else {
            Value::Null
        };
        assert_eq!(annotations, expected, "{case}");
    }
}

#[test]
fn a_rollout_whose_failed_analysis_could_not_roll_back_is_not_released() {
    let mut sim = Sim::new(rollout(STEPS), Some(releasing()));
    let analysis = serde_json::json!({"metrics": [{"name": "errors", "query": "q", "max": 1.0}]});
    sim.rollout.spec.strategy.canary.as_mut().unwrap().analysis =
        Some(serde_json::from_value(analysis).unwrap());
    sim.rollout.spec.workload_ref.kind = "DaemonSet".into();
    let d = sim.step();
    assert!(
        message(&d).is_some_and(|m| m.contains("set onFailure: Pause")),
        "{:?}",
        message(&d)
    );
    assert!(d.actions().is_empty(), "the workload is not touched");
    assert_ne!(d.status.phase, Some(RolloutPhase::Progressing));
}
