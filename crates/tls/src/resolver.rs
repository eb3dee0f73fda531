//! A rustls certificate resolver whose certificate is replaced atomically: handshakes after a
//! swap get the new certificate, open connections keep theirs.

use crate::issue::PemPair;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::{Arc, RwLock};

/// A PEM pair rustls cannot use.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    /// The certificate or key PEM does not parse.
    #[error("unreadable {what} PEM: {detail}")]
    Pem {
        /// Certificate or key.
        what: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// rustls refused the key.
    #[error("unusable private key: {0}")]
    Key(#[from] rustls::Error),
}

/// Serves the current certificate; `replace` swaps it for new handshakes.
#[derive(Debug)]
pub struct ReloadableResolver {
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ReloadableResolver {
    /// A resolver serving `pair`.
    pub fn new(provider: Arc<CryptoProvider>, pair: &PemPair) -> Result<Self, ResolverError> {
        let key = certified_key(&provider, pair)?;
        Ok(Self {
            provider,
            current: RwLock::new(Arc::new(key)),
        })
    }

    /// Serves `pair` from the next handshake on.
    pub fn replace(&self, pair: &PemPair) -> Result<(), ResolverError> {
        let key = Arc::new(certified_key(&self.provider, pair)?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = key;
        Ok(())
    }
}

impl ReloadableResolver {
    /// DER of the certificate served now (for logs, metrics and tests).
    pub fn current_cert_der(&self) -> Vec<u8> {
        let key = self
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        key.cert.first().map(|c| c.to_vec()).unwrap_or_default()
    }
}

impl ResolvesServerCert for ReloadableResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn certified_key(provider: &CryptoProvider, pair: &PemPair) -> Result<CertifiedKey, ResolverError> {
    let pem_error = |what| {
        move |e: rustls::pki_types::pem::Error| ResolverError::Pem {
            what,
            detail: e.to_string(),
        }
    };
    let chain = CertificateDer::pem_slice_iter(pair.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error("certificate"))?;
    let key = PrivateKeyDer::from_pem_slice(pair.key_pem.as_bytes()).map_err(pem_error("key"))?;
    Ok(CertifiedKey::from_der(chain, key, provider)?)
}
