//! `rollouts.kruise.io/v1beta1`: the storage version and the hub of conversion.

mod spec;
pub(crate) mod status;

pub use spec::*;
pub use status::*;
