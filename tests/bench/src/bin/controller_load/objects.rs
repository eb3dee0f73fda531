//! The bench objects: nodes, namespaces, Deployments and Rollouts, created, settled and deleted.

use crate::common::{BENCH_LABEL, log};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use rollouts_api::keys;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::fmt::Debug;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// Objects.

/// Fake nodes for `pods` pods: KWOK nodes take 110 pods each; at least 3, as tests/cluster.
pub(crate) fn nodes_for(pods: usize) -> usize {
    (pods + 50).div_ceil(100).max(3)
}

/// Nodes and the pods they can take together (status.allocatable.pods).
pub(crate) async fn pod_capacity(client: &kube::Client) -> Result<(usize, usize), String> {
    let api: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let (nodes, _) = list_all(&api, "").await?;
    let capacity = nodes
        .iter()
        .filter_map(|n| {
            let pods = n.status.as_ref()?.allocatable.as_ref()?.get("pods")?;
            pods.0.parse::<usize>().ok()
        })
        .sum();
    Ok((nodes.len(), capacity))
}

pub(crate) fn rollout_resource() -> ApiResource {
    ApiResource {
        group: keys::GROUP.into(),
        version: "v1beta1".into(),
        api_version: format!("{}/v1beta1", keys::GROUP),
        kind: "Rollout".into(),
        plural: "rollouts".into(),
    }
}

pub(crate) fn namespace_name(n: usize, i: usize) -> String {
    format!("clb-{n}-{i:03}")
}

/// The example echoserver's shape, shrunk: one container, `replicas` pods.
pub(crate) fn deployment(namespace: &str, name: &str, replicas: u32) -> Deployment {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name, BENCH_LABEL: "true"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "echoserver",
                    "image": "openkruise-registry.cn-shanghai.cr.aliyuncs.com/openkruise/demo:1.10.2",
                    "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 8080}],
                    "env": [{"name": "PORT", "value": "8080"}, {"name": "NODE_NAME", "value": "version1"}]
                }]}
            }
        }
    }))
    .expect("a Deployment")
}

/// A v1beta1 canary Rollout without traffic: 1 pod and wait for approval, then all.
pub(crate) fn rollout(namespace: &str, name: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": format!("{}/v1beta1", keys::GROUP),
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": namespace, "labels": {BENCH_LABEL: "true"}},
        "spec": {
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "strategy": {"canary": {"steps": [
                {"replicas": 1, "pause": {}},
                {"replicas": "100%"}
            ]}}
        }
    }))
    .expect("a Rollout")
}

/// Create requests that failed and were tried again, and the first such error.
pub(crate) static CREATE_RETRIES: AtomicU64 = AtomicU64::new(0);
pub(crate) static FIRST_RETRY: Mutex<Option<String>> = Mutex::new(None);

/// Creates the object; AlreadyExists counts as done, other errors are retried (bounded).
pub(crate) async fn create<K>(api: &Api<K>, object: &K) -> Result<(), String>
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug,
{
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=8 {
        match api.create(&PostParams::default(), object).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists" => {
                return Ok(());
            }
            Err(e) if attempt == 8 => return Err(e.to_string()),
            Err(e) => {
                CREATE_RETRIES.fetch_add(1, Ordering::SeqCst);
                FIRST_RETRY
                    .lock()
                    .unwrap()
                    .get_or_insert_with(|| e.to_string());
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
    unreachable!()
}

/// Every item of a paginated LIST, and the list's resourceVersion.
pub(crate) async fn list_all<K>(api: &Api<K>, selector: &str) -> Result<(Vec<K>, String), String>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    let mut items = Vec::new();
    let mut params = ListParams::default().labels(selector).limit(500);
    let mut version = None;
    loop {
        let page = api.list(&params).await.map_err(|e| e.to_string())?;
        version.get_or_insert_with(|| page.metadata.resource_version.clone().unwrap_or_default());
        items.extend(page.items);
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    Ok((items, version.unwrap_or_default()))
}

pub(crate) async fn create_objects(
    client: &kube::Client,
    n: usize,
    per_namespace: usize,
    replicas: u32,
    concurrency: usize,
) -> Result<(), String> {
    let per_namespace = per_namespace.max(1);
    let namespaces = n.div_ceil(per_namespace);
    let ns_api: Api<Namespace> = Api::all(client.clone());
    futures::stream::iter(0..namespaces)
        .map(|i| {
            let ns_api = ns_api.clone();
            async move {
                let namespace: Namespace = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace_name(n, i), "labels": {BENCH_LABEL: "true"}}
                }))
                .expect("a Namespace");
                create(&ns_api, &namespace).await
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<()>, String>>()?;
    let resource = rollout_resource();
    let results = futures::stream::iter(0..n)
        .map(|j| {
            let client = client.clone();
            let resource = resource.clone();
            async move {
                let namespace = namespace_name(n, j / per_namespace);
                let name = format!("app-{j:05}");
                let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
                create(&deployments, &deployment(&namespace, &name, replicas))
                    .await
                    .map_err(|e| format!("Deployment {namespace}/{name}: {e}"))?;
                let rollouts: Api<DynamicObject> =
                    Api::namespaced_with(client, &namespace, &resource);
                create(&rollouts, &rollout(&namespace, &name))
                    .await
                    .map_err(|e| format!("Rollout {namespace}/{name}: {e}"))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let errors: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    match errors.first() {
        None => Ok(()),
        Some(first) => Err(format!("{} creates failed, first: {first}", errors.len())),
    }
}

/// Waits until every bench Deployment has been observed by its controller and (with pods) has
/// its pods available, and the Deployments have stopped changing for a few seconds.
pub(crate) async fn wait_deployments_settled(
    client: &kube::Client,
    n: usize,
    replicas: u32,
    limit: Duration,
) -> Result<(), String> {
    let api: Api<Deployment> = Api::all(client.clone());
    let selector = format!("{BENCH_LABEL}=true");
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut last_fingerprint = None;
    loop {
        let (items, _) = list_all(&api, &selector).await?;
        // The items' resourceVersions (the list's own one moves with every write in the cluster).
        let fingerprint = items
            .iter()
            .filter_map(|d| d.metadata.resource_version.as_deref()?.parse::<u64>().ok())
            .fold(0u64, u64::wrapping_add);
        let settled = items
            .iter()
            .filter(|d| {
                let status = d.status.clone().unwrap_or_default();
                status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(1)
                    && (replicas == 0
                        || (status.available_replicas.unwrap_or(0) as u32 == replicas
                            && status.updated_replicas.unwrap_or(0) as u32 == replicas))
            })
            .count();
        if items.len() == n && settled == n {
            // No Deployment changed between two polls: they have stopped changing.
            if last_fingerprint == Some(fingerprint) {
                return Ok(());
            }
            last_fingerprint = Some(fingerprint);
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            log(format!(
                "  settling: {settled}/{n} Deployments settled after {:.0} s",
                started.elapsed().as_secs_f64()
            ));
            last_report = Instant::now();
        }
        if started.elapsed() > limit {
            return Err(format!(
                "only {settled}/{n} Deployments settled after {} s (--settle-timeout)",
                limit.as_secs()
            ));
        }
        // Each poll lists every Deployment: fewer polls for more of them.
        tokio::time::sleep(Duration::from_secs((n as u64 / 1000).clamp(5, 30))).await;
    }
}

/// Deletes the bench namespaces and waits until they are gone. Rollout finalizers that are still
/// there after `strip_after` (no controller, or a slow one) are removed by the harness.
pub(crate) async fn delete_bench_namespaces(
    client: &kube::Client,
    limit: Duration,
    strip_after: Duration,
) -> Result<(), String> {
    let api: Api<Namespace> = Api::all(client.clone());
    let selector = format!("{BENCH_LABEL}=true");
    let (namespaces, _) = list_all(&api, &selector).await?;
    if namespaces.is_empty() {
        return Ok(());
    }
    log(format!("deleting {} bench namespaces", namespaces.len()));
    let started = Instant::now();
    for namespace in &namespaces {
        let name = namespace.metadata.name.clone().unwrap_or_default();
        match api.delete(&name, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(format!("delete namespace {name}: {e}")),
        }
    }
    let rollouts: Api<DynamicObject> = Api::all_with(client.clone(), &rollout_resource());
    let mut stripped = false;
    loop {
        let (left, _) = list_all(&api, &selector).await?;
        if left.is_empty() {
            log(format!(
                "bench namespaces gone after {:.1} s",
                started.elapsed().as_secs_f64()
            ));
            return Ok(());
        }
        if !stripped && started.elapsed() >= strip_after {
            stripped = true;
            let (items, _) = list_all(&rollouts, &selector).await?;
            log(format!(
                "namespaces still terminating after {} s: removing the finalizers of {} Rollouts",
                started.elapsed().as_secs(),
                items.len()
            ));
            for r in items {
                let api: Api<DynamicObject> = Api::namespaced_with(
                    client.clone(),
                    &r.metadata.namespace.clone().unwrap_or_default(),
                    &rollout_resource(),
                );
                let _ = api
                    .patch(
                        &r.metadata.name.clone().unwrap_or_default(),
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
            }
        }
        if started.elapsed() > limit {
            return Err(format!(
                "{} bench namespaces still there after {} s",
                left.len(),
                limit.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}
