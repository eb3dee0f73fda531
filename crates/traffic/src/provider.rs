//! The data plane a traffic routing reference drives (Nginx or MSE Ingress, Gateway API
//! HTTPRoute), and what each must do for a step and at the end of a release.

use crate::common::{Change, StepTraffic, canary_name};
use crate::gateway;
use crate::ingress;
use rollouts_api::common::TrafficRoutingRef;
use serde_json::Value;

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
