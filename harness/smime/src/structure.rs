//! Reading the structure of a CMS message without any key: content type, cipher, recipients,
//! signers. Engines share these helpers, and reports show these summaries instead of raw bytes.

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::CmsVersion;
use cms::content_info::ContentInfo;
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, OriginatorInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode, Sequence};
use model::{CertificateDer, Named, Serial, Timestamp};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use crate::algorithms::{Capability, Cipher, Digest, IdentifierKind};
use crate::oids;

/// How a CMS structure names a certificate.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CertificateId {
    /// By issuer name and serial number.
    IssuerAndSerial {
        /// The issuer, DER-encoded, compared byte for byte.
        issuer_der: Vec<u8>,
        /// The serial number.
        serial: Serial,
    },
    /// By subject key identifier.
    SubjectKeyIdentifier(Vec<u8>),
}

impl CertificateId {
    fn from_issuer_and_serial(ias: &IssuerAndSerialNumber) -> Self {
        Self::IssuerAndSerial {
            issuer_der: ias.issuer.to_der().unwrap_or_default(),
            serial: Serial::from_der_integer(ias.serial_number.as_bytes()),
        }
    }

    /// The identifier a recipient info carries.
    pub fn from_recipient(rid: &RecipientIdentifier) -> Self {
        match rid {
            RecipientIdentifier::IssuerAndSerialNumber(ias) => Self::from_issuer_and_serial(ias),
            RecipientIdentifier::SubjectKeyIdentifier(ski) => {
                Self::SubjectKeyIdentifier(ski.0.as_bytes().to_vec())
            }
        }
    }

    /// The identifier a signer info carries.
    pub fn from_signer(sid: &SignerIdentifier) -> Self {
        match sid {
            SignerIdentifier::IssuerAndSerialNumber(ias) => Self::from_issuer_and_serial(ias),
            SignerIdentifier::SubjectKeyIdentifier(ski) => {
                Self::SubjectKeyIdentifier(ski.0.as_bytes().to_vec())
            }
        }
    }

    /// Whether this identifier names `certificate`.
    pub fn matches(&self, certificate: &Certificate) -> bool {
        let tbs = &certificate.tbs_certificate;
        match self {
            Self::IssuerAndSerial { issuer_der, serial } => {
                Serial::from_der_integer(tbs.serial_number.as_bytes()) == *serial
                    && tbs.issuer.to_der().is_ok_and(|der| der == *issuer_der)
            }
            Self::SubjectKeyIdentifier(id) => {
                matches!(tbs.get::<SubjectKeyIdentifier>(), Ok(Some((_, ski))) if ski.0.as_bytes() == id.as_slice())
            }
        }
    }

    /// Every identifier that names the certificate in `der` (none if it does not parse):
    /// exactly the identifiers [`Self::matches_der`] accepts for it.
    pub fn all_for(der: &CertificateDer) -> Vec<Self> {
        let Ok(certificate) = Certificate::from_der(der.as_bytes()) else {
            return Vec::new();
        };
        let tbs = &certificate.tbs_certificate;
        let mut ids = Vec::new();
        if let Ok(issuer_der) = tbs.issuer.to_der() {
            ids.push(Self::IssuerAndSerial {
                issuer_der,
                serial: Serial::from_be_bytes(tbs.serial_number.as_bytes()),
            });
        }
        if let Ok(Some((_, ski))) = tbs.get::<SubjectKeyIdentifier>() {
            ids.push(Self::SubjectKeyIdentifier(ski.0.as_bytes().to_vec()));
        }
        ids
    }

    /// Whether this identifier names the certificate in `der`.
    pub fn matches_der(&self, der: &CertificateDer) -> bool {
        Certificate::from_der(der.as_bytes()).is_ok_and(|certificate| self.matches(&certificate))
    }

    /// Which of the two ways it names a certificate.
    pub fn kind(&self) -> IdentifierKind {
        match self {
            Self::IssuerAndSerial { .. } => IdentifierKind::IssuerAndSerial,
            Self::SubjectKeyIdentifier(_) => IdentifierKind::SubjectKeyIdentifier,
        }
    }

    /// A short form for transcripts: `serial 1a2b…` or `ski 3f4e…`.
    pub fn describe(&self) -> String {
        match self {
            Self::IssuerAndSerial { serial, .. } => format!("issuer-and-serial {serial}"),
            Self::SubjectKeyIdentifier(id) => format!("subject-key-identifier {}", hex(id)),
        }
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `RC2CBCParameter ::= SEQUENCE { rc2ParameterVersion INTEGER, iv OCTET STRING }`
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct Rc2Parameter {
    /// The encoded effective key length (RFC 2268's table).
    pub version: u32,
    /// The initialisation vector.
    pub iv: OctetString,
}

/// RFC 2268's encoding of effective key bits as `rc2ParameterVersion`.
pub fn rc2_version_for_bits(bits: u32) -> u32 {
    match bits {
        40 => 160,
        64 => 120,
        128 => 58,
        other => other,
    }
}

/// The inverse of [`rc2_version_for_bits`]; `None` for a version RFC 2268 does not define.
pub fn rc2_bits_for_version(version: u32) -> Option<u32> {
    match version {
        160 => Some(40),
        120 => Some(64),
        58 => Some(128),
        v if v >= 256 => Some(v),
        _ => None,
    }
}

/// How a reason that names an algorithm kmlab does not implement starts, as opposed to one
/// that says the message is malformed.
pub const UNSUPPORTED: &str = "unsupported";

/// Whether a reason from [`content_cipher`] (or another reader here) says "unsupported"
/// rather than "malformed".
pub fn is_unsupported(reason: &str) -> bool {
    reason.starts_with(UNSUPPORTED)
}

/// An algorithm's OID, with its common name when it is one S/MIME readers meet.
pub fn algorithm_name(oid: &ObjectIdentifier) -> String {
    let name = match *oid {
        oids::DES_CBC => "DES-CBC",
        oids::AES192_CBC => "AES-192-CBC",
        oids::AES192_GCM => "AES-192-GCM",
        oids::SHA224 => "SHA-224",
        oids::RSAES_OAEP => "RSAES-OAEP",
        oids::RSASSA_PSS => "RSASSA-PSS",
        oids::EC_PUBLIC_KEY => "id-ecPublicKey",
        oids::ECDSA_WITH_SHA1 => "ecdsa-with-SHA1",
        oids::ECDSA_WITH_SHA256 => "ecdsa-with-SHA256",
        oids::ECDSA_WITH_SHA384 => "ecdsa-with-SHA384",
        oids::ECDSA_WITH_SHA512 => "ecdsa-with-SHA512",
        oids::ED25519 => "Ed25519",
        _ => return oid.to_string(),
    };
    format!("{oid} ({name})")
}

/// `GCMParameters ::= SEQUENCE { aes-nonce OCTET STRING, aes-ICVlen AES-GCM-ICVlen DEFAULT 12 }`
/// (RFC 5084 §3.2).
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
pub struct GcmParameters {
    /// The nonce.
    pub nonce: OctetString,
    /// The length of the authentication tag in bytes.
    #[asn1(default = "default_icv_len")]
    pub icv_len: u8,
}

fn default_icv_len() -> u8 {
    12
}

/// RFC 5083's authenticated-enveloped-data.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
#[allow(missing_docs)]
pub struct AuthEnvelopedData {
    pub version: CmsVersion,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub originator_info: Option<OriginatorInfo>,
    pub recip_infos: RecipientInfos,
    pub auth_encrypted_content: EncryptedContentInfo,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub auth_attrs: Option<x509_cert::attr::Attributes>,
    pub mac: OctetString,
    #[asn1(
        context_specific = "2",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    pub unauth_attrs: Option<x509_cert::attr::Attributes>,
}

/// An envelope of either kind: enveloped-data, or authenticated-enveloped-data with what
/// authenticates it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Envelope {
    /// Who may open it.
    pub recip_infos: RecipientInfos,
    /// The content cipher and the encrypted content.
    pub encrypted_content: EncryptedContentInfo,
    /// For authenticated-enveloped-data: the additional authenticated data (the DER of the
    /// authenticated attributes as a SET OF, RFC 5083 §2.2, or nothing) and the tag.
    pub authentication: Option<Authentication>,
}

/// What authenticates the content of authenticated-enveloped-data.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Authentication {
    /// The additional authenticated data.
    pub aad: Vec<u8>,
    /// The message authentication code (the GCM tag).
    pub mac: Vec<u8>,
}

/// Decodes a `ContentInfo` holding enveloped-data or authenticated-enveloped-data.
pub fn decode_envelope(der: &[u8]) -> Result<Envelope, String> {
    let info = ContentInfo::from_der(der).map_err(|e| format!("not a CMS ContentInfo: {e}"))?;
    match info.content_type {
        oids::ENVELOPED_DATA => {
            let data: EnvelopedData = info
                .content
                .decode_as()
                .map_err(|e| format!("enveloped-data: {e}"))?;
            Ok(Envelope {
                recip_infos: data.recip_infos,
                encrypted_content: data.encrypted_content,
                authentication: None,
            })
        }
        oids::AUTH_ENVELOPED_DATA => {
            let data: AuthEnvelopedData = info
                .content
                .decode_as()
                .map_err(|e| format!("authenticated-enveloped-data: {e}"))?;
            let aad = match &data.auth_attrs {
                Some(attributes) => attributes
                    .to_der()
                    .map_err(|e| format!("authenticated attributes: {e}"))?,
                None => Vec::new(),
            };
            Ok(Envelope {
                recip_infos: data.recip_infos,
                encrypted_content: data.auth_encrypted_content,
                authentication: Some(Authentication {
                    aad,
                    mac: data.mac.as_bytes().to_vec(),
                }),
            })
        }
        other => Err(format!("content type {other} is not enveloped-data")),
    }
}

/// How a recipient's content key was wrapped (`KeyTransRecipientInfo.keyEncryptionAlgorithm`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyTransport {
    /// RSA with PKCS #1 v1.5 padding (`rsaEncryption`).
    Pkcs1v15,
    /// RSAES-OAEP (RFC 3560), with its parameters.
    Oaep {
        /// The hash of the label.
        hash: Digest,
        /// The hash of MGF1.
        mgf_hash: Digest,
        /// The label (`pSpecified`), usually empty.
        label: Vec<u8>,
    },
}

impl KeyTransport {
    /// Which family of key transport this is.
    pub fn kind(&self) -> KeyTransportKind {
        match self {
            Self::Pkcs1v15 => KeyTransportKind::Pkcs1v15,
            Self::Oaep { .. } => KeyTransportKind::Oaep,
        }
    }
}

/// A family of key transport, without its parameters: what a client's profile lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyTransportKind {
    /// RSA with PKCS #1 v1.5 padding.
    Pkcs1v15,
    /// RSAES-OAEP (RFC 3560).
    Oaep,
}

model::named!(KeyTransportKind { Pkcs1v15 => "rsa-pkcs1-v1.5", Oaep => "rsa-oaep" });

impl KeyTransportKind {
    /// The algorithm as a message names it: its OID and common name.
    pub fn algorithm(self) -> String {
        match self {
            Self::Pkcs1v15 => format!("{} (rsaEncryption)", oids::RSA_ENCRYPTION),
            Self::Oaep => algorithm_name(&oids::RSAES_OAEP),
        }
    }
}

/// Reads a key-encryption algorithm identifier. An algorithm, hash or mask generation
/// function kmlab does not implement is `unsupported …`, naming its OID and where it was
/// found (MSG-09); parameters that do not parse are malformed.
pub fn key_transport(algorithm: &AlgorithmIdentifierOwned) -> Result<KeyTransport, String> {
    match algorithm.oid {
        oids::RSA_ENCRYPTION => Ok(KeyTransport::Pkcs1v15),
        oids::RSAES_OAEP => {
            let Some(parameters) = &algorithm.parameters else {
                // RFC 8017: absent parameters mean every default (SHA-1, MGF1 with SHA-1).
                return Ok(KeyTransport::Oaep {
                    hash: Digest::Sha1,
                    mgf_hash: Digest::Sha1,
                    label: Vec::new(),
                });
            };
            let der = parameters.to_der().map_err(|e| e.to_string())?;
            let params = pkcs1::RsaOaepParams::from_der(&der)
                .map_err(|e| format!("RSAES-OAEP-params: {e}"))?;
            let hash = supported_hash(&params.hash.oid, "OAEP hash", "RSAES-OAEP-params")?;
            let mgf_hash = mgf1_hash(&params.mask_gen, "RSAES-OAEP-params", "OAEP")?;
            if params.p_source.oid != oids::P_SPECIFIED {
                return Err(format!(
                    "{UNSUPPORTED} OAEP label source {} in RSAES-OAEP-params",
                    params.p_source.oid
                ));
            }
            let label = match params.p_source.parameters {
                Some(any) => any
                    .decode_as::<der::asn1::OctetStringRef<'_>>()
                    .map_err(|e| format!("RSAES-OAEP-params label: {e}"))?
                    .as_bytes()
                    .to_vec(),
                None => Vec::new(),
            };
            Ok(KeyTransport::Oaep {
                hash,
                mgf_hash,
                label,
            })
        }
        other => Err(format!(
            "{UNSUPPORTED} key-encryption algorithm {} in KeyTransRecipientInfo",
            algorithm_name(&other)
        )),
    }
}

fn mgf1_hash(
    mask_gen: &spki::AlgorithmIdentifier<spki::AlgorithmIdentifierRef<'_>>,
    structure: &str,
    scheme: &str,
) -> Result<Digest, String> {
    if mask_gen.oid != oids::MGF1 {
        return Err(format!(
            "{UNSUPPORTED} {scheme} mask generation function {} in {structure}",
            mask_gen.oid
        ));
    }
    let hash = mask_gen
        .parameters
        .as_ref()
        .map_or(oids::SHA1, |parameters| parameters.oid);
    supported_hash(&hash, &format!("{scheme} MGF1 hash"), structure)
}

/// The digest `oid` names, or `unsupported <what> <oid (name)> in <structure>` (MSG-09).
fn supported_hash(oid: &ObjectIdentifier, what: &str, structure: &str) -> Result<Digest, String> {
    Digest::from_oid(oid).ok_or_else(|| {
        format!(
            "{UNSUPPORTED} {what} {} in {structure}",
            algorithm_name(oid)
        )
    })
}

/// How a signer's signature is computed (`SignerInfo.signatureAlgorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// RSA with PKCS #1 v1.5 padding over the digest of `SignerInfo.digestAlgorithm`.
    Pkcs1v15,
    /// RSASSA-PSS (RFC 4056), with its parameters.
    Pss {
        /// The hash of the signed bytes and of MGF1 (kmlab reads PSS with one hash for both).
        hash: Digest,
        /// The salt length in bytes.
        salt_len: usize,
    },
    /// ECDSA (RFC 5753, RFC 5754) over the hash its algorithm names.
    Ecdsa {
        /// The hash of the signed bytes.
        hash: Digest,
    },
    /// Ed25519 (RFC 8419): PureEdDSA over the signed attributes' DER, or the content.
    Ed25519,
}

impl SignatureScheme {
    /// Which family of signature this is.
    pub fn kind(&self) -> SignatureKind {
        match self {
            Self::Pkcs1v15 => SignatureKind::Pkcs1v15,
            Self::Pss { .. } => SignatureKind::Pss,
            Self::Ecdsa { .. } => SignatureKind::Ecdsa,
            Self::Ed25519 => SignatureKind::Ed25519,
        }
    }
}

/// A family of signature scheme, without its parameters: what a client's profile lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignatureKind {
    /// RSA with PKCS #1 v1.5 padding.
    Pkcs1v15,
    /// RSASSA-PSS (RFC 4056).
    Pss,
    /// ECDSA over P-256, P-384 or P-521 (RFC 5753).
    Ecdsa,
    /// Ed25519 (RFC 8419).
    Ed25519,
}

model::named!(SignatureKind {
    Pkcs1v15 => "rsa-pkcs1-v1.5",
    Pss => "rsa-pss",
    Ecdsa => "ecdsa",
    Ed25519 => "ed25519",
});

impl SignatureKind {
    /// The algorithm as a message names it: its OID and common name.
    pub fn algorithm(self) -> String {
        match self {
            Self::Pkcs1v15 => format!("{} (rsaEncryption)", oids::RSA_ENCRYPTION),
            Self::Pss => algorithm_name(&oids::RSASSA_PSS),
            Self::Ecdsa => algorithm_name(&oids::EC_PUBLIC_KEY),
            Self::Ed25519 => algorithm_name(&oids::ED25519),
        }
    }
}

/// The signature scheme of every signer of a signed-data message (BER is read too), in the
/// order of its signer infos; empty when it is not signed-data.
pub fn signature_schemes(message: &[u8]) -> Vec<Result<SignatureScheme, String>> {
    let der = crate::ber::to_der(message);
    decode_signed(&der).map_or_else(
        |_| Vec::new(),
        |signed| signed.signer_infos.0.iter().map(signature_scheme).collect(),
    )
}

/// Reads a signer's signature algorithm: `unsupported …` with the OID and where it was found
/// for what kmlab does not implement, malformed parameters otherwise.
pub fn signature_scheme(info: &SignerInfo) -> Result<SignatureScheme, String> {
    match info.signature_algorithm.oid {
        oids::RSA_ENCRYPTION
        | oids::SHA1_WITH_RSA
        | oids::SHA256_WITH_RSA
        | oids::SHA384_WITH_RSA
        | oids::SHA512_WITH_RSA => Ok(SignatureScheme::Pkcs1v15),
        oids::RSASSA_PSS => {
            let Some(parameters) = &info.signature_algorithm.parameters else {
                return Err("RSASSA-PSS without parameters".into());
            };
            let der = parameters.to_der().map_err(|e| e.to_string())?;
            let params = pkcs1::RsaPssParams::from_der(&der)
                .map_err(|e| format!("RSASSA-PSS-params: {e}"))?;
            let hash = supported_hash(&params.hash.oid, "PSS hash", "RSASSA-PSS-params")?;
            let mgf_hash = mgf1_hash(&params.mask_gen, "RSASSA-PSS-params", "PSS")?;
            if mgf_hash != hash {
                return Err(format!(
                    "{UNSUPPORTED} PSS with MGF1 over {mgf_hash} and the message over {hash} in RSASSA-PSS-params"
                ));
            }
            Ok(SignatureScheme::Pss {
                hash,
                salt_len: usize::from(params.salt_len),
            })
        }
        oids::ECDSA_WITH_SHA1 => Ok(SignatureScheme::Ecdsa { hash: Digest::Sha1 }),
        oids::ECDSA_WITH_SHA256 => Ok(SignatureScheme::Ecdsa {
            hash: Digest::Sha256,
        }),
        oids::ECDSA_WITH_SHA384 => Ok(SignatureScheme::Ecdsa {
            hash: Digest::Sha384,
        }),
        oids::ECDSA_WITH_SHA512 => Ok(SignatureScheme::Ecdsa {
            hash: Digest::Sha512,
        }),
        // RFC 5753 §2.1.1 once allowed the key's own algorithm, the hash taken from the digest
        // algorithm.
        oids::EC_PUBLIC_KEY => Ok(SignatureScheme::Ecdsa {
            hash: supported_hash(&info.digest_alg.oid, "digest", "SignerInfo")?,
        }),
        oids::ED25519 => Ok(SignatureScheme::Ed25519),
        other => Err(format!(
            "{UNSUPPORTED} signature algorithm {} in SignerInfo",
            algorithm_name(&other)
        )),
    }
}

/// Reads a content-encryption algorithm identifier: the cipher and its IV (for GCM, its
/// nonce).
pub fn content_cipher(algorithm: &AlgorithmIdentifierOwned) -> Result<(Cipher, Vec<u8>), String> {
    let parameters = algorithm
        .parameters
        .as_ref()
        .ok_or("the cipher has no parameters")?;
    let octets = |any: &der::Any| -> Result<Vec<u8>, String> {
        Ok(any
            .decode_as::<OctetString>()
            .map_err(|e| e.to_string())?
            .as_bytes()
            .to_vec())
    };
    let (cipher, iv) = match algorithm.oid {
        oids::AES128_CBC => (Cipher::Aes128Cbc, octets(parameters)?),
        oids::AES256_CBC => (Cipher::Aes256Cbc, octets(parameters)?),
        oids::DES_EDE3_CBC => (Cipher::DesEde3Cbc, octets(parameters)?),
        oids::AES128_GCM | oids::AES256_GCM => {
            let cipher = if algorithm.oid == oids::AES128_GCM {
                Cipher::Aes128Gcm
            } else {
                Cipher::Aes256Gcm
            };
            let gcm: GcmParameters = parameters
                .decode_as()
                .map_err(|e| format!("GCMParameters: {e}"))?;
            if gcm.nonce.as_bytes().len() != cipher.block_len() {
                return Err(format!(
                    "{UNSUPPORTED} {} nonce of {} bytes (kmlab reads the 12 bytes RFC 5084 recommends)",
                    cipher.name(),
                    gcm.nonce.as_bytes().len()
                ));
            }
            if !(12..=16).contains(&gcm.icv_len) {
                return Err(format!(
                    "GCMParameters: an ICV of {} bytes (RFC 5084 allows 12 to 16)",
                    gcm.icv_len
                ));
            }
            (cipher, gcm.nonce.as_bytes().to_vec())
        }
        oids::RC2_CBC => {
            let parameter: Rc2Parameter = parameters.decode_as().map_err(|e| e.to_string())?;
            let version = parameter.version;
            let bits = rc2_bits_for_version(version)
                .ok_or_else(|| format!("RC2 parameter version {version} is not defined"))?;
            let cipher = Cipher::rc2_with_bits(bits)
                .ok_or_else(|| format!("RC2 with {bits} effective bits is not supported"))?;
            (cipher, parameter.iv.as_bytes().to_vec())
        }
        other => {
            return Err(format!(
                "{UNSUPPORTED} content-encryption algorithm {}",
                algorithm_name(&other)
            ));
        }
    };
    if iv.len() != cipher.block_len() {
        return Err(format!(
            "{} needs a {}-byte IV, got {}",
            cipher.name(),
            cipher.block_len(),
            iv.len()
        ));
    }
    Ok((cipher, iv))
}

/// The content-encryption algorithm identifier for `cipher` with its IV (RC2 carries its
/// effective key length in the parameters too): the inverse of [`content_cipher`].
pub fn cipher_algorithm(cipher: Cipher, iv: &[u8]) -> der::Result<AlgorithmIdentifierOwned> {
    let parameters = match cipher {
        Cipher::Rc2Cbc40 | Cipher::Rc2Cbc64 | Cipher::Rc2Cbc128 => {
            der::Any::encode_from(&Rc2Parameter {
                version: rc2_version_for_bits(cipher.key_bits()),
                iv: OctetString::new(iv)?,
            })?
        }
        _ => der::Any::encode_from(&OctetString::new(iv)?)?,
    };
    Ok(AlgorithmIdentifierOwned {
        oid: cipher.oid(),
        parameters: Some(parameters),
    })
}

/// What an enveloped-data message says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeSummary {
    /// The content cipher, or why it is not one kmlab knows.
    pub cipher: Result<Cipher, String>,
    /// The algorithm identifier as written in the message.
    pub cipher_oid: ObjectIdentifier,
    /// One entry per key-transport recipient info.
    pub recipients: Vec<CertificateId>,
    /// Each key-transport recipient info's key transport, in the order of `recipients`, or
    /// why kmlab does not read it.
    pub key_transports: Vec<Result<KeyTransport, String>>,
    /// Recipient infos of other kinds (key agreement, KEK, password).
    pub other_recipient_infos: usize,
    /// Whether it is authenticated-enveloped-data (RFC 5083) rather than enveloped-data.
    pub authenticated: bool,
}

/// One signer of a signed-data message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignerSummary {
    /// How the signer is identified.
    pub id: CertificateId,
    /// The digest algorithm.
    pub digest: Result<Digest, ObjectIdentifier>,
    /// The signing time attribute.
    pub signing_time: Option<Timestamp>,
    /// The SMIMECapabilities attribute.
    pub capabilities: Vec<Capability>,
}

/// What a signed-data message says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedSummary {
    /// Whether the content is absent (detached signature).
    pub detached: bool,
    /// The signers.
    pub signers: Vec<SignerSummary>,
    /// How many certificates the message carries.
    pub certificates: usize,
}

/// The structure of a CMS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmsSummary {
    /// enveloped-data
    Enveloped(EnvelopeSummary),
    /// signed-data
    Signed(SignedSummary),
    /// Any other content type.
    Other {
        /// The content type.
        content_type: ObjectIdentifier,
    },
}

/// Decodes a `ContentInfo` and its inner enveloped-data.
pub fn decode_enveloped(der: &[u8]) -> Result<EnvelopedData, String> {
    let info = ContentInfo::from_der(der).map_err(|e| format!("not a CMS ContentInfo: {e}"))?;
    if info.content_type != oids::ENVELOPED_DATA {
        return Err(format!(
            "content type {} is not enveloped-data",
            info.content_type
        ));
    }
    info.content
        .decode_as()
        .map_err(|e| format!("enveloped-data: {e}"))
}

/// Decodes a `ContentInfo` and its inner signed-data.
pub fn decode_signed(der: &[u8]) -> Result<SignedData, String> {
    let info = ContentInfo::from_der(der).map_err(|e| format!("not a CMS ContentInfo: {e}"))?;
    if info.content_type != oids::SIGNED_DATA {
        return Err(format!(
            "content type {} is not signed-data",
            info.content_type
        ));
    }
    info.content
        .decode_as()
        .map_err(|e| format!("signed-data: {e}"))
}

/// Summarises any CMS message.
pub fn summarize(der: &[u8]) -> Result<CmsSummary, String> {
    let info = ContentInfo::from_der(der).map_err(|e| format!("not a CMS ContentInfo: {e}"))?;
    match info.content_type {
        oids::ENVELOPED_DATA | oids::AUTH_ENVELOPED_DATA => Ok(CmsSummary::Enveloped(
            summarize_envelope(&decode_envelope(der)?),
        )),
        oids::SIGNED_DATA => Ok(CmsSummary::Signed(summarize_signed(&decode_signed(der)?))),
        content_type => Ok(CmsSummary::Other { content_type }),
    }
}

/// Summarises decoded enveloped-data.
pub fn summarize_enveloped(data: &EnvelopedData) -> EnvelopeSummary {
    summarize_parts(&data.recip_infos, &data.encrypted_content, false)
}

/// Summarises a decoded envelope of either kind.
pub fn summarize_envelope(envelope: &Envelope) -> EnvelopeSummary {
    summarize_parts(
        &envelope.recip_infos,
        &envelope.encrypted_content,
        envelope.authentication.is_some(),
    )
}

fn summarize_parts(
    recip_infos: &RecipientInfos,
    encrypted_content: &EncryptedContentInfo,
    authenticated: bool,
) -> EnvelopeSummary {
    let algorithm = &encrypted_content.content_enc_alg;
    let mut recipients = Vec::new();
    let mut key_transports = Vec::new();
    let mut other = 0;
    for info in recip_infos.0.iter() {
        match info {
            RecipientInfo::Ktri(ktri) => {
                recipients.push(CertificateId::from_recipient(&ktri.rid));
                key_transports.push(key_transport(&ktri.key_enc_alg));
            }
            _ => other += 1,
        }
    }
    EnvelopeSummary {
        cipher: content_cipher(algorithm).map(|(cipher, _)| cipher),
        cipher_oid: algorithm.oid,
        recipients,
        key_transports,
        other_recipient_infos: other,
        authenticated,
    }
}

/// Summarises decoded signed-data.
pub fn summarize_signed(data: &SignedData) -> SignedSummary {
    let signers = data
        .signer_infos
        .0
        .iter()
        .map(|info| {
            let attributes = info.signed_attrs.as_ref();
            SignerSummary {
                id: CertificateId::from_signer(&info.sid),
                digest: Digest::from_oid(&info.digest_alg.oid).ok_or(info.digest_alg.oid),
                signing_time: attributes.and_then(signing_time),
                capabilities: attributes.map(capabilities).unwrap_or_default(),
            }
        })
        .collect();
    SignedSummary {
        detached: data.encap_content_info.econtent.is_none(),
        signers,
        certificates: data.certificates.as_ref().map_or(0, |set| set.0.len()),
    }
}

/// The certificates a signed-data message carries, as DER.
pub fn carried_certificates(data: &SignedData) -> Vec<CertificateDer> {
    let Some(set) = &data.certificates else {
        return Vec::new();
    };
    set.0
        .iter()
        .filter_map(|choice| match choice {
            cms::cert::CertificateChoices::Certificate(certificate) => {
                certificate.to_der().ok().map(CertificateDer::new)
            }
            cms::cert::CertificateChoices::Other(_) => None,
        })
        .collect()
}

/// The values of the signed attribute `oid` (empty if absent).
pub fn attribute_values(
    attributes: &x509_cert::attr::Attributes,
    oid: ObjectIdentifier,
) -> Vec<&der::Any> {
    attributes
        .iter()
        .filter(|attribute| attribute.oid == oid)
        .flat_map(|attribute| attribute.values.iter())
        .collect()
}

/// The signing-time attribute, if present and readable.
pub fn signing_time(attributes: &x509_cert::attr::Attributes) -> Option<Timestamp> {
    let value = attribute_values(attributes, oids::SIGNING_TIME)
        .into_iter()
        .next()?;
    let time = x509_cert::time::Time::from_der(&value.to_der().ok()?).ok()?;
    i64::try_from(time.to_unix_duration().as_secs())
        .ok()
        .map(Timestamp::from_unix)
}

/// The SMIMECapabilities attribute: the ciphers kmlab recognises, in the sender's order.
pub fn capabilities(attributes: &x509_cert::attr::Attributes) -> Vec<Capability> {
    let Some(value) = attribute_values(attributes, oids::SMIME_CAPABILITIES)
        .into_iter()
        .next()
    else {
        return Vec::new();
    };
    let Ok(list) = value.decode_as::<Vec<AlgorithmIdentifierOwned>>() else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|entry| {
            let cipher = match entry.oid {
                oids::AES128_CBC => Cipher::Aes128Cbc,
                oids::AES256_CBC => Cipher::Aes256Cbc,
                oids::DES_EDE3_CBC => Cipher::DesEde3Cbc,
                oids::RC2_CBC => {
                    let bits: u32 = entry.parameters.as_ref()?.decode_as().ok()?;
                    Cipher::rc2_with_bits(bits)?
                }
                _ => return None,
            };
            Some(Capability::Cipher(cipher))
        })
        .collect()
}

/// The SMIMECapabilities attribute value for `capabilities`.
pub fn capabilities_value(capabilities: &[Capability]) -> Result<der::Any, der::Error> {
    let mut list = Vec::new();
    for capability in capabilities {
        let Capability::Cipher(cipher) = capability;
        let parameters = match cipher {
            Cipher::Rc2Cbc40 | Cipher::Rc2Cbc64 | Cipher::Rc2Cbc128 => {
                Some(der::Any::encode_from(&cipher.key_bits())?)
            }
            _ => None,
        };
        list.push(AlgorithmIdentifierOwned {
            oid: cipher.oid(),
            parameters,
        });
    }
    der::Any::encode_from(&list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rc2_versions_follow_rfc_2268() {
        for bits in [40, 64, 128] {
            assert_eq!(rc2_bits_for_version(rc2_version_for_bits(bits)), Some(bits));
        }
        assert_eq!(rc2_bits_for_version(300), Some(300));
        assert_eq!(rc2_bits_for_version(7), None);
    }

    #[test]
    fn capabilities_round_trip() {
        let wanted = [
            Capability::Cipher(Cipher::Aes128Cbc),
            Capability::Cipher(Cipher::DesEde3Cbc),
            Capability::Cipher(Cipher::Rc2Cbc128),
            Capability::Cipher(Cipher::Rc2Cbc40),
        ];
        let value = capabilities_value(&wanted).unwrap();
        let attribute = x509_cert::attr::Attribute {
            oid: oids::SMIME_CAPABILITIES,
            values: der::asn1::SetOfVec::try_from(vec![value]).unwrap(),
        };
        let mut attributes = x509_cert::attr::Attributes::new();
        attributes.insert(attribute).unwrap();
        assert_eq!(capabilities(&attributes), wanted);
    }
}
