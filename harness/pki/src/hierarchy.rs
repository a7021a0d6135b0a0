//! The KM server's hierarchy check, exactly as the product did it (KM-04): certificates are
//! linked by name only, compared byte for byte, without signatures or RFC 5280 name matching;
//! plus the rules a third-party root must meet (CA-09).

use der::Encode;
use model::Duration;

use crate::certificate::{CertificateInfo, CertificateVersion};

/// A broken link in the KM server's view of a hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameLinkProblem {
    /// A certificate's issuer name is not, byte for byte, the subject of the next one up.
    IssuerNotNextSubject {
        /// The certificate whose issuer does not link.
        subject: String,
        /// The issuer it names.
        issuer: String,
        /// The subject of the next certificate up.
        next_subject: String,
    },
    /// The root's issuer name is not its own subject.
    RootNotSelfIssued {
        /// The root's subject.
        subject: String,
        /// The issuer it names.
        issuer: String,
    },
}

impl std::fmt::Display for NameLinkProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::IssuerNotNextSubject {
                subject,
                issuer,
                next_subject,
            } => {
                write!(
                    f,
                    "{subject} names issuer {issuer}, but the next certificate up is {next_subject}"
                )
            }
            Self::RootNotSelfIssued { subject, issuer } => {
                write!(f, "root {subject} names issuer {issuer}, not itself")
            }
        }
    }
}

fn name_bytes(info: &CertificateInfo, issuer: bool) -> Vec<u8> {
    let tbs = &info.certificate.tbs_certificate;
    let name = if issuer { &tbs.issuer } else { &tbs.subject };
    name.to_der().unwrap_or_default()
}

/// Checks a chain, issuing CA first and root last, the way the KM server links it.
pub fn check_name_links(chain: &[CertificateInfo]) -> Vec<NameLinkProblem> {
    let mut problems = Vec::new();
    for pair in chain.windows(2) {
        if name_bytes(&pair[0], true) != name_bytes(&pair[1], false) {
            problems.push(NameLinkProblem::IssuerNotNextSubject {
                subject: pair[0].subject.clone(),
                issuer: pair[0].issuer.clone(),
                next_subject: pair[1].subject.clone(),
            });
        }
    }
    if let Some(root) = chain.last() {
        if name_bytes(root, true) != name_bytes(root, false) {
            problems.push(NameLinkProblem::RootNotSelfIssued {
                subject: root.subject.clone(),
                issuer: root.issuer.clone(),
            });
        }
    }
    problems
}

/// What a third-party root fails of CA-09.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThirdPartyViolation {
    /// Its subject and issuer names differ.
    IssuerDiffers,
    /// It does not publish a CRL distribution point.
    NoCrlDistributionPoint,
    /// It signs the subordinate for 2 years or less.
    ShortSubordinatePeriod,
    /// It is not a well-formed RFC 5280 CA certificate.
    NotWellFormed,
}

impl ThirdPartyViolation {
    /// The name the transcript reports it by.
    pub fn name(self) -> &'static str {
        match self {
            Self::IssuerDiffers => "subject-issuer-differ",
            Self::NoCrlDistributionPoint => "no-cdp",
            Self::ShortSubordinatePeriod => "short-subordinate-period",
            Self::NotWellFormed => "not-rfc5280-well-formed",
        }
    }
}

/// Checks a third-party `root` and the `subordinate` certificate it signed against CA-09.
pub fn third_party_violations(
    root: &CertificateInfo,
    subordinate: &CertificateInfo,
) -> Vec<ThirdPartyViolation> {
    let mut violations = Vec::new();
    if name_bytes(root, true) != name_bytes(root, false) {
        violations.push(ThirdPartyViolation::IssuerDiffers);
    }
    if subordinate.crl_distribution_points.is_empty() {
        violations.push(ThirdPartyViolation::NoCrlDistributionPoint);
    }
    if subordinate.not_before.plus(Duration::years(2)) >= subordinate.not_after {
        violations.push(ThirdPartyViolation::ShortSubordinatePeriod);
    }
    if root.version == CertificateVersion::V1 || !root.is_ca {
        violations.push(ThirdPartyViolation::NotWellFormed);
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::{
        CertificatePurpose, CertificateTemplate, Issuer, SignatureHash, issue_certificate,
    };
    use crate::chain::{SignatureMemo, verify_chain};
    use crate::name::{NameAttribute, build_name};
    use crate::{CertificateInfo, KeyPool};
    use der::asn1::{SetOfVec, Utf8StringRef};
    use model::{CertificateDer, Serial, Timestamp};
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

    fn key(role: &str) -> rsa::RsaPrivateKey {
        KeyPool::new(17, None).key(role, 1024).unwrap().0
    }

    fn certificate(
        subject: &Name,
        issuer_name: &Name,
        subject_key: &rsa::RsaPrivateKey,
        issuer_key: &rsa::RsaPrivateKey,
        years: u32,
    ) -> CertificateDer {
        let template = CertificateTemplate {
            host_names: Vec::new(),
            version: crate::CertificateVersion::V3,
            purpose: CertificatePurpose::Authority,
            serial: Serial::from_be_bytes(&[years as u8 + 1]),
            subject: subject.clone(),
            email: None,
            not_before: Timestamp::DEFAULT_START,
            not_after: Timestamp::DEFAULT_START.plus(Duration::years(years)),
            crl_distribution_point: None,
            hash: SignatureHash::Sha256,
        };
        issue_certificate(
            &template,
            &subject_key.to_public_key(),
            Issuer {
                name: issuer_name,
                key: issuer_key,
                key_identifier: None,
            },
        )
        .unwrap()
    }

    /// "contoso root" as a UTF8String: the same name to RFC 5280, different bytes to the KM
    /// server.
    fn utf8_lower_root() -> Name {
        let mut set = SetOfVec::new();
        set.insert(AttributeTypeAndValue {
            oid: const_oid::db::rfc4519::COMMON_NAME,
            value: der::Any::from(Utf8StringRef::new("contoso  root").unwrap()),
        })
        .unwrap();
        RdnSequence(vec![RelativeDistinguishedName(set)])
    }

    #[test]
    fn rfc_5280_links_what_the_km_server_rejects() {
        let root_key = key("root");
        let sub_key = key("sub");
        let root_name = build_name(&[NameAttribute::CommonName("Contoso Root")]).unwrap();
        let sub_name = build_name(&[NameAttribute::CommonName("Contoso Sub")]).unwrap();
        let root = certificate(&root_name, &root_name, &root_key, &root_key, 5);
        // Signed by the root's key, but naming the root in another encoding and case.
        let sub = certificate(&sub_name, &utf8_lower_root(), &sub_key, &root_key, 3);
        let at = Timestamp::DEFAULT_START;
        let memo = SignatureMemo::new();
        assert!(verify_chain(&sub, &[], std::slice::from_ref(&root), at, &memo).is_valid());
        let chain = [
            CertificateInfo::parse(&sub).unwrap(),
            CertificateInfo::parse(&root).unwrap(),
        ];
        let problems = check_name_links(&chain);
        assert!(
            matches!(
                problems.as_slice(),
                [NameLinkProblem::IssuerNotNextSubject { .. }]
            ),
            "{problems:?}"
        );
    }

    #[test]
    fn the_km_server_links_what_rfc_5280_rejects() {
        let root_key = key("root");
        let impostor_key = key("impostor");
        let sub_key = key("sub");
        let root_name = build_name(&[NameAttribute::CommonName("Contoso Root")]).unwrap();
        let sub_name = build_name(&[NameAttribute::CommonName("Contoso Sub")]).unwrap();
        let root = certificate(&root_name, &root_name, &root_key, &root_key, 5);
        // The names link perfectly, but another key signed the subordinate.
        let sub = certificate(&sub_name, &root_name, &sub_key, &impostor_key, 3);
        let chain = [
            CertificateInfo::parse(&sub).unwrap(),
            CertificateInfo::parse(&root).unwrap(),
        ];
        assert!(check_name_links(&chain).is_empty());
        assert!(
            !verify_chain(
                &sub,
                &[],
                std::slice::from_ref(&root),
                Timestamp::DEFAULT_START,
                &SignatureMemo::new()
            )
            .is_valid()
        );
    }

    #[test]
    fn a_root_must_name_itself_as_issuer() {
        let root_key = key("root");
        let root_name = build_name(&[NameAttribute::CommonName("Root")]).unwrap();
        let other = build_name(&[NameAttribute::CommonName("Root Issuing Authority")]).unwrap();
        let root =
            CertificateInfo::parse(&certificate(&root_name, &other, &root_key, &root_key, 5))
                .unwrap();
        assert!(matches!(
            check_name_links(&[root]).as_slice(),
            [NameLinkProblem::RootNotSelfIssued { .. }]
        ));
    }

    #[test]
    fn third_party_rules_name_each_violation() {
        let root_key = key("root");
        let sub_key = key("sub");
        let root_name = build_name(&[NameAttribute::CommonName("Root")]).unwrap();
        let sub_name = build_name(&[NameAttribute::CommonName("Sub")]).unwrap();
        let root = CertificateInfo::parse(&certificate(
            &root_name, &root_name, &root_key, &root_key, 5,
        ))
        .unwrap();
        let short =
            CertificateInfo::parse(&certificate(&sub_name, &root_name, &sub_key, &root_key, 2))
                .unwrap();
        assert_eq!(
            third_party_violations(&root, &short),
            [
                ThirdPartyViolation::NoCrlDistributionPoint,
                ThirdPartyViolation::ShortSubordinatePeriod
            ]
        );
    }
}
