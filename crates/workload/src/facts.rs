//! What the step machine needs to know about a workload, read from the objects themselves
//!: revisions, replica counts, release marks, rollback.

pub use crate::revision::template_revision;
use crate::revision::{annotation, label, replica_set_template_revision};
use rollouts_api::keys;
use serde_json::Value;

/// Facts about the workload a Rollout references, as of one reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadFacts {
    /// Desired pods (`spec.replicas`).
    pub replicas: i32,
    /// The workload controller has seen the latest spec (`observedGeneration >= generation`).
    pub generation_observed: bool,
    /// `metadata.generation`.
    pub generation: i64,
    /// Revision of the version being replaced.
    pub stable_revision: String,
    /// Revision of the current pod template.
    pub canary_revision: String,
    /// Revision label value of new-version pods (`pod-template-hash` / `controller-revision-hash`).
    pub pod_template_hash: String,
    /// The webhook marked the workload as released by a Rollout.
    pub in_progressing: bool,
    /// The current template is the stable one again.
    pub in_rollback: bool,
    /// Pods on the new version.
    pub updated: i32,
    /// Ready pods on the new version.
    pub updated_ready: i32,
    /// Nothing of a release is left on the workload: no marks, no saved settings, not frozen
    /// by us, no canary Deployment.
    pub released: bool,
    /// Every pod runs the current template and enough are available.
    pub promoted: bool,
    /// The `rollout-id` label, if any.
    pub rollout_id: String,
    /// The workload's own `progressDeadlineSeconds` (as the user set it), if it has one.
    pub progress_deadline_seconds: Option<i64>,
}

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn count(object: &Value, pointer: &str) -> i32 {
    int(object, pointer)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(0)
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn uid(object: &Value) -> &str {
    text(object, "/metadata/uid")
}

/// `spec.replicas`, defaulting to 1 as Kubernetes does.
pub fn spec_replicas(object: &Value) -> i32 {
    int(object, "/spec/replicas")
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(1)
}

/// Whether `child` is controlled by `owner` and not being deleted.
pub fn is_controlled_by(child: &Value, owner: &Value) -> bool {
    let owned = child
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|o| o["uid"].as_str() == Some(uid(owner)) && o["controller"] == Value::Bool(true));
    owned && child.pointer("/metadata/deletionTimestamp").is_none()
}

fn common(workload: &Value) -> WorkloadFacts {
    let generation = int(workload, "/metadata/generation").unwrap_or(0);
    WorkloadFacts {
        replicas: spec_replicas(workload),
        generation,
        generation_observed: int(workload, "/status/observedGeneration").unwrap_or(0) >= generation,
        in_progressing: annotation(workload, keys::IN_PROGRESSING).is_some(),
        rollout_id: label(workload, keys::ROLLOUT_ID)
            .unwrap_or_default()
            .to_string(),
        ..WorkloadFacts::default()
    }
}

fn revision_number(rs: &Value) -> i64 {
    annotation(rs, keys::DEPLOYMENT_REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The ReplicaSet of `deployment` running its current template, if it exists.
pub fn current_replica_set<'a>(deployment: &Value, replica_sets: &'a [Value]) -> Option<&'a Value> {
    let template = template_revision(deployment);
    replica_sets
        .iter()
        .filter(|rs| is_controlled_by(rs, deployment))
        .find(|rs| replica_set_template_revision(rs) == template)
}

/// Deployment released in place (partition style): the new ReplicaSet's pods are the batch.
pub fn partition_deployment(deployment: &Value, replica_sets: &[Value]) -> WorkloadFacts {
    let mut facts = common(deployment);
    let current = current_replica_set(deployment, replica_sets);
    let current_hash = current
        .and_then(|rs| label(rs, keys::POD_TEMPLATE_HASH))
        .unwrap_or("");
    let stable = label(deployment, keys::STABLE_REVISION);
    facts.canary_revision = template_revision(deployment);
    facts.pod_template_hash = current_hash.to_string();
    facts.stable_revision = stable.unwrap_or(current_hash).to_string();
    facts.in_rollback = stable.is_some_and(|s| !current_hash.is_empty() && s == current_hash);
    facts.updated = current.map_or(0, |rs| count(rs, "/status/replicas"));
    facts.updated_ready = current.map_or(0, |rs| count(rs, "/status/readyReplicas"));
    let marked = [
        keys::IN_PROGRESSING,
        keys::ORIGINAL_DEPLOYMENT_STRATEGY,
        keys::BATCH_POD_LIMIT,
        keys::DEPLOYMENT_EXTRA_STATUS,
    ]
    .iter()
    .any(|key| annotation(deployment, key).is_some());
    facts.released = !marked
        && label(deployment, keys::STABLE_REVISION).is_none()
        && deployment.pointer("/spec/paused") != Some(&Value::Bool(true));
    facts.promoted = deployment_promoted(deployment);
    facts.progress_deadline_seconds = annotation(deployment, keys::ORIGINAL_DEPLOYMENT_STRATEGY)
        .and_then(|saved| serde_json::from_str::<Value>(saved).ok())
        .map_or_else(
            || int(deployment, "/spec/progressDeadlineSeconds"),
            |saved| int(&saved, "/progressDeadlineSeconds"),
        );
    facts
}

/// Canary Deployments of `stable` (label `canary-deployment: <stable>`) that are not being deleted.
pub fn canary_deployments<'a>(stable: &Value, deployments: &'a [Value]) -> Vec<&'a Value> {
    let name = text(stable, "/metadata/name");
    deployments
        .iter()
        .filter(|d| label(d, keys::CANARY_DEPLOYMENT) == Some(name))
        .filter(|d| d.pointer("/metadata/deletionTimestamp").is_none())
        .collect()
}

/// Name of the canary Deployment for the stable Deployment's current template.
pub fn canary_deployment_name(stable: &Value) -> String {
    format!(
        "{}-{}",
        text(stable, "/metadata/name"),
        template_revision(stable)
    )
}

/// Deployment released through an extra canary Deployment; the stable one stays untouched.
/// `deployments` are the Deployments of the namespace (canaries are found by label).
pub fn canary_style_deployment(
    stable: &Value,
    replica_sets: &[Value],
    deployments: &[Value],
) -> WorkloadFacts {
    let mut facts = common(stable);
    let oldest_active = replica_sets
        .iter()
        .filter(|rs| is_controlled_by(rs, stable) && count(rs, "/spec/replicas") > 0)
        .min_by_key(|rs| revision_number(rs));
    facts.canary_revision = template_revision(stable);
    facts.stable_revision = oldest_active
        .and_then(|rs| label(rs, keys::POD_TEMPLATE_HASH))
        .unwrap_or_default()
        .to_string();
    facts.in_rollback =
        oldest_active.is_some_and(|rs| replica_set_template_revision(rs) == facts.canary_revision);
    let canaries = canary_deployments(stable, deployments);
    let name = canary_deployment_name(stable);
    if let Some(canary) = canaries.iter().find(|d| text(d, "/metadata/name") == name) {
        facts.updated = count(canary, "/status/replicas");
        facts.updated_ready = count(canary, "/status/availableReplicas");
        facts.pod_template_hash = current_replica_set(canary, replica_sets)
            .and_then(|rs| label(rs, keys::POD_TEMPLATE_HASH))
            .unwrap_or_default()
            .to_string();
    } else if !facts.in_progressing {
        facts.pod_template_hash = facts.stable_revision.clone();
    }
    facts.released = !facts.in_progressing
        && canaries.is_empty()
        && label(stable, keys::STABLE_REVISION).is_none()
        && stable.pointer("/spec/paused") != Some(&Value::Bool(true));
    facts.promoted = deployment_promoted(stable);
    facts.progress_deadline_seconds = int(stable, "/spec/progressDeadlineSeconds");
    facts
}

/// All replicas updated and available enough, as `kubectl rollout status` would say.
fn deployment_promoted(deployment: &Value) -> bool {
    let replicas = spec_replicas(deployment);
    let observed = int(deployment, "/status/observedGeneration").unwrap_or(0)
        >= int(deployment, "/metadata/generation").unwrap_or(0);
    observed
        && count(deployment, "/status/updatedReplicas") >= replicas
        && count(deployment, "/status/replicas") == replicas
        && count(deployment, "/status/availableReplicas") >= replicas
}

/// StatefulSet or Advanced StatefulSet released through its partition.
pub fn statefulset(workload: &Value) -> WorkloadFacts {
    let mut facts = common(workload);
    let current = text(workload, "/status/currentRevision");
    let update = text(workload, "/status/updateRevision");
    facts.stable_revision = current.to_string();
    facts.canary_revision = update.to_string();
    facts.pod_template_hash = update.to_string();
    facts.updated = count(workload, "/status/updatedReplicas");
    facts.in_rollback = !update.is_empty() && current == update && facts.updated != facts.replicas;
    let ready = count(workload, "/status/readyReplicas");
    let not_ready = (facts.replicas - ready).max(0);
    facts.updated_ready = match int(workload, "/status/updatedReadyReplicas") {
        Some(n) => i32::try_from(n).unwrap_or(0),
        None => (facts.updated - not_ready).max(0),
    };
    let partition = int(workload, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    facts.released = !facts.in_progressing && partition == 0;
    facts.promoted = facts.generation_observed && facts.updated >= facts.replicas && not_ready == 0;
    facts
}

/// The part of a CloneSet revision name after its last `-` (the revision hash pods carry).
fn revision_suffix(revision: &str) -> &str {
    revision.rsplit_once('-').map_or(revision, |(_, hash)| hash)
}

/// CloneSet released through its partition.
pub fn cloneset(workload: &Value) -> WorkloadFacts {
    let mut facts = common(workload);
    let current = revision_suffix(text(workload, "/status/currentRevision"));
    let update = revision_suffix(text(workload, "/status/updateRevision"));
    facts.stable_revision = current.to_string();
    facts.canary_revision = update.to_string();
    facts.pod_template_hash = update.to_string();
    facts.updated = count(workload, "/status/updatedReplicas");
    facts.updated_ready = count(workload, "/status/updatedReadyReplicas");
    // Blue-green pods beside the old ones: as many updated pods as replicas, but more pods.
    let pods = count(workload, "/status/replicas");
    facts.in_rollback = !update.is_empty()
        && current == update
        && (facts.updated != facts.replicas || pods > facts.replicas);
    let partition = workload
        .pointer("/spec/updateStrategy/partition")
        .filter(|p| !p.is_null() && p.as_i64() != Some(0) && p.as_str() != Some("0%"));
    let paused = workload.pointer("/spec/updateStrategy/paused") == Some(&Value::Bool(true));
    facts.released = !facts.in_progressing
        && partition.is_none()
        && !paused
        && annotation(workload, keys::ORIGINAL_DEPLOYMENT_STRATEGY).is_none();
    facts.promoted = facts.generation_observed
        && facts.updated >= facts.replicas
        && facts.updated_ready >= facts.replicas
        && pods <= facts.replicas;
    facts
}

/// Advanced DaemonSet released through its partition: one pod per scheduled node.
pub fn advanced_daemonset(workload: &Value) -> WorkloadFacts {
    let mut facts = common(workload);
    let desired = count(workload, "/status/desiredNumberScheduled");
    let update = revision_suffix(text(workload, "/status/daemonSetHash"));
    facts.replicas = desired;
    facts.canary_revision = update.to_string();
    facts.pod_template_hash = update.to_string();
    facts.updated = count(workload, "/status/updatedNumberScheduled");
    let not_ready = (desired - count(workload, "/status/numberReady")).max(0);
    facts.updated_ready = (facts.updated - not_ready).max(0);
    let partition = int(workload, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    let paused =
        workload.pointer("/spec/updateStrategy/rollingUpdate/paused") == Some(&Value::Bool(true));
    facts.released = !facts.in_progressing && partition == 0 && !paused;
    facts.promoted = facts.generation_observed && facts.updated >= desired && not_ready == 0;
    facts
}
