//! What the handlers may know about the cluster, and how a request was answered.

use k8s_openapi::api::apps::v1::ReplicaSet;
use rollouts_api::v1beta1::Rollout;
use std::sync::Arc;

/// What the handlers may know about the cluster: cached, never fetched per request.
pub trait Lookup: Send + Sync {
    /// Rollouts (v1beta1) of a namespace.
    fn rollouts(&self, namespace: &str) -> Vec<Arc<Rollout>>;
    /// ReplicaSets whose controlling owner has this UID.
    fn owned_replica_sets(&self, owner_uid: &str) -> Vec<Arc<ReplicaSet>>;
}

/// How a request was answered, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Admitted unchanged.
    Allowed,
    /// Admitted with a patch.
    Patched,
    /// Refused.
    Denied,
    /// The request itself was malformed.
    Invalid,
}

impl Decision {
    /// Label value for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Patched => "patched",
            Self::Denied => "denied",
            Self::Invalid => "invalid",
        }
    }
}
