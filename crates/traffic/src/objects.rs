//! The traffic objects of one Rollout as observed (Services, and per provider the user's
//! Ingress, HTTPRoute or custom object and the canary Ingress), and the concrete changes a step
//! or the end of a release asks of them.

use crate::common::{Change, StepTraffic, canary_name};
use crate::provider::Provider;
use crate::service::{canary_service_change, stable_selector_change};
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::Value;

/// One provider and its objects, as read from the caches (or live, for custom objects).
#[derive(Clone, Debug)]
pub struct Route {
    /// The provider.
    pub provider: Provider,
    /// The resource of the user's object (Ingress, HTTPRoute, or the custom object's kind);
    /// `None` when the API server does not serve that kind.
    pub resource: Option<Resource>,
    /// The user's object.
    pub object: Option<Value>,
    /// The canary Ingress (Ingress providers).
    pub canary_ingress: Option<Value>,
}

impl Route {
    /// The resource this route's changes are made to: Ingresses for the Ingress providers
    /// (the canary copy), else the user's object's; `None` when the API server does not serve it.
    fn changed_resource(&self) -> Option<Resource> {
        match self.provider.uses_canary_ingress() {
            true => Some(Resource::INGRESS),
            false => self.resource,
        }
    }
}

/// The traffic objects of one Rollout.
#[derive(Clone, Debug)]
pub struct TrafficObjects {
    /// Namespace of the Rollout and of every object here.
    pub namespace: String,
    /// The providers and their objects, or why the reference cannot route.
    pub routes: Result<Vec<Route>, String>,
    /// Name of the stable Service.
    pub stable_service_name: String,
    /// The stable Service.
    pub stable_service: Option<Value>,
    /// The canary Service.
    pub canary_service: Option<Value>,
    /// Seconds to wait after each change.
    pub grace_seconds: i64,
    /// Which Service the new pods' traffic goes to.
    pub canary_target: CanaryTarget,
}

/// The Service the new pods' share of traffic is sent to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CanaryTarget {
    /// `<stable>-canary`, which the release makes, points at the new pods, and removes.
    #[default]
    CanaryService,
    /// The stable Service itself, as `disableGenerateCanaryService` asks: only custom (Lua)
    /// providers can tell the versions apart there (by subsets).
    StableSubset,
    /// The stable Service itself, as a TrafficRouting object routes a chain of Services: any
    /// provider, and no Service is made or changed.
    StableService,
}

/// Revision label key and values the Services select.
#[derive(Clone, Copy, Debug)]
pub struct Revisions<'a> {
    /// `pod-template-hash` or `controller-revision-hash`.
    pub key: &'a str,
    /// Revision of the stable pods.
    pub stable: &'a str,
    /// Revision of the new pods.
    pub canary: &'a str,
}

impl TrafficObjects {
    /// The effect of a provider or Service `change` on an object of `resource`.
    fn effect(&self, resource: Resource, change: Change, why: &str) -> Effect {
        match change {
            Change::Create(body) => Effect::create(resource, body, why),
            Change::Patch { name, patch } => {
                Effect::merge(ObjectKey::new(resource, &self.namespace, name), patch, why)
            }
            Change::Delete { name } => {
                Effect::delete(ObjectKey::new(resource, &self.namespace, name), why)
            }
        }
    }

    /// The routes whose objects are all known (every route, once [`Self::problem`] is `None`).
    fn routes(&self) -> impl Iterator<Item = (&Route, Resource, &Value)> {
        self.routes
            .iter()
            .flatten()
            .filter_map(|route| Some((route, route.changed_resource()?, route.object.as_ref()?)))
    }

    /// The Service the new pods are reached through: the canary Service, or the stable one
    /// itself when no canary Service is made.
    fn canary_service_name(&self) -> String {
        match self.canary_target {
            CanaryTarget::CanaryService => canary_name(&self.stable_service_name),
            CanaryTarget::StableSubset | CanaryTarget::StableService => {
                self.stable_service_name.clone()
            }
        }
    }

    /// Whether a change that could make routing possible may come unannounced: custom objects
    /// are read live and wake no Rollout when they change, so a Rollout waiting on them looks
    /// again now and then. Scripted Ingress classes are looked at again too, though a change of
    /// the (watched) scripts ConfigMap wakes them as well.
    pub fn reads_unwatched_objects(&self) -> bool {
        self.routes.as_ref().map_or(true, |routes| {
            routes.iter().any(|r| {
                matches!(
                    r.provider,
                    Provider::Custom { .. } | Provider::ScriptedIngress { .. }
                )
            })
        })
    }

    /// Why traffic cannot be routed, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let routes = match &self.routes {
            Ok(routes) => routes,
            Err(message) => return Some(message.clone()),
        };
        let only_scripts = routes
            .iter()
            .all(|r| matches!(r.provider, Provider::Custom { .. }));
        if self.canary_target == CanaryTarget::StableSubset && !only_scripts {
            // An Ingress or HTTPRoute would route the canary's share to the stable Service.
            return Some("disableGenerateCanaryService needs every traffic provider to be a custom (Lua) one: remove it to route through the canary Service".into());
        }
        let gateway = routes
            .iter()
            .any(|r| matches!(r.provider, Provider::Gateway { .. }));
        if self.canary_target == CanaryTarget::StableService && gateway {
            // Its backends name Services: both shares would go to the same one.
            return Some("a TrafficRouting cannot route an HTTPRoute (there is no canary Service to send the new pods' share to): route it from the Rollout's trafficRoutings".into());
        }
        if self.stable_service.is_none() {
            return Some(format!(
                "Service {} not found: traffic routing needs it",
                self.stable_service_name
            ));
        }
        for route in routes {
            if let Some(problem) = route.provider.problem() {
                return Some(problem.to_string());
            }
            let (kind, name) = route.provider.object();
            if route.changed_resource().is_none() {
                return Some(format!(
                    "the API server serves no {kind} (install its CRD, then restart the controller)"
                ));
            }
            if route.object.is_none() {
                return Some(format!("{kind} {name} not found: traffic routing needs it"));
            }
        }
        None
    }

    /// The changes `step` needs, Services first: when a Service changes, routes wait for the
    /// next round (after the grace period) so they never lead to a Service without pods. Empty
    /// when the step is routed as asked; an error when a provider's script fails.
    pub fn step_effects(
        &self,
        step: &StepTraffic,
        revisions: Revisions,
        owner: &Value,
    ) -> Result<Vec<Effect>, String> {
        let (Ok(_), Some(stable)) = (&self.routes, &self.stable_service) else {
            return Ok(Vec::new());
        };
        if self.canary_target == CanaryTarget::CanaryService {
            if revisions.stable.is_empty() || revisions.canary.is_empty() {
                return Ok(Vec::new());
            }
            let services: Vec<Effect> = [
                canary_service_change(
                    stable,
                    self.canary_service.as_ref(),
                    revisions.key,
                    revisions.canary,
                    owner,
                )
                .map(|c| self.effect(Resource::SERVICE, c, "canary Service selects the new pods")),
                stable_selector_change(stable, revisions.key, Some(revisions.stable)).map(|c| {
                    self.effect(
                        Resource::SERVICE,
                        c,
                        "pin the stable Service to the stable pods",
                    )
                }),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !services.is_empty() {
                return Ok(services);
            }
        }
        self.route_effects(step, owner)
    }

    /// The changes of the routes alone (Ingresses, HTTPRoutes, custom objects) that `step`
    /// needs, the Services as they are; empty when they route so already. Sending all traffic
    /// to the new pods at the end of a blue-green release keeps the stable Service as it is
    /// being given back.
    pub fn route_effects(&self, step: &StepTraffic, owner: &Value) -> Result<Vec<Effect>, String> {
        let services = (
            self.stable_service_name.as_str(),
            self.canary_service_name(),
        );
        let mut effects = Vec::new();
        for (route, resource, object) in self.routes() {
            let change = route.provider.ensure(
                object,
                route.canary_ingress.as_ref(),
                (services.0, &services.1),
                step,
                owner,
            )?;
            effects.extend(change.map(|c| self.effect(resource, c, "route the step's traffic")));
        }
        Ok(effects)
    }

    /// Pin (`Some`) or unpin (`None`) the stable Service's selector to a revision; `None` when
    /// it already is so. Without a canary Service the stable one serves both versions (the
    /// scripts split them by subsets), so it is never pinned.
    pub fn stable_pin(&self, key: &str, revision: Option<&str>) -> Option<Effect> {
        let stable = self.stable_service.as_ref()?;
        if revision.is_some() && self.canary_target != CanaryTarget::CanaryService {
            return None;
        }
        let why = match revision {
            Some(_) => "pin the stable Service to the stable pods",
            None => "unpin the stable Service",
        };
        stable_selector_change(stable, key, revision)
            .map(|c| self.effect(Resource::SERVICE, c, why))
    }

    /// Send all traffic back to the stable Service; empty when it already goes there.
    pub fn restore_routes(&self) -> Vec<Effect> {
        self.routes
            .iter()
            .flatten()
            .filter_map(|route| {
                let resource = route.changed_resource()?;
                let change = route.provider.finalise(
                    route.object.as_ref(),
                    route.canary_ingress.as_ref(),
                    &self.stable_service_name,
                )?;
                Some(self.effect(resource, change, "route all traffic to stable"))
            })
            .collect()
    }

    /// Delete the canary Service; `None` when it is gone.
    pub fn remove_canary_service(&self) -> Option<Effect> {
        self.canary_service
            .as_ref()
            .filter(|s| s.pointer("/metadata/deletionTimestamp").is_none())
            .map(|_| {
                self.effect(
                    Resource::SERVICE,
                    Change::Delete {
                        name: canary_name(&self.stable_service_name),
                    },
                    "remove the canary Service",
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observed() -> TrafficObjects {
        TrafficObjects {
            namespace: "d".into(),
            routes: Ok(vec![Route {
                provider: Provider::Nginx {
                    ingress: "echoserver".into(),
                },
                resource: Some(Resource::INGRESS),
                object: Some(
                    json!({"metadata": {"name": "echoserver", "namespace": "d"}, "spec": {"rules": [
                    {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                        "backend": {"service": {"name": "echoserver", "port": {"number": 80}}}}]}}]}}),
                ),
                canary_ingress: None,
            }]),
            stable_service_name: "echoserver".into(),
            stable_service: Some(json!({"metadata": {"name": "echoserver", "namespace": "d"},
                "spec": {"ports": [{"port": 80}], "selector": {"app": "echoserver"}}})),
            canary_service: None,
            grace_seconds: 3,
            canary_target: CanaryTarget::CanaryService,
        }
    }

    const REVISIONS: Revisions<'static> = Revisions {
        key: "pod-template-hash",
        stable: "v1",
        canary: "v2",
    };

    /// Applies effects to the observed objects, as the API server would.
    fn apply(o: &mut TrafficObjects, effects: Vec<Effect>) {
        for effect in effects {
            let slot = match (effect.object.resource, effect.object.name.as_str()) {
                (Resource::SERVICE, "echoserver") => &mut o.stable_service,
                (Resource::SERVICE, _) => &mut o.canary_service,
                (Resource::INGRESS, "echoserver-canary") => {
                    &mut o.routes.as_mut().unwrap()[0].canary_ingress
                }
                other => panic!("unexpected effect on {other:?}"),
            };
            rollouts_change::apply(slot, &effect.change).unwrap();
        }
    }

    #[test]
    fn a_step_sets_services_first_then_the_route_and_the_end_undoes_all_in_order() {
        // Services (canary created, stable pinned) in one round, the canary Ingress in the
        // next, nothing left in the third.
        let mut o = observed();
        let step = StepTraffic {
            weight: Some(20),
            ..Default::default()
        };
        let owner = json!({});
        let first = o.step_effects(&step, REVISIONS, &owner).unwrap();
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|e| e.object.resource == Resource::SERVICE));
        apply(&mut o, first);
        assert_eq!(
            o.stable_service.as_ref().unwrap()["spec"]["selector"]["pod-template-hash"],
            "v1"
        );
        assert_eq!(
            o.canary_service.as_ref().unwrap()["spec"]["selector"]["pod-template-hash"],
            "v2"
        );
        let second = o.step_effects(&step, REVISIONS, &owner).unwrap();
        assert!(matches!(
            second.as_slice(),
            [Effect { change: rollouts_change::Change::Create(_), object, .. }]
                if object.resource == Resource::INGRESS && object.name == "echoserver-canary"
        ));
        apply(&mut o, second);
        assert!(o.step_effects(&step, REVISIONS, &owner).unwrap().is_empty());
        assert!(o.stable_pin("pod-template-hash", Some("v1")).is_none());

        let unpin = o
            .stable_pin("pod-template-hash", None)
            .into_iter()
            .collect();
        apply(&mut o, unpin);
        let restore = o.restore_routes();
        apply(&mut o, restore);
        let remove = o.remove_canary_service().into_iter().collect();
        apply(&mut o, remove);
        assert!(o.stable_pin("pod-template-hash", None).is_none());
        assert!(o.restore_routes().is_empty() && o.remove_canary_service().is_none());
        assert_eq!(
            o.stable_service.as_ref().unwrap()["spec"]["selector"],
            json!({"app": "echoserver"})
        );
    }

    #[test]
    fn without_a_canary_service_a_script_routes_to_a_subset_and_services_stay_untouched() {
        let mut o = observed();
        o.canary_target = CanaryTarget::StableSubset;
        let virtual_service = Resource::new(
            "networking.istio.io/v1alpha3",
            "VirtualService",
            "virtualservices",
        );
        o.routes = Ok(vec![Route {
            provider: Provider::Custom {
                api_version: virtual_service.api_version.into(),
                kind: "VirtualService".into(),
                name: "vs".into(),
                script: Ok(rollouts_script::builtin_for_object(
                    virtual_service.api_version,
                    "VirtualService",
                )
                .unwrap()),
            },
            resource: Some(virtual_service),
            object: Some(json!({"metadata": {"name": "vs", "namespace": "d"},
                "spec": {"http": [{"route": [{"destination": {"host": "echoserver"}}]}]}})),
            canary_ingress: None,
        }]);
        assert_eq!(o.problem(), None);
        assert_eq!(o.stable_pin("pod-template-hash", Some("v1")), None);
        let step = StepTraffic {
            weight: Some(10),
            ..Default::default()
        };
        let effects = o.step_effects(&step, REVISIONS, &json!({})).unwrap();
        let [effect] = effects.as_slice() else {
            panic!("only the VirtualService changes: {effects:?}");
        };
        assert_eq!(effect.object.resource, virtual_service);
        let rollouts_change::Change::Merge(patch) = &effect.change else {
            panic!("a merge patch: {effect:?}");
        };
        assert_eq!(
            patch["spec"]["http"][0]["route"][1],
            json!({"destination": {"host": "echoserver", "subset": "canary"}, "weight": 10})
        );
    }

    #[test]
    fn a_disabled_canary_service_is_a_problem_not_a_silent_no_op() {
        let mut o = observed();
        o.canary_target = CanaryTarget::StableSubset;
        assert!(o.problem().unwrap().starts_with(
            "disableGenerateCanaryService needs every traffic provider to be a custom"
        ));
    }

    #[test]
    fn a_trafficrouting_object_routes_an_ingress_but_not_an_httproute() {
        let mut o = observed();
        o.canary_target = CanaryTarget::StableService;
        assert_eq!(o.problem(), None);
        o.routes.as_mut().unwrap()[0].provider = Provider::Gateway {
            route: "echoserver".into(),
        };
        o.routes.as_mut().unwrap()[0].resource = Some(Resource::HTTP_ROUTE);
        assert!(
            o.problem()
                .unwrap()
                .starts_with("a TrafficRouting cannot route an HTTPRoute"),
            "{:?}",
            o.problem()
        );
    }

    #[test]
    fn missing_objects_are_named_in_the_problem() {
        let mut o = observed();
        o.routes.as_mut().unwrap()[0].object = None;
        assert_eq!(
            o.problem().unwrap(),
            "Ingress echoserver not found: traffic routing needs it"
        );
        o.stable_service = None;
        assert_eq!(
            o.problem().unwrap(),
            "Service echoserver not found: traffic routing needs it"
        );
    }
}
