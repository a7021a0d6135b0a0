//! TLS for STARTTLS and STLS: a rustls server configuration (ring provider) from a
//! certificate chain and key given as DER.

use std::fmt;
use std::sync::Arc;

use model::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The key is not PKCS #8, PKCS #1 or SEC 1 DER.
    #[error("server key: {0}")]
    Key(&'static str),
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A server certificate and key, ready to accept TLS on a connection that asked for it.
#[derive(Clone)]
pub struct TlsConfig {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig").finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// A configuration presenting `chain` (the server's certificate first) and proving it with
    /// `key`.
    #[expect(
        deprecated,
        reason = "ring is kmlab's TLS provider; post-quantum key exchange is moot on loopback"
    )]
    pub fn new(chain: &[CertificateDer], key: &PrivateKeyDer) -> Result<Self, TlsError> {
        let certificates = chain
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.as_bytes().to_vec()))
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.as_bytes().to_vec())
            .map_err(TlsError::Key)?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates, key)?;
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    pub(crate) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
