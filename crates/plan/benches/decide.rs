//! How many decisions per second the pure core makes for a 100-replica Deployment release with
//! Nginx traffic routing: building the release from the cached objects (as the controller does
//! in every reconcile) plus `decide` and its effects, at each state of a five-step release.
//! Run with `make bench` or `cargo bench -p rollouts-plan --bench decide`.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::jiff::Timestamp;
use rollouts_api::keys;
use rollouts_api::v1beta1::Rollout;
use rollouts_change::Resource;
use rollouts_plan::machine::{self, Snapshot};
use rollouts_traffic::Provider;
use rollouts_traffic::objects::{Route, TrafficObjects};
use rollouts_workload::release::{deployment_release, owner_reference};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPLICAS: i64 = 100;

fn template(version: &str) -> Value {
    json!({"metadata": {"labels": {"app": "echoserver"}},
           "spec": {"containers": [{"name": "echoserver", "image": format!("echoserver:{version}"),
               "ports": [{"containerPort": 8080}],
               "env": [{"name": "NODE_NAME", "value": version}]}]}})
}

fn deployment() -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "echoserver", "namespace": "bench", "uid": "d-1", "generation": 3,
            "labels": {"app": "echoserver", keys::WORKLOAD_TYPE: "deployment",
                keys::STABLE_REVISION: "hash-v1"},
            "annotations": {keys::IN_PROGRESSING: "{\"rolloutName\":\"bench\"}"}},
        "spec": {"replicas": REPLICAS, "paused": true,
            "selector": {"matchLabels": {"app": "echoserver"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": template("v2")},
        "status": {"observedGeneration": 3, "replicas": REPLICAS, "readyReplicas": REPLICAS}
    }))
    .unwrap()
}

fn replica_set(version: &str, replicas: i64, ready: i64) -> Arc<ReplicaSet> {
    let mut template = template(version);
    template["metadata"]["labels"]["pod-template-hash"] = json!(format!("hash-{version}"));
    Arc::new(
        serde_json::from_value(json!({
            "metadata": {"name": format!("echoserver-hash-{version}"), "namespace": "bench",
                "labels": {"app": "echoserver", "pod-template-hash": format!("hash-{version}")},
                "annotations": {"deployment.kubernetes.io/revision": if version == "v1" { "1" } else { "2" }},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver",
                    "uid": "d-1", "controller": true}]},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "echoserver"}}, "template": template},
            "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": ready}
        }))
        .unwrap(),
    )
}

fn rollout(index: i32, state: &str) -> Rollout {
    let steps: Vec<Value> = ["20%", "40%", "60%", "80%", "100%"]
        .iter()
        .map(|r| json!({"replicas": r, "traffic": r, "pause": {}}))
        .collect();
    let mut rollout: Rollout = serde_json::from_value(json!({
        "apiVersion": format!("{}/v1beta1", keys::GROUP), "kind": "Rollout",
        "metadata": {"name": "bench", "namespace": "bench", "uid": "r-1", "generation": 1,
            "resourceVersion": "7", "finalizers": [keys::ROLLOUT_FINALIZER]},
        "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"},
                 "strategy": {"canary": {"steps": steps,
                     "trafficRoutings": [{"service": "echoserver", "ingress": {"name": "echoserver"}}]}}},
        "status": {"phase": "Progressing", "observedGeneration": 1,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "InRolling", "message": "Rollout is in Progressing"}],
            "canaryStatus": {"canaryRevision": "", "stableRevision": "hash-v1", "podTemplateHash": "hash-v2",
                "currentStepIndex": index, "nextStepIndex": index + 1, "currentStepState": state,
                "lastUpdateTime": "2026-01-01T00:00:00Z"}}
    }))
    .unwrap();
    let hash = rollouts_plan::plan_hash(&rollout);
    rollout
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(keys::ROLLOUT_HASH.into(), hash.clone());
    let canary = rollout
        .status
        .as_mut()
        .unwrap()
        .canary_status
        .as_mut()
        .unwrap();
    canary.common.rollout_hash = Some(hash);
    canary.canary_revision = Some(rollouts_workload::facts::template_revision(
        &serde_json::to_value(deployment()).unwrap(),
    ));
    rollout
}

fn traffic() -> TrafficObjects {
    TrafficObjects {
        namespace: "bench".into(),
        routes: Ok(vec![Route {
            provider: Provider::Nginx {
                ingress: "echoserver".into(),
            },
            resource: Some(Resource::INGRESS),
            object: Some(
                json!({"metadata": {"name": "echoserver", "namespace": "bench"},
            "spec": {"rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "echoserver", "port": {"number": 80}}}}]}}]}}),
            ),
            canary_ingress: None,
        }]),
        stable_service_name: "echoserver".into(),
        stable_service: Some(
            json!({"metadata": {"name": "echoserver", "namespace": "bench"},
            "spec": {"ports": [{"port": 80}], "selector": {"app": "echoserver", "pod-template-hash": "hash-v1"}}}),
        ),
        canary_service: None,
        grace_seconds: 3,
        canary_target: Default::default(),
    }
}

/// Decisions per second for one state, measured for about `budget`.
fn measure(label: &str, index: i32, state: &str, new_pods: i64, ready: i64, budget: Duration) {
    let rollout = rollout(index, state);
    let deployment = deployment();
    let replica_sets = [
        replica_set("v1", REPLICAS - new_pods, REPLICAS - new_pods),
        replica_set("v2", new_pods, ready),
    ];
    let traffic = traffic();
    let owner = owner_reference(&rollout);
    let now = Timestamp::from_second(1_767_225_700).unwrap();
    let (mut decisions, mut effects) = (0u64, 0usize);
    let started = Instant::now();
    while started.elapsed() < budget {
        for _ in 0..100 {
            let release =
                deployment_release(&rollout, &deployment, &replica_sets, &[], owner.clone());
            let decision = machine::decide(&Snapshot {
                rollout: &rollout,
                workload: Some(release.as_ref()),
                traffic: Some(&traffic),
                linked_routing: None,
                now,
                default_deadline_seconds: 600,
                not_ready_pods: &[],
                pods: None,
                autoscalers: None,
                analysis: None,
            });
            effects = decision.effects.len();
            black_box(decision);
            decisions += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{label:<34} {:>9.0} decisions/s {:>8.1} us/decision  ({effects} effects)",
        decisions as f64 / seconds,
        seconds * 1e6 / decisions as f64
    );
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("DECIDE_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );
    println!("decide + effects, 100-replica Deployment, 5 steps with Nginx traffic (1 core)");
    measure(
        "step 2 upgrading (30/40 ready)",
        2,
        "StepUpgrade",
        40,
        30,
        budget,
    );
    measure(
        "step 2 routing traffic",
        2,
        "StepTrafficRouting",
        40,
        40,
        budget,
    );
    measure(
        "step 2 paused for approval",
        2,
        "StepPaused",
        40,
        40,
        budget,
    );
    measure(
        "step 4 approved (StepReady)",
        4,
        "StepReady",
        80,
        80,
        budget,
    );
}
