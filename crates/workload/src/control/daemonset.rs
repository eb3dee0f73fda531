//! Advanced DaemonSets: `rollingUpdate.partition` is the number of nodes whose pods stay on the
//! old version (of `status.desiredNumberScheduled`). It moves down batch by batch and is removed
//! at the end.

use crate::batch::advanced_daemonset_partition;
use crate::revision::annotation;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use serde_json::{Value, json};

fn rolling(workload: &Value, field: &str) -> Option<Value> {
    workload
        .pointer(&format!("/spec/updateStrategy/rollingUpdate/{field}"))
        .cloned()
}

fn paused(workload: &Value) -> bool {
    rolling(workload, "paused") == Some(Value::Bool(true))
}

/// The pods the DaemonSet runs: one per node it is scheduled on.
pub fn scheduled(workload: &Value) -> i32 {
    workload
        .pointer("/status/desiredNumberScheduled")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(0)
}

/// Lower the partition to what `step` asks for (and unpause); `None` when it is already that
/// low and running (a partition only ever goes down during a release).
pub fn advanced_daemonset_batch_patch(workload: &Value, step: &IntOrString) -> Option<Value> {
    let desired = i64::from(advanced_daemonset_partition(step, scheduled(workload), 0));
    let current = rolling(workload, "partition").and_then(|p| p.as_i64());
    let lower = current.is_some_and(|current| current > desired);
    (lower || paused(workload)).then(|| {
        let mut rolling = json!({"paused": false});
        if lower {
            rolling["partition"] = json!(desired);
        }
        json!({"spec": {"updateStrategy": {"rollingUpdate": rolling}}})
    })
}

/// Remove the partition, unpause, and remove the release mark; `None` when nothing is left.
pub fn advanced_daemonset_release_patch(workload: &Value) -> Option<Value> {
    let marked = annotation(workload, keys::IN_PROGRESSING).is_some();
    let partitioned = rolling(workload, "partition").is_some_and(|p| p.as_i64() != Some(0));
    (marked || partitioned || paused(workload)).then(|| {
        json!({
            "metadata": {"annotations": {keys::IN_PROGRESSING: null}},
            "spec": {"updateStrategy": {"rollingUpdate": {"partition": null, "paused": false}}},
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemonset(scheduled: i64, partition: i64) -> Value {
        json!({"metadata": {"annotations": {keys::IN_PROGRESSING: "{}"}},
            "spec": {"updateStrategy": {"rollingUpdate": {"partition": partition}}},
            "status": {"desiredNumberScheduled": scheduled}})
    }

    #[test]
    fn partition_goes_down_to_scheduled_pods_minus_planned() {
        let percent = |p: &str| IntOrString::String(p.into());
        // (scheduled, current partition, step) -> new partition (None: unchanged)
        let cases = [
            (10, 32767, percent("20%"), Some(8)),
            (10, 32767, percent("10%"), Some(9)),
            (5, 32767, IntOrString::Int(1), Some(4)),
            (5, 4, IntOrString::Int(100), Some(0)),
            (5, 2, IntOrString::Int(1), None),
            (5, 0, percent("100%"), None),
        ];
        for (scheduled, current, step, expected) in cases {
            let got = advanced_daemonset_batch_patch(&daemonset(scheduled, current), &step)
                .map(|p| p["spec"]["updateStrategy"]["rollingUpdate"]["partition"].clone());
            assert_eq!(
                got,
                expected.map(|e| json!(e)),
                "{scheduled} pods, partition {current}, step {step:?}"
            );
        }
    }

    #[test]
    fn the_end_removes_partition_pause_and_mark_once() {
        let patch = advanced_daemonset_release_patch(&daemonset(5, 3)).unwrap();
        assert_eq!(
            patch["spec"]["updateStrategy"]["rollingUpdate"],
            json!({"partition": null, "paused": false})
        );
        let released = json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}});
        assert_eq!(advanced_daemonset_release_patch(&released), None);
    }
}
