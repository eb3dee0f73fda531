//! Watch-backed caches of Rollouts and ReplicaSets: admission answers read these, never the
//! API server.

use crate::handlers::Lookup;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use rollouts_api::v1beta1::Rollout;
use std::sync::Arc;

/// The caches and their stores.
#[derive(Clone)]
pub struct Caches {
    rollouts: Store<Rollout>,
    replica_sets: Store<ReplicaSet>,
}

impl Caches {
    /// Starts watching Rollouts and ReplicaSets in every namespace (tasks on the runtime).
    pub fn start(client: &Client) -> Self {
        let (rollouts, rollout_writer) = reflector::store();
        let (replica_sets, rs_writer) = reflector::store();
        let rollout_stream = watcher(
            Api::<Rollout>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .modify(|r| r.managed_fields_mut().clear());
        tokio::spawn(drain(
            reflector::reflector(rollout_writer, rollout_stream),
            "Rollout",
        ));
        let rs_stream = watcher(
            Api::<ReplicaSet>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .modify(|rs| rs.managed_fields_mut().clear());
        tokio::spawn(drain(
            reflector::reflector(rs_writer, rs_stream),
            "ReplicaSet",
        ));
        Self {
            rollouts,
            replica_sets,
        }
    }

    /// Resolves once both caches hold a full list.
    pub async fn wait_until_ready(&self) -> Result<(), reflector::store::WriterDropped> {
        self.rollouts.wait_until_ready().await?;
        self.replica_sets.wait_until_ready().await
    }
}

async fn drain<S, K>(stream: S, kind: &'static str)
where
    S: futures::Stream<Item = Result<K, watcher::Error>>,
{
    let mut stream = std::pin::pin!(stream);
    while let Some(event) = stream.next().await {
        if let Err(e) = event {
            tracing::warn!(kind, error = %e, "watch error; retrying with backoff");
        }
    }
}

impl Lookup for Caches {
    fn rollouts(&self, namespace: &str) -> Vec<Arc<Rollout>> {
        let in_namespace = |r: &Arc<Rollout>| r.metadata.namespace.as_deref() == Some(namespace);
        self.rollouts
            .state()
            .into_iter()
            .filter(in_namespace)
            .collect()
    }

    fn replica_sets(&self, namespace: &str) -> Vec<Arc<ReplicaSet>> {
        let in_namespace = |r: &Arc<ReplicaSet>| r.metadata.namespace.as_deref() == Some(namespace);
        self.replica_sets
            .state()
            .into_iter()
            .filter(in_namespace)
            .collect()
    }
}
