//! Which Rollout governs a workload.

use rollouts_api::common::RolloutPhase;
use rollouts_api::v1beta1::Rollout;
use serde_json::Value;

/// The Rollout in `namespace` whose workloadRef names this object (group and kind equal, the
/// version ignored), skipping Rollouts that are being deleted, disabled, or have no strategy.
pub fn governing_rollout<'a, I>(rollouts: I, namespace: &str, object: &Value) -> Option<&'a Rollout>
where
    I: IntoIterator<Item = &'a Rollout>,
{
    let api_version = object.get("apiVersion")?.as_str()?;
    let group = api_version.split_once('/').map_or("", |(g, _)| g);
    let kind = object.get("kind")?.as_str()?;
    let name = object.pointer("/metadata/name")?.as_str()?;
    rollouts.into_iter().find(|r| {
        let reference = &r.spec.workload_ref;
        r.metadata.namespace.as_deref() == Some(namespace)
            && r.metadata.deletion_timestamp.is_none()
            && r.spec.disabled != Some(true)
            && r.status.as_ref().and_then(|s| s.phase) != Some(RolloutPhase::Disabled)
            && (r.spec.strategy.canary.is_some() || r.spec.strategy.blue_green.is_some())
            && reference.group() == group
            && reference.kind == kind
            && reference.name == name
    })
}
