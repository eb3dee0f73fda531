//! Starts rollouts-webhook once per test process, registered by URL on the local cluster.
//! Its webhook configurations are copies only for namespaces labelled with this process's id,
//! so other test processes (and leftovers after this one exits) are never affected.

use crate::cluster::{cluster, repo_root};
use crate::service_account::{Service, service_kubeconfig};
use serde_json::{Value, json};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Label a namespace needs for this process's webhook to see it.
pub const NAMESPACE_LABEL: &str = "rollouts-e2e-webhook";

/// The running webhook.
#[derive(Debug)]
pub struct Webhook {
    /// HTTPS port of the admission endpoints on 127.0.0.1.
    pub port: u16,
    /// Plain-HTTP admin port on 127.0.0.1.
    pub admin_port: u16,
    /// Its log file.
    pub log: PathBuf,
    /// Value of `NAMESPACE_LABEL` for namespaces this webhook serves.
    pub selector: String,
    /// Its command line, to start it again after [`Webhook::kill`].
    command: Vec<String>,
    /// The process; it exits by itself when the test process does (`--parent-pid`).
    process: Mutex<std::process::Child>,
}

impl Webhook {
    /// The process id of the running webhook.
    pub fn pid(&self) -> u32 {
        self.process.lock().unwrap_or_else(|e| e.into_inner()).id()
    }

    /// Kills the webhook at once (SIGKILL), as a crash would. Admission of governed objects then
    /// fails (the configurations' failure policy) until [`Webhook::start_again`].
    pub fn kill(&self) {
        let mut process = self.process.lock().unwrap_or_else(|e| e.into_inner());
        let _ = process.kill();
        let _ = process.wait();
    }

    /// Starts the webhook again on the same ports (its log appended to) and waits until ready.
    pub fn start_again(&self) {
        let child = spawn(&self.command, &self.log, true);
        *self.process.lock().unwrap_or_else(|e| e.into_inner()) = child;
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let started = Instant::now();
        while !admin_ok(self.admin_port, "/readyz") {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "rollouts-webhook not ready after 60 s; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Starts the webhook binary with `args`, its output to `log` (appended to, or truncated).
fn spawn(args: &[String], log: &std::path::Path, append: bool) -> std::process::Child {
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .expect("log file");
    Command::new(repo_root().join("target/debug/rollouts-webhook"))
        .args(args)
        .env("KUBECONFIG", service_kubeconfig(Service::Webhook))
        .env("RUST_LOG", "info")
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .expect("rollouts-webhook starts")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Copies a webhook configuration manifest under a process-specific name, limited to
/// namespaces labelled for this process.
fn scoped_configuration(file: &str, name: &str, selector: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(file)).unwrap();
    let mut config: Value = serde_yaml::from_str(&text).unwrap();
    config["metadata"]["name"] = json!(name);
    for webhook in config["webhooks"].as_array_mut().unwrap() {
        webhook["namespaceSelector"] = json!({"matchLabels": {NAMESPACE_LABEL: selector}});
    }
    config
}

/// The webhook of this test process (certificate validity `cert_validity` so renewals happen
/// during the tests).
pub fn webhook() -> &'static Webhook {
    static WEBHOOK: OnceLock<Webhook> = OnceLock::new();
    WEBHOOK.get_or_init(|| {
        let cluster = cluster();
        crate::cluster::build_binary("rollouts-webhook", "rollouts-webhook");
        let pid = std::process::id();
        let selector = pid.to_string();
        let mutating = format!("e2e-{pid}-mutating");
        let validating = format!("e2e-{pid}-validating");
        reap_stale_processes_and_configurations();
        cluster.apply_repo_file("manifests/namespace.yaml");
        std::thread::scope(|scope| {
            // The harness may run inside a test's runtime: install on a runtime of its own.
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async { crate::crd::install_crds(&cluster.client().await).await });
            });
        });
        for config in [
            scoped_configuration("manifests/webhook/mutating.yaml", &mutating, &selector),
            scoped_configuration("manifests/webhook/validating.yaml", &validating, &selector),
        ] {
            let file = std::env::temp_dir().join(format!(
                "{}.json",
                config["metadata"]["name"].as_str().unwrap()
            ));
            std::fs::write(&file, config.to_string()).unwrap();
            cluster.kubectl(&["apply", "-f", &file.display().to_string()]);
        }
        let (port, admin_port) = (free_port(), free_port());
        let log = cluster
            .kubeconfig
            .with_file_name("logs")
            .join(format!("rollouts-webhook-{pid}.log"));
        let command: Vec<String> = [
            "--webhook-host",
            "127.0.0.1",
            "--bind",
            "127.0.0.1",
            "--webhook-port",
            &port.to_string(),
            "--admin-addr",
            &format!("127.0.0.1:{admin_port}"),
            "--mutating-configuration",
            &mutating,
            "--validating-configuration",
            &validating,
            "--secret-name",
            &format!("e2e-{pid}-webhook-certs"),
            "--cert-validity-seconds",
            "10",
            "--cert-check-seconds",
            "1",
            "--parent-pid",
            &pid.to_string(),
        ]
        .map(String::from)
        .to_vec();
        let process = Mutex::new(spawn(&command, &log, false));
        let webhook = Webhook {
            port,
            admin_port,
            log,
            selector,
            command,
            process,
        };
        webhook.wait_ready();
        webhook
    })
}

/// Waits until the webhook's cache holds the Rollout `yaml` defines: a server-side dry run of a
/// second Rollout for the same workload is refused only once the first one is cached.
pub async fn wait_webhook_sees(ns: &str, yaml: &str) {
    let rollout = yaml
        .split("\n---")
        .find(|doc| doc.contains("kind: Rollout"))
        .expect("a Rollout");
    let probe = rollout.replacen("name: ", "name: cache-probe-", 1);
    crate::wait::wait_for(
        "the webhook to cache the Rollout",
        crate::wait::DEFAULT_DEADLINE,
        || async {
            match cluster()
                .kubectl_with_input(&["apply", "--dry-run=server", "-n", ns, "-f", "-"], &probe)
            {
                Err(e) if e.contains("already governs") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

/// Removes what earlier test processes left behind: their webhook configurations (which would
/// block their namespaces' cleanup once their webhook is gone), after their processes exited.
fn reap_stale_processes_and_configurations() {
    let alive = |pid: &str| std::path::Path::new(&format!("/proc/{pid}")).exists();
    let started = Instant::now();
    // Services of an earlier test process exit within half a second of it (`--parent-pid`).
    while started.elapsed() < Duration::from_secs(5) && stale_service_running() {
        std::thread::sleep(Duration::from_millis(100));
    }
    for kind in [
        "mutatingwebhookconfigurations",
        "validatingwebhookconfigurations",
    ] {
        let names = cluster().kubectl(&["get", kind, "-o", "name"]);
        for name in names.lines() {
            let short = name.rsplit('/').next().unwrap_or_default();
            let pid = short
                .strip_prefix("e2e-")
                .and_then(|rest| rest.split('-').next());
            if pid.is_some_and(|p| p != std::process::id().to_string() && !alive(p)) {
                cluster().kubectl(&["delete", "--ignore-not-found", name]);
            }
        }
    }
    crate::service_account::reap_stale_cluster_rbac(alive);
}

/// A webhook or controller started for a test process that no longer exists.
fn stale_service_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(|e| e.ok()).any(|entry| {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_service = args
            .first()
            .is_some_and(|a| a.ends_with("rollouts-webhook") || a.ends_with("rollouts-controller"));
        let parent = args
            .iter()
            .position(|a| a == "--parent-pid")
            .and_then(|i| args.get(i + 1));
        is_service && parent.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists())
    })
}

/// Whether `GET <path>` on the admin port answers 200.
pub fn admin_ok(port: u16, path: &str) -> bool {
    admin_get(port, path).is_some_and(|(status, _)| status == 200)
}

/// `GET <path>` on the admin port: status and body.
pub fn admin_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// A TLS session with this process's webhook, verified against `ca_pem` (the CA in its
/// certificate Secret) and limited to `versions`; panics when the handshake fails.
pub async fn webhook_tls(
    ca_pem: &[u8],
    port: u16,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(ca_pem).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector
        .connect(name, tcp)
        .await
        .expect("the CA in the Secret verifies the served certificate")
}

/// The CA (PEM) in this process's webhook certificate Secret.
pub async fn webhook_ca(client: &kube::Client) -> Vec<u8> {
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), rollouts_api::crd::INSTALL_NAMESPACE);
    let secret = secrets
        .get(&format!("e2e-{}-webhook-certs", std::process::id()))
        .await
        .unwrap();
    secret.data.unwrap()["ca-cert.pem"].0.clone()
}
