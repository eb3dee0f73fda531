//! Native (`apps/v1`) DaemonSets. The webhook switches a DaemonSet that starts a release to
//! `OnDelete` (its original strategy saved in annotations), so the DaemonSet controller only
//! replaces a pod once it is deleted. A batch therefore deletes old-version pods (not-ready ones
//! first) until the step's share of nodes runs the new version; pods already on their way (being
//! deleted, or deleted and not yet recreated) count as done, so deciding again deletes nothing
//! more, and at most the original `maxUnavailable` are on their way at once. The end restores
//! the saved strategy.

use super::common::{key_of, label_effect, match_labels};
use super::contract::Release;
use crate::WorkloadKind;
use crate::batch::scaled;
use crate::facts::WorkloadFacts;
use crate::revision::annotation;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rollouts_api::keys;
use rollouts_change::{Change, Effect, ObjectKey, Resource};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A pod of the DaemonSet as a batch sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonPod {
    /// The pod's name.
    pub name: String,
    /// Its `controller-revision-hash` label.
    pub revision: String,
    /// Ready.
    pub ready: bool,
    /// Being deleted.
    pub deleting: bool,
}

/// A native DaemonSet released by deleting old pods under `OnDelete`.
pub struct NativeDaemonSetRelease {
    key: ObjectKey,
    object: Value,
    pods: Vec<DaemonPod>,
    facts: WorkloadFacts,
}

fn count(object: &Value, pointer: &str) -> i32 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
        .unwrap_or(0)
}

fn len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl NativeDaemonSetRelease {
    /// From the DaemonSet as JSON, its pods, and the hash of its current revision (its newest
    /// ControllerRevision; empty when not known yet).
    pub fn new(object: Value, pods: Vec<DaemonPod>, update_revision: &str) -> Self {
        let key = key_of(Resource::DAEMON_SET, &object);
        let generation = object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let observed = object
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let desired = count(&object, "/status/desiredNumberScheduled");
        let live = || pods.iter().filter(|p| !p.deleting);
        let updated = live().filter(|p| p.revision == update_revision).count();
        let updated_ready = live()
            .filter(|p| p.revision == update_revision && p.ready)
            .count();
        let stable = live()
            .map(|p| p.revision.as_str())
            .find(|r| *r != update_revision)
            .unwrap_or_default();
        let in_progressing = annotation(&object, keys::IN_PROGRESSING).is_some();
        let saved = annotation(&object, keys::DAEMONSET_ORIGINAL_UPDATE_STRATEGY).is_some();
        let all_ready = live().count() == desired as usize && live().all(|p| p.ready);
        let facts = WorkloadFacts {
            replicas: desired,
            generation,
            generation_observed: observed >= generation,
            stable_revision: stable.to_string(),
            canary_revision: update_revision.to_string(),
            pod_template_hash: update_revision.to_string(),
            in_progressing,
            in_rollback: false,
            updated: len(updated),
            updated_ready: len(updated_ready),
            released: !in_progressing && !saved,
            promoted: observed >= generation && len(updated) >= desired && all_ready,
            rollout_id: object
                .pointer(&format!(
                    "/metadata/labels/{}",
                    keys::ROLLOUT_ID.replace('/', "~1")
                ))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            progress_deadline_seconds: None,
        };
        Self {
            key,
            object,
            pods,
            facts,
        }
    }

    /// Pods that may be on their way at once: the original `maxUnavailable` (default 1).
    fn max_unavailable(&self) -> i32 {
        let saved = annotation(&self.object, keys::DAEMONSET_ORIGINAL_ROLLING_UPDATE)
            .and_then(|s| serde_json::from_str::<Value>(s).ok());
        let value = match saved.as_ref().and_then(|r| r.get("maxUnavailable")) {
            Some(Value::Number(n)) => IntOrString::Int(n.as_i64().unwrap_or(1) as i32),
            Some(Value::String(s)) => IntOrString::String(s.clone()),
            _ => IntOrString::Int(1),
        };
        scaled(&value, self.facts.replicas).unwrap_or(1).max(1)
    }

    /// Old pods to delete so that the new version reaches `planned` pods.
    fn to_delete(&self, planned: i32) -> Vec<&DaemonPod> {
        let update = &self.facts.canary_revision;
        if update.is_empty() {
            return Vec::new();
        }
        let live: Vec<&DaemonPod> = self.pods.iter().filter(|p| !p.deleting).collect();
        let old: Vec<&DaemonPod> = live
            .iter()
            .copied()
            .filter(|p| &p.revision != update)
            .collect();
        let updated = len(live.len() - old.len());
        // Deleted and not yet back, or still terminating: already on their way to the new version.
        let on_the_way = (self.facts.replicas - len(live.len())).max(0);
        let unready_new = live
            .iter()
            .filter(|p| &p.revision == update && !p.ready)
            .count();
        let room = self.max_unavailable() - on_the_way - len(unready_new);
        let wanted = (planned - updated - on_the_way).min(room).max(0) as usize;
        let mut candidates = old;
        candidates.sort_by(|a, b| a.ready.cmp(&b.ready).then_with(|| a.name.cmp(&b.name)));
        candidates.into_iter().take(wanted).collect()
    }
}

impl Release for NativeDaemonSetRelease {
    fn object(&self) -> &ObjectKey {
        &self.key
    }

    fn facts(&self) -> &WorkloadFacts {
        &self.facts
    }

    fn batch(&self, step: &IntOrString, no_need_update: i32) -> Vec<Effect> {
        let planned = self.planned(step, no_need_update);
        self.to_delete(planned)
            .into_iter()
            .map(|pod| Effect {
                object: ObjectKey::new(Resource::POD, &self.key.namespace, &pod.name),
                change: Change::Delete,
                why: format!("replace an old pod: {planned} new pods wanted"),
            })
            .collect()
    }

    fn reset(&self) -> Vec<Effect> {
        Vec::new()
    }

    fn finish(&self, _promote: bool) -> Vec<Effect> {
        let strategy = annotation(&self.object, keys::DAEMONSET_ORIGINAL_UPDATE_STRATEGY);
        let marked = annotation(&self.object, keys::IN_PROGRESSING).is_some();
        if strategy.is_none() && !marked {
            return Vec::new();
        }
        let rolling = annotation(&self.object, keys::DAEMONSET_ORIGINAL_ROLLING_UPDATE)
            .and_then(|s| serde_json::from_str::<Value>(s).ok());
        let kind = strategy.unwrap_or("RollingUpdate");
        let mut update_strategy = json!({"type": kind});
        if let Some(rolling) = rolling.filter(|_| kind == "RollingUpdate") {
            update_strategy["rollingUpdate"] = rolling;
        }
        let patch = json!({
            "metadata": {"annotations": {
                keys::IN_PROGRESSING: null,
                keys::DAEMONSET_ORIGINAL_UPDATE_STRATEGY: null,
                keys::DAEMONSET_ORIGINAL_ROLLING_UPDATE: null,
            }},
            "spec": {"updateStrategy": update_strategy},
        });
        vec![Effect::merge(
            self.key.clone(),
            patch,
            "give the DaemonSet back its strategy",
        )]
    }

    fn revision_key(&self) -> &'static str {
        keys::CONTROLLER_REVISION_HASH
    }

    fn pod_selector(&self) -> BTreeMap<String, String> {
        match_labels(&self.object)
    }

    fn label(&self) -> Option<Effect> {
        label_effect(&self.key, &self.object, WorkloadKind::DaemonSet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemonset(scheduled: i64, rolling: Option<&str>) -> Value {
        let mut annotations = json!({keys::IN_PROGRESSING: "{}",
            keys::DAEMONSET_ORIGINAL_UPDATE_STRATEGY: "RollingUpdate"});
        if let Some(rolling) = rolling {
            annotations[keys::DAEMONSET_ORIGINAL_ROLLING_UPDATE] = json!(rolling);
        }
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "ops", "generation": 2,
                "annotations": annotations},
            "spec": {"updateStrategy": {"type": "OnDelete"}},
            "status": {"observedGeneration": 2, "desiredNumberScheduled": scheduled}})
    }

    fn pod(name: &str, revision: &str, ready: bool) -> DaemonPod {
        DaemonPod {
            name: name.into(),
            revision: revision.into(),
            ready,
            deleting: false,
        }
    }

    fn deleted(release: &NativeDaemonSetRelease, step: i32) -> Vec<String> {
        release
            .batch(&IntOrString::Int(step), 0)
            .iter()
            .map(|e| e.object.name.clone())
            .collect()
    }

    #[test]
    fn a_batch_deletes_old_pods_not_ready_first_until_the_step_is_reached() {
        let pods = vec![
            pod("a", "v1", true),
            pod("b", "v1", false),
            pod("c", "v1", true),
        ];
        let wide = Some(r#"{"maxUnavailable": 3}"#);
        let release = NativeDaemonSetRelease::new(daemonset(3, wide), pods, "v2");
        assert_eq!(
            deleted(&release, 1),
            ["b"],
            "the unready old pod goes first"
        );
        assert_eq!(deleted(&release, 2), ["b", "a"]);
        assert_eq!(release.facts().updated, 0);
        assert_eq!(release.facts().stable_revision, "v1");
    }

    #[test]
    fn pods_on_their_way_count_so_deciding_again_deletes_nothing_more() {
        // "b" was deleted and not yet recreated: the step of 1 is on its way.
        let pods = vec![pod("a", "v1", true), pod("c", "v1", true)];
        let release = NativeDaemonSetRelease::new(daemonset(3, None), pods, "v2");
        assert!(deleted(&release, 1).is_empty());
        // Terminating counts the same.
        let mut terminating = pod("b", "v1", true);
        terminating.deleting = true;
        let pods = vec![pod("a", "v1", true), terminating, pod("c", "v1", true)];
        let release = NativeDaemonSetRelease::new(daemonset(3, None), pods, "v2");
        assert!(deleted(&release, 1).is_empty());
    }

    #[test]
    fn at_most_max_unavailable_pods_are_on_their_way() {
        let pods = vec![
            pod("a", "v2", false),
            pod("b", "v1", true),
            pod("c", "v1", true),
        ];
        let release = NativeDaemonSetRelease::new(daemonset(3, None), pods, "v2");
        assert!(
            deleted(&release, 3).is_empty(),
            "maxUnavailable 1: wait for the new pod to be ready"
        );
        let pods = vec![
            pod("a", "v2", true),
            pod("b", "v1", true),
            pod("c", "v1", true),
        ];
        let release = NativeDaemonSetRelease::new(daemonset(3, None), pods, "v2");
        assert_eq!(deleted(&release, 3), ["b"]);
        assert_eq!(
            (release.facts().updated, release.facts().updated_ready),
            (1, 1)
        );
    }

    #[test]
    fn the_end_restores_the_saved_strategy_and_removes_the_marks() {
        let rolling = Some(r#"{"maxUnavailable": 2}"#);
        let release = NativeDaemonSetRelease::new(daemonset(3, rolling), Vec::new(), "v2");
        let end = release.finish(true);
        assert_eq!(end.len(), 1);
        let Change::Merge(patch) = &end[0].change else {
            panic!("a merge patch: {:?}", end[0].change)
        };
        assert_eq!(
            patch["spec"]["updateStrategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}})
        );
        assert_eq!(
            patch["metadata"]["annotations"][keys::IN_PROGRESSING],
            Value::Null
        );
        let given_back = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "agent", "namespace": "ops"}});
        let release = NativeDaemonSetRelease::new(given_back, Vec::new(), "v2");
        assert!(release.finish(true).is_empty());
        assert!(release.facts().released);
    }
}
