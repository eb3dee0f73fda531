//! Native DaemonSets: cached (without their pod template); their current revision (the newest
//! ControllerRevision they own) and their pods are read from the API on each look, since a
//! batch deletes chosen old pods (`rollouts_workload::release::NativeDaemonSetRelease`).

use crate::context::Stores;
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::ObjectRef;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_workload::release::{DaemonPod, NativeDaemonSetRelease, Release};

/// The release of `rollout`'s DaemonSet, `None` when it does not exist or its pods cannot be
/// read (the reconcile then waits as for a missing workload, and the error is logged).
pub async fn observe(
    client: &kube::Client,
    stores: &Stores,
    rollout: &Rollout,
) -> Option<Box<dyn Release>> {
    let namespace = rollout.namespace()?;
    let key = ObjectRef::new(&rollout.spec.workload_ref.name).within(&namespace);
    let daemonset = stores.daemon_sets.get(&key)?;
    let selector = daemonset
        .spec
        .selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let list = ListParams::default().labels(&selector);
    let failed = |what: &str, error: kube::Error| {
        tracing::warn!(%error, daemonset = %daemonset.name_any(), "cannot list the {what}");
    };
    let revisions: Api<ControllerRevision> = Api::namespaced(client.clone(), &namespace);
    let revisions = revisions
        .list(&list)
        .await
        .map_err(|e| failed("ControllerRevisions", e))
        .ok()?;
    let uid = daemonset.metadata.uid.as_deref();
    let current = revisions
        .items
        .iter()
        .filter(|r| {
            r.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
        })
        .max_by_key(|r| r.revision)
        .and_then(|r| r.labels().get(keys::CONTROLLER_REVISION_HASH).cloned())
        .unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let pods = pods.list(&list).await.map_err(|e| failed("pods", e)).ok()?;
    let pods = pods
        .items
        .iter()
        .filter(|p| {
            p.owner_references()
                .iter()
                .any(|o| o.controller == Some(true) && Some(o.uid.as_str()) == uid)
        })
        .map(|p| DaemonPod {
            name: p.name_any(),
            revision: p
                .labels()
                .get(keys::CONTROLLER_REVISION_HASH)
                .cloned()
                .unwrap_or_default(),
            ready: crate::pods::is_ready(p),
            deleting: p.metadata.deletion_timestamp.is_some(),
        })
        .collect();
    let mut object = serde_json::to_value(daemonset.as_ref()).ok()?;
    object["apiVersion"] = serde_json::json!("apps/v1");
    object["kind"] = serde_json::json!("DaemonSet");
    Some(Box::new(NativeDaemonSetRelease::new(
        object, pods, &current,
    )))
}
