//! Admission and conversion handlers: decode a review, call the pure crates, encode the answer.
//! They read the cluster only through `Lookup` (watch-backed caches), never the API server.

mod convert;
mod mutate;
mod validate;

pub use convert::convert;
pub use mutate::{MutatingPath, mutate};
pub use validate::validate;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::core::DynamicObject;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};
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

/// Decodes an AdmissionReview body; a malformed one gets an `allowed: false` review naming the problem.
pub fn decode_admission(
    body: &[u8],
) -> Result<AdmissionRequest<DynamicObject>, Box<AdmissionReview<DynamicObject>>> {
    #[derive(serde::Deserialize)]
    struct Version<'a> {
        #[serde(rename = "apiVersion", borrow)]
        api_version: Option<std::borrow::Cow<'a, str>>,
    }
    let invalid = |message: String| Box::new(AdmissionResponse::invalid(message).into_review());
    let version: Version = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("body is not an AdmissionReview: {e}")))?;
    if version.api_version.as_deref() != Some("admission.k8s.io/v1") {
        let found = version.api_version.unwrap_or_default();
        return Err(invalid(format!(
            "unsupported AdmissionReview version {found:?}: admission.k8s.io/v1 is served"
        )));
    }
    let review: AdmissionReview<DynamicObject> = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("body is not an AdmissionReview: {e}")))?;
    review
        .try_into()
        .map_err(|e| invalid(format!("AdmissionReview without a request: {e}")))
}
