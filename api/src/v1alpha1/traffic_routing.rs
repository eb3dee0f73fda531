//! TrafficRouting (`rollouts.kruise.io/v1alpha1`, the only version): traffic for a chain of
//! Services, routed by its own strategy while a Rollout that links it (the
//! `rollouts.kruise.io/trafficrouting` annotation) releases.

use crate::common::{HttpHeaderFilter, TrafficRoutingRef};
use crate::serde_util::empty_as_none;
use crate::v1alpha1::HttpRouteMatch;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Routes the objects it names by its strategy while any linked Rollout releases.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "rollouts.kruise.io",
    version = "v1alpha1",
    kind = "TrafficRouting",
    namespaced,
    derive = "PartialEq",
    status = "TrafficRoutingStatus",
    doc = "TrafficRouting is the Schema for the TrafficRoutings API",
    printcolumn = r#"{"name":"STATUS","type":"string","description":"The TrafficRouting status phase","jsonPath":".status.phase"}"#,
    printcolumn = r#"{"name":"MESSAGE","type":"string","description":"The TrafficRouting canary status message","jsonPath":".status.message"}"#,
    printcolumn = r#"{"name":"AGE","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRoutingSpec {
    /// The traffic providers and the Service each fronts.
    pub object_ref: Vec<TrafficRoutingRef>,
    /// How traffic is routed while a linked Rollout releases.
    pub strategy: TrafficRoutingStrategy,
}

/// The weight, header matches and header changes applied while a linked Rollout releases.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRoutingStrategy {
    /// Share of traffic for the new pods, 0 to 100 (matches win when both are set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Request header changes for the new pods' traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header_modifier: Option<HttpHeaderFilter>,
    /// Header conditions sending a request to the new pods (any one of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HttpRouteMatch>>,
}

/// Observed state of a TrafficRouting.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRoutingStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase (the STATUS column).
    #[serde(
        default,
        deserialize_with = "empty_as_none",
        skip_serializing_if = "Option::is_none"
    )]
    pub phase: Option<TrafficRoutingPhase>,
    /// Human-readable summary (the MESSAGE column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Lifecycle phase of a TrafficRouting (`status.phase`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum TrafficRoutingPhase {
    /// Just created: its Services and providers' objects are being checked.
    Initial,
    /// Routes untouched; no linked Rollout is releasing.
    Healthy,
    /// A linked Rollout is releasing: routes follow the strategy.
    Progressing,
    /// No linked Rollout releases any more: routes are being restored.
    Finalizing,
    /// Being deleted: routes are restored before it goes.
    Terminating,
}
