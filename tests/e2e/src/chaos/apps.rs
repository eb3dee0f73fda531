//! The applications a soak releases: one per workload kind and release style, each in a
//! namespace of its own, with a Rollout of three steps (manual approval, a short pause, manual
//! approval), and the YAML of any version of them.

use crate::release::{
    echoserver, echoserver_cloneset, echoserver_statefulset, example, never_ready,
};

/// Steps of every soak Rollout that wait for an approval.
pub const MANUAL_STEPS: [i32; 2] = [1, 3];

/// The workload kinds and release styles a soak covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A Deployment released through a canary Deployment, with Nginx traffic weights.
    DeploymentCanary,
    /// A Deployment released in place, batch by batch.
    DeploymentPartition,
    /// An apps/v1 StatefulSet (partition).
    StatefulSet,
    /// OpenKruise's Advanced StatefulSet (partition).
    AdvancedStatefulSet,
    /// OpenKruise's CloneSet (partition).
    CloneSet,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::DeploymentCanary,
        Kind::DeploymentPartition,
        Kind::StatefulSet,
        Kind::AdvancedStatefulSet,
        Kind::CloneSet,
    ];

    /// A short name for namespaces and reports.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::DeploymentCanary => "deploy-canary",
            Kind::DeploymentPartition => "deploy-partition",
            Kind::StatefulSet => "statefulset",
            Kind::AdvancedStatefulSet => "asts",
            Kind::CloneSet => "cloneset",
        }
    }

    /// `apiVersion` and `kind` of the workload.
    pub fn workload_type(self) -> (&'static str, &'static str) {
        match self {
            Kind::DeploymentCanary | Kind::DeploymentPartition => ("apps/v1", "Deployment"),
            Kind::StatefulSet => ("apps/v1", "StatefulSet"),
            Kind::AdvancedStatefulSet => ("apps.kruise.io/v1beta1", "StatefulSet"),
            Kind::CloneSet => ("apps.kruise.io/v1alpha1", "CloneSet"),
        }
    }

    /// Whether the release also shifts traffic (an Ingress and a canary Service).
    pub fn has_traffic(self) -> bool {
        self == Kind::DeploymentCanary
    }

    /// The workload at `version` with `replicas` pods; with `not_ready`, its pods never become
    /// Ready (a broken version).
    pub fn workload_yaml(self, version: u32, replicas: u32, not_ready: bool) -> String {
        let name = format!("v{version}");
        let yaml = match self {
            Kind::DeploymentCanary => format!(
                "{}\n---\n{}",
                echoserver(&name, replicas),
                example("echoserver-ingress-nginx.yaml")
            ),
            Kind::DeploymentPartition => echoserver(&name, replicas),
            Kind::StatefulSet => echoserver_statefulset("apps/v1", &name, replicas),
            Kind::AdvancedStatefulSet => {
                echoserver_statefulset("apps.kruise.io/v1beta1", &name, replicas)
            }
            Kind::CloneSet => echoserver_cloneset(&name, replicas),
        };
        if not_ready { never_ready(&yaml) } else { yaml }
    }

    /// The Rollout `chaos` for the workload.
    pub fn rollout_yaml(self) -> String {
        let (api_version, kind) = self.workload_type();
        let style = match self {
            Kind::DeploymentPartition => {
                "  annotations:\n    rollouts.kruise.io/rolling-style: partition\n"
            }
            _ => "",
        };
        let (weights, routes) = if self.has_traffic() {
            (
                [
                    "        weight: 20\n",
                    "        weight: 50\n",
                    "        weight: 100\n",
                ],
                "      trafficRoutings:\n      - service: echoserver\n        ingress:\n          name: echoserver\n",
            )
        } else {
            (["", "", ""], "")
        };
        format!(
            "apiVersion: rollouts.kruise.io/v1alpha1\nkind: Rollout\nmetadata:\n  name: chaos\n{style}spec:\n  objectRef:\n    workloadRef:\n      apiVersion: {api_version}\n      kind: {kind}\n      name: echoserver\n  strategy:\n    canary:\n      steps:\n      - replicas: 1\n{}        pause: {{}}\n      - replicas: 50%\n{}        pause: {{duration: 3}}\n      - replicas: 100%\n{}        pause: {{}}\n{routes}",
            weights[0], weights[1], weights[2]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_parseable_workload_and_rollout() {
        for kind in Kind::ALL {
            let (api_version, workload_kind) = kind.workload_type();
            for not_ready in [false, true] {
                let yaml = kind.workload_yaml(3, 4, not_ready);
                let docs: Vec<serde_yaml::Value> = yaml
                    .split("\n---")
                    .map(|doc| serde_yaml::from_str(doc).unwrap())
                    .collect();
                let workload = docs
                    .iter()
                    .find(|d| d["kind"].as_str() == Some(workload_kind))
                    .unwrap_or_else(|| panic!("{kind:?}: no {workload_kind}"));
                assert_eq!(
                    workload["apiVersion"].as_str(),
                    Some(api_version),
                    "{kind:?}"
                );
                assert_eq!(workload["spec"]["replicas"].as_u64(), Some(4), "{kind:?}");
                let annotation = &workload["spec"]["template"]["metadata"]["annotations"]["k8scluster.test/not-ready"];
                assert_eq!(annotation.as_str() == Some("true"), not_ready, "{kind:?}");
                assert!(
                    yaml.contains("value: v3"),
                    "{kind:?}: the version is in the template"
                );
            }
            let rollout: serde_yaml::Value = serde_yaml::from_str(&kind.rollout_yaml()).unwrap();
            let steps = rollout["spec"]["strategy"]["canary"]["steps"]
                .as_sequence()
                .unwrap();
            let manual: Vec<i32> = (1..=steps.len() as i32)
                .filter(|i| steps[*i as usize - 1]["pause"].get("duration").is_none())
                .collect();
            assert_eq!(manual, MANUAL_STEPS, "{kind:?}");
            assert_eq!(
                rollout["spec"]["strategy"]["canary"]
                    .get("trafficRoutings")
                    .is_some(),
                kind.has_traffic(),
                "{kind:?}"
            );
        }
    }
}
