//! End-to-end test harness against the real local control plane of `tests/cluster`: one
//! cluster per test run (started, or reused when `KUBECONFIG` points at a ready one), a
//! namespace per test, YAML apply, waits with deadlines, and cluster logs on failure; and an
//! application metrics source scraped by the cluster's Prometheus (`app_metrics`).

pub mod app_metrics;
mod apply;
pub mod blue_green;
pub mod chaos;
mod cluster;
mod controller;
mod crd;
pub mod istio;
mod namespace;
pub mod plugin;
pub mod release;
pub mod service_account;
pub mod traffic;
mod wait;
mod webhook;

pub use apply::{apply_json, apply_yaml};
pub use cluster::{
    CONFORMANCE_ENV, Cluster, ROLLOUT_COLUMNS, cluster, conformance_dir, repo_root,
    report_conformance, table_header,
};
pub use controller::{ControllerProcess, controller};
pub use crd::install_crds;
pub use namespace::TestNamespace;
pub use wait::{DEFAULT_DEADLINE, wait_for};
pub use webhook::{
    NAMESPACE_LABEL, Webhook, admin_get, admin_ok, wait_webhook_sees, webhook, webhook_ca,
    webhook_tls,
};
