//! What every reconcile shares: the client, the watch-backed caches of workloads, the event
//! recorder, metrics and settings.

use crate::metrics::Metrics;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;
use rollouts_api::v1beta1::Rollout;
use std::sync::Arc;

/// Watch-backed caches; reading them makes no API call.
#[derive(Clone)]
pub struct Stores {
    /// Rollouts (the controller's own store).
    pub rollouts: Store<Rollout>,
    /// Deployments (workloads and canary Deployments).
    pub deployments: Store<Deployment>,
    /// ReplicaSets (revisions and readiness of Deployments).
    pub replica_sets: Store<ReplicaSet>,
    /// StatefulSets.
    pub stateful_sets: Store<StatefulSet>,
}

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Seconds a step's pods may take to become Ready.
    pub progress_deadline_seconds: i64,
}

/// Shared by all reconciles.
pub struct Context {
    /// API client.
    pub client: kube::Client,
    /// Caches.
    pub stores: Stores,
    /// Event recorder.
    pub recorder: Recorder,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Settings.
    pub settings: Settings,
    /// Every cache has done its first list. Until then a missing workload may only be not yet
    /// listed, so nothing is decided.
    pub synced: Arc<std::sync::atomic::AtomicBool>,
}
