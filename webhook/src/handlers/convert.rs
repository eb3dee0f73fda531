//! `/convert`: ConversionReview v1 for Rollouts, lossless in both directions.

use kube::Resource;
use kube::core::Status;
use kube::core::conversion::{ConversionRequest, ConversionResponse, ConversionReview};
use rollouts_api::conversion::{to_v1alpha1, to_v1beta1};
use rollouts_api::{v1alpha1, v1beta1};
use serde_json::Value;

/// Converts every object of the review to the desired version; any object that cannot be
/// converted fails the whole review with its name and the reason.
pub fn convert(body: &[u8]) -> ConversionReview {
    let request = match serde_json::from_slice::<ConversionReview>(body)
        .map(ConversionRequest::from_review)
    {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => {
            return ConversionResponse::invalid(Status::failure(&e.to_string(), "BadRequest"))
                .into_review();
        }
        Err(e) => {
            let message = format!("body is not a ConversionReview: {e}");
            return ConversionResponse::invalid(Status::failure(&message, "BadRequest"))
                .into_review();
        }
    };
    let desired = request.desired_api_version.clone();
    let converted: Result<Vec<Value>, String> = request
        .objects
        .iter()
        .map(|o| convert_one(o, &desired))
        .collect();
    let response = ConversionResponse::for_request(request);
    match converted {
        Ok(objects) => response.success(objects).into_review(),
        Err(message) => response
            .failure(Status::failure(&message, "ConversionFailed"))
            .into_review(),
    }
}

fn convert_one(object: &Value, desired: &str) -> Result<Value, String> {
    let from = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("<unnamed>");
    let fail = |e: &dyn std::fmt::Display| format!("Rollout {name}: {from} -> {desired}: {e}");
    if from == desired {
        return Ok(object.clone());
    }
    let alpha_version = <v1alpha1::Rollout as Resource>::api_version(&());
    let beta_version = <v1beta1::Rollout as Resource>::api_version(&());
    let converted = match (from, desired) {
        (from, desired) if from == alpha_version && desired == beta_version => {
            let alpha: v1alpha1::Rollout =
                serde_json::from_value(object.clone()).map_err(|e| fail(&e))?;
            serde_json::to_value(to_v1beta1(&alpha).map_err(|e| fail(&e))?)
        }
        (from, desired) if from == beta_version && desired == alpha_version => {
            let beta: v1beta1::Rollout =
                serde_json::from_value(object.clone()).map_err(|e| fail(&e))?;
            serde_json::to_value(to_v1alpha1(&beta).map_err(|e| fail(&e))?)
        }
        _ => return Err(fail(&"unsupported conversion")),
    };
    converted.map_err(|e| fail(&e))
}
