//! StatefulSets and Advanced StatefulSets: the partition moves down batch by batch (pods with
//! an ordinal at or above it are updated, highest first) and is removed at the end.

use crate::facts::spec_replicas;
use crate::revision::annotation;
use rollouts_api::keys;
use serde_json::{Value, json};

fn partition(workload: &Value) -> Option<i64> {
    workload
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
}

/// Lower the partition so `planned` pods run the new revision; `None` when it is already low
/// enough (a partition only ever goes down during a release).
pub fn statefulset_batch_patch(workload: &Value, planned: i32) -> Option<Value> {
    let desired = i64::from((spec_replicas(workload) - planned).max(0));
    let current = partition(workload).unwrap_or(0);
    (current > desired)
        .then(|| json!({"spec": {"updateStrategy": {"rollingUpdate": {"partition": desired}}}}))
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
        // (replicas, current partition, planned) -> new partition
        let cases = [
            (4, 32767, 1, Some(3)),
            (4, 3, 2, Some(2)),
            (4, 2, 2, None),
            (4, 2, 1, None),
            (4, 2, 4, Some(0)),
            (4, 0, 9, None),
        ];
        for (replicas, current, planned, expected) in cases {
            let patch = statefulset_batch_patch(&sts(replicas, current), planned);
            let got = patch.map(|p| {
                p["spec"]["updateStrategy"]["rollingUpdate"]["partition"]
                    .as_i64()
                    .unwrap()
            });
            assert_eq!(got, expected, "{replicas} {current} {planned}");
        }
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
