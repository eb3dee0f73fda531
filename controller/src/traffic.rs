//! A Rollout's traffic objects read from the caches (Services, Ingresses, HTTPRoutes).

use crate::context::Stores;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use rollouts_api::common::TrafficRoutingRef;
use rollouts_api::v1beta1::Rollout;
use rollouts_traffic::objects::TrafficObjects;
use rollouts_traffic::{Provider, canary_name};
use serde_json::Value;

/// Seconds to wait after a traffic change when the Rollout does not say.
const DEFAULT_GRACE_SECONDS: i64 = 3;

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

/// The traffic objects of `rollout`, or `None` when it routes no traffic.
pub fn observe(stores: &Stores, rollout: &Rollout) -> Option<TrafficObjects> {
    let reference = routing(rollout)?;
    let strategy = &rollout.spec.strategy;
    let canary_service_disabled = match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => blue_green.disable_generate_canary_service,
        (None, Some(canary)) => canary.disable_generate_canary_service,
        (None, None) => None,
    } == Some(true);
    let namespace = rollout.namespace()?;
    let mut provider = Provider::of(reference);
    let (route_object, canary_ingress) = match &provider {
        Ok(Provider::Nginx { ingress } | Provider::Mse { ingress }) => (
            cached(&stores.ingresses, &namespace, ingress),
            cached(&stores.ingresses, &namespace, &canary_name(ingress)),
        ),
        Ok(Provider::Gateway { route }) => match &stores.http_routes {
            Some(routes) => {
                let found =
                    routes.get(&ObjectRef::new_with(route, gateway_resource()).within(&namespace));
                (
                    found.and_then(|r| serde_json::to_value(r.as_ref()).ok()),
                    None,
                )
            }
            None => {
                provider = Err("the Gateway API HTTPRoute CRD is not installed (install it, then restart the controller)".into());
                (None, None)
            }
        },
        Err(_) => (None, None),
    };
    let service = reference.service.clone();
    let grace = reference
        .grace_period_seconds
        .map_or(DEFAULT_GRACE_SECONDS, i64::from);
    Some(TrafficObjects {
        stable_service: cached(&stores.services, &namespace, &service),
        canary_service: cached(&stores.services, &namespace, &canary_name(&service)),
        namespace,
        provider,
        stable_service_name: service,
        route_object,
        canary_ingress,
        grace_seconds: if grace < 0 {
            DEFAULT_GRACE_SECONDS
        } else {
            grace
        },
        canary_service_disabled,
    })
}

/// The Gateway API HTTPRoute resource.
pub fn gateway_resource() -> kube::api::ApiResource {
    crate::cache::api_resource(rollouts_change::Resource::HTTP_ROUTE)
}
