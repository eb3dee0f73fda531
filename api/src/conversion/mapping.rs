//! The field-by-field mapping between v1alpha1 and v1beta1 Rollouts, as upstream converts them.
//! This mapping alone can lose fields; `conversion` adds what makes it lossless.

use crate::common::ObjectRef;
use crate::keys;
use crate::{v1alpha1 as a, v1beta1 as b};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Whether a `rolling-style` annotation value selects partition style (case-insensitive).
pub fn is_partition_style(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case(keys::ROLLING_STYLE_PARTITION))
}

/// `"N%"` -> `ceil(N)` for a traffic percentage; `None` when it is not a percentage.
pub fn traffic_to_weight(traffic: &str) -> Option<i32> {
    let number: f64 = traffic.strip_suffix('%')?.trim().parse().ok()?;
    (number.is_finite() && (0.0..=100.0).contains(&number)).then(|| number.ceil() as i32)
}

/// v1alpha1 -> v1beta1 without restoring stashed fields.
pub fn alpha_to_beta(src: &a::Rollout) -> b::Rollout {
    let annotations = src.metadata.annotations.as_ref();
    let rolling_style = annotations.and_then(|m| m.get(keys::ROLLING_STYLE));
    let traffic_routing = annotations
        .and_then(|m| m.get(keys::TRAFFIC_ROUTING))
        .cloned();
    let canary = src
        .spec
        .strategy
        .canary
        .as_ref()
        .map(|c| b::CanaryStrategy {
            steps: c
                .steps
                .as_ref()
                .map(|s| s.iter().map(step_to_beta).collect()),
            traffic_routings: c.traffic_routings.clone(),
            analysis: None,
            failure_threshold: c.failure_threshold.clone(),
            patch_pod_template_metadata: c.patch_pod_template_metadata.clone(),
            enable_extra_workload_for_canary: Some(!is_partition_style(
                rolling_style.map(String::as_str),
            )),
            traffic_routing_ref: traffic_routing,
            disable_generate_canary_service: c.disable_generate_canary_service,
        });
    let spec = b::RolloutSpec {
        workload_ref: src.spec.object_ref.workload_ref.clone().unwrap_or_default(),
        strategy: b::RolloutStrategy {
            paused: src.spec.strategy.paused,
            canary,
            blue_green: None,
        },
        disabled: src.spec.disabled,
    };
    let mut out = b::Rollout::new(&src.metadata.name.clone().unwrap_or_default(), spec);
    out.metadata = src.metadata.clone();
    out.status = src.status.as_ref().map(status_to_beta);
    out
}

fn step_to_beta(step: &a::CanaryStep) -> b::CanaryStep {
    let weight_percent = step.weight.map(|w| format!("{w}%"));
    b::CanaryStep {
        traffic: weight_percent.clone(),
        request_header_modifier: step.request_header_modifier.clone(),
        matches: step.matches.as_ref().map(|ms| {
            ms.iter()
                .map(|m| b::HttpRouteMatch {
                    path: None,
                    headers: m.headers.clone(),
                    query_params: None,
                })
                .collect()
        }),
        replicas: step
            .replicas
            .clone()
            .or_else(|| weight_percent.map(IntOrString::String)),
        pause: step.pause.clone(),
        analysis: None,
    }
}

fn status_to_beta(src: &a::RolloutStatus) -> b::RolloutStatus {
    let canary_status = src.canary_status.as_ref().map(|c| b::CanaryStatus {
        common: b::CommonStatus {
            observed_workload_generation: c.observed_workload_generation,
            observed_rollout_id: c.observed_rollout_id.clone(),
            rollout_hash: c.rollout_hash.clone(),
            stable_revision: c.stable_revision.clone(),
            pod_template_hash: c.pod_template_hash.clone(),
            current_step_index: c.current_step_index,
            next_step_index: c.next_step_index,
            current_step_state: c.current_step_state,
            finalising_step: c.finalising_step,
            message: c.message.clone(),
            last_update_time: c.last_update_time.clone(),
            // v1alpha1 has no analysis status; the controller writes v1beta1.
            analysis: None,
        },
        canary_revision: c.canary_revision.clone(),
        canary_replicas: c.canary_replicas,
        canary_ready_replicas: c.canary_ready_replicas,
    });
    b::RolloutStatus {
        observed_generation: src.observed_generation,
        current_step_index: canary_status
            .as_ref()
            .and_then(|c| c.common.current_step_index),
        current_step_state: canary_status
            .as_ref()
            .and_then(|c| c.common.current_step_state),
        canary_status,
        blue_green_status: None,
        conditions: src.conditions.clone(),
        phase: src.phase,
        message: src.message.clone(),
    }
}

/// v1beta1 -> v1alpha1 without stashing what v1alpha1 cannot express.
pub fn beta_to_alpha(src: &b::Rollout) -> a::Rollout {
    let mut metadata = src.metadata.clone();
    let name = metadata.name.clone().unwrap_or_default();
    let Some(canary) = src
        .spec
        .strategy
        .canary
        .as_ref()
        .filter(|_| src.spec.strategy.blue_green.is_none())
    else {
        // Blue-green (or empty) Rollouts have no v1alpha1 form: only metadata carries over.
        let mut out = a::Rollout::new(&name, a::RolloutSpec::default());
        out.metadata = metadata;
        return out;
    };
    let annotations = metadata.annotations.get_or_insert_with(Default::default);
    match canary.enable_extra_workload_for_canary {
        // Absent already means "canary" for a Deployment and "partition" for other kinds, the
        // same as enableExtraWorkloadForCanary=true in v1beta1, so an absent value stays absent.
        Some(true) => {
            if let Some(style) = annotations.get_mut(keys::ROLLING_STYLE) {
                *style = keys::ROLLING_STYLE_CANARY.to_string();
            }
        }
        _ => {
            annotations.insert(
                keys::ROLLING_STYLE.into(),
                keys::ROLLING_STYLE_PARTITION.into(),
            );
        }
    }
    if let Some(reference) = &canary.traffic_routing_ref {
        annotations.insert(keys::TRAFFIC_ROUTING.into(), reference.clone());
    }
    if annotations.is_empty() {
        metadata.annotations = None;
    }
    let spec = a::RolloutSpec {
        object_ref: a::ObjectRefWrapper {
            workload_ref: Some(src.spec.workload_ref.clone())
                .filter(|r| *r != ObjectRef::default()),
        },
        strategy: a::RolloutStrategy {
            paused: src.spec.strategy.paused,
            canary: Some(a::CanaryStrategy {
                steps: canary
                    .steps
                    .as_ref()
                    .map(|s| s.iter().map(step_to_alpha).collect()),
                traffic_routings: canary.traffic_routings.clone(),
                failure_threshold: canary.failure_threshold.clone(),
                patch_pod_template_metadata: canary.patch_pod_template_metadata.clone(),
                disable_generate_canary_service: canary.disable_generate_canary_service,
            }),
        },
        rollout_id: None,
        disabled: src.spec.disabled,
    };
    let mut out = a::Rollout::new(&name, spec);
    out.metadata = metadata;
    out.status = src.status.as_ref().map(status_to_alpha);
    out
}

fn step_to_alpha(step: &b::CanaryStep) -> a::CanaryStep {
    a::CanaryStep {
        weight: step.traffic.as_deref().and_then(traffic_to_weight),
        request_header_modifier: step.request_header_modifier.clone(),
        matches: step.matches.as_ref().map(|ms| {
            ms.iter()
                .map(|m| a::HttpRouteMatch {
                    headers: m.headers.clone(),
                })
                .collect()
        }),
        replicas: step.replicas.clone(),
        pause: step.pause.clone(),
    }
}

fn status_to_alpha(src: &b::RolloutStatus) -> a::RolloutStatus {
    a::RolloutStatus {
        observed_generation: src.observed_generation,
        canary_status: src.canary_status.as_ref().map(|c| a::CanaryStatus {
            observed_workload_generation: c.common.observed_workload_generation,
            observed_rollout_id: c.common.observed_rollout_id.clone(),
            rollout_hash: c.common.rollout_hash.clone(),
            stable_revision: c.common.stable_revision.clone(),
            canary_revision: c.canary_revision.clone(),
            pod_template_hash: c.common.pod_template_hash.clone(),
            canary_replicas: c.canary_replicas,
            canary_ready_replicas: c.canary_ready_replicas,
            next_step_index: c.common.next_step_index,
            current_step_index: c.common.current_step_index,
            current_step_state: c.common.current_step_state,
            finalising_step: c.common.finalising_step,
            message: c.common.message.clone(),
            last_update_time: c.common.last_update_time.clone(),
        }),
        conditions: src.conditions.clone(),
        phase: src.phase,
        message: src.message.clone(),
    }
}
