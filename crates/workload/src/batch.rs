//! Batch arithmetic of a release (upstream's formulas): how many pods a step
//! updates, the partition each workload kind needs for it, and when a batch counts as ready.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// `ceil(p% of total)` for a percentage, the number itself otherwise; `None` for text that is
/// neither (e.g. `"50"`).
pub fn scaled(value: &IntOrString, total: i32) -> Option<i32> {
    match value {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(s) => {
            let percent: i64 = s.strip_suffix('%')?.trim().parse().ok()?;
            let total = i64::from(total.max(0));
            i32::try_from((percent * total + 99).div_euclid(100)).ok()
        }
    }
}

/// Pods a step wants on the new version: the step's replicas scaled to the workload, within 0..=R.
pub fn planned_replicas(step: &IntOrString, workload_replicas: i32) -> i32 {
    scaled(step, workload_replicas)
        .unwrap_or(0)
        .clamp(0, workload_replicas.max(0))
}

/// Pods a step wants on the target revision when `no_need_update` of the workload's pods were
/// already on it as a rollback in batches began: those, plus the step's share of the others
/// (with none, the step scaled to the workload).
pub fn updated_after(step: &IntOrString, replicas: i32, no_need_update: i32) -> i32 {
    replicas.max(0) - stable_after(step, replicas, no_need_update)
}

/// Whether `current` has reached `desired`, both numbers or both percentages.
pub fn reached(current: &IntOrString, desired: &IntOrString) -> bool {
    match (current, desired) {
        (IntOrString::Int(c), IntOrString::Int(d)) => c >= d,
        (IntOrString::String(c), IntOrString::String(d)) => {
            let percent = |s: &str| {
                s.strip_suffix('%')
                    .and_then(|p| p.trim().parse::<i64>().ok())
            };
            matches!((percent(c), percent(d)), (Some(c), Some(d)) if c >= d)
        }
        _ => false,
    }
}

/// What decides whether a batch is ready.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchProgress {
    /// Pods that should be on the new version for this batch.
    pub desired: i32,
    /// Pods on the new version.
    pub updated: i32,
    /// Ready pods on the new version.
    pub updated_ready: i32,
    /// Pods allowed not to be ready, as a number or a percentage of `updated`; `None` tolerates none.
    pub failure_threshold: Option<IntOrString>,
    /// With a rollout-id, pods labelled with it, and how many the batch plans.
    pub labelled: Option<(i32, i32)>,
}

/// Ready when enough pods are updated, all but the tolerated ones are ready, at least one is
/// ready (when any is wanted), and with a rollout-id enough pods carry its label.
pub fn is_batch_ready(p: &BatchProgress) -> bool {
    let tolerated = p
        .failure_threshold
        .as_ref()
        .and_then(|f| scaled(f, p.updated))
        .unwrap_or(0)
        .max(0);
    let labelled_enough = p
        .labelled
        .is_none_or(|(labelled, planned)| labelled >= planned);
    p.updated >= p.desired
        && tolerated + p.updated_ready >= p.desired
        && (p.desired == 0 || p.updated_ready > 0)
        && labelled_enough
}

/// Pods that stay on the old version when `new` of the `replicas − no_need_update` pods that
/// still need it are updated (`no_need_update` pods are already on the target revision).
fn stable_after(step: &IntOrString, replicas: i32, no_need_update: i32) -> i32 {
    let needing = (replicas - no_need_update).max(0);
    let new = planned_replicas(step, needing);
    (needing - new).max(0)
}

/// CloneSet `updateStrategy.partition` for a step: a number of old pods for a number step, a
/// percentage of old pods for a percentage step, rounded so that at least one pod is updated
/// unless the step is 0%.
pub fn cloneset_partition(step: &IntOrString, replicas: i32, no_need_update: i32) -> IntOrString {
    let stable = stable_after(step, replicas, no_need_update);
    if let IntOrString::Int(_) = step {
        return IntOrString::Int(stable);
    }
    if stable >= replicas {
        return IntOrString::String("100%".into());
    }
    if stable <= 0 {
        return IntOrString::String("0%".into());
    }
    let percent = i64::from(stable) * 100 / i64::from(replicas);
    let is_full = matches!(step, IntOrString::String(s) if s.trim() == "100%");
    match percent {
        0 if !is_full => IntOrString::String("1%".into()),
        q => IntOrString::String(format!("{q}%")),
    }
}

/// StatefulSet / Advanced StatefulSet partition (old pods kept). Ordered updates replace the
/// highest ordinals, so pods already on the target count among those kept.
pub fn statefulset_partition(
    step: &IntOrString,
    replicas: i32,
    no_need_update: i32,
    ordered: bool,
) -> i32 {
    let stable = stable_after(step, replicas, no_need_update);
    if ordered {
        stable + no_need_update
    } else {
        stable
    }
}

/// Advanced DaemonSet partition (old pods kept).
pub fn advanced_daemonset_partition(step: &IntOrString, replicas: i32, no_need_update: i32) -> i32 {
    stable_after(step, replicas, no_need_update)
}

/// Pods a partition-style Deployment may have on the new version: a number as given (at most
/// R); a percentage rounded up, but below R unless it is 100%, so a step short of 100% never
/// replaces every pod.
pub fn deployment_updated_limit(step: &IntOrString, replicas: i32) -> i32 {
    let limit = planned_replicas(step, replicas);
    match step {
        IntOrString::String(s) if replicas > 1 && s.trim() != "100%" => limit.min(replicas - 1),
        _ => limit,
    }
}

/// Replicas of the canary Deployment for a step, scaled to the stable Deployment.
pub fn canary_deployment_replicas(
    step: &IntOrString,
    stable_replicas: i32,
    workload_replicas: i32,
) -> i32 {
    scaled(step, stable_replicas)
        .unwrap_or(0)
        .clamp(0, workload_replicas.max(0))
}
