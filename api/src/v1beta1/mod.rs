//! `rollouts.kruise.io/v1beta1`: the storage version and the hub of conversion.

mod analysis;
mod spec;
pub(crate) mod status;

pub use analysis::*;
pub use spec::*;
pub use status::*;
