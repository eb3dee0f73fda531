//! Metric analysis against the real Prometheus of the local cluster, fed by a metrics source
//! this test controls (`app_metrics`): a canary with traffic passes step 1 by itself and is
//! rolled back by itself when its error rate goes bad at step 2 (traffic first, then pods, the
//! workload frozen until the old version is applied); `onFailure: Pause` waits, and an approval
//! runs the analysis again; a partition-style Deployment and a StatefulSet bring their pods back.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use rollouts_e2e::app_metrics::{AppMetrics, Settings, cluster_dir, prometheus_url, query};
use rollouts_e2e::release::*;
use rollouts_e2e::traffic::*;
use rollouts_e2e::*;

const NAME: &str = "rollouts-demo";
const APP: &str = "echoserver";

/// The analysis of `examples/echoserver/rollout-analysis.yaml`, checked every 2 s over a 5 s
/// window so the test runs fast, tolerating the first checks before the source is scraped.
fn fast(rollout: &str) -> String {
    rollout
        .replace("intervalSeconds: 5", "intervalSeconds: 2")
        .replace("inconclusiveLimit: 3", "inconclusiveLimit: 10")
        .replace("[10s]", "[5s]")
}

/// A v1beta1 Rollout of `kind` `echoserver` without traffic: `steps` (YAML), the example's
/// analysis with `on_failure`.
fn rollout_without_traffic(kind: &str, steps: &str, on_failure: &str) -> String {
    let example = fast(&example("rollout-analysis.yaml"));
    let analysis_start = example.find("      analysis:").unwrap();
    let analysis_end = example.find("      steps:").unwrap();
    let analysis = example[analysis_start..analysis_end]
        .replace("onFailure: Rollback", &format!("onFailure: {on_failure}"));
    format!(
        "apiVersion: rollouts.kruise.io/v1beta1
kind: Rollout
metadata:
  name: {NAME}
spec:
  workloadRef:
    apiVersion: apps/v1
    kind: {kind}
    name: {APP}
  strategy:
    canary:
{analysis}      steps: {steps}
"
    )
}

/// A namespace with its metrics source, `workload` (v1) and `rollout` applied and Healthy at
/// the end of `steps` steps; then `workload_v2` applied to start a release.
struct Release {
    client: kube::Client,
    ns: String,
    metrics: AppMetrics,
    _namespace: TestNamespace,
}

async fn release(
    prefix: &str,
    workload: &str,
    rollout: &str,
    steps: &str,
    workload_v2: &str,
) -> Release {
    let (client, namespace) = release_namespace(prefix).await;
    let ns = namespace.name.clone();
    let metrics = AppMetrics::start(&cluster_dir(), &ns).await;
    apply(&ns, workload);
    apply(&ns, rollout);
    wait_webhook_sees(&ns, rollout).await;
    wait_row(&ns, NAME, "Healthy", steps, "Completed", None).await;
    apply(&ns, workload_v2);
    Release {
        client,
        ns,
        metrics,
        _namespace: namespace,
    }
}

fn field(ns: &str, path: &str) -> String {
    rollout_field(ns, NAME, path)
}

/// Waits until the new pods' revision is known, and plays it with `error_ratio` (the stable
/// revision with none); returns the new revision.
async fn play_new_revision(metrics: &AppMetrics, ns: &str, error_ratio: f64) -> String {
    let canary = wait_for(
        "the new pods' revision in the status",
        STEP_DEADLINE,
        || async {
            let stable = field(ns, ".status.canaryStatus.stableRevision");
            let canary = field(ns, ".status.canaryStatus.podTemplateHash");
            match !canary.is_empty() && canary != stable {
                true => Ok(canary),
                false => Err(format!("stable {stable:?}, new {canary:?}")),
            }
        },
    )
    .await;
    let stable = field(ns, ".status.canaryStatus.stableRevision");
    metrics.set(ns, APP, &stable, settings(0.0));
    metrics.set(ns, APP, &canary, settings(error_ratio));
    canary
}

fn settings(error_ratio: f64) -> Settings {
    Settings {
        requests_per_second: 20.0,
        error_ratio,
        ..Settings::default()
    }
}

/// Waits until the current step's analysis is in `phase`.
async fn wait_analysis(ns: &str, phase: &str) {
    wait_for(
        &format!("analysis phase {phase}"),
        STEP_DEADLINE,
        || async {
            let seen = field(ns, ".status.canaryStatus.analysis");
            match field(ns, ".status.canaryStatus.analysis.phase") == phase {
                true => Ok(()),
                false => Err(seen),
            }
        },
    )
    .await;
}

fn event_messages(ns: &str, reason: &str) -> String {
    cluster().kubectl(&[
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        &format!("reason={reason}"),
        "-o",
        "jsonpath={.items[*].message}",
    ])
}

fn plugin_status(ns: &str) -> String {
    let (code, out, err) =
        rollouts_e2e::plugin::plugin(&["rollout", "status", &format!("rollouts/{NAME}"), "-n", ns]);
    assert_eq!(code, 0, "{err}");
    out
}

/// The failure the status, the condition and the Warning Event all name.
fn assert_failure_explained(ns: &str) {
    let message = field(ns, ".status.canaryStatus.analysis.message");
    assert!(
        message.contains("metric error-rate is") && message.contains("it must be <= 0.05"),
        "{message}"
    );
    let reason = field(ns, ".status.conditions[?(@.type==\"Succeeded\")].reason");
    assert_eq!(reason, "AnalysisFailed");
    let events = event_messages(ns, "AnalysisFailed");
    assert!(events.contains("metric error-rate is"), "{events}");
}

#[tokio::test]
async fn a_canary_passes_step_1_by_itself_and_is_rolled_back_by_itself_when_its_errors_rise() {
    let (client, ns) = release_namespace("analysis").await;
    let ns = ns.name.clone();
    let metrics = AppMetrics::start(&cluster_dir(), &ns).await;
    apply(&ns, &echoserver("version1", 4));
    apply(&ns, &example("echoserver-ingress-nginx.yaml"));
    apply(&ns, &fast(&example("rollout-analysis.yaml")));
    wait_webhook_sees(&ns, &fast(&example("rollout-analysis.yaml"))).await;
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;

    apply(&ns, &echoserver("version2", 4));
    play_new_revision(&metrics, &ns, 0.0).await;
    // Two passing checks and step 1 (no pause) goes on by itself.
    wait_for("step 2", STEP_DEADLINE, || async {
        match field(&ns, ".status.canaryStatus.currentStepIndex").as_str() {
            "2" => Ok(()),
            other => Err(other.to_string()),
        }
    })
    .await;
    let passed = event_messages(&ns, "AnalysisPassed");
    assert!(passed.contains("step(1/3) analysis passed"), "{passed}");
    assert!(passed.contains("(<= 0.05)"), "{passed}");

    let canary = field(&ns, ".status.canaryStatus.podTemplateHash");
    metrics.set(&ns, APP, &canary, settings(0.5));
    wait_analysis(&ns, "RolledBack").await;
    assert_failure_explained(&ns);
    // Traffic back on the stable pods, then no new pod; the workload stays frozen on v2.
    wait_canary_annotations(
        &client,
        &ns,
        &[
            ("nginx.ingress.kubernetes.io/canary", "true"),
            ("nginx.ingress.kubernetes.io/canary-weight", "0"),
        ],
    )
    .await;
    wait_pods(&client, &ns, APP, &[("version1", 4)]).await;
    wait_row(&ns, NAME, "Progressing", "2", "StepPaused", None).await;
    let row = rollout_row(&ns, NAME);
    assert!(row["MESSAGE"].contains("rolled back"), "{row:?}");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let stable = deployments.get(APP).await.unwrap();
    assert_eq!(stable.spec.paused, Some(true), "frozen");
    let template = serde_json::to_string(&stable.spec.template).unwrap();
    assert!(template.contains("version2"), "the user's template is kept");
    let status = plugin_status(&ns);
    assert!(status.contains("Analysis:   step 2 RolledBack"), "{status}");
    assert!(status.contains("error-rate"), "{status}");

    // The old version applied again ends the release.
    apply(&ns, &echoserver("version1", 4));
    wait_row(&ns, NAME, "Healthy", "3", "Completed", None).await;
    wait_pods(&client, &ns, APP, &[("version1", 4)]).await;
    let ingresses: Api<k8s_openapi::api::networking::v1::Ingress> =
        Api::namespaced(client.clone(), &ns);
    wait_for("canary Ingress removed", STEP_DEADLINE, || async {
        match ingresses.get_opt("echoserver-canary").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}

#[tokio::test]
async fn on_failure_pause_waits_and_an_approval_runs_the_analysis_again() {
    let rollout = rollout_without_traffic(
        "Deployment",
        "[{replicas: 1}, {replicas: 100%, analysis: {disabled: true}}]",
        "Pause",
    );
    let Release {
        client,
        ns,
        metrics,
        ..
    } = &release(
        "analysis-pause",
        &echoserver("version1", 3),
        &rollout,
        "2",
        &echoserver("version2", 3),
    )
    .await;
    let (client, ns) = (client, ns.as_str());
    play_new_revision(metrics, ns, 0.5).await;
    wait_analysis(ns, "Failed").await;
    assert_failure_explained(ns);
    wait_row(ns, NAME, "Progressing", "1", "StepPaused", None).await;
    assert!(rollout_row(ns, NAME)["MESSAGE"].contains("approve the step"));
    wait_pods(client, ns, APP, &[("version1", 2), ("version2", 1)]).await;

    let canary = field(ns, ".status.canaryStatus.podTemplateHash");
    metrics.set(ns, APP, &canary, settings(0.0));
    // The operator approves once Prometheus's window no longer holds the errors.
    let prometheus = prometheus_url(&cluster_dir());
    let ratio = format!(
        "sum(rate(app_requests_total{{namespace=\"{ns}\",revision=\"{canary}\",code=\"500\"}}[5s])) / sum(rate(app_requests_total{{namespace=\"{ns}\",revision=\"{canary}\"}}[5s]))"
    );
    wait_for("no errors in the window", STEP_DEADLINE, || async {
        match query(&prometheus, &ratio).await {
            Ok(Some(value)) if value < 0.01 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    approve(ns, NAME);
    wait_row(ns, NAME, "Healthy", "2", "Completed", None).await;
    wait_pods(client, ns, APP, &[("version2", 3)]).await;
}

#[tokio::test]
async fn a_partition_style_deployment_brings_its_pods_back_through_its_replica_sets() {
    let rollout = rollout_without_traffic(
        "Deployment",
        "[{replicas: 2, pause: {}}, {replicas: 100%}]",
        "Rollback",
    );
    let Release {
        client,
        ns,
        metrics,
        ..
    } = &release(
        "analysis-partition",
        &echoserver("version1", 4),
        &rollout,
        "2",
        &echoserver("version2", 4),
    )
    .await;
    let (client, ns) = (client, ns.as_str());
    play_new_revision(metrics, ns, 0.0).await;
    wait_analysis(ns, "Passed").await;
    wait_pods(client, ns, APP, &[("version1", 2), ("version2", 2)]).await;
    // A failure during the pause fails the release.
    let canary = field(ns, ".status.canaryStatus.podTemplateHash");
    metrics.set(ns, APP, &canary, settings(0.9));
    wait_analysis(ns, "RolledBack").await;
    assert_failure_explained(ns);
    wait_pods(client, ns, APP, &[("version1", 4)]).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let deployment = deployments.get(APP).await.unwrap();
    assert_eq!(deployment.spec.paused, Some(true));

    apply(ns, &echoserver("version1", 4));
    wait_row(ns, NAME, "Healthy", "2", "Completed", None).await;
    wait_pods(client, ns, APP, &[("version1", 4)]).await;
    let deployment = deployments.get(APP).await.unwrap();
    assert_ne!(deployment.spec.paused, Some(true), "given back");
}

#[tokio::test]
async fn a_statefulset_brings_its_new_pods_back_to_the_stable_revision() {
    let rollout = rollout_without_traffic(
        "StatefulSet",
        "[{replicas: 2, pause: {}}, {replicas: 100%}]",
        "Rollback",
    );
    let Release {
        client,
        ns,
        metrics,
        ..
    } = &release(
        "analysis-sts",
        &echoserver_statefulset("apps/v1", "version1", 4),
        &rollout,
        "2",
        &echoserver_statefulset("apps/v1", "version2", 4),
    )
    .await;
    let (client, ns) = (client, ns.as_str());
    play_new_revision(metrics, ns, 0.8).await;
    wait_analysis(ns, "RolledBack").await;
    wait_for("every pod back on version1", STEP_DEADLINE, || async {
        let versions = versions_by_ordinal(client, ns, 4).await;
        match versions.iter().all(|v| v == "version1") {
            true => Ok(()),
            false => Err(format!("{versions:?}")),
        }
    })
    .await;
    let partition = cluster().kubectl(&[
        "get",
        "statefulset",
        APP,
        "-n",
        ns,
        "-o",
        "jsonpath={.spec.updateStrategy.rollingUpdate.partition}",
    ]);
    assert_eq!(partition, "4", "every pod kept on the stable revision");

    apply(ns, &echoserver_statefulset("apps/v1", "version1", 4));
    wait_row(ns, NAME, "Healthy", "2", "Completed", None).await;
}

#[tokio::test]
async fn a_missing_token_secret_is_a_check_without_answer_named_in_the_status_until_it_exists() {
    let rollout = rollout_without_traffic(
        "Deployment",
        "[{replicas: 1}, {replicas: 100%, analysis: {disabled: true}}]",
        "Pause",
    )
    .replace(
        "      analysis:\n",
        "      analysis:\n        prometheus: {bearerTokenSecret: {name: prometheus-token, key: token}}\n",
    );
    let Release { ns, metrics, .. } = &release(
        "analysis-secret",
        &echoserver("version1", 2),
        &rollout,
        "2",
        &echoserver("version2", 2),
    )
    .await;
    let ns = ns.as_str();
    play_new_revision(metrics, ns, 0.0).await;
    wait_for("the missing Secret named", STEP_DEADLINE, || async {
        let reason = field(ns, ".status.canaryStatus.analysis.metrics[0].reason");
        match reason.contains("Secret") && reason.contains("prometheus-token") {
            true => Ok(()),
            false => Err(field(ns, ".status.canaryStatus.analysis")),
        }
    })
    .await;
    assert_eq!(
        field(ns, ".status.canaryStatus.analysis.metrics[0].outcome"),
        "Inconclusive"
    );
    // The local Prometheus takes any token: once the Secret exists the checks pass.
    apply(
        ns,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: prometheus-token\nstringData:\n  token: local-token\n",
    );
    wait_row(ns, NAME, "Healthy", "2", "Completed", None).await;
}
