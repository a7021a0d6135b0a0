//! A client's trust policy on a signature whose cryptography the engine already checked
//! (CL-04): the chain to a trusted root or a certificate trust list entry, validity at the
//! signing time and at the time of reading (MSG-07), revocation by the newest CRL the client
//! fetched, the certificate's key usage, and the address in it against the From header.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{ANY_EXTENDED_KEY_USAGE, ID_KP_EMAIL_PROTECTION};
use const_oid::db::rfc5912::{SHA_1_WITH_RSA_ENCRYPTION, SHA_256_WITH_RSA_ENCRYPTION};
use der::{Decode, Encode};
use model::{CertificateDer, CrlDer, Serial, Timestamp};
use pki::{
    CertificateInfo, ChainVerdict, RsaPublicKey, SignatureMemo, timestamp, verify_chain_with,
};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};

use crate::persona::ValidityTime;

/// What vouched for the signer's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// A root in the client's trusted root store (CA-13).
    TrustedRoot,
    /// A CA certificate on the organisation's certificate trust list (KM-15).
    TrustList,
}

/// The signer certificate against the newest CRL of its issuer the client holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The client holds no CRL of the issuer (with a valid signature), so it cannot tell.
    NoCrl,
    /// The newest CRL does not list the certificate.
    NotRevoked {
        /// When that CRL was issued.
        crl_issued: Timestamp,
    },
    /// The newest CRL lists the certificate.
    Revoked {
        /// When that CRL was issued.
        crl_issued: Timestamp,
        /// When the certificate was revoked.
        revoked_at: Timestamp,
    },
}

impl Revocation {
    /// A stable reason word.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NoCrl => "no-crl",
            Self::NotRevoked { .. } => "not-revoked",
            Self::Revoked { .. } => "revoked",
        }
    }
}

/// Whether the signer certificate may sign mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsageCheck {
    /// It may (or, a v1 certificate, it says nothing against it).
    Suitable,
    /// Its key usage allows neither digital signatures nor non-repudiation.
    NoSigningUsage,
    /// Its extended key usage leaves out e-mail protection.
    NoEmailProtection,
}

impl KeyUsageCheck {
    /// A stable reason word.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Suitable => "suitable",
            Self::NoSigningUsage => "no-signing-key-usage",
            Self::NoEmailProtection => "no-email-protection",
        }
    }
}

/// The trust a client places in a signer certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustInput<'a> {
    /// The client's trusted roots.
    pub roots: &'a [CertificateDer],
    /// CA certificates on the certificate trust lists the client holds.
    pub trust_list: &'a [CertificateDer],
    /// The CRLs the client has fetched.
    pub crls: &'a [CrlDer],
    /// The moment of reading.
    pub now: Timestamp,
    /// When the client judges validity.
    pub judged_at: ValidityTime,
    /// Whether a version 1 certificate may stand in the chain as an intermediate CA.
    pub v1_intermediate_cas: bool,
}

/// The policy verdict on a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// The signer's chain judged at the moment of reading.
    pub at_reading: ChainVerdict,
    /// The signer's chain judged at the signing time the message claims.
    pub at_signing: Option<ChainVerdict>,
    /// What vouched for the chain, when it is valid at reading or at signing.
    pub anchor: Option<Anchor>,
    /// Revocation by the newest CRL.
    pub revocation: Revocation,
    /// Whether the certificate may sign mail.
    pub key_usage: KeyUsageCheck,
    /// Whether the signer certificate's address equals the From address.
    pub address_matches: Option<bool>,
    /// Which of the two chain verdicts the client goes by.
    pub judged_at: ValidityTime,
}

impl SignaturePolicy {
    /// The chain verdict the client goes by: at signing for clients that judge then (when
    /// the message carries a signing time), at reading otherwise.
    pub fn chain(&self) -> &ChainVerdict {
        match (self.judged_at, &self.at_signing) {
            (ValidityTime::Signing, Some(at_signing)) => at_signing,
            _ => &self.at_reading,
        }
    }

    /// A stable reason word: the first thing that fails, or `valid`.
    pub fn reason(&self) -> &'static str {
        let chain = self.chain();
        if !chain.is_valid() {
            chain.reason()
        } else if matches!(self.revocation, Revocation::Revoked { .. }) {
            "revoked"
        } else if self.key_usage != KeyUsageCheck::Suitable {
            "wrong-key-usage"
        } else if self.address_matches == Some(false) {
            "address-mismatch"
        } else {
            "valid"
        }
    }

    /// Whether the client trusts the signature.
    pub fn is_valid(&self) -> bool {
        self.reason() == "valid"
    }
}

/// Judges `signer` (with the certificates its message carried) under `trust`; `memo`
/// remembers the chains' signature verdicts (it only saves work, never changes a verdict).
pub fn judge(
    signer: &CertificateDer,
    carried: &[CertificateDer],
    signing_time: Option<Timestamp>,
    from: Option<&str>,
    trust: &TrustInput<'_>,
    memo: &SignatureMemo,
) -> SignaturePolicy {
    let (at_reading, reading_anchor) = chain_at(signer, carried, trust, trust.now, memo);
    let (at_signing, signing_anchor) = match signing_time {
        Some(time) => {
            let (verdict, anchor) = chain_at(signer, carried, trust, time, memo);
            (Some(verdict), anchor)
        }
        None => (None, None),
    };
    let info = CertificateInfo::parse(signer).ok();
    let address_matches = match (&info, from) {
        (Some(info), Some(from)) => Some(
            info.email
                .as_deref()
                .is_some_and(|email| email.eq_ignore_ascii_case(from)),
        ),
        _ => None,
    };
    let issuers: Vec<&CertificateDer> = trust
        .roots
        .iter()
        .chain(trust.trust_list)
        .chain(carried)
        .collect();
    SignaturePolicy {
        at_reading,
        at_signing,
        anchor: reading_anchor.or(signing_anchor),
        revocation: info.as_ref().map_or(Revocation::NoCrl, |info| {
            revocation(info, &issuers, trust.crls, trust.now)
        }),
        key_usage: info.as_ref().map_or(KeyUsageCheck::Suitable, key_usage),
        address_matches,
        judged_at: trust.judged_at,
    }
}

/// The chain at `at`: through the trusted roots, else through the trust list's entries.
fn chain_at(
    signer: &CertificateDer,
    carried: &[CertificateDer],
    trust: &TrustInput<'_>,
    at: Timestamp,
    memo: &SignatureMemo,
) -> (ChainVerdict, Option<Anchor>) {
    let by_root = verify_chain_with(
        signer,
        carried,
        trust.roots,
        at,
        memo,
        trust.v1_intermediate_cas,
    );
    if by_root.is_valid() {
        return (by_root, Some(Anchor::TrustedRoot));
    }
    let untrusted = matches!(
        by_root,
        ChainVerdict::UntrustedRoot { .. } | ChainVerdict::IssuerNotFound { .. }
    );
    if untrusted && !trust.trust_list.is_empty() {
        let by_list = verify_chain_with(
            signer,
            carried,
            trust.trust_list,
            at,
            memo,
            trust.v1_intermediate_cas,
        );
        if by_list.is_valid() {
            return (by_list, Some(Anchor::TrustList));
        }
    }
    (by_root, None)
}

/// Looks the certificate up in the newest CRL of its issuer, among `crls`, whose signature
/// holds under one of `issuers` and that was issued by `now`. A reader checks a signer this
/// way; a sender checks each recipient's encryption certificate the same way.
pub fn revocation(
    info: &CertificateInfo,
    issuers: &[&CertificateDer],
    crls: &[CrlDer],
    now: Timestamp,
) -> Revocation {
    let issuer_name = &info.certificate.tbs_certificate.issuer;
    let issuer_keys: Vec<RsaPublicKey> = issuers
        .iter()
        .filter_map(|der| CertificateInfo::parse(der).ok())
        .filter(|candidate| &candidate.certificate.tbs_certificate.subject == issuer_name)
        .filter_map(|candidate| candidate.public_key().ok())
        .collect();
    let newest = crls
        .iter()
        .filter_map(|der| CertificateList::from_der(der.as_bytes()).ok())
        .filter(|crl| &crl.tbs_cert_list.issuer == issuer_name)
        .filter(|crl| timestamp(crl.tbs_cert_list.this_update) <= now)
        .filter(|crl| issuer_keys.iter().any(|key| crl_signature_holds(crl, key)))
        .max_by_key(|crl| timestamp(crl.tbs_cert_list.this_update));
    let Some(crl) = newest else {
        return Revocation::NoCrl;
    };
    let crl_issued = timestamp(crl.tbs_cert_list.this_update);
    let listed = crl
        .tbs_cert_list
        .revoked_certificates
        .iter()
        .flatten()
        .find(|entry| Serial::from_der_integer(entry.serial_number.as_bytes()) == info.serial);
    match listed {
        Some(entry) if timestamp(entry.revocation_date) <= now => Revocation::Revoked {
            crl_issued,
            revoked_at: timestamp(entry.revocation_date),
        },
        _ => Revocation::NotRevoked { crl_issued },
    }
}

fn crl_signature_holds(crl: &CertificateList, key: &RsaPublicKey) -> bool {
    let Ok(tbs) = crl.tbs_cert_list.to_der() else {
        return false;
    };
    let Some(signature) = crl.signature.as_bytes() else {
        return false;
    };
    signature_holds(crl.signature_algorithm.oid, &tbs, signature, key)
}

/// Whether an RSA PKCS #1 v1.5 signature by `key` over `message` holds.
fn signature_holds(
    algorithm: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
    key: &RsaPublicKey,
) -> bool {
    let Ok(signature) = Signature::try_from(signature) else {
        return false;
    };
    match algorithm {
        SHA_256_WITH_RSA_ENCRYPTION => VerifyingKey::<sha2::Sha256>::new(key.clone())
            .verify(message, &signature)
            .is_ok(),
        SHA_1_WITH_RSA_ENCRYPTION => VerifyingKey::<sha1::Sha1>::new(key.clone())
            .verify(message, &signature)
            .is_ok(),
        _ => false,
    }
}

fn key_usage(info: &CertificateInfo) -> KeyUsageCheck {
    let tbs = &info.certificate.tbs_certificate;
    if let Ok(Some((_, usage))) = tbs.get::<KeyUsage>() {
        if !usage.digital_signature() && !usage.non_repudiation() {
            return KeyUsageCheck::NoSigningUsage;
        }
    }
    if let Ok(Some((_, extended))) = tbs.get::<ExtendedKeyUsage>() {
        if !extended
            .0
            .iter()
            .any(|oid| *oid == ID_KP_EMAIL_PROTECTION || *oid == ANY_EXTENDED_KEY_USAGE)
        {
            return KeyUsageCheck::NoEmailProtection;
        }
    }
    KeyUsageCheck::Suitable
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::asn1::BitString;
    use model::Duration;
    use pki::{
        CertificatePurpose, CertificateTemplate, CertificateVersion, Issuer, KeyPool,
        NameAttribute, SignatureHash, build_name, issue_certificate,
    };
    use x509_cert::crl::{RevokedCert, TbsCertList};
    use x509_cert::serial_number::SerialNumber;

    const START: Timestamp = Timestamp::DEFAULT_START;

    struct Ca {
        name: x509_cert::name::Name,
        key: pki::RsaPrivateKey,
        certificate: CertificateDer,
    }

    fn pool() -> KeyPool {
        KeyPool::new(17, None)
    }

    fn ca(common_name: &str) -> Ca {
        let (key, _) = pool().key(&format!("policy:{common_name}"), 1024).unwrap();
        let name = build_name(&[NameAttribute::CommonName(common_name)]).unwrap();
        let template = CertificateTemplate {
            host_names: Vec::new(),
            version: CertificateVersion::V3,
            purpose: CertificatePurpose::Authority,
            serial: Serial::from_be_bytes(&[1]),
            subject: name.clone(),
            email: None,
            not_before: START,
            not_after: START.plus(Duration::years(10)),
            crl_distribution_point: None,
            hash: SignatureHash::Sha256,
        };
        let issuer = Issuer {
            name: &name,
            key: &key,
            key_identifier: None,
        };
        let certificate = issue_certificate(&template, &key.to_public_key(), issuer).unwrap();
        Ca {
            name,
            key,
            certificate,
        }
    }

    fn leaf(ca: &Ca, serial: u8, purpose: CertificatePurpose, years: u32) -> CertificateDer {
        let (key, _) = pool().key("policy:leaf", 1024).unwrap();
        let template = CertificateTemplate {
            host_names: Vec::new(),
            version: CertificateVersion::V3,
            purpose,
            serial: Serial::from_be_bytes(&[serial]),
            subject: build_name(&[NameAttribute::CommonName("alice")]).unwrap(),
            email: Some("alice@contoso.example".into()),
            not_before: START,
            not_after: START.plus(Duration::years(years)),
            crl_distribution_point: None,
            hash: SignatureHash::Sha256,
        };
        let issuer = Issuer {
            name: &ca.name,
            key: &ca.key,
            key_identifier: None,
        };
        issue_certificate(&template, &key.to_public_key(), issuer).unwrap()
    }

    /// A CRL of `ca` issued at `issued`, listing `revoked` serials revoked at that moment.
    fn crl(ca: &Ca, issued: Timestamp, revoked: &[u8], signer: &pki::RsaPrivateKey) -> CrlDer {
        let time = pki::x509_time(issued).unwrap();
        let entries: Vec<RevokedCert> = revoked
            .iter()
            .map(|serial| RevokedCert {
                serial_number: SerialNumber::new(&[*serial]).unwrap(),
                revocation_date: time,
                crl_entry_extensions: None,
            })
            .collect();
        let tbs = TbsCertList {
            version: x509_cert::Version::V2,
            signature: SignatureHash::Sha256.algorithm(),
            issuer: ca.name.clone(),
            this_update: time,
            next_update: Some(pki::x509_time(issued.plus(Duration::days(7))).unwrap()),
            revoked_certificates: (!entries.is_empty()).then_some(entries),
            crl_extensions: None,
        };
        let signature = SignatureHash::Sha256.sign(signer, &tbs.to_der().unwrap());
        let list = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: SignatureHash::Sha256.algorithm(),
            signature: BitString::from_bytes(&signature).unwrap(),
        };
        CrlDer::new(list.to_der().unwrap())
    }

    fn trust<'a>(
        roots: &'a [CertificateDer],
        trust_list: &'a [CertificateDer],
        crls: &'a [CrlDer],
        now: Timestamp,
    ) -> TrustInput<'a> {
        TrustInput {
            roots,
            trust_list,
            crls,
            now,
            judged_at: ValidityTime::Reading,
            v1_intermediate_cas: true,
        }
    }

    #[test]
    fn a_signer_under_a_trusted_root_is_valid_without_a_crl() {
        let root = ca("Root");
        let signer = leaf(&root, 2, CertificatePurpose::SmimeSigning, 2);
        let roots = [root.certificate.clone()];
        let policy = judge(
            &signer,
            &[],
            Some(START),
            Some("alice@contoso.example"),
            &trust(&roots, &[], &[], START),
            &SignatureMemo::new(),
        );
        assert_eq!(policy.reason(), "valid");
        assert_eq!(policy.anchor, Some(Anchor::TrustedRoot));
        assert_eq!(policy.revocation, Revocation::NoCrl);
        assert_eq!(policy.address_matches, Some(true));
    }

    #[test]
    fn the_newest_crl_decides_revocation() {
        let root = ca("Root");
        let signer = leaf(&root, 2, CertificatePurpose::SmimeSigning, 2);
        let roots = [root.certificate.clone()];
        let day = Duration::days(1);
        let older_listing = crl(&root, START.plus(day), &[2], &root.key);
        let newer_clean = crl(&root, START.plus(Duration::days(2)), &[], &root.key);
        let now = START.plus(Duration::days(3));
        // Only the older CRL: revoked.
        let crls = [older_listing.clone()];
        let policy = judge(
            &signer,
            &[],
            None,
            None,
            &trust(&roots, &[], &crls, now),
            &SignatureMemo::new(),
        );
        assert_eq!(
            policy.revocation,
            Revocation::Revoked {
                crl_issued: START.plus(day),
                revoked_at: START.plus(day)
            }
        );
        assert_eq!(policy.reason(), "revoked");
        // A newer CRL that no longer lists it (the revocation was lifted): not revoked.
        let crls = [older_listing.clone(), newer_clean];
        let policy = judge(
            &signer,
            &[],
            None,
            None,
            &trust(&roots, &[], &crls, now),
            &SignatureMemo::new(),
        );
        assert_eq!(policy.revocation.reason(), "not-revoked");
        // A CRL dated after the moment of reading has not been fetched yet.
        let crls = [older_listing];
        let early = judge(
            &signer,
            &[],
            None,
            None,
            &trust(&roots, &[], &crls, START.plus(Duration::seconds(3600))),
            &SignatureMemo::new(),
        );
        assert_eq!(early.revocation, Revocation::NoCrl);
    }

    #[test]
    fn a_crl_signed_by_someone_else_is_ignored() {
        let root = ca("Root");
        let impostor = ca("Impostor");
        let signer = leaf(&root, 2, CertificatePurpose::SmimeSigning, 2);
        let roots = [root.certificate.clone()];
        let forged = [crl(&root, START, &[2], &impostor.key)];
        let policy = judge(
            &signer,
            &[],
            None,
            None,
            &trust(&roots, &[], &forged, START),
            &SignatureMemo::new(),
        );
        assert_eq!(policy.revocation, Revocation::NoCrl);
        assert_eq!(policy.reason(), "valid");
    }

    #[test]
    fn a_trust_list_entry_vouches_for_a_foreign_hierarchy() {
        let own = ca("Own Root");
        let foreign = ca("Foreign Root");
        let signer = leaf(&foreign, 9, CertificatePurpose::SmimeSigning, 2);
        let roots = [own.certificate.clone()];
        // The signer sends its whole chain, root included.
        let carried = [foreign.certificate.clone()];
        let untrusted = judge(
            &signer,
            &carried,
            None,
            None,
            &trust(&roots, &[], &[], START),
            &SignatureMemo::new(),
        );
        assert_eq!(untrusted.reason(), "untrusted-root");
        assert_eq!(untrusted.anchor, None);
        let listed = [foreign.certificate.clone()];
        let trusted = judge(
            &signer,
            &carried,
            None,
            None,
            &trust(&roots, &listed, &[], START),
            &SignatureMemo::new(),
        );
        assert_eq!(trusted.reason(), "valid");
        assert_eq!(trusted.anchor, Some(Anchor::TrustList));
    }

    #[test]
    fn expiry_is_judged_at_the_time_the_client_chooses() {
        let root = ca("Root");
        let signer = leaf(&root, 2, CertificatePurpose::SmimeSigning, 1);
        let roots = [root.certificate.clone()];
        let later = START.plus(Duration::years(2));
        let mut input = trust(&roots, &[], &[], later);
        let at_reading = judge(
            &signer,
            &[],
            Some(START),
            None,
            &input,
            &SignatureMemo::new(),
        );
        assert_eq!(at_reading.reason(), "expired");
        assert_eq!(
            at_reading.at_signing.as_ref().map(ChainVerdict::reason),
            Some("valid")
        );
        input.judged_at = ValidityTime::Signing;
        assert_eq!(
            judge(
                &signer,
                &[],
                Some(START),
                None,
                &input,
                &SignatureMemo::new()
            )
            .reason(),
            "valid"
        );
    }

    #[test]
    fn an_encryption_certificate_may_not_sign() {
        let root = ca("Root");
        let encryption = leaf(&root, 3, CertificatePurpose::SmimeEncryption, 2);
        let roots = [root.certificate.clone()];
        let policy = judge(
            &encryption,
            &[],
            None,
            None,
            &trust(&roots, &[], &[], START),
            &SignatureMemo::new(),
        );
        assert_eq!(policy.key_usage, KeyUsageCheck::NoSigningUsage);
        assert_eq!(policy.reason(), "wrong-key-usage");
    }

    #[test]
    fn a_foreign_address_is_a_mismatch() {
        let root = ca("Root");
        let signer = leaf(&root, 2, CertificatePurpose::SmimeSigning, 2);
        let roots = [root.certificate.clone()];
        let policy = judge(
            &signer,
            &[],
            None,
            Some("mallory@contoso.example"),
            &trust(&roots, &[], &[], START),
            &SignatureMemo::new(),
        );
        assert_eq!(policy.reason(), "address-mismatch");
    }
}
