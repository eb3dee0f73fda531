//! Per-kind workload adapters, pure and shared by the webhook and the controller: which kinds a
//! Rollout can govern, which Rollout governs a workload, whether an update is a new release,
//! and how each kind is frozen when a release starts.

pub mod autoscalers;
pub mod batch;
pub mod control;
pub mod facts;
pub mod hash;
pub mod labels;
pub mod matching;
pub mod mutation;
pub mod release;
pub mod revision;
pub mod style;

use rollouts_api::common::ObjectRef;

/// A workload kind a Rollout can reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// OpenKruise `apps.kruise.io` CloneSet.
    CloneSet,
    /// OpenKruise `apps.kruise.io` Advanced StatefulSet.
    AdvancedStatefulSet,
    /// OpenKruise `apps.kruise.io` Advanced DaemonSet.
    AdvancedDaemonSet,
}

impl WorkloadKind {
    /// The kind a workload reference names, if it is supported.
    pub fn of(reference: &ObjectRef) -> Option<Self> {
        let kind = reference.kind.as_str();
        match (reference.group(), kind) {
            ("apps", "Deployment") => Some(Self::Deployment),
            ("apps", "StatefulSet") => Some(Self::StatefulSet),
            ("apps", "DaemonSet") => Some(Self::DaemonSet),
            ("apps", "ReplicaSet") => Some(Self::ReplicaSet),
            ("apps.kruise.io", "CloneSet") => Some(Self::CloneSet),
            ("apps.kruise.io", "StatefulSet") => Some(Self::AdvancedStatefulSet),
            ("apps.kruise.io", "DaemonSet") => Some(Self::AdvancedDaemonSet),
            _ => None,
        }
    }

    /// Value of the `rollouts.kruise.io/workload-type` label for this kind.
    pub fn type_label(self) -> &'static str {
        match self {
            Self::Deployment | Self::ReplicaSet => "deployment",
            Self::StatefulSet | Self::AdvancedStatefulSet => "statefulset",
            Self::DaemonSet | Self::AdvancedDaemonSet => "daemonset",
            Self::CloneSet => "cloneset",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(api_version: &str, kind: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            name: "w".into(),
        }
    }

    #[test]
    fn supported_kinds_are_recognised_by_group_and_kind_ignoring_version() {
        let cases = [
            (
                "apps/v1",
                "Deployment",
                Some(WorkloadKind::Deployment),
                Some("deployment"),
            ),
            (
                "apps/v1",
                "StatefulSet",
                Some(WorkloadKind::StatefulSet),
                Some("statefulset"),
            ),
            (
                "apps.kruise.io/v1alpha1",
                "CloneSet",
                Some(WorkloadKind::CloneSet),
                Some("cloneset"),
            ),
            (
                "apps.kruise.io/v1beta1",
                "StatefulSet",
                Some(WorkloadKind::AdvancedStatefulSet),
                Some("statefulset"),
            ),
            (
                "apps.kruise.io/v1alpha1",
                "DaemonSet",
                Some(WorkloadKind::AdvancedDaemonSet),
                Some("daemonset"),
            ),
            ("v1", "Pod", None, None),
            ("batch/v1", "Job", None, None),
        ];
        for (api_version, kind, expected, label) in cases {
            let found = WorkloadKind::of(&reference(api_version, kind));
            assert_eq!(found, expected, "{api_version} {kind}");
            assert_eq!(
                found.map(WorkloadKind::type_label),
                label,
                "{api_version} {kind}"
            );
        }
    }
}
