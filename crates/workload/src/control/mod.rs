//! How the controller moves a workload through a release: pure builders of the JSON merge
//! patches (and the canary Deployment) for each batch and for the end of a release.

mod blue_green;
mod canary;
mod cloneset;
mod daemonset;
mod partition_deployment;
mod statefulset;

pub use blue_green::{
    cloneset_blue_green_patch, cloneset_blue_green_release_patch, deployment_blue_green_patch,
};
pub use canary::{canary_deployment, canary_scale_patch, stable_release_patch};
pub use cloneset::{cloneset_batch_patch, cloneset_freeze_patch, cloneset_release_patch};
pub use daemonset::{advanced_daemonset_batch_patch, advanced_daemonset_release_patch};
pub use partition_deployment::{
    MIN_READY_SECONDS_WHILE_DRIVEN, PROGRESS_DEADLINE_WHILE_DRIVEN, partition_batch_patch,
    partition_release_patch, resolve_int_or_percent,
};
pub use statefulset::{
    statefulset_batch_patch, statefulset_freeze_patch, statefulset_release_patch,
};

pub use rollouts_change::{is_noop, merge_diff};
