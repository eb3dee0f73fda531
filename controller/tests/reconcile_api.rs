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
