//! StatefulSets and Advanced StatefulSets: the partition moves down batch by batch (pods with
//! an ordinal at or above it are updated, highest first, unless an Advanced StatefulSet asks for
//! `unorderedUpdate`) and is removed at the end.

use crate::batch::statefulset_partition;
use crate::facts::spec_replicas;
use crate::revision::annotation;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use serde_json::{Value, json};

fn partition(workload: &Value) -> Option<i64> {
    workload
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
}

/// Whether pods are updated from the highest ordinal down (always for native StatefulSets).
fn ordered(workload: &Value) -> bool {
    workload
        .pointer("/spec/updateStrategy/rollingUpdate/unorderedUpdate")
        .is_none_or(Value::is_null)
}

/// Lower the partition to what `step` asks for (`no_need_update`: pods already on the target
/// revision in a rollback in batches); `None` when it is already low enough (a partition only
/// ever goes down during a release).
pub fn statefulset_batch_patch(
    workload: &Value,
    step: &IntOrString,
    no_need_update: i32,
) -> Option<Value> {
    let replicas = spec_replicas(workload);
    let desired = i64::from(statefulset_partition(
        step,
        replicas,
        no_need_update,
        ordered(workload),
    ));
    let current = partition(workload).unwrap_or(0);
    (current > desired)
        .then(|| json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": desired}}}}))
}

/// Raise the partition to every pod, so none is updated (after a failed analysis); `None` when
/// it is there already.
pub fn statefulset_freeze_patch(workload: &Value) -> Option<Value> {
    let replicas = i64::from(spec_replicas(workload));
    (partition(workload) != Some(replicas))
        .then(|| json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": replicas}}}}))
}

/// Remove the partition and the release mark; `None` when nothing is left.
pub fn statefulset_release_patch(workload: &Value) -> Option<Value> {
    let marked = annotation(workload, keys::IN_PROGRESSING).is_some();
    (marked || partition(workload).unwrap_or(0) != 0).then(|| {
        json!({
            "metadata": {"annotations": {keys::IN_PROGRESSING: null}},
            "spec": {"updateStrategy": {"rollingUpdate": {"partition": null}}},
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(replicas: i64, partition: i64) -> Value {
        json!({"metadata": {"annotations": {keys::IN_PROGRESSING: "{}"}},
            "spec": {"replicas": replicas, "updateStrategy": {"type": "RollingUpdate",
                "rollingUpdate": {"partition": partition}}}})
    }

    #[test]
    fn partition_only_goes_down_to_replicas_minus_planned() {
        // (replicas, current partition, step) -> new partition
        let cases = [
            (4, 32767, 1, Some(3)),
            (4, 3, 2, Some(2)),
            (4, 2, 2, None),
            (4, 2, 1, None),
            (4, 2, 4, Some(0)),
            (4, 0, 9, None),
        ];
        for (replicas, current, step, expected) in cases {
            let step = IntOrString::Int(step);
            let patch = statefulset_batch_patch(&sts(replicas, current), &step, 0);
            let got = patch.map(|p| {
                p["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
                    .as_i64()
                    .unwrap()
            });
            assert_eq!(got, expected, "{replicas} {current} {step:?}");
        }
    }

    #[test]
    fn a_rollback_in_batches_keeps_the_pods_already_rolled_back_out_of_the_share() {
        // 20 pods, 10 already on the target revision: 20% of the other 10 is 2 more pods. Ordered
        // updates go from the highest ordinal down, so the 10 pods on the target (the lowest
        // ordinals were never updated) stay within the partition.
        let step = IntOrString::String("20%".into());
        let ordered = statefulset_batch_patch(&sts(20, 32767), &step, 10).unwrap();
        assert_eq!(
            ordered["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            18
        );
        let mut unordered = sts(20, 32767);
        unordered["spec"]["updateStrategy"]["rollingUpdate"]["unorderedUpdate"] = json!({});
        let unordered = statefulset_batch_patch(&unordered, &step, 10).unwrap();
        assert_eq!(
            unordered["spec"]["updateStrategy"]["rollingUpdate"]["partition"],
            8
        );
    }

    #[test]
    fn release_removes_partition_and_mark() {
        let mut released = sts(4, 2);
        let release = statefulset_release_patch(&released).unwrap();
        json_patch::merge(&mut released, &release);
        assert_eq!(
            released["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {}})
        );
        assert_eq!(statefulset_release_patch(&released), None);
    }
}
