//! Rollout validation: every rule, for both versions, each error naming the
//! field. The webhook answers with these; nothing here reads the cluster.

use crate::{is_real_partition, rolling_style};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::common::{RolloutPhase, TrafficRoutingRef};
use rollouts_api::conversion::{alpha_to_beta, is_partition_style};
use rollouts_api::v1beta1::{CanaryStep, Rollout};
use rollouts_api::{keys, v1alpha1};
use rollouts_workload::WorkloadKind;
use std::fmt;

/// Default of `--partition-percent-limit`: the largest percentage of pods a partition-style
/// step that also routes traffic may update.
pub const DEFAULT_PARTITION_PERCENT_LIMIT: i32 = 50;

/// One violated rule: the field and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, `spec.strategy.canary.steps[1].replicas` style.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// What a Rollout is checked against besides itself.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The stored object on UPDATE, `None` on CREATE.
    pub old: Option<&'a Rollout>,
    /// The other Rollouts of the namespace (the object itself may be among them).
    pub others: &'a [&'a Rollout],
    /// `--partition-percent-limit`.
    pub partition_percent_limit: i32,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Validates a v1beta1 Rollout.
pub fn validate_v1beta1(rollout: &Rollout, ctx: &Context) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check_workload(rollout, "spec.workloadRef", &mut errors);
    let strategy = &rollout.spec.strategy;
    match (&strategy.canary, &strategy.blue_green) {
        (None, None) => errors.push(err(
            "spec.strategy",
            "one of canary and blueGreen must be set",
        )),
        (Some(_), Some(_)) => errors.push(err(
            "spec.strategy",
            "canary and blueGreen cannot both be set",
        )),
        (Some(canary), None) => {
            check_traffic_routings(
                canary.traffic_routings.as_deref(),
                "spec.strategy.canary",
                &mut errors,
            );
            check_matches_supported(
                canary.traffic_routings.as_deref(),
                canary.steps.as_deref(),
                &mut errors,
            );
            check_steps(
                rollout,
                canary.steps.as_deref(),
                "spec.strategy.canary",
                false,
                ctx,
                &mut errors,
            );
        }
        (None, Some(blue_green)) => {
            let reference = &rollout.spec.workload_ref;
            let supported = matches!(
                (reference.group(), reference.kind.as_str()),
                ("apps", "Deployment") | ("apps.kruise.io", "CloneSet")
            );
            if !supported {
                errors.push(err(
                    "spec.workloadRef",
                    "blueGreen supports only Deployment and CloneSet workloads",
                ));
            }
            check_traffic_routings(
                blue_green.traffic_routings.as_deref(),
                "spec.strategy.blueGreen",
                &mut errors,
            );
            let routed = blue_green
                .traffic_routings
                .as_ref()
                .is_some_and(|r| !r.is_empty());
            for (i, step) in blue_green.steps.iter().flatten().enumerate() {
                if !routed && crate::step_has_traffic(step) {
                    errors.push(err(
                        format!("spec.strategy.blueGreen.steps[{i}].traffic"),
                        "a blue-green step with traffic needs spec.strategy.blueGreen.trafficRoutings",
                    ));
                }
            }
            check_steps(
                rollout,
                blue_green.steps.as_deref(),
                "spec.strategy.blueGreen",
                true,
                ctx,
                &mut errors,
            );
        }
    }
    check_analysis(rollout, &mut errors);
    check_conflicts(rollout, ctx.others, "spec.workloadRef", &mut errors);
    if let Some(old) = ctx.old {
        check_immutable_while_progressing(old, rollout, &mut errors);
    }
    errors
}

/// Metric analysis: every field, and a rollback on failure only where the workload can go back.
fn check_analysis(rollout: &Rollout, errors: &mut Vec<FieldError>) {
    let prefix = match rollout.spec.strategy.blue_green {
        Some(_) => "spec.strategy.blueGreen",
        None => "spec.strategy.canary",
    };
    let problems = crate::analysis::validate(rollout, prefix);
    errors.extend(
        problems
            .into_iter()
            .chain(crate::analysis::rollback_problem(rollout, prefix))
            .map(|(field, message)| err(field, message)),
    );
}

fn check_workload(rollout: &Rollout, field: &str, errors: &mut Vec<FieldError>) {
    let reference = &rollout.spec.workload_ref;
    if reference.name.is_empty() {
        errors.push(err(format!("{field}.name"), "must be set"));
    }
    if WorkloadKind::of(reference).is_none() {
        errors.push(err(
            field,
            format!(
                "workload kind {:?} of {:?} is not supported (Deployment, StatefulSet, DaemonSet, ReplicaSet, CloneSet, Advanced StatefulSet, Advanced DaemonSet)",
                reference.kind, reference.api_version
            ),
        ));
    }
}

/// Ingress providers read only headers (and MSE query parameters) of a match. A condition that
/// no provider of the routing would act on is refused instead of silently dropped, naming the
/// providers that support it. A Gateway API HTTPRoute and custom (Lua) providers take every
/// condition, and so does an Ingress class routed by a script of the user's (which may).
fn check_matches_supported(
    routings: Option<&[TrafficRoutingRef]>,
    steps: Option<&[CanaryStep]>,
    errors: &mut Vec<FieldError>,
) {
    let Some(routing) = routings.and_then(|r| r.first()) else {
        return;
    };
    let Some(ingress) = routing.ingress.as_ref() else {
        return;
    };
    let takes_all = routing.gateway.is_some()
        || routing
            .custom_network_refs
            .as_ref()
            .is_some_and(|c| !c.is_empty());
    let class = ingress
        .class_type
        .as_deref()
        .filter(|c| !c.is_empty())
        .unwrap_or("nginx")
        .to_ascii_lowercase();
    let known = ["nginx", "mse", "higress", "aliyun-alb"].contains(&class.as_str());
    if takes_all || !known {
        return;
    }
    for (i, step) in steps.unwrap_or_default().iter().enumerate() {
        for (j, matched) in step.matches.iter().flatten().enumerate() {
            let at = format!("spec.strategy.canary.steps[{i}].matches[{j}]");
            if matched.path.is_some() {
                errors.push(err(format!("{at}.path"), format!("path matches need a Gateway API HTTPRoute or a custom (Lua) provider; ingress class '{class}' ignores them")));
            }
            let queries = matched.query_params.as_ref().is_some_and(|q| !q.is_empty());
            if queries && class != "mse" {
                errors.push(err(format!("{at}.queryParams"), format!("query parameter matches need MSE, a Gateway API HTTPRoute or a custom (Lua) provider; ingress class '{class}' ignores them")));
            }
        }
    }
}

fn check_traffic_routings(
    routings: Option<&[TrafficRoutingRef]>,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) {
    let routings = routings.unwrap_or_default();
    if routings.len() > 1 {
        errors.push(err(
            format!("{prefix}.trafficRoutings"),
            "at most one traffic routing is supported",
        ));
    }
    for (i, routing) in routings.iter().enumerate() {
        let at = format!("{prefix}.trafficRoutings[{i}]");
        if routing.grace_period_seconds.is_some_and(|g| g < 0) {
            errors.push(err(
                format!("{at}.gracePeriodSeconds"),
                "cannot be negative",
            ));
        }
        if routing.service.is_empty() {
            errors.push(err(format!("{at}.service"), "cannot be empty"));
        }
        let custom = routing
            .custom_network_refs
            .as_ref()
            .is_some_and(|c| !c.is_empty());
        if routing.ingress.is_none() && routing.gateway.is_none() && !custom {
            errors.push(err(
                at.clone(),
                "one of ingress, gateway and customNetworkRefs must be set",
            ));
        }
        if routing.ingress.as_ref().is_some_and(|i| i.name.is_empty()) {
            errors.push(err(format!("{at}.ingress.name"), "cannot be empty"));
        }
        let route_name = routing
            .gateway
            .as_ref()
            .map(|g| g.http_route_name.as_deref().unwrap_or_default());
        if route_name.is_some_and(str::is_empty) {
            errors.push(err(
                format!("{at}.gateway.httpRouteName"),
                "must name the HTTPRoute",
            ));
        }
    }
}

/// `"N%"` with an integer N.
fn percent(value: &str) -> Option<i32> {
    value.strip_suffix('%')?.parse().ok()
}

fn check_steps(
    rollout: &Rollout,
    steps: Option<&[CanaryStep]>,
    prefix: &str,
    blue_green: bool,
    ctx: &Context,
    errors: &mut Vec<FieldError>,
) {
    let steps = steps.unwrap_or_default();
    if steps.is_empty() {
        errors.push(err(
            format!("{prefix}.steps"),
            "must have at least one step",
        ));
        return;
    }
    let real_partition = is_real_partition(rollout);
    for (i, step) in steps.iter().enumerate() {
        let at = format!("{prefix}.steps[{i}]");
        match &step.replicas {
            None => errors.push(err(format!("{at}.replicas"), "must be set")),
            Some(IntOrString::Int(n)) if *n <= 0 => errors.push(err(
                format!("{at}.replicas"),
                "must be a positive number or a percentage with 0% < replicas <= 100%",
            )),
            Some(IntOrString::String(s)) => match percent(s) {
                Some(p) if p > 0 && p <= 100 => {
                    let routes_traffic = crate::step_has_traffic(step);
                    if real_partition && routes_traffic && p > ctx.partition_percent_limit {
                        errors.push(err(
                            format!("{at}.replicas"),
                            format!("a partition-style step that routes traffic may update at most {}% of pods", ctx.partition_percent_limit),
                        ));
                    }
                }
                _ => errors.push(err(
                    format!("{at}.replicas"),
                    "must be a positive number or a percentage with 0% < replicas <= 100%",
                )),
            },
            Some(IntOrString::Int(_)) => {}
        }
        if let Some(traffic) = &step.traffic {
            let lowest = if blue_green { 0 } else { 1 };
            if !percent(traffic).is_some_and(|t| t >= lowest && t <= 100) {
                let range = if blue_green {
                    "0% <= traffic <= 100%"
                } else {
                    "0% < traffic <= 100%"
                };
                errors.push(err(
                    format!("{at}.traffic"),
                    format!("must be a percentage with {range}"),
                ));
            }
        }
    }
    for (i, pair) in steps.windows(2).enumerate() {
        let decreasing = match (&pair[0].replicas, &pair[1].replicas) {
            (Some(IntOrString::Int(a)), Some(IntOrString::Int(b))) => *b > 0 && b < a,
            (Some(IntOrString::String(a)), Some(IntOrString::String(b))) => {
                matches!((percent(a), percent(b)), (Some(a), Some(b)) if b > 0 && b < a)
            }
            _ => false,
        };
        if decreasing {
            errors.push(err(
                format!("{prefix}.steps[{}].replicas", i + 1),
                format!("must be >= step {i}'s replicas"),
            ));
        }
    }
}

fn check_conflicts(
    rollout: &Rollout,
    others: &[&Rollout],
    field: &str,
    errors: &mut Vec<FieldError>,
) {
    let name = rollout.metadata.name.as_deref();
    let reference = &rollout.spec.workload_ref;
    let conflict = others.iter().find(|o| {
        o.metadata.name.as_deref() != name
            && o.metadata.deletion_timestamp.is_none()
            && o.spec.workload_ref == *reference
    });
    if let Some(other) = conflict {
        errors.push(err(
            field,
            format!(
                "Rollout {} already governs {} {}: a workload can have only one Rollout",
                other.metadata.name.as_deref().unwrap_or_default(),
                reference.kind,
                reference.name
            ),
        ));
    }
}

fn check_immutable_while_progressing(old: &Rollout, new: &Rollout, errors: &mut Vec<FieldError>) {
    let phase = old.status.as_ref().and_then(|s| s.phase);
    if !matches!(
        phase,
        Some(RolloutPhase::Progressing) | Some(RolloutPhase::Terminating)
    ) {
        return;
    }
    let while_releasing = "cannot change while a release is in progress";
    if old.spec.workload_ref != new.spec.workload_ref {
        errors.push(err("spec.workloadRef", while_releasing));
    }
    let routings = |r: &Rollout| {
        let s = &r.spec.strategy;
        s.canary
            .as_ref()
            .map(|c| c.traffic_routings.clone())
            .or(s.blue_green.as_ref().map(|b| b.traffic_routings.clone()))
    };
    if routings(old) != routings(new) {
        errors.push(err("spec.strategy.trafficRoutings", while_releasing));
    }
    if rolling_style(old) != rolling_style(new) || is_real_partition(old) != is_real_partition(new)
    {
        errors.push(err(
            "spec.strategy",
            format!("rolling style and enableExtraWorkloadForCanary {while_releasing}"),
        ));
    }
    if crate::steps(old).len() != crate::steps(new).len() {
        errors.push(err(
            "spec.strategy.steps",
            format!("the number of steps {while_releasing}"),
        ));
    }
}

/// Validates a v1alpha1 Rollout: its own rules, then the v1beta1 rules on its converted form
/// with field paths spelled as in v1alpha1.
pub fn validate_v1alpha1(
    rollout: &v1alpha1::Rollout,
    old: Option<&v1alpha1::Rollout>,
    ctx: &Context,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let style = rollout
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(keys::ROLLING_STYLE));
    if let Some(style) = style.filter(|s| {
        !s.is_empty()
            && !s.eq_ignore_ascii_case(keys::ROLLING_STYLE_CANARY)
            && !is_partition_style(Some(s))
    }) {
        errors.push(err(
            format!("metadata.annotations[{}]", keys::ROLLING_STYLE),
            format!("{style:?} must be canary, partition or empty"),
        ));
    }
    if rollout.spec.object_ref.workload_ref.is_none() {
        errors.push(err("spec.objectRef.workloadRef", "must be set"));
    }
    let Some(canary) = &rollout.spec.strategy.canary else {
        errors.push(err("spec.strategy.canary", "must be set"));
        return errors;
    };
    let has_routing = canary
        .traffic_routings
        .as_ref()
        .is_some_and(|r| !r.is_empty());
    let steps = canary.steps.as_deref().unwrap_or_default();
    for (i, step) in steps.iter().enumerate() {
        let at = format!("spec.strategy.canary.steps[{i}]");
        if step.weight.is_none() && step.replicas.is_none() {
            errors.push(err(at.clone(), "weight and replicas cannot both be empty"));
        }
        if step.weight.is_some_and(|w| !(1..=100).contains(&w)) {
            errors.push(err(format!("{at}.weight"), "must be between 1 and 100"));
        }
    }
    if has_routing {
        for (i, pair) in steps.windows(2).enumerate() {
            if let (Some(a), Some(b)) = (pair[0].weight, pair[1].weight)
                && b < a
            {
                errors.push(err(
                    format!("spec.strategy.canary.steps[{}].weight", i + 1),
                    format!("must be >= step {i}'s weight"),
                ));
            }
        }
    }
    if let Some(old) = old {
        let phase = old.status.as_ref().and_then(|s| s.phase);
        let releasing = matches!(
            phase,
            Some(RolloutPhase::Progressing) | Some(RolloutPhase::Terminating)
        );
        if releasing {
            check_v1alpha1_immutable(old, rollout, &mut errors);
        }
    }
    // v1alpha1 has its own update rules (above): the number of steps and the style fields of
    // v1beta1 may change during a release, and the controller re-plans.
    let beta = alpha_to_beta(rollout);
    let beta_ctx = Context { old: None, ..*ctx };
    let weight_steps: Vec<bool> = steps.iter().map(|s| s.weight.is_some()).collect();
    for mut e in validate_v1beta1(&beta, &beta_ctx) {
        if e.field.starts_with("spec.workloadRef") {
            if rollout.spec.object_ref.workload_ref.is_none() {
                continue;
            }
            e.field = e
                .field
                .replacen("spec.workloadRef", "spec.objectRef.workloadRef", 1);
        }
        if e.field.ends_with(".traffic") {
            e.field = e.field.replace(".traffic", ".weight");
        }
        let defaulted_replicas = e.field.ends_with(".replicas")
            && step_index(&e.field)
                .is_some_and(|i| weight_steps.get(i) == Some(&true) && steps[i].replicas.is_none());
        if defaulted_replicas {
            e.field = e.field.replace(".replicas", ".weight");
        }
        if !errors.contains(&e) {
            errors.push(e);
        }
    }
    errors
}

/// What a v1alpha1 Rollout may not change while it releases: its workload, its traffic routing
/// and its rolling-style annotation.
fn check_v1alpha1_immutable(
    old: &v1alpha1::Rollout,
    new: &v1alpha1::Rollout,
    errors: &mut Vec<FieldError>,
) {
    let while_releasing = "cannot change while a release is in progress";
    if old.spec.object_ref.workload_ref != new.spec.object_ref.workload_ref {
        errors.push(err("spec.objectRef.workloadRef", while_releasing));
    }
    let routings = |r: &v1alpha1::Rollout| {
        r.spec
            .strategy
            .canary
            .as_ref()
            .map(|c| c.traffic_routings.clone())
    };
    if routings(old) != routings(new) {
        errors.push(err("spec.strategy.canary.trafficRoutings", while_releasing));
    }
    let style = |r: &v1alpha1::Rollout| {
        r.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(keys::ROLLING_STYLE).cloned())
    };
    if style(old) != style(new) {
        errors.push(err(
            format!("metadata.annotations[{}]", keys::ROLLING_STYLE),
            while_releasing,
        ));
    }
}

fn step_index(field: &str) -> Option<usize> {
    let start = field.find("steps[")? + "steps[".len();
    field[start..].split(']').next()?.parse().ok()
}
