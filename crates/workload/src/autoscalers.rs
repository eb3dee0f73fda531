//! HorizontalPodAutoscalers during a blue-green release: an autoscaler that scaled the workload
//! while old and new pods run side by side would resize both sets, so its target is renamed
//! (`<name>-DisableByRollout`, which matches no workload) while the release runs, and renamed
//! back when it ends. Both are idempotent.

use rollouts_api::keys;
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::{Value, json};

/// The target of an autoscaler: apiVersion group, kind and name.
fn target(autoscaler: &Value) -> (&str, &str, &str) {
    let reference = &autoscaler["spec"]["scaleTargetRef"];
    let text = |field: &str| reference[field].as_str().unwrap_or_default();
    let group = text("apiVersion").split('/').next().unwrap_or_default();
    (group, text("kind"), text("name"))
}

fn retarget(autoscaler: &Value, name: String, why: &str) -> Effect {
    let key = ObjectKey::new(
        Resource::HORIZONTAL_POD_AUTOSCALER,
        autoscaler["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default(),
        autoscaler["metadata"]["name"].as_str().unwrap_or_default(),
    );
    Effect::merge(
        key,
        json!({"spec": {"scaleTargetRef": {"name": name}}}),
        why,
    )
}

/// The group of an apiVersion (`apps/v1` -> `apps`).
fn group(api_version: &str) -> &str {
    api_version.split('/').next().unwrap_or_default()
}

/// Retargets the autoscalers of workload `kind` `name` (`api_version`) away from it.
pub fn disable(autoscalers: &[Value], api_version: &str, kind: &str, name: &str) -> Vec<Effect> {
    autoscalers
        .iter()
        .filter(|a| target(a) == (group(api_version), kind, name))
        .map(|a| {
            let disabled = format!("{name}{}", keys::HPA_DISABLED_SUFFIX);
            retarget(
                a,
                disabled,
                "keep the autoscaler off during the blue-green release",
            )
        })
        .collect()
}

/// Points the autoscalers a release turned away from the workload back at it.
pub fn restore(autoscalers: &[Value], api_version: &str, kind: &str, name: &str) -> Vec<Effect> {
    let disabled = format!("{name}{}", keys::HPA_DISABLED_SUFFIX);
    autoscalers
        .iter()
        .filter(|a| target(a) == (group(api_version), kind, disabled.as_str()))
        .map(|a| {
            retarget(
                a,
                name.to_string(),
                "the release ended: the autoscaler is back",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn autoscaler(name: &str, api_version: &str, kind: &str, target: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": api_version, "kind": kind, "name": target}}})
    }

    #[test]
    fn only_the_workloads_autoscalers_are_turned_away_and_back() {
        let autoscalers = [
            autoscaler("web", "apps/v1", "Deployment", "web"),
            autoscaler("other", "apps/v1", "Deployment", "other"),
            autoscaler("clone", "apps.kruise.io/v1alpha1", "CloneSet", "web"),
        ];
        let off = disable(&autoscalers, "apps/v1", "Deployment", "web");
        assert_eq!(off.len(), 1);
        assert_eq!(
            off[0].object.to_string(),
            "HorizontalPodAutoscaler shop/web"
        );
        assert_eq!(
            off[0].change,
            rollouts_change::Change::Merge(
                json!({"spec": {"scaleTargetRef": {"name": "web-DisableByRollout"}}})
            )
        );
        assert!(restore(&autoscalers, "apps/v1", "Deployment", "web").is_empty());

        let disabled = [autoscaler(
            "web",
            "apps/v1",
            "Deployment",
            "web-DisableByRollout",
        )];
        assert!(disable(&disabled, "apps/v1", "Deployment", "web").is_empty());
        let back = restore(&disabled, "apps/v1", "Deployment", "web");
        assert_eq!(
            back[0].change,
            rollouts_change::Change::Merge(json!({"spec": {"scaleTargetRef": {"name": "web"}}}))
        );
    }
}
