//! What a release with traffic leaves on the cluster, read back: the canary Ingress's
//! annotations, Service selectors, and their cleanup at the end; and users' Lua scripts set in
//! the scripts ConfigMap.

use crate::cluster::cluster;
use crate::release::STEP_DEADLINE;
use crate::wait::wait_for;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::Api;
use serde_json::json;
use std::collections::BTreeMap;

/// The canary annotations of the Ingress `echoserver-canary`, `None` when it does not exist.
pub async fn canary_annotations(
    client: &kube::Client,
    ns: &str,
) -> Option<BTreeMap<String, String>> {
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let canary = ingresses.get_opt("echoserver-canary").await.unwrap()?;
    let annotations = canary.metadata.annotations.unwrap_or_default();
    Some(
        annotations
            .into_iter()
            .filter(|(k, _)| k.contains("canary"))
            .collect(),
    )
}

/// The selector of the Service `name`, `None` when it does not exist.
pub async fn selector(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Option<BTreeMap<String, String>> {
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    services
        .get_opt(name)
        .await
        .unwrap()
        .and_then(|s| s.spec?.selector)
}

/// Waits until the canary Ingress carries exactly `expected` canary annotations.
pub async fn wait_canary_annotations(client: &kube::Client, ns: &str, expected: &[(&str, &str)]) {
    let want: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wait_for(
        &format!("canary Ingress {want:?}"),
        STEP_DEADLINE,
        || async {
            match canary_annotations(client, ns).await {
                Some(seen) if seen == want => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

/// After the release: canary Ingress and Service gone, stable selector back to the user's.
pub async fn assert_traffic_cleaned(client: &kube::Client, ns: &str) {
    wait_for(
        "canary Ingress and Service removed",
        STEP_DEADLINE,
        || async {
            let ingress = canary_annotations(client, ns).await;
            let service = selector(client, ns, "echoserver-canary").await;
            if ingress.is_none() && service.is_none() {
                Ok(())
            } else {
                Err(format!("{ingress:?} {service:?}"))
            }
        },
    )
    .await;
    let stable = selector(client, ns, "echoserver").await.unwrap();
    assert_eq!(
        stable,
        BTreeMap::from([("app".to_string(), "echoserver".to_string())])
    );
}

/// Sets `key` of the scripts ConfigMap (created if missing) in the controller's namespace.
pub fn set_script(key: &str, source: &str) {
    let _ = cluster().kubectl_with_input(
        &[
            "create",
            "configmap",
            "kruise-rollout-configuration",
            "-n",
            "kruise-rollout",
        ],
        "",
    );
    let patch = json!({"data": {key: source}}).to_string();
    cluster().kubectl(&[
        "patch",
        "configmap",
        "kruise-rollout-configuration",
        "-n",
        "kruise-rollout",
        "--type=merge",
        "-p",
        &patch,
    ]);
}
