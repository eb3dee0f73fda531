//! How each workload kind is frozen when a release starts: pure functions
//! from (object before, object after, governing Rollout) to the object to admit, or `None`
//! when the update must be admitted untouched.

mod deployment;
mod edit;
mod partitioned;

pub use deployment::freeze_deployment;
pub use edit::{FREEZE_PARTITION, has_traffic_routing, in_progressing_value};
pub use partitioned::{
    freeze_advanced_daemonset, freeze_cloneset, freeze_native_daemonset, freeze_statefulset,
};
