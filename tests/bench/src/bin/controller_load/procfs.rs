//! What the harness reads of a running process: memory and CPU from /proc, and counters from
//! its Prometheus text.

use std::collections::BTreeMap;

pub(crate) fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| {
            v.trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// utime + stime of the process, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: field 3 (state) is index 0, so utime (14) and stime (15) are 11, 12.
    [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum()
}

/// Status conflicts in the controller's Prometheus text, read leniently: samples of
/// `..._reconcile_errors_total` (or any `rollouts_controller_` family) labelled
/// `kind="conflict"`, and families whose name says conflict. None when the exposition has
/// neither an error family nor a conflict family (the metric is gone or renamed).
pub(crate) fn parse_conflicts(metrics: &str) -> (Option<u64>, BTreeMap<String, u64>) {
    let mut total = 0u64;
    let mut known = false;
    let mut errors = BTreeMap::new();
    for line in metrics.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().unwrap_or_default();
            if name.starts_with("rollouts_controller_")
                && (name.contains("reconcile_errors") || name.contains("conflict"))
            {
                known = true;
            }
            continue;
        }
        if line.starts_with('#') || !line.starts_with("rollouts_controller_") {
            continue;
        }
        let (series, value) = match line.rsplit_once(' ') {
            Some((s, v)) => (s, v.parse::<f64>().unwrap_or(0.0) as u64),
            None => continue,
        };
        let name = series.split('{').next().unwrap_or_default();
        let labels = series
            .split_once('{')
            .map(|(_, l)| l.trim_end_matches('}'))
            .unwrap_or_default();
        let kind = labels.split(',').find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == "kind").then(|| v.trim().trim_matches('"').to_string())
        });
        if name.contains("reconcile_errors") {
            known = true;
            if let Some(kind) = &kind {
                *errors.entry(kind.clone()).or_default() += value;
            }
        }
        let labelled_conflict = kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("conflict"));
        if name.ends_with("_bucket") || name.ends_with("_sum") || name.ends_with("_count") {
            continue;
        }
        if (labelled_conflict && name.contains("error")) || name.contains("conflict") {
            known = true;
            total += value;
        }
    }
    (known.then_some(total), errors)
}

/// Reconciles so far (the count of the reconcile-duration histogram), read leniently; None when
/// the exposition has no such family.
pub(crate) fn parse_reconciles(metrics: &str) -> Option<u64> {
    let mut total = None;
    for line in metrics.lines().map(str::trim) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = series.split('{').next().unwrap_or_default();
        if name.starts_with("rollouts_controller_")
            && (name.ends_with("reconcile_duration_seconds_count")
                || name.ends_with("reconciles_total"))
        {
            *total.get_or_insert(0) += value.parse::<f64>().unwrap_or(0.0) as u64;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::{parse_conflicts, parse_reconciles};

    #[test]
    fn conflicts_are_read_leniently() {
        let text = "# TYPE rollouts_controller_reconcile_errors_total counter\n\
            rollouts_controller_reconcile_errors_total{kind=\"conflict\"} 7\n\
            rollouts_controller_reconcile_errors_total{kind=\"api\"} 2\n";
        let (c, errors) = parse_conflicts(text);
        assert_eq!(c, Some(7));
        assert_eq!(errors.get("api"), Some(&2));
        let none = "# TYPE rollouts_controller_reconcile_errors_total counter\n";
        assert_eq!(parse_conflicts(none).0, Some(0));
        assert_eq!(
            parse_conflicts("# TYPE other_total counter\nother_total 3\n").0,
            None
        );
        let renamed = "rollouts_controller_status_conflicts_total 4\n";
        assert_eq!(parse_conflicts(renamed).0, Some(4));
        let histogram = "rollouts_controller_reconcile_duration_seconds_bucket{le=\"+Inf\"} 9\n\
            rollouts_controller_reconcile_duration_seconds_count 9\n";
        assert_eq!(parse_reconciles(histogram), Some(9));
        assert_eq!(parse_reconciles("other_count 3\n"), None);
    }
}
