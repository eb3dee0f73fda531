//! v1alpha1 Rollout spec: `objectRef.workloadRef`, canary steps with integer weights.

use crate::common::{
    HttpHeaderFilter, HttpHeaderMatch, ObjectRef, PatchPodTemplateMetadata, RolloutPause,
    TrafficRoutingRef,
};
use crate::schema::REPLICAS_PERCENT;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A Rollout releases a workload's new version in steps.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "rollouts.kruise.io",
    version = "v1alpha1",
    kind = "Rollout",
    namespaced,
    derive = "PartialEq",
    status = "crate::v1alpha1::status::RolloutStatus",
    doc = "Rollout is the Schema for the rollouts API",
    printcolumn = r#"{"name":"STATUS","type":"string","description":"The rollout status phase","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"CANARY_STEP","type":"integer","description":"The rollout canary status step","jsonPath":".status.canaryStatus.currentStepIndex"}"#,
    printcolumn = r#"{"name":"CANARY_STATE","type":"string","description":"The rollout canary status step state","jsonPath":".status.canaryStatus.currentStepState"}"#,
    printcolumn = r#"{"name":"MESSAGE","type":"string","description":"The rollout canary status message","jsonPath":".status.message"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// The object this Rollout releases.
    pub object_ref: ObjectRefWrapper,
    /// How the release proceeds.
    pub strategy: RolloutStrategy,
    /// Deprecated and ignored; kept so existing objects round-trip.
    #[serde(default, rename = "rolloutID", skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<String>,
    /// Stop governing the workload (phase Disabling, then Disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = false))]
    pub disabled: Option<bool>,
}

/// The extra `objectRef` level of v1alpha1.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRefWrapper {
    /// The workload, in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<ObjectRef>,
}

/// Canary strategy plus the pause switch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    /// Freeze a release in progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused: Option<bool>,
    /// The release steps and traffic routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
}

/// Canary or partition release (chosen by the `rolling-style` annotation).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Ordered steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub steps: Option<Vec<CanaryStep>>,
    /// Traffic providers (at most one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routings: Option<Vec<TrafficRoutingRef>>,
    /// Updated pods allowed to be not ready when a batch is judged ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<IntOrString>,
    /// Labels and annotations for the canary Deployment's pod template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_pod_template_metadata: Option<PatchPodTemplateMetadata>,
    /// Route to the stable Service name instead of creating `<service>-canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_generate_canary_service: Option<bool>,
}

/// One step of a release.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Canary traffic weight, 0 to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 100))]
    pub weight: Option<i32>,
    /// Request header changes for canary traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header_modifier: Option<HttpHeaderFilter>,
    /// A/B conditions on headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub matches: Option<Vec<HttpRouteMatch>>,
    /// Updated pods after this step; defaults to `weight%` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("minimum" = 1, "pattern" = REPLICAS_PERCENT))]
    pub replicas: Option<IntOrString>,
    /// Pause after this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
}

/// An A/B condition on headers (v1alpha1 has no path or query matches).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteMatch {
    /// Header conditions, all of which must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub headers: Option<Vec<HttpHeaderMatch>>,
}
