//! Pod batch labels: when a workload carries a `rollout-id` label, every new-version pod a
//! release updates is labelled with that id and the (1-based) batch that released it, so that
//! users can tell which step brought each pod. Each batch gets the pods its step added; pods
//! already labelled for this release keep their batch (an over-filled batch is never trimmed),
//! and pods without a valid label for it fill the batches from the highest one down.
//! A rollback in batches first marks the pods already on the target revision
//! (`rollouts.kruise.io/no-need-update`); they fill batches only after the pods it changed.

use rollouts_api::keys;
use rollouts_change::{Effect, ObjectKey, Resource};
use serde_json::json;
use std::collections::BTreeMap;

/// A pod of the workload as the labeller sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodLabels {
    /// The pod's name.
    pub name: String,
    /// Its revision label (`pod-template-hash` / `controller-revision-hash`).
    pub revision: Option<String>,
    /// Its `no-need-update` label: the revision a rollback in batches found it on.
    pub no_need_update: Option<String>,
    /// Its `rollout-id` label.
    pub rollout_id: Option<String>,
    /// Its `rollout-batch-id` label.
    pub batch_id: Option<String>,
    /// Whether its Ready condition is true.
    pub ready: bool,
    /// Whether it is being deleted.
    pub terminating: bool,
}

/// The batch `pod` is validly labelled with for `rollout_id` (1..=`batches`), if any.
fn labelled_batch(pod: &PodLabels, rollout_id: &str, batches: usize) -> Option<usize> {
    if pod.rollout_id.as_deref() != Some(rollout_id) {
        return None;
    }
    let batch: usize = pod.batch_id.as_deref()?.trim().parse().ok()?;
    (1..=batches).contains(&batch).then_some(batch)
}

/// The batch each pod without a valid label gets, given the pods each batch so far plans in
/// total (`planned[i]`: new-version pods wanted once batch `i + 1` is done).
pub fn batch_assignments(
    pods: &[PodLabels],
    rollout_id: &str,
    planned: &[i32],
) -> Vec<(String, usize)> {
    let batches = planned.len();
    let mut filled: BTreeMap<usize, i32> = BTreeMap::new();
    let mut candidates: Vec<&PodLabels> = Vec::new();
    for pod in pods {
        match labelled_batch(pod, rollout_id, batches) {
            Some(batch) => *filled.entry(batch).or_default() += 1,
            None => candidates.push(pod),
        }
    }
    // Pods a rollback did not have to change come last.
    candidates.sort_by_key(|pod| (pod.no_need_update.is_some(), &pod.name));
    let mut candidates = candidates.into_iter();
    let mut assigned = Vec::new();
    for batch in (1..=batches).rev() {
        let before = if batch > 1 { planned[batch - 2] } else { 0 };
        let added = (planned[batch - 1] - before).max(0);
        let missing = added - filled.get(&batch).copied().unwrap_or(0);
        for pod in candidates.by_ref().take(missing.max(0) as usize) {
            assigned.push((pod.name.clone(), batch));
        }
    }
    assigned
}

/// Whether `pod` runs `revision`.
pub fn on_revision(pod: &PodLabels, revision: &str) -> bool {
    pod.revision.as_deref() == Some(revision)
}

/// Pods a rollback in batches to `revision` found already on it (marked when it began).
pub fn no_need_update(pods: &[PodLabels], revision: &str) -> i32 {
    let count = pods
        .iter()
        .filter(|p| on_revision(p, revision) && p.no_need_update.as_deref() == Some(revision))
        .count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// As a rollback in batches to `revision` begins: the pods on it are marked as needing no
/// update, marks left on other pods by an earlier rollback are removed.
pub fn mark_no_need_update(namespace: &str, pods: &[PodLabels], revision: &str) -> Vec<Effect> {
    pods.iter()
        .filter_map(|pod| {
            let marked = pod.no_need_update.as_deref();
            let (value, why) = match on_revision(pod, revision) {
                true if marked != Some(revision) => {
                    (json!(revision), "already on the rollback's revision")
                }
                false if marked.is_some() => (json!(null), "a mark of an earlier rollback"),
                _ => return None,
            };
            Some(Effect::merge(
                ObjectKey::new(Resource::POD, namespace, &pod.name),
                json!({"metadata": {"labels": {keys::NO_NEED_UPDATE: value}}}),
                why,
            ))
        })
        .collect()
}

/// New-version pods labelled with `rollout_id`.
pub fn labelled_pods(pods: &[PodLabels], rollout_id: &str) -> i32 {
    let count = pods
        .iter()
        .filter(|p| p.rollout_id.as_deref() == Some(rollout_id))
        .count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// The label patches for `assignments` of pods in `namespace`.
pub fn batch_label_effects(
    namespace: &str,
    rollout_id: &str,
    assignments: &[(String, usize)],
) -> Vec<Effect> {
    assignments
        .iter()
        .map(|(pod, batch)| {
            Effect::merge(
                ObjectKey::new(Resource::POD, namespace, pod),
                json!({"metadata": {"labels": {
                    keys::ROLLOUT_ID: rollout_id,
                    keys::ROLLOUT_BATCH_ID: batch.to_string(),
                }}}),
                format!("released in batch {batch}"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pods(total: usize, labelled: &[(&str, &str)]) -> Vec<PodLabels> {
        (0..total)
            .map(|i| {
                let label = labelled.get(i);
                PodLabels {
                    name: format!("pod-{i:02}"),
                    rollout_id: label.map(|(id, _)| id.to_string()),
                    batch_id: label.map(|(_, batch)| batch.to_string()),
                    ..PodLabels::default()
                }
            })
            .collect()
    }

    /// Pods per batch for rollout `rollout-1` after one labelling pass.
    fn per_batch(pods: &[PodLabels], planned: &[i32]) -> Vec<usize> {
        let assigned = batch_assignments(pods, "rollout-1", planned);
        (1..=planned.len())
            .map(|batch| {
                let kept = pods
                    .iter()
                    .filter(|p| labelled_batch(p, "rollout-1", planned.len()) == Some(batch))
                    .count();
                kept + assigned.iter().filter(|(_, b)| *b == batch).count()
            })
            .collect()
    }

    /// Pods, the labels already on them, pods planned per batch so far, pods per batch after.
    type Case = (
        usize,
        Vec<(&'static str, &'static str)>,
        Vec<i32>,
        Vec<usize>,
    );

    #[test]
    fn each_batch_gets_the_pods_its_step_added() {
        let ours = |batch: &'static str| ("rollout-1", batch);
        // (pods, already labelled, planned per batch so far) -> pods per batch afterwards
        let cases: Vec<Case> = vec![
            (10, vec![], vec![5], vec![5]),
            (10, vec![ours("1"); 2], vec![5], vec![5]),
            (10, vec![ours("1"); 5], vec![5], vec![5]),
            // Never un-labels: an over-filled batch stays.
            (10, vec![ours("1"); 7], vec![5], vec![7]),
            (2, vec![], vec![5], vec![2]),
            // Another release's labels are overwritten.
            (10, vec![("rollout-0", "1"); 3], vec![5], vec![5]),
            (5, vec![ours("1"); 2], vec![2, 5], vec![2, 3]),
            // Missing earlier batches are filled too.
            (5, vec![], vec![2, 5], vec![2, 3]),
            (5, vec![ours("1"); 3], vec![2, 5], vec![3, 2]),
            // A batch id beyond the current step counts as no label.
            (5, vec![ours("3"); 3], vec![2, 5], vec![2, 3]),
        ];
        for (total, labelled, planned, expected) in cases {
            let pods = pods(total, &labelled);
            assert_eq!(
                per_batch(&pods, &planned),
                expected,
                "{total} pods, labelled {labelled:?}, planned {planned:?}"
            );
        }
    }

    #[test]
    fn pods_a_rollback_had_to_change_fill_batches_before_those_already_on_its_revision() {
        let pod = |name: &str, marked: bool| PodLabels {
            name: name.into(),
            revision: Some("v1".into()),
            no_need_update: marked.then(|| "v1".into()),
            ..PodLabels::default()
        };
        // "a" and "b" were on v1 when the rollback began; "c" and "d" were rolled back.
        let pods = [
            pod("a", true),
            pod("b", true),
            pod("c", false),
            pod("d", false),
        ];
        let assigned = batch_assignments(&pods, "2", &[1, 2, 3]);
        assert_eq!(
            assigned,
            vec![("c".into(), 3), ("d".into(), 2), ("a".into(), 1)]
        );
        assert_eq!(no_need_update(&pods, "v1"), 2);
        assert_eq!(no_need_update(&pods, "v2"), 0);
    }

    #[test]
    fn a_rollback_marks_the_pods_on_its_revision_and_clears_older_marks() {
        let pod = |name: &str, revision: &str, marked: Option<&str>| PodLabels {
            name: name.into(),
            revision: Some(revision.into()),
            no_need_update: marked.map(Into::into),
            ..PodLabels::default()
        };
        let pods = [
            pod("on-target", "v1", None),
            pod("marked-already", "v1", Some("v1")),
            pod("stale-mark", "v2", Some("v1")),
            pod("other", "v2", None),
        ];
        let effects = mark_no_need_update("shop", &pods, "v1");
        let changed: Vec<(String, rollouts_change::Change)> = effects
            .into_iter()
            .map(|e| (e.object.name, e.change))
            .collect();
        let label = |value| {
            rollouts_change::Change::Merge(
                json!({"metadata": {"labels": {keys::NO_NEED_UPDATE: value}}}),
            )
        };
        assert_eq!(
            changed,
            vec![
                ("on-target".into(), label(json!("v1"))),
                ("stale-mark".into(), label(json!(null))),
            ]
        );
    }

    #[test]
    fn a_label_patch_names_the_pod_the_id_and_the_batch() {
        let effects = batch_label_effects("shop", "r-7", &[("web-1".into(), 2)]);
        assert_eq!(effects.len(), 1);
        assert_eq!(effects[0].object.to_string(), "Pod shop/web-1");
        assert_eq!(
            effects[0].change,
            rollouts_change::Change::Merge(json!({"metadata": {"labels": {
                keys::ROLLOUT_ID: "r-7", keys::ROLLOUT_BATCH_ID: "2"}}}))
        );
        assert_eq!(
            labelled_pods(&pods(4, &[("r-7", "1"), ("x", "1")]), "r-7"),
            1
        );
    }
}
