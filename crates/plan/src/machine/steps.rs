//! Normal rolling: the states of one step (upgrade, traffic, pause, approval), step jumps by a
//! patched `nextStepIndex`, plan changes while progressing, and the step deadline.

use super::analysis::{self, Gate};
use super::batch_labels::{label_batches, labelling};
use super::conditions::{condition, messages, remove_condition, set_condition};
use super::model::{Decision, Event, Snapshot};
use super::rollback_in_batch;
use super::stages::{TEARDOWN, run_stages};
use crate::batch::{BatchProgress, is_batch_ready};
use crate::{next_step_index, plan_hash, steps};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use rollouts_api::common::StepState;
use rollouts_api::keys;
use rollouts_api::v1beta1::{AnalysisPhase, CanaryStatus, CanaryStep};
use rollouts_traffic::StepTraffic;
use rollouts_traffic::objects::Revisions;
use rollouts_workload::labels::labelled_pods;
use rollouts_workload::release::Release;
use std::time::Duration;

/// Condition reason when a step's pods miss the deadline.
pub const REASON_DEADLINE: &str = "ProgressDeadlineExceeded";

fn step_replicas(step: &CanaryStep) -> IntOrString {
    step.replicas
        .clone()
        .unwrap_or(IntOrString::String("100%".into()))
}

/// How long a step has waited for its pods, and whether that is past `deadline` seconds: the one
/// rule both the decision and the controller's listing of unready pods follow.
pub(super) fn upgrade_wait(
    common: &rollouts_api::v1beta1::CommonStatus,
    now: Timestamp,
    deadline: i64,
) -> (i64, bool) {
    let waited = seconds_since(common.last_update_time.as_ref(), now);
    (waited, waited > deadline)
}

fn seconds_since(since: Option<&Time>, now: Timestamp) -> i64 {
    since.map_or(0, |t| now.as_second() - t.0.as_second())
}

pub(super) fn run(s: &Snapshot, release: &dyn Release, d: &mut Decision) {
    let workload = release.facts();
    let plan = steps(s.rollout);
    let total = plan.len();
    let Some(mut canary) = d.status.canary_status.take() else {
        return;
    };
    if total == 0 {
        canary.common.current_step_state = Some(StepState::Completed);
        d.status.canary_status = Some(canary);
        return;
    }
    canary.canary_replicas = Some(workload.updated);
    canary.canary_ready_replicas = Some(workload.updated_ready);
    let Some(no_need_update) = rollback_in_batch::no_need_update(s, release) else {
        // A rollback in batches whose marked pods could not be listed: size nothing blind.
        d.status.canary_status = Some(canary);
        d.requeue(Duration::from_secs(1));
        return;
    };
    let batch = Batch {
        release,
        no_need_update,
    };
    if crate::is_blue_green(s.rollout) {
        // Old and new pods side by side: an autoscaler would resize both.
        d.effects
            .extend(s.autoscaler_effects(true).unwrap_or_default());
    }
    if canary
        .common
        .pod_template_hash
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        canary.common.pod_template_hash = Some(workload.pod_template_hash.clone());
    }
    recalculate_after_plan_change(s, &batch, plan, &mut canary);
    jump_if_asked(s, &batch, plan, &mut canary);
    let index = index_of(&canary, total);
    if analysis::hold_failed(s, release, &mut canary, index, d) {
        let paused = canary
            .common
            .analysis
            .as_ref()
            .is_some_and(|a| a.phase == AnalysisPhase::Failed);
        if paused {
            keep_batch_applied(&batch, plan, &canary, d);
        }
        d.status.canary_status = Some(canary);
        return;
    }
    let mut batched = false;
    for _ in 0..8 {
        // A step without traffic runs on a plain Service: tear the routes down first,
        // also when this decision has just entered the step.
        let step_index = index_of(&canary, total) as usize;
        if s.traffic.is_some() && !crate::step_has_traffic(&plan[step_index - 1]) {
            d.status.canary_status = Some(canary);
            if !run_stages(s, d, &TEARDOWN, false) {
                return;
            }
            canary = d.status.canary_status.take().expect("set above");
            canary.common.finalising_step = None;
        }
        if !advance_state(s, &batch, plan, &mut canary, d, &mut batched) {
            break;
        }
    }
    if !batched {
        keep_batch_applied(&batch, plan, &canary, d);
    }
    // Each batch is labelled with the share of the workload its step adds, also in a rollback
    // in batches (where pods already on its revision fill the batches last).
    let planned = || {
        let mut planned: Vec<i32> = Vec::new();
        for step in &plan[..index_of(&canary, total) as usize] {
            let so_far = planned.last().copied().unwrap_or(0);
            planned.push(release.planned(&step_replicas(step), 0).max(so_far));
        }
        planned
    };
    label_batches(s, release, &canary, planned, d);
    d.status.canary_status = Some(canary);
}

/// After its batch is upgraded, a step keeps asking for its planned pods in every later state:
/// when the workload is scaled while the step routes traffic or is paused, the batch follows the
/// new replica count, and the batch's published progress stays current. Applying an unchanged
/// batch changes nothing.
fn keep_batch_applied(batch: &Batch, plan: &[CanaryStep], canary: &CanaryStatus, d: &mut Decision) {
    let upgraded = matches!(
        canary.common.current_step_state,
        Some(
            StepState::StepTrafficRouting | StepState::StepMetricsAnalysis | StepState::StepPaused
        )
    );
    if upgraded {
        let step = &plan[index_of(canary, plan.len()) as usize - 1];
        d.effects.extend(batch.apply(&step_replicas(step)));
    }
}

/// A workload's release with the pods a rollback in batches need not update (0 otherwise).
struct Batch<'a> {
    release: &'a dyn Release,
    no_need_update: i32,
}

impl Batch<'_> {
    /// Pods on the new version `step` asks for.
    fn planned(&self, step: &IntOrString) -> i32 {
        self.release.planned(step, self.no_need_update)
    }

    /// The changes that bring the workload there.
    fn apply(&self, step: &IntOrString) -> Vec<rollouts_change::Effect> {
        self.release.batch(step, self.no_need_update)
    }
}

fn index_of(canary: &CanaryStatus, total: usize) -> i32 {
    canary
        .common
        .current_step_index
        .unwrap_or(1)
        .clamp(1, total as i32)
}

/// Runs one state; `true` when the next state can run at once.
fn advance_state(
    s: &Snapshot,
    batch: &Batch,
    plan: &[CanaryStep],
    canary: &mut CanaryStatus,
    d: &mut Decision,
    batched: &mut bool,
) -> bool {
    let release = batch.release;
    let workload = release.facts();
    let total = plan.len();
    let index = index_of(canary, total);
    let step = &plan[index as usize - 1];
    let common = &mut canary.common;
    let state = common
        .current_step_state
        .unwrap_or(StepState::BeforeStepUpgrade);
    let enter = |common: &mut rollouts_api::v1beta1::CommonStatus, next: StepState| {
        common.current_step_state = Some(next);
        common.last_update_time = Some(Time(s.now));
        true
    };
    match state {
        StepState::BeforeStepUpgrade => {
            let stable = common.stable_revision.as_deref().unwrap_or_default();
            let pin = s
                .traffic
                .filter(|_| index == 1 && crate::step_has_traffic(step) && !stable.is_empty())
                .and_then(|t| t.stable_pin(release.revision_key(), Some(stable)));
            // Before any new pod exists, so new pods never get unrouted traffic.
            d.effects.extend(pin);
            enter(common, StepState::StepUpgrade)
        }
        StepState::StepUpgrade => {
            let replicas = step_replicas(step);
            let planned = batch.planned(&replicas);
            d.effects.extend(batch.apply(&replicas));
            *batched = true;
            let message = messages::upgrading(index, total);
            let progress = BatchProgress {
                desired: planned,
                updated: workload.updated,
                updated_ready: workload.updated_ready,
                failure_threshold: failure_threshold(s),
                labelled: labelling(s, release)
                    .filter(|(_, pods)| !pods.is_empty())
                    .map(|(id, pods)| (labelled_pods(&pods, id), release.planned(&replicas, 0))),
            };
            if !is_batch_ready(&progress) {
                let deadline = s.deadline_seconds();
                let (waited, overdue) = upgrade_wait(common, s.now, deadline);
                let message = if overdue {
                    deadline_exceeded(s, d, index, planned, waited, message)
                } else {
                    // Pods becoming ready wake us; the deadline needs a timer.
                    d.requeue(Duration::from_secs((deadline - waited + 1).max(1) as u64));
                    message
                };
                common.message = Some(message.clone());
                d.status.message = Some(message);
                return false;
            }
            common.message = Some(message.clone());
            d.status.message = Some(message);
            if condition(&d.status, keys::CONDITION_SUCCEEDED)
                .is_some_and(|c| c.reason == REASON_DEADLINE)
            {
                remove_condition(&mut d.status, keys::CONDITION_SUCCEEDED);
            }
            d.events.push(Event {
                warning: false,
                reason: keys::EVENT_STEP_UPGRADED,
                message: format!("upgrade step({index}) canary pods with new versions done"),
            });
            common.pod_template_hash = Some(workload.pod_template_hash.clone());
            enter(common, StepState::StepTrafficRouting)
        }
        StepState::StepTrafficRouting => {
            match route_traffic(s, release, index, total, step, common, d) {
                true => enter(common, StepState::StepMetricsAnalysis),
                false => false,
            }
        }
        StepState::StepMetricsAnalysis => match analysis::gate(s, index, total, common, d) {
            Gate::Open if common.analysis.is_some() => enter(common, StepState::StepPaused),
            // Without analysis the pause counts from the traffic change, as upstream's does.
            Gate::Open => {
                common.current_step_state = Some(StepState::StepPaused);
                true
            }
            Gate::Wait | Gate::Failed => false,
        },
        StepState::StepPaused => {
            // Checks go on during the pause; a failure ends it.
            if analysis::gate(s, index, total, common, d) != Gate::Open {
                return false;
            }
            // A canary's last step at 100% needs no approval; every blue-green step does.
            let last_full = index as usize == total
                && step.replicas == Some(IntOrString::String("100%".into()))
                && !crate::is_blue_green(s.rollout);
            // A step gated by its analysis and without a pause goes on once it passed.
            let analysed_only = common.analysis.is_some()
                && step.pause.is_none()
                && !crate::is_blue_green(s.rollout);
            // An annotation being cleared (a new release started in this decision) is stale.
            let cleared = d.clears_approval();
            let approved = !cleared && s.annotation_approves(index);
            let duration = step.pause.as_ref().and_then(|p| p.duration);
            let waited = seconds_since(common.last_update_time.as_ref(), s.now);
            let done = last_full
                || analysed_only
                || approved
                || duration.is_some_and(|seconds| waited >= i64::from(seconds));
            if done {
                if approved {
                    d.events.push(Event {
                        warning: false,
                        reason: keys::EVENT_STEP_APPROVED,
                        message: format!(
                            "step {index} approved by annotation {}",
                            keys::APPROVED_STEP
                        ),
                    });
                }
                return enter(common, StepState::StepReady);
            }
            let message = match duration {
                None => messages::manual_confirm(index, total),
                Some(seconds) => {
                    let left = (i64::from(seconds) - waited).max(1) as u64;
                    d.requeue(Duration::from_secs(left));
                    messages::wait_duration(index, total, seconds)
                }
            };
            if common.message.as_deref() != Some(message.as_str()) {
                d.events.push(Event {
                    warning: false,
                    reason: keys::EVENT_STEP_PAUSED,
                    message: message.clone(),
                });
            }
            common.message = Some(message.clone());
            d.status.message = Some(message);
            false
        }
        StepState::StepReady => {
            if (index as usize) < total {
                d.events.push(Event {
                    warning: false,
                    reason: keys::EVENT_STEP_UPGRADED,
                    message: format!(
                        "step({index}/{total}) done, entering step({}/{total})",
                        index + 1
                    ),
                });
                common.current_step_index = Some(index + 1);
                common.next_step_index = Some(next_step_index(index + 1, total));
                enter(common, StepState::BeforeStepUpgrade)
            } else {
                common.current_step_state = Some(StepState::Completed);
                false
            }
        }
        StepState::Completed => false,
    }
}

/// Applies the step's traffic; `true` once it is in place and the grace period has passed.
fn route_traffic(
    s: &Snapshot,
    release: &dyn Release,
    index: i32,
    total: usize,
    step: &CanaryStep,
    common: &mut rollouts_api::v1beta1::CommonStatus,
    d: &mut Decision,
) -> bool {
    let (Some(traffic), Some(wanted)) = (s.traffic, StepTraffic::of(step)) else {
        return true;
    };
    if let Some(problem) = traffic.problem() {
        // The missing object's creation wakes us (objects read live are looked at again now
        // and then).
        common.message = Some(problem.clone());
        d.status.message = Some(problem);
        if traffic.reads_unwatched_objects() {
            d.requeue(UNWATCHED_RECHECK);
        }
        return false;
    }
    let routed = converge_traffic(s, traffic, release, &wanted, common, d);
    if routed == Routed::Changed {
        d.events.push(Event {
            warning: false,
            reason: keys::EVENT_TRAFFIC_ROUTING,
            message: format!("step({index}/{total}): {}", describe_traffic(step)),
        });
    }
    routed == Routed::Settled
}

/// How soon a release waiting on traffic objects or scripts that no watch reports looks again.
pub(super) const UNWATCHED_RECHECK: Duration = Duration::from_secs(5);

/// Where routing `wanted` traffic stands after [`converge_traffic`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Routed {
    /// The objects were changed by this decision.
    Changed,
    /// In place, within the grace period of the last change.
    Settling,
    /// In place and the grace period has passed.
    Settled,
    /// A provider cannot compute its change (its script fails): the status says why, and
    /// nothing is changed.
    Blocked,
}

/// Changes the traffic objects towards `wanted` for the release's revisions, and times the
/// grace period from the last change (`common.last_update_time`).
pub(super) fn converge_traffic(
    s: &Snapshot,
    traffic: &rollouts_traffic::objects::TrafficObjects,
    release: &dyn Release,
    wanted: &StepTraffic,
    common: &mut rollouts_api::v1beta1::CommonStatus,
    d: &mut Decision,
) -> Routed {
    let revisions = Revisions {
        key: release.revision_key(),
        stable: common.stable_revision.as_deref().unwrap_or_default(),
        canary: common.pod_template_hash.as_deref().unwrap_or_default(),
    };
    let owner = rollouts_workload::release::owner_reference(s.rollout);
    let changes = match traffic.step_effects(wanted, revisions, &owner) {
        Ok(changes) => changes,
        Err(problem) => {
            common.message = Some(problem.clone());
            d.status.message = Some(problem);
            // A fixed script (a ConfigMap change) is read on the next look.
            d.requeue(UNWATCHED_RECHECK);
            return Routed::Blocked;
        }
    };
    if !changes.is_empty() {
        d.effects.extend(changes);
        common.last_update_time = Some(Time(s.now));
        d.requeue(Duration::from_secs(traffic.grace_seconds.max(1) as u64));
        return Routed::Changed;
    }
    let left = traffic.grace_seconds - seconds_since(common.last_update_time.as_ref(), s.now);
    if left > 0 {
        d.requeue(Duration::from_secs(left as u64));
        return Routed::Settling;
    }
    Routed::Settled
}

/// `weight 20%`, `matches [User-Agent=Android]`, or both.
fn describe_traffic(step: &CanaryStep) -> String {
    let mut parts = Vec::new();
    if let Some(weight) = &step.traffic {
        parts.push(format!("weight {weight}"));
    }
    let headers: Vec<String> = step
        .matches
        .iter()
        .flatten()
        .flat_map(|m| m.headers.iter().flatten())
        .map(|h| format!("{}={}", h.name, h.value))
        .collect();
    if !headers.is_empty() {
        parts.push(format!("matches [{}]", headers.join(", ")));
    }
    parts.join(", ")
}

fn failure_threshold(s: &Snapshot) -> Option<IntOrString> {
    crate::failure_threshold(s.rollout).cloned()
}

/// The step's pods missed the deadline: say which and why, once as an Event.
fn deadline_exceeded(
    s: &Snapshot,
    d: &mut Decision,
    index: i32,
    planned: i32,
    waited: i64,
    upgrading: String,
) -> String {
    let pods = if s.not_ready_pods.is_empty() {
        "no new pod has been created yet".to_string()
    } else {
        format!("not ready: {}", s.not_ready_pods.join(", "))
    };
    let detail = format!(
        "step({index}) wants {planned} ready pod(s) on the new version but they are not ready after {waited}s (deadline {}s); {pods}",
        s.deadline_seconds()
    );
    let known = condition(&d.status, keys::CONDITION_SUCCEEDED)
        .is_some_and(|c| c.reason == REASON_DEADLINE);
    if !known {
        d.events.push(Event::warning(
            keys::EVENT_PROGRESS_DEADLINE_EXCEEDED,
            detail.clone(),
        ));
    }
    set_condition(
        &mut d.status,
        keys::CONDITION_SUCCEEDED,
        false,
        REASON_DEADLINE,
        &detail,
        s.now,
    );
    format!("{upgrading}; {detail}")
}

/// A user patched `nextStepIndex` to another step: go there.
fn jump_if_asked(s: &Snapshot, batch: &Batch, plan: &[CanaryStep], canary: &mut CanaryStatus) {
    let workload = batch.release.facts();
    let total = plan.len();
    let index = index_of(canary, total);
    let expected = next_step_index(index, total);
    let next = canary.common.next_step_index.unwrap_or(expected);
    if next == expected {
        return;
    }
    if next < 1 || next as usize > total {
        canary.common.next_step_index = Some(expected);
        return;
    }
    let planned = batch.planned(&step_replicas(&plan[next as usize - 1]));
    canary.common.current_step_index = Some(next);
    canary.common.next_step_index = Some(next_step_index(next, total));
    canary.common.last_update_time = Some(Time(s.now));
    canary.common.current_step_state = Some(if planned == workload.updated {
        StepState::StepTrafficRouting
    } else {
        StepState::BeforeStepUpgrade
    });
}

/// The steps changed while progressing: continue at the first step (the current one first, if
/// it still exists) that plans at least as many new pods as the current step planned under the
/// old plan (as the pods already updated when the old plan is not known).
fn recalculate_after_plan_change(
    s: &Snapshot,
    batch: &Batch,
    plan: &[CanaryStep],
    canary: &mut CanaryStatus,
) {
    let workload = batch.release.facts();
    let hash = plan_hash(s.rollout);
    let recorded = canary.common.rollout_hash.clone().unwrap_or_default();
    if recorded.is_empty() || recorded == hash {
        return;
    }
    let total = plan.len();
    let current_index = canary.common.current_step_index.unwrap_or(1);
    let reached = crate::recorded_step_replicas(s.rollout)
        .and_then(|old| old.get(current_index.max(1) as usize - 1).cloned())
        .map_or(workload.updated, |replicas| batch.planned(&replicas));
    // The current step goes first while it still exists (the plan may have fewer steps now).
    let current = Some(current_index).filter(|i| (1..=total as i32).contains(i));
    let order = current
        .into_iter()
        .chain((1..=total as i32).filter(|i| Some(*i) != current));
    let mut target = index_of(canary, total);
    for candidate in order {
        target = candidate;
        let planned = batch.planned(&step_replicas(&plan[candidate as usize - 1]));
        if planned >= reached {
            break;
        }
    }
    canary.common.rollout_hash = Some(hash);
    canary.common.last_update_time = Some(Time(s.now));
    if Some(target) == canary.common.next_step_index {
        canary.common.current_step_state = Some(StepState::StepReady);
    } else {
        canary.common.next_step_index = Some(target);
    }
}
