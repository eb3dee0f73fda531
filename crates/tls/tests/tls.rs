//! Issued certificates verify for their names only, report their validity, and the resolver
//! serves a replacement from the next handshake on.

use rollouts_tls::*;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ResolvesServerCert;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

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
    let ca = issue_ca(10 * YEAR).unwrap();
    let names = vec!["svc.ns.svc".to_string(), "127.0.0.1".to_string()];
    let serving = issue_serving(&ca, &names, YEAR).unwrap();
    assert!(verify(&ca, &serving, "svc.ns.svc").is_ok());
    assert!(
        verify(&ca, &serving, "127.0.0.1").is_ok(),
        "an IP address becomes an IP SAN"
    );
    assert!(verify(&ca, &serving, "other.ns.svc").is_err());
    let stranger = issue_ca(10 * YEAR).unwrap();
    assert!(verify(&stranger, &serving, "svc.ns.svc").is_err());
}

#[test]
fn certificate_info_reports_names_and_when_to_renew() {
    let ca = issue_ca(10 * YEAR).unwrap();
    let names = vec!["svc.ns.svc".to_string(), "127.0.0.1".to_string()];
    let info = CertInfo::from_pem(&issue_serving(&ca, &names, YEAR).unwrap().cert_pem).unwrap();
    assert!(info.covers(&names));
    assert!(!info.covers(&["other".to_string()]));
    let now = SystemTime::now();
    assert!(!info.needs_renewal(now));
    assert!(
        !info.needs_renewal(now + YEAR * 3 / 4),
        "a quarter left is more than a fifth"
    );
    assert!(
        info.needs_renewal(now + YEAR * 85 / 100),
        "less than a fifth left"
    );
    assert!(info.needs_renewal(now + 2 * YEAR), "expired");
    assert_eq!(CertInfo::from_pem("not a certificate"), None);
}

#[test]
fn resolver_serves_the_replacement_after_a_swap() {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = issue_ca(YEAR).unwrap();
    let first = issue_serving(&ca, &["a.svc".to_string()], YEAR).unwrap();
    let second = issue_serving(&ca, &["a.svc".to_string()], YEAR).unwrap();
    let resolver = ReloadableResolver::new(provider, &first).unwrap();
    let served = |r: &ReloadableResolver| r.current_cert_der();
    let before = served(&resolver);
    resolver.replace(&second).unwrap();
    let after = served(&resolver);
    assert_ne!(before, after);
    assert_eq!(
        after,
        CertificateDer::from_pem_slice(second.cert_pem.as_bytes())
            .unwrap()
            .to_vec()
    );
    let broken = PemPair {
        cert_pem: "garbage".into(),
        key_pem: second.key_pem.clone(),
    };
    assert!(resolver.replace(&broken).is_err());
    assert_eq!(
        served(&resolver),
        after,
        "a bad pair never replaces a good one"
    );
    let _ = resolver_is_a_rustls_resolver(&resolver);
}

fn resolver_is_a_rustls_resolver(r: &ReloadableResolver) -> &dyn ResolvesServerCert {
    r
}
