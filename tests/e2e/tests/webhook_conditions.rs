//! Which workload updates the API server sends to the webhook at all, decided by the
//! `matchConditions` of manifests/webhook/mutating.yaml: the update that only adds the
//! `workload-type` label (the controller's first write to a workload) is not sent, every other
//! update of a labelled workload is. Proven with a copy of those webhooks pointed at an address
//! where nothing answers (`failurePolicy: Fail`): a request that is sent fails, one that is not
//! sent succeeds.

use rollouts_e2e::*;
use serde_json::{Value, json};

const SCOPE_LABEL: &str = "rollouts-e2e-unreachable-webhook";

/// The mutating webhooks of the manifests, for namespaces labelled `SCOPE_LABEL=<scope>` only,
/// calling a closed port; deleted when dropped (before the namespace, so its cleanup is never
/// refused by them).
struct UnreachableWebhooks {
    name: String,
}

impl UnreachableWebhooks {
    fn install(scope: &str) -> Self {
        let text = std::fs::read_to_string(repo_root().join("manifests/webhook/mutating.yaml"))
            .expect("the mutating webhook manifest");
        let mut config: Value = serde_yaml::from_str(&text).expect("valid YAML");
        // The `e2e-<pid>-` prefix lets a later test process reap it if this one is killed.
        let name = format!("e2e-{}-unreachable-{scope}", std::process::id());
        config["metadata"]["name"] = json!(name);
        for webhook in config["webhooks"].as_array_mut().expect("webhooks") {
            // Port 9 (discard) on loopback: the connection is refused at once.
            webhook["clientConfig"] = json!({"url": "https://127.0.0.1:9/unreachable"});
            webhook["namespaceSelector"] = json!({"matchLabels": {SCOPE_LABEL: scope}});
            webhook["timeoutSeconds"] = json!(2);
        }
        cluster()
            .kubectl_with_input(&["apply", "-f", "-"], &config.to_string())
            .expect("the webhook configuration is accepted");
        Self { name }
    }
}

impl Drop for UnreachableWebhooks {
    fn drop(&mut self) {
        let _ = cluster().kubectl_with_input(
            &[
                "delete",
                "--ignore-not-found",
                "mutatingwebhookconfiguration",
                &self.name,
            ],
            "",
        );
    }
}

#[tokio::test]
async fn only_the_update_that_adds_the_workload_label_skips_the_webhook() {
    let client = cluster().client().await;
    let scope = format!("{}", std::process::id());
    let ns =
        TestNamespace::create_labelled(&client, "conditions", json!({SCOPE_LABEL: scope})).await;
    let _webhooks = UnreachableWebhooks::install(&scope);
    let kubectl = |args: &[&str]| {
        let mut all = vec!["-n", ns.name.as_str()];
        all.extend_from_slice(args);
        cluster().kubectl_with_input(&all, "")
    };
    // The API server reads webhook configurations through an informer: wait until it applies
    // this one, seen as a labelled workload's image update being refused.
    kubectl(&[
        "create",
        "deployment",
        "probe",
        "--image=nginx:1",
        "--replicas=0",
    ])
    .unwrap();
    kubectl(&[
        "label",
        "deployment",
        "probe",
        "rollouts.kruise.io/workload-type=deployment",
    ])
    .expect("adding only the workload label is not sent to the webhook");
    wait_for(
        "the API server to call the unreachable webhook",
        DEFAULT_DEADLINE,
        || async {
            match kubectl(&["set", "image", "deployment/probe", "nginx=nginx:2"]) {
                Err(e) if e.contains("mdeployment.kb.io") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;

    kubectl(&[
        "create",
        "deployment",
        "echo",
        "--image=nginx:1",
        "--replicas=0",
    ])
    .unwrap();
    kubectl(&[
        "label",
        "deployment",
        "echo",
        "rollouts.kruise.io/workload-type=deployment",
    ])
    .expect("adding only the workload label is not sent to the webhook");
    let image = kubectl(&["set", "image", "deployment/echo", "nginx=nginx:2"])
        .expect_err("a template change of a labelled workload is sent to the webhook");
    assert!(image.contains("mdeployment.kb.io"), "{image}");
    let annotation = kubectl(&["annotate", "deployment", "echo", "team=payments"])
        .expect_err("a metadata change of a labelled workload is sent to the webhook");
    assert!(annotation.contains("mdeployment.kb.io"), "{annotation}");
    let other = kubectl(&["label", "deployment", "echo", "team=payments"])
        .expect_err("another label on a labelled workload is sent to the webhook");
    assert!(other.contains("mdeployment.kb.io"), "{other}");

    kubectl(&[
        "create",
        "deployment",
        "both",
        "--image=nginx:1",
        "--replicas=0",
    ])
    .unwrap();
    let both = kubectl(&["patch", "deployment", "both", "--type=merge", "-p",
        r#"{"metadata":{"labels":{"rollouts.kruise.io/workload-type":"deployment"}},"spec":{"replicas":1}}"#])
        .expect_err("adding the label together with a spec change is sent to the webhook");
    assert!(both.contains("mdeployment.kb.io"), "{both}");

    cluster()
        .kubectl_with_input(
            &["apply", "-n", &ns.name, "-f", "-"],
            &statefulset_yaml("web"),
        )
        .unwrap();
    kubectl(&[
        "label",
        "statefulset",
        "web",
        "rollouts.kruise.io/workload-type=statefulset",
    ])
    .expect("adding only the workload label to a StatefulSet is not sent to the webhook");
    let sts = kubectl(&[
        "patch",
        "statefulset",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:2"}]}}}}"#,
    ])
    .expect_err("a labelled StatefulSet's template change is sent to the webhook");
    assert!(sts.contains("munifiedworload.kb.io"), "{sts}");
}

fn statefulset_yaml(name: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: {name}}}\nspec:\n  replicas: 0\n  serviceName: {name}\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: nginx, image: 'nginx:1'}}]}}\n"
    )
}
