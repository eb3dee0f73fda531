//! Finalisation (reference §4.8) without traffic routing: give the workload back and wait until
//! nothing of the release is left on it. Traffic tasks join here with the traffic issue.

use super::{Action, Decision, Snapshot};
use rollouts_api::common::FinalisingStep;

/// Asks for the workload to be released; `true` once it is (or when there is no workload).
pub(super) fn release(s: &Snapshot, d: &mut Decision, promote: bool) -> bool {
    let done = s.workload.is_none_or(|w| w.released);
    let step = if done {
        FinalisingStep::End
    } else {
        FinalisingStep::ResumeWorkload
    };
    if let Some(canary) = d.status.canary_status.as_mut() {
        canary.common.finalising_step = Some(step);
    }
    if !done {
        d.actions.push(Action::Release { promote });
        d.requeue_after = Some(super::ACTIVE_RECHECK);
    }
    done
}
