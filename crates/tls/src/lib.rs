//! Certificates the webhook serves with: a self-signed CA and serving certificates it signs.
//! Storing them in a Secret, rotation and hot reload are the webhook issue's work.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

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

/// Creates a self-signed CA.
pub fn issue_ca() -> Result<PemPair, IssueError> {
    let err = |source| IssueError::Rcgen { what: "CA", source };
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let cert = params.self_signed(&key).map_err(err)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Creates a serving certificate for `dns_names` (the first one is the common name), signed by `ca`.
pub fn issue_serving(ca: &PemPair, dns_names: &[String]) -> Result<PemPair, IssueError> {
    let err = |source| IssueError::Rcgen {
        what: "serving",
        source,
    };
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(err)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(dns_names.to_vec()).map_err(err)?;
    if let Some(first) = dns_names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    let cert = params.signed_by(&key, &issuer).map_err(err)?;
    Ok(PemPair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use std::sync::Arc;

    fn verify(ca: &PemPair, serving: &PemPair, name: &str) -> Result<(), rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).unwrap())
            .unwrap();
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .unwrap();
        let leaf = CertificateDer::from_pem_slice(serving.cert_pem.as_bytes()).unwrap();
        let server_name = ServerName::try_from(name.to_string()).unwrap();
        verifier
            .verify_server_cert(&leaf, &[], &server_name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_client_trusting_the_ca_accepts_the_serving_certificate_for_its_names_only() {
        let ca = issue_ca().unwrap();
        let names = vec!["svc.ns.svc".to_string(), "localhost".to_string()];
        let serving = issue_serving(&ca, &names).unwrap();
        assert!(verify(&ca, &serving, "svc.ns.svc").is_ok());
        assert!(verify(&ca, &serving, "localhost").is_ok());
        assert!(verify(&ca, &serving, "other.ns.svc").is_err());
        let stranger = issue_ca().unwrap();
        assert!(verify(&stranger, &serving, "svc.ns.svc").is_err());
    }
}
