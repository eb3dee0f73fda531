//! Runs a due metric analysis check of a Rollout: finds the Prometheus to ask (the Rollout's, or
//! the controller's default), reads its bearer token and CA bundle from the Rollout's namespace,
//! sends every query at once, and returns one answer per metric for the step machine to judge.

use crate::context::Context;
use crate::prometheus::Prometheus;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use rollouts_api::v1beta1::{Rollout, SecretKeyRef};
use rollouts_plan::analysis::verdict::Answer;
use rollouts_plan::machine::DueCheck;

/// One answer per metric of `due` (every answer the same error when Prometheus cannot be asked).
pub async fn run_check(ctx: &Context, rollout: &Rollout, due: &DueCheck) -> Vec<Answer> {
    let answers = match client(ctx, rollout, due).await {
        Ok(prometheus) => {
            futures::future::join_all(due.queries.iter().map(|q| prometheus.query(q))).await
        }
        Err(error) => vec![Answer::Error(error); due.queries.len()],
    };
    for answer in &answers {
        ctx.metrics.count_analysis_query(match answer {
            Answer::Value(_) => "value",
            Answer::Empty => "empty",
            Answer::Error(_) => "error",
        });
    }
    tracing::debug!(step = due.step, ?answers, "metric analysis check");
    answers
}

async fn client(ctx: &Context, rollout: &Rollout, due: &DueCheck) -> Result<Prometheus, String> {
    let address = due
        .analysis
        .address
        .clone()
        .or_else(|| ctx.settings.prometheus_address.clone())
        .ok_or("no Prometheus address: set analysis.prometheus.address in the Rollout or start the controller with --prometheus-address")?;
    let namespace = rollout.metadata.namespace.as_deref().unwrap_or_default();
    let token = match &due.analysis.bearer_token_secret {
        Some(reference) => Some(secret_value(ctx, namespace, reference).await?),
        None => None,
    };
    let ca = match &due.analysis.ca_secret {
        Some(reference) => Some(secret_value(ctx, namespace, reference).await?),
        None => None,
    };
    let token = token.map(|t| String::from_utf8_lossy(&t).trim().to_string());
    Prometheus::new(
        &address,
        token,
        ca.as_deref(),
        ctx.settings.prometheus_timeout,
    )
}

/// The bytes under `reference.key` of the Secret `reference.name` in `namespace`.
async fn secret_value(
    ctx: &Context,
    namespace: &str,
    reference: &SecretKeyRef,
) -> Result<Vec<u8>, String> {
    let name = &reference.name;
    let secret = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get(name)
        .await
        .map_err(|e| format!("reading Secret {namespace}/{name}: {e}"))?;
    secret
        .data
        .and_then(|mut data| data.remove(&reference.key))
        .map(|bytes| bytes.0)
        .ok_or_else(|| format!("Secret {namespace}/{name} has no key {:?}", reference.key))
}
