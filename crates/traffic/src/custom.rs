//! Objects routed by a Lua script (Istio VirtualService and DestinationRule built in, any other
//! kind through the `kruise-rollout-configuration` ConfigMap), as upstream: the object's spec,
//! labels and annotations as they were before the release are saved in an annotation on it,
//! every step runs the script on that saved copy (so steps never pile up), and the end of the
//! release puts the saved copy back.

use crate::common::StepTraffic;
use rollouts_api::keys::ORIGINAL_SPEC_CONFIGURATION;
use rollouts_change::merge_diff;
use rollouts_script::{Limits, Script, run};
use serde_json::{Map, Value, json};

/// The parts of an object a script sees and changes.
fn routable_parts(object: &Value) -> Value {
    let metadata = &object["metadata"];
    let mut annotations = metadata
        .get("annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    annotations.remove(ORIGINAL_SPEC_CONFIGURATION);
    let mut parts = Map::new();
    parts.insert(
        "spec".into(),
        object.get("spec").cloned().unwrap_or(json!({})),
    );
    if let Some(labels) = metadata.get("labels").filter(|l| !is_empty(l)) {
        parts.insert("labels".into(), labels.clone());
    }
    if !annotations.is_empty() {
        parts.insert("annotations".into(), Value::Object(annotations));
    }
    Value::Object(parts)
}

fn is_empty(value: &Value) -> bool {
    value.is_null() || value.as_object().is_some_and(Map::is_empty)
}

/// The copy saved before the release, as the annotation holds it (text) and parsed.
fn saved(object: &Value) -> Option<(String, Value)> {
    let text = object["metadata"]["annotations"][ORIGINAL_SPEC_CONFIGURATION].as_str()?;
    let parsed = serde_json::from_str(text).ok()?;
    Some((text.to_string(), parsed))
}

/// `parts` (spec, labels, annotations) laid out as the object, for a merge diff against it.
fn as_object(parts: &Value) -> Value {
    json!({
        "metadata": {
            "labels": parts.get("labels").cloned().unwrap_or(Value::Null),
            "annotations": parts.get("annotations").cloned().unwrap_or(Value::Null),
        },
        "spec": parts.get("spec").cloned().unwrap_or(Value::Null),
    })
}

fn current(object: &Value) -> Value {
    let metadata = &object["metadata"];
    as_object(&json!({
        "labels": metadata.get("labels").cloned().unwrap_or(Value::Null),
        "annotations": metadata.get("annotations").cloned().unwrap_or(Value::Null),
        "spec": object.get("spec").cloned().unwrap_or(Value::Null),
    }))
}

/// What the script is given for `step` (upstream's field names).
fn script_input(
    original: &Value,
    step: &StepTraffic,
    stable_service: &str,
    canary_service: &str,
) -> Value {
    let canary_weight = step.weight.unwrap_or(-1);
    let mut input = json!({
        "data": original,
        "canaryWeight": canary_weight,
        "stableWeight": 100 - canary_weight,
        "stableService": stable_service,
        "canaryService": canary_service,
    });
    if !step.matches.is_empty() {
        input["matches"] = serde_json::to_value(&step.matches).unwrap_or_default();
    }
    if let Some(modifier) = &step.header_modifier {
        input["requestHeaderModifier"] = serde_json::to_value(modifier).unwrap_or_default();
    }
    input
}

/// The merge patch that routes `step` on `object` by `script` (`None`: it already does), or the
/// script's error.
pub fn ensure(
    object: &Value,
    script: &Script,
    step: &StepTraffic,
    stable_service: &str,
    canary_service: &str,
) -> Result<Option<Value>, String> {
    let (text, original) = saved(object).unwrap_or_else(|| {
        let parts = routable_parts(object);
        (parts.to_string(), parts)
    });
    let input = script_input(&original, step, stable_service, canary_service);
    let result = run(script, &input, &Limits::default()).map_err(|e| e.to_string())?;
    if !result.is_object() || !result.get("spec").is_some_and(Value::is_object) {
        return Err(format!(
            "Lua script {} must return a table with a spec (and labels, annotations)",
            script.name
        ));
    }
    let mut desired = as_object(&result);
    let annotations = &mut desired["metadata"]["annotations"];
    if !annotations.is_object() {
        *annotations = json!({});
    }
    annotations[ORIGINAL_SPEC_CONFIGURATION] = json!(text);
    Ok(merge_diff(&current(object), &desired))
}

/// The merge patch that puts back what `object` was before the release (`None`: nothing saved,
/// so nothing to restore).
pub fn finalise(object: &Value) -> Option<Value> {
    let (_, original) = saved(object)?;
    merge_diff(&current(object), &as_object(&original))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn virtual_service() -> Value {
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
            "metadata": {"name": "vs-demo", "namespace": "d", "labels": {"app": "demo"},
                "annotations": {"owner": "team-a"}},
            "spec": {"gateways": ["nginx-gateway"], "hosts": ["*"],
                "http": [{"route": [{"destination": {"host": "echoserver"}}]}]}})
    }

    fn script() -> Script {
        rollouts_script::builtin_for_object("networking.istio.io/v1alpha3", "VirtualService")
            .unwrap()
    }

    fn apply(object: &mut Value, patch: &Value) {
        let mut slot = Some(object.clone());
        rollouts_change::apply(&mut slot, &rollouts_change::Change::Merge(patch.clone())).unwrap();
        *object = slot.unwrap();
    }

    #[test]
    fn steps_run_on_the_saved_original_and_the_end_restores_it_exactly() {
        let pristine = virtual_service();
        let mut object = pristine.clone();
        let half = StepTraffic {
            weight: Some(50),
            ..Default::default()
        };
        let patch = ensure(&object, &script(), &half, "echoserver", "echoserver-canary")
            .unwrap()
            .expect("a change");
        apply(&mut object, &patch);
        assert_eq!(
            object["spec"]["http"][0]["route"],
            json!([{"destination": {"host": "echoserver"}, "weight": 50},
                {"destination": {"host": "echoserver-canary"}, "weight": 50}])
        );
        let saved: Value = serde_json::from_str(
            object["metadata"]["annotations"][ORIGINAL_SPEC_CONFIGURATION]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            saved,
            json!({"spec": pristine["spec"], "labels": {"app": "demo"},
                "annotations": {"owner": "team-a"}})
        );
        assert_eq!(object["metadata"]["labels"], json!({"app": "demo"}));
        assert_eq!(
            ensure(&object, &script(), &half, "echoserver", "echoserver-canary"),
            Ok(None),
            "routed already"
        );
        let more = StepTraffic {
            weight: Some(80),
            ..Default::default()
        };
        let patch = ensure(&object, &script(), &more, "echoserver", "echoserver-canary")
            .unwrap()
            .unwrap();
        apply(&mut object, &patch);
        assert_eq!(
            object["spec"]["http"][0]["route"][1],
            json!({"destination": {"host": "echoserver-canary"}, "weight": 80}),
            "from the original, not on top of the last step"
        );
        assert_eq!(
            object["spec"]["http"][0]["route"].as_array().unwrap().len(),
            2
        );
        let back = finalise(&object).expect("a restore");
        apply(&mut object, &back);
        assert_eq!(object, pristine);
        assert_eq!(finalise(&object), None);
    }

    #[test]
    fn a_broken_script_is_an_error_naming_it_and_changes_nothing() {
        let broken = Script::new(
            "lua.traffic.routing.Route.example.com",
            "local spec = obj.data.spec\nreturn spec.missing.field",
        );
        let step = StepTraffic {
            weight: Some(10),
            ..Default::default()
        };
        let error = ensure(&virtual_service(), &broken, &step, "s", "s-canary").unwrap_err();
        assert!(
            error.starts_with("Lua script lua.traffic.routing.Route.example.com line 2:"),
            "{error}"
        );
        let no_spec = Script::new("x", "return {labels = {a = 'b'}}");
        let error = ensure(&virtual_service(), &no_spec, &step, "s", "s-canary").unwrap_err();
        assert!(error.contains("must return a table with a spec"), "{error}");
    }
}
