//! Reads the workload a Rollout references from the caches and turns it into the facts the
//! step machine needs (through `rollouts_workload::facts`).

use crate::context::Stores;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use rollouts_api::v1beta1::Rollout;
use rollouts_plan::machine::Control;
use rollouts_plan::{RollingStyle, rolling_style};
use rollouts_workload::WorkloadKind;
use rollouts_workload::facts::{self, WorkloadFacts};
use serde_json::Value;

/// The workload as JSON plus the objects its facts depend on.
pub struct Observed {
    /// How it is released.
    pub control: Control,
    /// The workload object, `None` when it does not exist.
    pub object: Option<Value>,
    /// ReplicaSets of the namespace (Deployments only).
    pub replica_sets: Vec<Value>,
    /// Deployments of the namespace (canary style only).
    pub deployments: Vec<Value>,
}

/// Why a Rollout's workload cannot be released by this controller.
pub fn control_of(rollout: &Rollout) -> Result<Control, String> {
    let reference = &rollout.spec.workload_ref;
    let kind = WorkloadKind::of(reference);
    let style = rolling_style(rollout);
    match (kind, style) {
        (_, RollingStyle::BlueGreen) => Err("blue-green releases are not supported yet".into()),
        (Some(WorkloadKind::Deployment), RollingStyle::Canary) => Ok(Control::CanaryDeployment),
        (Some(WorkloadKind::Deployment), RollingStyle::Partition) => {
            Ok(Control::PartitionDeployment)
        }
        (Some(WorkloadKind::StatefulSet), _) => Ok(Control::StatefulSet),
        _ => Err(format!(
            "the workload type '{}/{}' is not supported",
            reference.api_version, reference.kind
        )),
    }
}

fn to_json<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or_default()
}

fn in_namespace<K>(items: Vec<std::sync::Arc<K>>, namespace: &str) -> Vec<Value>
where
    K: kube::Resource + serde::Serialize,
{
    items
        .iter()
        .filter(|o| o.namespace().as_deref() == Some(namespace))
        .map(|o| to_json(o.as_ref()))
        .collect()
}

/// Reads the workload and what its facts need from the caches.
pub fn observe(stores: &Stores, rollout: &Rollout, control: Control) -> Observed {
    let namespace = rollout.namespace().unwrap_or_default();
    let name = &rollout.spec.workload_ref.name;
    let mut observed = Observed {
        control,
        object: None,
        replica_sets: Vec::new(),
        deployments: Vec::new(),
    };
    match control {
        Control::StatefulSet => {
            let key = ObjectRef::new(name).within(&namespace);
            observed.object = stores
                .stateful_sets
                .get(&key)
                .map(|s| with_kind(to_json(s.as_ref()), "StatefulSet"));
        }
        Control::PartitionDeployment | Control::CanaryDeployment => {
            let key = ObjectRef::new(name).within(&namespace);
            observed.object = stores
                .deployments
                .get(&key)
                .map(|d| with_kind(to_json(d.as_ref()), "Deployment"));
            observed.replica_sets = in_namespace(stores.replica_sets.state(), &namespace);
            if control == Control::CanaryDeployment {
                observed.deployments = in_namespace(stores.deployments.state(), &namespace);
            }
        }
    }
    observed
}

/// Cached typed objects carry no apiVersion/kind; the JSON used for patches and copies does.
fn with_kind(mut object: Value, kind: &str) -> Value {
    object["apiVersion"] = Value::String("apps/v1".into());
    object["kind"] = Value::String(kind.into());
    object
}

impl Observed {
    /// The facts of the workload, `None` when it does not exist.
    pub fn facts(&self) -> Option<WorkloadFacts> {
        let object = self.object.as_ref()?;
        Some(match self.control {
            Control::PartitionDeployment => facts::partition_deployment(object, &self.replica_sets),
            Control::CanaryDeployment => {
                facts::canary_style_deployment(object, &self.replica_sets, &self.deployments)
            }
            Control::StatefulSet => facts::statefulset(object),
        })
    }
}
