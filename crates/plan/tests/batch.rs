//! Batch arithmetic against upstream's tables and the CloneSet
//! percentage property.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_plan::batch::*;

fn int(n: i32) -> IntOrString {
    IntOrString::Int(n)
}

fn pct(s: &str) -> IntOrString {
    IntOrString::String(s.into())
}

#[test]
fn planned_replicas_scale_and_clamp() {
    let cases = [
        (int(5), 5),
        (pct("20%"), 2),
        (pct("100%"), 10),
        (pct("200%"), 10),
        (int(200), 10),
        (int(0), 0),
        (pct("50"), 0),
    ];
    for (step, expected) in cases {
        assert_eq!(planned_replicas(&step, 10), expected, "{step:?}");
    }
    assert_eq!(
        scaled(&pct("50"), 10),
        None,
        "a number without % is not a percentage"
    );
    assert_eq!(scaled(&pct("45%"), 5), Some(3), "rounded up");
}

#[test]
fn reached_compares_like_with_like() {
    let cases = [
        (int(2), int(1), true),
        (int(2), int(2), true),
        (int(2), int(3), false),
        (pct("80%"), pct("79%"), true),
        (pct("80%"), pct("80%"), true),
        (pct("90%"), pct("91%"), false),
    ];
    for (current, desired, expected) in cases {
        assert_eq!(
            reached(&current, &desired),
            expected,
            "{current:?} vs {desired:?}"
        );
    }
}

#[test]
fn batch_readiness_table() {
    let progress = |threshold: Option<IntOrString>, updated, ready, labelled| BatchProgress {
        desired: 5,
        updated,
        updated_ready: ready,
        failure_threshold: threshold,
        labelled,
    };
    let cases = [
        (progress(Some(int(1)), 5, 5, None), true),
        (progress(Some(int(1)), 5, 4, None), true),
        (progress(Some(int(1)), 5, 3, None), false),
        (progress(Some(pct("60%")), 4, 4, None), false),
        (progress(Some(int(100)), 5, 0, None), false),
        (progress(None, 5, 3, None), false),
        (progress(Some(int(1)), 5, 5, Some((5, 5))), true),
        (progress(Some(int(1)), 5, 5, Some((3, 5))), false),
    ];
    for (i, (p, expected)) in cases.iter().enumerate() {
        assert_eq!(is_batch_ready(p), *expected, "row {i}: {p:?}");
    }
}

#[test]
fn partitions_per_workload_kind() {
    assert_eq!(cloneset_partition(&pct("20%"), 10, 0), pct("80%"));
    assert_eq!(cloneset_partition(&pct("20%"), 20, 10), pct("40%"));
    assert_eq!(cloneset_partition(&pct("10%"), 10, 0), pct("90%"));
    assert_eq!(cloneset_partition(&int(3), 10, 0), int(7));
    assert_eq!(cloneset_partition(&pct("0%"), 10, 0), pct("100%"));
    assert_eq!(cloneset_partition(&pct("100%"), 10, 0), pct("0%"));
    assert_eq!(statefulset_partition(&pct("20%"), 10, 0, true), 8);
    assert_eq!(statefulset_partition(&pct("20%"), 20, 10, true), 18);
    assert_eq!(statefulset_partition(&pct("20%"), 20, 10, false), 8);
    assert_eq!(advanced_daemonset_partition(&pct("20%"), 10, 0), 8);
    assert_eq!(advanced_daemonset_partition(&pct("20%"), 10, 5), 4);
    assert_eq!(advanced_daemonset_partition(&pct("10%"), 10, 0), 9);
}

#[test]
fn deployment_limits_keep_one_old_pod_below_100_percent() {
    assert_eq!(deployment_updated_limit(&pct("20%"), 10), 2);
    assert_eq!(deployment_updated_limit(&pct("90%"), 5), 4);
    assert_eq!(deployment_updated_limit(&pct("100%"), 5), 5);
    assert_eq!(deployment_updated_limit(&int(7), 5), 5);
    assert_eq!(deployment_updated_limit(&pct("50%"), 1), 1);
    assert_eq!(canary_deployment_replicas(&pct("20%"), 10, 10), 2);
    assert_eq!(canary_deployment_replicas(&int(1), 10, 10), 1);
}

/// Upstream's property: a percentage CloneSet partition never updates pods at 0%, updates all
/// at 100%, otherwise at least one, never more than planned by over 1% of R.
#[test]
fn cloneset_percentage_partition_property() {
    for replicas in 1..=1000 {
        for percent in 0..=100 {
            let step = pct(&format!("{percent}%"));
            let planned = planned_replicas(&step, replicas);
            let stable = replicas - planned;
            let partition = cloneset_partition(&step, replicas, 0);
            let kept = scaled(&partition, replicas).unwrap();
            match percent {
                0 => assert_eq!(kept, replicas, "R={replicas} P=0%"),
                100 => assert_eq!(kept, 0, "R={replicas} P=100%"),
                _ => {
                    assert!(
                        replicas - kept >= 1,
                        "R={replicas} P={percent}%: no pod updated"
                    );
                    assert!(kept <= replicas);
                    assert!(
                        f64::from((stable - kept).abs()) < f64::from(replicas) * 0.01,
                        "R={replicas} P={percent}%"
                    );
                }
            }
        }
    }
}
