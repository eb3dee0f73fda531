//! A step's metric analysis inside the step machine: when a check is due (the controller then
//! queries Prometheus and hands the answers in through the snapshot), what a check adds to the
//! step's tally, and what a failed analysis does: pause for approval (which checks again) or take
//! traffic and pods back to the stable version while the workload stays frozen.

use super::conditions::{remove_condition, set_condition};
use super::model::{Decision, Event, Snapshot};
use super::steps::{Routed, converge_traffic};
use crate::analysis::verdict::{Answer, Check, QueryValues, Tally, Verdict, count, fill, judge};
use crate::analysis::{StepAnalysis, for_step};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::keys;
use rollouts_api::v1beta1::{
    AnalysisFailurePolicy, AnalysisMetric, AnalysisPhase, AnalysisStatus, CanaryStatus,
    CommonStatus, MetricOutcome, MetricResult, Rollout,
};
use rollouts_traffic::StepTraffic;
use rollouts_workload::release::Release;
use std::time::Duration;

/// Condition reason (on `Succeeded`) when a step's analysis failed.
pub const REASON_ANALYSIS_FAILED: &str = "AnalysisFailed";

/// A check the controller should run now.
#[derive(Clone, Debug, PartialEq)]
pub struct DueCheck {
    /// The step it belongs to.
    pub step: i32,
    /// The analysis the step runs with.
    pub analysis: StepAnalysis,
    /// Each metric's query with the release's values filled in, in the metrics' order.
    pub queries: Vec<String>,
}

/// The analysis of the current step as recorded, when it belongs to that step.
fn recorded(common: &CommonStatus) -> Option<&AnalysisStatus> {
    let index = common.current_step_index?;
    common.analysis.as_ref().filter(|a| a.step == index)
}

/// When the next check of `recorded` is due: one interval after the last (or the start).
fn next_check(recorded: &AnalysisStatus, interval_seconds: i32) -> Option<Timestamp> {
    let since = recorded
        .last_check_time
        .as_ref()
        .or(recorded.start_time.as_ref())?;
    since
        .0
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(
            i64::from(interval_seconds).max(1),
        ))
        .ok()
}

/// The check of `rollout`'s current step that is due at `now`, if any: while the step runs its
/// analysis or is paused after it passed.
pub fn due_check(rollout: &Rollout, now: Timestamp) -> Option<DueCheck> {
    let status = rollout.status.as_ref()?;
    if status.phase != Some(RolloutPhase::Progressing)
        || rollout.metadata.deletion_timestamp.is_some()
    {
        return None;
    }
    let common = super::sub_status::common(status)?;
    let running = matches!(
        common.current_step_state,
        Some(StepState::StepMetricsAnalysis | StepState::StepPaused)
    );
    let recorded = recorded(common).filter(|_| running)?;
    if !matches!(
        recorded.phase,
        AnalysisPhase::Running | AnalysisPhase::Passed
    ) {
        return None;
    }
    let analysis = for_step(rollout, recorded.step as usize)?;
    if next_check(recorded, analysis.interval_seconds)? > now {
        return None;
    }
    let values = QueryValues {
        namespace: rollout.metadata.namespace.as_deref().unwrap_or_default(),
        workload: &rollout.spec.workload_ref.name,
        rollout: rollout.metadata.name.as_deref().unwrap_or_default(),
        stable_revision: common.stable_revision.as_deref().unwrap_or_default(),
        canary_revision: common.pod_template_hash.as_deref().unwrap_or_default(),
        step: recorded.step,
    };
    let queries = analysis
        .metrics
        .iter()
        .map(|m| fill(&m.query, &values))
        .collect();
    Some(DueCheck {
        step: recorded.step,
        analysis,
        queries,
    })
}

/// Whether the current step's analysis failed and took the release back to the stable version.
pub fn rolled_back(rollout: &Rollout) -> bool {
    rollout
        .status
        .as_ref()
        .and_then(super::sub_status::common)
        .and_then(recorded)
        .is_some_and(|a| a.phase == AnalysisPhase::RolledBack)
}

/// What the analysis lets the step do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// No analysis, or it passed: the step goes on.
    Open,
    /// More checks needed.
    Wait,
    /// It failed (handled by [`hold_failed`] from the next decision on).
    Failed,
}

/// In `StepMetricsAnalysis` and `StepPaused`: starts the step's analysis, counts the check the
/// controller ran (the snapshot's answers), and says whether the step may go on.
pub(super) fn gate(
    s: &Snapshot,
    index: i32,
    total: usize,
    common: &mut CommonStatus,
    d: &mut Decision,
) -> Gate {
    let Some(analysis) = for_step(s.rollout, index as usize) else {
        common.analysis = None;
        return Gate::Open;
    };
    let mut status = recorded(common).cloned().unwrap_or_else(|| AnalysisStatus {
        step: index,
        start_time: Some(Time(s.now)),
        ..AnalysisStatus::default()
    });
    let due = next_check(&status, analysis.interval_seconds).is_some_and(|at| at <= s.now);
    if let Some(answers) = s.analysis.filter(|_| due) {
        let check = judge(&analysis.metrics, answers);
        status.metrics = results(&analysis.metrics, answers);
        status.last_check_time = Some(Time(s.now));
        let tally = Tally {
            passed: status.passed,
            failed: status.failed,
            inconclusive: status.inconclusive,
        };
        let (tally, verdict) = count(&analysis, tally, &check);
        (status.passed, status.failed, status.inconclusive) =
            (tally.passed, tally.failed, tally.inconclusive);
        match verdict {
            Verdict::Passed if status.phase == AnalysisPhase::Running => {
                status.phase = AnalysisPhase::Passed;
                d.events.push(Event::normal(
                    keys::EVENT_ANALYSIS_PASSED,
                    format!(
                        "step({index}/{total}) analysis passed after {} check(s): {}",
                        status.passed + status.failed + status.inconclusive,
                        describe(&status.metrics)
                    ),
                ));
            }
            Verdict::Failed(why) => {
                fail(s, index, total, &analysis, &mut status, why, d);
                common.analysis = Some(status);
                common.current_step_state = Some(StepState::StepPaused);
                common.last_update_time = Some(Time(s.now));
                return Gate::Failed;
            }
            _ => {}
        }
    }
    if let Some(at) = next_check(&status, analysis.interval_seconds) {
        let left = (at.as_second() - s.now.as_second()).max(1);
        d.requeue(Duration::from_secs(left as u64));
    }
    let gate = match status.phase {
        AnalysisPhase::Passed => Gate::Open,
        _ => Gate::Wait,
    };
    if gate == Gate::Wait {
        let message = format!(
            "step({index}/{total}) metric analysis: {} of {} passing check(s), {} failed, {} without answer",
            status.passed, analysis.successful_checks, status.failed, status.inconclusive
        );
        common.message = Some(message.clone());
        d.status.message = Some(message);
    }
    common.analysis = Some(status);
    gate
}

/// The analysis failed: record why, as a condition and a Warning Event, and what happens next.
fn fail(
    s: &Snapshot,
    index: i32,
    total: usize,
    analysis: &StepAnalysis,
    status: &mut AnalysisStatus,
    why: String,
    d: &mut Decision,
) {
    status.phase = match analysis.on_failure {
        AnalysisFailurePolicy::Rollback => AnalysisPhase::RolledBack,
        AnalysisFailurePolicy::Pause => AnalysisPhase::Failed,
    };
    let detail = format!("step({index}/{total}) metric analysis failed: {why}");
    status.message = Some(detail.clone());
    d.events
        .push(Event::warning(keys::EVENT_ANALYSIS_FAILED, detail.clone()));
    set_condition(
        &mut d.status,
        keys::CONDITION_SUCCEEDED,
        false,
        REASON_ANALYSIS_FAILED,
        &detail,
        s.now,
    );
}

/// Every metric's last answer as recorded in the status.
fn results(metrics: &[AnalysisMetric], answers: &[Answer]) -> Vec<MetricResult> {
    metrics
        .iter()
        .enumerate()
        .map(|(i, metric)| {
            let answer = answers.get(i);
            let check = judge(
                std::slice::from_ref(metric),
                answer.map(std::slice::from_ref).unwrap_or_default(),
            );
            let (outcome, reason) = match check {
                Check::Passed => (MetricOutcome::Passed, None),
                Check::Failed { .. } => (MetricOutcome::Failed, None),
                Check::Inconclusive { reason, .. } => (MetricOutcome::Inconclusive, Some(reason)),
            };
            MetricResult {
                name: metric.name.clone(),
                value: match answer {
                    Some(Answer::Value(value)) => Some(value.to_string()),
                    _ => None,
                },
                threshold: threshold(metric),
                outcome,
                reason,
            }
        })
        .collect()
}

/// `>= 0.9`, `<= 0.05`, or both.
pub fn threshold(metric: &AnalysisMetric) -> String {
    let min = metric.min.map(|m| format!(">= {m}"));
    let max = metric.max.map(|m| format!("<= {m}"));
    min.into_iter().chain(max).collect::<Vec<_>>().join(" and ")
}

/// `error-rate 0.01 (<= 0.05), latency 0.2 (<= 0.5)`.
fn describe(metrics: &[MetricResult]) -> String {
    metrics
        .iter()
        .map(|m| {
            let value = match m.value.as_deref().map(str::parse::<f64>) {
                Some(Ok(value)) => crate::analysis::verdict::short(value),
                Some(Err(_)) => m.value.clone().unwrap_or_default(),
                None => "no answer".into(),
            };
            format!("{} {value} ({})", m.name, m.threshold)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A step whose analysis failed: holds it there. Rolled back: traffic to the stable version
/// first, then the pods, kept so on every decision. Failed with `onFailure: Pause`: waits until
/// the step is approved (annotation or status), which starts the analysis again. `false` when
/// the step's analysis has not failed (the step runs as usual).
pub(super) fn hold_failed(
    s: &Snapshot,
    release: &dyn Release,
    canary: &mut CanaryStatus,
    index: i32,
    d: &mut Decision,
) -> bool {
    let common = &mut canary.common;
    let Some(status) = recorded(common).cloned() else {
        return false;
    };
    let detail = status.message.clone().unwrap_or_default();
    let message = match status.phase {
        AnalysisPhase::Running | AnalysisPhase::Passed => return false,
        AnalysisPhase::RolledBack => {
            common.current_step_state = Some(StepState::StepPaused);
            if !back_to_stable(s, release, common, d) {
                format!("{detail}; routing all traffic back to the stable version")
            } else {
                format!(
                    "{detail}; rolled back: traffic and pods are on the stable version and the workload stays frozen until the stable version or a newer one is applied"
                )
            }
        }
        AnalysisPhase::Failed => {
            let approved = common.current_step_state == Some(StepState::StepReady)
                || s.annotation_approves(index);
            if approved {
                retry(s, index, common, d);
                return false;
            }
            common.current_step_state = Some(StepState::StepPaused);
            format!(
                "{detail}; paused: approve the step to run the analysis again, or apply the stable version to roll back"
            )
        }
    };
    common.message = Some(message.clone());
    d.status.message = Some(message);
    true
}

/// An approved step whose analysis failed: its analysis starts again from no checks.
fn retry(s: &Snapshot, index: i32, common: &mut CommonStatus, d: &mut Decision) {
    common.analysis = Some(AnalysisStatus {
        step: index,
        start_time: Some(Time(s.now)),
        ..AnalysisStatus::default()
    });
    common.current_step_state = Some(StepState::StepMetricsAnalysis);
    common.last_update_time = Some(Time(s.now));
    // The approval is spent on the retry; the pause after a passing analysis needs another.
    d.clear_approval(s.rollout);
    remove_condition(&mut d.status, keys::CONDITION_SUCCEEDED);
    d.events.push(Event::normal(
        keys::EVENT_STEP_APPROVED,
        format!("step {index} approved: its metric analysis starts again"),
    ));
}

/// All traffic to the stable version, then every pod back on it; `true` once traffic is there
/// (the pods follow in the same decision).
fn back_to_stable(
    s: &Snapshot,
    release: &dyn Release,
    common: &mut CommonStatus,
    d: &mut Decision,
) -> bool {
    if let Some(traffic) = s.traffic.filter(|t| t.problem().is_none()) {
        let none = StepTraffic {
            weight: Some(0),
            ..StepTraffic::default()
        };
        // The new pods go once the routes have had their grace period.
        if converge_traffic(s, traffic, release, &none, common, d) != Routed::Settled {
            return false;
        }
    }
    d.effects
        .extend(release.abort(s.pods).into_iter().flatten());
    true
}
