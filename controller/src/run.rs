//! Watch wiring: one kube-runtime Controller over Rollouts, woken also by every object a
//! Rollout refers to (its workload, the workload's ReplicaSets and canary Deployments, its
//! Services, Ingresses and HTTPRoute). Changes are mapped to Rollouts through the in-memory
//! Rollout cache, never a LIST. Nothing polls: besides changes, a Rollout is only looked at
//! again when a pause, a grace period or a deadline ends, or after the long resync.

use crate::cache::{
    cache, ignore, indexing, store, trim, trim_deployment, trim_replica_set, trim_statefulset,
    watch_config,
};
use crate::context::{Context, Settings, Stores};
use crate::error::ControllerError;
use crate::index::{Index, canary_of, controller_uid};
use crate::kinds::deployment::{rollouts_of_deployment, rollouts_of_replica_set};
use crate::kinds::statefulset::rollouts_of_statefulset;
use crate::metrics::Metrics;
use crate::reconcile::{key_of, reconcile};
use crate::traffic::gateway_resource;
use crate::wake::{reference_index, rollouts_of_object};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, DynamicObject};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Whether the API server serves Gateway API HTTPRoutes.
async fn serves_http_routes(client: &kube::Client) -> bool {
    let route = rollouts_change::Resource::HTTP_ROUTE;
    match client.list_api_group_resources(route.api_version).await {
        Ok(list) => list.resources.iter().any(|r| r.name == route.plural),
        Err(_) => false,
    }
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
    let (services, service_writer) = store::<Service>();
    let (ingresses, ingress_writer) = store::<Ingress>();
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
    let http_routes = if serves_http_routes(&client).await {
        let writer = Writer::<DynamicObject>::new(gateway_resource());
        let reader = writer.as_reader();
        let api = Api::<DynamicObject>::all_with(client.clone(), &gateway_resource());
        Some((reader, cache(api, config, writer, trim, ignore)))
    } else {
        tracing::info!(
            "the Gateway API HTTPRoute CRD is not installed: HTTPRoutes are not watched"
        );
        None
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
            services: services.clone(),
            ingresses: ingresses.clone(),
            http_routes: http_routes.as_ref().map(|(reader, _)| reader.clone()),
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
    let (r1, r2, r3, r4, r5, r6) = (
        references.clone(),
        references.clone(),
        references.clone(),
        references.clone(),
        references.clone(),
        references,
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
        .watches_stream(service_events, move |s: Service| {
            rollouts_of_object(&r4, "Service", &s)
        })
        .watches_stream(ingress_events, move |i: Ingress| {
            rollouts_of_object(&r5, "Ingress", &i)
        });
    let routes_ready = http_routes.as_ref().map(|(reader, _)| reader.clone());
    if let Some((_, events)) = http_routes {
        controller = controller.watches_stream_with(
            events,
            move |r: DynamicObject| rollouts_of_object(&r6, "HTTPRoute", &r),
            gateway_resource(),
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
        let routes = match &routes_ready {
            Some(reader) => reader.wait_until_ready().await.is_ok(),
            None => true,
        };
        let all_listed = listed.0.is_ok()
            && listed.1.is_ok()
            && listed.2.is_ok()
            && listed.3.is_ok()
            && listed.4.is_ok()
            && listed.5.is_ok()
            && routes;
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

/// Retries a failed reconcile after the Rollout's next backoff delay.
fn error_policy(rollout: Arc<Rollout>, error: &ControllerError, ctx: Arc<Context>) -> Action {
    let key = key_of(&rollout);
    let delay = ctx.backoff.failed(&key);
    tracing::warn!(rollout = %key, %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}
