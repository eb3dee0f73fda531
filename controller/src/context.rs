//! What every reconcile shares: the client, the watch caches (and their indexes), the event
//! recorder, metrics, settings and the retry backoff.

use crate::error::Backoff;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::own_writes::OwnWrites;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::DynamicObject;
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
    /// Canary Deployments by `namespace/<stable name>`.
    pub canaries: Index<Deployment>,
    /// ReplicaSets (revisions and readiness of Deployments).
    pub replica_sets: Store<ReplicaSet>,
    /// ReplicaSets by the UID of their controlling Deployment.
    pub replica_sets_by_owner: Index<ReplicaSet>,
    /// Native DaemonSets.
    pub daemon_sets: Store<DaemonSet>,
    /// StatefulSets.
    pub stateful_sets: Store<StatefulSet>,
    /// Services (stable and canary).
    pub services: Store<Service>,
    /// Ingresses (the user's and the canary ones).
    pub ingresses: Store<Ingress>,
    /// CloneSets, when OpenKruise's CRDs are installed.
    pub clone_sets: Option<Store<DynamicObject>>,
    /// Advanced StatefulSets, when OpenKruise's CRDs are installed.
    pub advanced_stateful_sets: Option<Store<DynamicObject>>,
    /// Advanced DaemonSets, when OpenKruise's CRDs are installed.
    pub advanced_daemon_sets: Option<Store<DynamicObject>>,
    /// HTTPRoutes, when the Gateway API CRDs are installed.
    pub http_routes: Option<Store<DynamicObject>>,
    /// The `kruise-rollout-configuration` ConfigMap (users' traffic-routing scripts), the only
    /// ConfigMap watched, in the controller's namespace.
    pub configuration: Store<ConfigMap>,
}

/// Settings from the command line.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Seconds a step's pods may take to become Ready when the workload sets no deadline.
    pub progress_deadline_seconds: i64,
    /// Rollouts reconciled at the same time.
    pub reconcile_concurrency: u16,
    /// Prometheus for metric analysis when a Rollout names none.
    pub prometheus_address: Option<String>,
    /// How long one Prometheus query may take.
    pub prometheus_timeout: std::time::Duration,
    /// The namespace the controller runs in, where the `kruise-rollout-configuration`
    /// ConfigMap (users' traffic-routing scripts) is read from.
    pub namespace: String,
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
    /// Retry delays of failed reconciles.
    pub backoff: Backoff,
    /// Rollout versions our own writes replaced (a reconcile of one of them is skipped).
    pub own_writes: OwnWrites,
}
