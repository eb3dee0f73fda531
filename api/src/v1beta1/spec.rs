//! v1beta1 Rollout spec: workload reference, canary / blue-green strategy and steps.

use crate::common::{
    HttpHeaderFilter, HttpHeaderMatch, MatchType, ObjectRef, PatchPodTemplateMetadata,
    RolloutPause, TrafficRoutingRef,
};
use crate::schema::{PERCENT_0_TO_100, REPLICAS_PERCENT};
use crate::v1beta1::Analysis;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Rollout releases a workload's new version in steps.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "rollouts.kruise.io",
    version = "v1beta1",
    kind = "Rollout",
    namespaced,
    derive = "PartialEq",
    status = "crate::v1beta1::status::RolloutStatus",
    doc = "Rollout is the Schema for the rollouts API",
    printcolumn = r#"{"name":"STATUS","type":"string","description":"The rollout status phase","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"CANARY_STEP","type":"integer","description":"The rollout canary status step","jsonPath":".status.currentStepIndex"}"#,
    printcolumn = r#"{"name":"CANARY_STATE","type":"string","description":"The rollout canary status step state","jsonPath":".status.currentStepState"}"#,
    printcolumn = r#"{"name":"MESSAGE","type":"string","description":"The rollout canary status message","jsonPath":".status.message"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// The workload this Rollout releases, in the same namespace.
    pub workload_ref: ObjectRef,
    /// How the release proceeds.
    pub strategy: RolloutStrategy,
    /// Stop governing the workload (phase Disabling, then Disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub disabled: Option<bool>,
}

/// Exactly one of `canary` and `blueGreen`, plus the pause switch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    /// Freeze a release in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// Canary (extra Deployment) or partition (in place) release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    /// Blue-green release (Deployment and CloneSet only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
}

/// Canary or partition release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Ordered steps; each step's replicas are cumulative.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub steps: Option<Vec<CanaryStep>>,
    /// Traffic providers (at most one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routings: Option<Vec<TrafficRoutingRef>>,
    /// Prometheus checks every step must pass (this project's extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// Updated pods allowed to be not ready when a batch is judged ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<IntOrString>,
    /// Labels and annotations for the canary Deployment's pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_pod_template_metadata: Option<PatchPodTemplateMetadata>,
    /// Release a Deployment through an extra canary Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_extra_workload_for_canary: Option<bool>,
    /// Name of a TrafficRouting object driven together with this Rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing_ref: Option<String>,
    /// Route to the stable Service name instead of creating `<service>-canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_generate_canary_service: Option<bool>,
}

/// Blue-green release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// Ordered steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub steps: Option<Vec<CanaryStep>>,
    /// Traffic providers (at most one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routings: Option<Vec<TrafficRoutingRef>>,
    /// Prometheus checks every step must pass (this project's extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// Updated pods allowed to be not ready when a batch is judged ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<IntOrString>,
    /// Name of a TrafficRouting object driven together with this Rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing_ref: Option<String>,
    /// Route to the stable Service name instead of creating `<service>-canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_generate_canary_service: Option<bool>,
}

/// One step of a release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Canary traffic weight, a percentage such as `"20%"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(PERCENT_0_TO_100))]
    pub traffic: Option<String>,
    /// Request header changes for canary traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header_modifier: Option<HttpHeaderFilter>,
    /// A/B conditions: any entry may match; inside one entry all conditions must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub matches: Option<Vec<HttpRouteMatch>>,
    /// Updated pods after this step: a number, or a percentage of the workload's replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "pattern" = REPLICAS_PERCENT))]
    pub replicas: Option<IntOrString>,
    /// Pause after this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
    /// This step's changes to the strategy's analysis (this project's extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
}

/// An A/B condition on path, headers and query parameters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteMatch {
    /// Path condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<HttpPathMatch>,
    /// Header conditions, all of which must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub headers: Option<Vec<HttpHeaderMatch>>,
    /// Query parameter conditions, all of which must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub query_params: Option<Vec<HttpQueryParamMatch>>,
}

/// How a path is compared.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PathMatchType {
    /// The path must be equal.
    Exact,
    /// The path must start with the value, element by element.
    #[default]
    PathPrefix,
    /// The path is a regular expression.
    RegularExpression,
}

/// A path condition (Gateway API's HTTPPathMatch).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = crate::schema::add_path_validations)]
pub struct HttpPathMatch {
    /// `Exact`, `PathPrefix` (default) or `RegularExpression`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "PathPrefix"))]
    pub match_type: Option<PathMatchType>,
    /// The path to compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), extend("default" = "/"))]
    pub value: Option<String>,
}

/// A query parameter condition.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpQueryParamMatch {
    /// `Exact` (default) or `RegularExpression`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Exact"))]
    pub match_type: Option<MatchType>,
    /// Parameter name.
    #[schemars(length(min = 1, max = 256), pattern(crate::common::HTTP_TOKEN_PATTERN))]
    pub name: String,
    /// Value to compare with.
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,
}
