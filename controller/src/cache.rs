//! Watch caches as the controller keeps them: each object trimmed of what no decision reads
//! (managed fields, kubectl's last-applied copy), optionally followed by a secondary index, and
//! the stream of changed objects that wakes the Rollouts referring to them.

use crate::index::Index;
use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use kube::api::Api;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// kubectl's copy of the last applied manifest: large, and never read by a decision.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no decision reads from a cached object.
pub fn trim<K: ResourceExt>(object: &mut K) {
    object.managed_fields_mut().clear();
    object.annotations_mut().remove(LAST_APPLIED);
}

/// A ReplicaSet keeps only its template's revision (see `trim_replica_set`).
pub fn trim_replica_set(replica_set: &mut ReplicaSet) {
    trim(replica_set);
    rollouts_workload::revision::trim_replica_set(replica_set);
}

/// A Deployment keeps its template as text (see `trim_deployment`).
pub fn trim_deployment(deployment: &mut Deployment) {
    trim(deployment);
    rollouts_workload::revision::trim_deployment(deployment);
}

/// A StatefulSet without its pod template and conditions: its release reads the revisions in
/// its status.
pub fn trim_statefulset(statefulset: &mut StatefulSet) {
    trim(statefulset);
    statefulset.spec.template = Default::default();
    statefulset.spec.volume_claim_templates = None;
    if let Some(status) = statefulset.status.as_mut() {
        status.conditions = None;
    }
}

/// A DaemonSet without its pod template and conditions: its release reads its pods.
pub fn trim_daemonset(daemonset: &mut k8s_openapi::api::apps::v1::DaemonSet) {
    trim(daemonset);
    daemonset.spec.template = Default::default();
    if let Some(status) = daemonset.status.as_mut() {
        status.conditions = None;
    }
}

/// An OpenKruise workload without its pod template (its release reads the revisions in its
/// status) and status conditions.
pub fn trim_kruise_workload(workload: &mut kube::api::DynamicObject) {
    trim(workload);
    if let Some(spec) = workload
        .data
        .get_mut("spec")
        .and_then(|s| s.as_object_mut())
    {
        spec.remove("template");
        spec.remove("volumeClaimTemplates");
    }
    if let Some(status) = workload
        .data
        .get_mut("status")
        .and_then(|s| s.as_object_mut())
    {
        status.remove("conditions");
    }
}

/// The API resource of `resource`, for dynamic API calls and caches.
pub fn api_resource(resource: rollouts_change::Resource) -> kube::api::ApiResource {
    kube::api::ApiResource {
        group: resource.group().into(),
        version: resource.version().into(),
        api_version: resource.api_version.into(),
        kind: resource.kind.into(),
        plural: resource.plural.into(),
    }
}

/// Whether the API server serves `resource` (an optional CRD: HTTPRoutes, OpenKruise kinds).
pub async fn serves(client: &kube::Client, resource: rollouts_change::Resource) -> bool {
    match client.list_api_group_resources(resource.api_version).await {
        Ok(list) => list.resources.iter().any(|r| r.name == resource.plural),
        Err(_) => false,
    }
}

/// A cache of `api` (first listed as `config` says), each object trimmed by `trim`, with `follow`
/// seeing every watch event (to keep an index in step), and the stream of objects it changes.
pub fn cache<K>(
    api: Api<K>,
    config: watcher::Config,
    writer: Writer<K>,
    trim: fn(&mut K),
    follow: impl Fn(&watcher::Event<K>) + Send + 'static,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Hash + Eq + Clone + Send + Sync,
{
    let watched = api.resource_url().to_string();
    let store = writer.as_reader();
    watcher(api, config)
        .backoff(watch_backoff())
        .modify(trim)
        .reflect(writer)
        .inspect_ok(follow)
        .filter_map(move |event| std::future::ready(without_errors(&watched, event)))
        .flat_map(move |event| futures::stream::iter(changed_objects(event, || store.state())))
        .map(|object| Ok(Arc::unwrap_or_clone(object)))
}

/// The objects a watch event changes, once the cache holds them. A (re)list fills a new cache
/// that replaces the old one only when the list is complete, so its objects are handed on then,
/// all at once (`listed` reads the cache): handed on one by one as they arrived, each woke a
/// reconcile that still read the old cache (which skips an object it does not hold), and nothing
/// woke one again once the new cache was in place, until the next resync.
fn changed_objects<K>(
    event: watcher::Event<K>,
    listed: impl FnOnce() -> Vec<Arc<K>>,
) -> Vec<Arc<K>> {
    match event {
        watcher::Event::Apply(object) | watcher::Event::Delete(object) => vec![Arc::new(object)],
        watcher::Event::Init | watcher::Event::InitApply(_) => Vec::new(),
        watcher::Event::InitDone => listed(),
    }
}

/// How long a failed watch waits before it tries again: a quarter second, doubling up to 2 s,
/// each delay plus up to as much again at random (so that the watches do not all return to a
/// restarted API server at once). kube-runtime's default grows to 30 s; a restarted API server
/// refuses every request until its authorization caches are filled, and with that default the
/// watches then saw changes up to 30 s after it served again (docs/reliability.md, finding 4).
/// Any event the watch delivers starts the delays over.
fn watch_backoff() -> watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(250))
        .with_max_delay(WATCH_BACKOFF_MAX)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

/// The longest delay of [`watch_backoff`] before its random part.
const WATCH_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// Keeps a watch error away from the controller's trigger stream: the watch retries by itself
/// (with backoff, above), while the controller would pause every trigger behind a growing backoff
/// of its own for each error. After an API server restart all watches fail at once, and the
/// controller then went minutes without seeing any change (`tests/e2e/tests/api_server_restart.rs`).
fn without_errors<T>(watched: &str, event: Result<T, watcher::Error>) -> Option<T> {
    match event {
        Ok(event) => Some(event),
        Err(error) => {
            tracing::warn!(%error, watched, "watch failed; it is retried with backoff");
            None
        }
    }
}

/// How first lists are read: streamed by a watch (`sendInitialEvents`) when the API server
/// serves that (the `WatchList` feature, on in most recent versions), which holds far less in
/// memory at once; else in pages of 500 objects, which every version serves. Decided once at
/// start by a watch of Rollouts that matches none.
pub async fn watch_config(client: &kube::Client) -> watcher::Config {
    let probe = kube::api::WatchParams::streaming_lists()
        .labels(rollouts_api::keys::STREAMING_LIST_PROBE)
        .timeout(1);
    let api = Api::<rollouts_api::v1beta1::Rollout>::all(client.clone());
    let answered = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut stream = Box::pin(api.watch(&probe, "0").await?);
        futures::StreamExt::next(&mut stream)
            .await
            .transpose()
            .map(|event| event.is_some())
    })
    .await;
    match answered {
        Ok(Ok(true)) => watcher::Config::default().streaming_lists(),
        outcome => {
            tracing::info!(
                ?outcome,
                "the API server does not stream lists: reading them in pages"
            );
            watcher::Config::default()
        }
    }
}

/// Follows nothing: a cache without an index.
pub fn ignore<K>(_: &watcher::Event<K>) {}

/// Keeps `index` in step with a cache.
pub fn indexing<K>(index: Index<K>) -> impl Fn(&watcher::Event<K>) + Send + 'static
where
    K: Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Hash + Eq + Clone + Default + Send + Sync,
{
    move |event| index.apply(event)
}

/// A store and its writer for a typed resource.
pub fn store<K>() -> (Store<K>, Writer<K>)
where
    K: Resource + Clone + 'static,
    K::DynamicType: Hash + Eq + Clone + Default,
{
    reflector::store()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::utils::Backoff;
    use std::time::Duration;

    #[test]
    fn a_relist_hands_its_objects_on_only_once_the_cache_holds_them() {
        let listed = || vec![Arc::new("old-a".to_string()), Arc::new("new-b".to_string())];
        let never =
            || -> Vec<Arc<String>> { panic!("the cache is read only at the end of a list") };
        let cases: Vec<(watcher::Event<String>, Vec<&str>)> = vec![
            (watcher::Event::Init, vec![]),
            (watcher::Event::InitApply("new-b".into()), vec![]),
            (watcher::Event::Apply("c".into()), vec!["c"]),
            (watcher::Event::Delete("d".into()), vec!["d"]),
        ];
        for (event, expected) in cases {
            let seen = changed_objects(event, never);
            let seen: Vec<&str> = seen.iter().map(|o| o.as_str()).collect();
            assert_eq!(seen, expected);
        }
        let done = changed_objects(watcher::Event::InitDone, listed);
        let done: Vec<&str> = done.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            done,
            ["old-a", "new-b"],
            "every listed object, from the cache"
        );
    }

    #[test]
    fn watch_retries_stay_within_a_few_seconds_however_long_the_failures_last() {
        let mut backoff = watch_backoff();
        let delays: Vec<Duration> = backoff.by_ref().take(200).collect();
        assert_eq!(delays.len(), 200, "the watch never gives up");
        assert!(delays[0] < Duration::from_millis(500), "{:?}", delays[0]);
        for delay in &delays[4..] {
            assert!(*delay >= WATCH_BACKOFF_MAX, "grown to the cap: {delay:?}");
        }
        for delay in &delays {
            assert!(*delay <= WATCH_BACKOFF_MAX * 2, "capped: {delay:?}");
        }
        backoff.reset();
        let first = backoff.next().expect("a delay");
        assert!(first < Duration::from_millis(500), "starts over: {first:?}");
    }
}
