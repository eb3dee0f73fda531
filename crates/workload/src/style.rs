//! The rolling style a Rollout asks for: blue-green, canary with an extra workload, or
//! partition in place, and whether pods are replaced in place.

use rollouts_api::v1beta1::Rollout;

/// How a Rollout releases its workload (upstream calls it `RollingStyle`).
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
/// `apps/v1` Deployment (upstream calls this `IsRealPartition`).
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
}
