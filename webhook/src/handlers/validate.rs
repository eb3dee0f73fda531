//! `/validate-rollouts-kruise-io-rollout`: every rule of upstream's validation, for both versions.

use super::lookup::{Decision, Lookup};
use super::review::{AdmissionRequest, AdmissionResponse};
use rollouts_api::{v1alpha1, v1beta1};
use rollouts_plan::validation::{Context, FieldError, validate_v1alpha1, validate_v1beta1};
use serde::de::DeserializeOwned;

/// Answers a Rollout CREATE or UPDATE: admitted, or refused with every violated rule.
pub fn validate(
    request: &AdmissionRequest,
    lookup: &dyn Lookup,
    partition_percent_limit: i32,
) -> (AdmissionResponse, Decision) {
    let allow = AdmissionResponse::allow(request);
    if !matches!(request.operation.as_str(), "CREATE" | "UPDATE") || request.sub_resource.is_some()
    {
        return (allow, Decision::Allowed);
    }
    let namespace = request.namespace.clone().unwrap_or_default();
    let cached = lookup.rollouts(&namespace);
    let others: Vec<&v1beta1::Rollout> = cached.iter().map(|r| r.as_ref()).collect();
    let result = match request.kind.version.as_str() {
        "v1beta1" => parse::<v1beta1::Rollout>(request).map(|(new, old)| {
            let ctx = Context {
                old: old.as_ref(),
                others: &others,
                partition_percent_limit,
            };
            validate_v1beta1(&new, &ctx)
        }),
        "v1alpha1" => parse::<v1alpha1::Rollout>(request).map(|(new, old)| {
            let ctx = Context {
                old: None,
                others: &others,
                partition_percent_limit,
            };
            validate_v1alpha1(&new, old.as_ref(), &ctx)
        }),
        other => Err(format!("Rollout version {other:?} is not served")),
    };
    match result {
        Ok(errors) if errors.is_empty() => (allow, Decision::Allowed),
        Ok(errors) => (deny_invalid(allow, &errors), Decision::Denied),
        Err(problem) => (allow.deny(problem), Decision::Invalid),
    }
}

fn parse<T: DeserializeOwned>(request: &AdmissionRequest) -> Result<(T, Option<T>), String> {
    let decode = |object: &serde_json::Value| {
        T::deserialize(object).map_err(|e| format!("the Rollout does not parse: {e}"))
    };
    let new = request.object.as_ref().ok_or("the request has no object")?;
    let old = request.old_object.as_ref().map(decode).transpose()?;
    Ok((decode(new)?, old))
}

/// Refuses with HTTP 422 semantics and every error, each naming its field.
fn deny_invalid(allow: AdmissionResponse, errors: &[FieldError]) -> AdmissionResponse {
    let message = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    let mut response = allow.deny(message);
    response.code = 422;
    response.reason = "Invalid".into();
    response
}
