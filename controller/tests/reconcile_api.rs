//! One reconcile against a fake API server: which writes a Rollout costs, and that they never
//! conflict with each other.

mod support;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use rollouts_api::v1beta1::Rollout;
use rollouts_controller::context::{Context, Settings, Stores};
use rollouts_controller::index::{Index, canary_of, controller_uid};
use rollouts_controller::metrics::Metrics;
use rollouts_controller::reconcile::reconcile;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use support::FakeApi;

const ROLLOUT: &str = "/apis/rollouts.kruise.io/v1beta1/namespaces/demo/rollouts/rollouts-demo";

fn rollout() -> Value {
    json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
        "metadata": {"name": "rollouts-demo", "namespace": "demo", "uid": "r-1", "generation": 1},
        "spec": {
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"},
            "strategy": {"canary": {"steps": [{"replicas": 1}, {"replicas": "100%"}]}}
        }
    })
}

fn deployment() -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "echoserver", "namespace": "demo", "uid": "d-1", "generation": 1,
            "labels": {"rollouts.kruise.io/workload-type": "deployment"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "echoserver"}},
            "template": {"metadata": {"labels": {"app": "echoserver"}},
                "spec": {"containers": [{"name": "echoserver", "image": "echoserver:1"}]}}},
        "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
            "readyReplicas": 2, "availableReplicas": 2}
    }))
    .unwrap()
}

fn filled<K>(objects: Vec<K>) -> (reflector::Store<K>, Writer<K>)
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let (store, mut writer) = reflector::store();
    for object in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(object));
    }
    (store, writer)
}

fn context(api: &FakeApi) -> Arc<Context> {
    let client = api.client();
    let (rollouts, _) = filled::<Rollout>(vec![]);
    let (deployments, _) = filled(vec![deployment()]);
    let (replica_sets, _) = filled::<ReplicaSet>(vec![]);
    let (stateful_sets, _) = filled::<StatefulSet>(vec![]);
    let (daemon_sets, _) = filled::<k8s_openapi::api::apps::v1::DaemonSet>(vec![]);
    let (services, _) = filled::<Service>(vec![]);
    let (ingresses, _) = filled::<Ingress>(vec![]);
    let (configuration, _) = filled::<k8s_openapi::api::core::v1::ConfigMap>(vec![]);
    Arc::new(Context {
        client: client.clone(),
        stores: Stores {
            rollouts,
            deployments,
            canaries: Index::new(canary_of),
            replica_sets,
            replica_sets_by_owner: Index::new(controller_uid),
            stateful_sets,
            daemon_sets,
            services,
            ingresses,
            http_routes: None,
            clone_sets: None,
            advanced_stateful_sets: None,
            advanced_daemon_sets: None,
            configuration,
        },
        recorder: Recorder::new(
            client,
            Reporter {
                controller: "rollouts-controller".into(),
                instance: None,
            },
        ),
        metrics: Arc::new(Metrics::new()),
        settings: Settings {
            progress_deadline_seconds: 600,
            reconcile_concurrency: 4,
            prometheus_address: None,
            prometheus_timeout: std::time::Duration::from_secs(10),
            namespace: "kruise-rollout".into(),
        },
        synced: Arc::new(AtomicBool::new(true)),
        backoff: Default::default(),
        own_writes: Default::default(),
    })
}

/// The Rollout writes of one reconcile of `object`: (path, HTTP status) of each, and the
/// Rollout afterwards.
async fn first_reconcile_writes(object: Value) -> (Vec<(String, u16)>, Value) {
    let api = FakeApi::default();
    api.put(ROLLOUT, object);
    let stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    reconcile(Arc::new(stored), context(&api))
        .await
        .expect("the reconcile succeeds");
    let writes = api
        .writes()
        .into_iter()
        .filter(|c| c.path.starts_with(ROLLOUT))
        .map(|c| (c.path, c.status))
        .collect();
    (writes, api.get(ROLLOUT).unwrap())
}

#[tokio::test]
async fn a_rollout_created_through_the_webhook_costs_one_write_its_status() {
    let mut object = rollout();
    object["metadata"]["finalizers"] = json!(["rollouts.kruise.io/rollout"]);
    let (writes, now) = first_reconcile_writes(object).await;
    assert_eq!(writes, vec![(format!("{ROLLOUT}/status"), 200)]);
    assert_eq!(now["status"]["phase"], "Healthy");
    assert!(
        now["metadata"]["annotations"]["rollouts.kruise.io/hash"].is_null(),
        "no release, no plan to record: {now}"
    );
}

#[tokio::test]
async fn a_rollout_without_our_finalizer_gets_it_then_its_status_without_conflict() {
    let (writes, now) = first_reconcile_writes(rollout()).await;
    assert_eq!(
        writes,
        vec![
            (ROLLOUT.to_string(), 200),
            (format!("{ROLLOUT}/status"), 200)
        ]
    );
    assert_eq!(
        now["metadata"]["finalizers"],
        json!(["rollouts.kruise.io/rollout"])
    );
    assert_eq!(now["status"]["phase"], "Healthy");
}

#[tokio::test]
async fn a_deleted_rollout_of_a_kind_we_cannot_release_loses_its_finalizer() {
    let api = FakeApi::default();
    let mut object = rollout();
    object["spec"]["workloadRef"] =
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "agent"});
    object["metadata"]["finalizers"] = json!(["example.com/other", "rollouts.kruise.io/rollout"]);
    object["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    api.put(ROLLOUT, object);
    let stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    reconcile(Arc::new(stored), context(&api))
        .await
        .expect("the reconcile succeeds");
    let now = api.get(ROLLOUT).unwrap();
    assert_eq!(now["metadata"]["finalizers"], json!(["example.com/other"]));
    let removal = api
        .writes()
        .into_iter()
        .find(|c| c.body.is_array())
        .expect("a JSON patch removed the finalizer");
    assert_eq!(
        removal.body[0],
        json!({"op": "test", "path": "/metadata/finalizers/1", "value": "rollouts.kruise.io/rollout"})
    );
}

#[tokio::test]
async fn the_finalizer_is_added_with_the_observed_resource_version() {
    let api = FakeApi::default();
    api.put(ROLLOUT, rollout());
    let stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    let observed = stored.metadata.resource_version.clone().unwrap();
    reconcile(Arc::new(stored), context(&api)).await.unwrap();
    let first = api.writes().into_iter().next().expect("a write");
    assert_eq!(first.body["metadata"]["resourceVersion"], json!(observed));
    assert_eq!(
        first.body["metadata"]["finalizers"],
        json!(["rollouts.kruise.io/rollout"])
    );
}

#[tokio::test]
async fn a_stale_read_changes_nothing_else_and_records_no_event() {
    let api = FakeApi::default();
    let mut object = rollout();
    object["spec"]["workloadRef"] =
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "agent"});
    api.put(ROLLOUT, object);
    let stale: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    // Someone else writes the Rollout after our read.
    api.put(ROLLOUT, api.get(ROLLOUT).unwrap());
    let error = reconcile(Arc::new(stale), context(&api))
        .await
        .expect_err("the guarded write conflicts");
    assert_eq!(error.metric_label(), "conflict");
    let calls = api.calls();
    assert_eq!(calls.len(), 1, "nothing after the conflict: {calls:#?}");
    assert!(calls.iter().all(|c| !c.path.contains("/events")));
}

#[tokio::test]
async fn no_event_is_published_when_the_status_write_conflicts() {
    let api = FakeApi::default();
    let mut object = rollout();
    object["spec"]["workloadRef"] =
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "agent"});
    object["metadata"]["finalizers"] = json!(["rollouts.kruise.io/rollout"]);
    api.put(ROLLOUT, object);
    let mut stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    let hash = rollouts_plan::plan_hash(&stored);
    stored
        .metadata
        .annotations
        .get_or_insert_default()
        .insert("rollouts.kruise.io/hash".into(), hash);
    api.put(ROLLOUT, serde_json::to_value(&stored).unwrap());
    let stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    api.fail_next(http::Method::PATCH, "/status", 409);
    let error = reconcile(Arc::new(stored.clone()), context(&api))
        .await
        .expect_err("the status write conflicts");
    assert_eq!(error.metric_label(), "conflict");
    assert!(api.calls().iter().all(|c| !c.path.contains("/events")));
    // The same decision on a fresh read writes the status and records the Warning.
    reconcile(Arc::new(stored), context(&api)).await.unwrap();
    assert!(api.calls().iter().any(|c| c.path.contains("/events")));
}

#[tokio::test]
async fn creating_what_exists_and_deleting_what_is_gone_are_not_failures() {
    use rollouts_change::{Effect, ObjectKey, Resource};
    use rollouts_controller::execute::apply;
    let api = FakeApi::default();
    let service = "/api/v1/namespaces/demo/services/echoserver-canary";
    api.put(
        service,
        json!({"metadata": {"name": "echoserver-canary", "namespace": "demo"}}),
    );
    let client = api.client();
    let body = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "echoserver-canary", "namespace": "demo"}});
    apply(&client, &Effect::create(Resource::SERVICE, body, "test"))
        .await
        .expect("409 on create is fine");
    let key = ObjectKey::new(Resource::SERVICE, "demo", "gone");
    apply(&client, &Effect::delete(key.clone(), "test"))
        .await
        .expect("404 on delete is fine");
    let missing = apply(&client, &Effect::merge(key, json!({"spec": {}}), "test")).await;
    assert_eq!(missing.unwrap_err().metric_label(), "not_found");
    let statuses: Vec<u16> = api.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [409, 404, 404]);
}

#[tokio::test]
async fn a_stale_copy_our_own_write_replaced_is_skipped_instead_of_conflicting() {
    let api = FakeApi::default();
    api.put(ROLLOUT, rollout());
    let stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    let ctx = context(&api);
    reconcile(Arc::new(stored.clone()), ctx.clone())
        .await
        .unwrap();
    let writes = api.writes().len();
    // The watch delivers the copy read before our writes: nothing is written, nothing fails.
    reconcile(Arc::new(stored), ctx.clone()).await.unwrap();
    assert_eq!(api.writes().len(), writes);
    // Our last write arrives: it is decided on, and nothing is left to change.
    let latest: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    reconcile(Arc::new(latest), ctx).await.unwrap();
    assert_eq!(
        api.writes().len(),
        writes,
        "a settled Rollout costs no write"
    );
}

const STATEFUL_SET: &str = "/apis/apps/v1/namespaces/demo/statefulsets/echoserver";

/// A StatefulSet the webhook froze on a new version (`generation` 2), and its Rollout, whose
/// release starts now.
fn frozen_statefulset() -> (Value, Value) {
    let mut rollout = rollout();
    rollout["metadata"]["finalizers"] = json!(["rollouts.kruise.io/rollout"]);
    rollout["spec"]["workloadRef"] =
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "echoserver"});
    let statefulset = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "echoserver", "namespace": "demo", "uid": "s-1", "generation": 2,
            "labels": {"rollouts.kruise.io/workload-type": "statefulset"},
            "annotations": {"rollouts.kruise.io/in-progressing": "{\"rolloutName\":\"rollouts-demo\"}"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "echoserver"}},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            "template": {"metadata": {"labels": {"app": "echoserver"}},
                "spec": {"containers": [{"name": "echoserver", "image": "echoserver:2"}]}}},
        "status": {"observedGeneration": 2, "replicas": 2, "readyReplicas": 2,
            "updatedReplicas": 0, "currentRevision": "echoserver-1",
            "updateRevision": "echoserver-2"}
    });
    (rollout, statefulset)
}

/// One reconcile of the frozen StatefulSet's Rollout with `cached` in the controller's cache and
/// `live` on the server; the requests made.
async fn reconcile_frozen_statefulset(cached: Value, live: Value) -> (FakeApi, Vec<String>) {
    let (rollout, _) = frozen_statefulset();
    let api = FakeApi::default();
    api.put(ROLLOUT, rollout);
    api.put(STATEFUL_SET, live);
    let stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    let mut ctx = Arc::try_unwrap(context(&api)).ok().unwrap();
    ctx.stores.stateful_sets = filled(vec![serde_json::from_value(cached).unwrap()]).0;
    reconcile(Arc::new(stored), Arc::new(ctx))
        .await
        .expect("the reconcile succeeds");
    let requests = api
        .calls()
        .iter()
        .map(|c| format!("{} {} {}", c.method, c.path, c.status))
        .collect();
    (api, requests)
}

#[tokio::test]
async fn a_release_step_is_written_only_onto_the_spec_it_was_decided_from() {
    let (_, statefulset) = frozen_statefulset();
    let (api, requests) = reconcile_frozen_statefulset(statefulset.clone(), statefulset).await;
    let step = api
        .writes()
        .into_iter()
        .find(|c| c.path == STATEFUL_SET)
        .unwrap_or_else(|| panic!("the first batch is released: {requests:#?}"));
    let live_version = "2"; // the fake server's version of the StatefulSet, put second
    assert_eq!(
        step.body["metadata"]["resourceVersion"],
        json!(live_version),
        "guarded by the version read just before: {}",
        step.body
    );
    assert_eq!(step.status, 200);
    let now = api.get(STATEFUL_SET).unwrap();
    assert_eq!(
        now["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
        1
    );
}

#[tokio::test]
async fn a_newer_version_the_cache_has_not_seen_gets_no_release_step_and_no_status() {
    let (_, cached) = frozen_statefulset();
    let mut live = cached.clone();
    live["metadata"]["generation"] = json!(3);
    live["spec"]["template"]["spec"]["containers"][0]["image"] = json!("echoserver:3");
    let (api, requests) = reconcile_frozen_statefulset(cached, live.clone()).await;
    assert_eq!(
        api.writes().len(),
        0,
        "nothing is decided from the older spec: {requests:#?}"
    );
    assert_eq!(
        api.get(STATEFUL_SET).unwrap()["spec"],
        live["spec"],
        "the newer version stays frozen"
    );
    assert!(
        requests.contains(&format!("GET {STATEFUL_SET} 200")),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn a_workload_changed_between_the_read_and_the_patch_ends_the_decision_quietly() {
    let (_, statefulset) = frozen_statefulset();
    let api = FakeApi::default();
    let (rollout, _) = frozen_statefulset();
    api.put(ROLLOUT, rollout);
    api.put(STATEFUL_SET, statefulset.clone());
    api.fail_next(http::Method::PATCH, "/statefulsets/echoserver", 409);
    let stored: Rollout = serde_json::from_value(api.get(ROLLOUT).unwrap()).unwrap();
    let mut ctx = Arc::try_unwrap(context(&api)).ok().unwrap();
    ctx.stores.stateful_sets = filled(vec![serde_json::from_value(statefulset).unwrap()]).0;
    let ctx = Arc::new(ctx);
    let requeue = reconcile(Arc::new(stored), ctx.clone())
        .await
        .expect("a conflict on the workload is no failure");
    assert_eq!(
        requeue,
        kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(1))
    );
    let status_writes = api
        .writes()
        .into_iter()
        .filter(|c| c.path.ends_with("/status"));
    assert_eq!(status_writes.count(), 0, "no status for a step not taken");
}
