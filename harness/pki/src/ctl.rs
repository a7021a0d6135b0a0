//! Certificate trust lists (KM-15): the organisation root signs a list of foreign CA
//! certificates, by SHA-1 thumbprint, that its clients then trust for e-mail. The format is
//! Microsoft's: PKCS #7 signed-data whose content type is szOID_CTL.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::ID_KP_EMAIL_PROTECTION;
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use model::{CertificateDer, CtlDer, Timestamp};
use rsa::Pkcs1v15Sign;
use sha1::{Digest, Sha1};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::time::Time;

use crate::PkiError;
use crate::authority::CertificationAuthority;
use crate::certificate::{CertificateInfo, timestamp, x509_time};

/// szOID_CTL, the content type of a certificate trust list.
pub const CTL_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.10.1");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");

/// `TrustedSubject ::= SEQUENCE { subjectIdentifier OCTET STRING, subjectAttributes … OPTIONAL }`
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TrustedSubject {
    identifier: OctetString,
}

/// Microsoft's `CertificateTrustList`, with the fields kmlab writes.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct CertificateTrustList {
    subject_usage: Vec<ObjectIdentifier>,
    sequence_number: u32,
    this_update: Time,
    subject_algorithm: AlgorithmIdentifierOwned,
    trusted_subjects: Vec<TrustedSubject>,
}

/// The foreign CAs an organisation trusts for e-mail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustList {
    /// The trusted CA certificates.
    pub certificates: Vec<CertificateDer>,
    /// Bumped on every change.
    pub sequence: u32,
}

/// SHA-1 over a certificate's DER: how a CTL names it.
pub fn thumbprint(certificate: &CertificateDer) -> Vec<u8> {
    Sha1::digest(certificate.as_bytes()).to_vec()
}

impl TrustList {
    /// Adds a CA (once) and bumps the sequence number.
    pub fn add(&mut self, certificate: CertificateDer) -> bool {
        if self.certificates.contains(&certificate) {
            return false;
        }
        self.certificates.push(certificate);
        self.sequence += 1;
        true
    }

    /// Removes a CA and bumps the sequence number.
    pub fn remove(&mut self, certificate: &CertificateDer) -> bool {
        let before = self.certificates.len();
        self.certificates.retain(|held| held != certificate);
        let removed = self.certificates.len() != before;
        if removed {
            self.sequence += 1;
        }
        removed
    }

    /// The list, signed by `signer` (the organisation root) at `now`.
    pub fn sign(
        &self,
        signer: &CertificationAuthority,
        now: Timestamp,
    ) -> Result<CtlDer, PkiError> {
        let Some(signer_certificate) = signer.certificate() else {
            return Err(PkiError::Pending(signer.name().to_string()));
        };
        let list = CertificateTrustList {
            subject_usage: vec![ID_KP_EMAIL_PROTECTION],
            sequence_number: self.sequence,
            this_update: x509_time(now)?,
            subject_algorithm: AlgorithmIdentifierOwned {
                oid: SHA1,
                parameters: None,
            },
            trusted_subjects: self
                .certificates
                .iter()
                .map(|certificate| {
                    Ok(TrustedSubject {
                        identifier: OctetString::new(thumbprint(certificate))?,
                    })
                })
                .collect::<Result<_, der::Error>>()?,
        };
        let content = list.to_der()?;
        let attributes = SetOfVec::try_from(vec![
            Attribute {
                oid: CONTENT_TYPE,
                values: SetOfVec::try_from(vec![Any::encode_from(&CTL_CONTENT_TYPE)?])?,
            },
            Attribute {
                oid: MESSAGE_DIGEST,
                values: SetOfVec::try_from(vec![Any::encode_from(&OctetString::new(
                    Sha1::digest(&content).to_vec(),
                )?)?])?,
            },
        ])?;
        let signature = signer
            .key()
            .sign(
                Pkcs1v15Sign::new::<Sha1>(),
                &Sha1::digest(attributes.to_der()?),
            )
            .map_err(|e| PkiError::Signing(e.to_string()))?;
        let certificate = x509_cert::Certificate::from_der(signer_certificate.as_bytes())?;
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: certificate.tbs_certificate.issuer.clone(),
                serial_number: certificate.tbs_certificate.serial_number.clone(),
            }),
            digest_alg: AlgorithmIdentifierOwned {
                oid: SHA1,
                parameters: None,
            },
            signed_attrs: Some(attributes),
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            signature: OctetString::new(signature)?,
            unsigned_attrs: None,
        };
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![AlgorithmIdentifierOwned {
                oid: SHA1,
                parameters: None,
            }])?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: CTL_CONTENT_TYPE,
                econtent: Some(Any::encode_from(&OctetString::new(content)?)?),
            },
            certificates: Some(CertificateSet(SetOfVec::try_from(vec![
                CertificateChoices::Certificate(certificate),
            ])?)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
        };
        let info = ContentInfo {
            content_type: SIGNED_DATA,
            content: Any::from_der(&signed.to_der()?)?,
        };
        Ok(CtlDer::new(info.to_der()?))
    }
}

/// What a signed trust list says, once its signature is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustListInfo {
    /// The sequence number.
    pub sequence: u32,
    /// When it was signed.
    pub this_update: Timestamp,
    /// SHA-1 thumbprints of the trusted CA certificates.
    pub thumbprints: Vec<Vec<u8>>,
}

impl TrustListInfo {
    /// Whether the list trusts `certificate`.
    pub fn trusts(&self, certificate: &CertificateDer) -> bool {
        self.thumbprints.contains(&thumbprint(certificate))
    }

    /// Reads a CTL and checks that `signer` (the root the reader trusts to sign lists) signed
    /// it; a list that does not verify is an error, not an empty list.
    pub fn verify(der: &CtlDer, signer: &CertificateDer) -> Result<Self, PkiError> {
        let bad = |detail: &str| PkiError::Malformed(format!("certificate trust list: {detail}"));
        let info = ContentInfo::from_der(der.as_bytes())?;
        if info.content_type != SIGNED_DATA {
            return Err(bad("not signed-data"));
        }
        let signed: SignedData = info.content.decode_as()?;
        if signed.encap_content_info.econtent_type != CTL_CONTENT_TYPE {
            return Err(bad("content type is not szOID_CTL"));
        }
        let content = signed
            .encap_content_info
            .econtent
            .as_ref()
            .ok_or_else(|| bad("no content"))?;
        let content = content.decode_as::<OctetString>()?;
        let signer_info = signed
            .signer_infos
            .0
            .iter()
            .next()
            .ok_or_else(|| bad("no signer"))?;
        let attributes = signer_info
            .signed_attrs
            .as_ref()
            .ok_or_else(|| bad("no signed attributes"))?;
        let digest = attributes
            .iter()
            .find(|attribute| attribute.oid == MESSAGE_DIGEST)
            .and_then(|attribute| attribute.values.iter().next())
            .and_then(|value| value.decode_as::<OctetString>().ok())
            .ok_or_else(|| bad("no message digest"))?;
        if digest.as_bytes() != Sha1::digest(content.as_bytes()).as_slice() {
            return Err(bad("the content does not match its digest"));
        }
        let key = CertificateInfo::parse(signer)?.public_key()?;
        key.verify(
            Pkcs1v15Sign::new::<Sha1>(),
            &Sha1::digest(attributes.to_der()?),
            signer_info.signature.as_bytes(),
        )
        .map_err(|_| bad("the signature does not verify with the organisation root"))?;
        let list = CertificateTrustList::from_der(content.as_bytes())?;
        Ok(Self {
            sequence: list.sequence_number,
            this_update: timestamp(list.this_update),
            thumbprints: list
                .trusted_subjects
                .into_iter()
                .map(|subject| subject.identifier.as_bytes().to_vec())
                .collect(),
        })
    }
}
