//! The pure step machine of a Rollout: from an observed snapshot and the current time to the
//! next status and the effects to apply. No Kubernetes client, no async runtime, no clock.
//!
//! Holds the strategy predicates of reference §1.13, Rollout validation (§1.12), the batch
//! arithmetic of Appendix A and the step machine (§4).

pub mod batch;
pub mod machine;
pub mod validation;

use rollouts_api::v1beta1::{CanaryStep, Rollout};

/// How a Rollout releases its workload (reference §1.13 `RollingStyle`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RollingStyle {
    /// In-place batches on the workload itself.
    Partition,
    /// An extra canary Deployment next to the untouched stable one.
    Canary,
    /// Blue-green.
    BlueGreen,
}

/// The rolling style the spec asks for.
pub fn rolling_style(rollout: &Rollout) -> RollingStyle {
    let strategy = &rollout.spec.strategy;
    if strategy.blue_green.is_some() {
        RollingStyle::BlueGreen
    } else if strategy
        .canary
        .as_ref()
        .and_then(|c| c.enable_extra_workload_for_canary)
        .unwrap_or(false)
    {
        RollingStyle::Canary
    } else {
        RollingStyle::Partition
    }
}

/// Whether pods are replaced in place: everything except blue-green and a canary-style
/// `apps/v1` Deployment (reference §1.13 `IsRealPartition`).
pub fn is_real_partition(rollout: &Rollout) -> bool {
    let workload = &rollout.spec.workload_ref;
    match rolling_style(rollout) {
        RollingStyle::BlueGreen => false,
        RollingStyle::Canary => {
            !(workload.api_version == "apps/v1" && workload.kind == "Deployment")
        }
        RollingStyle::Partition => true,
    }
}

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

/// The plan hash (`rollouts.kruise.io/hash`): changes when steps or traffic change, not when
/// only pauses or the failure threshold do (reference §2.1).
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

/// A step "has traffic" when it sets a weight or a match (reference §1.13).
pub fn step_has_traffic(step: &CanaryStep) -> bool {
    step.traffic.is_some() || step.matches.as_ref().is_some_and(|m| !m.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollouts_api::common::ObjectRef;
    use rollouts_api::v1beta1::{BlueGreenStrategy, CanaryStrategy, RolloutSpec, RolloutStrategy};

    fn rollout(kind: &str, api_version: &str, extra: Option<bool>, blue_green: bool) -> Rollout {
        let strategy = if blue_green {
            RolloutStrategy {
                blue_green: Some(BlueGreenStrategy::default()),
                ..Default::default()
            }
        } else {
            RolloutStrategy {
                canary: Some(CanaryStrategy {
                    enable_extra_workload_for_canary: extra,
                    ..Default::default()
                }),
                ..Default::default()
            }
        };
        let workload_ref = ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            name: "w".into(),
        };
        Rollout::new(
            "r",
            RolloutSpec {
                workload_ref,
                strategy,
                disabled: None,
            },
        )
    }

    #[test]
    fn real_partition_follows_kind_and_style() {
        let cases = [
            (
                "Deployment",
                "apps/v1",
                Some(true),
                false,
                RollingStyle::Canary,
                false,
            ),
            (
                "Deployment",
                "apps/v1",
                Some(false),
                false,
                RollingStyle::Partition,
                true,
            ),
            (
                "Deployment",
                "apps/v1",
                None,
                false,
                RollingStyle::Partition,
                true,
            ),
            (
                "StatefulSet",
                "apps/v1",
                Some(true),
                false,
                RollingStyle::Canary,
                true,
            ),
            (
                "CloneSet",
                "apps.kruise.io/v1alpha1",
                Some(true),
                false,
                RollingStyle::Canary,
                true,
            ),
            (
                "Deployment",
                "apps/v1",
                None,
                true,
                RollingStyle::BlueGreen,
                false,
            ),
        ];
        for (kind, api_version, extra, blue_green, style, partition) in cases {
            let r = rollout(kind, api_version, extra, blue_green);
            assert_eq!(
                rolling_style(&r),
                style,
                "{kind} extra={extra:?} bg={blue_green}"
            );
            assert_eq!(
                is_real_partition(&r),
                partition,
                "{kind} extra={extra:?} bg={blue_green}"
            );
        }
    }

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
