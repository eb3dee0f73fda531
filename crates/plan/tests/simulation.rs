//! Property tests over a simulated cluster: a Rollout of a StatefulSet, the real release of
//! that kind, the webhook's real freeze, and a small stand-in for the StatefulSet controller.
//! Random plans, replica counts, approvals (status patch or annotation), restarts that decide
//! twice from the same snapshot, scaling, new versions and rollbacks, in random order.
//!
//! After every decision:
//! - applying its effects twice leaves the cluster as applying them once;
//! - the step index of a release never goes back (no jump or plan change is generated);
//! - no batch asks for fewer new pods than already run the new revision.
//!
//! Once a release has ended, nothing of ours is left on the StatefulSet; and with every pause
//! approved, every release ends, with all pods on the last version applied.

use k8s_openapi::jiff::Timestamp;
use proptest::prelude::*;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::v1beta1::Rollout;
use rollouts_change::{Change, Effect, Resource};
use rollouts_plan::machine::{self, Decision, Snapshot};
use rollouts_workload::mutation::freeze_statefulset;
use rollouts_workload::release::PartitionedRelease;
use serde_json::{Value, json};

/// The simulated cluster: the Rollout, the StatefulSet and its pods' revisions and readiness.
#[derive(Clone, Debug, PartialEq)]
struct Cluster {
    rollout: Value,
    statefulset: Value,
    /// Revision and readiness of each pod, by ordinal.
    pods: Vec<(String, bool)>,
    /// Template version currently applied, and the one before the running release.
    version: u32,
    now: i64,
}

#[derive(Clone, Debug)]
enum Op {
    /// The controller reconciles.
    Reconcile,
    /// The controller restarts mid-reconcile: the same snapshot is decided and applied twice.
    Restart,
    /// Time passes.
    Wait(i64),
    /// Approval of the paused step by status patch (upstream's CLI) or by annotation.
    Approve { by_annotation: bool },
    /// `kubectl scale`.
    Scale(i32),
    /// A new version is applied.
    Release,
    /// The version before the release is applied again.
    Rollback,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Reconcile),
        1 => Just(Op::Restart),
        2 => (1i64..90).prop_map(Op::Wait),
        3 => any::<bool>().prop_map(|by_annotation| Op::Approve { by_annotation }),
        1 => (1i32..8).prop_map(Op::Scale),
        1 => Just(Op::Release),
        1 => Just(Op::Rollback),
    ]
}

/// Non-decreasing step replicas ending at 100%, some pausing for a while.
fn plan() -> impl Strategy<Value = Vec<(String, Option<i32>)>> {
    prop::collection::vec((1u32..100, prop::option::of(1i32..60)), 1..4).prop_map(|mut steps| {
        steps.sort_by_key(|(percent, _)| *percent);
        let mut plan: Vec<(String, Option<i32>)> = steps
            .into_iter()
            .map(|(percent, pause)| (format!("{percent}%"), pause))
            .collect();
        plan.push(("100%".into(), None));
        plan
    })
}

fn rollout(plan: &[(String, Option<i32>)]) -> Value {
    let steps: Vec<Value> = plan
        .iter()
        .map(|(replicas, pause)| match pause {
            Some(seconds) => json!({"replicas": replicas, "pause": {"duration": seconds}}),
            None => json!({"replicas": replicas, "pause": {}}),
        })
        .collect();
    json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
        "metadata": {"name": "web", "namespace": "sim", "uid": "r-1", "generation": 1},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web"},
                 "strategy": {"canary": {"steps": steps}}}
    })
}

fn statefulset(replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "sim", "uid": "s-1", "generation": 1,
            "labels": {"rollouts.kruise.io/workload-type": "statefulset"}},
        "spec": {"replicas": replicas, "serviceName": "web",
            "selector": {"matchLabels": {"app": "web"}},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {"metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]}}},
    })
}

fn revision(version: u32) -> String {
    format!("web-v{version}")
}

fn image_version(statefulset: &Value) -> u32 {
    statefulset["spec"]["template"]["spec"]["containers"][0]["image"]
        .as_str()
        .and_then(|i| i.strip_prefix("web:"))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

impl Cluster {
    fn new(plan: &[(String, Option<i32>)], replicas: i32) -> Self {
        let mut cluster = Self {
            rollout: rollout(plan),
            statefulset: statefulset(replicas),
            pods: Vec::new(),
            version: 1,
            now: 0,
        };
        cluster.run_statefulset_controller();
        cluster
    }

    fn partition(&self) -> i64 {
        self.statefulset
            .pointer("/spec/updateStrategy/rollingUpdate/partition")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    fn replicas(&self) -> i32 {
        self.statefulset["spec"]["replicas"].as_i64().unwrap_or(1) as i32
    }

    fn update_revision(&self) -> String {
        revision(image_version(&self.statefulset))
    }

    /// What the StatefulSet controller does in one pass: pods are created and removed to match
    /// the replicas, pods at or above the partition move to the update revision (not Ready
    /// until the next pass), and the status says so.
    fn run_statefulset_controller(&mut self) {
        let update = self.update_revision();
        let replicas = self.replicas().max(0) as usize;
        let current_revision = self.statefulset["status"]["currentRevision"]
            .as_str()
            .map_or_else(|| update.clone(), str::to_string);
        for pod in self.pods.iter_mut() {
            pod.1 = true;
        }
        self.pods.truncate(replicas);
        while self.pods.len() < replicas {
            self.pods.push((current_revision.clone(), false));
        }
        let partition = self.partition().max(0) as usize;
        for (ordinal, pod) in self.pods.iter_mut().enumerate() {
            if ordinal >= partition && pod.0 != update {
                *pod = (update.clone(), false);
            }
        }
        let updated = self.pods.iter().filter(|p| p.0 == update).count();
        let ready = self.pods.iter().filter(|p| p.1).count();
        let updated_ready = self.pods.iter().filter(|p| p.0 == update && p.1).count();
        let current = if updated == replicas {
            update.clone()
        } else {
            current_revision
        };
        let generation = self.statefulset["metadata"]["generation"].clone();
        self.statefulset["status"] = json!({
            "observedGeneration": generation, "replicas": replicas,
            "currentRevision": current, "updateRevision": update,
            "updatedReplicas": updated, "readyReplicas": ready,
            "updatedReadyReplicas": updated_ready,
        });
    }

    /// A user writes the StatefulSet's spec; the webhook admits it (freezing a new version).
    fn user_writes(&mut self, change: impl FnOnce(&mut Value)) {
        let old = self.statefulset.clone();
        let mut new = old.clone();
        change(&mut new);
        let governing: Rollout = serde_json::from_value(self.rollout.clone()).unwrap();
        let admitted = freeze_statefulset(&old, &new, &governing).unwrap_or(new);
        self.statefulset = admitted;
        self.bump_generation(&old);
        self.run_statefulset_controller();
    }

    fn bump_generation(&mut self, before: &Value) {
        if before["spec"] != self.statefulset["spec"] {
            let generation = before["metadata"]["generation"].as_i64().unwrap_or(1);
            self.statefulset["metadata"]["generation"] = json!(generation + 1);
        }
    }

    fn decide(&self) -> Decision {
        let rollout: Rollout = serde_json::from_value(self.rollout.clone()).unwrap();
        let release = PartitionedRelease::statefulset_json(self.statefulset.clone());
        machine::decide(&Snapshot {
            rollout: &rollout,
            workload: Some(&release),
            traffic: None,
            linked_routing: None,
            now: Timestamp::from_second(1_714_564_800 + self.now).unwrap(),
            default_deadline_seconds: 600,
            not_ready_pods: &[],
            pods: None,
            autoscalers: None,
            analysis: None,
        })
    }

    /// Applies effects as the API server would (a spec change bumps the generation).
    fn apply(&mut self, effects: &[Effect]) {
        for effect in effects {
            let before = self.statefulset.clone();
            let slot = match effect.object.resource {
                Resource::ROLLOUT => &mut self.rollout,
                Resource::STATEFUL_SET => &mut self.statefulset,
                other => panic!("unexpected effect on {other:?}: {effect}"),
            };
            let mut object = Some(slot.clone());
            rollouts_change::apply(&mut object, &effect.change).expect("the change applies");
            *slot = object.expect("nothing here is deleted");
            if effect.object.resource == Resource::STATEFUL_SET {
                self.bump_generation(&before);
            }
        }
    }

    fn write_status(&mut self, decision: &Decision) {
        self.rollout["status"] = serde_json::to_value(&decision.status).unwrap();
    }

    fn status(&self) -> rollouts_api::v1beta1::RolloutStatus {
        serde_json::from_value(self.rollout["status"].clone()).unwrap_or_default()
    }

    fn position(&self) -> (Option<String>, Option<i32>, Option<StepState>) {
        let common = self
            .status()
            .canary_status
            .map(|c| (c.canary_revision, c.common));
        match common {
            Some((revision, c)) => (revision, c.current_step_index, c.current_step_state),
            None => (None, None, None),
        }
    }
}

/// The planned new pods a StatefulSet batch effect asks for, if `effect` is one.
fn planned_by(effect: &Effect, replicas: i32) -> Option<i64> {
    let Change::Merge(patch) = &effect.change else {
        return None;
    };
    let partition = patch.pointer("/spec/updateStrategy/rollingUpdate/partition")?;
    Some(match partition.as_i64() {
        Some(p) => i64::from(replicas) - p,
        None => i64::from(replicas),
    })
}

/// One reconcile, checking the properties of its decision.
fn reconcile(cluster: &mut Cluster, twice: bool) -> Result<(), TestCaseError> {
    let decision = cluster.decide();
    let mut once = cluster.clone();
    once.apply(&decision.effects);
    let mut again = once.clone();
    again.apply(&decision.effects);
    prop_assert_eq!(&again, &once, "applying the effects twice changed more");
    let updated = cluster.statefulset["status"]["updatedReplicas"]
        .as_i64()
        .unwrap_or(0);
    for effect in &decision.effects {
        if let Some(planned) = planned_by(effect, cluster.replicas()) {
            prop_assert!(
                planned >= updated,
                "a batch asked for {planned} new pods with {updated} already updated: {effect}"
            );
        }
    }
    let before = cluster.position();
    *cluster = if twice { again } else { once };
    cluster.write_status(&decision);
    cluster.run_statefulset_controller();
    let after = cluster.position();
    if before.0.is_some() && before.0 == after.0 {
        prop_assert!(
            after.1 >= before.1,
            "the step went back from {:?} to {:?}",
            before,
            after
        );
    }
    Ok(())
}

fn approve(cluster: &mut Cluster, by_annotation: bool) {
    let (_, index, state) = cluster.position();
    if state != Some(StepState::StepPaused) {
        return;
    }
    if by_annotation {
        let step = index.unwrap_or(1).to_string();
        cluster.rollout["metadata"]["annotations"]["rollouts.kruise.io/approved-step"] =
            json!(step);
    } else {
        cluster.rollout["status"]["canaryStatus"]["currentStepState"] = json!("StepReady");
    }
}

/// Nothing of a release is on the StatefulSet.
fn given_back(statefulset: &Value) -> bool {
    let annotations = statefulset["metadata"]["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let marked = annotations
        .keys()
        .any(|k| k.starts_with("rollouts.kruise.io/"));
    let partitioned = statefulset
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
        .is_some_and(|p| p != 0);
    !marked && !partitioned
}

fn released_and_settled(cluster: &Cluster) -> bool {
    let status = cluster.status();
    let progressing = machine::condition(&status, "Progressing");
    status.phase == Some(RolloutPhase::Healthy)
        && progressing.is_none_or(|c| c.reason == "Completed")
        && cluster.statefulset["metadata"]["annotations"]
            .get("rollouts.kruise.io/in-progressing")
            .is_none()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn releases_keep_their_promises_whatever_happens(
        plan in plan(),
        replicas in 1i32..8,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let mut cluster = Cluster::new(&plan, replicas);
        reconcile(&mut cluster, false)?;
        for op in ops {
            match op {
                Op::Reconcile => reconcile(&mut cluster, false)?,
                Op::Restart => reconcile(&mut cluster, true)?,
                Op::Wait(seconds) => cluster.now += seconds,
                Op::Approve { by_annotation } => approve(&mut cluster, by_annotation),
                Op::Scale(to) => cluster.user_writes(|s| s["spec"]["replicas"] = json!(to)),
                Op::Release => {
                    cluster.version += 1;
                    let image = format!("web:{}", cluster.version);
                    cluster.user_writes(|s| {
                        s["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image)
                    });
                }
                Op::Rollback => {
                    let stable = cluster.status().canary_status
                        .and_then(|c| c.common.stable_revision)
                        .and_then(|r| r.strip_prefix("web-v").and_then(|v| v.parse::<u32>().ok()));
                    if let Some(stable) = stable {
                        let image = format!("web:{stable}");
                        cluster.user_writes(|s| {
                            s["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image)
                        });
                    }
                }
            }
            if released_and_settled(&cluster) {
                prop_assert!(given_back(&cluster.statefulset), "{:#}", cluster.statefulset);
            }
        }
        // Approving every pause and letting time pass, every release ends, and gives the
        // StatefulSet back whole, on the new version everywhere.
        for _ in 0..200 {
            if released_and_settled(&cluster) && given_back(&cluster.statefulset) {
                break;
            }
            approve(&mut cluster, false);
            cluster.now += 60;
            reconcile(&mut cluster, false)?;
        }
        prop_assert!(released_and_settled(&cluster), "{:#?}", cluster.status());
        prop_assert!(given_back(&cluster.statefulset), "{:#}", cluster.statefulset);
        let update = cluster.update_revision();
        prop_assert!(cluster.pods.iter().all(|p| p.0 == update), "{:?}", cluster.pods);
    }
}
