//! Table tests of the v1alpha1 <-> v1beta1 mapping and of the stash that makes
//! the round trip lossless.

use rollouts_api::conversion::*;
use rollouts_api::{keys, v1alpha1, v1beta1};
use serde_json::{Value, json};

fn alpha(value: Value) -> v1alpha1::Rollout {
    serde_json::from_value(value).unwrap()
}

fn beta(value: Value) -> v1beta1::Rollout {
    serde_json::from_value(value).unwrap()
}

/// A v1alpha1 Rollout of a Deployment; an empty annotation map is left out, as the API server does.
fn alpha_with(annotations: Value, steps: Value) -> v1alpha1::Rollout {
    let mut metadata = json!({"name": "r"});
    if annotations != json!({}) {
        metadata["annotations"] = annotations;
    }
    alpha(json!({
        "apiVersion": "rollouts.kruise.io/v1alpha1", "kind": "Rollout",
        "metadata": metadata,
        "spec": {
            "objectRef": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"}},
            "strategy": {"canary": {"steps": steps}}
        }
    }))
}

fn conversion_data<K: kube::Resource>(object: &K) -> Option<String> {
    object
        .meta()
        .annotations
        .as_ref()?
        .get(keys::CONVERSION_DATA)
        .cloned()
}

#[test]
fn weight_becomes_traffic_and_defaults_missing_replicas() {
    let cases = [
        (json!({"weight": 20, "replicas": 1}), Some("20%"), json!(1)),
        (json!({"weight": 40}), Some("40%"), json!("40%")),
        (json!({"replicas": "50%"}), None, json!("50%")),
    ];
    for (step, traffic, replicas) in cases {
        let b = alpha_to_beta(&alpha_with(json!({}), json!([step.clone()])));
        let steps = b.spec.strategy.canary.unwrap().steps.unwrap();
        assert_eq!(steps[0].traffic.as_deref(), traffic, "{step}");
        assert_eq!(
            serde_json::to_value(&steps[0].replicas).unwrap(),
            replicas,
            "{step}"
        );
    }
}

#[test]
fn traffic_becomes_the_ceiling_of_its_percentage() {
    let cases = [
        ("20%", Some(20)),
        ("20.5%", Some(21)),
        ("0%", Some(0)),
        ("100%", Some(100)),
        ("20", None),
        ("120%", None),
        ("x%", None),
    ];
    for (traffic, weight) in cases {
        assert_eq!(traffic_to_weight(traffic), weight, "{traffic}");
    }
}

#[test]
fn rolling_style_annotation_selects_extra_workload() {
    let cases = [
        (json!({}), true),
        (
            json!({"rollouts.kruise.io/rolling-style": "partition"}),
            false,
        ),
        (
            json!({"rollouts.kruise.io/rolling-style": "Partition"}),
            false,
        ),
        (json!({"rollouts.kruise.io/rolling-style": "canary"}), true),
    ];
    for (annotations, extra) in cases {
        let b = alpha_to_beta(&alpha_with(annotations.clone(), json!([{"replicas": 1}])));
        let canary = b.spec.strategy.canary.unwrap();
        assert_eq!(
            canary.enable_extra_workload_for_canary,
            Some(extra),
            "{annotations}"
        );
    }
}

#[test]
fn extra_workload_flag_becomes_the_rolling_style_annotation() {
    let cases = [
        (Some(false), json!(null), Some("partition")),
        (None, json!(null), Some("partition")),
        (Some(true), json!(null), None),
        (Some(true), json!("partition"), Some("canary")),
    ];
    for (extra, existing, expected) in cases {
        let mut annotations = json!({});
        if let Some(s) = existing.as_str() {
            annotations[keys::ROLLING_STYLE] = json!(s);
        }
        let b = beta(json!({
            "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout",
            "metadata": {"name": "r", "annotations": annotations},
            "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                     "strategy": {"canary": {"enableExtraWorkloadForCanary": extra, "steps": [{"replicas": 1}]}}}
        }));
        let a = beta_to_alpha(&b);
        let style = a
            .metadata
            .annotations
            .as_ref()
            .and_then(|m| m.get(keys::ROLLING_STYLE))
            .map(String::as_str);
        assert_eq!(style, expected, "extra={extra:?} existing={existing}");
    }
}

#[test]
fn traffic_routing_ref_and_annotation_map_to_each_other() {
    let a = alpha_with(
        json!({"rollouts.kruise.io/trafficrouting": "tr-demo"}),
        json!([{"replicas": 1}]),
    );
    let b = alpha_to_beta(&a);
    assert_eq!(
        b.spec
            .strategy
            .canary
            .as_ref()
            .unwrap()
            .traffic_routing_ref
            .as_deref(),
        Some("tr-demo")
    );
    let back = beta_to_alpha(&b);
    assert_eq!(
        back.metadata.annotations.unwrap()[keys::TRAFFIC_ROUTING],
        "tr-demo"
    );
}

#[test]
fn status_step_fields_are_mirrored_to_the_top_level_in_v1beta1() {
    let mut a = alpha_with(json!({}), json!([{"replicas": 1}]));
    a.status = Some(serde_json::from_value(json!({
        "phase": "Progressing", "message": "m",
        "canaryStatus": {"currentStepIndex": 1, "currentStepState": "StepPaused", "canaryReplicas": 1, "nextStepIndex": 2}
    })).unwrap());
    let b = to_v1beta1(&a).unwrap();
    let status = b.status.as_ref().unwrap();
    assert_eq!(status.current_step_index, Some(1));
    assert_eq!(
        status.current_step_state,
        Some(rollouts_api::common::StepState::StepPaused)
    );
    assert_eq!(
        status.canary_status.as_ref().unwrap().canary_replicas,
        Some(1)
    );
    assert_eq!(
        serde_json::to_value(to_v1alpha1(&b).unwrap()).unwrap(),
        serde_json::to_value(&a).unwrap()
    );
}

#[test]
fn upstream_empty_state_strings_read_as_unset() {
    let b = beta(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout", "metadata": {"name": "r"},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"}, "strategy": {}},
        "status": {"currentStepIndex": 0, "currentStepState": "",
                   "canaryStatus": {"currentStepState": "", "finalisingStep": "", "nextStepIndex": -1}}
    }));
    let status = b.status.unwrap();
    assert_eq!(status.current_step_state, None);
    assert_eq!(status.canary_status.unwrap().common.finalising_step, None);
}

#[test]
fn lossless_objects_carry_no_conversion_data() {
    let seed_canary = alpha_with(
        json!({}),
        json!([{"weight": 20, "replicas": 1, "pause": {}}]),
    );
    let seed_partition = alpha_with(
        json!({"rollouts.kruise.io/rolling-style": "partition"}),
        json!([{"replicas": 1}]),
    );
    for a in [seed_canary, seed_partition] {
        let b = to_v1beta1(&a).unwrap();
        assert_eq!(conversion_data(&b), None, "{:?}", a.metadata.annotations);
        assert_eq!(to_v1alpha1(&b).unwrap(), a);
    }
}

#[test]
fn fields_only_one_version_has_survive_the_round_trip() {
    // A weight-only step gains replicas in v1beta1; v1alpha1's rolloutID has no v1beta1 field.
    let mut a = alpha_with(json!({}), json!([{"weight": 40}]));
    a.spec.rollout_id = Some("old-id".into());
    let b = to_v1beta1(&a).unwrap();
    assert!(conversion_data(&b).is_some());
    assert_eq!(to_v1alpha1(&b).unwrap(), a);

    // Blue-green and query/path matches have no v1alpha1 form at all.
    let b = beta(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout", "metadata": {"name": "r"},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                 "strategy": {"blueGreen": {"steps": [{"replicas": "100%", "traffic": "0%"}]}}},
        "status": {"currentStepIndex": 1, "currentStepState": "StepPaused",
                   "blueGreenStatus": {"currentStepIndex": 1, "currentStepState": "StepPaused", "updatedRevision": "abc"}}
    }));
    let a = to_v1alpha1(&b).unwrap();
    assert!(a.spec.strategy.canary.is_none());
    assert_eq!(to_v1beta1(&a).unwrap(), b);

    // Metric analysis (this project's extension), on the strategy and on a step.
    let b = beta(json!({
        "apiVersion": "rollouts.kruise.io/v1beta1", "kind": "Rollout", "metadata": {"name": "r"},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "w"},
                 "strategy": {"canary": {
                     "analysis": {"prometheus": {"address": "http://prometheus:9090",
                                                 "bearerTokenSecret": {"name": "prom", "key": "token"}},
                                  "intervalSeconds": 10, "successfulChecks": 3, "failureLimit": 1,
                                  "onFailure": "Pause",
                                  "metrics": [{"name": "errors", "query": "sum(rate(errors[1m]))", "max": 0.05}]},
                     "steps": [{"replicas": 1, "analysis": {"disabled": true}}, {"replicas": "100%"}]}}}
    }));
    let a = to_v1alpha1(&b).unwrap();
    assert!(
        conversion_data(&a).is_some(),
        "v1alpha1 has no analysis field"
    );
    assert_eq!(to_v1beta1(&a).unwrap(), b);
}

#[test]
fn an_object_edited_in_the_other_version_keeps_the_edit() {
    let original = alpha_with(json!({}), json!([{"weight": 40}]));
    let mut stored = to_v1beta1(&original).unwrap();
    // Someone edits the v1beta1 object: the stashed v1alpha1 spec is stale and must not win.
    stored
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .steps
        .as_mut()
        .unwrap()[0]
        .replicas = Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(3));
    let read = to_v1alpha1(&stored).unwrap();
    let step = &read
        .spec
        .strategy
        .canary
        .as_ref()
        .unwrap()
        .steps
        .as_ref()
        .unwrap()[0];
    assert_eq!(step.weight, Some(40));
    assert_eq!(serde_json::to_value(&step.replicas).unwrap(), json!(3));
    assert_eq!(conversion_data(&read), None);
}

#[test]
fn malformed_conversion_data_is_ignored() {
    let mut a = alpha_with(
        json!({"rollouts.kruise.io/conversion-data": "{not json"}),
        json!([{"weight": 20, "replicas": 1}]),
    );
    let b = to_v1beta1(&a).unwrap();
    a.metadata.annotations = None;
    assert_eq!(conversion_data(&b), None);
    assert_eq!(to_v1alpha1(&b).unwrap(), a);
}
