//! rollouts-webhook: admission (mutation of governed workloads, Rollout validation) and CRD
//! conversion over HTTPS, with self-managed certificates and watch-backed caches.

pub mod cache;
pub mod certs;
pub mod handlers;
pub mod metrics;
pub mod server;
