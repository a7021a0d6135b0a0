//! TLS for STARTTLS (the sink's submission, and `live`'s IMAP STARTTLS and POP3 STLS): a
//! rustls server configuration (ring provider) from a certificate chain and key given as DER.

use std::fmt;
use std::sync::Arc;

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

/// A server certificate and key, ready to accept TLS on a connection that asked for it;
/// cheap to clone.
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
    /// A configuration presenting `chain` (DER, the server's certificate first) and proving it
    /// with `key` (PKCS #8, PKCS #1 or SEC 1 DER). Generic over the bytes so that callers can
    /// pass `model`'s DER newtypes without the sink depending on `model`.
    #[expect(
        deprecated,
        reason = "ring is kmlab's TLS provider; post-quantum key exchange is moot on loopback"
    )]
    pub fn new<C: AsRef<[u8]>>(chain: &[C], key: &impl AsRef<[u8]>) -> Result<Self, TlsError> {
        let certificates = chain
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.as_ref().to_vec()))
            .collect();
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.as_ref().to_vec())
            .map_err(TlsError::Key)?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certificates, key)?;
        Ok(Self::from_server_config(Arc::new(config)))
    }

    /// A configuration from a rustls one the caller built.
    pub fn from_server_config(config: Arc<rustls::ServerConfig>) -> Self {
        Self {
            acceptor: TlsAcceptor::from(config),
        }
    }

    /// What accepts the TLS handshake on a connection.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
