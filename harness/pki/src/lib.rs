//! The certification authority model.
//!
//! Keys come from the seeded [`KeyPool`]; certificates and CRLs are real DER signed with
//! RustCrypto's RSA. This crate is pure and synchronous: it reads no clock (times are passed
//! in) and no OS randomness (generators are passed in). The key cache is its only IO.

mod authority;
mod certificate;
mod chain;
mod crl;
mod ctl;
mod hierarchy;
mod keys;
mod name;
mod pfx;

pub use authority::{
    CaFault, CaKind, CaSetup, CertificateRequest, CertificationAuthority, Csp, IssueError,
    IssuedCertificate, KeyOrigin, PolicyModule, RevokeError, SubordinateRequest,
    TemplatePermission, ValidityPeriod, ValiditySetting,
};
pub use certificate::{
    CertificateInfo, CertificatePurpose, CertificateTemplate, CertificateVersion, Issuer,
    SignatureHash, issue_certificate, subject_key_identifier, timestamp, x509_time,
};
pub use chain::{ChainVerdict, SignatureMemo, signature_is_valid, verify_chain, verify_chain_with};
pub use crl::{CrlInfo, RevokedEntry};
pub use ctl::{CTL_CONTENT_TYPE, TrustList, TrustListInfo, thumbprint};
pub use hierarchy::{
    NameLinkProblem, ThirdPartyViolation, check_name_links, third_party_violations,
};
pub use keys::{KeyError, KeyPool, KeySource, private_key_der};
pub use name::{
    NameAttribute, build_name, common_name, display_name, email_attribute, names_match,
};
pub use pfx::{
    PKCS12_ITERATIONS, Pkcs12Certificate, Pkcs12Contents, Pkcs12Error, Pkcs12Key, build_pkcs12,
    read_pkcs12,
};
pub use rsa::{RsaPrivateKey, RsaPublicKey};
pub use x509_cert::name::Name;

use model::Timestamp;

/// Errors from building or reading certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// DER encoding or decoding failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// A public key could not be encoded or decoded.
    #[error("public key: {0}")]
    PublicKey(spki::Error),
    /// The certificate holds a key kmlab does not handle.
    #[error("unsupported public key algorithm {0}")]
    UnsupportedKey(const_oid::ObjectIdentifier),
    /// A time before 1970 cannot be put in a certificate.
    #[error("time {0} cannot be encoded in a certificate")]
    TimeOutOfRange(Timestamp),
    /// The CA has no certificate yet.
    #[error("CA {0} is pending: its certificate has not been installed")]
    Pending(String),
    /// Signing failed.
    #[error("signing: {0}")]
    Signing(String),
    /// A structure is not what it claims to be.
    #[error("{0}")]
    Malformed(String),
    /// The key pool failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}
