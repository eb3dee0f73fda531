//! Installing the generated Rollout CRD as the manifests define it.

use crate::cluster::{cluster, repo_root};
use crate::wait::{DEFAULT_DEADLINE, wait_for};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};

/// Creates or replaces the Rollout CRD from `manifests/crds` and waits until it is Established.
/// Replace, not apply: a webhook may have switched the conversion to a URL, and an apply would
/// leave both the URL and the Service set, which the API server refuses.
pub async fn install_rollout_crd(client: &Client) {
    let file = repo_root().join("manifests/crds/rollouts.kruise.io_rollouts.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    // Tests of one process may install concurrently: a lost create race retries the replace.
    let mut last_error = String::new();
    for _ in 0..3 {
        let installed = cluster()
            .kubectl_with_input(&["replace", "-f", "-"], &text)
            .or_else(|_| cluster().kubectl_with_input(&["create", "-f", "-"], &text));
        match installed {
            Ok(_) => {
                last_error.clear();
                break;
            }
            Err(e) => last_error = e,
        }
    }
    assert!(
        last_error.is_empty(),
        "the API server refuses our CRD: {last_error}"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_for(
        "the Rollout CRD to be Established",
        DEFAULT_DEADLINE,
        || async {
            let crd = crds
                .get("rollouts.rollouts.kruise.io")
                .await
                .map_err(|e| e.to_string())?;
            let conditions = crd.status.and_then(|s| s.conditions).unwrap_or_default();
            match conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
            {
                true => Ok(()),
                false => Err(format!("conditions {conditions:?}")),
            }
        },
    )
    .await;
}
