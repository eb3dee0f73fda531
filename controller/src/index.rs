//! A secondary index over a watch cache: objects grouped by keys computed from each object
//! (a ReplicaSet's owner UID, a canary Deployment's stable name, every object a Rollout refers
//! to). It holds only references;
//! the objects themselves are read from the cache's store. Like the store, it keeps its old
//! contents while a watch relists and swaps in the new ones when the list is complete.

use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher::Event;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, RwLock};

/// Which objects each key groups, and which keys each object is under.
struct Groups<K: Resource>
where
    K::DynamicType: Hash + Eq,
{
    members: HashMap<String, HashSet<ObjectRef<K>>>,
    keys_of: HashMap<ObjectRef<K>, Vec<String>>,
}

impl<K: Resource> Default for Groups<K>
where
    K::DynamicType: Hash + Eq,
{
    fn default() -> Self {
        Self {
            members: HashMap::new(),
            keys_of: HashMap::new(),
        }
    }
}

impl<K: Resource> Groups<K>
where
    K::DynamicType: Hash + Eq + Clone + Default,
{
    fn insert(&mut self, object: &K, keys: Vec<String>) {
        if keys.is_empty() {
            return;
        }
        let reference = ObjectRef::from_obj(object);
        for key in &keys {
            self.members
                .entry(key.clone())
                .or_default()
                .insert(reference.clone());
        }
        self.keys_of.entry(reference).or_default().extend(keys);
    }

    fn remove(&mut self, object: &K) {
        let reference = ObjectRef::from_obj(object);
        for key in self.keys_of.remove(&reference).into_iter().flatten() {
            if let Some(group) = self.members.get_mut(&key) {
                group.remove(&reference);
                if group.is_empty() {
                    self.members.remove(&key);
                }
            }
        }
    }
}

struct State<K: Resource>
where
    K::DynamicType: Hash + Eq,
{
    current: Groups<K>,
    rebuilding: Option<Groups<K>>,
}

/// Computes the keys an object is grouped under.
type KeysOf<K> = Arc<dyn Fn(&K) -> Vec<String> + Send + Sync>;

/// Objects of a cache grouped by the keys each one has.
pub struct Index<K: Resource>
where
    K::DynamicType: Hash + Eq,
{
    keys: KeysOf<K>,
    state: Arc<RwLock<State<K>>>,
}

impl<K: Resource> Clone for Index<K>
where
    K::DynamicType: Hash + Eq,
{
    fn clone(&self) -> Self {
        Self {
            keys: self.keys.clone(),
            state: self.state.clone(),
        }
    }
}

impl<K> Index<K>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Hash + Eq + Clone + Default,
{
    /// An empty index grouping objects by `key` (objects without a key are not indexed).
    pub fn new(key: fn(&K) -> Option<String>) -> Self {
        Self::with_keys(move |object| key(object).into_iter().collect())
    }

    /// An empty index grouping each object under every key `keys` gives it.
    pub fn with_keys(keys: impl Fn(&K) -> Vec<String> + Send + Sync + 'static) -> Self {
        Self {
            keys: Arc::new(keys),
            state: Arc::new(RwLock::new(State {
                current: Groups::default(),
                rebuilding: None,
            })),
        }
    }

    /// Follows one event of the watch that feeds the store.
    pub fn apply(&self, event: &Event<K>) {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Init => state.rebuilding = Some(Groups::default()),
            Event::InitApply(object) => {
                if let Some(groups) = state.rebuilding.as_mut() {
                    groups.insert(object, (self.keys)(object));
                }
            }
            Event::InitDone => {
                if let Some(groups) = state.rebuilding.take() {
                    state.current = groups;
                }
            }
            Event::Apply(object) => {
                state.current.remove(object);
                state.current.insert(object, (self.keys)(object));
            }
            Event::Delete(object) => state.current.remove(object),
        }
    }

    /// References to the objects grouped under `key`.
    pub fn references(&self, key: &str) -> Vec<ObjectRef<K>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state
            .current
            .members
            .get(key)
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    /// The objects of `store` grouped under `key`.
    pub fn get(&self, store: &Store<K>, key: &str) -> Vec<Arc<K>> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        state
            .current
            .members
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|reference| store.get(reference))
            .collect()
    }
}

/// The UID of a ReplicaSet's controlling owner.
pub fn controller_uid(object: &k8s_openapi::api::apps::v1::ReplicaSet) -> Option<String> {
    object
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.clone())
}

/// `namespace/<stable name>` of a canary Deployment (its `canary-deployment` label).
pub fn canary_of(object: &k8s_openapi::api::apps::v1::Deployment) -> Option<String> {
    let stable = object
        .metadata
        .labels
        .as_ref()?
        .get(rollouts_api::keys::CANARY_DEPLOYMENT)?;
    Some(format!(
        "{}/{stable}",
        object.metadata.namespace.as_deref().unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use kube::runtime::reflector;

    fn rs(name: &str, owner: &str) -> ReplicaSet {
        serde_json::from_value(
            serde_json::json!({"metadata": {"name": name, "namespace": "d",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "x",
                "uid": owner, "controller": true}]}}),
        )
        .unwrap()
    }

    fn names(list: Vec<Arc<ReplicaSet>>) -> Vec<String> {
        let mut names: Vec<String> = list
            .iter()
            .filter_map(|r| r.metadata.name.clone())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn objects_are_found_by_key_follow_updates_and_survive_a_relist() {
        let (store, mut writer) = reflector::store::<ReplicaSet>();
        let index = Index::new(controller_uid);
        let mut feed = |event: Event<ReplicaSet>| {
            writer.apply_watcher_event(&event);
            index.apply(&event);
        };
        feed(Event::Apply(rs("a", "u1")));
        feed(Event::Apply(rs("b", "u1")));
        feed(Event::Apply(rs("c", "u2")));
        assert_eq!(names(index.get(&store, "u1")), ["a", "b"]);
        feed(Event::Apply(rs("b", "u2")));
        assert_eq!(names(index.get(&store, "u1")), ["a"]);
        assert_eq!(names(index.get(&store, "u2")), ["b", "c"]);
        feed(Event::Delete(rs("c", "u2")));
        assert_eq!(names(index.get(&store, "u2")), ["b"]);
        feed(Event::Init);
        feed(Event::InitApply(rs("d", "u1")));
        assert_eq!(
            names(index.get(&store, "u1")),
            ["a"],
            "old contents during the relist"
        );
        feed(Event::InitDone);
        assert_eq!(names(index.get(&store, "u1")), ["d"]);
        assert!(index.get(&store, "u2").is_empty());
    }
}
