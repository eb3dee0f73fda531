//! Watch wiring: one kube-runtime Controller over Rollouts, woken also by every object a
//! Rollout refers to (its workload, the workload's ReplicaSets and canary Deployments, its
//! Services, Ingresses and HTTPRoute, and the scripts ConfigMap), and one over TrafficRoutings.
//! Changes are mapped to Rollouts through the in-memory Rollout cache, never a LIST. Nothing polls: besides changes, a Rollout is only looked at
//! again when a pause, a grace period or a deadline ends, or after the long resync.

use crate::cache::{
    api_resource, cache, ignore, indexing, serves, store, trim, trim_daemonset, trim_deployment,
    trim_kruise_workload, trim_replica_set, trim_statefulset, watch_config,
};
use crate::context::{Context, Settings, Stores};
use crate::error::ControllerError;
use crate::index::{Index, canary_of, controller_uid};
use crate::kinds::deployment::{rollouts_of_deployment, rollouts_of_replica_set};
use crate::kinds::statefulset::rollouts_of_statefulset;
use crate::metrics::Metrics;
use crate::reconcile::{key_of, reconcile};
use crate::wake::{reference_index, rollouts_of_object};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{ObjectRef, Store};
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Resource;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A cache of a kind whose CRD may be missing (then it is not watched), and the name Rollouts
/// call the kind by.
struct OptionalCache<S> {
    kind: &'static str,
    resource: rollouts_change::Resource,
    store: Store<DynamicObject>,
    events: S,
}

/// Caches of `resource` when the API server serves it.
async fn optional_cache(
    client: &kube::Client,
    config: &kube::runtime::watcher::Config,
    resource: rollouts_change::Resource,
    trim: fn(&mut DynamicObject),
) -> Option<
    OptionalCache<
        impl futures::Stream<Item = Result<DynamicObject, kube::runtime::watcher::Error>>
        + Send
        + 'static,
    >,
> {
    if !serves(client, resource).await {
        tracing::info!(
            "{} is not served (its CRD is not installed): not watched",
            resource.api_version
        );
        return None;
    }
    let writer = Writer::<DynamicObject>::new(api_resource(resource));
    let store = writer.as_reader();
    let api = Api::<DynamicObject>::all_with(client.clone(), &api_resource(resource));
    Some(OptionalCache {
        kind: resource.kind,
        resource,
        store,
        events: cache(api, config.clone(), writer, trim, ignore),
    })
}

/// Runs the controller until `shutdown` resolves. `ready` turns true once the caches are synced.
pub async fn run(
    client: kube::Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (rollouts, rollout_writer) = store::<Rollout>();
    let (deployments, deployment_writer) = store::<Deployment>();
    let (replica_sets, replica_set_writer) = store::<ReplicaSet>();
    let (stateful_sets, stateful_set_writer) = store::<StatefulSet>();
    let (daemon_sets, daemon_set_writer) = store::<DaemonSet>();
    let (services, service_writer) = store::<Service>();
    let (ingresses, ingress_writer) = store::<Ingress>();
    let (configurations, configuration_writer) = store::<ConfigMap>();
    let canaries = Index::new(canary_of);
    let replica_sets_by_owner = Index::new(controller_uid);
    let all = |c: &kube::Client| c.clone();
    let concurrency = settings.reconcile_concurrency;
    let config = watch_config(&client).await;
    let references = reference_index();
    let rollout_events = cache(
        Api::all(all(&client)),
        config.clone(),
        rollout_writer,
        trim,
        indexing(references.clone()),
    );
    let deployment_events = cache(
        Api::all(all(&client)),
        config.clone(),
        deployment_writer,
        trim_deployment,
        indexing(canaries.clone()),
    );
    let replica_set_events = cache(
        Api::all(all(&client)),
        config.clone(),
        replica_set_writer,
        trim_replica_set,
        indexing(replica_sets_by_owner.clone()),
    );
    let stateful_set_events = cache(
        Api::all(all(&client)),
        config.clone(),
        stateful_set_writer,
        trim_statefulset,
        ignore,
    );
    let daemon_set_events = cache(
        Api::all(all(&client)),
        config.clone(),
        daemon_set_writer,
        trim_daemonset,
        ignore,
    );
    let service_events = cache(
        Api::all(all(&client)),
        config.clone(),
        service_writer,
        trim,
        ignore,
    );
    let ingress_events = cache(
        Api::all(all(&client)),
        config.clone(),
        ingress_writer,
        trim,
        ignore,
    );
    // The scripts ConfigMap alone, by name (the RBAC grants no other ConfigMap).
    let configuration_events = cache(
        Api::namespaced(all(&client), &settings.namespace),
        config
            .clone()
            .fields(&format!("metadata.name={}", crate::traffic::CONFIGURATION)),
        configuration_writer,
        trim,
        ignore,
    );
    let optional = futures::future::join_all([
        optional_cache(&client, &config, Resource::HTTP_ROUTE, trim),
        optional_cache(&client, &config, Resource::CLONE_SET, trim_kruise_workload),
        optional_cache(
            &client,
            &config,
            Resource::ADVANCED_STATEFUL_SET,
            trim_kruise_workload,
        ),
        optional_cache(
            &client,
            &config,
            Resource::ADVANCED_DAEMON_SET,
            trim_kruise_workload,
        ),
    ])
    .await;
    let optional_store = |resource: Resource| {
        optional
            .iter()
            .flatten()
            .find(|c| c.resource == resource)
            .map(|c| c.store.clone())
    };
    let synced = Arc::new(AtomicBool::new(false));
    let ctx = Arc::new(Context {
        client: client.clone(),
        stores: Stores {
            rollouts: rollouts.clone(),
            deployments: deployments.clone(),
            canaries,
            replica_sets: replica_sets.clone(),
            replica_sets_by_owner,
            stateful_sets: stateful_sets.clone(),
            daemon_sets: daemon_sets.clone(),
            services: services.clone(),
            ingresses: ingresses.clone(),
            http_routes: optional_store(Resource::HTTP_ROUTE),
            clone_sets: optional_store(Resource::CLONE_SET),
            advanced_stateful_sets: optional_store(Resource::ADVANCED_STATEFUL_SET),
            advanced_daemon_sets: optional_store(Resource::ADVANCED_DAEMON_SET),
            configuration: configurations.clone(),
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
        backoff: Default::default(),
        own_writes: Default::default(),
    });
    let (r1, r2, r3, r4, r5) = (
        references.clone(),
        references.clone(),
        references.clone(),
        references.clone(),
        references.clone(),
    );
    let owners = deployments.clone();
    let mut controller = Controller::for_stream(rollout_events, rollouts.clone())
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .watches_stream(deployment_events, move |d: Deployment| {
            rollouts_of_deployment(&r1, &d)
        })
        .watches_stream(replica_set_events, move |rs: ReplicaSet| {
            rollouts_of_replica_set(&r2, &owners, &rs)
        })
        .watches_stream(stateful_set_events, move |s: StatefulSet| {
            rollouts_of_statefulset(&r3, &s)
        })
        .watches_stream(daemon_set_events, {
            let index = references.clone();
            move |d: DaemonSet| rollouts_of_object(&index, "DaemonSet", &d)
        })
        .watches_stream(service_events, move |s: Service| {
            rollouts_of_object(&r4, "Service", &s)
        })
        .watches_stream(ingress_events, move |i: Ingress| {
            rollouts_of_object(&r5, "Ingress", &i)
        })
        .watches_stream(configuration_events, {
            // A changed script may route (or fail) differently: every Rollout with traffic.
            let rollouts = rollouts.clone();
            move |_: ConfigMap| {
                rollouts
                    .state()
                    .iter()
                    .filter(|r| crate::traffic::routing(r).is_some())
                    .map(|r| ObjectRef::from_obj(r.as_ref()))
                    .collect::<Vec<_>>()
            }
        });
    let mut optional_stores = Vec::new();
    for optional in optional.into_iter().flatten() {
        let (index, kind) = (references.clone(), optional.kind);
        optional_stores.push(optional.store);
        controller = controller.watches_stream_with(
            optional.events,
            move |object: DynamicObject| rollouts_of_object(&index, kind, &object),
            api_resource(optional.resource),
        );
    }
    let phases = rollouts.clone();
    let sync_ready = async move {
        let listed = futures::join!(
            rollouts.wait_until_ready(),
            deployments.wait_until_ready(),
            replica_sets.wait_until_ready(),
            stateful_sets.wait_until_ready(),
            services.wait_until_ready(),
            ingresses.wait_until_ready(),
        );
        let daemon_sets_listed = daemon_sets.wait_until_ready().await.is_ok();
        let configuration_listed = configurations.wait_until_ready().await.is_ok();
        let optional_listed =
            futures::future::join_all(optional_stores.iter().map(|store| store.wait_until_ready()))
                .await
                .iter()
                .all(Result::is_ok);
        let all_listed = listed.0.is_ok()
            && listed.1.is_ok()
            && listed.2.is_ok()
            && listed.3.is_ok()
            && listed.4.is_ok()
            && listed.5.is_ok()
            && daemon_sets_listed
            && configuration_listed
            && optional_listed;
        if all_listed {
            synced.store(true, Ordering::SeqCst);
            ready.store(true, Ordering::SeqCst);
            tracing::info!("caches synced; reconciling");
        }
    };
    let phase_gauge = async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let mut counts = BTreeMap::new();
            let mut releases = Vec::new();
            for rollout in phases.state() {
                let phase = rollout.status.as_ref().and_then(|s| s.phase);
                if phase == Some(rollouts_api::common::RolloutPhase::Progressing) {
                    releases.extend(release_step(&rollout));
                }
                let phase = phase.map_or("Initial".to_string(), |p| format!("{p:?}"));
                *counts.entry(phase).or_insert(0u64) += 1;
            }
            metrics.set_rollouts_by_phase(&counts);
            metrics.set_release_steps(releases);
        }
    };
    let routings = traffic_routings(config.clone(), ctx.clone(), concurrency);
    let work = controller
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile round ended with an error");
            }
        });
    tokio::select! {
        () = work => {}
        () = routings => {}
        () = async { sync_ready.await; std::future::pending::<()>().await } => {}
        () = phase_gauge => {}
    }
}

/// The TrafficRouting controller, when the API server serves TrafficRoutings (otherwise it
/// waits forever, doing nothing). It shares the Rollout controller's caches and backoff.
async fn traffic_routings(
    config: kube::runtime::watcher::Config,
    ctx: Arc<Context>,
    concurrency: u16,
) {
    use crate::traffic_routing::{error_policy, reconcile};
    let client = ctx.client.clone();
    if !serves(&client, Resource::TRAFFIC_ROUTING).await {
        tracing::info!("TrafficRoutings are not served (their CRD is not installed): not watched");
        return std::future::pending().await;
    }
    let api = Api::<rollouts_api::v1alpha1::TrafficRouting>::all(client);
    Controller::new(api, config)
        .with_config(kube::runtime::controller::Config::default().concurrency(concurrency))
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "TrafficRouting reconcile round ended with an error");
            }
        })
        .await
}

/// Retries a failed reconcile after the Rollout's next backoff delay.
fn error_policy(rollout: Arc<Rollout>, error: &ControllerError, ctx: Arc<Context>) -> Action {
    let key = key_of(&rollout);
    let delay = ctx.backoff.failed(&key);
    tracing::warn!(rollout = %key, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Where `rollout`'s release stands, for the release-step gauge.
fn release_step(rollout: &Rollout) -> Option<crate::metrics::ReleaseStep> {
    let common = rollout
        .status
        .as_ref()
        .and_then(rollouts_plan::machine::sub_status_common)?;
    Some(crate::metrics::ReleaseStep {
        namespace: rollout.metadata.namespace.clone().unwrap_or_default(),
        rollout: rollout.metadata.name.clone().unwrap_or_default(),
        state: common
            .current_step_state
            .map(|s| format!("{s:?}"))
            .unwrap_or_default(),
        step: common.current_step_index?,
        steps: rollouts_plan::steps(rollout).len(),
    })
}
