//! A Rollout's traffic objects: Services, Ingresses and HTTPRoutes from the caches; objects
//! routed by Lua scripts (customNetworkRefs) read live; the users' scripts from the cached
//! `kruise-rollout-configuration` ConfigMap.

use crate::context::{Context, Stores};
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::reflector::{ObjectRef, Store};
use rollouts_api::common::TrafficRoutingRef;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Resource;
use rollouts_traffic::objects::{CanaryTarget, Route, TrafficObjects};
use rollouts_traffic::{Provider, canary_name};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{LazyLock, Mutex};

/// Seconds to wait after a traffic change when the Rollout does not say.
const DEFAULT_GRACE_SECONDS: i64 = 3;

/// The ConfigMap holding users' traffic-routing scripts (upstream's name).
pub const CONFIGURATION: &str = "kruise-rollout-configuration";

/// The traffic routing reference of `rollout`, if it routes traffic.
pub fn routing(rollout: &Rollout) -> Option<&TrafficRoutingRef> {
    rollouts_plan::traffic_routings(rollout).first()
}

fn cached<K>(store: &Store<K>, namespace: &str, name: &str) -> Option<Value>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::Serialize + 'static,
{
    let object = store.get(&ObjectRef::new(name).within(namespace))?;
    serde_json::to_value(object.as_ref()).ok()
}

/// The data of the scripts ConfigMap, from its cache (empty when there is none).
fn configuration(ctx: &Context) -> BTreeMap<String, String> {
    let key = ObjectRef::new(CONFIGURATION).within(&ctx.settings.namespace);
    ctx.stores
        .configuration
        .get(&key)
        .and_then(|c| c.data.clone())
        .unwrap_or_default()
}

/// Resources of custom objects by (apiVersion, kind), as the API server serves them.
static DISCOVERED: LazyLock<Mutex<HashMap<(String, String), Resource>>> =
    LazyLock::new(Default::default);

/// The resource of `kind` in `api_version`, when the API server serves it. A resource's names
/// must live as long as the process (effects name their resource statically); each kind is
/// looked up, and its names kept, once.
async fn discover(client: &kube::Client, api_version: &str, kind: &str) -> Option<Resource> {
    let key = (api_version.to_string(), kind.to_string());
    if let Some(found) = DISCOVERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&key)
    {
        return Some(*found);
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let (served, _) = kube::discovery::pinned_kind(client, &gvk).await.ok()?;
    let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
    let resource = Resource::new(
        leak(served.api_version),
        leak(served.kind),
        leak(served.plural),
    );
    DISCOVERED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, resource);
    Some(resource)
}

/// `provider`'s objects in `namespace`, or why a custom object could not be read (an API
/// error is not taken for a missing object).
async fn route_of(ctx: &Context, namespace: &str, provider: Provider) -> Result<Route, String> {
    let stores: &Stores = &ctx.stores;
    let (resource, object, canary_ingress) = match &provider {
        Provider::Nginx { ingress }
        | Provider::Mse { ingress }
        | Provider::ScriptedIngress { ingress, .. } => (
            Some(Resource::INGRESS),
            cached(&stores.ingresses, namespace, ingress),
            cached(&stores.ingresses, namespace, &canary_name(ingress)),
        ),
        Provider::Gateway { route } => match &stores.http_routes {
            Some(routes) => {
                let found =
                    routes.get(&ObjectRef::new_with(route, gateway_resource()).within(namespace));
                (
                    Some(Resource::HTTP_ROUTE),
                    found.and_then(|r| serde_json::to_value(r.as_ref()).ok()),
                    None,
                )
            }
            None => (None, None, None),
        },
        Provider::Custom {
            api_version,
            kind,
            name,
            ..
        } => match discover(&ctx.client, api_version, kind).await {
            Some(resource) => {
                let api: Api<DynamicObject> = Api::namespaced_with(
                    ctx.client.clone(),
                    namespace,
                    &crate::cache::api_resource(resource),
                );
                let live = api
                    .get_opt(name)
                    .await
                    .map_err(|e| format!("could not read {kind} {namespace}/{name}: {e}"))?;
                let object = live.and_then(|o| serde_json::to_value(o).ok());
                (Some(resource), object, None)
            }
            None => (None, None, None),
        },
    };
    Ok(Route {
        provider,
        resource,
        object,
        canary_ingress,
    })
}

/// The objects of each provider, in order; the first one that cannot be read says why.
async fn routes_of(
    ctx: &Context,
    namespace: &str,
    providers: Vec<Provider>,
) -> Result<Vec<Route>, String> {
    let mut routes = Vec::new();
    for provider in providers {
        routes.push(route_of(ctx, namespace, provider).await?);
    }
    Ok(routes)
}

/// The traffic objects of `rollout`, or `None` when it routes no traffic.
pub async fn observe(ctx: &Context, rollout: &Rollout) -> Option<TrafficObjects> {
    let reference = routing(rollout)?;
    let strategy = &rollout.spec.strategy;
    let canary_service_disabled = match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => blue_green.disable_generate_canary_service,
        (None, Some(canary)) => canary.disable_generate_canary_service,
        (None, None) => None,
    } == Some(true);
    let target = match canary_service_disabled {
        true => CanaryTarget::StableSubset,
        false => CanaryTarget::CanaryService,
    };
    Some(observe_reference(ctx, &rollout.namespace()?, reference, target).await)
}

/// The objects `reference` routes in `namespace`, the new pods' share sent to `target`.
pub async fn observe_reference(
    ctx: &Context,
    namespace: &str,
    reference: &TrafficRoutingRef,
    target: CanaryTarget,
) -> TrafficObjects {
    let routes = match Provider::all_of(reference, &configuration(ctx)) {
        Ok(providers) => routes_of(ctx, namespace, providers).await,
        Err(problem) => Err(problem),
    };
    let service = reference.service.clone();
    let grace = reference
        .grace_period_seconds
        .map_or(DEFAULT_GRACE_SECONDS, i64::from);
    TrafficObjects {
        stable_service: cached(&ctx.stores.services, namespace, &service),
        canary_service: cached(&ctx.stores.services, namespace, &canary_name(&service)),
        namespace: namespace.to_string(),
        routes,
        stable_service_name: service,
        grace_seconds: if grace < 0 {
            DEFAULT_GRACE_SECONDS
        } else {
            grace
        },
        canary_target: target,
    }
}

/// The Gateway API HTTPRoute resource.
pub fn gateway_resource() -> ApiResource {
    crate::cache::api_resource(Resource::HTTP_ROUTE)
}
