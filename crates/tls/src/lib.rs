//! Certificates the webhook serves with: a self-signed CA and serving certificates it signs,
//! checks of whether a stored pair is still good, and a rustls resolver whose certificate can
//! be replaced while connections are open.

mod issue;
mod resolver;

pub use issue::{CA_COMMON_NAME, IssueError, PemPair, issue_ca, issue_serving};
pub use resolver::{ReloadableResolver, ResolverError};

use std::time::{Duration, SystemTime};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What a certificate says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// DNS names and IP addresses it is valid for.
    pub names: Vec<String>,
}

impl CertInfo {
    /// Reads the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Option<Self> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
        let (_, cert) = X509Certificate::from_der(&block.contents).ok()?;
        let to_time = |t: x509_parser::time::ASN1Time| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(t.timestamp()).unwrap_or(0))
        };
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => names.push(dns.to_string()),
                    GeneralName::IPAddress(bytes) => names.extend(ip_text(bytes)),
                    _ => {}
                }
            }
        }
        Some(Self {
            not_before: to_time(cert.validity().not_before),
            not_after: to_time(cert.validity().not_after),
            names,
        })
    }

    /// Whether it should be replaced at `now`: less than a fifth of its validity left.
    pub fn needs_renewal(&self, now: SystemTime) -> bool {
        let total = self
            .not_after
            .duration_since(self.not_before)
            .unwrap_or_default();
        match self.not_after.duration_since(now) {
            Ok(left) => left < total / 5,
            Err(_) => true,
        }
    }

    /// Whether it covers every one of `names`.
    pub fn covers(&self, names: &[String]) -> bool {
        names.iter().all(|n| self.names.contains(n))
    }
}

fn ip_text(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string()),
        16 => <[u8; 16]>::try_from(bytes)
            .ok()
            .map(|b| std::net::Ipv6Addr::from(b).to_string()),
        _ => None,
    }
}
