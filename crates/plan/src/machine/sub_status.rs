//! The release's sub-status: `canaryStatus` for canary and partition releases,
//! `blueGreenStatus` for blue-green ones. Both carry the same common part and the same three
//! numbers under other names, so the step machine works on the canary form and a blue-green
//! decision is mapped to it on the way in and back on the way out.

use rollouts_api::v1beta1::{BlueGreenStatus, CanaryStatus, CommonStatus, RolloutStatus};

/// A blue-green sub-status in the canary form the machine works on.
fn canary_form(status: BlueGreenStatus) -> CanaryStatus {
    CanaryStatus {
        common: status.common,
        canary_revision: status.updated_revision,
        canary_replicas: status.updated_replicas,
        canary_ready_replicas: status.updated_ready_replicas,
    }
}

/// The canary form back as a blue-green sub-status.
fn blue_green_form(status: CanaryStatus) -> BlueGreenStatus {
    BlueGreenStatus {
        common: status.common,
        updated_revision: status.canary_revision,
        updated_replicas: status.canary_replicas,
        updated_ready_replicas: status.canary_ready_replicas,
    }
}

/// Before deciding a blue-green release: its sub-status in the canary form.
pub(super) fn enter(status: &mut RolloutStatus, blue_green: bool) {
    if blue_green {
        status.canary_status = status.blue_green_status.take().map(canary_form);
    }
}

/// After deciding: the sub-status under the name the release's style uses (the other is never
/// set).
pub(super) fn leave(status: &mut RolloutStatus, blue_green: bool) {
    if blue_green {
        status.blue_green_status = status.canary_status.take().map(blue_green_form);
    } else {
        status.blue_green_status = None;
    }
}

/// The common part of whichever sub-status is set.
pub fn common(status: &RolloutStatus) -> Option<&CommonStatus> {
    status
        .canary_status
        .as_ref()
        .map(|c| &c.common)
        .or(status.blue_green_status.as_ref().map(|b| &b.common))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blue_green_status_goes_through_the_canary_form_unchanged() {
        let blue_green = BlueGreenStatus {
            common: CommonStatus {
                current_step_index: Some(2),
                stable_revision: Some("v1".into()),
                ..CommonStatus::default()
            },
            updated_revision: Some("v2".into()),
            updated_replicas: Some(5),
            updated_ready_replicas: Some(4),
        };
        let mut status = RolloutStatus {
            blue_green_status: Some(blue_green.clone()),
            ..RolloutStatus::default()
        };
        enter(&mut status, true);
        let canary = status.canary_status.as_ref().unwrap();
        assert_eq!(canary.canary_revision.as_deref(), Some("v2"));
        assert_eq!(
            (canary.canary_replicas, canary.canary_ready_replicas),
            (Some(5), Some(4))
        );
        assert!(status.blue_green_status.is_none());
        leave(&mut status, true);
        assert_eq!(status.blue_green_status, Some(blue_green));
        assert!(status.canary_status.is_none());
        assert_eq!(common(&status).and_then(|c| c.current_step_index), Some(2));
    }
}
