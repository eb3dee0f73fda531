//! Reads the cluster into the views the invariants judge: Rollouts, the soak's workloads (what
//! holds their pods back, our marks on them) and the canary routes with their Ready pods.

use super::apps::Kind;
use super::invariants::{RolloutView, RouteView, WorkloadView};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use serde_json::Value;

/// The soak's Rollout in `namespace`, when there is one.
pub async fn rollout(client: &Client, namespace: &str) -> Result<Option<RolloutView>, kube::Error> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), namespace);
    Ok(api.get_opt("chaos").await?.map(|r| rollout_view(&r)))
}

/// What the invariants need of a Rollout.
pub fn rollout_view(rollout: &Rollout) -> RolloutView {
    let meta = &rollout.metadata;
    let status = rollout.status.clone().unwrap_or_default();
    let canary = status.canary_status.clone().unwrap_or_default();
    RolloutView {
        key: format!(
            "{}/{}",
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default()
        ),
        uid: meta.uid.clone().unwrap_or_default(),
        resource_version: meta
            .resource_version
            .as_deref()
            .and_then(|rv| rv.parse().ok())
            .unwrap_or(0),
        revision: canary.canary_revision.clone().unwrap_or_default(),
        stable_revision: canary.common.stable_revision.clone().unwrap_or_default(),
        step: canary.common.current_step_index.unwrap_or(0),
        state: canary
            .common
            .current_step_state
            .and_then(|s| enum_text(&s))
            .unwrap_or_default(),
        phase: status.phase.and_then(|p| enum_text(&p)).unwrap_or_default(),
        message: status.message.clone().unwrap_or_default(),
        approved_step_annotation: meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(keys::APPROVED_STEP).cloned()),
    }
}

/// The wire text of a status enum (`"StepPaused"`, `"Healthy"`).
fn enum_text(value: &impl serde::Serialize) -> Option<String> {
    serde_json::to_value(value).ok()?.as_str().map(String::from)
}

/// The API of a kind's workloads in `namespace`.
pub fn workload_api(client: &Client, namespace: &str, kind: Kind) -> Api<DynamicObject> {
    let (api_version, kind_name) = kind.workload_type();
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind_name.into(),
        plural: format!("{}s", kind_name.to_lowercase()),
    };
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// The soak's workload in `namespace`, when it exists.
pub async fn workload(
    client: &Client,
    namespace: &str,
    kind: Kind,
) -> Result<Option<WorkloadView>, kube::Error> {
    let object = workload_api(client, namespace, kind)
        .get_opt("echoserver")
        .await?;
    Ok(object.map(|o| workload_view(kind, &serde_json::to_value(o).unwrap_or_default())))
}

/// The version (`NODE_NAME` `v<N>`) that the pods of `revision` (their `pod-template-hash` or
/// `controller-revision-hash`) run in `namespace`, read from one of them; `None` when no pod
/// runs it.
pub async fn version_of_revision(client: &Client, namespace: &str, revision: &str) -> Option<u32> {
    if revision.is_empty() {
        return None;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels("app=echoserver"))
        .await
        .ok()?;
    listed
        .items
        .iter()
        .filter(|pod| {
            let labels = pod.metadata.labels.as_ref();
            [keys::POD_TEMPLATE_HASH, "controller-revision-hash"]
                .iter()
                .any(|key| labels.and_then(|l| l.get(*key)).map(String::as_str) == Some(revision))
        })
        .flat_map(|pod| pod.spec.iter().flat_map(|s| s.containers.iter()))
        .flat_map(|container| container.env.iter().flatten())
        .find(|env| env.name == "NODE_NAME")
        .and_then(|env| env.value.as_deref()?.strip_prefix('v')?.parse().ok())
}

/// Whether a label or annotation key is one of ours that must not outlive the Rollout. The
/// workload-type label stays, as upstream leaves it: it only routes the workload's updates to the
/// webhook, which lets them through once no Rollout governs the workload.
fn ours(key: &str) -> bool {
    let group = key.split_once('/').map_or("", |(group, _)| group);
    let prefixed = group == keys::GROUP || group == format!("batchrelease.{}", keys::GROUP);
    prefixed && key != keys::WORKLOAD_TYPE
}

/// What holds a workload's pods back, and our marks on it, from its JSON.
pub fn workload_view(kind: Kind, object: &Value) -> WorkloadView {
    let (_, kind_name) = kind.workload_type();
    let meta = &object["metadata"];
    let spec = &object["spec"];
    let mut held_by = Vec::new();
    if spec["paused"].as_bool() == Some(true) {
        held_by.push("spec.paused=true".to_string());
    }
    let strategy = match kind {
        Kind::CloneSet => &spec["updateStrategy"],
        _ => &spec["updateStrategy"]["rollingUpdate"],
    };
    let partition = &strategy["partition"];
    let partitioned = match partition {
        Value::Number(n) => n.as_i64().is_some_and(|n| n > 0),
        Value::String(s) => !matches!(s.as_str(), "0" | "0%"),
        _ => false,
    };
    let partition_field = match kind {
        Kind::CloneSet => "spec.updateStrategy.partition",
        _ => "spec.updateStrategy.rollingUpdate.partition",
    };
    if partitioned {
        held_by.push(format!("{partition_field}={partition}"));
    }
    if kind != Kind::StatefulSet && strategy["paused"].as_bool() == Some(true) {
        held_by.push(format!(
            "{}.paused=true",
            partition_field.trim_end_matches(".partition")
        ));
    }
    let keys_of = |field: &str| -> Vec<String> {
        meta[field]
            .as_object()
            .map(|m| m.keys().filter(|k| ours(k)).cloned().collect())
            .unwrap_or_default()
    };
    let mut marks: Vec<String> = keys_of("annotations")
        .into_iter()
        .map(|k| format!("annotation {k}"))
        .chain(keys_of("labels").into_iter().map(|k| format!("label {k}")))
        .collect();
    if matches!(kind, Kind::DeploymentCanary | Kind::DeploymentPartition) {
        let default = serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
        if spec["strategy"] != default {
            marks.push(format!("spec.strategy={}", spec["strategy"]));
        }
    }
    let finalizers = meta["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .filter(|f| f.contains("rollouts.kruise.io"))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    WorkloadView {
        object: format!(
            "{kind_name} {}/{}",
            meta["namespace"].as_str().unwrap_or_default(),
            meta["name"].as_str().unwrap_or_default()
        ),
        held_by,
        marks,
        finalizers,
        unobserved: object["status"]["observedGeneration"].as_i64() < meta["generation"].as_i64(),
        rolled_out: rolled_out(object),
    }
}

fn rolled_out(object: &Value) -> bool {
    let status = &object["status"];
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    status["observedGeneration"].as_i64() >= object["metadata"]["generation"].as_i64()
        && status["updatedReplicas"].as_i64() == Some(replicas)
        && status["replicas"].as_i64() == Some(replicas)
}

/// The canary routes in `namespace`: Nginx canary Ingresses that send traffic (a weight above
/// zero or a match), with the Ready pods of the Service they send it to.
pub async fn routes(client: &Client, namespace: &str) -> Result<Vec<RouteView>, kube::Error> {
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let mut routes = Vec::new();
    for ingress in ingresses.list(&ListParams::default()).await? {
        let annotations = ingress.metadata.annotations.clone().unwrap_or_default();
        let nginx = |key: &str| annotations.get(&format!("nginx.ingress.kubernetes.io/{key}"));
        if nginx("canary").map(String::as_str) != Some("true") {
            continue;
        }
        let weight: i64 = nginx("canary-weight")
            .and_then(|w| w.parse().ok())
            .unwrap_or(0);
        let sends = match (weight, nginx("canary-by-header")) {
            (w, _) if w > 0 => format!("canary-weight={w}"),
            (_, Some(header)) => format!("canary-by-header={header}"),
            _ => continue,
        };
        let backends = ingress
            .spec
            .iter()
            .flat_map(|s| s.rules.iter().flatten())
            .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
            .filter_map(|p| p.backend.service.as_ref().map(|s| s.name.clone()));
        for service in backends.collect::<std::collections::BTreeSet<_>>() {
            routes.push(RouteView {
                object: format!(
                    "Ingress {namespace}/{}",
                    ingress.metadata.name.clone().unwrap_or_default()
                ),
                sends: sends.clone(),
                ready_pods: ready_pods(client, namespace, &service).await?,
                service,
            });
        }
    }
    Ok(routes)
}

/// Ready, not terminating pods that Service `name` selects (none when it has no selector or
/// does not exist).
async fn ready_pods(client: &Client, namespace: &str, name: &str) -> Result<usize, kube::Error> {
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let Some(selector) = services
        .get_opt(name)
        .await?
        .and_then(|s| s.spec)
        .and_then(|s| s.selector)
        .filter(|s| !s.is_empty())
    else {
        return Ok(0);
    };
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let listed = pods
        .list(&ListParams::default().labels(&labels.join(",")))
        .await?;
    Ok(listed
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| crate::release::pod_is_ready(p))
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn holds_and_marks_are_read_per_kind() {
        let deployment = json!({
            "metadata": {"namespace": "ns", "name": "echoserver",
                "annotations": {keys::IN_PROGRESSING: "{}", "other": "x"},
                "labels": {keys::CONTROLLED_BY_ADVANCED_DEPLOYMENT: "true", keys::WORKLOAD_TYPE: "deployment"},
                "finalizers": [keys::BATCH_RELEASE_FINALIZER, "other/f"]},
            "spec": {"paused": true, "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}}
        });
        let view = workload_view(Kind::DeploymentPartition, &deployment);
        assert_eq!(view.object, "Deployment ns/echoserver");
        assert_eq!(view.held_by, ["spec.paused=true"]);
        assert_eq!(
            view.marks,
            [
                format!("annotation {}", keys::IN_PROGRESSING),
                format!("label {}", keys::CONTROLLED_BY_ADVANCED_DEPLOYMENT)
            ]
        );
        assert_eq!(view.finalizers, [keys::BATCH_RELEASE_FINALIZER]);
        assert!(!view.unobserved, "no generation to observe");
        let seen = |generation: i64, observed: i64| {
            let object = json!({"metadata": {"generation": generation}, "spec": {},
                "status": {"observedGeneration": observed}});
            !workload_view(Kind::StatefulSet, &object).unobserved
        };
        assert!(seen(4, 4));
        assert!(!seen(5, 4), "its controller has yet to see generation 5");
        let rolled = |generation: i64, updated: i64, pods: i64| {
            let object = json!({"metadata": {"generation": generation}, "spec": {"replicas": 3},
                "status": {"observedGeneration": 4, "updatedReplicas": updated, "replicas": pods}});
            workload_view(Kind::DeploymentCanary, &object).rolled_out
        };
        assert!(rolled(4, 3, 3));
        assert!(!rolled(4, 2, 3), "a pod on an older template");
        assert!(!rolled(4, 3, 4), "an older pod still there");
        assert!(!rolled(5, 3, 3), "a newer spec not observed yet");

        let changed = json!({"metadata": {}, "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}}});
        assert_eq!(
            workload_view(Kind::DeploymentCanary, &changed).marks.len(),
            1,
            "a changed strategy is ours"
        );

        let cases = [
            (
                Kind::StatefulSet,
                json!({"updateStrategy": {"rollingUpdate": {"partition": 3}}}),
                vec!["spec.updateStrategy.rollingUpdate.partition=3"],
            ),
            (
                Kind::StatefulSet,
                json!({"updateStrategy": {"rollingUpdate": {"partition": 0}}}),
                vec![],
            ),
            (
                Kind::AdvancedStatefulSet,
                json!({"updateStrategy": {"rollingUpdate": {"partition": 2, "paused": true}}}),
                vec![
                    "spec.updateStrategy.rollingUpdate.partition=2",
                    "spec.updateStrategy.rollingUpdate.paused=true",
                ],
            ),
            (
                Kind::CloneSet,
                json!({"updateStrategy": {"partition": "50%"}}),
                vec!["spec.updateStrategy.partition=\"50%\""],
            ),
            (
                Kind::CloneSet,
                json!({"updateStrategy": {"partition": "0%"}}),
                vec![],
            ),
        ];
        for (kind, spec, held) in cases {
            let view = workload_view(kind, &json!({"metadata": {}, "spec": spec}));
            assert_eq!(view.held_by, held, "{kind:?} {spec}");
        }
    }
}
