//! The faults a soak injects and how it tells that the system recovered: the controllers (two
//! replicas under leader election, a crashed one replaced as a kubelet would), the webhook, a
//! restart of kube-apiserver, and a probe application whose updates must be frozen by the webhook
//! and whose Rollout must be reconciled by the controller.

use super::apps::Kind;
use crate::cluster::cluster;
use crate::controller::ControllerProcess;
use crate::webhook::Webhook;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use rollouts_api::v1beta1::Rollout;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The services under test: the webhook and two controller replicas.
pub struct Services {
    pub webhook: &'static Webhook,
    controllers: Mutex<Vec<ControllerProcess>>,
    started: AtomicU32,
    args: Vec<String>,
}

impl Services {
    /// Starts two controllers that elect a leader on a Lease of `lease_seconds` (blocking).
    pub fn start(webhook: &'static Webhook, lease_seconds: u64) -> Self {
        let args = vec![
            "--lease-name".into(),
            crate::service_account::e2e_lease(),
            "--namespace".into(),
            rollouts_api::crd::INSTALL_NAMESPACE.into(),
            "--lease-duration-seconds".into(),
            lease_seconds.to_string(),
        ];
        let services = Self {
            webhook,
            controllers: Mutex::new(Vec::new()),
            started: AtomicU32::new(0),
            args,
        };
        for _ in 0..2 {
            let controller = services.spawn_controller();
            services.lock().push(controller);
        }
        services
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ControllerProcess>> {
        self.controllers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn_controller(&self) -> ControllerProcess {
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        ControllerProcess::start_with_election(&format!("chaos-{}-{n}", std::process::id()), &args)
    }

    /// Kills the leading controller (SIGKILL) and starts a replacement; false when no replica
    /// leads at the moment (nothing is killed then).
    pub fn kill_leader(&self) -> bool {
        let killed = {
            let mut controllers = self.lock();
            let leader = controllers
                .iter()
                .position(|c| c.leader_gauge().as_deref() == Some("1"));
            leader.map(|i| controllers.remove(i))
        };
        let Some(mut killed) = killed else {
            return false;
        };
        killed.kill();
        let replacement = self.spawn_controller();
        self.lock().push(replacement);
        true
    }

    /// Replaces controllers that exited by themselves (a replica that lost its Lease exits, and
    /// a kubelet would restart it); returns how many.
    pub fn replace_exited(&self) -> usize {
        let exited = {
            let mut controllers = self.lock();
            let before = controllers.len();
            controllers.retain_mut(|c| !c.exited());
            before - controllers.len()
        };
        for _ in 0..exited {
            let replacement = self.spawn_controller();
            self.lock().push(replacement);
        }
        exited
    }

    /// Whether one replica leads.
    pub fn has_leader(&self) -> bool {
        self.lock()
            .iter()
            .any(|c| c.leader_gauge().as_deref() == Some("1"))
    }
}

/// SIGKILLs kube-apiserver and waits until it serves again (the launcher restarts it).
pub fn restart_api_server() -> Result<(), String> {
    cluster().restart_component("kube-apiserver", std::time::Duration::ZERO)
}

/// A Deployment governed by a Rollout that never releases: the webhook must freeze a new
/// version of it (tried as a server-side dry run), and the controller must reconcile a change of
/// its Rollout.
pub struct Probe {
    pub namespace: String,
    tries: AtomicU32,
}

impl Probe {
    const KIND: Kind = Kind::DeploymentPartition;

    /// Applies the probe application in `namespace` (blocking).
    pub fn create(namespace: &str) -> Result<Self, String> {
        let kubectl =
            |yaml: &str| cluster().kubectl_with_input(&["apply", "-n", namespace, "-f", "-"], yaml);
        kubectl(&Self::KIND.rollout_yaml())?;
        kubectl(&Self::KIND.workload_yaml(1, 1, false))?;
        Ok(Self {
            namespace: namespace.into(),
            tries: AtomicU32::new(1),
        })
    }

    /// A new version of the probe is admitted frozen (blocking: a dry run through kubectl).
    pub fn webhook_freezes(&self) -> Result<(), String> {
        let version = 1000 + self.tries.fetch_add(1, Ordering::Relaxed);
        let yaml = Self::KIND.workload_yaml(version, 1, false);
        let out = cluster().kubectl_with_input(
            &[
                "apply",
                "--dry-run=server",
                "-n",
                &self.namespace,
                "-o",
                "json",
                "-f",
                "-",
            ],
            &yaml,
        )?;
        let answer: serde_json::Value = serde_json::from_str(&out).map_err(|e| e.to_string())?;
        // The probe's YAML also holds its Service, so kubectl answers with a List.
        let items = answer["items"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![answer.clone()]);
        let deployment = items
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .ok_or_else(|| format!("no Deployment in the dry run's answer: {out}"))?;
        match deployment["spec"]["paused"].as_bool() {
            Some(true) => Ok(()),
            _ => Err(format!(
                "a new version of the probe was admitted unfrozen: {}",
                deployment["spec"]
            )),
        }
    }

    /// The controller reconciles a change of the probe's Rollout: its status reaches the new
    /// generation.
    pub async fn controller_reconciles(
        &self,
        client: &Client,
        deadline: Duration,
    ) -> Result<(), String> {
        let api: Api<Rollout> = Api::namespaced(client.clone(), &self.namespace);
        let duration = 3 + i64::from(self.tries.fetch_add(1, Ordering::Relaxed) % 2);
        let patch = serde_json::json!([
            {"op": "replace", "path": "/spec/strategy/canary/steps/1/pause/duration", "value": duration}
        ]);
        let patched = api
            .patch(
                "chaos",
                &PatchParams::default(),
                &Patch::Json::<()>(serde_json::from_value(patch).unwrap()),
            )
            .await
            .map_err(|e| format!("patching the probe Rollout: {e}"))?;
        let generation = patched.metadata.generation.unwrap_or(0);
        let start = Instant::now();
        loop {
            let observed = api
                .get("chaos")
                .await
                .ok()
                .and_then(|r| r.status)
                .and_then(|s| s.observed_generation);
            if observed.is_some_and(|o| o >= generation) {
                return Ok(());
            }
            if start.elapsed() > deadline {
                return Err(format!(
                    "the probe Rollout's status is at generation {observed:?}, not {generation}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
