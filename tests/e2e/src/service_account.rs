//! The services' own identities in the e2e suite: the RBAC of manifests/rbac applied under names
//! of this test process (the object names it grants narrowed to this process's webhook
//! configurations, certificate Secret and Leases), and a kubeconfig per service that
//! authenticates as its ServiceAccount with a token from the TokenRequest API. The webhook and
//! the controller of every e2e test run with it, so each test proves the RBAC is sufficient.

use crate::cluster::{cluster, repo_root};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The namespace the services' ServiceAccounts live in.
const NAMESPACE: &str = "kruise-rollout";

/// A service of this project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// rollouts-webhook.
    Webhook,
    /// rollouts-controller.
    Controller,
}

impl Service {
    fn file(self) -> &'static str {
        match self {
            Service::Webhook => "manifests/rbac/webhook.yaml",
            Service::Controller => "manifests/rbac/controller.yaml",
        }
    }

    fn account(self) -> &'static str {
        match self {
            Service::Webhook => "rollouts-webhook",
            Service::Controller => "rollouts-controller",
        }
    }
}

/// The prefix of every name this test process gives.
pub fn e2e_prefix() -> String {
    format!("e2e-{}", std::process::id())
}

/// The Lease a leader-election test of this process uses (granted to its controllers).
pub fn e2e_lease() -> String {
    format!("e2e-leader-{}", std::process::id())
}

/// `rbac` (a manifests/rbac file) with this process's names: objects and ServiceAccounts
/// prefixed, the webhook configurations, certificate Secret and Lease it may touch renamed to
/// those of this process's services.
pub fn scoped_rbac(rbac: &str) -> String {
    let prefix = e2e_prefix();
    let renamed = [
        (
            "kruise-rollout-mutating-webhook-configuration",
            format!("{prefix}-mutating"),
        ),
        (
            "kruise-rollout-validating-webhook-configuration",
            format!("{prefix}-validating"),
        ),
        (
            "kruise-rollout-webhook-certs",
            format!("{prefix}-webhook-certs"),
        ),
        (
            r#"resourceNames: ["kruise-rollout-controller"]"#,
            format!(
                r#"resourceNames: ["kruise-rollout-controller", "{}"]"#,
                e2e_lease()
            ),
        ),
    ];
    let text = renamed
        .iter()
        .fold(rbac.to_string(), |text, (from, to)| text.replace(from, to));
    text.lines()
        .map(|line| match line.trim_start().strip_prefix("name: ") {
            Some(name) if name.starts_with("kruise-rollout-") || name.starts_with("rollouts-") => {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}name: {prefix}-{name}")
            }
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A kubeconfig of the local cluster authenticating as `service`'s ServiceAccount of this
/// process (its RBAC applied first); made once per process.
pub fn service_kubeconfig(service: Service) -> &'static PathBuf {
    static WEBHOOK: OnceLock<PathBuf> = OnceLock::new();
    static CONTROLLER: OnceLock<PathBuf> = OnceLock::new();
    let slot = match service {
        Service::Webhook => &WEBHOOK,
        Service::Controller => &CONTROLLER,
    };
    slot.get_or_init(|| make_kubeconfig(service))
}

fn make_kubeconfig(service: Service) -> PathBuf {
    let cluster = cluster();
    cluster.apply_repo_file("manifests/namespace.yaml");
    let path = repo_root().join(service.file());
    let rbac = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let scoped = scoped_rbac(&rbac);
    if let Err(e) = cluster.kubectl_with_input(&["apply", "-f", "-"], &scoped) {
        panic!(
            "applying {} for this test process: {e}\n{scoped}",
            path.display()
        );
    }
    let account = format!("{}-{}", e2e_prefix(), service.account());
    let token = cluster.kubectl(&[
        "create",
        "token",
        &account,
        "-n",
        NAMESPACE,
        "--duration=48h",
    ]);
    let admin = std::fs::read_to_string(&cluster.kubeconfig).expect("the admin kubeconfig");
    let mut config: serde_yaml::Value = serde_yaml::from_str(&admin).expect("kubeconfig YAML");
    config["users"][0]["name"] = account.clone().into();
    config["users"][0]["user"] = serde_yaml::from_str(&format!("token: {}", token.trim())).unwrap();
    config["contexts"][0]["context"]["user"] = account.clone().into();
    let folder = credentials_folder();
    std::fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("{}: {e}", folder.display()));
    let file = folder.join(format!("{account}.kubeconfig"));
    std::fs::write(&file, serde_yaml::to_string(&config).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    file
}

/// Where the test processes keep their services' kubeconfigs, in the cluster's folder.
fn credentials_folder() -> PathBuf {
    cluster().kubeconfig.with_file_name("e2e-credentials")
}

/// The pid in a name `e2e-<pid>-...`, if it is one.
fn pid_of(name: &str) -> Option<&str> {
    name.strip_prefix("e2e-")?.split('-').next()
}

/// The RBAC objects and kubeconfigs an earlier test process left (named `e2e-<pid>-...`), once
/// that process has exited.
pub fn reap_stale_cluster_rbac(alive: impl Fn(&str) -> bool) {
    let stale =
        |name: &str| pid_of(name).is_some_and(|p| p != std::process::id().to_string() && !alive(p));
    let kinds = [
        ("clusterrolebindings", None),
        ("clusterroles", None),
        ("rolebindings", Some(NAMESPACE)),
        ("roles", Some(NAMESPACE)),
        ("serviceaccounts", Some(NAMESPACE)),
    ];
    for (kind, namespace) in kinds {
        let mut args = vec!["get", kind, "-o", "name"];
        args.extend(namespace.iter().flat_map(|ns| ["-n", *ns]));
        for name in cluster().kubectl(&args).lines() {
            if stale(name.rsplit('/').next().unwrap_or_default()) {
                let mut delete = vec!["delete", "--ignore-not-found", name];
                delete.extend(namespace.iter().flat_map(|ns| ["-n", *ns]));
                cluster().kubectl(&delete);
            }
        }
    }
    for entry in std::fs::read_dir(credentials_folder())
        .into_iter()
        .flatten()
        .flatten()
    {
        if stale(&entry.file_name().to_string_lossy()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
