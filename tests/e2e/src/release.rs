//! Helpers for release scenarios: a namespace served by this process's webhook and controller,
//! the example YAML, the `kubectl get rollout` row, approval, and pods counted per version.

use crate::cluster::cluster;
use crate::controller::controller;
use crate::namespace::TestNamespace;
use crate::wait::wait_for;
use crate::webhook::{NAMESPACE_LABEL, webhook};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// How long one step of a release may take on a loaded CI machine.
pub const STEP_DEADLINE: Duration = Duration::from_secs(120);

/// A file of the sample application in `examples/echoserver/`.
pub fn example(file: &str) -> String {
    let path = crate::cluster::repo_root()
        .join("examples/echoserver")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The example echoserver at `version` (`NODE_NAME`), with `replicas` pods.
pub fn echoserver(version: &str, replicas: u32) -> String {
    example("echoserver.yaml")
        .replace("value: version1", &format!("value: {version}"))
        .replace("replicas: 5", &format!("replicas: {replicas}"))
}

/// The example echoserver (its Service included) as an OpenKruise CloneSet.
pub fn echoserver_cloneset(version: &str, replicas: u32) -> String {
    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment";
    const CLONESET: &str = "apiVersion: apps.kruise.io/v1alpha1\nkind: CloneSet";
    let yaml = echoserver(version, replicas);
    assert!(yaml.contains(DEPLOYMENT), "the example still starts so");
    yaml.replacen(DEPLOYMENT, CLONESET, 1)
}

/// The echoserver as a StatefulSet (`apps/v1` or OpenKruise's `apps.kruise.io/v1beta1`) of
/// `replicas` pods at `version` (`NODE_NAME`).
pub fn echoserver_statefulset(api_version: &str, version: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: {api_version}
kind: StatefulSet
metadata:
  name: echoserver
spec:
  serviceName: echoserver
  replicas: {replicas}
  selector:
    matchLabels:
      app: echoserver
  template:
    metadata:
      labels:
        app: echoserver
    spec:
      containers:
      - name: echoserver
        image: openkruise-registry.cn-shanghai.cr.aliyuncs.com/openkruise/demo:1.10.2
        env:
        - name: NODE_NAME
          value: {version}
"#
    )
}

/// `yaml` (one workload, possibly with other objects) with its pod template annotated so that
/// the local control plane keeps the pods Running but never Ready (a broken version).
pub fn never_ready(yaml: &str) -> String {
    let template = "  template:\n    metadata:\n";
    assert!(yaml.contains(template), "a workload with a pod template");
    yaml.replacen(
        template,
        "  template:\n    metadata:\n      annotations:\n        k8scluster.test/not-ready: \"true\"\n",
        1,
    )
}

/// The echoserver as a DaemonSet (`apps/v1` or OpenKruise's `apps.kruise.io/v1alpha1`), one
/// pod per node, at `version` (`NODE_NAME`).
pub fn echoserver_daemonset(api_version: &str, version: &str) -> String {
    format!(
        r#"
apiVersion: {api_version}
kind: DaemonSet
metadata:
  name: echoserver
spec:
  selector:
    matchLabels:
      app: echoserver
  template:
    metadata:
      labels:
        app: echoserver
    spec:
      containers:
      - name: echoserver
        image: openkruise-registry.cn-shanghai.cr.aliyuncs.com/openkruise/demo:1.10.2
        env:
        - name: NODE_NAME
          value: {version}
"#
    )
}

/// A namespace that this process's webhook and controller serve.
pub async fn release_namespace(prefix: &str) -> (kube::Client, TestNamespace) {
    let hook = webhook();
    drop(controller().lock().unwrap_or_else(|e| e.into_inner()));
    let client = cluster().client().await;
    let ns =
        TestNamespace::create_labelled(&client, prefix, json!({NAMESPACE_LABEL: hook.selector}))
            .await;
    (client, ns)
}

/// `kubectl apply -n <ns> -f -` of `yaml`.
pub fn apply(ns: &str, yaml: &str) {
    if let Err(e) = cluster().kubectl_with_input(&["apply", "-n", ns, "-f", "-"], yaml) {
        panic!("kubectl apply failed: {e}\n{yaml}");
    }
}

/// The workload `name` of `kind` in `api_version` (any group, e.g. OpenKruise's), as JSON.
pub async fn workload(
    client: &kube::Client,
    ns: &str,
    api_version: &str,
    kind: &str,
    name: &str,
) -> serde_json::Value {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(client.clone(), ns, &resource);
    let object = api
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("{kind} {ns}/{name}: {e}"));
    serde_json::to_value(object).expect("JSON")
}

/// The row of `kubectl get rollout <name>`, keyed by column header.
pub fn rollout_row(ns: &str, name: &str) -> BTreeMap<String, String> {
    let table = cluster().kubectl(&["get", "rollout", name, "-n", ns]);
    let mut lines = table.lines();
    let header = lines.next().unwrap_or_default();
    let row = lines.next().unwrap_or_default();
    let mut from = 0;
    let starts: Vec<(usize, &str)> = header
        .split_whitespace()
        .map(|word| {
            let start = from + header[from..].find(word).unwrap_or(0);
            from = start + word.len();
            (start, word)
        })
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(i, (start, word))| {
            let end = starts
                .get(i + 1)
                .map_or(row.len(), |(next, _)| *next)
                .min(row.len());
            let cell = row.get((*start).min(row.len())..end).unwrap_or_default();
            (word.to_string(), cell.trim().to_string())
        })
        .collect()
}

/// Waits until the rollout row shows `status`, `step` and `state` (and `message`, if given).
pub async fn wait_row(
    ns: &str,
    name: &str,
    status: &str,
    step: &str,
    state: &str,
    message: Option<&str>,
) {
    let what = format!("rollout {name}: {status} {step} {state} {message:?}");
    wait_for(&what, STEP_DEADLINE, || async {
        let row = rollout_row(ns, name);
        let seen = |c: &str| {
            row.get(c)
                .map(String::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let matches = seen("STATUS") == status
            && seen("CANARY_STEP") == step
            && seen("CANARY_STATE") == state
            && message.is_none_or(|m| seen("MESSAGE") == m);
        if matches {
            Ok(())
        } else {
            Err(format!("{row:?}"))
        }
    })
    .await;
}

/// Waits until Rollout `name` pauses at `step` of `total` for a manual approval.
pub async fn wait_paused(ns: &str, name: &str, step: u32, total: u32) {
    let message = format!(
        "Rollout is in step({step}/{total}), and you need manually confirm to enter the next step"
    );
    wait_row(
        ns,
        name,
        "Progressing",
        &step.to_string(),
        "StepPaused",
        Some(&message),
    )
    .await;
}

/// A field of Rollout `name`'s JSON by a kubectl jsonpath (`.status.canaryStatus.stableRevision`).
pub fn rollout_field(ns: &str, name: &str, path: &str) -> String {
    cluster().kubectl(&[
        "get",
        "rollout",
        name,
        "-n",
        ns,
        "-o",
        &format!("jsonpath={{{path}}}"),
    ])
}

/// Approves the paused step the way upstream's CLI does: a status merge patch.
pub fn approve(ns: &str, name: &str) {
    cluster().kubectl(&[
        "patch",
        "rollout",
        name,
        "-n",
        ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"canaryStatus":{"currentStepState":"StepReady"}}}"#,
    ]);
}

/// Running (not terminating) pods labelled `app=<app>`, counted per `NODE_NAME` value.
pub async fn pods_by_version(
    client: &kube::Client,
    ns: &str,
    app: &str,
) -> BTreeMap<String, usize> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await;
    let mut counts = BTreeMap::new();
    for pod in list.map(|l| l.items).unwrap_or_default() {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let version = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.env.iter().flatten())
            .find(|e| e.name == "NODE_NAME")
            .and_then(|e| e.value.clone())
            .unwrap_or_default();
        *counts.entry(version).or_insert(0) += 1;
    }
    counts
}

/// Waits until exactly `expected` pods (per version) exist and every one is Ready.
pub async fn wait_pods(client: &kube::Client, ns: &str, app: &str, expected: &[(&str, usize)]) {
    wait_pod_counts(client, ns, app, expected, true).await;
}

/// Waits until exactly `expected` pods (per version) exist, Ready or not unless `ready`.
pub async fn wait_pod_counts(
    client: &kube::Client,
    ns: &str,
    app: &str,
    expected: &[(&str, usize)],
    ready: bool,
) {
    let want: BTreeMap<String, usize> = expected.iter().map(|(v, n)| (v.to_string(), *n)).collect();
    wait_for(
        &format!("pods {want:?} (all ready: {ready})"),
        STEP_DEADLINE,
        || async {
            let seen = pods_by_version(client, ns, app).await;
            let all_ready = !ready || all_ready(client, ns, app).await;
            if seen == want && all_ready {
                Ok(())
            } else {
                Err(format!("{seen:?}, all ready: {all_ready}"))
            }
        },
    )
    .await;
}

async fn all_ready(client: &kube::Client, ns: &str, app: &str) -> bool {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await;
    list.map(|l| l.items)
        .unwrap_or_default()
        .iter()
        .all(pod_is_ready)
}

/// Whether a pod's Ready condition is true.
pub fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .iter()
        .flat_map(|s| s.conditions.iter().flatten())
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// Checks that the Rollout's `stableRevision` and `podTemplateHash` are exactly the revision
/// label (`key`: `pod-template-hash` or `controller-revision-hash`) of the pods of `stable` and
/// `canary` (their `NODE_NAME` versions).
pub async fn assert_status_revisions(
    client: &kube::Client,
    ns: &str,
    rollout: &str,
    key: &str,
    (stable, canary): (&str, &str),
) {
    let rollouts: Api<rollouts_api::v1beta1::Rollout> = Api::namespaced(client.clone(), ns);
    let status = rollouts
        .get(rollout)
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    let common = status.canary_status.unwrap_or_default().common;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut labels: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for pod in pods.list(&ListParams::default()).await.unwrap().items {
        let version = serde_json::to_string(&pod.spec).unwrap_or_default();
        let version = [stable, canary]
            .into_iter()
            .find(|v| version.contains(&format!("\"{v}\"")));
        let value = pod.metadata.labels.unwrap_or_default().get(key).cloned();
        if let (Some(version), Some(value)) = (version, value) {
            labels.entry(version.to_string()).or_default().insert(value);
        }
    }
    let one = |v: &str| labels.get(v).map(|s| s.iter().cloned().collect::<Vec<_>>());
    assert_eq!(
        one(stable),
        common.stable_revision.map(|r| vec![r]),
        "stableRevision vs {stable} pods' {key}: {labels:?}"
    );
    assert_eq!(
        one(canary),
        common.pod_template_hash.map(|r| vec![r]),
        "podTemplateHash vs {canary} pods' {key}: {labels:?}"
    );
}

/// Pods labelled `app=echoserver` and `rollout-id=<rollout_id>`, counted per `rollout-batch-id`.
pub async fn pods_per_batch(
    client: &kube::Client,
    ns: &str,
    rollout_id: &str,
) -> BTreeMap<String, usize> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!(
        "app=echoserver,{}={rollout_id}",
        rollouts_api::keys::ROLLOUT_ID
    );
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let mut counts = BTreeMap::new();
    for pod in list
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let labels = pod.metadata.labels.clone().unwrap_or_default();
        let batch = labels
            .get(rollouts_api::keys::ROLLOUT_BATCH_ID)
            .cloned()
            .unwrap_or_default();
        *counts.entry(batch).or_insert(0) += 1;
    }
    counts
}

/// Waits until the pods labelled with `rollout_id` are exactly `expected` per batch.
pub async fn wait_batches(
    client: &kube::Client,
    ns: &str,
    rollout_id: &str,
    expected: &[(&str, usize)],
) {
    let want: BTreeMap<String, usize> = expected.iter().map(|(b, n)| (b.to_string(), *n)).collect();
    wait_for(
        &format!("pods of rollout-id {rollout_id} per batch {want:?}"),
        STEP_DEADLINE,
        || async {
            let seen = pods_per_batch(client, ns, rollout_id).await;
            match seen == want {
                true => Ok(()),
                false => Err(format!("{seen:?}")),
            }
        },
    )
    .await;
}

/// The `NODE_NAME` version of pods `echoserver-0..count` of a StatefulSet, in ordinal order
/// (empty for a missing pod).
pub async fn versions_by_ordinal(client: &kube::Client, ns: &str, count: usize) -> Vec<String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    for ordinal in 0..count {
        let pod = pods
            .get_opt(&format!("echoserver-{ordinal}"))
            .await
            .ok()
            .flatten();
        let version = pod
            .iter()
            .flat_map(|p| p.spec.iter())
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.env.iter().flatten())
            .find(|e| e.name == "NODE_NAME")
            .and_then(|e| e.value.clone())
            .unwrap_or_default();
        out.push(version);
    }
    out
}

/// Disables Rollout `name` (`spec.disabled: true`) and waits until it says so.
pub async fn disable_rollout(ns: &str, name: &str) {
    let disable = r#"{"spec":{"disabled":true}}"#;
    cluster().kubectl(&[
        "patch",
        "rollout",
        name,
        "-n",
        ns,
        "--type=merge",
        "-p",
        disable,
    ]);
    wait_row(ns, name, "Disabled", "", "", Some("Rollout is disabled")).await;
}

/// Deletes Rollout `name` and waits (at most 60 s) until it is gone.
pub fn delete_rollout(ns: &str, name: &str) {
    cluster().kubectl(&[
        "delete",
        "rollout",
        name,
        "-n",
        ns,
        "--wait=true",
        "--timeout=60s",
    ]);
}
