//! Traffic objects for machine tests: the user's Service and Ingress, routed states, and
//! effects applied to them as the API server would.

use rollouts_change::{Effect, Resource};
use rollouts_traffic::objects::{Revisions, Route, TrafficObjects};
use rollouts_traffic::{Provider, StepTraffic};
use serde_json::json;

/// The user's Service and Ingress, nothing of a release on them.
pub fn untouched(grace: i64) -> TrafficObjects {
    TrafficObjects {
        namespace: "default".into(),
        routes: Ok(vec![Route {
            provider: Provider::Nginx {
                ingress: "echoserver".into(),
            },
            resource: Some(Resource::INGRESS),
            object: Some(
                json!({"metadata": {"name": "echoserver", "namespace": "default"},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "echoserver", "port": {"number": 80}}}}]}}]}}),
            ),
            canary_ingress: None,
        }]),
        stable_service_name: "echoserver".into(),
        stable_service: Some(
            json!({"metadata": {"name": "echoserver", "namespace": "default"},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "echoserver"}}}),
        ),
        canary_service: None,
        grace_seconds: grace,
        canary_target: Default::default(),
    }
}

/// Applies the traffic effects to the objects, as the API server would.
pub fn apply_traffic(objects: &mut TrafficObjects, effects: &[Effect]) {
    for effect in effects {
        let slot = match (effect.object.resource, effect.object.name.as_str()) {
            (Resource::SERVICE, "echoserver") => &mut objects.stable_service,
            (Resource::SERVICE, "echoserver-canary") => &mut objects.canary_service,
            (Resource::INGRESS, "echoserver-canary") => {
                &mut objects.routes.as_mut().unwrap()[0].canary_ingress
            }
            _ => continue,
        };
        rollouts_change::apply(slot, &effect.change).unwrap();
    }
}

/// Step traffic `weight` routed to `hash-v2`: stable pinned, canary Service and Ingress.
pub fn routed(weight: i32, grace: i64) -> TrafficObjects {
    let mut objects = untouched(grace);
    let step = StepTraffic {
        weight: Some(weight),
        ..Default::default()
    };
    let revisions = Revisions {
        key: "pod-template-hash",
        stable: "rev-v1",
        canary: "hash-v2",
    };
    for _ in 0..3 {
        let effects = objects.step_effects(&step, revisions, &json!({})).unwrap();
        apply_traffic(&mut objects, &effects);
    }
    assert!(
        objects
            .step_effects(&step, revisions, &json!({}))
            .unwrap()
            .is_empty()
    );
    objects
}
