//! Traffic routing of a release: the canary Service, the stable Service selector, and one
//! provider per data plane (Nginx and MSE Ingress, other Ingress classes and any object through
//! their Lua scripts, Gateway API HTTPRoute), several at once. Everything here is
//! pure: from the objects as they are and the step, the changes to make (none once converged).

pub mod common;
pub mod custom;
pub mod gateway;
pub mod ingress;
pub mod objects;
pub mod provider;
pub mod service;

pub use common::{Change, LAST_APPLIED, StepTraffic, canary_name, copied_annotations};
pub use provider::Provider;
