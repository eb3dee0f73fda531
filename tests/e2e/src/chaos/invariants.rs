//! The promises a release keeps whatever fails, as pure checks over what the soak observed:
//! a manual step is never passed without an approval, a step index never goes back by itself, an
//! approval is never lost, a frozen workload always has a Rollout that explains it, a canary
//! route never points at a revision without Ready pods, and nothing of ours is left once every
//! Rollout is gone. Each check names the object and the field that break the promise.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One observation of a Rollout's release progress.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RolloutView {
    /// `namespace/name`.
    pub key: String,
    /// Its uid: a deleted and re-created Rollout is another one.
    pub uid: String,
    /// `metadata.resourceVersion` as a number (etcd's revision).
    pub resource_version: u64,
    /// The revision being released (the canary's pod-template hash), empty when none.
    pub revision: String,
    /// The revision the release started from (`stableRevision`), empty when none.
    pub stable_revision: String,
    /// `currentStepIndex` (1-based; 0 when no release runs).
    pub step: i32,
    /// `currentStepState`.
    pub state: String,
    /// `status.phase`.
    pub phase: String,
    /// `status.message`.
    pub message: String,
    /// The `approved-step` annotation, when set.
    pub approved_step_annotation: Option<String>,
}

/// An approval the soak gave: a status patch or the annotation, accepted by the API server.
#[derive(Clone, Debug, PartialEq)]
pub struct Approval {
    pub key: String,
    pub uid: String,
    pub revision: String,
    pub step: i32,
    /// The Rollout's resourceVersion the approval wrote.
    pub resource_version: u64,
}

/// A broken promise: which object, which field, what was seen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// `Kind namespace/name`.
    pub object: String,
    /// The field or mark that breaks the promise.
    pub field: String,
    /// What was seen, in words.
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.object, self.field, self.detail)
    }
}

fn rollout_violation(view: &RolloutView, field: &str, detail: String) -> Violation {
    Violation {
        object: format!("Rollout {}", view.key),
        field: field.into(),
        detail,
    }
}

/// A step index that went back between two observations of the same release, unless the soak
/// itself did something that restarts it (`excused`: a rollback, a disable, a scale).
pub fn step_went_back(prev: &RolloutView, now: &RolloutView, excused: bool) -> Option<Violation> {
    let same_release =
        prev.uid == now.uid && !now.revision.is_empty() && prev.revision == now.revision;
    let both_progressing = prev.phase == "Progressing" && now.phase == "Progressing";
    (!excused && same_release && both_progressing && now.step < prev.step).then(|| {
        rollout_violation(
            now,
            "status.canaryStatus.currentStepIndex",
            format!(
                "went from {} to {} for revision {} (resourceVersion {} -> {}) without a rollback or a plan change",
                prev.step, now.step, now.revision, prev.resource_version, now.resource_version
            ),
        )
    })
}

/// The message of a Rollout whose workload was rolled back: in the status write that says so,
/// `canaryRevision` is already the stable version's while the step index is still the
/// cancelled release's, which is no step passed.
const CANCELLING: &str =
    "The workload has been rolled back and the rollout process will be cancelled";

/// A manual step (a pause without duration) that the release passed without an approval of
/// ours for that Rollout, revision and step.
pub fn manual_step_skipped(
    now: &RolloutView,
    manual_steps: &BTreeSet<i32>,
    approved: &BTreeSet<(String, String, i32)>,
) -> Option<Violation> {
    if now.revision.is_empty() || now.phase != "Progressing" || now.message == CANCELLING {
        return None;
    }
    let skipped = manual_steps.iter().find(|&&step| {
        step < now.step && !approved.contains(&(now.uid.clone(), now.revision.clone(), step))
    })?;
    Some(rollout_violation(
        now,
        "status.canaryStatus.currentStepIndex",
        format!(
            "is {} for revision {}, past manual step {skipped} that was never approved",
            now.step, now.revision
        ),
    ))
}

/// An approval that the release forgot: a later version of the Rollout is paused again at the
/// approved step of the same revision, with no approval annotation pending.
pub fn approval_lost(approval: &Approval, now: &RolloutView) -> Option<Violation> {
    let later = now.uid == approval.uid && now.resource_version > approval.resource_version;
    let same_step = now.revision == approval.revision && now.step == approval.step;
    let paused_again = now.state == "StepPaused" && now.approved_step_annotation.is_none();
    (later && same_step && paused_again && now.phase == "Progressing").then(|| {
        rollout_violation(
            now,
            "status.canaryStatus.currentStepState",
            format!(
                "is StepPaused at step {} of revision {} at resourceVersion {}, after the approval written at {}",
                now.step, now.revision, now.resource_version, approval.resource_version
            ),
        )
    })
}

/// What makes a workload frozen or partitioned by us, as read from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkloadView {
    /// `Kind namespace/name`.
    pub object: String,
    /// Fields that hold its pods back, e.g. `spec.paused=true` or `partition=3`.
    pub held_by: Vec<String>,
    /// Annotations and labels of ours on it (keys).
    pub marks: Vec<String>,
    /// Finalizers of ours on it.
    pub finalizers: Vec<String>,
    /// Its own controller (kube-controller-manager, kruise-manager) has not yet observed its
    /// latest spec (`status.observedGeneration` below `metadata.generation`).
    pub unobserved: bool,
    /// Every pod runs its current template: its own controller observed the latest spec and
    /// reports all `spec.replicas` pods updated and no other pod.
    pub rolled_out: bool,
}

/// A frozen or partitioned workload without a Rollout in Progressing (or finishing, disabling
/// or terminating) that says why in its message. While the workload's own controller has not
/// observed its new spec, a release cannot start (it needs the new revision that controller
/// computes), so that wait is the workload controller's, not ours: after an API server restart
/// kube-controller-manager and kruise-manager took up to about 90 s.
pub fn frozen_unexplained(
    workload: &WorkloadView,
    rollout: Option<&RolloutView>,
) -> Option<Violation> {
    if workload.held_by.is_empty() || workload.unobserved {
        return None;
    }
    let explained = rollout.is_some_and(|r| {
        matches!(
            r.phase.as_str(),
            "Progressing" | "Disabling" | "Terminating"
        ) && !r.message.is_empty()
    });
    (!explained).then(|| Violation {
        object: workload.object.clone(),
        field: workload.held_by.join(", "),
        detail: match rollout {
            None => "holds its pods back, and no Rollout governs it".into(),
            Some(r) => format!(
                "holds its pods back, but Rollout {} is {:?} with message {:?}",
                r.key, r.phase, r.message
            ),
        },
    })
}

/// A canary route as read from the cluster: the object routing to a canary Service.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteView {
    /// `Kind namespace/name` of the routing object (e.g. the canary Ingress).
    pub object: String,
    /// The field that sends traffic, e.g. `canary-weight=20` or a header match.
    pub sends: String,
    /// The canary Service it sends to.
    pub service: String,
    /// Ready pods that Service selects.
    pub ready_pods: usize,
}

/// Traffic sent to a Service that selects no Ready pod.
pub fn traffic_to_no_ready_pods(route: &RouteView) -> Option<Violation> {
    (route.ready_pods == 0).then(|| Violation {
        object: route.object.clone(),
        field: route.sends.clone(),
        detail: format!(
            "sends traffic to Service {}, which selects no Ready pod",
            route.service
        ),
    })
}

/// What of ours remains on a workload whose Rollout is gone.
pub fn leftovers(workload: &WorkloadView) -> Vec<Violation> {
    let left = |field: String, what: &str| Violation {
        object: workload.object.clone(),
        field,
        detail: format!("{what} left after every Rollout was deleted"),
    };
    let held = workload.held_by.iter().map(|h| left(h.clone(), "hold"));
    let marks = workload.marks.iter().map(|m| left(m.clone(), "mark"));
    let finalizers = workload
        .finalizers
        .iter()
        .map(|f| left(format!("finalizer {f}"), "finalizer"));
    held.chain(marks).chain(finalizers).collect()
}

/// Keeps suspects until they have persisted for a grace period: the cluster is read object by
/// object, and a controller that just restarted needs a moment to catch up, so only what stays
/// broken counts.
#[derive(Debug, Default)]
pub struct Persisting {
    first_seen: BTreeMap<Violation, Instant>,
}

impl Persisting {
    /// Records the suspects of one pass at `now`; returns those seen in every pass for `grace`.
    /// A suspect that disappears starts over.
    pub fn update(
        &mut self,
        now: Instant,
        suspects: Vec<Violation>,
        grace: Duration,
    ) -> Vec<Violation> {
        let current: BTreeSet<Violation> = suspects.into_iter().collect();
        self.first_seen.retain(|v, _| current.contains(v));
        for v in &current {
            self.first_seen.entry(v.clone()).or_insert(now);
        }
        self.first_seen
            .iter()
            .filter(|(_, since)| now.duration_since(**since) >= grace)
            .map(|(v, _)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollouts_api::keys;

    fn view(step: i32, state: &str, revision: &str, rv: u64) -> RolloutView {
        RolloutView {
            key: "ns/r".into(),
            uid: "u1".into(),
            resource_version: rv,
            revision: revision.into(),
            step,
            state: state.into(),
            phase: "Progressing".into(),
            message: "Rollout is in step(1/3)".into(),
            ..Default::default()
        }
    }

    #[test]
    fn step_index_going_back_is_a_violation_only_within_one_release() {
        let cases = [
            (
                "back within a release",
                view(3, "StepUpgrade", "a", 10),
                view(2, "StepUpgrade", "a", 11),
                false,
                true,
            ),
            (
                "excused by our rollback",
                view(3, "StepUpgrade", "a", 10),
                view(1, "StepUpgrade", "a", 11),
                true,
                false,
            ),
            (
                "a new revision starts over",
                view(3, "StepUpgrade", "a", 10),
                view(1, "StepUpgrade", "b", 11),
                false,
                false,
            ),
            (
                "forward",
                view(1, "StepPaused", "a", 10),
                view(2, "StepUpgrade", "a", 11),
                false,
                false,
            ),
            (
                "no revision yet",
                view(3, "StepUpgrade", "", 10),
                view(1, "StepUpgrade", "", 11),
                false,
                false,
            ),
        ];
        for (name, prev, now, excused, broken) in cases {
            assert_eq!(
                step_went_back(&prev, &now, excused).is_some(),
                broken,
                "{name}"
            );
        }
        let mut finished = view(1, "Completed", "a", 12);
        finished.phase = "Healthy".into();
        assert!(step_went_back(&view(3, "StepUpgrade", "a", 10), &finished, false).is_none());
        let mut recreated = view(1, "StepUpgrade", "a", 12);
        recreated.uid = "u2".into();
        assert!(step_went_back(&view(3, "StepUpgrade", "a", 10), &recreated, false).is_none());
    }

    #[test]
    fn a_manual_step_passed_without_our_approval_is_named() {
        let manual: BTreeSet<i32> = [1, 3].into();
        let approved = |steps: &[i32]| -> BTreeSet<(String, String, i32)> {
            steps
                .iter()
                .map(|s| ("u1".to_string(), "a".to_string(), *s))
                .collect()
        };
        let cases = [
            ("still at the manual step", 1, vec![], None),
            ("past step 1, approved", 2, vec![1], None),
            ("past step 1, never approved", 2, vec![], Some(1)),
            ("past step 3, only 1 approved", 4, vec![1], Some(3)),
        ];
        for (name, step, approvals, skipped) in cases {
            let found = manual_step_skipped(
                &view(step, "StepUpgrade", "a", 5),
                &manual,
                &approved(&approvals),
            );
            assert_eq!(
                found.map(|v| v
                    .detail
                    .contains(&format!("manual step {}", skipped.unwrap()))),
                skipped.map(|_| true),
                "{name}"
            );
        }
        // An approval of another revision does not count.
        let other: BTreeSet<_> = [("u1".to_string(), "b".to_string(), 1)].into();
        assert!(manual_step_skipped(&view(2, "StepUpgrade", "a", 5), &manual, &other).is_some());
        // A rollback reports the stable revision before the step index goes.
        let mut cancelling = view(2, "StepUpgrade", "stable", 5);
        cancelling.message = CANCELLING.into();
        assert!(manual_step_skipped(&cancelling, &manual, &approved(&[])).is_none());
    }

    #[test]
    fn an_approval_is_lost_when_a_later_version_pauses_again_at_that_step() {
        let approval = Approval {
            key: "ns/r".into(),
            uid: "u1".into(),
            revision: "a".into(),
            step: 2,
            resource_version: 20,
        };
        let cases = [
            ("paused again later", view(2, "StepPaused", "a", 21), true),
            (
                "the version we read before approving",
                view(2, "StepPaused", "a", 19),
                false,
            ),
            ("taken: StepReady", view(2, "StepReady", "a", 21), false),
            ("moved on", view(3, "StepUpgrade", "a", 22), false),
            ("another revision", view(2, "StepPaused", "b", 22), false),
        ];
        for (name, now, lost) in cases {
            assert_eq!(approval_lost(&approval, &now).is_some(), lost, "{name}");
        }
        let mut pending = view(2, "StepPaused", "a", 21);
        pending.approved_step_annotation = Some("2".into());
        assert!(
            approval_lost(&approval, &pending).is_none(),
            "the annotation is still there to be read"
        );
    }

    #[test]
    fn a_frozen_workload_needs_a_rollout_that_explains_it() {
        let frozen = WorkloadView {
            object: "Deployment ns/app".into(),
            held_by: vec!["spec.paused=true".into()],
            ..Default::default()
        };
        let free = WorkloadView {
            object: "Deployment ns/app".into(),
            ..Default::default()
        };
        let progressing = view(1, "StepPaused", "a", 1);
        let mut healthy = progressing.clone();
        healthy.phase = "Healthy".into();
        let mut silent = progressing.clone();
        silent.message.clear();
        let unobserved = WorkloadView {
            unobserved: true,
            ..frozen.clone()
        };
        let cases = [
            (
                "frozen, progressing with a message",
                &frozen,
                Some(&progressing),
                false,
            ),
            (
                "frozen, its own controller yet to observe it",
                &unobserved,
                Some(&healthy),
                false,
            ),
            ("frozen, no Rollout", &frozen, None, true),
            ("frozen, Rollout healthy", &frozen, Some(&healthy), true),
            ("frozen, no message", &frozen, Some(&silent), true),
            ("not frozen, no Rollout", &free, None, false),
        ];
        for (name, workload, rollout, broken) in cases {
            let found = frozen_unexplained(workload, rollout);
            assert_eq!(found.is_some(), broken, "{name}");
            if let Some(v) = found {
                assert_eq!(v.field, "spec.paused=true", "{name}: names the field");
            }
        }
    }

    #[test]
    fn traffic_needs_ready_pods_and_leftovers_are_listed_one_by_one() {
        let route = |ready_pods| RouteView {
            object: "Ingress ns/app-canary".into(),
            sends: "canary-weight=20".into(),
            service: "app-canary".into(),
            ready_pods,
        };
        assert!(traffic_to_no_ready_pods(&route(0)).is_some());
        assert!(traffic_to_no_ready_pods(&route(1)).is_none());
        let workload = WorkloadView {
            object: "StatefulSet ns/app".into(),
            held_by: vec!["spec.updateStrategy.rollingUpdate.partition=2".into()],
            marks: vec![keys::STABLE_REVISION.into()],
            finalizers: vec![keys::BATCH_RELEASE_FINALIZER.into()],
            ..Default::default()
        };
        let fields: Vec<String> = leftovers(&workload).into_iter().map(|v| v.field).collect();
        assert_eq!(
            fields,
            [
                "spec.updateStrategy.rollingUpdate.partition=2",
                keys::STABLE_REVISION,
                "finalizer rollouts.kruise.io/batch-release-finalizer"
            ]
        );
        assert!(leftovers(&WorkloadView::default()).is_empty());
    }

    #[test]
    fn only_suspects_that_persist_for_the_grace_period_count() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(30);
        let a = Violation {
            object: "A".into(),
            field: "f".into(),
            detail: "d".into(),
        };
        let b = Violation {
            object: "B".into(),
            field: "f".into(),
            detail: "d".into(),
        };
        let mut persisting = Persisting::default();
        assert!(
            persisting
                .update(t0, vec![a.clone(), b.clone()], grace)
                .is_empty()
        );
        // B clears up, then shows again: it starts over.
        assert!(
            persisting
                .update(t0 + Duration::from_secs(10), vec![a.clone()], grace)
                .is_empty()
        );
        let later = persisting.update(
            t0 + Duration::from_secs(31),
            vec![a.clone(), b.clone()],
            grace,
        );
        assert_eq!(later, vec![a]);
    }
}
