//! Installing the generated CRDs (Rollout, TrafficRouting) as the manifests define them.

use crate::cluster::{cluster, repo_root};
use crate::wait::{DEFAULT_DEADLINE, wait_for};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};

/// The CRD files `manifests/crds` holds, with the names of the CRDs they define.
const CRDS: [(&str, &str); 2] = [
    (
        "rollouts.kruise.io_rollouts.yaml",
        "rollouts.rollouts.kruise.io",
    ),
    (
        "rollouts.kruise.io_trafficroutings.yaml",
        "trafficroutings.rollouts.kruise.io",
    ),
];

/// Creates or replaces our CRDs (Rollout, TrafficRouting) from `manifests/crds` and waits until
/// they are Established. Replace, not apply: a webhook may have switched the Rollout's
/// conversion to a URL, and an apply would leave both the URL and the Service set, which the
/// API server refuses.
pub async fn install_crds(client: &Client) {
    for (file, name) in CRDS {
        install(client, file, name).await;
    }
}

async fn install(client: &Client, file: &str, name: &str) {
    let file = repo_root().join("manifests/crds").join(file);
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
        "the API server refuses our CRD {name}: {last_error}"
    );
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_for(
        &format!("the CRD {name} to be Established"),
        DEFAULT_DEADLINE,
        || async {
            let crd = crds.get(name).await.map_err(|e| e.to_string())?;
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
