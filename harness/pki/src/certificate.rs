//! Issuing real X.509 certificates (v1 and v3) and reading them back for reports.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{ID_CE_CRL_DISTRIBUTION_POINTS, ID_KP_EMAIL_PROTECTION};
use const_oid::db::rfc5912::{
    ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH, RSA_ENCRYPTION, SHA_1_WITH_RSA_ENCRYPTION,
    SHA_256_WITH_RSA_ENCRYPTION,
};
use der::asn1::{BitString, Ia5String, OctetString};
use der::{Any, Decode, Encode};
use model::{CertificateDer, Serial, Timestamp, named};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::Sha256;
use spki::{AlgorithmIdentifierOwned, EncodePublicKey, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage,
    KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::PkiError;
use crate::name::{display_name, email_attribute};

/// X.509 version of an issued certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CertificateVersion {
    /// Version 1: no extensions at all (what Exchange 5.5 issued to V1 clients).
    V1,
    /// Version 3, with extensions.
    V3,
}

named!(CertificateVersion { V1 => "v1", V3 => "v3" });

impl std::fmt::Display for CertificateVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(model::Named::name(*self))
    }
}

/// What a certificate is for; decides its key usage and extended key usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificatePurpose {
    /// A CA certificate (root or subordinate).
    Authority,
    /// A user's S/MIME signing certificate.
    SmimeSigning,
    /// A user's S/MIME encryption certificate.
    SmimeEncryption,
    /// The KM server's own certificate.
    KmServer,
    /// A TLS server certificate (what an exclusive Exchange policy module denies).
    TlsServer,
}

impl CertificatePurpose {
    /// Whether this is an e-mail (S/MIME) certificate, the only kind an exclusive CA issues.
    pub fn is_email(self) -> bool {
        matches!(self, Self::SmimeSigning | Self::SmimeEncryption)
    }
}

/// Hash used in a certificate or CRL signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureHash {
    /// sha1WithRSAEncryption, what Windows 2000 CAs used.
    Sha1,
    /// sha256WithRSAEncryption.
    Sha256,
}

named!(SignatureHash { Sha1 => "sha1", Sha256 => "sha256" });

impl SignatureHash {
    /// The signature algorithm identifier, with the NULL parameters RSA requires.
    pub fn algorithm(self) -> AlgorithmIdentifierOwned {
        let oid = match self {
            Self::Sha1 => SHA_1_WITH_RSA_ENCRYPTION,
            Self::Sha256 => SHA_256_WITH_RSA_ENCRYPTION,
        };
        AlgorithmIdentifierOwned {
            oid,
            parameters: Some(Any::null()),
        }
    }

    /// Signs `message` with PKCS #1 v1.5.
    pub fn sign(self, key: &RsaPrivateKey, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => SigningKey::<Sha1>::new(key.clone()).sign(message).to_vec(),
            Self::Sha256 => SigningKey::<Sha256>::new(key.clone())
                .sign(message)
                .to_vec(),
        }
    }
}

/// Everything a CA decides about a certificate it is about to sign.
#[derive(Debug, Clone)]
pub struct CertificateTemplate {
    /// The X.509 version.
    pub version: CertificateVersion,
    /// What the certificate is for.
    pub purpose: CertificatePurpose,
    /// The serial number.
    pub serial: Serial,
    /// The subject name.
    pub subject: Name,
    /// The subject's e-mail address, put in subjectAltName for v3 certificates.
    pub email: Option<String>,
    /// A server's host names (DNS names, or IP addresses written as such), put in
    /// subjectAltName, where TLS clients look for them (RFC 6125).
    pub host_names: Vec<String>,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// A CRL distribution point URL to include (v3 only).
    pub crl_distribution_point: Option<String>,
    /// The signature hash.
    pub hash: SignatureHash,
}

/// The issuer side of a signature: its name, key and key identifier.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    /// The issuer's subject name, copied into the certificate's issuer field.
    pub name: &'a Name,
    /// The issuer's private key.
    pub key: &'a RsaPrivateKey,
    /// The issuer's subject key identifier, for the authority key identifier extension.
    pub key_identifier: Option<&'a [u8]>,
}

/// Signs a certificate for `subject_key` according to `template`.
pub fn issue_certificate(
    template: &CertificateTemplate,
    subject_key: &RsaPublicKey,
    issuer: Issuer<'_>,
) -> Result<CertificateDer, PkiError> {
    let spki_der = subject_key
        .to_public_key_der()
        .map_err(PkiError::PublicKey)?;
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der.as_bytes())?;
    let key_identifier = subject_key_identifier(&spki);
    let extensions = match template.version {
        CertificateVersion::V1 => None,
        CertificateVersion::V3 => Some(extensions(template, &key_identifier, issuer)?),
    };
    let tbs = TbsCertificate {
        version: match template.version {
            CertificateVersion::V1 => Version::V1,
            CertificateVersion::V3 => Version::V3,
        },
        serial_number: SerialNumber::new(template.serial.as_bytes())?,
        signature: template.hash.algorithm(),
        issuer: issuer.name.clone(),
        validity: Validity {
            not_before: x509_time(template.not_before)?,
            not_after: x509_time(template.not_after)?,
        },
        subject: template.subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions,
    };
    let signature = template.hash.sign(issuer.key, &tbs.to_der()?);
    let certificate = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: template.hash.algorithm(),
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(CertificateDer::new(certificate.to_der()?))
}

fn extensions(
    template: &CertificateTemplate,
    key_identifier: &[u8],
    issuer: Issuer<'_>,
) -> Result<Vec<Extension>, PkiError> {
    let subject = &template.subject;
    let mut out = Vec::new();
    let is_ca = template.purpose == CertificatePurpose::Authority;
    out.push(
        BasicConstraints {
            ca: is_ca,
            path_len_constraint: None,
        }
        .to_extension(subject, &out)?,
    );
    let usages = match template.purpose {
        CertificatePurpose::Authority => {
            KeyUsages::KeyCertSign | KeyUsages::CRLSign | KeyUsages::DigitalSignature
        }
        CertificatePurpose::SmimeSigning => KeyUsages::DigitalSignature | KeyUsages::NonRepudiation,
        CertificatePurpose::SmimeEncryption => {
            KeyUsages::KeyEncipherment | KeyUsages::DataEncipherment
        }
        CertificatePurpose::KmServer => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
        CertificatePurpose::TlsServer => KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment,
    };
    out.push(KeyUsage(usages).to_extension(subject, &out)?);
    let extended: Option<Vec<ObjectIdentifier>> = match template.purpose {
        CertificatePurpose::Authority => None,
        CertificatePurpose::SmimeSigning | CertificatePurpose::SmimeEncryption => {
            Some(vec![ID_KP_EMAIL_PROTECTION])
        }
        CertificatePurpose::KmServer => Some(vec![ID_KP_CLIENT_AUTH]),
        CertificatePurpose::TlsServer => Some(vec![ID_KP_SERVER_AUTH]),
    };
    if let Some(extended) = extended {
        out.push(ExtendedKeyUsage(extended).to_extension(subject, &out)?);
    }
    let mut names = Vec::new();
    if let Some(email) = &template.email {
        names.push(GeneralName::Rfc822Name(Ia5String::new(email)?));
    }
    for host in &template.host_names {
        names.push(match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(address)) => {
                GeneralName::IpAddress(OctetString::new(address.octets().to_vec())?)
            }
            Ok(std::net::IpAddr::V6(address)) => {
                GeneralName::IpAddress(OctetString::new(address.octets().to_vec())?)
            }
            Err(_) => GeneralName::DnsName(Ia5String::new(host)?),
        });
    }
    if !names.is_empty() {
        out.push(SubjectAltName(names).to_extension(subject, &out)?);
    }
    let ski = SubjectKeyIdentifier(OctetString::new(key_identifier)?);
    out.push(ski.to_extension(subject, &out)?);
    if let Some(issuer_id) = issuer.key_identifier {
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(issuer_id)?),
            ..Default::default()
        };
        out.push(aki.to_extension(subject, &out)?);
    }
    if let Some(url) = &template.crl_distribution_point {
        let point = DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![
                GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
            ])),
            reasons: None,
            crl_issuer: None,
        };
        out.push(CrlDistributionPoints(vec![point]).to_extension(subject, &out)?);
    }
    Ok(out)
}

/// RFC 5280 method 1: the SHA-1 of the subjectPublicKey bits.
pub fn subject_key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    use sha1::Digest;
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// UTCTime up to 2049 and GeneralizedTime from 2050, as RFC 5280 requires.
pub fn x509_time(at: Timestamp) -> Result<Time, PkiError> {
    let seconds = u64::try_from(at.unix()).map_err(|_| PkiError::TimeOutOfRange(at))?;
    let duration = std::time::Duration::from_secs(seconds);
    if at.year() < 2050 {
        Ok(Time::UtcTime(der::asn1::UtcTime::from_unix_duration(
            duration,
        )?))
    } else {
        Ok(Time::GeneralTime(
            der::asn1::GeneralizedTime::from_unix_duration(duration)?,
        ))
    }
}

/// Converts an X.509 time to a timestamp.
pub fn timestamp(time: Time) -> Timestamp {
    // Certificate times fit in i64 seconds for any date der can represent (years ≤ 9999).
    Timestamp::from_unix(time.to_unix_duration().as_secs() as i64)
}

/// What reports and checks need to know about a certificate, read from its DER.
#[derive(Debug, Clone)]
pub struct CertificateInfo {
    /// The parsed certificate.
    pub certificate: Certificate,
    /// X.509 version.
    pub version: CertificateVersion,
    /// Serial number.
    pub serial: Serial,
    /// Subject, RFC 4514 form.
    pub subject: String,
    /// Issuer, RFC 4514 form.
    pub issuer: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// E-mail address from subjectAltName, else from the subject's E attribute.
    pub email: Option<String>,
    /// Subject key identifier, if the certificate has the extension.
    pub subject_key_identifier: Option<Vec<u8>>,
    /// Whether basicConstraints says this is a CA.
    pub is_ca: bool,
    /// CRL distribution point URLs.
    pub crl_distribution_points: Vec<String>,
}

impl CertificateInfo {
    /// Parses DER; a certificate that does not parse is an error.
    pub fn parse(der: &CertificateDer) -> Result<Self, PkiError> {
        let certificate = Certificate::from_der(der.as_bytes())?;
        let tbs = &certificate.tbs_certificate;
        let version = match tbs.version {
            Version::V1 => CertificateVersion::V1,
            Version::V2 | Version::V3 => CertificateVersion::V3,
        };
        let mut email = None;
        let mut ski = None;
        let mut is_ca = false;
        let mut cdp = Vec::new();
        for extension in tbs.extensions.as_deref().unwrap_or(&[]) {
            let value = extension.extn_value.as_bytes();
            match extension.extn_id {
                id if id == <SubjectAltName as const_oid::AssociatedOid>::OID => {
                    let names = SubjectAltName::from_der(value)?;
                    email = names.0.iter().find_map(|name| match name {
                        GeneralName::Rfc822Name(address) => Some(address.to_string()),
                        _ => None,
                    });
                }
                id if id == <SubjectKeyIdentifier as const_oid::AssociatedOid>::OID => {
                    ski = Some(SubjectKeyIdentifier::from_der(value)?.0.as_bytes().to_vec());
                }
                id if id == <BasicConstraints as const_oid::AssociatedOid>::OID => {
                    is_ca = BasicConstraints::from_der(value)?.ca;
                }
                ID_CE_CRL_DISTRIBUTION_POINTS => {
                    for point in CrlDistributionPoints::from_der(value)?.0 {
                        if let Some(DistributionPointName::FullName(names)) =
                            point.distribution_point
                        {
                            for name in names {
                                if let GeneralName::UniformResourceIdentifier(url) = name {
                                    cdp.push(url.to_string());
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        let email = email.or_else(|| email_attribute(&tbs.subject));
        Ok(Self {
            version,
            serial: Serial::from_der_integer(tbs.serial_number.as_bytes()),
            subject: display_name(&tbs.subject),
            issuer: display_name(&tbs.issuer),
            not_before: timestamp(tbs.validity.not_before),
            not_after: timestamp(tbs.validity.not_after),
            email,
            subject_key_identifier: ski,
            is_ca,
            crl_distribution_points: cdp,
            certificate,
        })
    }

    /// The subject's RSA public key.
    pub fn public_key(&self) -> Result<RsaPublicKey, PkiError> {
        let spki = &self.certificate.tbs_certificate.subject_public_key_info;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(PkiError::UnsupportedKey(spki.algorithm.oid));
        }
        let der = spki.to_der()?;
        spki::DecodePublicKey::from_public_key_der(&der).map_err(PkiError::PublicKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::{NameAttribute, build_name};

    fn key(role: &str) -> RsaPrivateKey {
        crate::KeyPool::new(5, None).key(role, 1024).unwrap().0
    }

    fn template(version: CertificateVersion) -> CertificateTemplate {
        CertificateTemplate {
            host_names: Vec::new(),
            version,
            purpose: CertificatePurpose::SmimeEncryption,
            serial: Serial::from_be_bytes(&[0x12, 0x34]),
            subject: build_name(&[
                NameAttribute::Organization("Contoso"),
                NameAttribute::CommonName("alice"),
            ])
            .unwrap(),
            email: Some("alice@contoso.example".into()),
            not_before: Timestamp::DEFAULT_START,
            not_after: Timestamp::DEFAULT_START.plus(model::Duration::years(2)),
            crl_distribution_point: Some("http://ca.contoso.example/root.crl".into()),
            hash: SignatureHash::Sha256,
        }
    }

    #[test]
    fn v3_certificate_carries_extensions() {
        let ca_key = key("ca");
        let ca_name = build_name(&[NameAttribute::CommonName("Root")]).unwrap();
        let user = key("user");
        let issuer = Issuer {
            name: &ca_name,
            key: &ca_key,
            key_identifier: Some(&[1, 2, 3]),
        };
        let der = issue_certificate(
            &template(CertificateVersion::V3),
            &user.to_public_key(),
            issuer,
        )
        .unwrap();
        let info = CertificateInfo::parse(&der).unwrap();
        assert_eq!(info.version, CertificateVersion::V3);
        assert_eq!(info.serial.to_string(), "1234");
        assert_eq!(info.subject, "CN=alice,O=Contoso");
        assert_eq!(info.issuer, "CN=Root");
        assert_eq!(info.email.as_deref(), Some("alice@contoso.example"));
        assert!(info.subject_key_identifier.is_some());
        assert_eq!(
            info.crl_distribution_points,
            ["http://ca.contoso.example/root.crl"]
        );
        assert_eq!(info.not_after.to_string(), "2003-03-01T09:00:00Z");
        assert_eq!(info.public_key().unwrap(), user.to_public_key());
    }

    #[test]
    fn v1_certificate_has_no_extensions() {
        let ca_key = key("ca");
        let ca_name = build_name(&[NameAttribute::CommonName("Root")]).unwrap();
        let user = key("user");
        let issuer = Issuer {
            name: &ca_name,
            key: &ca_key,
            key_identifier: Some(&[1]),
        };
        let der = issue_certificate(
            &template(CertificateVersion::V1),
            &user.to_public_key(),
            issuer,
        )
        .unwrap();
        let info = CertificateInfo::parse(&der).unwrap();
        assert_eq!(info.version, CertificateVersion::V1);
        assert!(info.certificate.tbs_certificate.extensions.is_none());
        assert!(info.subject_key_identifier.is_none());
    }
}
