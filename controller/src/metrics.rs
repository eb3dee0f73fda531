//! Controller metrics and their Prometheus text exposition: Rollouts per phase, reconcile
//! latency and errors, step and approval-wait durations, metric analysis queries, the step of
//! each release in progress, and whether this replica leads.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A metric family: name, type and help text.
struct Family(&'static str, &'static str, &'static str);

const ROLLOUTS: Family = Family(
    "rollouts_controller_rollouts",
    "gauge",
    "Rollouts by phase.",
);
const RECONCILE: Family = Family(
    "rollouts_controller_reconcile_duration_seconds",
    "histogram",
    "Time spent in one reconcile of a Rollout.",
);
const RECONCILE_ERRORS: Family = Family(
    "rollouts_controller_reconcile_errors_total",
    "counter",
    "Reconciles that failed, by error kind.",
);
const STEP: Family = Family(
    "rollouts_controller_step_duration_seconds",
    "histogram",
    "Time a step took to get its pods Ready, from the start of its upgrade.",
);
const APPROVAL_WAIT: Family = Family(
    "rollouts_controller_approval_wait_seconds",
    "histogram",
    "Time a paused step waited for manual approval.",
);
const ANALYSIS_QUERIES: Family = Family(
    "rollouts_controller_analysis_queries_total",
    "counter",
    "Metric analysis queries sent to Prometheus, by answer (value, empty, error).",
);
const RELEASE_STEP: Family = Family(
    "rollouts_controller_release_step",
    "gauge",
    "Current step of each Rollout whose release is in progress (labels: namespace, rollout, state, steps).",
);
const LEADER: Family = Family(
    "rollouts_controller_leader",
    "gauge",
    "1 while this replica holds the leader Lease.",
);

/// Reconcile latency buckets, in seconds: API round trips, not rollout progress.
const RECONCILE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Step and approval-wait buckets, in seconds: from a second to a day.
const WAIT_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
];

/// One unlabelled histogram; `per_bucket[i]` counts observations in `(bounds[i-1], bounds[i]]`.
struct Histogram {
    family: &'static Family,
    bounds: &'static [f64],
    per_bucket: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    fn new(family: &'static Family, bounds: &'static [f64]) -> Self {
        let per_bucket = vec![0; bounds.len()];
        Self {
            family,
            bounds,
            per_bucket,
            count: 0,
            sum: 0.0,
        }
    }

    fn observe(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        if let Some(i) = self.bounds.iter().position(|bound| value <= *bound) {
            self.per_bucket[i] += 1;
        }
        self.count += 1;
        self.sum += value;
    }

    fn render(&self, out: &mut String) {
        let name = header(out, self.family);
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.per_bucket) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

struct State {
    rollouts_by_phase: BTreeMap<String, u64>,
    reconcile: Histogram,
    reconcile_errors: BTreeMap<String, u64>,
    step: Histogram,
    approval_wait: Histogram,
    analysis_queries: BTreeMap<String, u64>,
    release_steps: Vec<ReleaseStep>,
    leader: bool,
}

/// Where one release in progress stands, for [`Metrics::set_release_steps`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseStep {
    /// The Rollout's namespace.
    pub namespace: String,
    /// The Rollout's name.
    pub rollout: String,
    /// The step's state (`StepPaused`, ...).
    pub state: String,
    /// The current step, from 1.
    pub step: i32,
    /// Steps in the plan.
    pub steps: usize,
}

/// Every metric of the controller; share one through an `Arc`.
pub struct Metrics {
    state: Mutex<State>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics: no Rollouts, no observations, not leader.
    pub fn new() -> Self {
        let state = State {
            rollouts_by_phase: BTreeMap::new(),
            reconcile: Histogram::new(&RECONCILE, RECONCILE_BUCKETS),
            reconcile_errors: BTreeMap::new(),
            step: Histogram::new(&STEP, WAIT_BUCKETS),
            approval_wait: Histogram::new(&APPROVAL_WAIT, WAIT_BUCKETS),
            analysis_queries: BTreeMap::new(),
            release_steps: Vec::new(),
            leader: false,
        };
        Self {
            state: Mutex::new(state),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces the number of Rollouts per phase; phases missing from `counts` are dropped.
    pub fn set_rollouts_by_phase(&self, counts: &BTreeMap<String, u64>) {
        self.state().rollouts_by_phase = counts.clone();
    }

    /// Records one reconcile; `error_kind` is a bounded category such as `Error::kind()`.
    pub fn observe_reconcile(&self, elapsed: Duration, error_kind: Option<&str>) {
        let mut state = self.state();
        state.reconcile.observe(elapsed.as_secs_f64());
        if let Some(kind) = error_kind {
            *state.reconcile_errors.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// Records how long one canary step took from start to completion.
    pub fn observe_step_duration(&self, seconds: f64) {
        self.state().step.observe(seconds);
    }

    /// Records how long a paused step waited for manual approval.
    pub fn observe_approval_wait(&self, seconds: f64) {
        self.state().approval_wait.observe(seconds);
    }

    /// Counts one metric analysis query by its answer: `value`, `empty` or `error`.
    pub fn count_analysis_query(&self, answer: &str) {
        *self
            .state()
            .analysis_queries
            .entry(answer.to_owned())
            .or_default() += 1;
    }

    /// Replaces the releases in progress (one series each; finished releases drop out).
    pub fn set_release_steps(&self, steps: Vec<ReleaseStep>) {
        self.state().release_steps = steps;
    }

    /// Marks whether this replica holds the leader Lease.
    pub fn set_leader(&self, leader: bool) {
        self.state().leader = leader;
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn render(&self) -> String {
        let state = self.state();
        let mut out = String::new();
        labelled(&mut out, &ROLLOUTS, "phase", &state.rollouts_by_phase);
        state.reconcile.render(&mut out);
        labelled(&mut out, &RECONCILE_ERRORS, "kind", &state.reconcile_errors);
        state.step.render(&mut out);
        state.approval_wait.render(&mut out);
        labelled(
            &mut out,
            &ANALYSIS_QUERIES,
            "answer",
            &state.analysis_queries,
        );
        let name = header(&mut out, &RELEASE_STEP);
        for r in &state.release_steps {
            let _ = writeln!(
                out,
                "{name}{{namespace=\"{}\",rollout=\"{}\",state=\"{}\",steps=\"{}\"}} {}",
                escape(&r.namespace),
                escape(&r.rollout),
                escape(&r.state),
                r.steps,
                r.step
            );
        }
        let name = header(&mut out, &LEADER);
        let _ = writeln!(out, "{name} {}", u8::from(state.leader));
        out
    }
}

/// Writes the HELP and TYPE lines; returns the family name.
fn header(out: &mut String, Family(name, kind, help): &Family) -> &'static str {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    name
}

/// A family with one label, one series per entry of `values`.
fn labelled(out: &mut String, family: &Family, label: &str, values: &BTreeMap<String, u64>) {
    let name = header(out, family);
    for (value, n) in values {
        let _ = writeln!(out, "{name}{{{label}=\"{}\"}} {n}", escape(value));
    }
}

/// Escapes a label value as the text format requires.
fn escape(value: &str) -> String {
    let value = value.replace('\\', r"\\").replace('"', "\\\"");
    value.replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn assert_series(text: &str, series: &[&str]) {
        for line in series {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing {line} in\n{text}"
            );
        }
    }

    #[test]
    fn every_family_is_declared_once_even_before_any_observation() {
        let text = Metrics::new().render();
        for Family(name, kind, _) in [
            ROLLOUTS,
            RECONCILE,
            RECONCILE_ERRORS,
            STEP,
            APPROVAL_WAIT,
            ANALYSIS_QUERIES,
            RELEASE_STEP,
            LEADER,
        ] {
            let line = format!("# TYPE {name} {kind}\n");
            assert_eq!(text.matches(&line).count(), 1, "{line}in\n{text}");
        }
    }

    #[test]
    fn rollouts_per_phase_replace_the_previous_counts() {
        let m = Metrics::new();
        let phases =
            |pairs: &[(&str, u64)]| pairs.iter().map(|(p, n)| (p.to_string(), *n)).collect();
        m.set_rollouts_by_phase(&phases(&[("Progressing", 2), ("Healthy", 5)]));
        m.set_rollouts_by_phase(&phases(&[("Healthy", 6)]));
        let text = m.render();
        assert_series(
            &text,
            &[r#"rollouts_controller_rollouts{phase="Healthy"} 6"#],
        );
        assert!(!text.contains("Progressing"), "{text}");
    }

    #[test]
    fn reconcile_durations_fill_cumulative_buckets_and_errors_count_per_kind() {
        let m = Metrics::new();
        m.observe_reconcile(Duration::from_millis(3), None);
        m.observe_reconcile(Duration::from_millis(30), Some("Kube"));
        m.observe_reconcile(Duration::from_secs(60), Some("Kube"));
        m.observe_reconcile(Duration::from_millis(7), Some("InvalidSpec"));
        assert_series(
            &m.render(),
            &[
                r#"rollouts_controller_reconcile_duration_seconds_bucket{le="0.005"} 1"#,
                r#"rollouts_controller_reconcile_duration_seconds_bucket{le="0.01"} 2"#,
                r#"rollouts_controller_reconcile_duration_seconds_bucket{le="0.05"} 3"#,
                r#"rollouts_controller_reconcile_duration_seconds_bucket{le="10"} 3"#,
                r#"rollouts_controller_reconcile_duration_seconds_bucket{le="+Inf"} 4"#,
                "rollouts_controller_reconcile_duration_seconds_count 4",
                r#"rollouts_controller_reconcile_errors_total{kind="Kube"} 2"#,
                r#"rollouts_controller_reconcile_errors_total{kind="InvalidSpec"} 1"#,
            ],
        );
    }

    #[test]
    fn step_and_approval_waits_land_in_their_own_histograms() {
        let m = Metrics::new();
        m.observe_step_duration(42.0);
        m.observe_approval_wait(4000.0);
        m.observe_approval_wait(f64::NAN);
        assert_series(
            &m.render(),
            &[
                r#"rollouts_controller_step_duration_seconds_bucket{le="30"} 0"#,
                r#"rollouts_controller_step_duration_seconds_bucket{le="60"} 1"#,
                "rollouts_controller_step_duration_seconds_count 1",
                r#"rollouts_controller_approval_wait_seconds_bucket{le="3600"} 0"#,
                r#"rollouts_controller_approval_wait_seconds_bucket{le="7200"} 1"#,
                "rollouts_controller_approval_wait_seconds_sum 4000",
                "rollouts_controller_approval_wait_seconds_count 1",
            ],
        );
    }

    #[test]
    fn leader_gauge_follows_set_leader() {
        fn shared_across_threads<T: Send + Sync>(t: T) -> T {
            t
        }
        let m = shared_across_threads(Metrics::new());
        assert_series(&m.render(), &["rollouts_controller_leader 0"]);
        m.set_leader(true);
        assert_series(&m.render(), &["rollouts_controller_leader 1"]);
    }

    #[test]
    fn label_values_are_escaped() {
        let m = Metrics::new();
        m.observe_reconcile(Duration::ZERO, Some("a\"b\\c\nd"));
        assert_series(&m.render(), &[r#"{kind="a\"b\\c\nd"} 1"#]);
    }

    #[test]
    fn each_release_in_progress_is_one_series_and_finished_ones_drop_out() {
        let m = Metrics::new();
        let step = |rollout: &str, step| ReleaseStep {
            namespace: "web".into(),
            rollout: rollout.into(),
            state: "StepPaused".into(),
            step,
            steps: 3,
        };
        m.set_release_steps(vec![step("a", 2), step("b", 1)]);
        assert_series(
            &m.render(),
            &[
                r#"rollouts_controller_release_step{namespace="web",rollout="a",state="StepPaused",steps="3"} 2"#,
                r#"rollouts_controller_release_step{namespace="web",rollout="b",state="StepPaused",steps="3"} 1"#,
            ],
        );
        m.set_release_steps(vec![step("b", 1)]);
        assert!(!m.render().contains(r#"rollout="a""#));
    }
}
