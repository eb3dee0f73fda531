//! Leader election on a coordination.k8s.io/v1 Lease: acquire it, keep it renewed while the
//! leader's work runs, and release it when the work ends.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use std::future::Future;
use std::time::Duration;
use tokio::time::{Instant, sleep, sleep_until, timeout, timeout_at};
use tracing::{debug, error, info, warn};

/// Which Lease to hold, as whom, and how often to renew it.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    /// This replica's identity, usually the Pod name.
    pub identity: String,
    /// How long the Lease stays ours without renewal; written as `leaseDurationSeconds`.
    pub lease_duration: Duration,
    /// Pause between renewals, and between acquisition attempts; well below `lease_duration`.
    pub renew_every: Duration,
}

/// Why leadership ended other than by the work finishing.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The API server refused access to the Lease (RBAC) for a minute; retrying cannot help.
    #[error("acquiring the Lease was refused")]
    Acquire(#[source] kube::Error),
    /// The Lease could not be renewed within its duration, or another replica took it.
    #[error("leadership lost: the Lease was not renewed within its duration")]
    Lost,
}

/// Whether `identity` may take a Lease whose holder, last renewal and duration are given:
/// yes when nobody holds it, it holds it already, or the holder let it expire
/// (`renewTime + leaseDurationSeconds < now`).
pub fn may_take(
    holder: Option<&str>,
    renew_time: Option<Timestamp>,
    lease_duration_seconds: Option<i32>,
    now: Timestamp,
    identity: &str,
) -> bool {
    match (holder, renew_time) {
        (None | Some(""), _) => true,
        (Some(holder), _) if holder == identity => true,
        (Some(_), None) => true,
        (Some(_), Some(renewed)) => {
            let seconds = i64::from(lease_duration_seconds.unwrap_or(0).max(0));
            renewed.as_microsecond().saturating_add(seconds * 1_000_000) < now.as_microsecond()
        }
    }
}

/// Runs `work` while holding the Lease: waits until the Lease can be taken, then runs `work`
/// next to a renewal loop. Returns `Ok` once `work` finishes (releasing the Lease so a
/// successor takes over at once) and `Err(LeaseError::Lost)` if renewal fails for longer than
/// the lease duration, in which case `work` has been dropped and the process should exit.
pub async fn run_as_leader<F: Future<Output = ()>>(
    client: kube::Client,
    config: LeaseConfig,
    work: F,
) -> Result<(), LeaseError> {
    let api: Api<Lease> = Api::namespaced(client, &config.namespace);
    let renewed_at = acquire(&api, &config).await?;
    info!(lease = %config.name, identity = %config.identity, "acquired leadership");
    tokio::select! {
        () = work => {}
        lost = keep_renewed(&api, &config, renewed_at) => return Err(lost),
    }
    release(&api, &config).await;
    Ok(())
}

/// One acquisition attempt's outcome.
enum Attempt {
    Held,
    HeldBy(String),
    /// Another candidate wrote the Lease between our read and our write.
    Raced,
}

/// Retries every `renew_every` until the Lease is ours; returns when our renewal was started.
async fn acquire(api: &Api<Lease>, config: &LeaseConfig) -> Result<Instant, LeaseError> {
    let mut last_holder = None;
    let mut refused_since = None;
    loop {
        let started = Instant::now();
        let attempt = timeout(config.lease_duration, try_acquire(api, config)).await;
        if !matches!(&attempt, Ok(Err(err)) if is_permanent(err)) {
            refused_since = None;
        }
        match attempt {
            Ok(Ok(Attempt::Held)) => return Ok(started),
            Ok(Ok(Attempt::HeldBy(holder))) if last_holder.as_ref() != Some(&holder) => {
                info!(lease = %config.name, %holder, "waiting for leadership");
                last_holder = Some(holder);
            }
            Ok(Ok(Attempt::HeldBy(holder))) => debug!(%holder, "waiting for leadership"),
            Ok(Ok(Attempt::Raced)) => debug!("another candidate wrote the Lease first"),
            Ok(Err(err)) if is_permanent(&err) => {
                let since = *refused_since.get_or_insert(started);
                if refused_for_good(since, started) {
                    return Err(LeaseError::Acquire(err));
                }
                warn!(error = %err, "acquiring the Lease was refused; retrying in case the API server is just starting");
            }
            Ok(Err(err)) => warn!(error = %err, "acquiring the Lease failed; retrying"),
            Err(_) => warn!("acquiring the Lease timed out; retrying"),
        }
        sleep(config.renew_every).await;
    }
}

async fn try_acquire(api: &Api<Lease>, config: &LeaseConfig) -> Result<Attempt, kube::Error> {
    let now = Timestamp::now();
    let written = match api.get_opt(&config.name).await? {
        None => {
            let mut fresh = Lease::default();
            fresh.metadata.name = Some(config.name.clone());
            api.create(&PostParams::default(), &claimed(fresh, config, now))
                .await
        }
        Some(lease) => {
            let spec = lease.spec.clone().unwrap_or_default();
            let (holder, duration) = (spec.holder_identity.as_deref(), spec.lease_duration_seconds);
            let renewed = spec.renew_time.map(|t| t.0);
            if !may_take(holder, renewed, duration, now, &config.identity) {
                return Ok(Attempt::HeldBy(holder.unwrap_or_default().to_owned()));
            }
            // `metadata.resourceVersion` is kept, so a concurrent write makes this a 409.
            let lease = claimed(lease, config, now);
            api.replace(&config.name, &PostParams::default(), &lease)
                .await
        }
    };
    match written {
        Ok(_) => Ok(Attempt::Held),
        Err(kube::Error::Api(s)) if s.is_conflict() || s.is_already_exists() => Ok(Attempt::Raced),
        Err(err) => Err(err),
    }
}

/// Renews every `renew_every`; returns only when leadership is lost.
async fn keep_renewed(
    api: &Api<Lease>,
    config: &LeaseConfig,
    mut renewed_at: Instant,
) -> LeaseError {
    loop {
        let deadline = renewed_at + config.lease_duration;
        sleep_until((Instant::now() + config.renew_every).min(deadline)).await;
        let started = Instant::now();
        match timeout_at(deadline, renew(api, config)).await {
            Ok(Ok(None)) => renewed_at = started,
            Ok(Ok(Some(holder))) => {
                error!(lease = %config.name, %holder, "another replica took the Lease");
                return LeaseError::Lost;
            }
            Ok(Err(err)) => warn!(error = %err, "renewing the Lease failed; retrying"),
            Err(_) => {}
        }
        if Instant::now() >= renewed_at + config.lease_duration {
            error!(lease = %config.name, "Lease not renewed within its duration");
            return LeaseError::Lost;
        }
    }
}

/// Writes a fresh `renewTime`; `Some(holder)` when the Lease is no longer ours.
async fn renew(api: &Api<Lease>, config: &LeaseConfig) -> Result<Option<String>, kube::Error> {
    let lease = api.get(&config.name).await?;
    let holder = lease.spec.as_ref().and_then(|s| s.holder_identity.clone());
    if holder.as_deref() != Some(config.identity.as_str()) {
        return Ok(Some(holder.unwrap_or_default()));
    }
    let lease = claimed(lease, config, Timestamp::now());
    api.replace(&config.name, &PostParams::default(), &lease)
        .await?;
    Ok(None)
}

/// Clears `holderIdentity` if the Lease is still ours; failures only delay the successor.
async fn release(api: &Api<Lease>, config: &LeaseConfig) {
    let attempt = async {
        let mut lease = api.get(&config.name).await?;
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
            return Ok(false);
        }
        spec.holder_identity = None;
        api.replace(&config.name, &PostParams::default(), &lease)
            .await
            .map(|_| true)
    };
    match timeout(config.lease_duration, attempt).await {
        Ok(Ok(true)) => info!(lease = %config.name, "released leadership"),
        Ok(Ok(false)) => info!(lease = %config.name, "Lease already held by another replica"),
        Ok(Err(err)) => warn!(error = %err, "releasing the Lease failed; it will expire"),
        Err(_) => warn!("releasing the Lease timed out; it will expire"),
    }
}

/// `lease` as held by `config.identity` and renewed at `now`; a change of holder sets
/// `acquireTime` and counts a transition. Metadata (and so `resourceVersion`) is kept.
fn claimed(mut lease: Lease, config: &LeaseConfig, now: Timestamp) -> Lease {
    let spec = lease.spec.get_or_insert_with(Default::default);
    if spec.holder_identity.as_deref() != Some(config.identity.as_str()) {
        spec.holder_identity = Some(config.identity.clone());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(spec.lease_transitions.map_or(0, |n| n.saturating_add(1)));
    }
    spec.renew_time = Some(MicroTime(now));
    let seconds = config.lease_duration.as_millis().div_ceil(1000).max(1);
    spec.lease_duration_seconds = Some(i32::try_from(seconds).unwrap_or(i32::MAX));
    lease
}

/// How long refusals (401, 403) must last before they count as a missing permission: an API
/// server that just restarted refuses every request until its authorization caches are filled.
const REFUSAL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether refusals seen since `since` (and still at `now`) mean that access is really denied.
fn refused_for_good(since: Instant, now: Instant) -> bool {
    now.duration_since(since) >= REFUSAL_PATIENCE
}

fn is_permanent(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.is_forbidden() || s.code == 401)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("valid")
    }

    #[test]
    fn refusals_count_only_once_they_outlast_an_api_server_start() {
        let since = Instant::now();
        let after = |seconds| since + std::time::Duration::from_secs(seconds);
        assert!(!refused_for_good(since, since));
        assert!(!refused_for_good(since, after(59)));
        assert!(refused_for_good(since, after(60)));
    }

    #[test]
    fn may_take_only_a_free_own_or_expired_lease() {
        // name, holder, renewTime and now (seconds after `at(0)`), leaseDurationSeconds, may take
        #[rustfmt::skip]
        let cases = [
            ("no holder",                      None,                 Some(0),    1, Some(15), true),
            ("empty holder (released)",        Some(""),             Some(0),    1, Some(15), true),
            ("held by me, live",               Some("controller-a"), Some(0),    1, Some(15), true),
            ("held by me, expired",            Some("controller-a"), Some(0),  100, Some(15), true),
            ("held by other, live",            Some("controller-b"), Some(0),   10, Some(15), false),
            ("held by other, at the boundary", Some("controller-b"), Some(0),   15, Some(15), false),
            ("held by other, expired",         Some("controller-b"), Some(0),   16, Some(15), true),
            ("held by other, never renewed",   Some("controller-b"), None,       1, Some(15), true),
            ("held by other, no duration",     Some("controller-b"), Some(0),    1, None,     true),
            ("held by other, renewed ahead",   Some("controller-b"), Some(30),  20, Some(15), false),
        ];
        for (name, holder, renewed, now, duration, want) in cases {
            let got = may_take(holder, renewed.map(at), duration, at(now), "controller-a");
            assert_eq!(got, want, "{name}");
        }
    }

    fn config() -> LeaseConfig {
        LeaseConfig {
            namespace: "kruise-rollout".into(),
            name: "rollouts-controller".into(),
            identity: "controller-a".into(),
            lease_duration: Duration::from_millis(15_500),
            renew_every: Duration::from_secs(5),
        }
    }

    #[test]
    fn claiming_from_another_holder_counts_a_transition_and_keeps_resource_version() {
        let lease = Lease {
            metadata: ObjectMeta {
                resource_version: Some("42".into()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some("controller-b".into()),
                lease_transitions: Some(3),
                ..LeaseSpec::default()
            }),
        };
        let lease = claimed(lease, &config(), at(7));
        let spec = lease.spec.expect("spec");
        assert_eq!(lease.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(spec.holder_identity.as_deref(), Some("controller-a"));
        assert_eq!(spec.acquire_time, Some(MicroTime(at(7))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(7))));
        assert_eq!(spec.lease_transitions, Some(4));
        assert_eq!(
            spec.lease_duration_seconds,
            Some(16),
            "rounded up to whole seconds"
        );
    }

    #[test]
    fn renewing_an_own_lease_moves_only_renew_time() {
        let first = claimed(Lease::default(), &config(), at(0));
        let spec = claimed(first, &config(), at(5)).spec.expect("spec");
        assert_eq!(spec.acquire_time, Some(MicroTime(at(0))));
        assert_eq!(spec.renew_time, Some(MicroTime(at(5))));
        assert_eq!(spec.lease_transitions, Some(0));
    }
}
