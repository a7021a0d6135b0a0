//! What the LDAP server publishes: a `DirectorySnapshot` of person entries with their
//! certificates, replaced as a whole whenever the scenario changes the directory.

use std::sync::{Arc, PoisonError, RwLock};

use der::{Decode, Encode};
use model::CertificateDer;

/// One person in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The login name (`uid`), which is also the mail store's user name.
    pub uid: String,
    /// The display name (`cn`), which names the entry.
    pub common_name: String,
    /// The mail address (`mail`).
    pub mail: String,
    /// The site (`ou`) the entry sits under.
    pub site: String,
    /// The current encryption certificates, newest first.
    pub certificates: Vec<CertificateDer>,
}

impl DirectoryEntry {
    /// The entry's distinguished name under `base`: `cn=<display name>,ou=<site>,<base>`.
    pub fn dn(&self, base: &str) -> String {
        format!(
            "cn={},ou={},{}",
            escape_dn_value(&self.common_name),
            escape_dn_value(&self.site),
            base
        )
    }
}

/// The whole directory at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySnapshot {
    /// The naming context every entry sits under, such as `o=Example`.
    pub base: String,
    /// The people.
    pub entries: Vec<DirectoryEntry>,
}

impl DirectorySnapshot {
    /// An empty directory under `base`.
    pub fn empty(base: impl Into<String>) -> Self {
        Self {
            base: base.into(),
            entries: Vec::new(),
        }
    }
}

/// The directory the LDAP server reads, shared with whoever replaces its contents.
#[derive(Debug, Clone)]
pub struct Directory {
    current: Arc<RwLock<Arc<DirectorySnapshot>>>,
}

impl Directory {
    /// A directory holding `snapshot`.
    pub fn new(snapshot: DirectorySnapshot) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(snapshot))),
        }
    }

    /// What the directory holds now; searches answer from one snapshot throughout.
    pub fn snapshot(&self) -> Arc<DirectorySnapshot> {
        // A writer only swaps one pointer, so a poisoned lock still holds a whole snapshot.
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces everything the directory holds.
    pub fn replace(&self, snapshot: DirectorySnapshot) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(snapshot);
    }
}

/// Why a certificate bundle could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A certificate is not valid DER.
    #[error("certificate does not decode: {0}")]
    Certificate(der::Error),
    /// The bundle could not be encoded.
    #[error("bundle does not encode: {0}")]
    Encode(der::Error),
}

/// The degenerate PKCS #7 signed-data (no signers, no content) holding `certificates`, as
/// `userSMIMECertificate` carries them (RFC 2798 §9.1.10, RFC 5652 §5).
pub fn smime_certificate_bundle(certificates: &[CertificateDer]) -> Result<Vec<u8>, BundleError> {
    let path = certificates
        .iter()
        .map(|c| x509_cert::Certificate::from_der(c.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(BundleError::Certificate)?;
    let info = cms::content_info::ContentInfo::try_from(path).map_err(BundleError::Encode)?;
    info.to_der().map_err(BundleError::Encode)
}

/// Escapes an attribute value for a DN string (RFC 4514 §2.4).
fn escape_dn_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (index, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (index == 0 && (c == ' ' || c == '#'))
            || (index == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_values_are_escaped() {
        let entry = DirectoryEntry {
            uid: "x".into(),
            common_name: "Smith, Jo".into(),
            mail: "x@y".into(),
            site: "HQ".into(),
            certificates: Vec::new(),
        };
        assert_eq!(entry.dn("o=Org"), "cn=Smith\\, Jo,ou=HQ,o=Org");
    }
}
