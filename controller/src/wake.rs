//! Which Rollouts a change of an object wakes: the Rollout cache indexed by every object each
//! Rollout refers to (its workload, its Services, Ingresses and HTTPRoute, with their canary
//! copies), so that an event costs a lookup, not a pass over every Rollout.

use crate::index::Index;
use crate::traffic::routing;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use rollouts_api::v1beta1::Rollout;
use rollouts_traffic::canary_name;

/// Rollouts grouped by the objects they refer to.
pub type ReferenceIndex = Index<Rollout>;

/// The index key of the object of `kind` called `name` in `namespace`.
fn key(namespace: &str, kind: &str, name: &str) -> String {
    format!("{namespace}/{kind}/{name}")
}

/// Every object `rollout` refers to, as index keys.
fn references(rollout: &Rollout) -> Vec<String> {
    let Some(namespace) = rollout.namespace() else {
        return Vec::new();
    };
    let workload = &rollout.spec.workload_ref;
    let mut keys = vec![key(&namespace, &workload.kind, &workload.name)];
    if let Some(routing) = routing(rollout) {
        let with_canary = |name: &str| [name.to_string(), canary_name(name)];
        for name in with_canary(&routing.service) {
            keys.push(key(&namespace, "Service", &name));
        }
        if let Some(ingress) = &routing.ingress {
            for name in with_canary(&ingress.name) {
                keys.push(key(&namespace, "Ingress", &name));
            }
        }
        if let Some(route) = routing
            .gateway
            .as_ref()
            .and_then(|g| g.http_route_name.as_deref())
        {
            keys.push(key(&namespace, "HTTPRoute", route));
        }
    }
    keys
}

/// An empty index of Rollouts by the objects they refer to.
pub fn reference_index() -> ReferenceIndex {
    Index::with_keys(references)
}

/// Rollouts that refer to the object of `kind` called `name` in `namespace`.
pub fn rollouts_referring_to(
    index: &ReferenceIndex,
    namespace: &str,
    kind: &str,
    name: &str,
) -> Vec<ObjectRef<Rollout>> {
    index.references(&key(namespace, kind, name))
}

/// Rollouts that refer to `object`, which is of `kind`.
pub fn rollouts_of_object<K: kube::Resource>(
    index: &ReferenceIndex,
    kind: &str,
    object: &K,
) -> Vec<ObjectRef<Rollout>> {
    let namespace = object.namespace().unwrap_or_default();
    rollouts_referring_to(index, &namespace, kind, &object.name_any())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::runtime::watcher::Event;

    fn rollout(name: &str, workload: &str, service: Option<&str>) -> Rollout {
        let routing = service
            .map(|s| serde_json::json!([{"service": s, "ingress": {"name": format!("{s}-ing")}}]));
        serde_json::from_value(serde_json::json!({
            "apiVersion": rollouts_api::keys::ROLLOUT_API_VERSION, "kind": "Rollout",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload},
                "strategy": {"canary": {"steps": [{"replicas": 1}], "trafficRoutings": routing}}
            }
        }))
        .unwrap()
    }

    fn names(refs: Vec<ObjectRef<Rollout>>) -> Vec<String> {
        let mut names: Vec<String> = refs.into_iter().map(|r| r.name).collect();
        names.sort();
        names
    }

    #[test]
    fn a_change_wakes_exactly_the_rollouts_that_refer_to_the_object() {
        let index = reference_index();
        index.apply(&Event::Apply(rollout("a", "web", Some("web-svc"))));
        index.apply(&Event::Apply(rollout("b", "api", None)));
        let find =
            |kind: &str, name: &str| names(rollouts_referring_to(&index, "shop", kind, name));
        assert_eq!(find("Deployment", "web"), ["a"]);
        assert_eq!(find("Deployment", "api"), ["b"]);
        assert_eq!(find("Service", "web-svc"), ["a"]);
        assert_eq!(find("Service", &canary_name("web-svc")), ["a"]);
        assert_eq!(find("Ingress", &canary_name("web-svc-ing")), ["a"]);
        assert!(
            find("Deployment", "web-svc").is_empty(),
            "kinds are told apart"
        );
        assert!(
            rollouts_referring_to(&index, "other", "Deployment", "web").is_empty(),
            "namespaces are told apart"
        );
        // A Rollout pointed at another workload stops being woken by the old one.
        index.apply(&Event::Apply(rollout("a", "web-v2", None)));
        assert!(find("Deployment", "web").is_empty());
        assert!(find("Service", "web-svc").is_empty());
        assert_eq!(find("Deployment", "web-v2"), ["a"]);
        index.apply(&Event::Delete(rollout("b", "api", None)));
        assert!(find("Deployment", "api").is_empty());
    }
}
