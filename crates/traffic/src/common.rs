//! What every provider shares: what a step asks of the data plane, one change to one object,
//! and how canary copies are named and annotated.

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
}
