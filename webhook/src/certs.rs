//! The webhook's own certificates: kept in
//! a Secret that every replica converges on (create if absent, otherwise re-read), and the CA
//! patched into the webhook configurations and the CRD's conversion webhook.

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use rollouts_api::keys;
use rollouts_tls::{CertInfo, PemPair, issue_ca, issue_serving};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Where the certificates live and what they are for.
#[derive(Clone, Debug)]
pub struct CertConfig {
    /// Namespace of the Secret.
    pub namespace: String,
    /// Name of the Secret.
    pub secret_name: String,
    /// DNS names or IP addresses the serving certificate must cover.
    pub names: Vec<String>,
    /// Validity of a new CA.
    pub ca_validity: Duration,
    /// Validity of a new serving certificate.
    pub serving_validity: Duration,
}

/// The CA and the serving pair it signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Material {
    /// The CA (its certificate goes into every caBundle).
    pub ca: PemPair,
    /// What the server presents.
    pub serving: PemPair,
}

/// A step of certificate management that failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// Reading or writing the Secret failed.
    #[error("certificate Secret {namespace}/{name}: {source}")]
    Secret {
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
        /// API error.
        source: kube::Error,
    },
    /// Issuing failed.
    #[error(transparent)]
    Issue(#[from] rollouts_tls::IssueError),
    /// Other replicas kept changing the Secret.
    #[error("certificate Secret {0}: gave up after repeated write conflicts")]
    Contended(String),
    /// Patching a caBundle failed.
    #[error("cannot set the caBundle of {what}: {source}")]
    Bundle {
        /// Which object.
        what: String,
        /// API error.
        source: kube::Error,
    },
}

const CA_CERT: &str = "ca-cert.pem";
const CA_KEY: &str = "ca-key.pem";
const CERT: &str = "cert.pem";
const KEY: &str = "key.pem";

fn pair(data: &BTreeMap<String, ByteString>, cert: &str, key: &str) -> Option<PemPair> {
    let text = |k: &str| {
        data.get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
    };
    Some(PemPair {
        cert_pem: text(cert)?,
        key_pem: text(key)?,
    })
}

fn still_good(pair: &PemPair, names: &[String], now: SystemTime) -> bool {
    CertInfo::from_pem(&pair.cert_pem)
        .is_some_and(|info| !info.needs_renewal(now) && info.covers(names))
}

/// The material in the Secret when it is still good, else new material (keeping a good CA).
fn decide(
    existing: Option<&Secret>,
    config: &CertConfig,
    now: SystemTime,
) -> Result<(Material, bool), CertError> {
    let data = existing.and_then(|s| s.data.clone()).unwrap_or_default();
    let ca = pair(&data, CA_CERT, CA_KEY).filter(|ca| still_good(ca, &[], now));
    let serving = pair(&data, CERT, KEY).filter(|s| still_good(s, &config.names, now));
    match (ca, serving) {
        (Some(ca), Some(serving)) => Ok((Material { ca, serving }, false)),
        (ca, _) => {
            let ca = match ca {
                Some(ca) => ca,
                None => issue_ca(config.ca_validity)?,
            };
            let serving = issue_serving(&ca, &config.names, config.serving_validity)?;
            Ok((Material { ca, serving }, true))
        }
    }
}

fn secret_data(material: &Material) -> BTreeMap<String, ByteString> {
    let bytes = |s: &str| ByteString(s.as_bytes().to_vec());
    BTreeMap::from([
        (CA_CERT.into(), bytes(&material.ca.cert_pem)),
        (CA_KEY.into(), bytes(&material.ca.key_pem)),
        (CERT.into(), bytes(&material.serving.cert_pem)),
        (KEY.into(), bytes(&material.serving.key_pem)),
        ("tls.crt".into(), bytes(&material.serving.cert_pem)),
        ("tls.key".into(), bytes(&material.serving.key_pem)),
    ])
}

/// Reads the Secret, renewing what needs it. Replicas racing here converge: a create that
/// finds the Secret already there, or an update that conflicts, re-reads and starts over.
pub async fn ensure(client: &Client, config: &CertConfig) -> Result<Material, CertError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &config.namespace);
    let api_err = |source| CertError::Secret {
        namespace: config.namespace.clone(),
        name: config.secret_name.clone(),
        source,
    };
    for _ in 0..5 {
        let existing = secrets
            .get_opt(&config.secret_name)
            .await
            .map_err(api_err)?;
        let (material, changed) = decide(existing.as_ref(), config, SystemTime::now())?;
        if !changed {
            return Ok(material);
        }
        let result = match existing {
            None => {
                let secret: Secret = serde_json::from_value(json!({
                    "metadata": {"name": config.secret_name, "namespace": config.namespace},
                    "type": "Opaque",
                }))
                .expect("a literal Secret");
                let secret = Secret {
                    data: Some(secret_data(&material)),
                    ..secret
                };
                secrets.create(&PostParams::default(), &secret).await
            }
            Some(mut secret) => {
                secret.data = Some(secret_data(&material));
                secrets
                    .replace(&config.secret_name, &PostParams::default(), &secret)
                    .await
            }
        };
        match result {
            Ok(_) => {
                tracing::info!(secret = %config.secret_name, "issued webhook certificates");
                return Ok(material);
            }
            Err(kube::Error::Api(e)) if e.code == 409 => continue,
            Err(e) => return Err(api_err(e)),
        }
    }
    Err(CertError::Contended(config.secret_name.clone()))
}

/// A certificate mounted from files (cert-manager): `tls.crt` and `tls.key` in `dir`, checked
/// to be a usable pair before it is served.
pub fn read_cert_dir(dir: &std::path::Path) -> Result<PemPair, String> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let pair = PemPair {
        cert_pem: read("tls.crt")?,
        key_pem: read("tls.key")?,
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    rollouts_tls::ReloadableResolver::new(provider, &pair)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(pair)
}

/// How the API server reaches the webhook.
#[derive(Clone, Debug)]
pub enum Endpoint {
    /// Through the in-cluster Service (port 443).
    Service {
        /// Namespace of the Service.
        namespace: String,
        /// Name of the Service.
        name: String,
    },
    /// By URL base, e.g. `https://127.0.0.1:9876` (no Service networking).
    Url(String),
}

impl Endpoint {
    fn client_config(&self, path: &str, ca: &[u8]) -> WebhookClientConfig {
        let mut config: WebhookClientConfig = match self {
            Endpoint::Service { namespace, name } => serde_json::from_value(json!({
                "service": {"namespace": namespace, "name": name, "path": path, "port": 443}
            })),
            Endpoint::Url(base) => serde_json::from_value(json!({"url": format!("{base}{path}")})),
        }
        .expect("a literal client config");
        config.ca_bundle = Some(ByteString(ca.to_vec()));
        config
    }
}

fn path_of(config: &WebhookClientConfig) -> String {
    if let Some(path) = config.service.as_ref().and_then(|s| s.path.clone()) {
        return path;
    }
    let url = config.url.as_deref().unwrap_or_default();
    url.split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
        .unwrap_or_default()
}

/// Points both webhook configurations and the Rollout CRD's conversion at `endpoint` with `ca`.
/// Objects that are not installed are skipped with a warning; unchanged ones are not written.
pub async fn publish_ca(
    client: &Client,
    endpoint: &Endpoint,
    configurations: &Configurations,
    ca_pem: &str,
) -> Result<(), CertError> {
    let ca = ca_pem.as_bytes();
    let bundle_err = |what: &str| {
        let what = what.to_string();
        move |source| CertError::Bundle { what, source }
    };

    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    if let Some(mut config) = mutating
        .get_opt(configurations.mutating.as_str())
        .await
        .map_err(bundle_err(configurations.mutating.as_str()))?
    {
        let before = config.webhooks.clone();
        for webhook in config.webhooks.iter_mut().flatten() {
            webhook.client_config = endpoint.client_config(&path_of(&webhook.client_config), ca);
        }
        if before != config.webhooks {
            config.metadata.managed_fields = None;
            mutating
                .replace(
                    configurations.mutating.as_str(),
                    &PostParams::default(),
                    &config,
                )
                .await
                .map_err(bundle_err(configurations.mutating.as_str()))?;
        }
    } else {
        tracing::warn!(
            name = configurations.mutating.as_str(),
            "MutatingWebhookConfiguration not installed"
        );
    }

    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    if let Some(mut config) = validating
        .get_opt(configurations.validating.as_str())
        .await
        .map_err(bundle_err(configurations.validating.as_str()))?
    {
        let before = config.webhooks.clone();
        for webhook in config.webhooks.iter_mut().flatten() {
            webhook.client_config = endpoint.client_config(&path_of(&webhook.client_config), ca);
        }
        if before != config.webhooks {
            config.metadata.managed_fields = None;
            validating
                .replace(
                    configurations.validating.as_str(),
                    &PostParams::default(),
                    &config,
                )
                .await
                .map_err(bundle_err(configurations.validating.as_str()))?;
        }
    } else {
        tracing::warn!(
            name = configurations.validating.as_str(),
            "ValidatingWebhookConfiguration not installed"
        );
    }

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd_name = "rollouts.rollouts.kruise.io";
    if crds
        .get_opt(crd_name)
        .await
        .map_err(bundle_err(crd_name))?
        .is_some()
    {
        let mut client_config =
            serde_json::to_value(endpoint.client_config(rollouts_api::crd::CONVERSION_PATH, ca))
                .expect("a client config serialises");
        // A merge patch, so the other way of reaching the webhook (url or service) is removed.
        for key in ["url", "service"] {
            let fields = client_config.as_object_mut().expect("an object");
            fields.entry(key).or_insert(serde_json::Value::Null);
        }
        let patch = json!({"spec": {"conversion": {"strategy": "Webhook", "webhook": {
            "clientConfig": client_config, "conversionReviewVersions": ["v1"]}}}});
        let params = PatchParams {
            field_manager: Some(keys::WEBHOOK_FIELD_MANAGER.into()),
            ..Default::default()
        };
        crds.patch(crd_name, &params, &Patch::Merge(&patch))
            .await
            .map_err(bundle_err(crd_name))?;
    } else {
        tracing::warn!(name = crd_name, "Rollout CRD not installed");
    }
    Ok(())
}

/// Names of the webhook configurations whose clientConfig and caBundle the webhook keeps.
#[derive(Clone, Debug)]
pub struct Configurations {
    /// MutatingWebhookConfiguration name.
    pub mutating: String,
    /// ValidatingWebhookConfiguration name.
    pub validating: String,
}

/// Name of the MutatingWebhookConfiguration the manifests install.
pub const MUTATING_CONFIG: &str = "kruise-rollout-mutating-webhook-configuration";
/// Name of the ValidatingWebhookConfiguration the manifests install.
pub const VALIDATING_CONFIG: &str = "kruise-rollout-validating-webhook-configuration";

#[cfg(test)]
mod tests {
    use super::*;

    fn config(names: &[&str]) -> CertConfig {
        CertConfig {
            namespace: "ns".into(),
            secret_name: "certs".into(),
            names: names.iter().map(|s| s.to_string()).collect(),
            ca_validity: Duration::from_secs(3650 * 86400),
            serving_validity: Duration::from_secs(365 * 86400),
        }
    }

    fn secret_with(material: &Material) -> Secret {
        Secret {
            data: Some(secret_data(material)),
            ..Default::default()
        }
    }

    #[test]
    fn a_good_secret_is_reused_and_a_missing_one_is_issued() {
        let cfg = config(&["svc.ns.svc"]);
        let (issued, changed) = decide(None, &cfg, SystemTime::now()).unwrap();
        assert!(changed);
        let (reused, changed) =
            decide(Some(&secret_with(&issued)), &cfg, SystemTime::now()).unwrap();
        assert!(!changed);
        assert_eq!(reused, issued);
    }

    #[test]
    fn serving_certificate_is_renewed_near_expiry_or_for_new_names_keeping_the_ca() {
        let cfg = config(&["svc.ns.svc"]);
        let (issued, _) = decide(None, &cfg, SystemTime::now()).unwrap();
        let later = SystemTime::now() + Duration::from_secs(300 * 86400);
        let (renewed, changed) = decide(Some(&secret_with(&issued)), &cfg, later).unwrap();
        assert!(changed);
        assert_eq!(
            renewed.ca, issued.ca,
            "the CA stays, so caBundles stay valid"
        );
        assert_ne!(renewed.serving, issued.serving);
        let (renamed, changed) = decide(
            Some(&secret_with(&issued)),
            &config(&["127.0.0.1"]),
            SystemTime::now(),
        )
        .unwrap();
        assert!(changed);
        assert!(
            CertInfo::from_pem(&renamed.serving.cert_pem)
                .unwrap()
                .covers(&["127.0.0.1".to_string()])
        );
    }

    #[test]
    fn certificate_files_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("certs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (material, _) = decide(None, &config(&["svc.ns.svc"]), SystemTime::now()).unwrap();
        let missing = read_cert_dir(&dir).unwrap_err();
        assert!(missing.contains("tls.crt"), "{missing}");
        std::fs::write(dir.join("tls.crt"), &material.serving.cert_pem).unwrap();
        std::fs::write(dir.join("tls.key"), "not a key").unwrap();
        assert!(
            read_cert_dir(&dir).is_err(),
            "an unusable key is refused before it is served"
        );
        std::fs::write(dir.join("tls.key"), &material.serving.key_pem).unwrap();
        assert_eq!(read_cert_dir(&dir).unwrap(), material.serving);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn client_config_keeps_each_webhook_path() {
        let url = Endpoint::Url("https://127.0.0.1:9876".into()).client_config("/convert", b"CA");
        assert_eq!(url.url.as_deref(), Some("https://127.0.0.1:9876/convert"));
        assert_eq!(path_of(&url), "/convert");
        let service = Endpoint::Service {
            namespace: "ns".into(),
            name: "svc".into(),
        }
        .client_config("/mutate-apps-v1-deployment", b"CA");
        assert_eq!(path_of(&service), "/mutate-apps-v1-deployment");
        assert_eq!(service.ca_bundle, Some(ByteString(b"CA".to_vec())));
    }
}
