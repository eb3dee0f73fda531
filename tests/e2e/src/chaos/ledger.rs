//! What a soak did and found, shared by its tasks: approvals given, actions that restart a
//! release, faults with their recovery times, completed releases and violations; and the report.

use super::invariants::{Approval, Violation};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The kinds of fault a soak injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// SIGKILL of the leading controller (a standby takes over; a new replica starts).
    ControllerKill,
    /// SIGKILL of the webhook, a governed update tried while it is down, then a restart.
    WebhookKill,
    /// SIGKILL and restart of kube-apiserver.
    ApiServerRestart,
    /// A burst of writes to the workloads' labels and annotations, racing the controller.
    ConflictingWriter,
    /// A release of a version whose pods never become Ready, then its rollback.
    NotReadyPods,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::ControllerKill,
        FaultKind::WebhookKill,
        FaultKind::ApiServerRestart,
        FaultKind::ConflictingWriter,
        FaultKind::NotReadyPods,
    ];

    fn describe(self) -> &'static str {
        match self {
            FaultKind::ControllerKill => "SIGKILL of the leading controller",
            FaultKind::WebhookKill => "SIGKILL of the webhook",
            FaultKind::ApiServerRestart => "SIGKILL and restart of kube-apiserver",
            FaultKind::ConflictingWriter => "concurrent writer on the workloads",
            FaultKind::NotReadyPods => "release of pods that never become Ready",
        }
    }

    fn recovery_means(self) -> &'static str {
        match self {
            FaultKind::NotReadyPods => "rollback applied until the Rollout is Healthy",
            _ => "fault until the webhook freezes and the controller reconciles again",
        }
    }
}

/// The shared record of one soak.
#[derive(Debug, Default)]
pub struct Ledger {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    approved: BTreeSet<(String, String, i32)>,
    pending: Vec<Approval>,
    restarted: BTreeMap<String, Instant>,
    faults: BTreeMap<FaultKind, Vec<Duration>>,
    unrecovered: BTreeMap<FaultKind, u32>,
    actions: BTreeMap<&'static str, u32>,
    completed: u32,
    conflicts: u32,
    violations: BTreeSet<Violation>,
    notes: Vec<String>,
    history: BTreeMap<String, std::collections::VecDeque<String>>,
}

/// How many recent actions and observations the ledger keeps per application.
const HISTORY: usize = 40;

/// The time of day in UTC, to the millisecond, to read beside the services' logs.
fn clock() -> String {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let day_ms = since_epoch.as_millis() % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        day_ms / 3_600_000,
        day_ms / 60_000 % 60,
        day_ms / 1000 % 60,
        day_ms % 1000
    )
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes an approval about to be written, before it is, so that no observation can see the
    /// step passed before the approval is known.
    pub fn approving(&self, uid: &str, revision: &str, step: i32) {
        self.lock()
            .approved
            .insert((uid.into(), revision.into(), step));
    }

    /// An approval the API server accepted.
    pub fn approved(&self, approval: Approval) {
        let mut inner = self.lock();
        *inner.actions.entry("approve").or_default() += 1;
        inner.pending.push(approval);
    }

    /// Approvals given so far, as (uid, revision, step).
    pub fn approvals(&self) -> BTreeSet<(String, String, i32)> {
        self.lock().approved.clone()
    }

    /// Approvals not yet seen taken.
    pub fn pending(&self, key: &str) -> Vec<Approval> {
        self.lock()
            .pending
            .iter()
            .filter(|a| a.key == key)
            .cloned()
            .collect()
    }

    /// Forgets approvals that were taken (`taken` returns true).
    pub fn settle_pending(&self, taken: impl Fn(&Approval) -> bool) {
        self.lock().pending.retain(|a| !taken(a));
    }

    /// An action of ours that may restart the release of `key` (a rollback, new version, scale,
    /// disable or delete); its pending approvals no longer apply.
    pub fn action(&self, key: &str, name: &'static str, restarts_release: bool) {
        self.history(key, name);
        let mut inner = self.lock();
        *inner.actions.entry(name).or_default() += 1;
        if restarts_release {
            inner.restarted.insert(key.into(), Instant::now());
            inner.pending.retain(|a| a.key != key);
        }
    }

    /// Records what happened to `key`'s application (an action with its version, a release seen
    /// to its end), for the report of a fault it did not recover from.
    pub fn history(&self, key: &str, what: &str) {
        let mut inner = self.lock();
        let lines = inner.history.entry(key.into()).or_default();
        lines.push_back(format!("{} {what}", clock()));
        if lines.len() > HISTORY {
            lines.pop_front();
        }
    }

    /// The recent history of `key`'s application, one line each, oldest first.
    pub fn history_of(&self, key: &str) -> String {
        self.lock()
            .history
            .get(key)
            .map(|lines| lines.iter().map(|l| format!("{l}\n")).collect())
            .unwrap_or_default()
    }

    /// Whether an action of ours restarted `key`'s release within `window`.
    pub fn restarted_within(&self, key: &str, window: Duration) -> bool {
        self.lock()
            .restarted
            .get(key)
            .is_some_and(|at| at.elapsed() < window)
    }

    pub fn fault(&self, kind: FaultKind, recovery: Option<Duration>) {
        let mut inner = self.lock();
        match recovery {
            Some(took) => inner.faults.entry(kind).or_default().push(took),
            None => *inner.unrecovered.entry(kind).or_default() += 1,
        }
    }

    pub fn faults_total(&self) -> usize {
        let inner = self.lock();
        inner.faults.values().map(Vec::len).sum::<usize>()
            + inner
                .unrecovered
                .values()
                .map(|n| *n as usize)
                .sum::<usize>()
    }

    pub fn release_completed(&self) {
        self.lock().completed += 1;
    }

    pub fn conflicts(&self, n: u32) {
        self.lock().conflicts += n;
    }

    /// Records violations; returns those not seen before.
    pub fn violations(&self, found: Vec<Violation>) -> Vec<Violation> {
        let mut inner = self.lock();
        found
            .into_iter()
            .filter(|v| inner.violations.insert(v.clone()))
            .collect()
    }

    pub fn violation_count(&self) -> usize {
        self.lock().violations.len()
    }

    /// A line for the report (something noticed that is not a violation).
    pub fn note(&self, line: String) {
        self.lock().notes.push(line);
    }

    /// The Markdown report.
    pub fn report(&self, command: &str, ran_for: Duration, apps: usize) -> String {
        let inner = self.lock();
        let mut out = String::new();
        let _ = writeln!(out, "Command: `{command}`\n");
        let total = inner.faults.values().map(Vec::len).sum::<usize>()
            + inner
                .unrecovered
                .values()
                .map(|n| *n as usize)
                .sum::<usize>();
        let _ = writeln!(
            out,
            "Ran {} s with {apps} applications: {total} faults, {} releases completed, {} invariant violations.\n",
            ran_for.as_secs(),
            inner.completed,
            inner.violations.len()
        );
        let _ = writeln!(
            out,
            "| Fault | Injected | Not recovered | Recovery p50 | p99 | max | Recovery is |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|");
        for kind in FaultKind::ALL {
            let mut times = inner.faults.get(&kind).cloned().unwrap_or_default();
            times.sort();
            let unrecovered = inner.unrecovered.get(&kind).copied().unwrap_or(0);
            let _ = writeln!(
                out,
                "| {} | {} | {unrecovered} | {} | {} | {} | {} |",
                kind.describe(),
                times.len() + unrecovered as usize,
                percentile(&times, 50),
                percentile(&times, 99),
                percentile(&times, 100),
                kind.recovery_means()
            );
        }
        let actions: Vec<String> = inner
            .actions
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "\nActions: {}.", actions.join(", "));
        let _ = writeln!(
            out,
            "Conflicts (HTTP 409) the concurrent writer met: {}.",
            inner.conflicts
        );
        if inner.violations.is_empty() {
            let _ = writeln!(out, "\nViolations: none.");
        } else {
            let _ = writeln!(out, "\nViolations:\n");
            for v in &inner.violations {
                let _ = writeln!(out, "- {v}");
            }
        }
        if !inner.notes.is_empty() {
            let _ = writeln!(out, "\nNoticed:\n");
            for (n, times) in counted(&inner.notes) {
                match times {
                    1 => writeln!(out, "- {n}"),
                    _ => writeln!(out, "- {n} ({times} times)"),
                }
                .unwrap_or_default();
            }
        }
        out
    }
}

/// Each distinct note once, in order of its first appearance, with how often it was made.
fn counted(notes: &[String]) -> Vec<(&str, usize)> {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for note in notes {
        match counted.iter_mut().find(|(n, _)| *n == note.as_str()) {
            Some((_, times)) => *times += 1,
            None => counted.push((note, 1)),
        }
    }
    counted
}

/// The `p`th percentile (nearest rank) of sorted durations, in seconds, or a dash when none.
pub fn percentile(sorted: &[Duration], p: usize) -> String {
    if sorted.is_empty() {
        return "-".into();
    }
    let rank = (p * sorted.len()).div_ceil(100).clamp(1, sorted.len());
    format!("{:.1} s", sorted[rank - 1].as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let secs = |v: &[u64]| {
            v.iter()
                .map(|s| Duration::from_secs(*s))
                .collect::<Vec<_>>()
        };
        let cases: [(&[u64], usize, &str); 5] = [
            (&[], 50, "-"),
            (&[4], 99, "4.0 s"),
            (&[1, 2, 3, 4], 50, "2.0 s"),
            (&[1, 2, 3, 4], 99, "4.0 s"),
            (&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90, "9.0 s"),
        ];
        for (values, p, expected) in cases {
            assert_eq!(percentile(&secs(values), p), expected, "{values:?} p{p}");
        }
    }

    #[test]
    fn the_report_counts_faults_and_lists_violations() {
        let ledger = Ledger::default();
        ledger.fault(FaultKind::ControllerKill, Some(Duration::from_secs(3)));
        ledger.fault(FaultKind::ControllerKill, None);
        let v = Violation {
            object: "Rollout ns/r".into(),
            field: "f".into(),
            detail: "d".into(),
        };
        assert_eq!(ledger.violations(vec![v.clone()]).len(), 1);
        assert!(
            ledger.violations(vec![v]).is_empty(),
            "a violation is reported once"
        );
        let report = ledger.report("make chaos", Duration::from_secs(60), 5);
        assert!(report.contains("2 faults"), "{report}");
        assert!(
            report.contains("| SIGKILL of the leading controller | 2 | 1 | 3.0 s"),
            "{report}"
        );
        assert!(report.contains("- Rollout ns/r f: d"), "{report}");
        assert!(!report.contains("Noticed"), "nothing noticed: {report}");
        ledger.note("a replica exited".into());
        ledger.note("a webhook restart failed".into());
        ledger.note("a replica exited".into());
        let report = ledger.report("make chaos", Duration::from_secs(60), 5);
        assert!(
            report.ends_with("- a replica exited (2 times)\n- a webhook restart failed\n"),
            "each note once, with a count: {report}"
        );
    }
}
