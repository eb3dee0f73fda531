//! TrafficRouting objects: the phase one moves through and the route changes it asks for, from
//! the object and its observed traffic objects ([`decide_routing`]); and the finalizer a
//! releasing Rollout holds on the one it links, which is what tells that object to route.
//!
//! A TrafficRouting routes a chain of Services by one strategy: it makes no canary Service and
//! pins no Service; each provider sends the new pods' share to the Service it names (scripts
//! route it to a subset of that Service).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rollouts_api::keys;
use rollouts_api::v1alpha1::{
    TrafficRouting, TrafficRoutingPhase, TrafficRoutingStatus, TrafficRoutingStrategy,
};
use rollouts_api::v1beta1::{HttpRouteMatch, Rollout};
use rollouts_change::{Effect, ObjectKey, Resource};
use rollouts_traffic::StepTraffic;
use rollouts_traffic::objects::TrafficObjects;
use serde_json::{Value, json};
use std::time::Duration;

/// Status messages, one per phase (problems are appended after a colon).
pub mod messages {
    /// Phase Initial.
    pub const INITIALIZING: &str = "TrafficRouting is Initializing";
    /// Phase Healthy.
    pub const HEALTHY: &str = "TrafficRouting is Healthy";
    /// Phase Progressing.
    pub const PROGRESSING: &str = "TrafficRouting is Progressing";
    /// Phase Finalizing.
    pub const FINALIZING: &str = "TrafficRouting is Finalizing";
    /// Phase Terminating.
    pub const TERMINATING: &str = "TrafficRouting is Terminating";
}

/// A look again while waiting on something no watch announces (Services and provider objects
/// are not watched for TrafficRoutings; custom objects and scripts are read live).
pub const RECHECK: Duration = Duration::from_secs(5);

/// What to do about one TrafficRouting.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingDecision {
    /// The status to write.
    pub status: TrafficRoutingStatus,
    /// Changes to apply before the status, in order: our finalizer first, then the routes.
    pub effects: Vec<Effect>,
    /// Applied after the status write: the removal of our finalizer from a deleted object
    /// whose routes are restored.
    pub remove_finalizer: Option<Effect>,
    /// Look again after this long even if nothing changes.
    pub requeue_after: Option<Duration>,
}

/// The finalizer a releasing Rollout named `rollout` holds on the TrafficRouting it links.
pub fn progressing_finalizer(rollout: &str) -> String {
    format!("{}{rollout}", keys::PROGRESSING_FINALIZER_PREFIX)
}

/// The TrafficRouting `rollout` releases together with: `trafficRoutingRef` of its strategy,
/// else the `rollouts.kruise.io/trafficrouting` annotation.
pub fn linked_name(rollout: &Rollout) -> Option<&str> {
    let strategy = &rollout.spec.strategy;
    let reference = match (&strategy.blue_green, &strategy.canary) {
        (Some(blue_green), _) => blue_green.traffic_routing_ref.as_deref(),
        (None, Some(canary)) => canary.traffic_routing_ref.as_deref(),
        (None, None) => None,
    };
    reference
        .or_else(|| {
            let annotations = rollout.metadata.annotations.as_ref()?;
            annotations.get(keys::TRAFFIC_ROUTING).map(String::as_str)
        })
        .filter(|name| !name.trim().is_empty())
}

/// The traffic a TrafficRouting's strategy asks for; `None` when it asks for none.
pub fn strategy_traffic(strategy: &TrafficRoutingStrategy) -> Option<StepTraffic> {
    let matches: Vec<HttpRouteMatch> = strategy
        .matches
        .iter()
        .flatten()
        .map(|m| HttpRouteMatch {
            headers: m.headers.clone(),
            ..HttpRouteMatch::default()
        })
        .collect();
    (strategy.weight.is_some() || !matches.is_empty()).then(|| StepTraffic {
        weight: strategy.weight,
        matches,
        header_modifier: strategy.request_header_modifier.clone(),
    })
}

/// `metadata.finalizers` of `meta` with `add` added and `remove` removed, as a merge patch
/// guarded by the `resourceVersion` they were read at (a concurrent change conflicts instead of
/// being overwritten); `None` when nothing changes.
pub fn finalizers_change(
    object: ObjectKey,
    meta: &ObjectMeta,
    add: Option<&str>,
    remove: Option<&str>,
    why: &str,
) -> Option<Effect> {
    let current = meta.finalizers.clone().unwrap_or_default();
    let mut wanted: Vec<String> = current
        .iter()
        .filter(|f| Some(f.as_str()) != remove)
        .cloned()
        .collect();
    if let Some(add) = add
        && !wanted.iter().any(|f| f == add)
    {
        wanted.push(add.to_string());
    }
    (wanted != current).then(|| {
        Effect::merge(
            object,
            json!({"metadata": {"finalizers": wanted, "resourceVersion": meta.resource_version}}),
            why,
        )
    })
}

/// The TrafficRouting itself as an object to change.
pub fn routing_key(routing: &TrafficRouting) -> ObjectKey {
    ObjectKey::new(
        Resource::TRAFFIC_ROUTING,
        routing.metadata.namespace.as_deref().unwrap_or_default(),
        routing.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// Owner of the objects a TrafficRouting makes (canary Ingresses).
fn owner_reference(routing: &TrafficRouting) -> Value {
    json!({
        "apiVersion": Resource::TRAFFIC_ROUTING.api_version,
        "kind": Resource::TRAFFIC_ROUTING.kind,
        "name": routing.metadata.name,
        "uid": routing.metadata.uid,
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether any Rollout holds a TrafficRouting with `finalizers` for a release.
pub fn releasing(finalizers: &[String]) -> bool {
    finalizers
        .iter()
        .any(|f| f.starts_with(keys::PROGRESSING_FINALIZER_PREFIX))
}

impl RoutingDecision {
    fn set(&mut self, phase: TrafficRoutingPhase, message: &str, problem: Option<&str>) {
        self.status.phase = Some(phase);
        self.status.message = Some(match problem {
            Some(problem) => format!("{message}: {problem}"),
            None => message.to_string(),
        });
    }

    fn requeue(&mut self, after: Duration) {
        self.requeue_after = Some(self.requeue_after.map_or(after, |t| t.min(after)));
    }

    /// Puts the routes back while in `phase`: `true` once they are. Routes that cannot be read
    /// are not known to be back: the problem is named and they are read again.
    fn restore(
        &mut self,
        traffic: &TrafficObjects,
        phase: TrafficRoutingPhase,
        message: &str,
    ) -> bool {
        if let Err(problem) = &traffic.routes {
            self.set(phase, message, Some(problem));
            self.requeue(RECHECK);
            return false;
        }
        self.set(phase, message, None);
        let effects = traffic.restore_routes();
        let done = effects.is_empty();
        self.apply(effects, traffic.grace_seconds);
        done
    }

    /// Route changes made now are checked again once the data plane had its grace period.
    fn apply(&mut self, effects: Vec<Effect>, grace_seconds: i64) {
        if !effects.is_empty() {
            self.requeue(Duration::from_secs(grace_seconds.max(1) as u64));
        }
        self.effects.extend(effects);
    }
}

/// Decides the next status of `routing` and the changes that lead there, from its traffic
/// objects as observed (built with [`rollouts_traffic::objects::CanaryTarget::StableService`]).
///
/// Phases: Initial until its Services and objects exist; Healthy while no Rollout releases;
/// Progressing (routes follow the strategy) while any linked Rollout holds its finalizer;
/// Finalizing (routes restored) once none does, then Healthy again; Terminating when deleted,
/// where the routes are restored before our finalizer lets it go.
pub fn decide_routing(routing: &TrafficRouting, traffic: &TrafficObjects) -> RoutingDecision {
    let mut d = RoutingDecision {
        status: routing.status.clone().unwrap_or_default(),
        ..RoutingDecision::default()
    };
    d.status.observed_generation = routing.metadata.generation;
    let key = routing_key(routing);
    let finalizers = routing.metadata.finalizers.as_deref().unwrap_or_default();
    if routing.metadata.deletion_timestamp.is_some() {
        let (phase, message) = (TrafficRoutingPhase::Terminating, messages::TERMINATING);
        if d.restore(traffic, phase, message) {
            d.remove_finalizer = finalizers_change(
                key,
                &routing.metadata,
                None,
                Some(keys::TRAFFIC_ROUTING_FINALIZER),
                "routes restored: the TrafficRouting may go",
            );
        }
        return d;
    }
    d.effects.extend(finalizers_change(
        key,
        &routing.metadata,
        Some(keys::TRAFFIC_ROUTING_FINALIZER),
        None,
        "restore the routes before the TrafficRouting goes",
    ));
    let mut phase = d.status.phase.unwrap_or(TrafficRoutingPhase::Initial);
    if phase == TrafficRoutingPhase::Initial {
        if let Some(problem) = traffic.problem() {
            d.set(phase, messages::INITIALIZING, Some(&problem));
            d.requeue(RECHECK);
            return d;
        }
        phase = TrafficRoutingPhase::Healthy;
    }
    let releasing = releasing(finalizers);
    phase = match phase {
        TrafficRoutingPhase::Healthy if releasing => TrafficRoutingPhase::Progressing,
        TrafficRoutingPhase::Progressing if !releasing => TrafficRoutingPhase::Finalizing,
        // A deletion that was undone: the routes are restored already.
        TrafficRoutingPhase::Terminating => TrafficRoutingPhase::Healthy,
        other => other,
    };
    match phase {
        TrafficRoutingPhase::Progressing => progress(routing, traffic, &mut d),
        TrafficRoutingPhase::Finalizing => {
            if d.restore(traffic, phase, messages::FINALIZING) {
                d.set(TrafficRoutingPhase::Healthy, messages::HEALTHY, None);
            }
        }
        _ => d.set(TrafficRoutingPhase::Healthy, messages::HEALTHY, None),
    }
    d
}

/// Progressing: the routes follow the strategy (a problem or a failing script leaves them as
/// they are, named in the message).
fn progress(routing: &TrafficRouting, traffic: &TrafficObjects, d: &mut RoutingDecision) {
    let phase = TrafficRoutingPhase::Progressing;
    if let Some(problem) = traffic.problem() {
        d.set(phase, messages::PROGRESSING, Some(&problem));
        d.requeue(RECHECK);
        return;
    }
    let Some(wanted) = strategy_traffic(&routing.spec.strategy) else {
        return d.set(phase, messages::PROGRESSING, None);
    };
    match traffic.route_effects(&wanted, &owner_reference(routing)) {
        Ok(effects) => {
            d.set(phase, messages::PROGRESSING, None);
            d.apply(effects, traffic.grace_seconds);
        }
        Err(problem) => {
            d.set(phase, messages::PROGRESSING, Some(&problem));
            d.requeue(RECHECK);
        }
    }
}

/// The TrafficRouting a Rollout links ([`linked_name`]), as read live for its decision.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkedRouting {
    /// Its name, in the Rollout's namespace.
    pub name: String,
    /// The object; `None` when it does not exist.
    pub object: Option<TrafficRouting>,
}

impl LinkedRouting {
    /// Before a release starts: the change that makes the linked TrafficRouting route for
    /// `rollout` (its finalizer, `None` once held), or why the release waits for it.
    pub fn hold(&self, rollout: &str) -> Result<Option<Effect>, String> {
        let Some(routing) = &self.object else {
            return Err(format!(
                "TrafficRouting {} not found: the release waits for it",
                self.name
            ));
        };
        let phase = routing.status.as_ref().and_then(|s| s.phase);
        let ending = routing.metadata.deletion_timestamp.is_some()
            || matches!(
                phase,
                Some(TrafficRoutingPhase::Finalizing | TrafficRoutingPhase::Terminating)
            );
        if ending {
            return Err(format!(
                "TrafficRouting {} is restoring its routes: the release waits for it",
                self.name
            ));
        }
        Ok(finalizers_change(
            routing_key(routing),
            &routing.metadata,
            Some(&progressing_finalizer(rollout)),
            None,
            "the linked TrafficRouting routes while the release runs",
        ))
    }

    /// When a release ends: the change that lets the linked TrafficRouting restore its routes
    /// (our finalizer off), and whether the end waits for them to be restored, so traffic has
    /// left the new pods before they go. No wait while another Rollout still releases with it.
    pub fn release(&self, rollout: &str) -> (Option<Effect>, bool) {
        let Some(routing) = &self.object else {
            return (None, false);
        };
        let ours = progressing_finalizer(rollout);
        let removal = finalizers_change(
            routing_key(routing),
            &routing.metadata,
            None,
            Some(&ours),
            "the release ended: the linked TrafficRouting restores its routes",
        );
        let others_release = routing
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| *f != ours && f.starts_with(keys::PROGRESSING_FINALIZER_PREFIX));
        let phase = routing.status.as_ref().and_then(|s| s.phase);
        let routed = matches!(
            phase,
            Some(TrafficRoutingPhase::Progressing | TrafficRoutingPhase::Finalizing)
        );
        (removal, routed && !others_release)
    }
}
