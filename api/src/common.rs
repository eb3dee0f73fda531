//! Types that are spelled the same way in v1alpha1 and v1beta1: references, traffic routing,
//! header matching and modification, pod-template patches, conditions and the status enums.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// HTTP header and query-parameter names: RFC 7230 token characters (as Gateway API).
pub const HTTP_TOKEN_PATTERN: &str = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$";

/// `{apiVersion, kind, name}` of an object in the Rollout's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// API version of the referent, e.g. `apps/v1`.
    pub api_version: String,
    /// Kind of the referent, e.g. `Deployment`.
    pub kind: String,
    /// Name of the referent, in the Rollout's namespace.
    pub name: String,
}

impl ObjectRef {
    /// The API group of `apiVersion` (`""` for the core group), ignoring the version.
    pub fn group(&self) -> &str {
        match self.api_version.split_once('/') {
            Some((group, _)) => group,
            None => "",
        }
    }
}

/// One traffic provider and the stable Service it fronts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRoutingRef {
    /// Name of the stable Service; the canary Service is `<service>-canary`.
    pub service: String,
    /// Seconds to wait after each traffic change so the data plane catches up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = 3), range(min = 0))]
    pub grace_period_seconds: Option<i32>,
    /// Ingress-based routing (Nginx, MSE, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressTrafficRouting>,
    /// Gateway API routing through an HTTPRoute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayTrafficRouting>,
    /// Other networking objects (e.g. Istio VirtualService) handled by custom providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_network_refs: Option<Vec<ObjectRef>>,
}

/// The Ingress whose canary twin carries the canary weight or header match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressTrafficRouting {
    /// Ingress provider: `nginx` (the default when empty), `mse`, `aliyun-alb`, `higress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_type: Option<String>,
    /// Name of the user's Ingress.
    pub name: String,
}

/// The HTTPRoute whose backend weights and matches are driven.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayTrafficRouting {
    /// Name of the HTTPRoute in the Rollout's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_route_name: Option<String>,
}

/// Pause after a step: no duration means "until approved".
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPause {
    /// Seconds to wait before the next step; absent means wait for manual approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub duration: Option<i32>,
}

/// How a header or query value is compared.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MatchType {
    /// The value must be equal.
    #[default]
    Exact,
    /// The value is a regular expression.
    RegularExpression,
}

/// One HTTP header condition of an A/B match.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeaderMatch {
    /// `Exact` (default) or `RegularExpression`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Exact"))]
    pub match_type: Option<MatchType>,
    /// Header name (case-insensitive).
    #[schemars(length(min = 1, max = 256), pattern(HTTP_TOKEN_PATTERN))]
    pub name: String,
    /// Value to compare with.
    #[schemars(length(min = 1, max = 4096))]
    pub value: String,
}

/// A header name and value, as in Gateway API's HTTPHeader.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeader {
    /// Header name (case-insensitive).
    #[schemars(length(min = 1, max = 256), pattern(HTTP_TOKEN_PATTERN))]
    pub name: String,
    /// Header value.
    #[schemars(length(min = 1, max = 4096))]
    pub value: String,
}

/// Request header changes applied to canary traffic (Gateway API's HTTPHeaderFilter).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeaderFilter {
    /// Headers to overwrite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub set: Option<Vec<HttpHeader>>,
    /// Headers to append to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub add: Option<Vec<HttpHeader>>,
    /// Header names to remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16), extend("x-kubernetes-list-type" = "set"))]
    pub remove: Option<Vec<String>>,
}

/// Labels and annotations added to the canary Deployment's pod template.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PatchPodTemplateMetadata {
    /// Annotations to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Labels to add.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// Lifecycle phase of a Rollout (`status.phase`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RolloutPhase {
    /// Just created; the workload has not been seen yet.
    Initial,
    /// No release in progress; the workload is fully on its stable version.
    Healthy,
    /// A release is running.
    Progressing,
    /// The Rollout is being deleted and is cleaning up.
    Terminating,
    /// `spec.disabled` was set during a release; resources are being released.
    Disabling,
    /// `spec.disabled` is true; the workload is not governed.
    Disabled,
}

/// State inside the current step (`currentStepState`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum StepState {
    /// Step initialised, pods not yet upgraded (v1beta1 only).
    BeforeStepUpgrade,
    /// Upgrading this step's pods.
    StepUpgrade,
    /// Applying this step's traffic.
    StepTrafficRouting,
    /// Running this step's metric analysis.
    StepMetricsAnalysis,
    /// Waiting for approval or for the pause to end.
    StepPaused,
    /// Step finished; the next step starts.
    StepReady,
    /// All steps finished.
    Completed,
}

/// Where finalisation currently stands (`finalisingStep`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum FinalisingStep {
    /// Route all traffic to the new version (blue-green success).
    FinalisingStepRouteTrafficToNew,
    /// Route all traffic back to the stable version.
    FinalisingStepRouteTrafficToStable,
    /// Remove the revision selector from the stable Service.
    RestoreStableService,
    /// Delete the canary Service.
    RemoveCanaryService,
    /// Let the workload roll the remaining pods.
    ResumeWorkload,
    /// Release control of the workload.
    ReleaseWorkloadControl,
    /// Finalisation finished.
    #[serde(rename = "END")]
    End,
    /// Debug only: never leave finalisation.
    WaitEndless,
}

/// One condition of a Rollout (types and reasons are in `keys`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutCondition {
    /// `Progressing`, `Succeeded` or `Terminating`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// Last time the condition was refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// Last time the status changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}
