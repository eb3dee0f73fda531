//! One N: cold start, writes, RSS, idle CPU and restart.

use crate::common::{BENCH_LABEL, log};
use crate::objects::{
    CREATE_RETRIES, FIRST_RETRY, create_objects, delete_bench_namespaces, list_all, nodes_for,
    pod_capacity, rollout_resource, wait_deployments_settled,
};
use crate::processes::{http_get, wait_ready};
use crate::procfs::{mib, parse_conflicts, parse_reconciles, proc_status_kib};
use crate::report::{Row, opt};
use crate::watch::{Watch, watch_rollouts};
use crate::{Harness, QUIET, QUIET_LIMIT};
use kube::api::{Api, DynamicObject};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

// One N.

impl Harness {
    pub(crate) async fn measure(&self, n: usize, row: &mut Row) -> Result<(), String> {
        let cli = &self.cli;
        log(format!(
            "=== N={n}: {n} Deployments ({} pod(s) each) and {n} Rollouts in {} namespaces",
            cli.replicas, row.namespaces
        ));
        let pods = n * cli.replicas as usize;
        self.cluster_up(pods).await?;
        let client = self.client().await?;
        let (nodes, capacity) = pod_capacity(&client).await?;
        row.nodes = nodes;
        if capacity < pods + 10 {
            return Err(format!(
                "the cluster's {nodes} nodes take {capacity} pods, fewer than the {pods} needed (and 10 spare); start it with K8SCLUSTER_NODES={} or let this harness start its own",
                nodes_for(pods)
            ));
        }
        // Leftovers of an earlier run in a reused cluster (no controller runs: finalizers go).
        delete_bench_namespaces(&client, Duration::from_secs(300), Duration::ZERO).await?;
        self.install()?;
        let webhook_pid = self.start_webhook(n).await?;

        let started = Instant::now();
        create_objects(&client, n, cli.per_namespace, cli.replicas, cli.concurrency).await?;
        row.create_seconds = started.elapsed().as_secs_f64();
        row.create_retries = CREATE_RETRIES.swap(0, Ordering::SeqCst);
        log(format!(
            "created {n} Deployments and {n} Rollouts in {:.1} s ({:.0} objects/s, concurrency {}); {} retried requests{}",
            row.create_seconds,
            2.0 * n as f64 / row.create_seconds,
            cli.concurrency,
            row.create_retries,
            FIRST_RETRY
                .lock()
                .unwrap()
                .take()
                .map_or(String::new(), |e| format!(", first error: {e}"))
        ));
        let started = Instant::now();
        let settle_limit = Duration::from_secs(cli.settle_timeout.unwrap_or(300 + n as u64 / 4));
        wait_deployments_settled(&client, n, cli.replicas, settle_limit).await?;
        row.settle_seconds = started.elapsed().as_secs_f64();
        log(format!(
            "Deployments settled {:.1} s after the creates",
            row.settle_seconds
        ));

        // The watch starts at the list's version, before the controller: it sees every write.
        let rollouts: Api<DynamicObject> = Api::all_with(client.clone(), &rollout_resource());
        let (items, version) = list_all(&rollouts, &format!("{BENCH_LABEL}=true")).await?;
        if items.len() != n {
            return Err(format!("{} Rollouts listed, {n} expected", items.len()));
        }
        let watch = Arc::new(Watch::default());
        items.iter().for_each(|o| watch.note(o));
        if watch.phased() > 0 {
            return Err(format!(
                "{} Rollouts had a phase before the controller started",
                watch.phased()
            ));
        }
        let watcher = tokio::spawn(watch_rollouts(rollouts, version, watch.clone()));
        let result = self.measure_controller(n, row, webhook_pid, &watch).await;
        watcher.abort();
        row.watch_relists = watch.relists.load(Ordering::SeqCst);
        result
    }

    pub(crate) async fn measure_controller(
        &self,
        n: usize,
        row: &mut Row,
        webhook_pid: u32,
        watch: &Watch,
    ) -> Result<(), String> {
        let cli = &self.cli;
        let webhook_cpu_before = self.cpu_seconds(webhook_pid);
        // 1. Cold start: until every Rollout has a phase.
        let started = Instant::now();
        let controller_pid = self.start_controller(&format!("controller-{n}.log"))?;
        log(format!("controller started (pid {controller_pid})"));
        let observe_limit =
            Duration::from_secs(cli.observe_timeout.unwrap_or((n as u64 / 5).max(600)));
        let mut last_report = Instant::now();
        loop {
            if row.controller_ready_seconds.is_none()
                && matches!(
                    http_get(cli.controller_admin_port, "/readyz").await,
                    Some((200, _))
                )
            {
                row.controller_ready_seconds = Some(started.elapsed().as_secs_f64());
            }
            let phased = watch.phased();
            if phased >= n {
                break;
            }
            if !self.child_alive(|o| &mut o.controller) {
                return Err(format!(
                    "the controller exited during the cold start (log {}/controller-{n}.log)",
                    self.paths.logs.display()
                ));
            }
            if started.elapsed() > observe_limit {
                return Err(format!(
                    "only {phased}/{n} Rollouts had a phase after {} s (--observe-timeout)",
                    observe_limit.as_secs()
                ));
            }
            if last_report.elapsed() > Duration::from_secs(30) {
                log(format!(
                    "  {phased}/{n} Rollouts have a phase after {:.0} s, {} MODIFIED events",
                    started.elapsed().as_secs_f64(),
                    watch.modified()
                ));
                last_report = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let all = {
            let phased = watch.phased.lock().unwrap();
            phased
                .values()
                .map(|t| t.duration_since(started))
                .max()
                .unwrap_or_default()
        };
        row.all_observed_seconds = Some(all.as_secs_f64());
        row.observed_within_60s = watch
            .phased
            .lock()
            .unwrap()
            .values()
            .filter(|t| t.duration_since(started) <= Duration::from_secs(60))
            .count();
        row.all_observed_within_60s = row.observed_within_60s >= n;
        row.modified_until_all_observed = watch.modified();
        log(format!(
            "every Rollout has a phase {:.1} s after the controller started (ready after {} s); {} MODIFIED events so far",
            all.as_secs_f64(),
            opt(row.controller_ready_seconds, 1),
            row.modified_until_all_observed
        ));

        // 2. Until the writes stop.
        let quiet_started = Instant::now();
        loop {
            let quiet = watch.quiet_for().unwrap_or(quiet_started.elapsed());
            if quiet >= QUIET || quiet_started.elapsed() > QUIET_LIMIT {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let quiet = watch.quiet_for().unwrap_or(quiet_started.elapsed());
        if quiet < QUIET {
            log(format!(
                "WARNING: Rollouts were still being written {} s after every one had a phase",
                QUIET_LIMIT.as_secs()
            ));
        }
        // The window ends at the last write (the quiet tail is not part of it).
        row.start_window_seconds = (started.elapsed().saturating_sub(quiet)).as_secs_f64();
        row.start_rollout_modified = watch.modified();
        row.start_modified_per_rollout = row.start_rollout_modified as f64 / n as f64;
        let metrics = http_get(cli.controller_admin_port, "/metrics")
            .await
            .map(|m| m.1)
            .unwrap_or_default();
        let (conflicts, errors) = parse_conflicts(&metrics);
        row.start_reconciles = parse_reconciles(&metrics);
        row.conflicts = conflicts;
        row.reconcile_errors = errors;
        row.controller_start_cpu_seconds = self.cpu_seconds(controller_pid);
        row.webhook_start_cpu_seconds = self.cpu_seconds(webhook_pid) - webhook_cpu_before;

        // 3. Memory after settling.
        row.controller_rss_mib = mib(proc_status_kib(controller_pid, "VmRSS"));
        row.controller_hwm_mib = mib(proc_status_kib(controller_pid, "VmHWM"));
        row.webhook_rss_mib = mib(proc_status_kib(webhook_pid, "VmRSS"));
        row.webhook_hwm_mib = mib(proc_status_kib(webhook_pid, "VmHWM"));
        log(format!(
            "writes stopped: {} MODIFIED ({:.2} per Rollout), conflicts {}, controller {:.1} CPU-s, RSS controller {:.1} MiB (HWM {:.1}), webhook {:.1} MiB (HWM {:.1})",
            row.start_rollout_modified,
            row.start_modified_per_rollout,
            row.conflicts.map_or("n/a".into(), |c| c.to_string()),
            row.controller_start_cpu_seconds,
            row.controller_rss_mib,
            row.controller_hwm_mib,
            row.webhook_rss_mib,
            row.webhook_hwm_mib
        ));

        // 4. Idle CPU.
        let (c0, w0, m0) = (
            self.cpu_seconds(controller_pid),
            self.cpu_seconds(webhook_pid),
            watch.modified(),
        );
        let idle_started = Instant::now();
        tokio::time::sleep(Duration::from_secs(cli.idle_seconds)).await;
        let reconciles = http_get(cli.controller_admin_port, "/metrics")
            .await
            .and_then(|m| parse_reconciles(&m.1));
        row.idle_reconciles = reconciles
            .zip(row.start_reconciles)
            .map(|(after, before)| after.saturating_sub(before));
        let elapsed = idle_started.elapsed().as_secs_f64();
        row.idle_seconds = elapsed;
        row.controller_idle_cpu_seconds = self.cpu_seconds(controller_pid) - c0;
        row.webhook_idle_cpu_seconds = self.cpu_seconds(webhook_pid) - w0;
        row.controller_idle_cpu_percent = 100.0 * row.controller_idle_cpu_seconds / elapsed;
        row.webhook_idle_cpu_percent = 100.0 * row.webhook_idle_cpu_seconds / elapsed;
        row.idle_rollout_modified = watch.modified() - m0;
        if !self.child_alive(|o| &mut o.controller) || !self.child_alive(|o| &mut o.webhook) {
            return Err("a service exited during the idle measurement".into());
        }
        log(format!(
            "idle {:.0} s: controller {:.2} CPU-s ({:.2} %, {} reconciles), webhook {:.2} CPU-s ({:.2} %), {} MODIFIED",
            elapsed,
            row.controller_idle_cpu_seconds,
            row.controller_idle_cpu_percent,
            row.idle_reconciles.map_or("n/a".into(), |r| r.to_string()),
            row.webhook_idle_cpu_seconds,
            row.webhook_idle_cpu_percent,
            row.idle_rollout_modified
        ));

        // 5. Restart.
        row.restart_stop_seconds = self
            .stop_child(|o| &mut o.controller, Duration::from_secs(30))
            .map(|d| d.as_secs_f64());
        let m0 = watch.modified();
        let pid = self.start_controller(&format!("controller-{n}-restart.log"))?;
        let ready = wait_ready(cli.controller_admin_port, Duration::from_secs(300), || {
            self.child_alive(|o| &mut o.controller)
        })
        .await
        .map_err(|e| format!("restarted controller: {e}"))?;
        row.restart_ready_seconds = Some(ready.as_secs_f64());
        let m1 = watch.modified();
        row.restart_modified_before_ready = m1 - m0;
        tokio::time::sleep(Duration::from_secs(cli.restart_seconds)).await;
        row.restart_rollout_modified = watch.modified() - m1;
        let metrics = http_get(cli.controller_admin_port, "/metrics")
            .await
            .map(|m| m.1)
            .unwrap_or_default();
        row.restart_conflicts = parse_conflicts(&metrics).0;
        row.restart_reconciles = parse_reconciles(&metrics);
        row.restart_controller_rss_mib = mib(proc_status_kib(pid, "VmRSS"));
        log(format!(
            "restart: stopped in {} s, ready in {:.1} s, {} MODIFIED before ready and {} in the {} s after; {} reconciles",
            opt(row.restart_stop_seconds, 1),
            ready.as_secs_f64(),
            row.restart_modified_before_ready,
            row.restart_rollout_modified,
            cli.restart_seconds,
            row.restart_reconciles
                .map_or("n/a".into(), |r| r.to_string())
        ));
        Ok(())
    }
}
