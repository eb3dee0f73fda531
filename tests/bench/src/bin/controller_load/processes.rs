//! Processes: the cluster (scripts of tests/cluster), the webhook and the controller.

use crate::common::log;
use crate::objects::{delete_bench_namespaces, nodes_for};
use crate::procfs::cpu_ticks;
use crate::{Harness, Owned};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Processes: the cluster (scripts of tests/cluster), the webhook and the controller.

impl Harness {
    pub(crate) fn script(&self, name: &str) -> Command {
        let mut command = Command::new(self.paths.root.join("tests/cluster").join(name));
        command.arg(&self.paths.cluster_dir);
        command
    }

    pub(crate) fn cluster_is_running(&self) -> bool {
        Command::new(self.paths.root.join("tests/cluster/bin/k8scluster"))
            .args(["status", "--dir"])
            .arg(&self.paths.cluster_dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts the cluster (or reuses one running for the folder). A started cluster gets enough
    /// fake nodes for `pods` pods (KWOK nodes take 110 pods each).
    pub(crate) async fn cluster_up(&self, pods: usize) -> Result<(), String> {
        let running = self.cluster_is_running();
        if !running {
            // Marked before the start, so that a failure half-way still stops it.
            self.owned.lock().unwrap().cluster_started = true;
        }
        let started = Instant::now();
        let mut up = self.script("up.sh");
        up.env("K8SCLUSTER_NODES", nodes_for(pods).to_string());
        up.stdout(Stdio::null());
        let status = tokio::task::spawn_blocking(move || up.status())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("tests/cluster/up.sh: {e}"))?;
        if !status.success() {
            return Err(format!("tests/cluster/up.sh failed ({status})"));
        }
        self.owned.lock().unwrap().cluster_running = true;
        log(format!(
            "cluster {} in {:.1} s ({})",
            if running { "reused" } else { "started" },
            started.elapsed().as_secs_f64(),
            self.paths.cluster_dir.display()
        ));
        Ok(())
    }

    pub(crate) fn cluster_down(&self) {
        log("stopping the cluster this run started");
        let _ = self.script("down.sh").stdout(Stdio::null()).status();
        self.owned.lock().unwrap().cluster_running = false;
    }

    pub(crate) fn kubectl(&self, args: &[&str]) -> Result<String, String> {
        let output = Command::new(&self.paths.kubectl)
            .args(args)
            .env("KUBECONFIG", &self.paths.kubeconfig)
            .output()
            .map_err(|e| format!("kubectl: {e}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let stderr = stderr.trim();
            let skip = stderr.chars().count().saturating_sub(600);
            let tail: String = stderr.chars().skip(skip).collect();
            Err(format!("kubectl {}: {tail}", args.join(" ")))
        }
    }

    /// The namespace, the Rollout CRD and the webhook configurations, as services.sh installs
    /// them (the CRD replaced, not applied: the webhook points its conversion at a URL).
    pub(crate) fn install(&self) -> Result<(), String> {
        let m = &self.paths.manifests;
        let s = |p: PathBuf| p.display().to_string();
        self.kubectl(&["apply", "-f", &s(m.join("namespace.yaml"))])?;
        let crd = s(m.join("crds/rollouts.kruise.io_rollouts.yaml"));
        if self.kubectl(&["replace", "-f", &crd]).is_err() {
            self.kubectl(&["create", "-f", &crd])?;
        }
        self.kubectl(&[
            "wait",
            "--for",
            "condition=Established",
            "--timeout=60s",
            "crd/rollouts.rollouts.kruise.io",
        ])?;
        self.owned.lock().unwrap().webhook_configs_installed = true;
        // Deleted first: the configurations a webhook has pointed at its URL cannot take an
        // apply that brings back the Service reference (clientConfig would name both).
        self.uninstall_webhook_configs();
        self.kubectl(&[
            "create",
            "-f",
            &s(m.join("webhook/mutating.yaml")),
            "-f",
            &s(m.join("webhook/validating.yaml")),
        ])?;
        Ok(())
    }

    pub(crate) fn uninstall_webhook_configs(&self) {
        let m = &self.paths.manifests;
        let _ = self.kubectl(&[
            "delete",
            "--ignore-not-found",
            "-f",
            &m.join("webhook/mutating.yaml").display().to_string(),
            "-f",
            &m.join("webhook/validating.yaml").display().to_string(),
        ]);
    }

    pub(crate) fn spawn(
        &self,
        bin: &Path,
        args: &[String],
        log_name: &str,
    ) -> Result<Child, String> {
        let log_path = self.paths.logs.join(log_name);
        let file =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let err = file.try_clone().map_err(|e| e.to_string())?;
        Command::new(bin)
            .args(args)
            .env("KUBECONFIG", &self.paths.kubeconfig)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))
    }

    pub(crate) async fn start_webhook(&self, n: usize) -> Result<u32, String> {
        let cli = &self.cli;
        let args: Vec<String> = [
            "--webhook-host",
            "127.0.0.1",
            "--bind",
            "127.0.0.1",
            "--webhook-port",
            &cli.webhook_port.to_string(),
            "--admin-addr",
            &format!("127.0.0.1:{}", cli.webhook_admin_port),
            "--parent-pid",
            &std::process::id().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let child = self.spawn(&self.paths.webhook_bin, &args, &format!("webhook-{n}.log"))?;
        let pid = child.id();
        self.owned.lock().unwrap().webhook = Some(child);
        let started = Instant::now();
        wait_ready(cli.webhook_admin_port, Duration::from_secs(60), || {
            self.child_alive(|o| &mut o.webhook)
        })
        .await
        .map_err(|e| {
            format!(
                "webhook: {e} (log {}/webhook-{n}.log)",
                self.paths.logs.display()
            )
        })?;
        log(format!(
            "webhook ready in {:.1} s (pid {pid}, https://127.0.0.1:{})",
            started.elapsed().as_secs_f64(),
            cli.webhook_port
        ));
        Ok(pid)
    }

    pub(crate) fn start_controller(&self, log_name: &str) -> Result<u32, String> {
        let mut args = vec![
            "--no-leader-election".to_string(),
            "--admin-addr".to_string(),
            format!("127.0.0.1:{}", self.cli.controller_admin_port),
            "--parent-pid".to_string(),
            std::process::id().to_string(),
        ];
        args.extend(self.cli.controller_args.iter().cloned());
        let child = self.spawn(&self.paths.controller_bin, &args, log_name)?;
        let pid = child.id();
        self.owned.lock().unwrap().controller = Some(child);
        Ok(pid)
    }

    pub(crate) fn child_alive(&self, which: impl Fn(&mut Owned) -> &mut Option<Child>) -> bool {
        let mut owned = self.owned.lock().unwrap();
        match which(&mut owned) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGTERM, then SIGKILL after `grace`. Returns how long the process took to exit.
    pub(crate) fn stop_child(
        &self,
        which: impl Fn(&mut Owned) -> &mut Option<Child>,
        grace: Duration,
    ) -> Option<Duration> {
        let mut child = which(&mut self.owned.lock().unwrap()).take()?;
        let started = Instant::now();
        if matches!(child.try_wait(), Ok(Some(_))) {
            return Some(Duration::ZERO);
        }
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while started.elapsed() < grace {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return Some(started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        log(format!(
            "pid {} did not exit {:.0} s after SIGTERM; killing it",
            child.id(),
            grace.as_secs_f64()
        ));
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// Between two N: a fresh cluster when this run started it, else the namespaces deleted.
    pub(crate) async fn between_runs(&self) -> Result<(), String> {
        let started_it = self.owned.lock().unwrap().cluster_started;
        if started_it {
            self.stop_child(|o| &mut o.controller, Duration::from_secs(10));
            self.stop_child(|o| &mut o.webhook, Duration::from_secs(10));
            self.cluster_down();
            self.owned.lock().unwrap().webhook_configs_installed = false;
        } else {
            // The controller removes the finalizers while the namespaces go away.
            let client = self.client().await?;
            delete_bench_namespaces(&client, Duration::from_secs(900), Duration::from_secs(450))
                .await?;
            self.stop_child(|o| &mut o.controller, Duration::from_secs(10));
            self.stop_child(|o| &mut o.webhook, Duration::from_secs(10));
        }
        Ok(())
    }

    /// Stops what this run started: services, webhook configurations, the cluster.
    pub(crate) fn cleanup(&self) {
        self.stop_child(|o| &mut o.controller, Duration::from_secs(10));
        self.stop_child(|o| &mut o.webhook, Duration::from_secs(10));
        let (started, running, configs) = {
            let o = self.owned.lock().unwrap();
            (
                o.cluster_started,
                o.cluster_running,
                o.webhook_configs_installed,
            )
        };
        if started {
            self.cluster_down();
        } else if running && configs {
            // failurePolicy is Fail: a reused cluster must not keep pointing at a stopped webhook.
            self.uninstall_webhook_configs();
            log("removed the webhook configurations from the reused cluster");
        }
    }

    pub(crate) async fn client(&self) -> Result<kube::Client, String> {
        let kubeconfig = Kubeconfig::read_from(&self.paths.kubeconfig)
            .map_err(|e| format!("{}: {e}", self.paths.kubeconfig.display()))?;
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| e.to_string())?;
        if !["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|host| config.cluster_url.host() == Some(*host))
        {
            return Err(format!(
                "{} points at {}, not a loopback address",
                self.paths.kubeconfig.display(),
                config.cluster_url
            ));
        }
        kube::Client::try_from(config).map_err(|e| e.to_string())
    }

    pub(crate) fn cpu_seconds(&self, pid: u32) -> f64 {
        cpu_ticks(pid) as f64 / self.clock_ticks as f64
    }
}

/// Polls `/readyz` on the admin port until it answers 200, the process dies or time runs out.
pub(crate) async fn wait_ready(
    port: u16,
    limit: Duration,
    alive: impl Fn() -> bool,
) -> Result<Duration, String> {
    let started = Instant::now();
    loop {
        if matches!(http_get(port, "/readyz").await, Some((200, _))) {
            return Ok(started.elapsed());
        }
        if !alive() {
            return Err("exited before it became ready".into());
        }
        if started.elapsed() > limit {
            return Err(format!("not ready after {} s", limit.as_secs()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A plain HTTP/1.0 GET on 127.0.0.1: status code and body.
pub(crate) async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).ok()?;
        let text = String::from_utf8_lossy(&bytes);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let code = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((code, body.to_string()))
    })
    .await
    .ok()
    .flatten()
}
