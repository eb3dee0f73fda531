//! The pure step machine of a Rollout: from an observed snapshot and the current time to the
//! next status and the effects to apply. No Kubernetes client, no async runtime, no clock.
//!
//! Holds the plan hash and step predicates, Rollout validation, the step machine and the
//! decisions for TrafficRouting objects; the batch
//! arithmetic and the rolling-style predicates live in `rollouts_workload` and are re-exported.

pub mod analysis;
pub mod machine;
pub mod traffic_routing;
pub mod validation;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::common::TrafficRoutingRef;
use rollouts_api::v1beta1::{CanaryStep, Rollout};
pub use rollouts_workload::batch;
pub use rollouts_workload::style::{RollingStyle, is_real_partition, rolling_style};

/// The steps of whichever strategy is set.
pub fn steps(rollout: &Rollout) -> &[CanaryStep] {
    let strategy = &rollout.spec.strategy;
    let steps = match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => blue_green.steps.as_deref(),
        (None, Some(canary)) => canary.steps.as_deref(),
        (None, None) => None,
    };
    steps.unwrap_or_default()
}

/// Whether the Rollout releases blue-green (`spec.strategy.blueGreen`).
pub fn is_blue_green(rollout: &Rollout) -> bool {
    rollout.spec.strategy.blue_green.is_some()
}

/// The traffic providers of whichever strategy is set.
pub fn traffic_routings(rollout: &Rollout) -> &[TrafficRoutingRef] {
    let strategy = &rollout.spec.strategy;
    let routings = match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => blue_green.traffic_routings.as_deref(),
        (None, Some(canary)) => canary.traffic_routings.as_deref(),
        (None, None) => None,
    };
    routings.unwrap_or_default()
}

/// The failure threshold of whichever strategy is set.
pub fn failure_threshold(rollout: &Rollout) -> Option<&IntOrString> {
    let strategy = &rollout.spec.strategy;
    match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => blue_green.failure_threshold.as_ref(),
        (None, Some(canary)) => canary.failure_threshold.as_ref(),
        (None, None) => None,
    }
}

/// The plan hash (`rollouts.kruise.io/hash`): changes when steps or traffic change, not when
/// only pauses or the failure threshold do.
pub fn plan_hash(rollout: &Rollout) -> String {
    let strategy = &rollout.spec.strategy;
    let mut plan = match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => serde_json::to_value(blue_green),
        (None, Some(canary)) => serde_json::to_value(canary),
        (None, None) => Ok(serde_json::Value::Null),
    }
    .unwrap_or_default();
    if let Some(object) = plan.as_object_mut() {
        object.remove("failureThreshold");
    }
    for step in plan
        .get_mut("steps")
        .and_then(|s| s.as_array_mut())
        .into_iter()
        .flatten()
    {
        if let Some(step) = step.as_object_mut() {
            step.remove("pause");
        }
    }
    rollouts_workload::hash::content_hash(&plan)
}

/// The `replicas` of each step, as written in the plan-replicas annotation.
pub fn step_replicas_list(rollout: &Rollout) -> Vec<IntOrString> {
    steps(rollout)
        .iter()
        .map(|s| {
            s.replicas
                .clone()
                .unwrap_or(IntOrString::String("100%".into()))
        })
        .collect()
}

/// The step replicas of the plan the Rollout's plan hash annotation was recorded for.
pub fn recorded_step_replicas(rollout: &Rollout) -> Option<Vec<IntOrString>> {
    let text = rollout
        .metadata
        .annotations
        .as_ref()?
        .get(rollouts_api::keys::PLAN_REPLICAS)?;
    serde_json::from_str(text).ok()
}

/// The step after `index` (1-based) of `steps`, or -1 after the last.
pub fn next_step_index(index: i32, steps: usize) -> i32 {
    if (index as usize) < steps {
        index + 1
    } else {
        -1
    }
}

/// A step "has traffic" when it sets a weight or a match.
pub fn step_has_traffic(step: &CanaryStep) -> bool {
    step.traffic.is_some() || step.matches.as_ref().is_some_and(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_has_traffic_with_weight_or_matches_only() {
        let plain = CanaryStep::default();
        let weighted = CanaryStep {
            traffic: Some("20%".into()),
            ..Default::default()
        };
        let empty_matches = CanaryStep {
            matches: Some(vec![]),
            ..Default::default()
        };
        let matched = CanaryStep {
            matches: Some(vec![Default::default()]),
            ..Default::default()
        };
        assert!(!step_has_traffic(&plain));
        assert!(step_has_traffic(&weighted));
        assert!(!step_has_traffic(&empty_matches));
        assert!(step_has_traffic(&matched));
    }
}
