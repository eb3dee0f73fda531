//! `/mutate-rollouts-kruise-io-rollout`: a Rollout is created with our finalizer, so the
//! controller's first write to it is its status.

use super::lookup::Decision;
use super::mutate::patch_response;
use super::review::{AdmissionRequest, AdmissionResponse};
use rollouts_plan::machine::finalizers_with_ours;
use serde_json::json;

/// URL path of the Rollout mutation.
pub const ROLLOUT_MUTATE_PATH: &str = "/mutate-rollouts-kruise-io-rollout";

/// Answers a Rollout CREATE: our finalizer added when it is missing; anything else is admitted
/// untouched (a Rollout the webhook never saw gets the finalizer from the controller).
pub fn add_finalizer(request: &AdmissionRequest) -> (AdmissionResponse, Decision) {
    let allow = AdmissionResponse::allow(request);
    let creates_a_rollout = request.operation == "CREATE"
        && request.sub_resource.is_none()
        && request.kind.group == "rollouts.kruise.io"
        && request.kind.kind == "Rollout";
    let Some(object) = request.object.as_ref().filter(|_| creates_a_rollout) else {
        return (allow, Decision::Allowed);
    };
    let metadata = &object["metadata"];
    let finalizers: Vec<String> = match metadata.get("finalizers") {
        None => Vec::new(),
        Some(list) => match serde_json::from_value(list.clone()) {
            Ok(list) => list,
            Err(e) => {
                return (
                    allow.deny(format!("metadata.finalizers is not a list of strings: {e}")),
                    Decision::Invalid,
                );
            }
        },
    };
    let deleting = metadata.get("deletionTimestamp").is_some();
    match finalizers_with_ours(&finalizers, deleting) {
        None => (allow, Decision::Allowed),
        Some(with_ours) => {
            let mut mutated = object.clone();
            mutated["metadata"]["finalizers"] = json!(with_ours);
            patch_response(allow, object, &mutated)
        }
    }
}
