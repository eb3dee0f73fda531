//! From the traffic objects as observed to what the step machine needs to know (a
//! `TrafficView`) and to the changes a step or the end of a release asks for.

use crate::service::{canary_service_change, stable_selector_change};
use crate::{Change, Provider, StepTraffic, TrafficProvider, canary_name};
use rollouts_plan::machine::TrafficView;
use serde_json::Value;

/// Which kind of object a change is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A core Service.
    Service,
    /// A networking.k8s.io Ingress.
    Ingress,
    /// A gateway.networking.k8s.io HTTPRoute.
    HttpRoute,
}

/// The traffic objects of one Rollout, as read in one reconcile.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The provider, or why the reference is not supported.
    pub provider: Result<Provider, String>,
    /// Name of the stable Service.
    pub stable_service_name: String,
    /// The stable Service.
    pub stable_service: Option<Value>,
    /// The canary Service.
    pub canary_service: Option<Value>,
    /// The user's Ingress or HTTPRoute.
    pub route_object: Option<Value>,
    /// The canary Ingress (Ingress providers).
    pub canary_ingress: Option<Value>,
    /// Seconds to wait after each change.
    pub grace_seconds: i64,
    /// `disableGenerateCanaryService` is set.
    pub canary_service_disabled: bool,
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

impl Observed {
    fn route_target(&self) -> Target {
        match self.provider {
            Ok(Provider::Gateway { .. }) => Target::HttpRoute,
            _ => Target::Ingress,
        }
    }

    /// Why traffic cannot be routed, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let provider = match &self.provider {
            Ok(provider) => provider,
            Err(message) => return Some(message.clone()),
        };
        if self.canary_service_disabled {
            // Upstream routes to the stable Service itself then, which only custom (Lua)
            // providers can tell apart; with Ingress or Gateway API it would route nothing.
            return Some("disableGenerateCanaryService needs a custom network provider, which is not supported: remove it to route through the canary Service".into());
        }
        if self.stable_service.is_none() {
            return Some(format!(
                "Service {} not found: traffic routing needs it",
                self.stable_service_name
            ));
        }
        if self.route_object.is_none() {
            let (kind, name) = match provider {
                Provider::Nginx { ingress } | Provider::Mse { ingress } => ("Ingress", ingress),
                Provider::Gateway { route } => ("HTTPRoute", route),
            };
            return Some(format!("{kind} {name} not found: traffic routing needs it"));
        }
        None
    }

    /// The changes step `step` needs, Services first: when a Service changes, routes wait for
    /// the next round (after the grace period) so they never lead to a Service without pods.
    pub fn step_changes(
        &self,
        step: &StepTraffic,
        revisions: Revisions,
        owner: &Value,
    ) -> Vec<(Target, Change)> {
        let (Ok(provider), Some(stable), Some(route)) =
            (&self.provider, &self.stable_service, &self.route_object)
        else {
            return Vec::new();
        };
        if revisions.stable.is_empty() || revisions.canary.is_empty() {
            return Vec::new();
        }
        let services: Vec<(Target, Change)> = [
            canary_service_change(
                stable,
                self.canary_service.as_ref(),
                revisions.key,
                revisions.canary,
                owner,
            ),
            stable_selector_change(stable, revisions.key, Some(revisions.stable)),
        ]
        .into_iter()
        .flatten()
        .map(|c| (Target::Service, c))
        .collect();
        if !services.is_empty() {
            return services;
        }
        let routed = provider.ensure(
            route,
            self.canary_ingress.as_ref(),
            &self.stable_service_name,
            step,
            owner,
        );
        routed
            .map(|c| (self.route_target(), c))
            .into_iter()
            .collect()
    }

    /// Pin (`Some`) or unpin (`None`) the stable Service.
    pub fn stable_pin_change(&self, key: &str, revision: Option<&str>) -> Option<(Target, Change)> {
        let stable = self.stable_service.as_ref()?;
        stable_selector_change(stable, key, revision).map(|c| (Target::Service, c))
    }

    /// Send all traffic back to the stable Service.
    pub fn restore_routes_change(&self) -> Option<(Target, Change)> {
        let provider = self.provider.as_ref().ok()?;
        let change = provider.finalise(
            self.route_object.as_ref(),
            self.canary_ingress.as_ref(),
            &self.stable_service_name,
        )?;
        Some((self.route_target(), change))
    }

    /// Delete the canary Service.
    pub fn remove_canary_service_change(&self) -> Option<(Target, Change)> {
        self.canary_service
            .as_ref()
            .filter(|s| s.pointer("/metadata/deletionTimestamp").is_none())
            .map(|_| {
                (
                    Target::Service,
                    Change::Delete {
                        name: canary_name(&self.stable_service_name),
                    },
                )
            })
    }

    /// What the step machine needs to know, for step `for_step` (`None` when it routes nothing).
    pub fn view(
        &self,
        for_step: i32,
        step: Option<&StepTraffic>,
        revisions: Revisions,
        owner: &Value,
    ) -> TrafficView {
        TrafficView {
            grace_seconds: self.grace_seconds,
            problem: self.problem(),
            step_converged: step.is_none_or(|step| {
                self.problem().is_none()
                    && !revisions.canary.is_empty()
                    && self.step_changes(step, revisions, owner).is_empty()
            }),
            for_step,
            stable_pinned: revisions.stable.is_empty()
                || self
                    .stable_pin_change(revisions.key, Some(revisions.stable))
                    .is_none(),
            stable_unpinned: self.stable_pin_change(revisions.key, None).is_none(),
            routes_restored: self.restore_routes_change().is_none(),
            canary_service_gone: self.remove_canary_service_change().is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn observed() -> Observed {
        Observed {
            provider: Ok(Provider::Nginx {
                ingress: "echoserver".into(),
            }),
            stable_service_name: "echoserver".into(),
            stable_service: Some(json!({"metadata": {"name": "echoserver", "namespace": "d"},
                "spec": {"ports": [{"port": 80}], "selector": {"app": "echoserver"}}})),
            canary_service: None,
            route_object: Some(
                json!({"metadata": {"name": "echoserver", "namespace": "d"}, "spec": {"rules": [
                {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "echoserver", "port": {"number": 80}}}}]}}]}}),
            ),
            canary_ingress: None,
            grace_seconds: 3,
            canary_service_disabled: false,
        }
    }

    const REVISIONS: Revisions<'static> = Revisions {
        key: "pod-template-hash",
        stable: "v1",
        canary: "v2",
    };

    fn apply(o: &mut Observed, changes: Vec<(Target, Change)>) {
        for (target, change) in changes {
            match (target, change) {
                (Target::Service, Change::Create(svc)) => o.canary_service = Some(svc),
                (Target::Service, Change::Patch { name, patch }) => {
                    let svc = if name == "echoserver" {
                        o.stable_service.as_mut()
                    } else {
                        o.canary_service.as_mut()
                    };
                    json_merge(svc.unwrap(), &patch);
                }
                (Target::Service, Change::Delete { .. }) => o.canary_service = None,
                (Target::Ingress, Change::Create(ing)) => o.canary_ingress = Some(ing),
                (Target::Ingress, Change::Patch { patch, .. }) => {
                    json_merge(o.canary_ingress.as_mut().unwrap(), &patch)
                }
                (Target::Ingress, Change::Delete { .. }) => o.canary_ingress = None,
                (Target::HttpRoute, _) => unreachable!(),
            }
        }
    }

    fn json_merge(target: &mut Value, patch: &Value) {
        match (target.as_object_mut(), patch.as_object()) {
            (Some(t), Some(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        json_merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
            _ => *target = patch.clone(),
        }
    }

    #[test]
    fn a_step_sets_services_first_then_the_route_and_the_end_undoes_all_in_order() {
        // Reference §8.6: Services (canary created, stable pinned) in one round, the canary
        // Ingress in the next, converged in the third.
        let mut o = observed();
        let step = StepTraffic {
            weight: Some(20),
            ..Default::default()
        };
        let owner = json!({});
        let first = o.step_changes(&step, REVISIONS, &owner);
        assert_eq!(first.len(), 2);
        assert!(first.iter().all(|(t, _)| *t == Target::Service));
        apply(&mut o, first);
        assert_eq!(
            o.stable_service.as_ref().unwrap()["spec"]["selector"]["pod-template-hash"],
            "v1"
        );
        assert_eq!(
            o.canary_service.as_ref().unwrap()["spec"]["selector"]["pod-template-hash"],
            "v2"
        );
        let second = o.step_changes(&step, REVISIONS, &owner);
        assert!(matches!(
            second.as_slice(),
            [(Target::Ingress, Change::Create(_))]
        ));
        apply(&mut o, second);
        let view = o.view(1, Some(&step), REVISIONS, &owner);
        assert!(
            view.step_converged
                && view.stable_pinned
                && !view.stable_unpinned
                && !view.routes_restored
        );

        let unpin = o
            .stable_pin_change("pod-template-hash", None)
            .into_iter()
            .collect();
        apply(&mut o, unpin);
        let restore = o.restore_routes_change().into_iter().collect();
        apply(&mut o, restore);
        let remove = o.remove_canary_service_change().into_iter().collect();
        apply(&mut o, remove);
        let view = o.view(1, None, REVISIONS, &owner);
        assert!(view.stable_unpinned && view.routes_restored && view.canary_service_gone);
        assert_eq!(
            o.stable_service.as_ref().unwrap()["spec"]["selector"],
            json!({"app": "echoserver"})
        );
    }

    #[test]
    fn a_disabled_canary_service_is_a_problem_not_a_silent_no_op() {
        let mut o = observed();
        o.canary_service_disabled = true;
        assert!(
            o.problem()
                .unwrap()
                .starts_with("disableGenerateCanaryService needs a custom network provider")
        );
    }

    #[test]
    fn missing_objects_are_named_in_the_problem() {
        let mut o = observed();
        o.route_object = None;
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
