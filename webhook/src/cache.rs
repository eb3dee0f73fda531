//! Watch-backed caches of Rollouts (by namespace) and ReplicaSets (by controlling owner):
//! admission answers read these, never the API server, and a lookup touches only the objects
//! it needs, however large the cluster.

use crate::handlers::Lookup;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use rollouts_api::v1beta1::Rollout;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::watch;

/// Objects by key, and where each object (by UID) is, so an update or delete touches one bucket.
struct Buckets<T> {
    by_key: HashMap<String, HashMap<String, Arc<T>>>,
    key_of_uid: HashMap<String, String>,
}

impl<T> Default for Buckets<T> {
    fn default() -> Self {
        Self {
            by_key: HashMap::new(),
            key_of_uid: HashMap::new(),
        }
    }
}

/// Objects grouped by a key (namespace, owner UID), kept current by a watch.
pub struct Index<T> {
    live: RwLock<Buckets<T>>,
    key: fn(&T) -> Option<String>,
    synced: watch::Sender<bool>,
}

impl<T: Resource> Index<T> {
    fn new(key: fn(&T) -> Option<String>) -> Self {
        Self {
            live: RwLock::new(Buckets::default()),
            key,
            synced: watch::channel(false).0,
        }
    }

    /// The objects under `key`.
    pub fn get(&self, key: &str) -> Vec<Arc<T>> {
        let live = self.live.read().unwrap_or_else(|e| e.into_inner());
        live.by_key
            .get(key)
            .map(|bucket| bucket.values().cloned().collect())
            .unwrap_or_default()
    }

    fn insert(&self, buckets: &mut Buckets<T>, object: T) {
        let Some(key) = (self.key)(&object) else {
            return;
        };
        let id = object.meta().uid.clone().unwrap_or_default();
        buckets.key_of_uid.insert(id.clone(), key.clone());
        buckets
            .by_key
            .entry(key)
            .or_default()
            .insert(id, Arc::new(object));
    }

    fn remove(buckets: &mut Buckets<T>, object: &T) {
        let id = object.meta().uid.clone().unwrap_or_default();
        let Some(key) = buckets.key_of_uid.remove(&id) else {
            return;
        };
        if let Some(bucket) = buckets.by_key.get_mut(&key) {
            bucket.remove(&id);
            if bucket.is_empty() {
                buckets.by_key.remove(&key);
            }
        }
    }

    /// Applies one watch event; a relist replaces everything at once when it completes.
    fn apply(&self, event: watcher::Event<T>, pending: &mut Option<Buckets<T>>) {
        match event {
            watcher::Event::Init => *pending = Some(Buckets::default()),
            watcher::Event::InitApply(object) => match pending.as_mut() {
                Some(buffer) => self.insert(buffer, object),
                None => self.insert(
                    &mut self.live.write().unwrap_or_else(|e| e.into_inner()),
                    object,
                ),
            },
            watcher::Event::InitDone => {
                if let Some(buffer) = pending.take() {
                    *self.live.write().unwrap_or_else(|e| e.into_inner()) = buffer;
                }
                self.synced.send_replace(true);
            }
            watcher::Event::Apply(object) => {
                let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
                Self::remove(&mut live, &object);
                self.insert(&mut live, object);
            }
            watcher::Event::Delete(object) => Self::remove(
                &mut self.live.write().unwrap_or_else(|e| e.into_inner()),
                &object,
            ),
        }
    }

    async fn wait_synced(&self) {
        let mut synced = self.synced.subscribe();
        let _ = synced.wait_for(|s| *s).await;
    }
}

/// The webhook's caches.
#[derive(Clone)]
pub struct Caches {
    rollouts: Arc<Index<Rollout>>,
    replica_sets: Arc<Index<ReplicaSet>>,
}

fn namespace_of(rollout: &Rollout) -> Option<String> {
    rollout.metadata.namespace.clone()
}

fn controller_uid(rs: &ReplicaSet) -> Option<String> {
    let owners = rs.metadata.owner_references.as_ref()?;
    owners
        .iter()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.clone())
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

impl Caches {
    /// Starts watching Rollouts and ReplicaSets in every namespace (tasks on the runtime), first
    /// listed as `config` says ([`watch_config`]).
    pub fn start(client: &Client, config: watcher::Config) -> Self {
        let rollouts = Arc::new(Index::new(namespace_of));
        let replica_sets = Arc::new(Index::new(controller_uid));
        tokio::spawn(follow(
            Api::<Rollout>::all(client.clone()),
            config.clone(),
            rollouts.clone(),
            "Rollout",
            |_| {},
        ));
        tokio::spawn(follow(
            Api::<ReplicaSet>::all(client.clone()),
            config,
            replica_sets.clone(),
            "ReplicaSet",
            rollouts_workload::revision::trim_replica_set,
        ));
        Self {
            rollouts,
            replica_sets,
        }
    }

    /// Resolves once both caches hold a full list.
    pub async fn wait_until_ready(&self) {
        self.rollouts.wait_synced().await;
        self.replica_sets.wait_synced().await;
    }
}

/// How long a failed watch waits before it tries again, as the controller's watches do: a quarter
/// second, doubling up to 2 s, each delay plus up to as much again at random. kube-runtime's
/// default grows to 30 s, and a restarted API server refuses every request until its
/// authorization caches are filled: a Rollout created then went unseen for up to 30 s after the
/// API server served again (docs/reliability.md, finding 4).
fn watch_backoff() -> watcher::ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(250))
        .with_max_delay(std::time::Duration::from_secs(2))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

/// Follows a watch into `index`, each object trimmed of its managed fields and by `trim`.
async fn follow<T>(
    api: Api<T>,
    config: watcher::Config,
    index: Arc<Index<T>>,
    kind: &'static str,
    trim: fn(&mut T),
) where
    T: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let stream = watcher(api, config)
        .backoff(watch_backoff())
        .modify(move |o: &mut T| {
            o.managed_fields_mut().clear();
            trim(o);
        });
    let mut stream = std::pin::pin!(stream);
    let mut pending = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(event) => index.apply(event, &mut pending),
            Err(e) => tracing::warn!(kind, error = %e, "watch error; retrying with backoff"),
        }
    }
}

impl Lookup for Caches {
    fn rollouts(&self, namespace: &str) -> Vec<Arc<Rollout>> {
        self.rollouts.get(namespace)
    }

    fn owned_replica_sets(&self, owner_uid: &str) -> Vec<Arc<ReplicaSet>> {
        self.replica_sets.get(owner_uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, uid: &str, owner: &str) -> ReplicaSet {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": uid,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "d", "uid": owner, "controller": true}]}}))
        .unwrap()
    }

    #[test]
    fn watch_retries_stay_within_four_seconds_however_long_the_failures_last() {
        let delays: Vec<_> = watch_backoff().take(200).collect();
        assert_eq!(delays.len(), 200, "the watch never gives up");
        let longest = delays.iter().max().expect("delays");
        assert!(*longest <= std::time::Duration::from_secs(4), "{longest:?}");
    }

    #[test]
    fn index_follows_relists_updates_and_deletes() {
        let index = Index::new(controller_uid);
        let mut pending = None;
        index.apply(watcher::Event::Init, &mut pending);
        index.apply(
            watcher::Event::InitApply(rs("a", "1", "dep-a")),
            &mut pending,
        );
        assert!(
            index.get("dep-a").is_empty(),
            "a relist is applied only when complete"
        );
        index.apply(watcher::Event::InitDone, &mut pending);
        assert_eq!(index.get("dep-a").len(), 1);
        index.apply(watcher::Event::Apply(rs("b", "2", "dep-a")), &mut pending);
        index.apply(watcher::Event::Apply(rs("a", "1", "dep-b")), &mut pending);
        assert_eq!(index.get("dep-a").len(), 1, "re-owned objects move buckets");
        assert_eq!(index.get("dep-b").len(), 1);
        index.apply(watcher::Event::Delete(rs("b", "2", "dep-a")), &mut pending);
        assert!(index.get("dep-a").is_empty());
        index.apply(watcher::Event::Init, &mut pending);
        index.apply(watcher::Event::InitDone, &mut pending);
        assert!(index.get("dep-b").is_empty(), "a relist drops what is gone");
        assert!(*index.synced.borrow());
    }
}
