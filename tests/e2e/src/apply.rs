//! Server-side apply of YAML or JSON objects of any kind, as `kubectl apply --server-side` does.

use kube::api::{DynamicObject, Patch, PatchParams};
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client, core::GroupVersionKind};
use serde_json::Value;

const FIELD_MANAGER: &str = "rollouts-e2e";

/// Applies every document of `yaml`, namespaced ones into `namespace`; returns what the API
/// server stored. Panics naming the object when the API server refuses it.
pub async fn apply_yaml(client: &Client, namespace: &str, yaml: &str) -> Vec<DynamicObject> {
    let mut applied = Vec::new();
    for de in serde_yaml::Deserializer::from_str(yaml) {
        let value: Value = serde::Deserialize::deserialize(de).expect("valid YAML");
        if !value.is_null() {
            let object = apply_json(client, namespace, value)
                .await
                .unwrap_or_else(|e| panic!("apply refused: {e}"));
            applied.push(object);
        }
    }
    applied
}

/// Applies one object; returns the API server's error text when it is refused.
pub async fn apply_json(
    client: &Client,
    namespace: &str,
    object: Value,
) -> Result<DynamicObject, String> {
    let (group, version) = match object["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .split_once('/')
    {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (
            String::new(),
            object["apiVersion"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ),
    };
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let gvk = GroupVersionKind::gvk(&group, &version, &kind);
    let (resource, capabilities) = pinned_kind(client, &gvk)
        .await
        .map_err(|e| format!("{kind} {name}: no such kind: {e}"))?;
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), namespace, &resource),
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    };
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .map_err(|e| format!("{kind} {name}: {e}"))
}
