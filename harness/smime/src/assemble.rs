//! Putting CMS structures together from their parts, for every engine.
//!
//! An engine does the cryptography (hashing, RSA, the content cipher) with its own library;
//! the DER around the results is the same for all of them and is built here. Sharing the
//! layout keeps engines interchangeable byte for byte where their cryptography is
//! deterministic, and keeps the signed attributes (signing time from the virtual clock, the
//! sender's SMIMECapabilities) under kmlab's control rather than a library's.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use model::{CertificateDer, Timestamp};
use rand_core::CryptoRngCore;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::structure::capabilities_value;
use crate::{Cipher, CmsDer, Digest, EngineError, IdentifierKind, Recipient, SignRequest, oids};

/// The signed attributes of a signature, and the DER the signature is computed over.
#[derive(Debug, Clone)]
pub struct SignedAttributes {
    attributes: SetOfVec<Attribute>,
    der: Vec<u8>,
}

impl SignedAttributes {
    /// Content type, signing time, message digest and (if any) SMIMECapabilities, in that
    /// order, for content whose digest is `content_digest`.
    pub fn new(request: &SignRequest<'_>, content_digest: &[u8]) -> Result<Self, EngineError> {
        let mut attributes = vec![
            attribute(
                oids::CONTENT_TYPE,
                Any::encode_from(&oids::DATA).map_err(encoding)?,
            )?,
            attribute(
                oids::SIGNING_TIME,
                Any::encode_from(
                    &cms_time(request.signing_time).map_err(|e| unusable("signing time", e))?,
                )
                .map_err(encoding)?,
            )?,
            attribute(
                oids::MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(content_digest).map_err(encoding)?)
                    .map_err(encoding)?,
            )?,
        ];
        if !request.capabilities.is_empty() {
            let value = capabilities_value(request.capabilities).map_err(encoding)?;
            attributes.push(attribute(oids::SMIME_CAPABILITIES, value)?);
        }
        let attributes = SetOfVec::try_from(attributes).map_err(encoding)?;
        let der = attributes.to_der().map_err(encoding)?;
        Ok(Self { attributes, der })
    }

    /// The bytes the signer's key signs (the attributes as a DER `SET OF`).
    pub fn to_be_signed(&self) -> &[u8] {
        &self.der
    }
}

/// A signed-data `ContentInfo` with one signer whose `signature` covers `attributes`.
pub fn signed_data(
    request: &SignRequest<'_>,
    attributes: SignedAttributes,
    signature: Vec<u8>,
) -> Result<CmsDer, EngineError> {
    let certificate = parse_certificate(&request.signer.certificate)?;
    let (version, sid) = match request.identifier {
        IdentifierKind::IssuerAndSerial => (
            CmsVersion::V1,
            SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial(&certificate)),
        ),
        IdentifierKind::SubjectKeyIdentifier => (
            CmsVersion::V3,
            SignerIdentifier::SubjectKeyIdentifier(key_identifier(&certificate)?),
        ),
    };
    let signer_info = SignerInfo {
        version,
        sid,
        digest_alg: digest_algorithm(request.digest),
        signed_attrs: Some(attributes.attributes),
        signature_algorithm: rsa_algorithm(),
        signature: OctetString::new(signature).map_err(encoding)?,
        unsigned_attrs: None,
    };
    let mut certificates = vec![cms::cert::CertificateChoices::Certificate(certificate)];
    for extra in &request.signer.chain {
        certificates.push(cms::cert::CertificateChoices::Certificate(
            parse_certificate(extra)?,
        ));
    }
    let econtent = if request.detached {
        None
    } else {
        Some(
            Any::encode_from(&OctetString::new(request.content).map_err(encoding)?)
                .map_err(encoding)?,
        )
    };
    let signed = SignedData {
        version,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm(request.digest)])
            .map_err(encoding)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: oids::DATA,
            econtent,
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(certificates).map_err(encoding)?,
        )),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).map_err(encoding)?),
    };
    content_info(oids::SIGNED_DATA, &signed)
}

/// An enveloped-data `ContentInfo` with key-transport recipient infos: `encrypted_keys[i]` is
/// the content key, RSA-encrypted (PKCS #1 v1.5) to `recipients[i]`'s certificate.
pub fn enveloped_data(
    cipher: Cipher,
    iv: &[u8],
    ciphertext: Vec<u8>,
    recipients: &[Recipient],
    encrypted_keys: &[Vec<u8>],
) -> Result<CmsDer, EngineError> {
    let (infos, any_key_identifier) = recipient_infos(recipients, encrypted_keys)?;
    let enveloped = EnvelopedData {
        version: if any_key_identifier {
            CmsVersion::V2
        } else {
            CmsVersion::V0
        },
        originator_info: None,
        recip_infos: infos,
        encrypted_content: EncryptedContentInfo {
            content_type: oids::DATA,
            content_enc_alg: crate::structure::cipher_algorithm(cipher, iv).map_err(encoding)?,
            encrypted_content: Some(OctetString::new(ciphertext).map_err(encoding)?),
        },
        unprotected_attrs: None,
    };
    content_info(oids::ENVELOPED_DATA, &enveloped)
}

/// An authenticated-enveloped-data `ContentInfo` (RFC 5083) for an AES-GCM `cipher` (RFC
/// 5084): the `nonce` and the tag's length in the algorithm's `GCMParameters`, no
/// authenticated attributes, the GCM `tag` as the `mac`; recipient infos as for
/// [`enveloped_data`]. Its version is always 0.
pub fn auth_enveloped_data(
    cipher: Cipher,
    nonce: &[u8],
    ciphertext: Vec<u8>,
    tag: &[u8],
    recipients: &[Recipient],
    encrypted_keys: &[Vec<u8>],
) -> Result<CmsDer, EngineError> {
    if !cipher.is_authenticated() {
        return Err(unusable(
            "cipher",
            format!("{cipher} is not an authenticated cipher"),
        ));
    }
    let (infos, _) = recipient_infos(recipients, encrypted_keys)?;
    let enveloped = crate::structure::AuthEnvelopedData {
        version: CmsVersion::V0,
        originator_info: None,
        recip_infos: infos,
        auth_encrypted_content: EncryptedContentInfo {
            content_type: oids::DATA,
            content_enc_alg: crate::structure::cipher_algorithm(cipher, nonce).map_err(encoding)?,
            encrypted_content: Some(OctetString::new(ciphertext).map_err(encoding)?),
        },
        auth_attrs: None,
        mac: OctetString::new(tag).map_err(encoding)?,
        unauth_attrs: None,
    };
    content_info(oids::AUTH_ENVELOPED_DATA, &enveloped)
}

/// The length in bytes of the GCM tag kmlab's envelopes carry (RFC 5084 §3.2: 16 is what
/// RFC 8551 senders use).
pub const GCM_TAG_LEN: usize = 16;

/// Key-transport recipient infos, and whether any names its certificate by subject key
/// identifier (which makes enveloped-data version 2).
fn recipient_infos(
    recipients: &[Recipient],
    encrypted_keys: &[Vec<u8>],
) -> Result<(RecipientInfos, bool), EngineError> {
    let mut infos = Vec::with_capacity(recipients.len());
    let mut any_key_identifier = false;
    for (recipient, encrypted_key) in recipients.iter().zip(encrypted_keys) {
        let certificate = parse_certificate(&recipient.certificate)?;
        let (ktri_version, rid) = match recipient.identifier {
            IdentifierKind::IssuerAndSerial => (
                CmsVersion::V0,
                RecipientIdentifier::IssuerAndSerialNumber(issuer_and_serial(&certificate)),
            ),
            IdentifierKind::SubjectKeyIdentifier => {
                any_key_identifier = true;
                (
                    CmsVersion::V2,
                    RecipientIdentifier::SubjectKeyIdentifier(key_identifier(&certificate)?),
                )
            }
        };
        infos.push(RecipientInfo::Ktri(KeyTransRecipientInfo {
            version: ktri_version,
            rid,
            key_enc_alg: rsa_algorithm(),
            enc_key: OctetString::new(encrypted_key.as_slice()).map_err(encoding)?,
        }));
    }
    Ok((
        RecipientInfos(SetOfVec::try_from(infos).map_err(encoding)?),
        any_key_identifier,
    ))
}

/// The content key and IV of an envelope, drawn from `rng` in this order (the key, with odd
/// parity set for Triple DES, then the IV; for AES-GCM the IV is the 12-byte nonce). Every built-in engine draws them the same way, so
/// the same generator gives the same envelope whichever engine does the arithmetic.
pub fn content_key_and_iv(cipher: Cipher, rng: &mut dyn CryptoRngCore) -> (Vec<u8>, Vec<u8>) {
    let mut content_key = vec![0u8; cipher.key_len()];
    rng.fill_bytes(&mut content_key);
    if cipher == Cipher::DesEde3Cbc {
        set_des_parity(&mut content_key);
    }
    let mut iv = vec![0u8; cipher.block_len()];
    rng.fill_bytes(&mut iv);
    (content_key, iv)
}

/// DES keys carry odd parity in the low bit of each byte; OpenSSL checks it.
fn set_des_parity(key: &mut [u8]) {
    for byte in key {
        let ones = (*byte >> 1).count_ones();
        *byte = (*byte & 0xfe) | u8::from(ones % 2 == 0);
    }
}

/// The PKCS #1 v1.5 encryption block (RFC 8017 §7.2.1, `00 02 PS 00 M`) that wraps
/// `content_key` for a modulus of `modulus_len` bytes, its non-zero padding drawn from `rng`
/// exactly as the `rsa` crate draws it: the whole padding at once, then each zero byte drawn
/// again, one byte at a time, until it is not zero. An engine that raises this block to the
/// recipient's public exponent itself gives the bytes the `rsa` crate gives.
pub fn key_transport_block(
    content_key: &[u8],
    modulus_len: usize,
    rng: &mut dyn CryptoRngCore,
) -> Result<Vec<u8>, EngineError> {
    if content_key.len() + 11 > modulus_len {
        return Err(unusable(
            "recipient key",
            format!(
                "a {}-byte modulus cannot wrap a {}-byte content key",
                modulus_len,
                content_key.len()
            ),
        ));
    }
    let padding_end = modulus_len - content_key.len() - 1;
    let mut block = vec![0u8; modulus_len];
    block[1] = 2;
    let padding = &mut block[2..padding_end];
    rng.fill_bytes(padding);
    for byte in padding.iter_mut() {
        while *byte == 0 {
            rng.fill_bytes(std::slice::from_mut(byte));
        }
    }
    block[padding_end + 1..].copy_from_slice(content_key);
    Ok(block)
}

/// The public key of a certificate, as DER `SubjectPublicKeyInfo`.
pub fn public_key_info(certificate: &CertificateDer) -> Result<Vec<u8>, EngineError> {
    parse_certificate(certificate)?
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(encoding)
}

/// Whether `certificate` can be named by subject key identifier (only v3 ones with the
/// extension can).
pub fn has_key_identifier(certificate: &CertificateDer) -> bool {
    parse_certificate(certificate).is_ok_and(|parsed| key_identifier(&parsed).is_ok())
}

/// A failure to use an input, for engines' error paths.
pub fn unusable(what: &'static str, detail: impl std::fmt::Display) -> EngineError {
    EngineError::Unusable {
        what,
        detail: detail.to_string(),
    }
}

/// An encoding failure, for engines' error paths.
pub fn encoding(error: impl std::fmt::Display) -> EngineError {
    EngineError::Encoding(error.to_string())
}

fn rsa_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oids::RSA_ENCRYPTION,
        parameters: Some(Any::null()),
    }
}

fn digest_algorithm(digest: Digest) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: digest.oid(),
        parameters: None,
    }
}

fn attribute(oid: der::asn1::ObjectIdentifier, value: Any) -> Result<Attribute, EngineError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).map_err(encoding)?,
    })
}

fn content_info<T: Encode>(
    content_type: der::asn1::ObjectIdentifier,
    content: &T,
) -> Result<CmsDer, EngineError> {
    let content = Any::from_der(&content.to_der().map_err(encoding)?).map_err(encoding)?;
    let info = ContentInfo {
        content_type,
        content,
    };
    Ok(CmsDer::new(info.to_der().map_err(encoding)?))
}

fn parse_certificate(der: &CertificateDer) -> Result<Certificate, EngineError> {
    Certificate::from_der(der.as_bytes()).map_err(|e| unusable("certificate", e))
}

fn issuer_and_serial(certificate: &Certificate) -> IssuerAndSerialNumber {
    IssuerAndSerialNumber {
        issuer: certificate.tbs_certificate.issuer.clone(),
        serial_number: certificate.tbs_certificate.serial_number.clone(),
    }
}

fn key_identifier(certificate: &Certificate) -> Result<SubjectKeyIdentifier, EngineError> {
    match certificate.tbs_certificate.get::<SubjectKeyIdentifier>() {
        Ok(Some((_, ski))) => Ok(ski),
        _ => Err(unusable(
            "certificate",
            "it has no subject key identifier (a v1 certificate can only be named by issuer and serial)",
        )),
    }
}

/// UTCTime up to 2049, GeneralizedTime from 2050 (RFC 5652 §11.3).
fn cms_time(at: Timestamp) -> Result<x509_cert::time::Time, String> {
    let seconds = u64::try_from(at.unix()).map_err(|_| format!("{at} is before 1970"))?;
    let duration = std::time::Duration::from_secs(seconds);
    let time = if at.year() < 2050 {
        der::asn1::UtcTime::from_unix_duration(duration).map(x509_cert::time::Time::UtcTime)
    } else {
        der::asn1::GeneralizedTime::from_unix_duration(duration)
            .map(x509_cert::time::Time::GeneralTime)
    };
    time.map_err(|e| e.to_string())
}
