//! Chain building and certificate signature checks, the way an S/MIME client judges a signer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{
    ID_CE_AUTHORITY_KEY_IDENTIFIER, ID_CE_BASIC_CONSTRAINTS, ID_CE_CRL_DISTRIBUTION_POINTS,
    ID_CE_EXT_KEY_USAGE, ID_CE_KEY_USAGE, ID_CE_SUBJECT_ALT_NAME, ID_CE_SUBJECT_KEY_IDENTIFIER,
};
use const_oid::db::rfc5912::{SHA_1_WITH_RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION};
use der::Encode;
use der::asn1::BitString;
use model::{CertificateDer, Timestamp};
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::certificate::Certificate;

use crate::certificate::CertificateInfo;
use crate::name::names_match;

/// The longest chain a client follows before giving up.
const MAX_CHAIN_LENGTH: usize = 8;

/// Whether `certificate` carries a valid signature by `issuer_key`, checked afresh.
pub fn signature_is_valid(certificate: &Certificate, issuer_key: &RsaPublicKey) -> bool {
    certificate_signed_by(certificate, issuer_key, None)
}

fn certificate_signed_by(
    certificate: &Certificate,
    issuer_key: &RsaPublicKey,
    memo: Option<&SignatureMemo>,
) -> bool {
    let Ok(tbs) = certificate.tbs_certificate.to_der() else {
        return false;
    };
    signed_by(
        &tbs,
        &certificate.signature_algorithm,
        &certificate.signature,
        issuer_key,
        memo,
    )
}

/// Whether `signature` over `signed` verifies with `key` under `algorithm` (RSA with SHA-1 or
/// SHA-256), for certificates, CRLs and anything else signed the X.509 way; remembered in
/// `memo` when there is one.
pub(crate) fn signed_by(
    signed: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &BitString,
    key: &RsaPublicKey,
    memo: Option<&SignatureMemo>,
) -> bool {
    let Some(signature) = signature.as_bytes() else {
        return false;
    };
    let Some(memo) = memo else {
        return verify_signature(signed, algorithm, signature, key);
    };
    let question = verification_digest(signed, algorithm, signature, key);
    if let Some(verdict) = memo.recall(&question) {
        return verdict;
    }
    let verdict = verify_signature(signed, algorithm, signature, key);
    memo.remember(question, verdict);
    verdict
}

/// Signature verdicts remembered by a digest of everything they depend on, for
/// [`verify_chain`].
///
/// Clients check the same certificates again and again (every signed message names its
/// signer's chain), and an RSA verification costs a hundred times more than hashing its
/// inputs. The memo is of a pure function: it changes no result, only how often the same one
/// is computed. Its owner (a run's world, a test fixture) holds it, so runs in parallel never
/// wait on each other's memo; clones share the verdicts, which makes one cheap to hand to
/// every reader of a run.
#[derive(Debug, Clone, Default)]
pub struct SignatureMemo {
    verdicts: Arc<Mutex<BTreeMap<[u8; 32], bool>>>,
}

impl SignatureMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many verdicts it holds.
    pub fn len(&self) -> usize {
        self.verdicts().len()
    }

    /// Whether it holds no verdict yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn recall(&self, question: &[u8; 32]) -> Option<bool> {
        self.verdicts().get(question).copied()
    }

    fn remember(&self, question: [u8; 32], verdict: bool) {
        let mut verdicts = self.verdicts();
        if verdicts.len() >= MEMO_LIMIT {
            verdicts.clear();
        }
        verdicts.insert(question, verdict);
    }

    /// The verdicts, even after a panic elsewhere while they were held: every entry is a
    /// finished insert of a correct verdict, so a poisoned map is still right.
    fn verdicts(&self) -> MutexGuard<'_, BTreeMap<[u8; 32], bool>> {
        self.verdicts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many verdicts a memo keeps before it starts over (about 12 MB at most).
const MEMO_LIMIT: usize = 1 << 18;

/// A digest of every input of a verification, each length-prefixed so that no two different
/// questions share an encoding.
fn verification_digest(
    signed: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &[u8],
    key: &RsaPublicKey,
) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let oid = algorithm.oid.as_bytes();
    let modulus = key.n().to_bytes_be();
    let exponent = key.e().to_bytes_be();
    for part in [oid, signed, signature, &modulus, &exponent] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn verify_signature(
    signed: &[u8],
    algorithm: &AlgorithmIdentifierOwned,
    signature: &[u8],
    key: &RsaPublicKey,
) -> bool {
    let Ok(signature) = Signature::try_from(signature) else {
        return false;
    };
    match algorithm.oid {
        SHA_256_WITH_RSA_ENCRYPTION => VerifyingKey::<Sha256>::new(key.clone())
            .verify(signed, &signature)
            .is_ok(),
        SHA_1_WITH_RSA_ENCRYPTION => VerifyingKey::<Sha1>::new(key.clone())
            .verify(signed, &signature)
            .is_ok(),
        _ => false,
    }
}

/// What a relying party concluded about a certificate's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainVerdict {
    /// The chain reaches a trusted root; subjects from the leaf up to the root.
    Valid {
        /// Subject names, leaf first.
        path: Vec<String>,
    },
    /// The chain ends in a self-signed root that is not in the trusted store.
    UntrustedRoot {
        /// The root's subject.
        root: String,
    },
    /// No certificate in reach issued this one.
    IssuerNotFound {
        /// The subject whose issuer is missing.
        subject: String,
        /// The issuer name it names.
        issuer: String,
    },
    /// A certificate in the chain is outside its validity period at the time of judging.
    Expired {
        /// The subject of the certificate that is out of date.
        subject: String,
        /// Its end of validity.
        not_after: Timestamp,
    },
    /// A certificate in the chain is not yet valid at the time of judging.
    NotYetValid {
        /// The subject of the certificate.
        subject: String,
        /// Its start of validity.
        not_before: Timestamp,
    },
    /// A certificate carries a critical extension this relying party does not understand, which
    /// RFC 5280 §4.2 says must make it reject the certificate.
    UnknownCriticalExtension {
        /// The subject of the certificate.
        subject: String,
        /// The extension's object identifier.
        oid: String,
    },
    /// A version 1 certificate stands between the signer and the trust anchor as a CA: it has
    /// no basic constraints to say it is one, and RFC 5280 §6.1.4(k) makes a relying party that
    /// cannot vouch for it otherwise reject it. Windows 2000 accepted it; today's clients do not.
    V1IntermediateCa {
        /// The subject of the version 1 certificate.
        subject: String,
    },
    /// A certificate did not parse.
    Malformed {
        /// What the parser said.
        detail: String,
    },
}

impl ChainVerdict {
    /// A stable reason word for transcripts.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Valid { .. } => "valid",
            Self::UntrustedRoot { .. } => "untrusted-root",
            Self::IssuerNotFound { .. } => "issuer-not-found",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not-yet-valid",
            Self::UnknownCriticalExtension { .. } => "unknown-critical-extension",
            Self::V1IntermediateCa { .. } => "v1-intermediate-ca",
            Self::Malformed { .. } => "malformed-certificate",
        }
    }

    /// Whether the chain is trusted.
    pub fn is_valid(&self) -> bool {
        matches!(self, Self::Valid { .. })
    }
}

/// The extensions a client here understands: the ones kmlab's CAs issue.
const UNDERSTOOD_EXTENSIONS: &[ObjectIdentifier] = &[
    ID_CE_BASIC_CONSTRAINTS,
    ID_CE_KEY_USAGE,
    ID_CE_EXT_KEY_USAGE,
    ID_CE_SUBJECT_ALT_NAME,
    ID_CE_SUBJECT_KEY_IDENTIFIER,
    ID_CE_AUTHORITY_KEY_IDENTIFIER,
    ID_CE_CRL_DISTRIBUTION_POINTS,
];

/// The first critical extension of `certificate` outside [`UNDERSTOOD_EXTENSIONS`].
fn unknown_critical_extension(certificate: &Certificate) -> Option<String> {
    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|extension| extension.critical && !UNDERSTOOD_EXTENSIONS.contains(&extension.extn_id))
        .map(|extension| extension.extn_id.to_string())
}

/// Builds a chain from `leaf` through `pool` to one of `roots` and checks every certificate's
/// signature and validity at `at`. Issuers are matched by name and confirmed by signature;
/// `memo` remembers each signature verdict for the next chain through the same certificates.
/// A version 1 intermediate CA is accepted, as Windows 2000 accepted it.
pub fn verify_chain(
    leaf: &CertificateDer,
    pool: &[CertificateDer],
    roots: &[CertificateDer],
    at: Timestamp,
    memo: &SignatureMemo,
) -> ChainVerdict {
    verify_chain_with(leaf, pool, roots, at, memo, true)
}

/// [`verify_chain`], accepting a version 1 certificate as an intermediate CA only when
/// `v1_intermediates` says so (RFC 5280 §6.1.4(k): without basic constraints, a relying party
/// that cannot tell by other means that it is a CA rejects it). A trusted root is a trust
/// anchor and may be version 1 either way.
pub fn verify_chain_with(
    leaf: &CertificateDer,
    pool: &[CertificateDer],
    roots: &[CertificateDer],
    at: Timestamp,
    memo: &SignatureMemo,
    v1_intermediates: bool,
) -> ChainVerdict {
    let parse = |der: &CertificateDer| CertificateInfo::parse(der);
    let mut current = match parse(leaf) {
        Ok(info) => info,
        Err(err) => {
            return ChainVerdict::Malformed {
                detail: err.to_string(),
            };
        }
    };
    let mut current_der = leaf.clone();
    let mut path = Vec::new();
    for _ in 0..MAX_CHAIN_LENGTH {
        if at < current.not_before {
            return ChainVerdict::NotYetValid {
                subject: current.subject.clone(),
                not_before: current.not_before,
            };
        }
        if at > current.not_after {
            return ChainVerdict::Expired {
                subject: current.subject.clone(),
                not_after: current.not_after,
            };
        }
        if let Some(oid) = unknown_critical_extension(&current.certificate) {
            return ChainVerdict::UnknownCriticalExtension {
                subject: current.subject.clone(),
                oid,
            };
        }
        path.push(current.subject.clone());
        if roots.contains(&current_der) {
            return ChainVerdict::Valid { path };
        }
        let issuer_name = &current.certificate.tbs_certificate.issuer;
        let issuer = roots.iter().chain(pool).find_map(|candidate| {
            let info = parse(candidate).ok()?;
            if !names_match(&info.certificate.tbs_certificate.subject, issuer_name) {
                return None;
            }
            let key = info.public_key().ok()?;
            certificate_signed_by(&current.certificate, &key, Some(memo))
                .then(|| (candidate.clone(), info))
        });
        match issuer {
            Some((der, info)) if der == current_der => {
                // A self-signed certificate that is not a trusted root.
                return ChainVerdict::UntrustedRoot { root: info.subject };
            }
            Some((der, info)) => {
                if !v1_intermediates
                    && info.version == crate::CertificateVersion::V1
                    && !roots.contains(&der)
                {
                    return ChainVerdict::V1IntermediateCa {
                        subject: info.subject,
                    };
                }
                current_der = der;
                current = info;
            }
            None => {
                let self_signed =
                    names_match(&current.certificate.tbs_certificate.subject, issuer_name)
                        && current.public_key().is_ok_and(|key| {
                            certificate_signed_by(&current.certificate, &key, Some(memo))
                        });
                return if self_signed {
                    ChainVerdict::UntrustedRoot {
                        root: current.subject.clone(),
                    }
                } else {
                    ChainVerdict::IssuerNotFound {
                        subject: current.subject.clone(),
                        issuer: current.issuer.clone(),
                    }
                };
            }
        }
    }
    ChainVerdict::IssuerNotFound {
        subject: current.subject.clone(),
        issuer: current.issuer,
    }
}
