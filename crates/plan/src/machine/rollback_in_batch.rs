//! Rollback in batches (`rollouts.kruise.io/rollback-in-batch: "true"` on the Rollout): when the
//! stable version is applied again mid-release, a CloneSet or StatefulSet without traffic
//! routing is not given back at once. The plan restarts at step 1 for the stable revision; the
//! pods already on it are marked as needing no update, and each step's share applies to the
//! other pods only.

use super::conditions::messages;
use super::model::{Decision, Event, Snapshot};
use super::status::starting;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_workload::labels;
use rollouts_workload::release::Release;
use std::time::Duration;

/// Whether `rollout` asks for rollbacks in batches and they apply to `release`: its kind counts
/// its partition in pods, and no traffic is routed (traffic goes back to stable at once).
pub(super) fn asked(rollout: &Rollout, release: &dyn Release) -> bool {
    let annotated = rollout
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::ROLLBACK_IN_BATCH))
        .is_some_and(|v| v == "true");
    let routes_traffic = !crate::traffic_routings(rollout).is_empty();
    annotated
        && !routes_traffic
        && !crate::is_blue_green(rollout)
        && release.rolls_back_in_batches()
}

/// Whether a rollback in batches is under way: asked for, and the workload's template is the
/// stable one again while some pods still run the abandoned version.
pub(super) fn running(rollout: &Rollout, release: &dyn Release) -> bool {
    asked(rollout, release) && release.facts().in_rollback
}

/// Pods the current rollback in batches found on its revision (0 outside one); `None` while
/// they are not known (the pods could not be listed): no batch may be sized then.
pub(super) fn no_need_update(s: &Snapshot, release: &dyn Release) -> Option<i32> {
    if !running(s.rollout, release) {
        return Some(0);
    }
    Some(labels::no_need_update(
        s.pods?,
        &release.facts().pod_template_hash,
    ))
}

/// The stable version was applied again: mark the pods already on it, then restart the plan at
/// step 1 for it (the partition stays where the workload's freeze put it until step 1 runs).
pub(super) fn restart(s: &Snapshot, release: &dyn Release, d: &mut Decision) {
    let workload = release.facts();
    let Some(pods) = s.pods else {
        // Listing the pods failed; sizing the batches without them could roll back too many.
        d.requeue(Duration::from_secs(1));
        return;
    };
    let namespace = &release.object().namespace;
    d.effects.extend(labels::mark_no_need_update(
        namespace,
        pods,
        &workload.pod_template_hash,
    ));
    let stable = d
        .status
        .canary_status
        .as_ref()
        .and_then(|c| c.common.stable_revision.clone());
    let mut canary = starting(s, workload);
    if stable.is_some() {
        canary.common.stable_revision = stable;
    }
    canary.common.pod_template_hash = Some(workload.pod_template_hash.clone());
    d.status.canary_status = Some(canary);
    d.clear_approval(s.rollout);
    d.status.message = Some(messages::PROGRESSING.to_string());
    d.events.push(Event::normal(
        keys::EVENT_ROLLBACK,
        "workload has been rollback, then the stable revision is released again in batches from step 1",
    ));
    // The marks are on once the effects are applied; the next decision sizes step 1 with them.
    d.requeue(Duration::from_secs(1));
}
