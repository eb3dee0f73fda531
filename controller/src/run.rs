//! Watch wiring: one kube-runtime Controller over Rollouts, triggered also by the workloads
//! they reference and the ReplicaSets of those workloads. Workload events are mapped to
//! Rollouts through the in-memory Rollout cache, never a LIST.

use crate::context::{Context, Settings, Stores};
use crate::metrics::Metrics;
use crate::reconcile::{ReconcileError, reconcile};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Rollouts of `namespace` whose workloadRef names a `kind` called `name`.
fn rollouts_of(
    store: &Store<Rollout>,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Vec<ObjectRef<Rollout>> {
    store
        .state()
        .iter()
        .filter(|r| r.namespace().as_deref() == Some(namespace))
        .filter(|r| r.spec.workload_ref.kind == kind && r.spec.workload_ref.name == name)
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// Runs the controller until `shutdown` resolves. `ready` turns true once the caches are synced.
pub async fn run(
    client: kube::Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let config = watcher::Config::default();
    let (deployments, deployment_writer) = reflector::store();
    let (replica_sets, replica_set_writer) = reflector::store();
    let (stateful_sets, stateful_set_writer) = reflector::store();
    let deployment_events = watcher(Api::<Deployment>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(deployment_writer)
        .touched_objects();
    let replica_set_events = watcher(Api::<ReplicaSet>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(replica_set_writer)
        .touched_objects();
    let stateful_set_events = watcher(Api::<StatefulSet>::all(client.clone()), config.clone())
        .default_backoff()
        .reflect(stateful_set_writer)
        .touched_objects();
    let synced = Arc::new(AtomicBool::new(false));
    let controller = Controller::new(Api::<Rollout>::all(client.clone()), config)
        .with_config(kube::runtime::controller::Config::default().concurrency(4))
        .graceful_shutdown_on(shutdown);
    let rollouts = controller.store();
    let ctx = Arc::new(Context {
        client: client.clone(),
        stores: Stores {
            rollouts: rollouts.clone(),
            deployments: deployments.clone(),
            replica_sets: replica_sets.clone(),
            stateful_sets: stateful_sets.clone(),
        },
        recorder: Recorder::new(
            client,
            Reporter {
                controller: keys::CONTROLLER_FIELD_MANAGER.into(),
                instance: None,
            },
        ),
        metrics: metrics.clone(),
        settings,
        synced: synced.clone(),
    });
    let by_deployment = rollouts.clone();
    let by_replica_set = rollouts.clone();
    let by_stateful_set = rollouts.clone();
    let owner_deployments = deployments.clone();
    let controller = controller
        .watches_stream(deployment_events, move |d: Deployment| {
            let namespace = d.namespace().unwrap_or_default();
            // A canary Deployment wakes the Rollout of its stable Deployment.
            let stable = d
                .labels()
                .get(keys::CANARY_DEPLOYMENT)
                .cloned()
                .unwrap_or_else(|| d.name_any());
            rollouts_of(&by_deployment, &namespace, "Deployment", &stable)
        })
        .watches_stream(replica_set_events, move |rs: ReplicaSet| {
            let namespace = rs.namespace().unwrap_or_default();
            let owner = rs
                .owner_references()
                .iter()
                .find(|o| o.controller == Some(true) && o.kind == "Deployment");
            let Some(owner) = owner else {
                return Vec::new();
            };
            let deployment = owner_deployments.get(&ObjectRef::new(&owner.name).within(&namespace));
            let stable = deployment
                .and_then(|d| d.labels().get(keys::CANARY_DEPLOYMENT).cloned())
                .unwrap_or_else(|| owner.name.clone());
            rollouts_of(&by_replica_set, &namespace, "Deployment", &stable)
        })
        .watches_stream(stateful_set_events, move |s: StatefulSet| {
            rollouts_of(
                &by_stateful_set,
                &s.namespace().unwrap_or_default(),
                "StatefulSet",
                &s.name_any(),
            )
        });
    let phases = rollouts.clone();
    let sync_ready = async move {
        let listed = futures::join!(
            rollouts.wait_until_ready(),
            deployments.wait_until_ready(),
            replica_sets.wait_until_ready(),
            stateful_sets.wait_until_ready()
        );
        if listed.0.is_ok() && listed.1.is_ok() && listed.2.is_ok() && listed.3.is_ok() {
            synced.store(true, Ordering::SeqCst);
            ready.store(true, Ordering::SeqCst);
            tracing::info!("caches synced; reconciling");
        }
    };
    let phase_gauge = async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let mut counts = BTreeMap::new();
            for rollout in phases.state() {
                let phase = rollout.status.as_ref().and_then(|s| s.phase);
                let phase = phase.map_or("Initial".to_string(), |p| format!("{p:?}"));
                *counts.entry(phase).or_insert(0u64) += 1;
            }
            metrics.set_rollouts_by_phase(&counts);
        }
    };
    let work = controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile round ended with an error");
            }
        });
    tokio::select! {
        () = work => {}
        () = async { sync_ready.await; std::future::pending::<()>().await } => {}
        () = phase_gauge => {}
    }
}

fn error_policy(rollout: Arc<Rollout>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(
        rollout = %format!("{}/{}", rollout.namespace().unwrap_or_default(), rollout.name_any()),
        %error,
        "reconcile failed; retrying"
    );
    Action::requeue(Duration::from_secs(2))
}
