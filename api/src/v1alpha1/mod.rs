//! `rollouts.kruise.io/v1alpha1`: the legacy version the seed's YAML uses, still served.

mod spec;
pub(crate) mod status;

pub use spec::*;
pub use status::*;
