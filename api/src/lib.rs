//! `rollouts.kruise.io` API: Rollout v1alpha1 and v1beta1 types, lossless conversion between
//! them, the generated CRD, and every annotation, label and reason string (`keys`). Data only.

pub mod common;
pub mod conversion;
pub mod crd;
pub mod keys;
pub mod schema;
mod serde_util;
pub mod v1alpha1;
pub mod v1beta1;
