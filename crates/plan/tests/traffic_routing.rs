//! TrafficRouting objects, decided over real objects that each decision's effects are applied
//! to: phases Initial → Healthy → Progressing → Finalizing → Healthy and Terminating, the
//! strategy routed to the stable Service's subset, routes restored exactly, problems and
//! failing scripts named; and the finalizer a Rollout holds on the one it links.

use rollouts_api::keys;
use rollouts_api::v1alpha1::{TrafficRouting, TrafficRoutingPhase};
use rollouts_change::{Change, Effect, Resource};
use rollouts_plan::traffic_routing::{
    LinkedRouting, RECHECK, RoutingDecision, decide_routing, linked_name, progressing_finalizer,
};
use rollouts_traffic::Provider;
use rollouts_traffic::objects::{CanaryTarget, Route, TrafficObjects};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const VIRTUAL_SERVICE: Resource = Resource::new(
    "networking.istio.io/v1alpha3",
    "VirtualService",
    "virtualservices",
);
const ORIGINAL_VS: &str = r#"{"gateways":["nginx-gateway"],"hosts":["*"],"http":[{"route":[{"destination":{"host":"echoserver"}}]}]}"#;

/// A TrafficRouting with one reference (Service echoserver, VirtualService vs-demo) and a
/// header-match strategy, as upstream's end-to-end test writes it.
fn routing() -> TrafficRouting {
    serde_yaml::from_str(
        "apiVersion: rollouts.kruise.io/v1alpha1
kind: TrafficRouting
metadata: {name: tr-demo, namespace: default, generation: 1, uid: u-1, resourceVersion: '7'}
spec:
  objectRef:
  - service: echoserver
    customNetworkRefs:
    - {apiVersion: networking.istio.io/v1alpha3, kind: VirtualService, name: vs-demo}
  strategy:
    matches:
    - headers: [{type: Exact, name: user-agent, value: pc}]
",
    )
    .unwrap()
}

/// Its traffic objects as the controller observes them, with `config` as the scripts
/// ConfigMap's data.
fn observed(routing: &TrafficRouting, config: &BTreeMap<String, String>) -> TrafficObjects {
    let reference = &routing.spec.object_ref[0];
    let providers = Provider::all_of(reference, config).unwrap();
    TrafficObjects {
        namespace: "default".into(),
        routes: Ok(providers
            .into_iter()
            .map(|provider| Route {
                resource: Some(VIRTUAL_SERVICE),
                object: Some(
                    json!({"metadata": {"name": "vs-demo", "namespace": "default"},
                    "spec": serde_json::from_str::<Value>(ORIGINAL_VS).unwrap()}),
                ),
                provider,
                canary_ingress: None,
            })
            .collect()),
        stable_service_name: "echoserver".into(),
        stable_service: Some(
            json!({"metadata": {"name": "echoserver", "namespace": "default"},
            "spec": {"selector": {"app": "echoserver"}}}),
        ),
        canary_service: None,
        grace_seconds: 3,
        canary_target: CanaryTarget::StableService,
    }
}

/// Applies a decision to the TrafficRouting and its objects, as the API server would.
fn apply(routing: &mut TrafficRouting, objects: &mut TrafficObjects, d: &RoutingDecision) {
    for effect in d.effects.iter().chain(&d.remove_finalizer) {
        if effect.object.resource == Resource::TRAFFIC_ROUTING {
            set_finalizers(routing, effect);
            continue;
        }
        assert_eq!(effect.object.resource, VIRTUAL_SERVICE, "{effect:?}");
        let route = &mut objects.routes.as_mut().unwrap()[0];
        rollouts_change::apply(&mut route.object, &effect.change).unwrap();
    }
    routing.status = Some(d.status.clone());
}

fn set_finalizers(routing: &mut TrafficRouting, effect: &Effect) {
    let Change::Merge(patch) = &effect.change else {
        panic!("finalizers change by a merge patch: {effect:?}");
    };
    assert_eq!(
        patch["metadata"]["resourceVersion"],
        json!(routing.metadata.resource_version),
        "guarded by the version read"
    );
    routing.metadata.finalizers = serde_json::from_value(patch["metadata"]["finalizers"].clone())
        .expect("a list of finalizers");
}

fn phase(d: &RoutingDecision) -> (Option<TrafficRoutingPhase>, &str) {
    (d.status.phase, d.status.message.as_deref().unwrap_or(""))
}

fn virtual_service(objects: &TrafficObjects) -> &Value {
    objects.routes.as_ref().unwrap()[0].object.as_ref().unwrap()
}

fn hold(routing: &mut TrafficRouting, rollout: &str) {
    routing
        .metadata
        .finalizers
        .get_or_insert_default()
        .push(progressing_finalizer(rollout));
}

fn delete(routing: &mut TrafficRouting) {
    routing.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
}

#[test]
fn a_new_trafficrouting_takes_its_finalizer_and_is_healthy_without_touching_routes() {
    let mut tr = routing();
    let mut objects = observed(&tr, &BTreeMap::new());
    let d = decide_routing(&tr, &objects);
    assert_eq!(
        phase(&d),
        (
            Some(TrafficRoutingPhase::Healthy),
            "TrafficRouting is Healthy"
        )
    );
    assert_eq!(d.status.observed_generation, Some(1));
    let [finalizer] = d.effects.as_slice() else {
        panic!("only our finalizer: {:?}", d.effects);
    };
    assert_eq!(finalizer.object.resource, Resource::TRAFFIC_ROUTING);
    apply(&mut tr, &mut objects, &d);
    assert_eq!(
        tr.metadata.finalizers,
        Some(vec![keys::TRAFFIC_ROUTING_FINALIZER.to_string()])
    );
    let again = decide_routing(&tr, &objects);
    assert!(again.effects.is_empty() && again.requeue_after.is_none());
}

#[test]
fn a_missing_service_keeps_it_initial_with_the_problem_named() {
    let tr = routing();
    let mut objects = observed(&tr, &BTreeMap::new());
    objects.stable_service = None;
    let d = decide_routing(&tr, &objects);
    assert_eq!(
        phase(&d),
        (
            Some(TrafficRoutingPhase::Initial),
            "TrafficRouting is Initializing: Service echoserver not found: traffic routing needs it"
        )
    );
    assert_eq!(d.requeue_after, Some(RECHECK));
}

#[test]
fn a_linked_release_routes_the_strategy_to_the_stable_subset_then_the_end_restores_exactly() {
    let mut tr = routing();
    let mut objects = observed(&tr, &BTreeMap::new());
    let d = decide_routing(&tr, &objects);
    apply(&mut tr, &mut objects, &d);
    hold(&mut tr, "rollout-demo");

    let d = decide_routing(&tr, &objects);
    assert_eq!(
        phase(&d),
        (
            Some(TrafficRoutingPhase::Progressing),
            "TrafficRouting is Progressing"
        )
    );
    assert_eq!(d.requeue_after, Some(Duration::from_secs(3)));
    apply(&mut tr, &mut objects, &d);
    // Upstream's expected VirtualService for this strategy.
    assert_eq!(
        virtual_service(&objects)["spec"],
        json!({"gateways": ["nginx-gateway"], "hosts": ["*"], "http": [
            {"match": [{"headers": {"user-agent": {"exact": "pc"}}}],
             "route": [{"destination": {"host": "echoserver", "subset": "canary"}}]},
            {"route": [{"destination": {"host": "echoserver"}}]}]})
    );
    let saved = virtual_service(&objects)["metadata"]["annotations"]
        [keys::ORIGINAL_SPEC_CONFIGURATION]
        .as_str()
        .expect("the original is saved");
    assert_eq!(
        serde_json::from_str::<Value>(saved).unwrap()["spec"],
        serde_json::from_str::<Value>(ORIGINAL_VS).unwrap()
    );
    let settled = decide_routing(&tr, &objects);
    assert!(settled.effects.is_empty() && settled.requeue_after.is_none());
    assert_eq!(settled.status.phase, Some(TrafficRoutingPhase::Progressing));

    tr.metadata
        .finalizers
        .as_mut()
        .unwrap()
        .retain(|f| f == keys::TRAFFIC_ROUTING_FINALIZER);
    let d = decide_routing(&tr, &objects);
    assert_eq!(
        phase(&d),
        (
            Some(TrafficRoutingPhase::Finalizing),
            "TrafficRouting is Finalizing"
        )
    );
    apply(&mut tr, &mut objects, &d);
    assert_eq!(
        virtual_service(&objects)["spec"],
        serde_json::from_str::<Value>(ORIGINAL_VS).unwrap()
    );
    assert_eq!(
        virtual_service(&objects)["metadata"].get("annotations"),
        None,
        "the saved copy is removed with the restore"
    );
    let d = decide_routing(&tr, &objects);
    assert_eq!(
        phase(&d),
        (
            Some(TrafficRoutingPhase::Healthy),
            "TrafficRouting is Healthy"
        )
    );
    assert!(d.effects.is_empty());
}

#[test]
fn a_failing_script_leaves_routes_as_they_are_with_the_error_in_the_message() {
    let mut tr = routing();
    let mut objects = observed(&tr, &BTreeMap::new());
    let d = decide_routing(&tr, &objects);
    apply(&mut tr, &mut objects, &d);
    hold(&mut tr, "rollout-demo");
    let mut failing = objects.clone();
    let Provider::Custom { script, .. } = &mut failing.routes.as_mut().unwrap()[0].provider else {
        panic!("a custom provider");
    };
    *script = Ok(rollouts_script::Script::new(
        "lua.traffic.routing.VirtualService.networking.istio.io",
        "error('no routes for you')",
    ));
    let d = decide_routing(&tr, &failing);
    let (phase_now, message) = phase(&d);
    assert_eq!(phase_now, Some(TrafficRoutingPhase::Progressing));
    assert!(
        message.starts_with("TrafficRouting is Progressing: ") && message.contains("no routes"),
        "{message}"
    );
    assert!(d.effects.is_empty(), "{:?}", d.effects);
    assert_eq!(d.requeue_after, Some(RECHECK));
}

#[test]
fn an_ingress_in_a_trafficrouting_routes_the_canary_ingress_to_the_stable_service() {
    let mut tr = routing();
    tr.spec.object_ref[0].custom_network_refs = None;
    tr.spec.object_ref[0].ingress = Some(rollouts_api::common::IngressTrafficRouting {
        class_type: None,
        name: "echoserver".into(),
    });
    tr.spec.strategy.matches = None;
    tr.spec.strategy.weight = Some(20);
    hold(&mut tr, "rollout-demo");
    tr.status = Some(rollouts_api::v1alpha1::TrafficRoutingStatus {
        phase: Some(TrafficRoutingPhase::Healthy),
        ..Default::default()
    });
    let mut objects = observed(&tr, &BTreeMap::new());
    let route = &mut objects.routes.as_mut().unwrap()[0];
    route.resource = Some(Resource::INGRESS);
    route.object = Some(
        json!({"metadata": {"name": "echoserver", "namespace": "default"}, "spec": {"rules": [
            {"http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "echoserver", "port": {"number": 80}}}}]}}]}}),
    );
    assert_eq!(objects.problem(), None);
    let d = decide_routing(&tr, &objects);
    let canary = d
        .effects
        .iter()
        .find_map(|e| match &e.change {
            Change::Create(body) if e.object.resource == Resource::INGRESS => Some(body),
            _ => None,
        })
        .expect("a canary Ingress is made");
    assert_eq!(
        canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"],
        "echoserver"
    );
    assert_eq!(
        canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"],
        "20"
    );
    assert_eq!(
        canary["metadata"]["ownerReferences"][0]["kind"],
        "TrafficRouting"
    );
}

#[test]
fn a_deleted_trafficrouting_restores_its_routes_before_letting_go() {
    let mut tr = routing();
    let mut objects = observed(&tr, &BTreeMap::new());
    let d = decide_routing(&tr, &objects);
    apply(&mut tr, &mut objects, &d);
    hold(&mut tr, "rollout-demo");
    let d = decide_routing(&tr, &objects);
    apply(&mut tr, &mut objects, &d);
    delete(&mut tr);
    let d = decide_routing(&tr, &objects);
    assert_eq!(
        phase(&d),
        (
            Some(TrafficRoutingPhase::Terminating),
            "TrafficRouting is Terminating"
        )
    );
    assert!(d.remove_finalizer.is_none(), "routes first");
    apply(&mut tr, &mut objects, &d);
    assert_eq!(
        virtual_service(&objects)["spec"],
        serde_json::from_str::<Value>(ORIGINAL_VS).unwrap()
    );
    let d = decide_routing(&tr, &objects);
    assert!(d.effects.is_empty());
    apply(&mut tr, &mut objects, &d);
    assert_eq!(
        tr.metadata.finalizers,
        Some(vec![progressing_finalizer("rollout-demo")]),
        "only ours goes; the Rollout's holds the object until its release ends"
    );
}

#[test]
fn unreadable_routes_are_not_taken_for_restored() {
    let mut tr = routing();
    tr.metadata.finalizers = Some(vec![keys::TRAFFIC_ROUTING_FINALIZER.into()]);
    tr.status = Some(rollouts_api::v1alpha1::TrafficRoutingStatus {
        phase: Some(TrafficRoutingPhase::Progressing),
        ..Default::default()
    });
    let mut objects = observed(&tr, &BTreeMap::new());
    objects.routes = Err("could not read VirtualService default/vs-demo: timeout".into());
    let d = decide_routing(&tr, &objects);
    assert_eq!(
        phase(&d),
        (
            Some(TrafficRoutingPhase::Finalizing),
            "TrafficRouting is Finalizing: could not read VirtualService default/vs-demo: timeout"
        )
    );
    assert_eq!(d.requeue_after, Some(RECHECK));
    delete(&mut tr);
    let d = decide_routing(&tr, &objects);
    assert!(d.remove_finalizer.is_none(), "{d:?}");
}

#[test]
fn a_rollout_links_by_trafficroutingref_or_the_annotation() {
    let mut rollout: rollouts_api::v1beta1::Rollout = serde_yaml::from_str(
        "apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata: {name: rollout-demo, namespace: default}
spec:
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: echoserver}
  strategy: {canary: {steps: [{replicas: 1}]}}
",
    )
    .unwrap();
    assert_eq!(linked_name(&rollout), None);
    rollout
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(keys::TRAFFIC_ROUTING.into(), "tr-annotated".into());
    assert_eq!(linked_name(&rollout), Some("tr-annotated"));
    rollout
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .traffic_routing_ref = Some("tr-ref".into());
    assert_eq!(linked_name(&rollout), Some("tr-ref"));
}

#[test]
fn a_release_holds_a_routing_object_that_can_route_and_waits_for_its_routes_at_the_end() {
    let mut tr = routing();
    let mut link = LinkedRouting {
        name: "tr-demo".into(),
        object: None,
    };
    assert_eq!(
        link.hold("rollout-demo"),
        Err("TrafficRouting tr-demo not found: the release waits for it".into())
    );
    tr.status = Some(rollouts_api::v1alpha1::TrafficRoutingStatus {
        phase: Some(TrafficRoutingPhase::Finalizing),
        ..Default::default()
    });
    link.object = Some(tr.clone());
    assert_eq!(
        link.hold("rollout-demo"),
        Err("TrafficRouting tr-demo is restoring its routes: the release waits for it".into())
    );
    tr.status.as_mut().unwrap().phase = Some(TrafficRoutingPhase::Healthy);
    link.object = Some(tr.clone());
    let add = link
        .hold("rollout-demo")
        .unwrap()
        .expect("the finalizer is added");
    set_finalizers(&mut tr, &add);
    assert_eq!(
        tr.metadata.finalizers,
        Some(vec![
            "progressing.rollouts.kruise.io/rollout-demo".to_string()
        ])
    );
    link.object = Some(tr.clone());
    assert_eq!(link.hold("rollout-demo"), Ok(None), "held already");

    tr.status.as_mut().unwrap().phase = Some(TrafficRoutingPhase::Progressing);
    link.object = Some(tr.clone());
    let (removal, wait) = link.release("rollout-demo");
    assert!(wait, "its routes still send requests to the new pods");
    set_finalizers(&mut tr, &removal.expect("the finalizer is removed"));
    assert_eq!(tr.metadata.finalizers, Some(Vec::new()));
    link.object = Some(tr.clone());
    assert_eq!(link.release("rollout-demo"), (None, true), "still routed");
    tr.status.as_mut().unwrap().phase = Some(TrafficRoutingPhase::Healthy);
    link.object = Some(tr.clone());
    assert_eq!(link.release("rollout-demo"), (None, false));

    hold(&mut tr, "other-rollout");
    tr.status.as_mut().unwrap().phase = Some(TrafficRoutingPhase::Progressing);
    link.object = Some(tr.clone());
    assert_eq!(
        link.release("rollout-demo"),
        (None, false),
        "routes kept for another release are not waited for"
    );
}
