//! `rollouts.kruise.io/v1alpha1`: the legacy Rollout version the seed's YAML uses, still
//! served, and TrafficRouting, which has no other version.

mod spec;
pub(crate) mod status;
mod traffic_routing;

pub use spec::*;
pub use status::*;
pub use traffic_routing::*;
