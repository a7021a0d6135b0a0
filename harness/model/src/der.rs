//! DER newtypes: certificates, keys and CRLs cross crate and engine boundaries only as bytes.

use std::fmt;

macro_rules! der_type {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Wraps DER bytes; callers that did not produce them parse before trusting them.
            pub fn new(der: Vec<u8>) -> Self {
                Self(der)
            }

            /// The DER bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// The PEM armour label these bytes are written under.
            pub const PEM_LABEL: &'static str = $label;
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({} bytes)", stringify!($name), self.0.len())
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
    };
}

der_type!(
    /// An X.509 certificate, DER-encoded.
    CertificateDer,
    "CERTIFICATE"
);
der_type!(
    /// An RSA private key as an unencrypted PKCS#8 `PrivateKeyInfo`, DER-encoded.
    PrivateKeyDer,
    "PRIVATE KEY"
);
der_type!(
    /// A certificate revocation list, DER-encoded.
    CrlDer,
    "X509 CRL"
);
der_type!(
    /// A Microsoft certificate trust list: PKCS #7 signed-data around a
    /// `CertificateTrustList`, DER-encoded.
    CtlDer,
    "PKCS7"
);

/// A certificate with its private key and its place in the owner's key history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    /// Which generation of the owner's keys this is.
    pub generation: crate::KeyGeneration,
    /// The certificate.
    pub certificate: CertificateDer,
    /// The private key.
    pub key: PrivateKeyDer,
}
