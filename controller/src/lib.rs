//! rollouts-controller as a library: the watch wiring and reconcile of Rollouts, leader
//! election, metrics and the admin HTTP server.

pub mod admin;
pub mod analysis;
pub mod cache;
pub mod context;
pub mod error;
pub mod execute;
pub mod index;
pub mod kinds;
pub mod lease;
pub mod metrics;
pub mod own_writes;
pub mod pods;
pub mod prometheus;
pub mod reconcile;
pub mod run;
pub mod traffic;
pub mod traffic_routing;
pub mod wake;
