//! The data planes one traffic routing reference drives (Nginx or MSE Ingress, an Ingress of
//! another class through its Lua script, Gateway API HTTPRoute, any object through its Lua
//! script), and what each must do for a step and at the end of a release.

use crate::common::{Change, StepTraffic, canary_name};
use crate::{custom, gateway, ingress};
use rollouts_api::common::TrafficRoutingRef;
use rollouts_script::{Script, ingress_class_key, object_key, script_for_object};
use serde_json::Value;
use std::collections::BTreeMap;

/// The data plane a traffic routing reference drives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Nginx Ingress canary annotations on `<ingress>-canary`.
    Nginx {
        /// The user's Ingress.
        ingress: String,
    },
    /// MSE Ingress: the Nginx keys plus query and header-modifier annotations.
    Mse {
        /// The user's Ingress.
        ingress: String,
    },
    /// An Ingress of another class (Higress, Aliyun ALB, or one the ConfigMap has a script
    /// for): `<ingress>-canary` with the annotations its Lua script writes.
    ScriptedIngress {
        /// The user's Ingress.
        ingress: String,
        /// The script, or why there is none (the end of a release needs none).
        script: Result<Script, String>,
    },
    /// Gateway API HTTPRoute backend weights and extra match rules.
    Gateway {
        /// The user's HTTPRoute.
        route: String,
    },
    /// Any object (`customNetworkRefs`) whose spec, labels and annotations a Lua script
    /// rewrites from the copy saved before the release.
    Custom {
        /// Its apiVersion.
        api_version: String,
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
        /// The script, or why there is none (putting the saved copy back needs none).
        script: Result<Script, String>,
    },
}

impl Provider {
    /// The providers `reference` names, in upstream's order (custom objects, the Ingress, the
    /// HTTPRoute), with their scripts from the built-in ones and `config` (the data of the
    /// `kruise-rollout-configuration` ConfigMap); an error when it names none. A missing script
    /// is kept as the provider's error: steps cannot route without it, but the end of a
    /// release can (a custom object's saved copy is put back, a canary Ingress deleted).
    pub fn all_of(
        reference: &TrafficRoutingRef,
        config: &BTreeMap<String, String>,
    ) -> Result<Vec<Self>, String> {
        let mut providers = Vec::new();
        for object in reference.custom_network_refs.iter().flatten() {
            let script = script_for_object(config, &object.api_version, &object.kind)
                .ok_or_else(|| {
                    format!(
                        "no Lua script routes {} {}: add the key {} to the ConfigMap kruise-rollout-configuration",
                        object.kind,
                        object.name,
                        object_key(&object.api_version, &object.kind)
                    )
                });
            providers.push(Self::Custom {
                api_version: object.api_version.clone(),
                kind: object.kind.clone(),
                name: object.name.clone(),
                script,
            });
        }
        if let Some(found) = &reference.ingress {
            let class = found
                .class_type
                .as_deref()
                .filter(|c| !c.is_empty())
                .unwrap_or("nginx")
                .to_ascii_lowercase();
            let ingress = found.name.clone();
            let scripted = rollouts_script::script_for_ingress_class(config, &class);
            providers.push(match (class.as_str(), scripted) {
                // A script in the ConfigMap replaces even the built-in classes, as upstream.
                (_, Some(script)) if config.contains_key(&ingress_class_key(&class)) => {
                    Self::ScriptedIngress {
                        ingress,
                        script: Ok(script),
                    }
                }
                ("nginx", _) => Self::Nginx { ingress },
                ("mse", _) => Self::Mse { ingress },
                (_, Some(script)) => Self::ScriptedIngress {
                    ingress,
                    script: Ok(script),
                },
                (other, None) => Self::ScriptedIngress {
                    ingress,
                    script: Err(format!(
                        "ingress classType '{other}' has no Lua script: add the key {} to the ConfigMap kruise-rollout-configuration (built in: nginx, mse, higress, aliyun-alb)",
                        ingress_class_key(other)
                    )),
                },
            });
        }
        if let Some(route) = reference
            .gateway
            .as_ref()
            .and_then(|g| g.http_route_name.clone())
        {
            providers.push(Self::Gateway { route });
        }
        if providers.is_empty() {
            return Err(
                "trafficRoutings needs an ingress, a gateway (httpRouteName) or customNetworkRefs"
                    .into(),
            );
        }
        Ok(providers)
    }

    /// The kind and name of the user's object this provider changes or copies.
    pub fn object(&self) -> (&str, &str) {
        match self {
            Self::Nginx { ingress }
            | Self::Mse { ingress }
            | Self::ScriptedIngress { ingress, .. } => ("Ingress", ingress),
            Self::Gateway { route } => ("HTTPRoute", route),
            Self::Custom { kind, name, .. } => (kind, name),
        }
    }

    /// Why this provider cannot route a step, if it cannot (its script is missing).
    pub fn problem(&self) -> Option<&str> {
        match self {
            Self::ScriptedIngress { script, .. } | Self::Custom { script, .. } => {
                script.as_ref().err().map(String::as_str)
            }
            _ => None,
        }
    }

    /// Whether this provider routes through a canary copy of an Ingress.
    pub fn uses_canary_ingress(&self) -> bool {
        matches!(
            self,
            Self::Nginx { .. } | Self::Mse { .. } | Self::ScriptedIngress { .. }
        )
    }

    /// The change `object` (or its canary Ingress `canary`) needs for `step` (`None`:
    /// converged), or why it cannot be computed (a failing script).
    pub fn ensure(
        &self,
        object: &Value,
        canary: Option<&Value>,
        services: (&str, &str),
        step: &StepTraffic,
        owner: &Value,
    ) -> Result<Option<Change>, String> {
        let (stable_service, canary_service) = services;
        match self {
            Self::Nginx { .. } => Ok(ingress::ensure(
                object, canary, services, step, false, owner,
            )),
            Self::Mse { .. } => Ok(ingress::ensure(object, canary, services, step, true, owner)),
            Self::ScriptedIngress { script, .. } => {
                let script = script.as_ref().map_err(Clone::clone)?;
                let annotate = |existing: &serde_json::Map<String, Value>, step: &StepTraffic| {
                    ingress::scripted_annotations(script, existing, step, canary_service)
                };
                ingress::ensure_with(object, canary, services, step, owner, &annotate)
            }
            Self::Gateway { route } => {
                Ok(gateway::ensure(object, route, stable_service, Some(step)))
            }
            Self::Custom { name, script, .. } => {
                let script = script.as_ref().map_err(Clone::clone)?;
                let patch = custom::ensure(object, script, step, stable_service, canary_service)?;
                Ok(patch.map(|patch| Change::Patch {
                    name: name.clone(),
                    patch,
                }))
            }
        }
    }

    /// The change that sends all traffic to the stable Service again (`None`: done).
    pub fn finalise(
        &self,
        object: Option<&Value>,
        canary: Option<&Value>,
        stable_service: &str,
    ) -> Option<Change> {
        match self {
            Self::Nginx { ingress }
            | Self::Mse { ingress }
            | Self::ScriptedIngress { ingress, .. } => canary
                .filter(|c| c.pointer("/metadata/deletionTimestamp").is_none())
                .map(|_| Change::Delete {
                    name: canary_name(ingress),
                }),
            Self::Gateway { route } => gateway::ensure(object?, route, stable_service, None),
            Self::Custom { name, .. } => custom::finalise(object?).map(|patch| Change::Patch {
                name: name.clone(),
                patch,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(yaml: &str, config: &[(&str, &str)]) -> Result<Vec<Provider>, String> {
        let config = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Provider::all_of(&serde_yaml::from_str(yaml).unwrap(), &config)
    }

    fn names(providers: Result<Vec<Provider>, String>) -> Vec<String> {
        providers
            .unwrap()
            .iter()
            .map(|p| match p {
                Provider::Nginx { .. } => "nginx".to_string(),
                Provider::Mse { .. } => "mse".to_string(),
                Provider::Gateway { .. } => "gateway".to_string(),
                Provider::ScriptedIngress { script, .. } | Provider::Custom { script, .. } => {
                    script
                        .as_ref()
                        .map_or_else(|e| e.clone(), |s| s.name.clone())
                }
            })
            .collect()
    }

    /// (reference, ConfigMap entries, providers expected)
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a [&'a str]);

    #[test]
    fn providers_come_from_the_reference_with_their_scripts_custom_objects_first() {
        let cases: [Case; 7] = [
            ("service: s\ningress: {name: i}", &[], &["nginx"]),
            (
                "service: s\ningress: {name: i, classType: mse}",
                &[],
                &["mse"],
            ),
            ("service: s\ngateway: {httpRouteName: r}", &[], &["gateway"]),
            (
                "service: s\ningress: {name: i, classType: aliyun-alb}",
                &[],
                &["built-in ingress aliyun-alb"],
            ),
            (
                "service: s\ningress: {name: i}",
                &[(
                    "lua.traffic.routing.ingress.nginx",
                    "return obj.annotations",
                )],
                &["lua.traffic.routing.ingress.nginx"],
            ),
            (
                "service: s\ningress: {name: i}\ncustomNetworkRefs: [{apiVersion: networking.istio.io/v1alpha3, kind: VirtualService, name: vs}]",
                &[],
                &["built-in VirtualService.networking.istio.io", "nginx"],
            ),
            (
                "service: s\ncustomNetworkRefs: [{apiVersion: apisix.apache.org/v2, kind: ApisixRoute, name: r}]",
                &[(
                    "lua.traffic.routing.ApisixRoute.apisix.apache.org",
                    "return obj.data",
                )],
                &["lua.traffic.routing.ApisixRoute.apisix.apache.org"],
            ),
        ];
        for (yaml, config, expected) in cases {
            assert_eq!(names(of(yaml, config)), expected, "{yaml}");
        }
    }

    #[test]
    fn a_provider_without_a_script_is_named_with_the_key_to_add_and_can_still_finish() {
        let cases = [
            (
                "service: s\ningress: {name: i, classType: traefik}",
                "lua.traffic.routing.ingress.traefik",
            ),
            (
                "service: s\ncustomNetworkRefs: [{apiVersion: kuma.io/v1alpha1, kind: TrafficRoute, name: r}]",
                "lua.traffic.routing.TrafficRoute.kuma.io",
            ),
        ];
        for (yaml, key) in cases {
            let providers = of(yaml, &[]).unwrap();
            let problem = providers[0].problem().unwrap();
            assert!(problem.contains(key), "{problem}");
            let step = StepTraffic {
                weight: Some(5),
                ..Default::default()
            };
            let object = serde_json::json!({"metadata": {"name": "r"}, "spec": {}});
            let routed = providers[0].ensure(&object, None, ("s", "s-canary"), &step, &Value::Null);
            assert_eq!(routed.unwrap_err(), problem);
        }
        // Finishing needs no script: the canary Ingress goes.
        let ingress = of(cases[0].0, &[]).unwrap().remove(0);
        let canary = serde_json::json!({"metadata": {"name": "i-canary"}});
        assert_eq!(
            ingress.finalise(None, Some(&canary), "s"),
            Some(Change::Delete {
                name: "i-canary".into()
            })
        );
        assert!(of("service: s", &[]).is_err());
    }
}
