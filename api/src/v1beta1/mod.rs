//! `rollouts.kruise.io/v1beta1`: the storage version and the hub of conversion.

mod spec;
mod status;

pub use spec::*;
pub use status::*;
