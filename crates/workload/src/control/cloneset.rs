//! CloneSets: `updateStrategy.partition` is the number (or share) of pods kept on the old
//! version. It moves down batch by batch, in the form the step is written in
//! (`batch::cloneset_partition`), and is removed at the end.

use crate::batch::{cloneset_partition, scaled};
use crate::facts::spec_replicas;
use crate::revision::annotation;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use serde_json::{Value, json};

/// The partition as written, `None` when there is none.
fn partition(workload: &Value) -> Option<IntOrString> {
    match workload.pointer("/spec/updateStrategy/partition")? {
        Value::Number(n) => Some(IntOrString::Int(
            n.as_i64().and_then(|n| i32::try_from(n).ok())?,
        )),
        Value::String(s) => Some(IntOrString::String(s.clone())),
        _ => None,
    }
}

fn paused(workload: &Value) -> bool {
    workload.pointer("/spec/updateStrategy/paused") == Some(&Value::Bool(true))
}

/// Whether `workload` keeps any pod on the old version through its partition (OpenKruise
/// defaults a missing partition to 0).
fn partitioned(workload: &Value) -> bool {
    partition(workload).is_some_and(|p| scaled(&p, spec_replicas(workload)).unwrap_or(0) > 0)
}

/// Lower the partition to what `step` asks for (and unpause the CloneSet); `None` when it is
/// already that low and running (a partition only ever goes down during a release).
/// `no_need_update`: pods already on the target revision in a rollback in batches.
pub fn cloneset_batch_patch(
    workload: &Value,
    step: &IntOrString,
    no_need_update: i32,
) -> Option<Value> {
    let replicas = spec_replicas(workload);
    let kept = |p: &IntOrString| scaled(p, replicas).unwrap_or(0);
    let desired = cloneset_partition(step, replicas, no_need_update);
    let lower = partition(workload).is_some_and(|current| kept(&current) > kept(&desired));
    (lower || paused(workload)).then(|| {
        let mut strategy = json!({"paused": false});
        if lower {
            strategy["partition"] = json!(desired);
        }
        json!({"spec": {"updateStrategy": strategy}})
    })
}

/// Raise the partition to every pod, so none is updated (after a failed analysis); `None` when
/// it is there already.
pub fn cloneset_freeze_patch(workload: &Value) -> Option<Value> {
    let replicas = spec_replicas(workload);
    (partition(workload) != Some(IntOrString::Int(replicas)) || paused(workload))
        .then(|| json!({"spec": {"updateStrategy": {"partition": replicas, "paused": false}}}))
}

/// Remove the partition, unpause, and remove the release mark; `None` when nothing is left.
pub fn cloneset_release_patch(workload: &Value) -> Option<Value> {
    let marked = annotation(workload, keys::IN_PROGRESSING).is_some();
    (marked || partitioned(workload) || paused(workload)).then(|| {
        json!({
            "metadata": {"annotations": {keys::IN_PROGRESSING: null}},
            "spec": {"updateStrategy": {"partition": null, "paused": false}},
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cloneset(replicas: i64, partition: Value) -> Value {
        json!({"metadata": {"annotations": {keys::IN_PROGRESSING: "{}"}},
            "spec": {"replicas": replicas, "updateStrategy": {"partition": partition}}})
    }

    fn percent(p: &str) -> IntOrString {
        IntOrString::String(p.into())
    }

    #[test]
    fn partition_goes_down_in_the_form_the_step_is_written_in() {
        // (replicas, current partition, step) -> new partition (None: unchanged)
        let cases = [
            (10, json!("100%"), percent("20%"), Some(json!("80%"))),
            (10, json!("100%"), percent("10%"), Some(json!("90%"))),
            (5, json!("100%"), percent("20%"), Some(json!("80%"))),
            (5, json!("80%"), percent("60%"), Some(json!("40%"))),
            (5, json!("40%"), percent("100%"), Some(json!("0%"))),
            (5, json!("100%"), IntOrString::Int(1), Some(json!(4))),
            (5, json!(4), IntOrString::Int(3), Some(json!(2))),
            // Never up: an earlier batch already released more.
            (5, json!(2), IntOrString::Int(1), None),
            (5, json!("40%"), percent("20%"), None),
            (5, json!(0), IntOrString::Int(5), None),
        ];
        for (replicas, current, step, expected) in cases {
            let got = cloneset_batch_patch(&cloneset(replicas, current.clone()), &step, 0)
                .map(|p| p["spec"]["updateStrategy"]["partition"].clone());
            assert_eq!(
                got, expected,
                "{replicas} replicas, partition {current}, step {step:?}"
            );
        }
    }

    #[test]
    fn a_rollback_in_batches_applies_the_step_to_the_pods_not_yet_rolled_back() {
        // (replicas, pods already on the target, step) -> partition
        let cases = [
            (20, 10, percent("20%"), json!("40%")),
            (5, 2, percent("20%"), json!("40%")),
            (5, 2, percent("40%"), json!("20%")),
            (5, 2, percent("80%"), json!("0%")),
            (5, 2, IntOrString::Int(1), json!(2)),
        ];
        for (replicas, no_need_update, step, expected) in cases {
            let patch =
                cloneset_batch_patch(&cloneset(replicas, json!("100%")), &step, no_need_update);
            assert_eq!(
                patch.map(|p| p["spec"]["updateStrategy"]["partition"].clone()),
                Some(expected),
                "{replicas} replicas, {no_need_update} on the target, step {step:?}"
            );
        }
    }

    #[test]
    fn a_paused_cloneset_is_unpaused_by_the_first_batch() {
        let mut workload = cloneset(5, json!("100%"));
        workload["spec"]["updateStrategy"]["paused"] = json!(true);
        let patch = cloneset_batch_patch(&workload, &IntOrString::Int(0), 0).unwrap();
        assert_eq!(
            patch,
            json!({"spec": {"updateStrategy": {"paused": false}}})
        );
    }

    #[test]
    fn the_end_removes_partition_pause_and_mark_once() {
        let patch = cloneset_release_patch(&cloneset(5, json!("40%"))).unwrap();
        assert_eq!(patch["spec"]["updateStrategy"]["partition"], Value::Null);
        assert_eq!(patch["spec"]["updateStrategy"]["paused"], json!(false));
        for partition in [json!(null), json!(0), json!("0%")] {
            let released = json!({"spec": {"replicas": 5,
                "updateStrategy": {"type": "ReCreate", "partition": partition, "paused": false}}});
            assert_eq!(cloneset_release_patch(&released), None, "{partition}");
        }
    }
}
