//! What `rollout status` prints: a block for a terminal, a line per change otherwise. Pure.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::common::{RolloutPhase, StepState};
use rollouts_api::v1beta1::{AnalysisStatus, Rollout};
use std::fmt::Write;

/// The fields that change during a release, for "did anything change" and one-line output.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Phase (STATUS).
    pub phase: String,
    /// Current step, 1-based.
    pub step: i32,
    /// Number of steps.
    pub steps: usize,
    /// Step state.
    pub state: String,
    /// Status message.
    pub message: String,
    /// Pods on the new version.
    pub updated: i32,
    /// Ready pods on the new version.
    pub ready: i32,
}

impl Summary {
    /// The summary of a Rollout as read.
    pub fn of(rollout: &Rollout) -> Self {
        let status = rollout.status.clone().unwrap_or_default();
        let (updated, ready) = match (&status.blue_green_status, &status.canary_status) {
            (Some(b), _) => (b.updated_replicas, b.updated_ready_replicas),
            (None, Some(c)) => (c.canary_replicas, c.canary_ready_replicas),
            (None, None) => (None, None),
        };
        Self {
            phase: status
                .phase
                .map(|p| format!("{p:?}"))
                .unwrap_or_else(|| "Initial".into()),
            step: status.current_step_index.unwrap_or(0),
            steps: rollouts_plan::steps(rollout).len(),
            state: status
                .current_step_state
                .map(|s| format!("{s:?}"))
                .unwrap_or_default(),
            message: status.message.unwrap_or_default(),
            updated: updated.unwrap_or(0),
            ready: ready.unwrap_or(0),
        }
    }

    /// No release is running and the last one ended.
    pub fn is_done(&self) -> bool {
        self.phase == format!("{:?}", RolloutPhase::Healthy)
            && self.state == format!("{:?}", StepState::Completed)
    }

    /// One line, for logs and pipes.
    pub fn line(&self) -> String {
        format!(
            "{} step {}/{} {} ({} updated, {} ready): {}",
            self.phase, self.step, self.steps, self.state, self.updated, self.ready, self.message
        )
    }
}

fn replicas(value: &Option<IntOrString>) -> String {
    match value {
        Some(IntOrString::Int(n)) => n.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => "100%".into(),
    }
}

/// The current step's metric analysis: counts, each metric's last answer, and why it failed.
fn analysis_block(out: &mut String, analysis: &AnalysisStatus) {
    let _ = writeln!(
        out,
        "Analysis:   step {} {:?}: {} passed, {} failed, {} without answer",
        analysis.step, analysis.phase, analysis.passed, analysis.failed, analysis.inconclusive
    );
    if !analysis.metrics.is_empty() {
        let _ = writeln!(
            out,
            "    METRIC                VALUE         THRESHOLD         OUTCOME"
        );
    }
    for metric in &analysis.metrics {
        let value = match metric.value.as_deref().map(str::parse::<f64>) {
            Some(Ok(value)) => rollouts_plan::analysis::verdict::short(value),
            _ => metric.value.clone().unwrap_or_else(|| "-".into()),
        };
        let outcome = match &metric.reason {
            Some(reason) => format!("{:?} ({reason})", metric.outcome),
            None => format!("{:?}", metric.outcome),
        };
        let _ = writeln!(
            out,
            "    {:<20}  {value:<12}  {:<16}  {outcome}",
            metric.name, metric.threshold
        );
    }
    if let Some(message) = &analysis.message {
        let _ = writeln!(out, "    {message}");
    }
}

/// The full status block, with the plan and a marker at the current step.
pub fn block(rollout: &Rollout) -> String {
    let summary = Summary::of(rollout);
    let mut out = String::new();
    let name = rollout.metadata.name.clone().unwrap_or_default();
    let namespace = rollout.metadata.namespace.clone().unwrap_or_default();
    let _ = writeln!(out, "Name:       {name}");
    let _ = writeln!(out, "Namespace:  {namespace}");
    let _ = writeln!(out, "Status:     {}", summary.phase);
    if rollouts_plan::is_blue_green(rollout) {
        let _ = writeln!(
            out,
            "Style:      blue-green (new pods run beside the old ones)"
        );
    }
    let _ = writeln!(
        out,
        "Step:       {}/{}  {}",
        summary.step, summary.steps, summary.state
    );
    let _ = writeln!(out, "Message:    {}", summary.message);
    let _ = writeln!(
        out,
        "New pods:   {} updated, {} ready",
        summary.updated, summary.ready
    );
    if let Some(analysis) = rollout
        .status
        .as_ref()
        .and_then(rollouts_plan::machine::sub_status_common)
        .and_then(|c| c.analysis.as_ref())
    {
        analysis_block(&mut out, analysis);
    }
    let _ = writeln!(out, "Steps:");
    let _ = writeln!(
        out,
        "    STEP  REPLICAS  TRAFFIC                         PAUSE"
    );
    for (i, step) in rollouts_plan::steps(rollout).iter().enumerate() {
        let index = i as i32 + 1;
        let marker = if index == summary.step && !summary.is_done() {
            "->"
        } else {
            "  "
        };
        let mut traffic = Vec::new();
        if let Some(weight) = &step.traffic {
            traffic.push(format!("weight {weight}"));
        }
        for header in step
            .matches
            .iter()
            .flatten()
            .flat_map(|m| m.headers.iter().flatten())
        {
            traffic.push(format!("{}={}", header.name, header.value));
        }
        let traffic = if traffic.is_empty() {
            "-".to_string()
        } else {
            traffic.join(", ")
        };
        let analysed = rollouts_plan::analysis::for_step(rollout, index as usize).is_some();
        let pause = match step.pause.as_ref().map(|p| p.duration) {
            Some(Some(seconds)) => format!("{seconds}s"),
            None if analysed && !rollouts_plan::is_blue_green(rollout) => "after analysis".into(),
            _ => "until approved".into(),
        };
        let _ = writeln!(
            out,
            "  {marker}{index:<4}  {:<8}  {traffic:<30}  {pause}",
            replicas(&step.replicas)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> Rollout {
        serde_json::from_value(serde_json::json!({
            "apiVersion": format!("{}/v1beta1", rollouts_api::keys::GROUP), "kind": "Rollout",
            "metadata": {"name": "rollouts-demo", "namespace": "default"},
            "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echoserver"},
                "strategy": {"canary": {"steps": [
                    {"traffic": "20%", "replicas": 1, "pause": {}},
                    {"traffic": "50%", "replicas": "50%", "pause": {"duration": 60}},
                    {"traffic": "100%", "replicas": "100%"}]}}},
            "status": {"phase": "Progressing", "currentStepIndex": 1, "currentStepState": "StepPaused",
                "message": "Rollout is in step(1/3), and you need manually confirm to enter the next step",
                "canaryStatus": {"canaryReplicas": 1, "canaryReadyReplicas": 1, "currentStepIndex": 1}}
        }))
        .unwrap()
    }

    #[test]
    fn block_shows_the_plan_with_the_current_step_marked() {
        let text = block(&rollout());
        assert!(text.contains("Status:     Progressing\n"), "{text}");
        assert!(text.contains("Step:       1/3  StepPaused\n"), "{text}");
        assert!(text.contains("New pods:   1 updated, 1 ready\n"), "{text}");
        assert!(text.contains("  ->1     1         weight 20%"), "{text}");
        assert!(text.contains("    2     50%       weight 50%"), "{text}");
        assert!(text.contains("60s"), "{text}");
        assert!(text.contains("until approved"), "{text}");
    }

    #[test]
    fn the_current_steps_analysis_shows_each_metric_against_its_threshold() {
        let mut rollout = rollout();
        rollout.spec.strategy.canary.as_mut().unwrap().analysis = Some(
            serde_json::from_value(serde_json::json!({
                "metrics": [{"name": "error-rate", "query": "q", "max": 0.05}]}))
            .unwrap(),
        );
        let canary = rollout
            .status
            .as_mut()
            .unwrap()
            .canary_status
            .as_mut()
            .unwrap();
        canary.common.analysis = Some(
            serde_json::from_value(serde_json::json!({
                "step": 1, "phase": "RolledBack", "passed": 1, "failed": 1,
                "metrics": [{"name": "error-rate", "value": "0.5", "threshold": "<= 0.05", "outcome": "Failed"}],
                "message": "step(1/3) metric analysis failed: metric error-rate is 0.5, it must be <= 0.05"}))
            .unwrap(),
        );
        let text = block(&rollout);
        assert!(
            text.contains("Analysis:   step 1 RolledBack: 1 passed, 1 failed, 0 without answer\n"),
            "{text}"
        );
        assert!(
            text.contains("    error-rate            0.5           <= 0.05           Failed\n"),
            "{text}"
        );
        assert!(
            text.contains("metric error-rate is 0.5, it must be <= 0.05"),
            "{text}"
        );
        assert!(
            text.contains("100%      weight 100%                     after analysis"),
            "{text}"
        );
    }

    #[test]
    fn a_blue_green_release_shows_its_style_and_new_pods() {
        let mut rollout = rollout();
        let canary = rollout.spec.strategy.canary.take().unwrap();
        rollout.spec.strategy.blue_green = Some(rollouts_api::v1beta1::BlueGreenStrategy {
            steps: canary.steps,
            ..Default::default()
        });
        let status = rollout.status.as_mut().unwrap();
        status.canary_status = None;
        status.blue_green_status = Some(rollouts_api::v1beta1::BlueGreenStatus {
            updated_replicas: Some(5),
            updated_ready_replicas: Some(4),
            ..Default::default()
        });
        let text = block(&rollout);
        assert!(text.contains("Style:      blue-green"), "{text}");
        assert!(text.contains("New pods:   5 updated, 4 ready\n"), "{text}");
    }

    #[test]
    fn one_line_per_state_and_done_only_when_healthy_and_completed() {
        let summary = Summary::of(&rollout());
        assert_eq!(
            summary.line(),
            "Progressing step 1/3 StepPaused (1 updated, 1 ready): Rollout is in step(1/3), and you need manually confirm to enter the next step"
        );
        assert!(!summary.is_done());
        let done = Summary {
            phase: "Healthy".into(),
            state: "Completed".into(),
            ..summary
        };
        assert!(done.is_done());
    }
}
