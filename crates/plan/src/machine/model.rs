//! What a decision reads (a [`Snapshot`] of the cluster) and what it returns (a [`Decision`]:
//! the next status, the effects to apply in order, the Events, when to look again).

use k8s_openapi::jiff::Timestamp;
use rollouts_api::keys;
use rollouts_api::v1beta1::{Rollout, RolloutStatus};
use rollouts_change::{Effect, ObjectKey, Resource};
use rollouts_traffic::objects::TrafficObjects;
use rollouts_workload::labels::PodLabels;
use rollouts_workload::release::Release;
use serde_json::{Map, Value, json};
use std::time::Duration;

/// Everything a decision depends on, as observed in one reconcile.
#[derive(Clone, Copy)]
pub struct Snapshot<'a> {
    /// The Rollout as read (spec, annotations, status, deletion).
    pub rollout: &'a Rollout,
    /// The referenced workload, `None` when it does not exist (or no release serves its kind).
    pub workload: Option<&'a dyn Release>,
    /// The traffic objects, when the Rollout routes traffic.
    pub traffic: Option<&'a TrafficObjects>,
    /// The TrafficRouting object the Rollout links, read live, when it links one.
    pub linked_routing: Option<&'a crate::traffic_routing::LinkedRouting>,
    /// Now.
    pub now: Timestamp,
    /// Seconds a step may take to get its pods Ready when the workload sets no deadline.
    pub default_deadline_seconds: i64,
    /// New-version pods that are not Ready, as `name (reason)`, for the deadline message (the
    /// controller lists them only when [`crate::machine::step_overdue`] says so).
    pub not_ready_pods: &'a [String],
    /// The workload's pods with their revision and release labels, listed only when
    /// [`crate::machine::needs_pods`] says so (`None` when not listed).
    pub pods: Option<&'a [PodLabels]>,
    /// The HorizontalPodAutoscalers of the Rollout's namespace, listed only for blue-green
    /// Rollouts (`None` otherwise, or when the list failed).
    pub autoscalers: Option<&'a [Value]>,
    /// The answers of the metric analysis check the controller ran for the current step, one per
    /// metric, when [`crate::machine::due_check`] said one was due (`None` otherwise).
    pub analysis: Option<&'a [crate::analysis::verdict::Answer]>,
}

impl Snapshot<'_> {
    /// Autoscaler changes for the workload: turned away from it (`disable`) or back; `None`
    /// when the autoscalers are not known.
    pub(crate) fn autoscaler_effects(&self, disable: bool) -> Option<Vec<Effect>> {
        let workload = &self.rollout.spec.workload_ref;
        let change = match disable {
            true => rollouts_workload::autoscalers::disable,
            false => rollouts_workload::autoscalers::restore,
        };
        Some(change(
            self.autoscalers?,
            &workload.api_version,
            &workload.kind,
            &workload.name,
        ))
    }

    /// Whether the `approved-step` annotation approves step `index`.
    pub(crate) fn annotation_approves(&self, index: i32) -> bool {
        self.rollout
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(keys::APPROVED_STEP))
            .is_some_and(|v| v.trim() == index.to_string())
    }

    /// Seconds the current step may take to get its pods Ready.
    pub fn deadline_seconds(&self) -> i64 {
        self.workload
            .and_then(|w| w.facts().progress_deadline_seconds)
            .unwrap_or(self.default_deadline_seconds)
    }

    /// The Rollout's namespace.
    pub fn namespace(&self) -> &str {
        self.rollout
            .metadata
            .namespace
            .as_deref()
            .unwrap_or_default()
    }

    /// The Rollout's name.
    pub fn name(&self) -> &str {
        self.rollout.metadata.name.as_deref().unwrap_or_default()
    }

    /// Label key the workload's pods carry their revision under (a `pod-template-hash` when the
    /// workload is gone).
    pub fn revision_key(&self) -> &'static str {
        self.workload
            .map_or(keys::POD_TEMPLATE_HASH, |w| w.revision_key())
    }

    /// The Rollout itself as an object to change.
    pub fn rollout_key(&self) -> ObjectKey {
        ObjectKey::new(Resource::ROLLOUT, self.namespace(), self.name())
    }
}

/// A Kubernetes Event to record on the Rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// Machine-readable reason (from `keys`).
    pub reason: &'static str,
    /// What happened.
    pub message: String,
}

impl Event {
    /// A Normal Event.
    pub fn normal(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            warning: false,
            reason,
            message: message.into(),
        }
    }

    /// A Warning Event.
    pub fn warning(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            warning: true,
            reason,
            message: message.into(),
        }
    }
}

/// The outcome of one decision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    /// The status to write.
    pub status: RolloutStatus,
    /// Changes to apply before writing the status, in order. A change of the Rollout's own
    /// metadata comes first and carries the observed `resourceVersion`.
    pub effects: Vec<Effect>,
    /// Events to record once the status is written.
    pub events: Vec<Event>,
    /// Look again after this long even if nothing changes (pauses, grace periods, deadlines).
    pub requeue_after: Option<Duration>,
    /// Applied after the status write: the removal of the finalizer once a deleted Rollout has
    /// given everything back.
    pub remove_finalizer: Option<Effect>,
    /// Changes of the Rollout's own metadata gathered while deciding.
    pub(crate) rollout_metadata: Map<String, Value>,
}

impl Decision {
    /// Sets `metadata.annotations[key]` of the Rollout (`null` removes it).
    pub(crate) fn annotate_rollout(&mut self, key: &str, value: Value) {
        let annotations = self
            .rollout_metadata
            .entry("annotations")
            .or_insert_with(|| json!({}));
        annotations[key] = value;
    }

    /// Removes the `approved-step` annotation of `rollout`, if it has one.
    pub(crate) fn clear_approval(&mut self, rollout: &Rollout) {
        let annotations = rollout.metadata.annotations.as_ref();
        if annotations.is_some_and(|a| a.contains_key(keys::APPROVED_STEP)) {
            self.annotate_rollout(keys::APPROVED_STEP, Value::Null);
        }
    }

    /// Whether this decision removes the `approved-step` annotation (a new release started).
    pub(crate) fn clears_approval(&self) -> bool {
        self.rollout_metadata
            .get("annotations")
            .and_then(|a| a.get(keys::APPROVED_STEP))
            .is_some_and(Value::is_null)
    }

    /// Asks to look again within `after` (the earliest request wins).
    pub(crate) fn requeue(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |t| t.min(after)));
    }
}
