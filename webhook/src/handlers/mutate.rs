//! `/mutate-*`: freezes an UPDATE of a governed workload that starts a release.

use super::lookup::{Decision, Lookup};
use super::review::{AdmissionRequest, AdmissionResponse};
use rollouts_workload::{matching::governing_rollout, mutation};
use serde_json::Value;

/// The mutating endpoints and the kinds each one serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MutatingPath {
    /// `/mutate-apps-v1-deployment`
    Deployment,
    /// `/mutate-apps-v1-daemonset`
    NativeDaemonSet,
    /// `/mutate-apps-kruise-io-v1alpha1-cloneset`
    CloneSet,
    /// `/mutate-apps-kruise-io-v1alpha1-daemonset`
    AdvancedDaemonSet,
    /// `/mutate-unified-workload`: StatefulSet and Advanced StatefulSet.
    Unified,
}

impl MutatingPath {
    /// Every endpoint with its URL path.
    pub const ALL: [(Self, &'static str); 5] = [
        (Self::Deployment, "/mutate-apps-v1-deployment"),
        (Self::NativeDaemonSet, "/mutate-apps-v1-daemonset"),
        (Self::CloneSet, "/mutate-apps-kruise-io-v1alpha1-cloneset"),
        (
            Self::AdvancedDaemonSet,
            "/mutate-apps-kruise-io-v1alpha1-daemonset",
        ),
        (Self::Unified, "/mutate-unified-workload"),
    ];

    fn serves(self, group: &str, kind: &str) -> bool {
        match self {
            Self::Deployment => group == "apps" && kind == "Deployment",
            Self::NativeDaemonSet => group == "apps" && kind == "DaemonSet",
            Self::CloneSet => group == "apps.kruise.io" && kind == "CloneSet",
            Self::AdvancedDaemonSet => group == "apps.kruise.io" && kind == "DaemonSet",
            Self::Unified => matches!(group, "apps" | "apps.kruise.io") && kind == "StatefulSet",
        }
    }
}

/// Answers a mutating request: a JSON patch when the update starts (or must not disturb) a
/// release, otherwise admitted untouched.
pub fn mutate(
    path: MutatingPath,
    request: &AdmissionRequest,
    lookup: &dyn Lookup,
) -> (AdmissionResponse, Decision) {
    let allow = AdmissionResponse::allow(request);
    if !request.is_plain_update() || !path.serves(&request.kind.group, &request.kind.kind) {
        return (allow, Decision::Allowed);
    }
    let (Some(new), Some(old)) = (&request.object, &request.old_object) else {
        return (allow, Decision::Allowed);
    };
    let namespace = request.namespace.clone().unwrap_or_default();
    let rollouts = lookup.rollouts(&namespace);
    let Some(rollout) = governing_rollout(rollouts.iter().map(|r| r.as_ref()), &namespace, new)
    else {
        return (allow, Decision::Allowed);
    };
    let mutated = match path {
        MutatingPath::Deployment => {
            // Updates sent without a UID (Karmada, OCM) keep the stored object's.
            let uid = [&new, &old]
                .iter()
                .find_map(|o| {
                    o.pointer("/metadata/uid")?
                        .as_str()
                        .filter(|u| !u.is_empty())
                })
                .unwrap_or_default();
            let replica_sets = lookup.owned_replica_sets(uid);
            mutation::freeze_deployment(
                old,
                new,
                rollout,
                replica_sets.iter().map(|rs| rs.as_ref()),
            )
        }
        MutatingPath::NativeDaemonSet => mutation::freeze_native_daemonset(old, new, rollout),
        MutatingPath::CloneSet => mutation::freeze_cloneset(old, new, rollout),
        MutatingPath::AdvancedDaemonSet => mutation::freeze_advanced_daemonset(old, new, rollout),
        MutatingPath::Unified => mutation::freeze_statefulset(old, new, rollout),
    };
    match mutated {
        None => (allow, Decision::Allowed),
        Some(mutated) => patch_response(allow, new, &mutated),
    }
}

/// Admits with the JSON patch that turns `new` into `mutated`.
pub(super) fn patch_response(
    allow: AdmissionResponse,
    new: &Value,
    mutated: &Value,
) -> (AdmissionResponse, Decision) {
    match serde_json::to_vec(&json_patch::diff(new, mutated)) {
        Ok(patch) => (
            AdmissionResponse {
                patch: Some(patch),
                ..allow
            },
            Decision::Patched,
        ),
        Err(e) => (
            allow.deny(format!("cannot encode the patch: {e}")),
            Decision::Invalid,
        ),
    }
}
