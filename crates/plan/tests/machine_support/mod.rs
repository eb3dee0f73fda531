//! Builders shared by the step-machine tests: a Rollout from YAML, workload facts, a status
//! in the middle of a release, a release double that turns each change into a readable
//! [`Action`], and a loop that feeds each decision's status back in, as the controller does.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use rollouts_api::common::{RolloutCondition, RolloutPhase, StepState};
use rollouts_api::v1beta1::{CanaryStatus, CommonStatus, Rollout, RolloutStatus};
use rollouts_change::{Change, Effect, ObjectKey, Resource};
use rollouts_plan::analysis::verdict::Answer;
use rollouts_plan::machine::{self, Decision, Snapshot};
use rollouts_plan::plan_hash;
use rollouts_plan::traffic_routing::LinkedRouting;
use rollouts_traffic::objects::TrafficObjects;
use rollouts_workload::batch;
use rollouts_workload::facts::WorkloadFacts;
use rollouts_workload::labels::PodLabels;
use rollouts_workload::release::Release;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub mod traffic;

/// How the release double counts a step's pods: as the real release of each kind does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// A Deployment replaced in place.
    PartitionDeployment,
    /// A Deployment next to an extra canary Deployment.
    CanaryDeployment,
    /// A StatefulSet through its partition.
    StatefulSet,
}

/// What a decision asked of the workload or the Rollout, read back from its effects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Bring the workload to `planned` new pods.
    UpgradeBatch { planned: i32 },
    /// Drop the old release's objects (a newer version arrived).
    ResetRelease,
    /// Give the workload back (`promote` on success).
    Release { promote: bool },
    /// Remove the `approved-step` annotation.
    ClearApprovedStep,
    /// Bring every pod back to the stable version while frozen (a failed analysis).
    Abort,
    /// A change of a traffic object, by its reason.
    Traffic(String),
}

/// The workload key every double uses.
pub fn workload_key() -> ObjectKey {
    ObjectKey::new(Resource::DEPLOYMENT, "default", "echoserver")
}

/// A release whose facts are given and whose changes say what they ask for.
pub struct FakeRelease {
    pub facts: WorkloadFacts,
    pub control: Control,
    key: ObjectKey,
}

impl FakeRelease {
    pub fn new(facts: WorkloadFacts, control: Control) -> Self {
        Self {
            facts,
            control,
            key: workload_key(),
        }
    }
}

impl Release for FakeRelease {
    fn object(&self) -> &ObjectKey {
        &self.key
    }
    fn facts(&self) -> &WorkloadFacts {
        &self.facts
    }
    fn planned(&self, step: &IntOrString, no_need_update: i32) -> i32 {
        let replicas = self.facts.replicas;
        match self.control {
            Control::PartitionDeployment => batch::deployment_updated_limit(step, replicas),
            Control::CanaryDeployment => {
                batch::canary_deployment_replicas(step, replicas, replicas)
            }
            Control::StatefulSet => batch::updated_after(step, replicas, no_need_update),
        }
    }
    fn batch(&self, step: &IntOrString, no_need_update: i32) -> Vec<Effect> {
        let planned = self.planned(step, no_need_update);
        vec![Effect::merge(
            self.key.clone(),
            json!({"batch": planned}),
            "batch",
        )]
    }
    fn rolls_back_in_batches(&self) -> bool {
        self.control == Control::StatefulSet
    }
    fn abort(&self, _pods: Option<&[PodLabels]>) -> Option<Vec<Effect>> {
        Some(vec![Effect::merge(
            self.key.clone(),
            json!({"abort": true}),
            "abort",
        )])
    }
    fn reset(&self) -> Vec<Effect> {
        let canary = ObjectKey::new(Resource::DEPLOYMENT, "default", "echoserver-old");
        vec![Effect::delete(canary, "reset")]
    }
    fn finish(&self, promote: bool) -> Vec<Effect> {
        vec![Effect::merge(
            self.key.clone(),
            json!({"finish": promote}),
            "finish",
        )]
    }
    fn revision_key(&self) -> &'static str {
        match self.control {
            Control::StatefulSet => "controller-revision-hash",
            _ => "pod-template-hash",
        }
    }
    fn pod_selector(&self) -> BTreeMap<String, String> {
        BTreeMap::from([("app".to_string(), "echoserver".to_string())])
    }
    fn label(&self) -> Option<Effect> {
        None
    }
}

/// The effects of a decision as actions (the Rollout's finalizer and plan hash left out).
pub fn actions_of(effects: &[Effect]) -> Vec<Action> {
    effects
        .iter()
        .filter_map(|e| match (&e.object.resource, &e.change) {
            (&Resource::ROLLOUT, Change::Merge(patch)) => patch
                .pointer("/metadata/annotations/rollouts.kruise.io~1approved-step")
                .filter(|v| v.is_null())
                .map(|_| Action::ClearApprovedStep),
            (_, Change::Merge(patch)) if e.object == workload_key() => {
                if let Some(planned) = patch.get("batch").and_then(Value::as_i64) {
                    Some(Action::UpgradeBatch {
                        planned: planned as i32,
                    })
                } else if patch.get("abort").is_some() {
                    Some(Action::Abort)
                } else {
                    let promote = patch.get("finish").and_then(Value::as_bool)?;
                    Some(Action::Release { promote })
                }
            }
            (&Resource::DEPLOYMENT, Change::Delete) => Some(Action::ResetRelease),
            _ => Some(Action::Traffic(e.why.clone())),
        })
        .collect()
}

/// Reads a decision's effects as [`Action`]s.
pub trait Actions {
    fn actions(&self) -> Vec<Action>;
}

impl Actions for Decision {
    fn actions(&self) -> Vec<Action> {
        actions_of(&self.effects)
    }
}

/// Seconds since the epoch of the fixed `now` (2024-05-01T12:00:00Z).
const BASE: i64 = 1_714_564_800;

/// The fixed `now`, moved by `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_second(BASE + seconds).unwrap()
}

/// Three steps: 1 pod and 50% wait for approval, then 100%.
pub const STEPS: &str = "[{replicas: 1, pause: {}}, {replicas: 50%, pause: {}}, {replicas: 100%}]";

/// A Rollout of Deployment `echoserver` with `steps` (a YAML flow sequence).
pub fn rollout(steps: &str) -> Rollout {
    let yaml = format!(
        "apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: rollout-demo
  namespace: default
  generation: 1
spec:
  workloadRef: {{apiVersion: apps/v1, kind: Deployment, name: echoserver}}
  strategy:
    canary:
      steps: {steps}
"
    );
    serde_yaml::from_str(&yaml).unwrap()
}

/// Sets an annotation on the Rollout.
pub fn annotate(rollout: &mut Rollout, key: &str, value: &str) {
    rollout
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(key.into(), value.into());
}

/// A workload of 10 pods fully on `rev-v1`, nothing of a release on it.
pub fn stable_workload() -> WorkloadFacts {
    WorkloadFacts {
        replicas: 10,
        generation_observed: true,
        generation: 1,
        stable_revision: "rev-v1".into(),
        canary_revision: "rev-v1".into(),
        pod_template_hash: "hash-v1".into(),
        updated: 10,
        updated_ready: 10,
        released: true,
        promoted: true,
        ..WorkloadFacts::default()
    }
}

/// `rev-v2` applied and frozen by the webhook; no new pod yet.
pub fn releasing() -> WorkloadFacts {
    WorkloadFacts {
        generation: 2,
        canary_revision: "rev-v2".into(),
        pod_template_hash: "hash-v2".into(),
        in_progressing: true,
        updated: 0,
        updated_ready: 0,
        released: false,
        promoted: false,
        ..stable_workload()
    }
}

/// Fluent changes to workload facts.
pub trait FactsExt: Sized {
    /// Pods on the new version, and how many of them are Ready.
    fn updated(self, updated: i32, ready: i32) -> Self;
    /// Desired pods.
    fn replicas(self, replicas: i32) -> Self;
    /// Nothing of the release is left on the workload.
    fn released(self) -> Self;
    /// The stable template was re-applied.
    fn rolled_back(self) -> Self;
    /// Another new version was applied.
    fn revision(self, revision: &str, hash: &str) -> Self;
    /// The workload controller has not seen the latest spec yet.
    fn unobserved(self) -> Self;
}

impl FactsExt for WorkloadFacts {
    fn updated(self, updated: i32, updated_ready: i32) -> Self {
        Self {
            updated,
            updated_ready,
            ..self
        }
    }
    fn replicas(self, replicas: i32) -> Self {
        Self { replicas, ..self }
    }
    fn released(self) -> Self {
        Self {
            released: true,
            in_progressing: false,
            ..self
        }
    }
    fn rolled_back(self) -> Self {
        Self {
            in_rollback: true,
            ..self.revision("rev-v1", "hash-v1")
        }
    }
    fn revision(self, revision: &str, hash: &str) -> Self {
        Self {
            canary_revision: revision.into(),
            pod_template_hash: hash.into(),
            ..self
        }
    }
    fn unobserved(self) -> Self {
        Self {
            generation_observed: false,
            ..self
        }
    }
}

/// A Progressing status (reason InRolling) releasing `rev-v2` at step `index`, in `state`
/// since `since`, with the plan hash of `rollout`.
pub fn in_step(
    rollout: &Rollout,
    index: i32,
    next: i32,
    state: StepState,
    since: Timestamp,
) -> RolloutStatus {
    let condition = RolloutCondition {
        type_: "Progressing".into(),
        status: "True".into(),
        last_update_time: Some(Time(at(-3600))),
        last_transition_time: Some(Time(at(-3600))),
        reason: "InRolling".into(),
        message: "Rollout is in Progressing".into(),
    };
    RolloutStatus {
        observed_generation: Some(1),
        canary_status: Some(CanaryStatus {
            common: CommonStatus {
                observed_workload_generation: Some(2),
                observed_rollout_id: Some("rev-v2".into()),
                rollout_hash: Some(plan_hash(rollout)),
                stable_revision: Some("rev-v1".into()),
                pod_template_hash: Some("hash-v2".into()),
                current_step_index: Some(index),
                next_step_index: Some(next),
                current_step_state: Some(state),
                last_update_time: Some(Time(since)),
                ..CommonStatus::default()
            },
            canary_revision: Some("rev-v2".into()),
            ..CanaryStatus::default()
        }),
        conditions: Some(vec![condition]),
        phase: Some(RolloutPhase::Progressing),
        message: Some("Rollout is in Progressing".into()),
        current_step_index: Some(index),
        current_step_state: Some(state),
        ..RolloutStatus::default()
    }
}

/// One Rollout and its workload over several reconciles.
pub struct Sim {
    pub rollout: Rollout,
    pub workload: Option<WorkloadFacts>,
    pub control: Control,
    pub now: Timestamp,
    pub deadline: i64,
    pub not_ready: Vec<String>,
    pub traffic: Option<TrafficObjects>,
    /// The linked TrafficRouting, as read live.
    pub linked_routing: Option<LinkedRouting>,
    /// The workload's pods, when the controller would list them.
    pub pods: Option<Vec<PodLabels>>,
    /// The namespace's HorizontalPodAutoscalers.
    pub autoscalers: Option<Vec<Value>>,
    /// The answers of a metric analysis check run for this decision.
    pub analysis: Option<Vec<Answer>>,
}

impl Sim {
    /// Partition-style Deployment, `now` = [`at`]`(0)`, deadline 600 s.
    pub fn new(rollout: Rollout, workload: Option<WorkloadFacts>) -> Self {
        Self {
            rollout,
            workload,
            control: Control::PartitionDeployment,
            now: at(0),
            deadline: 600,
            not_ready: Vec::new(),
            traffic: None,
            linked_routing: None,
            pods: None,
            autoscalers: None,
            analysis: None,
        }
    }

    /// Starts from `status`.
    pub fn with_status(mut self, status: RolloutStatus) -> Self {
        self.rollout.status = Some(status);
        self
    }

    /// The decision for the current snapshot, without writing it back.
    pub fn decide(&self) -> Decision {
        let release = self
            .workload
            .clone()
            .map(|facts| FakeRelease::new(facts, self.control));
        machine::decide(&Snapshot {
            rollout: &self.rollout,
            workload: release.as_ref().map(|r| r as &dyn Release),
            traffic: self.traffic.as_ref(),
            linked_routing: self.linked_routing.as_ref(),
            now: self.now,
            default_deadline_seconds: self.deadline,
            not_ready_pods: &self.not_ready,
            pods: self.pods.as_deref(),
            autoscalers: self.autoscalers.as_deref(),
            analysis: self.analysis.as_deref(),
        })
    }

    /// Decides and writes the status back, as the controller does.
    pub fn step(&mut self) -> Decision {
        let decision = self.decide();
        self.rollout.status = Some(decision.status.clone());
        decision
    }
}

/// Releasing `rev-v2` with `steps`, at step `index` in `state` since `at(0)`.
pub fn sim_at(
    steps: &str,
    index: i32,
    next: i32,
    state: StepState,
    workload: WorkloadFacts,
) -> Sim {
    let rollout = rollout(steps);
    let status = in_step(&rollout, index, next, state, at(0));
    Sim::new(rollout, Some(workload)).with_status(status)
}

/// The top-level `(currentStepIndex, currentStepState)` (the CANARY_STEP and CANARY_STATE columns).
pub fn columns(d: &Decision) -> (Option<i32>, Option<StepState>) {
    (d.status.current_step_index, d.status.current_step_state)
}

/// The canary sub-status of a decision.
pub fn canary(d: &Decision) -> &CanaryStatus {
    d.status.canary_status.as_ref().expect("canaryStatus")
}

/// `(currentStepIndex, nextStepIndex, currentStepState)` of the canary sub-status.
pub fn position(d: &Decision) -> (Option<i32>, Option<i32>, Option<StepState>) {
    let c = &canary(d).common;
    (
        c.current_step_index,
        c.next_step_index,
        c.current_step_state,
    )
}

/// A position as [`position`] returns it.
pub fn pos(
    index: i32,
    next: i32,
    state: StepState,
) -> (Option<i32>, Option<i32>, Option<StepState>) {
    (Some(index), Some(next), Some(state))
}

/// `lastUpdateTime` of the canary sub-status.
pub fn since(d: &Decision) -> Option<Timestamp> {
    canary(d).common.last_update_time.as_ref().map(|t| t.0)
}

/// The status message (the MESSAGE column).
pub fn message(d: &Decision) -> Option<&str> {
    d.status.message.as_deref()
}

/// `(status, reason, message)` of a condition, if present.
pub fn condition<'a>(d: &'a Decision, type_: &str) -> Option<(&'a str, &'a str, &'a str)> {
    machine::condition(&d.status, type_)
        .map(|c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()))
}

/// `(status, reason)` of a condition, if present.
pub fn condition_reason<'a>(d: &'a Decision, type_: &str) -> Option<(&'a str, &'a str)> {
    condition(d, type_).map(|(status, reason, _)| (status, reason))
}

/// A plan of steps without pause from their replicas, e.g. `plan("10% 30% 100%")`.
pub fn plan(replicas: &str) -> String {
    let steps: Vec<String> = replicas
        .split_whitespace()
        .map(|r| format!("{{replicas: {r}}}"))
        .collect();
    format!("[{}]", steps.join(", "))
}

/// The `planned` of every UpgradeBatch action.
pub fn upgrades(d: &Decision) -> Vec<i32> {
    d.actions()
        .iter()
        .filter_map(|a| match a {
            Action::UpgradeBatch { planned } => Some(*planned),
            _ => None,
        })
        .collect()
}

/// The reasons of the Warning events.
pub fn warnings(d: &Decision) -> Vec<&'static str> {
    d.events
        .iter()
        .filter(|e| e.warning)
        .map(|e| e.reason)
        .collect()
}

/// The reasons of all events.
pub fn event_reasons(d: &Decision) -> Vec<&'static str> {
    d.events.iter().map(|e| e.reason).collect()
}

/// Turns `sim` into the same release done blue-green: the steps under `blueGreen`, the progress
/// in `blueGreenStatus`, and the autoscalers listed (none).
pub fn into_blue_green(sim: &mut Sim) {
    let canary = sim
        .rollout
        .spec
        .strategy
        .canary
        .take()
        .expect("a canary plan");
    sim.rollout.spec.strategy.blue_green = Some(rollouts_api::v1beta1::BlueGreenStrategy {
        steps: canary.steps,
        traffic_routings: canary.traffic_routings,
        ..Default::default()
    });
    if let Some(status) = sim.rollout.status.as_mut()
        && let Some(sub) = status.canary_status.take()
    {
        status.blue_green_status = Some(rollouts_api::v1beta1::BlueGreenStatus {
            common: sub.common,
            updated_revision: sub.canary_revision,
            updated_replicas: sub.canary_replicas,
            updated_ready_replicas: sub.canary_ready_replicas,
        });
    }
    sim.autoscalers = Some(Vec::new());
}
