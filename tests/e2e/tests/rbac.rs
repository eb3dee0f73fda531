//! The services' RBAC (manifests/rbac) is least privilege: what each ServiceAccount may do is
//! what its service needs (every other e2e test runs the services under these accounts, which
//! proves it is enough), and nothing more, asked of the API server with `kubectl auth can-i`.

use rollouts_e2e::service_account::{Service, e2e_prefix, service_kubeconfig};
use rollouts_e2e::*;

/// Whether the ServiceAccount of `service` (this process's copy) may `verb` `resource` in
/// `namespace` (cluster-wide when `None`), optionally the object `name`.
fn can(service: Service, verb: &str, resource: &str, namespace: Option<&str>) -> bool {
    service_kubeconfig(service);
    let account = match service {
        Service::Webhook => "rollouts-webhook",
        Service::Controller => "rollouts-controller",
    };
    let user = format!(
        "system:serviceaccount:kruise-rollout:{}-{account}",
        e2e_prefix()
    );
    let mut args = vec!["auth", "can-i", verb, resource, "--as", user.as_str()];
    match namespace {
        Some(namespace) => args.extend(["-n", namespace]),
        None => args.push("--all-namespaces"),
    }
    match cluster().tool("kubectl", &args, None) {
        Ok(answer) => answer.trim() == "yes",
        Err(error) if error.trim().is_empty() || error.trim().starts_with("Warning:") => false,
        Err(error) => panic!("kubectl auth can-i {verb} {resource}: {error}"),
    }
}

#[test]
fn the_controller_may_do_what_releases_need_and_nothing_else() {
    let c = Service::Controller;
    let ns = Some("default");
    for (verb, resource) in [
        ("patch", "deployments.apps"),
        ("create", "deployments.apps"),
        ("patch", "statefulsets.apps"),
        ("patch", "clonesets.apps.kruise.io"),
        ("patch", "replicasets.apps"),
        ("delete", "pods"),
        ("patch", "rollouts.rollouts.kruise.io"),
        ("patch", "rollouts.rollouts.kruise.io/status"),
        ("watch", "trafficroutings.rollouts.kruise.io"),
        ("patch", "trafficroutings.rollouts.kruise.io"),
        ("patch", "trafficroutings.rollouts.kruise.io/status"),
        ("create", "services"),
        ("patch", "ingresses.networking.k8s.io"),
        ("patch", "httproutes.gateway.networking.k8s.io"),
        ("patch", "horizontalpodautoscalers.autoscaling"),
        ("get", "secrets"),
        ("create", "events"),
    ] {
        assert!(
            can(c, verb, resource, ns),
            "the controller must {verb} {resource}"
        );
    }
    for (verb, resource) in [
        // Workloads it does not own are only patched, never removed or made.
        ("delete", "statefulsets.apps"),
        ("delete", "daemonsets.apps"),
        ("delete", "clonesets.apps.kruise.io"),
        ("create", "statefulsets.apps"),
        ("delete", "replicasets.apps"),
        ("create", "pods"),
        ("update", "deployments.apps"),
        // Secrets: read by name for analysis, never listed, watched or written.
        ("list", "secrets"),
        ("watch", "secrets"),
        ("update", "secrets"),
        ("create", "secrets"),
        // ConfigMaps: only the scripts ConfigMap, by name, in its own namespace.
        ("get", "configmaps"),
        ("list", "configmaps"),
        ("delete", "rollouts.rollouts.kruise.io"),
        ("delete", "trafficroutings.rollouts.kruise.io"),
        ("create", "trafficroutings.rollouts.kruise.io"),
        ("create", "rollouts.rollouts.kruise.io"),
        ("create", "roles.rbac.authorization.k8s.io"),
        (
            "patch",
            "mutatingwebhookconfigurations.admissionregistration.k8s.io",
        ),
        ("patch", "customresourcedefinitions.apiextensions.k8s.io"),
    ] {
        assert!(
            !can(c, verb, resource, ns),
            "the controller must not {verb} {resource}"
        );
    }
    assert!(
        can(c, "list", "deployments.apps", None),
        "watches all namespaces"
    );
    assert!(!can(c, "list", "secrets", None));
    assert!(!can(c, "delete", "namespaces", None));
}

#[test]
fn the_webhook_may_only_read_its_caches_and_keep_its_own_certificate() {
    let w = Service::Webhook;
    assert!(can(w, "list", "rollouts.rollouts.kruise.io", None));
    assert!(can(w, "watch", "replicasets.apps", None));
    let own = format!("secrets/{}-webhook-certs", e2e_prefix());
    assert!(can(w, "update", &own, Some("kruise-rollout")));
    assert!(can(w, "create", "secrets", Some("kruise-rollout")));
    let mutating = format!(
        "mutatingwebhookconfigurations.admissionregistration.k8s.io/{}-mutating",
        e2e_prefix()
    );
    assert!(can(w, "update", &mutating, None));
    for (verb, resource, namespace) in [
        ("get", "secrets/another", Some("kruise-rollout")),
        ("get", "secrets", Some("default")),
        ("list", "secrets", Some("kruise-rollout")),
        (
            "update",
            "mutatingwebhookconfigurations.admissionregistration.k8s.io/someone-else",
            None,
        ),
        ("patch", "deployments.apps", Some("default")),
        ("list", "pods", Some("default")),
        ("patch", "rollouts.rollouts.kruise.io", Some("default")),
        ("create", "events", Some("default")),
    ] {
        assert!(
            !can(w, verb, resource, namespace),
            "the webhook must not {verb} {resource}"
        );
    }
}
