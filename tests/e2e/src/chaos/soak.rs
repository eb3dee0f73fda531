//! The soak itself: sets up one application per workload kind and a probe, then until the
//! deadline runs three tasks at once (actions, faults, the invariant observer), then finishes
//! every release, deletes every Rollout, checks that nothing of ours is left, and reports.

use super::actions::{App, Presence, note_progress};
use super::apps::{Kind, MANUAL_STEPS};
use super::faults::{Probe, Services, restart_api_server};
use super::invariants::{
    Persisting, RolloutView, Violation, approval_lost, frozen_unexplained, leftovers,
    manual_step_skipped, step_went_back, traffic_to_no_ready_pods,
};
use super::ledger::{FaultKind, Ledger};
use super::observe;
use super::rng::Rng;
use crate::namespace::TestNamespace;
use crate::webhook::{NAMESPACE_LABEL, webhook};
use kube::Client;
use kube::api::{ListParams, PostParams};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How a soak runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub duration: Duration,
    pub seed: u64,
    /// Lease duration of the controllers (how long a killed leader blocks its standby).
    pub lease_seconds: u64,
    /// The command line, for the report.
    pub command: String,
}

/// How long a step may take to recover or finish on a loaded 2-core machine.
const RECOVERY_DEADLINE: Duration = Duration::from_secs(120);
/// A recovery from a not-Ready release slower than this is reported with the application's
/// history (most take well under a second).
const SLOW_RECOVERY: Duration = Duration::from_secs(15);
/// How long a frozen workload may lack an explaining Rollout (the controller may just have been
/// killed, and its standby waits out the Lease).
const FROZEN_GRACE: Duration = Duration::from_secs(60);
/// How long a route may point at a Service without Ready pods (reads are not atomic).
const TRAFFIC_GRACE: Duration = Duration::from_secs(20);

struct Soak {
    client: Client,
    ledger: Ledger,
    services: Services,
    probe: Probe,
    apps: Vec<App>,
    stop: AtomicBool,
    started: Instant,
}

fn log(soak: &Soak, line: &str) {
    let t = soak.started.elapsed().as_secs();
    eprintln!("[chaos {:02}:{:02}] {line}", t / 60, t % 60);
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("a blocking task finishes")
}

/// Runs the soak; returns the report, or the report as an error when a promise was broken.
pub async fn run(options: Options) -> Result<String, String> {
    let hook = blocking(webhook).await;
    let lease = options.lease_seconds;
    let services = blocking(move || Services::start(hook, lease)).await;
    let client = crate::cluster().client().await;
    let labels = serde_json::json!({ NAMESPACE_LABEL: hook.selector });
    let mut namespaces = Vec::new();
    let mut apps = Vec::new();
    for kind in Kind::ALL {
        let ns = TestNamespace::create_labelled(
            &client,
            &format!("chaos-{}", kind.slug()),
            labels.clone(),
        )
        .await;
        apps.push(App::new(kind, ns.name.clone(), 4));
        namespaces.push(ns);
    }
    let probe_ns = TestNamespace::create_labelled(&client, "chaos-probe", labels).await;
    let probe_name = probe_ns.name.clone();
    let probe = blocking(move || Probe::create(&probe_name)).await?;
    namespaces.push(probe_ns);
    let soak = Arc::new(Soak {
        client,
        ledger: Ledger::default(),
        services,
        probe,
        apps,
        stop: AtomicBool::new(false),
        started: Instant::now(),
    });
    for app in &soak.apps {
        app.apply_rollout().await?;
        app.apply(1, 4, false).await?;
    }
    wait_all_healthy(&soak).await?;
    // The probes must pass before any fault, or no recovery could be told from a broken probe.
    let baseline = recover(&soak, Instant::now())
        .await
        .map_err(|missing| format!("the probes fail before any fault: {missing}"))?;
    log(
        &soak,
        &format!("probes pass in {baseline:?} before any fault"),
    );
    log(
        &soak,
        &format!(
            "{} applications Healthy; soaking for {:?} (seed {})",
            soak.apps.len(),
            options.duration,
            options.seed
        ),
    );

    let observer = tokio::spawn(observe_loop(soak.clone()));
    let actor = tokio::spawn(action_loop(soak.clone(), Rng::new(options.seed, 1)));
    let faulter = tokio::spawn(fault_loop(soak.clone(), Rng::new(options.seed, 2)));
    tokio::time::sleep(options.duration).await;
    soak.stop.store(true, Ordering::Relaxed);
    let _ = actor.await;
    let _ = faulter.await;
    let soaked = soak.started.elapsed();
    log(
        &soak,
        &format!(
            "soak over after {} faults; finishing every release",
            soak.ledger.faults_total()
        ),
    );

    finish(&soak).await;
    observer.abort();
    let report = soak
        .ledger
        .report(&options.command, soaked, soak.apps.len());
    drop(namespaces);
    match soak.ledger.violation_count() {
        0 => Ok(report),
        _ => Err(report),
    }
}

async fn wait_all_healthy(soak: &Soak) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let mut waiting = Vec::new();
        for app in &soak.apps {
            let view = observe::rollout(&soak.client, &app.namespace)
                .await
                .ok()
                .flatten();
            if view.as_ref().is_none_or(|v| v.phase != "Healthy") {
                waiting.push(format!(
                    "{}: {:?}",
                    app.key,
                    view.map(|v| (v.phase, v.step, v.state, v.message))
                ));
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if start.elapsed() > RECOVERY_DEADLINE {
            return Err(format!(
                "not Healthy after {RECOVERY_DEADLINE:?}: {waiting:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn action_loop(soak: Arc<Soak>, mut rng: Rng) {
    while !soak.stop.load(Ordering::Relaxed) {
        let app = &soak.apps[rng.below(soak.apps.len() as u64) as usize];
        app.act(&soak.client, &mut rng, &soak.ledger).await;
        tokio::time::sleep(rng.between(Duration::from_millis(200), Duration::from_millis(900)))
            .await;
    }
}

async fn fault_loop(soak: Arc<Soak>, mut rng: Rng) {
    while !soak.stop.load(Ordering::Relaxed) {
        tokio::time::sleep(rng.between(Duration::from_millis(200), Duration::from_millis(1000)))
            .await;
        let kind = FaultKind::ALL[rng.weighted(&[25, 25, 20, 20, 10])];
        let start = Instant::now();
        let injected = match kind {
            FaultKind::ControllerKill => {
                let services = soak.clone();
                blocking(move || services.services.kill_leader()).await
            }
            FaultKind::WebhookKill => kill_webhook(&soak, &mut rng).await,
            FaultKind::ApiServerRestart => match blocking(restart_api_server).await {
                Ok(()) => true,
                Err(e) => {
                    soak.ledger
                        .note(format!("a kube-apiserver restart failed: {e}"));
                    false
                }
            },
            FaultKind::ConflictingWriter => {
                conflicting_writer(&soak, Duration::from_secs(2)).await;
                true
            }
            FaultKind::NotReadyPods => match not_ready_release(&soak, &mut rng).await {
                Some(recovered) => {
                    soak.ledger.fault(kind, recovered);
                    log(
                        &soak,
                        &format!(
                            "fault {}: {kind:?}, recovered in {recovered:?}",
                            soak.ledger.faults_total()
                        ),
                    );
                    continue;
                }
                None => false,
            },
        };
        if !injected {
            continue;
        }
        let recovered = match recover(&soak, start).await {
            Ok(took) => Some(took),
            Err(missing) => {
                soak.ledger.note(format!(
                    "{kind:?} not recovered within {RECOVERY_DEADLINE:?}: {missing}"
                ));
                None
            }
        };
        soak.ledger.fault(kind, recovered);
        log(
            &soak,
            &format!(
                "fault {}: {kind:?}, recovered in {recovered:?}",
                soak.ledger.faults_total()
            ),
        );
    }
}

/// Time from `start` until a leader runs, the webhook freezes a new version of the probe and the
/// controller reconciles the probe's Rollout; after the deadline, what was still missing.
async fn recover(soak: &Arc<Soak>, start: Instant) -> Result<Duration, String> {
    let mut missing = String::new();
    while start.elapsed() < RECOVERY_DEADLINE {
        let s = soak.clone();
        let replaced = blocking(move || s.services.replace_exited()).await;
        if replaced > 0 {
            soak.ledger.note(format!(
                "{replaced} controller replica(s) exited by themselves during a recovery and were replaced"
            ));
        }
        let s = soak.clone();
        missing = if !blocking(move || s.services.has_leader()).await {
            "no controller leads".into()
        } else {
            let s = soak.clone();
            match blocking(move || s.probe.webhook_freezes()).await {
                Err(e) => format!("the webhook probe: {}", e.trim()),
                Ok(()) => match soak
                    .probe
                    .controller_reconciles(&soak.client, Duration::from_secs(10))
                    .await
                {
                    Err(e) => format!("the controller probe: {e}"),
                    Ok(()) => return Ok(start.elapsed()),
                },
            }
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(missing)
}

/// Kills the webhook, tries a governed update while it is down (it must be refused), then starts
/// it again.
async fn kill_webhook(soak: &Arc<Soak>, rng: &mut Rng) -> bool {
    let s = soak.clone();
    blocking(move || s.services.webhook.kill()).await;
    let app = &soak.apps[rng.below(soak.apps.len() as u64) as usize];
    {
        let mut st = app.state.lock().await;
        if st.rollout == Presence::Active {
            let version = super::actions::next_version();
            match app.apply(version, st.replicas, false).await {
                Ok(_) => {
                    st.applied(version, false);
                    soak.ledger.history(
                        &app.key,
                        &format!("applied v{version} while the webhook was down"),
                    );
                    let (_, kind) = app.kind.workload_type();
                    let found = soak.ledger.violations(vec![Violation {
                        object: format!("{kind} {}/echoserver", app.namespace),
                        field: "spec.template".into(),
                        detail: "a new version was admitted while the webhook was down".into(),
                    }]);
                    report_violations(soak, found);
                }
                Err(e) if !e.contains("webhook") => soak.ledger.note(format!(
                    "a governed update while the webhook was down was refused without naming the webhook: {}",
                    e.trim()
                )),
                Err(_) => {}
            }
        }
    }
    tokio::time::sleep(rng.between(Duration::from_millis(500), Duration::from_secs(2))).await;
    let s = soak.clone();
    blocking(move || s.services.webhook.start_again()).await;
    true
}

/// Writes labels and annotations on every workload for `length`, as another controller or a
/// GitOps tool would, so the controller's own writes meet conflicts.
async fn conflicting_writer(soak: &Arc<Soak>, length: Duration) {
    let start = Instant::now();
    let mut conflicts = 0;
    let mut n = 0u32;
    while start.elapsed() < length {
        for app in &soak.apps {
            n += 1;
            let api = observe::workload_api(&soak.client, &app.namespace, app.kind);
            let Ok(mut object) = api.get("echoserver").await else {
                continue;
            };
            object
                .metadata
                .labels
                .get_or_insert_default()
                .insert("chaos.test/writer".into(), n.to_string());
            object
                .metadata
                .annotations
                .get_or_insert_default()
                .insert("chaos.test/written".into(), n.to_string());
            if let Err(kube::Error::Api(e)) = api
                .replace("echoserver", &PostParams::default(), &object)
                .await
                && e.code == 409
            {
                conflicts += 1;
            }
        }
    }
    soak.ledger.conflicts(conflicts);
}

/// Releases a version whose pods never become Ready on an idle application, lets it stall, then
/// rolls it back; returns `Some(time from the rollback to Healthy)` (inner `None`: never), or
/// `None` when no application was idle.
async fn not_ready_release(soak: &Arc<Soak>, rng: &mut Rng) -> Option<Option<Duration>> {
    // The first idle application from a random one on.
    let first = rng.below(soak.apps.len() as u64) as usize;
    let mut chosen = None;
    for i in 0..soak.apps.len() {
        let app = &soak.apps[(first + i) % soak.apps.len()];
        let Ok(mut st) = app.state.try_lock() else {
            continue;
        };
        let Ok(Some(view)) = observe::rollout(&soak.client, &app.namespace).await else {
            continue;
        };
        note_progress(
            &mut st,
            &view,
            app.rolled_out(&soak.client).await,
            &soak.ledger,
        );
        if st.rollout == Presence::Active && !st.broken && view.phase == "Healthy" {
            chosen = Some((app, st));
            break;
        }
    }
    let (app, mut st) = chosen?;
    app.release(&mut st, &soak.ledger, true).await.ok()?;
    let start = Instant::now();
    loop {
        let view = observe::rollout(&soak.client, &app.namespace)
            .await
            .ok()
            .flatten();
        if view.is_some_and(|v| v.phase == "Progressing") {
            break;
        }
        if start.elapsed() > RECOVERY_DEADLINE {
            soak.ledger.note(format!(
                "{}: a release of not-Ready pods never started",
                app.key
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(rng.between(Duration::from_secs(2), Duration::from_secs(5))).await;
    let start = Instant::now();
    while app
        .roll_back(&soak.client, &mut st, &soak.ledger)
        .await
        .is_err()
    {
        if start.elapsed() > RECOVERY_DEADLINE {
            return Some(None);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let start = Instant::now();
    while start.elapsed() < RECOVERY_DEADLINE {
        let healthy = observe::rollout(&soak.client, &app.namespace)
            .await
            .ok()
            .flatten()
            .is_some_and(|v| v.phase == "Healthy");
        let free = observe::workload(&soak.client, &app.namespace, app.kind)
            .await
            .ok()
            .flatten()
            .is_some_and(|w| w.held_by.is_empty());
        if healthy && free {
            let took = start.elapsed();
            if took > SLOW_RECOVERY {
                soak.ledger.note(format!(
                    "{}: Healthy and free {took:.1?} after the rollback of a not-Ready release; its recent history:\n```\n{}```",
                    app.key,
                    soak.ledger.history_of(&app.key)
                ));
            }
            return Some(Some(took));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let state = diagnose(&app.namespace).await;
    soak.ledger.note(format!(
        "{}: not Healthy and free {RECOVERY_DEADLINE:?} after the rollback of a not-Ready release:\n```\n{state}\nits recent history:\n{}```",
        app.key,
        soak.ledger.history_of(&app.key)
    ));
    Some(None)
}

fn report_violations(soak: &Soak, found: Vec<Violation>) {
    for v in found {
        log(soak, &format!("VIOLATION {v}"));
        for app in soak.apps.iter().filter(|a| v.object.contains(&a.namespace)) {
            soak.ledger.note(format!(
                "{}: recent history at the violation on {}:\n```\n{}```",
                app.key,
                v.object,
                soak.ledger.history_of(&app.key)
            ));
        }
    }
}

/// Judges every Rollout on each pass (twice a second) and the workloads and routes every fourth.
async fn observe_loop(soak: Arc<Soak>) {
    let mut previous: BTreeMap<String, RolloutView> = BTreeMap::new();
    let mut frozen = Persisting::default();
    let mut traffic = Persisting::default();
    let manual: BTreeSet<i32> = MANUAL_STEPS.into();
    for pass in 0u64.. {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut found = Vec::new();
        let mut views = BTreeMap::new();
        for app in &soak.apps {
            let Ok(view) = observe::rollout(&soak.client, &app.namespace).await else {
                continue;
            };
            // Read after the Rollout: an approval is noted before it is written, so one that the
            // Rollout read already shows is always in this copy (read before, it was not: a step
            // approved and passed within one pass looked skipped).
            let approvals = soak.ledger.approvals();
            views.insert(app.namespace.clone(), view.clone());
            let Some(view) = view else { continue };
            if let Some(prev) = previous.get(&view.key) {
                let excused = soak
                    .ledger
                    .restarted_within(&view.key, Duration::from_secs(30));
                found.extend(step_went_back(prev, &view, excused));
            }
            found.extend(manual_step_skipped(&view, &manual, &approvals));
            for approval in soak.ledger.pending(&view.key) {
                found.extend(approval_lost(&approval, &view));
            }
            soak.ledger.settle_pending(|a| {
                a.key == view.key
                    && (a.uid != view.uid
                        || a.revision != view.revision
                        || view.step > a.step
                        || view.phase != "Progressing")
            });
            previous.insert(view.key.clone(), view);
        }
        if pass % 4 == 0 {
            let (held, routed) = holds_and_routes(&soak, &views).await;
            found.extend(frozen.update(Instant::now(), held, FROZEN_GRACE));
            found.extend(traffic.update(Instant::now(), routed, TRAFFIC_GRACE));
        }
        let new = soak.ledger.violations(found);
        report_violations(&soak, new);
    }
}

/// Suspects of the slower checks: frozen workloads without an explaining Rollout, and routes to
/// Services without Ready pods.
async fn holds_and_routes(
    soak: &Soak,
    views: &BTreeMap<String, Option<RolloutView>>,
) -> (Vec<Violation>, Vec<Violation>) {
    let (mut held, mut routed) = (Vec::new(), Vec::new());
    for app in &soak.apps {
        let Some(rollout) = views.get(&app.namespace) else {
            continue;
        };
        if let Ok(Some(workload)) = observe::workload(&soak.client, &app.namespace, app.kind).await
        {
            held.extend(frozen_unexplained(&workload, rollout.as_ref()));
        }
        if let Ok(routes) = observe::routes(&soak.client, &app.namespace).await {
            routed.extend(routes.iter().filter_map(traffic_to_no_ready_pods));
        }
    }
    (held, routed)
}

/// Creates `app`'s deleted Rollout again once its deletion has completed (its finalizer is the
/// controller's to remove, which a fault may delay).
async fn recreate_rollout(soak: &Soak, app: &App) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match observe::rollout(&soak.client, &app.namespace).await {
            Ok(None) => return app.apply_rollout().await.map(drop),
            Ok(Some(_)) if start.elapsed() > RECOVERY_DEADLINE => {
                return Err(format!("still being deleted after {RECOVERY_DEADLINE:?}"));
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// After the soak: every Rollout back and enabled, every release approved to its end, every
/// workload free; then every Rollout deleted and nothing of ours left.
async fn finish(soak: &Arc<Soak>) {
    let s = soak.clone();
    blocking(move || s.services.replace_exited()).await;
    for app in &soak.apps {
        let mut st = app.state.lock().await;
        let view = observe::rollout(&soak.client, &app.namespace)
            .await
            .ok()
            .flatten();
        let settled = match (st.rollout, view) {
            (Presence::Deleted, _) => recreate_rollout(soak, app).await,
            (Presence::Disabled, _) => app.set_disabled(false).await.map(drop),
            _ => Ok(()),
        };
        match settled {
            Ok(()) => st.rollout = Presence::Active,
            Err(e) => soak.ledger.note(format!(
                "{}: could not bring the Rollout back: {e}",
                app.key
            )),
        }
        if st.broken {
            let _ = app.roll_back(&soak.client, &mut st, &soak.ledger).await;
        }
        soak.ledger.action(&app.key, "finish", true);
    }
    let finished = drive_to_healthy(soak).await;
    if let Err(waiting) = finished {
        for v in &waiting {
            let namespace = v
                .object
                .trim_start_matches("Rollout ")
                .split('/')
                .next()
                .unwrap_or_default();
            soak.ledger.note(format!(
                "state of {namespace}:\n```\n{}```",
                diagnose(namespace).await
            ));
        }
        report_violations(soak, soak.ledger.violations(waiting));
        return;
    }
    let mut steady = Vec::new();
    for app in &soak.apps {
        let view = observe::rollout(&soak.client, &app.namespace)
            .await
            .ok()
            .flatten();
        if let Ok(Some(workload)) = observe::workload(&soak.client, &app.namespace, app.kind).await
        {
            steady.extend(frozen_unexplained(&workload, view.as_ref()));
        }
    }
    report_violations(soak, soak.ledger.violations(steady));
    for app in &soak.apps {
        if let Err(e) = app.delete_rollout().await {
            soak.ledger
                .note(format!("{}: deleting the Rollout failed: {e}", app.key));
        }
    }
    let left = wait_nothing_left(soak).await;
    report_violations(soak, soak.ledger.violations(left));
}

/// Approves every manual step until every Rollout is Healthy; the Rollouts still not Healthy
/// after the deadline are violations (a release that cannot finish).
async fn drive_to_healthy(soak: &Soak) -> Result<(), Vec<Violation>> {
    let start = Instant::now();
    loop {
        let mut waiting = Vec::new();
        for app in &soak.apps {
            let view = match observe::rollout(&soak.client, &app.namespace).await {
                Ok(Some(view)) => view,
                other => {
                    waiting.push((app.key.clone(), format!("{other:?}")));
                    continue;
                }
            };
            let mut st = app.state.lock().await;
            note_progress(
                &mut st,
                &view,
                app.rolled_out(&soak.client).await,
                &soak.ledger,
            );
            if view.phase == "Progressing"
                && view.state == "StepPaused"
                && MANUAL_STEPS.contains(&view.step)
            {
                let _ = app.approve(&soak.client, &view, &soak.ledger, false).await;
            }
            if view.phase != "Healthy" {
                waiting.push((
                    app.key.clone(),
                    format!(
                        "{} step {} {}: {}",
                        view.phase, view.step, view.state, view.message
                    ),
                ));
            }
        }
        if waiting.is_empty() {
            return Ok(());
        }
        if start.elapsed() > RECOVERY_DEADLINE * 2 {
            return Err(waiting
                .into_iter()
                .map(|(key, seen)| Violation {
                    object: format!("Rollout {key}"),
                    field: "status.phase".into(),
                    detail: format!(
                        "not Healthy {:?} after the soak: {seen}",
                        RECOVERY_DEADLINE * 2
                    ),
                })
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the Rollouts are gone and nothing of ours is left on the workloads, nor canary
/// Services or Ingresses; what is still left at the deadline is returned.
async fn wait_nothing_left(soak: &Soak) -> Vec<Violation> {
    let start = Instant::now();
    loop {
        let mut left = Vec::new();
        for app in &soak.apps {
            if let Ok(Some(view)) = observe::rollout(&soak.client, &app.namespace).await {
                left.push(Violation {
                    object: format!("Rollout {}", view.key),
                    field: "metadata.finalizers".into(),
                    detail: format!(
                        "not gone after its deletion: {} {}",
                        view.phase, view.message
                    ),
                });
            }
            if let Ok(Some(workload)) =
                observe::workload(&soak.client, &app.namespace, app.kind).await
            {
                left.extend(leftovers(&workload));
            }
            left.extend(canary_objects(soak, &app.namespace).await);
        }
        if left.is_empty() || start.elapsed() > RECOVERY_DEADLINE {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn canary_objects(soak: &Soak, namespace: &str) -> Vec<Violation> {
    use k8s_openapi::api::core::v1::Service;
    use k8s_openapi::api::networking::v1::Ingress;
    let services: kube::Api<Service> = kube::Api::namespaced(soak.client.clone(), namespace);
    let ingresses: kube::Api<Ingress> = kube::Api::namespaced(soak.client.clone(), namespace);
    let mut names: Vec<String> = Vec::new();
    if let Ok(list) = services.list(&ListParams::default()).await {
        names.extend(
            list.items
                .into_iter()
                .filter_map(|s| s.metadata.name)
                .map(|n| format!("Service {namespace}/{n}")),
        );
    }
    if let Ok(list) = ingresses.list(&ListParams::default()).await {
        names.extend(
            list.items
                .into_iter()
                .filter_map(|i| i.metadata.name)
                .map(|n| format!("Ingress {namespace}/{n}")),
        );
    }
    names
        .into_iter()
        .filter(|n| n.ends_with("-canary"))
        .map(|object| Violation {
            object,
            field: "metadata.name".into(),
            detail: "canary object left after every Rollout was deleted".into(),
        })
        .collect()
}

/// The objects of a namespace as `kubectl get` shows them, with the Rollout's status, for a report.
async fn diagnose(namespace: &str) -> String {
    let namespace = namespace.to_string();
    blocking(move || {
        let kubectl = |args: &[&str]| {
            let mut full = args.to_vec();
            full.extend(["-n", &namespace]);
            crate::cluster().kubectl_with_input(&full, "").unwrap_or_else(|e| e)
        };
        [
            kubectl(&["get", "rollout,deploy,sts,statefulsets.apps.kruise.io,clonesets.apps.kruise.io,pods", "-o", "wide", "--show-labels"]),
            kubectl(&["get", "rollout", "chaos", "-o", "jsonpath={.status}"]),
            kubectl(&["get", "sts,statefulsets.apps.kruise.io,clonesets.apps.kruise.io,deploy", "-o", "jsonpath={range .items[*]}{.kind} {.spec.updateStrategy} {.spec.paused} {.status}{\"\\n\"}{end}"]),
        ]
        .join("\n")
    })
    .await
}
