//! Issuing a CA and serving certificates with rcgen.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::time::Duration;
use time::OffsetDateTime;

/// Common name of the CA, as upstream's.
pub const CA_COMMON_NAME: &str = "webhook-cert-ca";

/// A certificate and its private key, PEM encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PemPair {
    /// The certificate.
    pub cert_pem: String,
    /// The PKCS#8 private key.
    pub key_pem: String,
}

/// Issuing a certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// rcgen rejected the parameters or the key.
    #[error("cannot issue certificate {what}: {source}")]
    Rcgen {
        /// Which certificate.
        what: &'static str,
        /// What rcgen reported.
        source: rcgen::Error,
    },
}

fn validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = OffsetDateTime::now_utc();
    // Slack for clocks that run slightly behind ours: a tenth of the validity, at most a minute.
    let slack = (valid_for / 10).min(Duration::from_secs(60));
    params.not_before = now - time::Duration::try_from(slack).unwrap_or(time::Duration::ZERO);
    params.not_after =
        now + time::Duration::try_from(valid_for).unwrap_or(time::Duration::days(3650));
}

/// Creates a self-signed CA valid for `valid_for`.
pub fn issue_ca(valid_for: Duration) -> Result<PemPair, IssueError> {
    let err = |source| IssueError::Rcgen { what: "CA", source };
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut params, valid_for);
    let cert = params.self_signed(&key).map_err(err)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Creates a serving certificate for `names` (DNS names or IP addresses; the first is the
/// common name), signed by `ca`, valid for `valid_for`.
pub fn issue_serving(
    ca: &PemPair,
    names: &[String],
    valid_for: Duration,
) -> Result<PemPair, IssueError> {
    let err = |source| IssueError::Rcgen {
        what: "serving",
        source,
    };
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(err)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(err)?;
    if let Some(first) = names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    validity(&mut params, valid_for);
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
