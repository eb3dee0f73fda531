//! Finalisation (reference §4.8): the end of a release, in the order its reason needs, each
//! traffic change followed by the grace period.

use super::traffic::{ROLLBACK, SUCCESS, run_stages};
use super::{Decision, Snapshot};
use rollouts_api::common::FinalisingStep;

/// Ends the release: `promote` for success, otherwise rollback, disable or delete (which
/// differ only in order: a rollback takes traffic off the new version first). `true` once done.
pub(super) fn release(s: &Snapshot, d: &mut Decision, promote: bool, rollback: bool) -> bool {
    let stages = if rollback { &ROLLBACK } else { &SUCCESS };
    let done = run_stages(s, d, stages, promote);
    if done && let Some(canary) = d.status.canary_status.as_mut() {
        canary.common.finalising_step = Some(FinalisingStep::End);
    }
    done
}
