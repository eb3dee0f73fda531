//! Admission and conversion handlers: decode a review, call the pure crates, encode the answer.
//! They read the cluster only through `Lookup` (watch-backed caches), never the API server.

mod convert;
mod finalizer;
mod lookup;
mod mutate;
mod review;
mod validate;

pub use convert::convert;
pub use finalizer::{ROLLOUT_MUTATE_PATH, add_finalizer};
pub use lookup::{Decision, Lookup};
pub use mutate::{MutatingPath, mutate};
pub use review::{AdmissionRequest, AdmissionResponse, Kind, decode_admission};
pub use validate::validate;
