//! Istio objects for traffic tests: no mesh runs on the local cluster, so minimal Istio CRDs
//! (served kinds without schemas of their own) are installed, and the tests assert the objects
//! the mesh would read.

use crate::cluster::cluster;
use serde_json::Value;

/// An Istio kind (`networking.istio.io/v1alpha3`) as a served object without a schema of its own.
pub fn istio_crd(kind: &str) -> String {
    let singular = kind.to_ascii_lowercase();
    format!(
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {singular}s.networking.istio.io
spec:
  group: networking.istio.io
  scope: Namespaced
  names: {{kind: {kind}, listKind: {kind}List, plural: {singular}s, singular: {singular}}}
  versions:
    - name: v1alpha3
      served: true
      storage: true
      schema:
        openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}
"#
    )
}

/// Installs the VirtualService and DestinationRule CRDs and waits until they are served, once
/// per test process: tests running at once would race to create them (`kubectl apply` answers
/// AlreadyExists to the loser on a fresh cluster).
pub fn install_istio_crds() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        for kind in ["VirtualService", "DestinationRule"] {
            cluster()
                .kubectl_with_input(&["apply", "-f", "-"], &istio_crd(kind))
                .expect("the Istio CRD installs");
            cluster().kubectl(&[
                "wait",
                "--for=condition=Established",
                &format!("crd/{}s.networking.istio.io", kind.to_ascii_lowercase()),
                "--timeout=60s",
            ]);
        }
    });
}

/// The object `kind`/`name` in `ns`, as JSON.
pub fn object(ns: &str, kind: &str, name: &str) -> Value {
    let text = cluster().kubectl(&["get", kind, name, "-n", ns, "-o", "json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} {name} as JSON: {e}"))
}

/// Upstream's VirtualService: every host through `nginx-gateway` to Service echoserver.
pub const VIRTUAL_SERVICE: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: vs-demo
spec:
  hosts: ["*"]
  gateways: [nginx-gateway]
  http:
    - route:
        - destination: {host: echoserver}
"#;

/// Upstream's DestinationRule: host svc-demo with one subset of the stable pods.
pub const DESTINATION_RULE: &str = r#"
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: ds-demo
spec:
  host: svc-demo
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
  subsets:
    - name: echoserver
      labels: {version: base}
"#;
