//! `make chaos`: a soak that releases every workload kind while it kills the controller, the
//! webhook and kube-apiserver, races the controller's writes and rolls out pods that never
//! become Ready, and checks the promises of [`invariants`] all along.

mod actions;
pub mod apps;
mod faults;
pub mod invariants;
pub mod ledger;
mod observe;
pub mod rng;
mod soak;

pub use soak::{Options, run};
