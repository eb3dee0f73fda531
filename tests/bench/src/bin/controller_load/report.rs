//! One measured N (the table row and the JSON line) and the table printed from it.

use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// One measured N: what goes into the table and the JSON line.
#[derive(Serialize, Default, Debug)]
pub(crate) struct Row {
    pub(crate) bench: &'static str,
    pub(crate) label: String,
    pub(crate) unix_time: u64,
    pub(crate) rollouts: usize,
    pub(crate) replicas: u32,
    pub(crate) nodes: usize,
    pub(crate) namespaces: usize,
    pub(crate) controller_bin: String,
    pub(crate) webhook_bin: String,
    pub(crate) cores: usize,
    pub(crate) create_seconds: f64,
    pub(crate) create_retries: u64,
    pub(crate) settle_seconds: f64,
    pub(crate) controller_ready_seconds: Option<f64>,
    pub(crate) all_observed_seconds: Option<f64>,
    pub(crate) observed_within_60s: usize,
    pub(crate) all_observed_within_60s: bool,
    pub(crate) modified_until_all_observed: u64,
    pub(crate) start_window_seconds: f64,
    pub(crate) start_rollout_modified: u64,
    pub(crate) start_modified_per_rollout: f64,
    pub(crate) conflicts: Option<u64>,
    pub(crate) reconcile_errors: BTreeMap<String, u64>,
    pub(crate) start_reconciles: Option<u64>,
    pub(crate) controller_start_cpu_seconds: f64,
    pub(crate) webhook_start_cpu_seconds: f64,
    pub(crate) controller_rss_mib: f64,
    pub(crate) controller_hwm_mib: f64,
    pub(crate) webhook_rss_mib: f64,
    pub(crate) webhook_hwm_mib: f64,
    pub(crate) idle_seconds: f64,
    pub(crate) controller_idle_cpu_seconds: f64,
    pub(crate) controller_idle_cpu_percent: f64,
    pub(crate) webhook_idle_cpu_seconds: f64,
    pub(crate) webhook_idle_cpu_percent: f64,
    pub(crate) idle_rollout_modified: u64,
    pub(crate) idle_reconciles: Option<u64>,
    pub(crate) restart_stop_seconds: Option<f64>,
    pub(crate) restart_ready_seconds: Option<f64>,
    pub(crate) restart_modified_before_ready: u64,
    pub(crate) restart_window_seconds: u64,
    pub(crate) restart_rollout_modified: u64,
    pub(crate) restart_conflicts: Option<u64>,
    pub(crate) restart_reconciles: Option<u64>,
    pub(crate) restart_controller_rss_mib: f64,
    pub(crate) watch_relists: u64,
    pub(crate) error: Option<String>,
}

pub(crate) fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

pub(crate) fn print_table(rows: &[Row], with_header_note: bool) {
    if with_header_note {
        println!();
    }
    println!(
        "| N | pods/Deployment | all phases set (s) | all within 60 s | Rollout writes at start (per Rollout) | status conflicts | controller CPU at start (s) | controller RSS / HWM (MiB) | webhook RSS / HWM (MiB) | idle CPU controller | idle CPU webhook | writes in {} s after restart |",
        rows.first().map_or(60, |r| r.restart_window_seconds)
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        if let Some(error) = &r.error {
            println!(
                "| {} | {} | FAILED: {error} |||||||||",
                r.rollouts, r.replicas
            );
            continue;
        }
        println!(
            "| {} | {} | {} | {} ({}/{}) | {} ({:.2}) | {} | {:.1} | {:.1} / {:.1} | {:.1} / {:.1} | {:.2} % ({:.2} CPU-s / {:.0} s; {} reconciles) | {:.2} % ({:.2} CPU-s / {:.0} s) | {} |",
            r.rollouts,
            r.replicas,
            opt(r.all_observed_seconds, 1),
            if r.all_observed_within_60s {
                "yes"
            } else {
                "no"
            },
            r.observed_within_60s,
            r.rollouts,
            r.start_rollout_modified,
            r.start_modified_per_rollout,
            r.conflicts.map_or("n/a".into(), |c| c.to_string()),
            r.controller_start_cpu_seconds,
            r.controller_rss_mib,
            r.controller_hwm_mib,
            r.webhook_rss_mib,
            r.webhook_hwm_mib,
            r.controller_idle_cpu_percent,
            r.controller_idle_cpu_seconds,
            r.idle_seconds,
            r.idle_reconciles.map_or("n/a".into(), |c| c.to_string()),
            r.webhook_idle_cpu_percent,
            r.webhook_idle_cpu_seconds,
            r.idle_seconds,
            r.restart_rollout_modified,
        );
    }
}
