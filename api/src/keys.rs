//! Every annotation, label, finalizer, field manager, condition type and reason, and event
//! reason the product reads or writes. No other file spells these strings.

/// API group of every Rollout kind.
pub const GROUP: &str = "rollouts.kruise.io";
/// apiVersion of the stored Rollout version (`GROUP` / v1beta1).
pub const ROLLOUT_API_VERSION: &str = "rollouts.kruise.io/v1beta1";
/// apiVersion of TrafficRouting objects (`GROUP` / v1alpha1, their only version).
pub const TRAFFIC_ROUTING_API_VERSION: &str = "rollouts.kruise.io/v1alpha1";

// ---- On the Rollout -------------------------------------------------------------------------

/// Plan hash; written by the controller when a release starts and kept current once written
/// (compared with `status.*.rolloutHash` to detect a changed plan).
pub const ROLLOUT_HASH: &str = "rollouts.kruise.io/hash";
/// The `replicas` of every step of the plan the `hash` annotation was computed from (a JSON
/// list); written by the controller with the hash, read when the plan changes mid-release to
/// know what the current step asked for under the old plan.
pub const PLAN_REPLICAS: &str = "rollouts.kruise.io/plan-replicas";
/// The revision of a ReplicaSet's pod template, put on the copies the webhook and the controller
/// cache in place of the template itself (never written to the cluster).
pub const CACHED_TEMPLATE_REVISION: &str = "rollouts.kruise.io/cached-template-revision";
/// Label selector of the one watch each service makes at start to learn whether the API server
/// streams lists; no object carries it, so the watch returns nothing but its bookmark.
pub const STREAMING_LIST_PROBE: &str = "rollouts.kruise.io/streaming-list-probe";
/// A Deployment's pod template as compact JSON, put on the copies the controller caches in place
/// of the typed template (never written to the cluster).
pub const CACHED_TEMPLATE: &str = "rollouts.kruise.io/cached-template";
/// `partition` or `canary`; written by users of v1alpha1 and by conversion, read by conversion and
/// by v1alpha1 validation.
pub const ROLLING_STYLE: &str = "rollouts.kruise.io/rolling-style";
/// Name of a TrafficRouting object; written by users and conversion, read by the controller.
pub const TRAFFIC_ROUTING: &str = "rollouts.kruise.io/trafficrouting";
/// `"true"` re-runs all steps on rollback; written by users, read by the controller.
pub const ROLLBACK_IN_BATCH: &str = "rollouts.kruise.io/rollback-in-batch";
/// Step number to approve (GitOps approval); written by users, read by the controller.
pub const APPROVED_STEP: &str = "rollouts.kruise.io/approved-step";
/// JSON of fields the other API version cannot express; written and read by conversion only.
pub const CONVERSION_DATA: &str = "rollouts.kruise.io/conversion-data";
/// Finalizer on every Rollout; added and removed by the controller so finalisation can finish.
pub const ROLLOUT_FINALIZER: &str = "rollouts.kruise.io/rollout";

// ---- On the workload ------------------------------------------------------------------------

/// Workload kind (`deployment`, `cloneset`, `statefulset`, `daemonset`); written by the
/// controller, read by the webhook's objectSelector.
pub const WORKLOAD_TYPE: &str = "rollouts.kruise.io/workload-type";
/// `{"rolloutName":"..."}`; written by the webhook when a release starts, removed by the
/// controller when finalising starts.
pub const IN_PROGRESSING: &str = "rollouts.kruise.io/in-progressing";
/// Release identifier; written by users (label for the controller, annotation for the webhook).
pub const ROLLOUT_ID: &str = "rollouts.kruise.io/rollout-id";
/// pod-template-hash of the stable ReplicaSet; written by the webhook, read by the controller,
/// removed on finalise.
pub const STABLE_REVISION: &str = "rollouts.kruise.io/stable-revision";
/// OwnerReference JSON of the controlling BatchRelease; written and cleared by the controller.
pub const BATCH_RELEASE_CONTROL_INFO: &str = "batchrelease.rollouts.kruise.io/control-info";
/// Partition-style Deployment strategy JSON; written by the webhook and controller, read by the
/// controller.
pub const DEPLOYMENT_STRATEGY: &str = "rollouts.kruise.io/deployment-strategy";
/// `"true"` while the controller drives a partition-style Deployment; removed on finalise.
pub const CONTROLLED_BY_ADVANCED_DEPLOYMENT: &str =
    "rollouts.kruise.io/controlled-by-advanced-deployment-controller";
/// Workload settings saved before the controller changed them; written by the controller,
/// restored and removed on finish, disable, delete and rollback.
pub const ORIGINAL_DEPLOYMENT_STRATEGY: &str = "rollouts.kruise.io/original-deployment-strategy";
/// New-version pods a partition-style Deployment may run in the current batch (the
/// `maxUnavailable` the controller drives it with); written by the controller, enforced by the
/// webhook against other edits, removed on finish, disable, delete and rollback.
pub const BATCH_POD_LIMIT: &str = "rollouts.kruise.io/batch-pod-limit";
/// Progress of a partition-style Deployment's batch as upstream's tools read it,
/// `{"updatedReadyReplicas":N,"expectedUpdatedReplicas":M}`; written by the controller with each
/// batch, removed on finish, disable, delete and rollback.
pub const DEPLOYMENT_EXTRA_STATUS: &str = "rollouts.kruise.io/deployment-extra-status";
/// Native DaemonSet canary/stable revisions JSON; written and read by the controller.
pub const DAEMONSET_REVISION: &str = "rollouts.kruise.io/daemonset-revision";
/// Native DaemonSet partition and batch revision JSON; written and read by the controller.
pub const DAEMONSET_ADVANCED_CONTROL: &str = "rollouts.kruise.io/daemonset-advanced-control";
/// Native DaemonSet `updateStrategy.type` before OnDelete; written by the webhook, restored by
/// the controller.
pub const DAEMONSET_ORIGINAL_UPDATE_STRATEGY: &str =
    "rollouts.kruise.io/daemonset-original-update-strategy";
/// Native DaemonSet `updateStrategy.rollingUpdate` JSON before OnDelete (OnDelete forbids it);
/// written by the webhook, restored by the controller.
pub const DAEMONSET_ORIGINAL_ROLLING_UPDATE: &str =
    "rollouts.kruise.io/daemonset-original-rolling-update";
/// Label on canary Deployments naming their stable Deployment; written by the controller.
pub const CANARY_DEPLOYMENT: &str = "rollouts.kruise.io/canary-deployment";
/// Finalizer on canary Deployments; added and removed by the controller.
pub const BATCH_RELEASE_DEPLOYMENT_FINALIZER: &str = "finalizer.rollouts.kruise.io/batch-release";

// ---- On pods --------------------------------------------------------------------------------

/// 1-based batch in which a pod was updated; written by the controller.
pub const ROLLOUT_BATCH_ID: &str = "rollouts.kruise.io/rollout-batch-id";
/// Pod already runs the rollback target; written by the controller (rollback in batches).
pub const NO_NEED_UPDATE: &str = "rollouts.kruise.io/no-need-update";
/// Kubernetes' ReplicaSet revision label; read by Services and the controller.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Kubernetes' StatefulSet / DaemonSet revision label; read by Services and the controller.
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";
/// Kubernetes' Deployment revision annotation on ReplicaSets; read by the controller.
pub const DEPLOYMENT_REVISION: &str = "deployment.kubernetes.io/revision";

// ---- On networking objects and other CRs ---------------------------------------------------

/// JSON of a custom network object before the release; written and removed by the controller.
pub const ORIGINAL_SPEC_CONFIGURATION: &str = "rollouts.kruise.io/original-spec-configuration";
/// Finalizer of a TrafficRouting object; owned by the controller.
pub const TRAFFIC_ROUTING_FINALIZER: &str = "rollouts.kruise.io/trafficrouting";
/// Prefix of the finalizer a progressing Rollout holds on its TrafficRouting object.
pub const PROGRESSING_FINALIZER_PREFIX: &str = "progressing.rollouts.kruise.io/";
/// Finalizer on BatchRelease objects; owned by the controller.
pub const BATCH_RELEASE_FINALIZER: &str = "rollouts.kruise.io/batch-release-finalizer";

// ---- Field managers -------------------------------------------------------------------------

/// Field manager of every write the controller makes.
pub const CONTROLLER_FIELD_MANAGER: &str = "rollouts-controller";
/// Field manager of every write the webhook makes (certificates, caBundle).
pub const WEBHOOK_FIELD_MANAGER: &str = "rollouts-webhook";

// ---- Condition types and reasons (status.conditions) ----------------------------------------

/// Condition type: a release is (or was) in progress.
pub const CONDITION_PROGRESSING: &str = "Progressing";
/// Condition type: the last release finished (True) or was cancelled (False).
pub const CONDITION_SUCCEEDED: &str = "Succeeded";
/// Condition type: the Rollout is being deleted.
pub const CONDITION_TERMINATING: &str = "Terminating";

/// Progressing reason: the release is being set up.
pub const REASON_INITIALIZING: &str = "Initializing";
/// Progressing reason: steps are running.
pub const REASON_IN_ROLLING: &str = "InRolling";
/// Progressing reason: all steps done, cleaning up.
pub const REASON_FINALISING: &str = "Finalising";
/// Progressing and Terminating reason: finished.
pub const REASON_COMPLETED: &str = "Completed";
/// Progressing reason: rolling back.
pub const REASON_CANCELLING: &str = "Cancelling";
/// Progressing reason: `spec.strategy.paused` is true.
pub const REASON_PAUSED: &str = "Paused";
/// Terminating reason: deletion in progress.
pub const REASON_IN_TERMINATING: &str = "InTerminating";

// ---- Finalise reasons (why finalisation runs) ------------------------------------------------

/// Finalise because the release succeeded.
pub const FINALISE_SUCCESS: &str = "Success";
/// Finalise because the workload was rolled back.
pub const FINALISE_ROLLBACK: &str = "Rollback";
/// Finalise because a newer revision replaced the one being released.
pub const FINALISE_CONTINUOUS: &str = "Continuous";
/// Finalise because the Rollout was disabled.
pub const FINALISE_DISABLED: &str = "RolloutDisabled";
/// Finalise because the Rollout is being deleted.
pub const FINALISE_DELETING: &str = "RolloutDeleting";

// ---- Event reasons ---------------------------------------------------------------------------

/// Event: a step's pods are upgraded.
pub const EVENT_STEP_UPGRADED: &str = "Progressing";
/// Event: the workload was rolled back and the release cancelled.
pub const EVENT_ROLLBACK: &str = "RollBack";
/// Event: a newer revision restarted the release.
pub const EVENT_CONTINUOUS_RELEASE: &str = "ContinuousRelease";
/// Event: the referenced workload kind is not supported.
pub const EVENT_UNSUPPORTED_WORKLOAD: &str = "UnsupportedWorkload";
/// Event: a step waits for approval.
pub const EVENT_STEP_PAUSED: &str = "StepPaused";
/// Event: a step was approved.
pub const EVENT_STEP_APPROVED: &str = "StepApproved";
/// Event: the release finished.
pub const EVENT_COMPLETED: &str = "Completed";
/// Event: a task of the end of a release started (traffic to stable, Services, workload).
pub const EVENT_FINALISING: &str = "Finalising";
/// Event: a step's traffic (canary Service, weight or matches) was applied.
pub const EVENT_TRAFFIC_ROUTING: &str = "TrafficRouting";
/// Event: a step's pods did not become ready before the deadline.
pub const EVENT_PROGRESS_DEADLINE_EXCEEDED: &str = "ProgressDeadlineExceeded";
/// Event: a step's metric analysis passed.
pub const EVENT_ANALYSIS_PASSED: &str = "AnalysisPassed";
/// Event: a step's metric analysis failed (the metric, its value and its threshold).
pub const EVENT_ANALYSIS_FAILED: &str = "AnalysisFailed";

// ---- Rolling-style annotation values ----------------------------------------------------------

/// `rolling-style` value: in-place batches on the workload.
pub const ROLLING_STYLE_PARTITION: &str = "partition";
/// `rolling-style` value: an extra canary Deployment.
pub const ROLLING_STYLE_CANARY: &str = "canary";

/// Suffix of the generated canary Service and canary Ingress names.
pub const CANARY_SUFFIX: &str = "-canary";

/// Suffix a blue-green release appends to the target name of a HorizontalPodAutoscaler of its
/// workload, so the autoscaler leaves the workload alone until the release ends.
pub const HPA_DISABLED_SUFFIX: &str = "-DisableByRollout";
