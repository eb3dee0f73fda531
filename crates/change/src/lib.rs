//! The vocabulary of what the controller does to the cluster: an [`Effect`] is one concrete
//! change (create, JSON merge patch, JSON patch, delete) to one named object, with the reason.
//! The step machine returns them in order; the controller applies them as they are. Also the
//! JSON merge helpers every change is built with, and [`apply`], the in-memory application of a
//! change that tests and simulations use.

mod merge;

pub use merge::{is_noop, merge_diff, took_effect};

use serde_json::Value;
use std::fmt;

/// An API resource type: what the controller needs to address its objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    /// `group/version`, or `v1` for the core group.
    pub api_version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name in URLs.
    pub plural: &'static str,
}

impl Resource {
    /// rollouts.kruise.io Rollout (stored version).
    pub const ROLLOUT: Self = Self::new(
        rollouts_api::keys::ROLLOUT_API_VERSION,
        "Rollout",
        "rollouts",
    );
    /// rollouts.kruise.io/v1alpha1 TrafficRouting.
    pub const TRAFFIC_ROUTING: Self = Self::new(
        rollouts_api::keys::TRAFFIC_ROUTING_API_VERSION,
        "TrafficRouting",
        "trafficroutings",
    );
    /// apps/v1 Deployment.
    pub const DEPLOYMENT: Self = Self::new("apps/v1", "Deployment", "deployments");
    /// apps/v1 StatefulSet.
    pub const STATEFUL_SET: Self = Self::new("apps/v1", "StatefulSet", "statefulsets");
    /// apps/v1 DaemonSet.
    pub const DAEMON_SET: Self = Self::new("apps/v1", "DaemonSet", "daemonsets");
    /// OpenKruise CloneSet.
    pub const CLONE_SET: Self = Self::new("apps.kruise.io/v1alpha1", "CloneSet", "clonesets");
    /// OpenKruise Advanced StatefulSet.
    pub const ADVANCED_STATEFUL_SET: Self =
        Self::new("apps.kruise.io/v1beta1", "StatefulSet", "statefulsets");
    /// OpenKruise Advanced DaemonSet.
    pub const ADVANCED_DAEMON_SET: Self =
        Self::new("apps.kruise.io/v1alpha1", "DaemonSet", "daemonsets");
    /// core Pod.
    pub const POD: Self = Self::new("v1", "Pod", "pods");
    /// A Deployment's ReplicaSet.
    pub const REPLICA_SET: Self = Self::new("apps/v1", "ReplicaSet", "replicasets");
    /// core Service.
    pub const SERVICE: Self = Self::new("v1", "Service", "services");
    /// networking.k8s.io Ingress.
    pub const INGRESS: Self = Self::new("networking.k8s.io/v1", "Ingress", "ingresses");
    /// autoscaling HorizontalPodAutoscaler (v2 serves those created as v1 too).
    pub const HORIZONTAL_POD_AUTOSCALER: Self = Self::new(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
    );
    /// Gateway API HTTPRoute.
    pub const HTTP_ROUTE: Self =
        Self::new("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes");

    /// A resource from its apiVersion, kind and plural.
    pub const fn new(api_version: &'static str, kind: &'static str, plural: &'static str) -> Self {
        Self {
            api_version,
            kind,
            plural,
        }
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }

    /// The version.
    pub fn version(&self) -> &'static str {
        self.api_version
            .rsplit_once('/')
            .map_or(self.api_version, |(_, version)| version)
    }
}

/// One named, namespaced object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// Its type.
    pub resource: Resource,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The object `namespace/name` of `resource`.
    pub fn new(resource: Resource, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            resource,
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.resource.kind, self.namespace, self.name)
    }
}

/// What happens to the object.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// Create it with this body (it already existing is not an error).
    Create(Value),
    /// Apply this JSON merge patch (RFC 7386).
    Merge(Value),
    /// Apply this JSON patch (RFC 6902), e.g. a `test` then a `remove`.
    Json(Value),
    /// Delete it (it already being gone is not an error).
    Delete,
}

impl Change {
    /// This change, applied only to the object at `resource_version`: the API server answers
    /// 409 Conflict when the object changed since. A patch carries the version in its result
    /// (the server takes a `resourceVersion` in the patched object as a precondition); creating
    /// and deleting are not guarded.
    pub fn guarded(&self, resource_version: &str) -> Self {
        match self {
            Self::Merge(patch) => {
                let mut patch = patch.clone();
                if let Some(body) = patch.as_object_mut() {
                    let metadata = body
                        .entry("metadata")
                        .or_insert_with(|| Value::Object(Default::default()));
                    metadata["resourceVersion"] = Value::from(resource_version);
                }
                Self::Merge(patch)
            }
            Self::Json(Value::Array(ops)) => {
                let precondition = serde_json::json!({
                    "op": "add", "path": "/metadata/resourceVersion", "value": resource_version
                });
                Self::Json(Value::Array(
                    std::iter::once(precondition)
                        .chain(ops.iter().cloned())
                        .collect(),
                ))
            }
            other => other.clone(),
        }
    }

    /// A short verb for logs and errors.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Create(_) => "create",
            Self::Merge(_) | Self::Json(_) => "patch",
            Self::Delete => "delete",
        }
    }
}

/// One concrete change to one named object, and why it is made.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    /// The object changed.
    pub object: ObjectKey,
    /// The change.
    pub change: Change,
    /// Why, in a few words (logged with the change).
    pub why: String,
}

impl Effect {
    /// Create `body` (its namespace and name are taken from its metadata).
    pub fn create(resource: Resource, body: Value, why: impl Into<String>) -> Self {
        let text = |field: &str| {
            body["metadata"][field]
                .as_str()
                .unwrap_or_default()
                .to_string()
        };
        Self {
            object: ObjectKey::new(resource, text("namespace"), text("name")),
            change: Change::Create(body),
            why: why.into(),
        }
    }

    /// Merge-patch `object`.
    pub fn merge(object: ObjectKey, patch: Value, why: impl Into<String>) -> Self {
        Self {
            object,
            change: Change::Merge(patch),
            why: why.into(),
        }
    }

    /// JSON-patch `object`.
    pub fn json(object: ObjectKey, patch: Value, why: impl Into<String>) -> Self {
        Self {
            object,
            change: Change::Json(patch),
            why: why.into(),
        }
    }

    /// Delete `object`.
    pub fn delete(object: ObjectKey, why: impl Into<String>) -> Self {
        Self {
            object,
            change: Change::Delete,
            why: why.into(),
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.change.verb(), self.object, self.why)
    }
}

/// Why a change cannot be applied to an object in memory (as the API server would refuse it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Patch or JSON patch of an object that does not exist.
    NotFound,
    /// A JSON patch whose `test` failed or that does not apply.
    Invalid(String),
}

/// Applies `change` to the object as an API server would (`None`: absent). Creating an existing
/// object and deleting an absent one change nothing, as the controller treats them.
pub fn apply(object: &mut Option<Value>, change: &Change) -> Result<(), Refusal> {
    match (object.as_mut(), change) {
        (None, Change::Create(body)) => *object = Some(body.clone()),
        (Some(_), Change::Create(_)) | (None, Change::Delete) => {}
        (Some(_), Change::Delete) => *object = None,
        (None, Change::Merge(_) | Change::Json(_)) => return Err(Refusal::NotFound),
        (Some(current), Change::Merge(patch)) => json_patch::merge(current, patch),
        (Some(current), Change::Json(patch)) => {
            let patch: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| Refusal::Invalid(e.to_string()))?;
            json_patch::patch(current, &patch).map_err(|e| Refusal::Invalid(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_split_group_and_version() {
        assert_eq!(
            (Resource::DEPLOYMENT.group(), Resource::DEPLOYMENT.version()),
            ("apps", "v1")
        );
        assert_eq!(
            (Resource::SERVICE.group(), Resource::SERVICE.version()),
            ("", "v1")
        );
    }

    #[test]
    fn changes_apply_as_the_api_server_and_the_controller_treat_them() {
        let body = json!({"metadata": {"name": "a", "namespace": "d"}, "spec": {"x": 1}});
        let mut object = None;
        apply(&mut object, &Change::Create(body.clone())).unwrap();
        apply(&mut object, &Change::Create(json!({"other": true}))).unwrap();
        assert_eq!(object, Some(body));
        apply(
            &mut object,
            &Change::Merge(json!({"spec": {"x": null, "y": 2}})),
        )
        .unwrap();
        assert_eq!(object.as_ref().unwrap()["spec"], json!({"y": 2}));
        let guarded = json!([{"op": "test", "path": "/spec/y", "value": 3}, {"op": "remove", "path": "/spec/y"}]);
        assert!(matches!(
            apply(&mut object, &Change::Json(guarded)),
            Err(Refusal::Invalid(_))
        ));
        apply(&mut object, &Change::Delete).unwrap();
        apply(&mut object, &Change::Delete).unwrap();
        assert_eq!(object, None);
        assert_eq!(
            apply(&mut object, &Change::Merge(json!({}))),
            Err(Refusal::NotFound)
        );
    }

    #[test]
    fn a_guarded_patch_names_the_version_it_applies_to_and_changes_nothing_else() {
        let remove = json!([{"op": "remove", "path": "/metadata/labels/a"}]);
        let cases = [
            (
                Change::Merge(json!({"spec": {"paused": true}})),
                Change::Merge(
                    json!({"metadata": {"resourceVersion": "7"}, "spec": {"paused": true}}),
                ),
            ),
            (
                Change::Merge(json!({"metadata": {"labels": {"a": null}}})),
                Change::Merge(json!({"metadata": {"labels": {"a": null}, "resourceVersion": "7"}})),
            ),
            (
                Change::Json(remove.clone()),
                Change::Json(json!([
                    {"op": "add", "path": "/metadata/resourceVersion", "value": "7"},
                    remove[0],
                ])),
            ),
            (Change::Delete, Change::Delete),
            (
                Change::Create(json!({"a": 1})),
                Change::Create(json!({"a": 1})),
            ),
        ];
        for (change, guarded) in cases {
            assert_eq!(change.guarded("7"), guarded, "{change:?}");
        }
        let mut object = Some(json!({"metadata": {"resourceVersion": "7", "labels": {"a": "x"}}}));
        apply(&mut object, &Change::Json(remove).guarded("7")).unwrap();
        assert_eq!(
            object.unwrap()["metadata"],
            json!({"resourceVersion": "7", "labels": {}})
        );
    }

    #[test]
    fn an_effect_reads_its_object_from_a_created_body() {
        let effect = Effect::create(
            Resource::SERVICE,
            json!({"metadata": {"name": "s-canary", "namespace": "d"}}),
            "canary Service",
        );
        assert_eq!(
            effect.object,
            ObjectKey::new(Resource::SERVICE, "d", "s-canary")
        );
        assert_eq!(
            effect.to_string(),
            "create Service d/s-canary (canary Service)"
        );
    }
}
