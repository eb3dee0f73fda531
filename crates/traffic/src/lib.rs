//! Traffic routing of a release: the canary Service, the stable Service
//! selector, and one provider per data plane (Nginx and MSE Ingress, Gateway API HTTPRoute).
//! Everything here is pure: from the objects as they are and the step, the change to make.
//! The controller applies the changes and reports "converged" when none is left.

pub mod gateway;
pub mod ingress;
pub mod objects;
pub mod service;

use rollouts_api::common::TrafficRoutingRef;
use rollouts_api::keys::CANARY_SUFFIX;
use rollouts_api::v1beta1::{CanaryStep, HttpRouteMatch};
use serde_json::Value;

/// Annotation kubectl keeps its last applied manifest in: never copied to canary objects,
/// where it would describe the user's object and mislead a later `kubectl apply`.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The annotations of `object` that a canary copy of it carries.
pub fn copied_annotations(object: &Value) -> serde_json::Map<String, Value> {
    let mut annotations = object
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.remove(LAST_APPLIED);
    annotations
}

/// Name of the canary Service (or canary Ingress) made for `stable`.
pub fn canary_name(stable: &str) -> String {
    format!("{stable}{CANARY_SUFFIX}")
}

/// What a step asks of the data plane.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepTraffic {
    /// Percentage of requests for the new version, if the step sets one.
    pub weight: Option<i32>,
    /// A/B conditions that send matching requests to the new version.
    pub matches: Vec<HttpRouteMatch>,
    /// Header changes for canary traffic (MSE only).
    pub header_modifier: Option<rollouts_api::common::HttpHeaderFilter>,
}

impl StepTraffic {
    /// The traffic part of a step; `None` when the step routes nothing.
    pub fn of(step: &CanaryStep) -> Option<Self> {
        let weight = step
            .traffic
            .as_deref()
            .and_then(|t| t.trim().trim_end_matches('%').trim().parse().ok());
        let matches = step.matches.clone().unwrap_or_default();
        (weight.is_some() || !matches.is_empty()).then(|| Self {
            weight,
            matches,
            header_modifier: step.request_header_modifier.clone(),
        })
    }
}

/// One change to bring an object to what a step (or the end of a release) needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Create this object.
    Create(Value),
    /// Apply this JSON merge patch to the named object.
    Patch {
        /// Object name.
        name: String,
        /// JSON merge patch.
        patch: Value,
    },
    /// Delete the named object.
    Delete {
        /// Object name.
        name: String,
    },
}

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
    /// Gateway API HTTPRoute backend weights and extra match rules.
    Gateway {
        /// The user's HTTPRoute.
        route: String,
    },
}

/// A data plane that can route a step's traffic to the canary Service and back.
pub trait TrafficProvider {
    /// The change its object needs for `step` (`None`: converged). `object` is the user's
    /// Ingress or HTTPRoute; `canary` the canary Ingress, if it exists.
    fn ensure(
        &self,
        object: &Value,
        canary: Option<&Value>,
        stable_service: &str,
        step: &StepTraffic,
        owner: &Value,
    ) -> Option<Change>;

    /// The change that sends all traffic to the stable Service again (`None`: done).
    fn finalise(
        &self,
        object: Option<&Value>,
        canary: Option<&Value>,
        stable_service: &str,
    ) -> Option<Change>;

    /// Whether the object already routes `step` as asked.
    fn converged(
        &self,
        object: &Value,
        canary: Option<&Value>,
        stable_service: &str,
        step: &StepTraffic,
    ) -> bool {
        self.ensure(object, canary, stable_service, step, &Value::Null)
            .is_none()
    }
}

impl Provider {
    /// The provider a reference names, or why it is not supported.
    pub fn of(reference: &TrafficRoutingRef) -> Result<Self, String> {
        if let Some(ingress) = &reference.ingress {
            let class = ingress
                .class_type
                .as_deref()
                .unwrap_or("")
                .to_ascii_lowercase();
            return match class.as_str() {
                "" | "nginx" => Ok(Self::Nginx {
                    ingress: ingress.name.clone(),
                }),
                "mse" => Ok(Self::Mse {
                    ingress: ingress.name.clone(),
                }),
                other => Err(format!(
                    "ingress classType '{other}' is not supported (nginx, mse)"
                )),
            };
        }
        if let Some(route) = reference
            .gateway
            .as_ref()
            .and_then(|g| g.http_route_name.clone())
        {
            return Ok(Self::Gateway { route });
        }
        Err("trafficRoutings supports ingress (nginx, mse) and gateway (httpRouteName)".into())
    }
}

impl TrafficProvider for Provider {
    fn ensure(
        &self,
        object: &Value,
        canary: Option<&Value>,
        stable_service: &str,
        step: &StepTraffic,
        owner: &Value,
    ) -> Option<Change> {
        match self {
            Self::Nginx { .. } => {
                ingress::ensure(object, canary, stable_service, step, false, owner)
            }
            Self::Mse { .. } => ingress::ensure(object, canary, stable_service, step, true, owner),
            Self::Gateway { route } => gateway::ensure(object, route, stable_service, Some(step)),
        }
    }

    fn finalise(
        &self,
        object: Option<&Value>,
        canary: Option<&Value>,
        stable_service: &str,
    ) -> Option<Change> {
        match self {
            Self::Nginx { ingress } | Self::Mse { ingress } => canary
                .filter(|c| c.pointer("/metadata/deletionTimestamp").is_none())
                .map(|_| Change::Delete {
                    name: canary_name(ingress),
                }),
            Self::Gateway { route } => gateway::ensure(object?, route, stable_service, None),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canary_objects_are_named_after_the_stable_ones() {
        assert_eq!(canary_name("echoserver"), "echoserver-canary");
    }

    #[test]
    fn step_traffic_reads_weights_with_or_without_percent_and_matches() {
        let step = |yaml: &str| StepTraffic::of(&serde_yaml::from_str::<CanaryStep>(yaml).unwrap());
        assert_eq!(step("traffic: 20%\nreplicas: 1").unwrap().weight, Some(20));
        assert_eq!(step("traffic: \"50\"").unwrap().weight, Some(50));
        assert_eq!(step("replicas: 1"), None);
        let ab = step("matches: [{headers: [{name: User-Agent, value: Android}]}]").unwrap();
        assert_eq!((ab.weight, ab.matches.len()), (None, 1));
    }

    #[test]
    fn providers_are_chosen_by_class_type_or_gateway() {
        let of = |yaml: &str| Provider::of(&serde_yaml::from_str(yaml).unwrap());
        assert_eq!(
            of("service: s\ningress: {name: i}"),
            Ok(Provider::Nginx {
                ingress: "i".into()
            })
        );
        assert_eq!(
            of("service: s\ningress: {name: i, classType: mse}"),
            Ok(Provider::Mse {
                ingress: "i".into()
            })
        );
        assert_eq!(
            of("service: s\ngateway: {httpRouteName: r}"),
            Ok(Provider::Gateway { route: "r".into() })
        );
        assert!(
            of("service: s\ningress: {name: i, classType: aliyun-alb}")
                .unwrap_err()
                .contains("aliyun-alb")
        );
        assert!(of("service: s").is_err());
    }
}
