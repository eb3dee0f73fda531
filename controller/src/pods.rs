//! Objects read from the API rather than watched: new-version pods that are not Ready and why,
//! for the step-deadline message (listed only when a step is overdue), the workload's pods with
//! their revision and release labels (listed only when the decision needs them), and the
//! HorizontalPodAutoscalers a blue-green release turns off and back on.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_plan::machine;
use rollouts_workload::labels::PodLabels;
use rollouts_workload::release::Release;

/// At most this many pods are named in a message.
const NAMED: usize = 5;

/// The pods of `release` (not being deleted), only those on its new revision when
/// `new_only`, listed from the API; `None` when the revision is not known yet or the list fails
/// (`what` names the purpose in the log).
async fn list_pods(
    client: &kube::Client,
    release: &dyn Release,
    new_only: bool,
    what: &str,
) -> Option<Vec<Pod>> {
    let revision = &release.facts().pod_template_hash;
    if revision.is_empty() {
        return None;
    }
    let mut selector: Vec<String> = release
        .pod_selector()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if new_only {
        selector.push(format!("{}={revision}", release.revision_key()));
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), &release.object().namespace);
    match api
        .list(&ListParams::default().labels(&selector.join(",")))
        .await
    {
        Ok(pods) => Some(
            pods.items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(%error, "could not list pods for {what}");
            None
        }
    }
}

/// `name (reason)` for each new-version pod of `release` that is not Ready.
pub async fn not_ready_pods(client: &kube::Client, release: &dyn Release) -> Vec<String> {
    list_pods(client, release, true, "the deadline message")
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(describe_not_ready)
        .take(NAMED)
        .collect()
}

/// The pods of `release` with their revision and release labels when the decision for
/// `rollout` needs them; `None` otherwise, so that other releases list no pods.
pub async fn workload_pods(
    client: &kube::Client,
    rollout: &Rollout,
    release: &dyn Release,
) -> Option<Vec<PodLabels>> {
    if !machine::needs_pods(rollout, release) {
        return None;
    }
    let revision_key = release.revision_key();
    let pods = list_pods(client, release, false, "their release labels").await?;
    Some(
        pods.into_iter()
            .map(|pod| {
                let ready = is_ready(&pod);
                let terminating = pod.metadata.deletion_timestamp.is_some();
                let labels = pod.metadata.labels.unwrap_or_default();
                PodLabels {
                    ready,
                    terminating,
                    name: pod.metadata.name.unwrap_or_default(),
                    revision: labels.get(revision_key).cloned(),
                    no_need_update: labels.get(keys::NO_NEED_UPDATE).cloned(),
                    rollout_id: labels.get(keys::ROLLOUT_ID).cloned(),
                    batch_id: labels.get(keys::ROLLOUT_BATCH_ID).cloned(),
                }
            })
            .collect(),
    )
}

/// The HorizontalPodAutoscalers of `rollout`'s namespace (as JSON), read from the API for a
/// blue-green release; `None` when the list fails (logged; the next look tries again).
pub async fn autoscalers(
    client: &kube::Client,
    rollout: &Rollout,
) -> Option<Vec<serde_json::Value>> {
    use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
    let namespace = rollout.metadata.namespace.as_deref().unwrap_or_default();
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), namespace);
    match api.list(&ListParams::default()).await {
        Ok(list) => Some(
            list.items
                .iter()
                .filter_map(|a| serde_json::to_value(a).ok())
                .collect(),
        ),
        Err(error) => {
            tracing::warn!(%error, "could not list the HorizontalPodAutoscalers");
            None
        }
    }
}

/// Whether a pod's Ready condition is true.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// `Some("name (reason)")` for a pod that is not Ready.
fn describe_not_ready(pod: &Pod) -> Option<String> {
    if is_ready(pod) {
        return None;
    }
    let status = pod.status.as_ref();
    let conditions = status.and_then(|s| s.conditions.as_ref());
    let ready = conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "Ready");
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone());
    let unscheduled = conditions
        .into_iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
        .and_then(|c| c.message.clone());
    let reason = waiting
        .or(unscheduled)
        .or_else(|| ready.and_then(|c| c.reason.clone().or(c.message.clone())))
        .or_else(|| status.and_then(|s| s.phase.clone()))
        .unwrap_or_else(|| "not ready".into());
    let name = pod.metadata.name.clone().unwrap_or_default();
    Some(format!("{name} ({reason})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> Pod {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn not_ready_pods_are_named_with_the_most_telling_reason() {
        let cases = [
            (
                serde_json::json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
                None,
            ),
            (
                serde_json::json!({"metadata": {"name": "b"}, "status": {"phase": "Pending",
                "containerStatuses": [{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}}),
                Some("b (ImagePullBackOff)"),
            ),
            (
                serde_json::json!({"metadata": {"name": "c"}, "status": {"phase": "Pending",
                "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/1 nodes are available"}]}}),
                Some("c (0/1 nodes are available)"),
            ),
            (
                serde_json::json!({"metadata": {"name": "d"}, "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}]}}),
                Some("d (ContainersNotReady)"),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(describe_not_ready(&pod(value)).as_deref(), expected);
        }
    }
}
