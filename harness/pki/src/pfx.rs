//! PKCS #12 files (RFC 7292): a user's keys and certificates in the one file a real mail
//! client imports.
//!
//! Writing is deterministic: every salt and IV comes from the generator the caller passes
//! (OpenSSL's builder draws its own, which is why kmlab builds the file itself). Keys go in
//! PKCS #8 shrouded key bags under PBES2 (PBKDF2 with HMAC-SHA-256, AES-256-CBC); the
//! certificates in one PBES2-encrypted safe; the whole is protected by an HMAC-SHA-256 MAC keyed
//! with the RFC 7292 appendix B derivation, as OpenSSL 3 writes them. Each key and its
//! certificate share a `localKeyId` (the certificate's SHA-1 thumbprint) and a friendly name,
//! which is how clients pair them.
//!
//! Reading also takes the older files Windows and earlier OpenSSL and NSS wrote: keys under
//! `pbeWithSHAAnd3-KeyTripleDES-CBC`, certificates under `pbeWithSHAAnd40BitRC2-CBC`, MACs
//! with SHA-1.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut, InnerIvInit, KeyIvInit};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::encrypted_data::EncryptedData;
use cms::enveloped_data::EncryptedContentInfo;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_DATA, ID_ENCRYPTED_DATA};
use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use der::asn1::{BmpString, OctetString, SetOfVec};
use der::{Any, Decode, Encode, Sequence};
use hmac::digest::KeyInit;
use hmac::{Mac, SimpleHmac};
use model::{CertificateDer, PrivateKeyDer};
use pkcs12::kdf::{Pkcs12KeyType, derive_key_utf8};
use pkcs12::mac_data::MacData;
use pkcs12::pbe_params::Pkcs12PbeParams;
use pkcs12::pfx::{Pfx, Version};
use rand_core::RngCore;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;

use crate::CertificateInfo;

/// PBKDF2 and MAC iterations, OpenSSL's default.
pub const PKCS12_ITERATIONS: u32 = 2048;

const FRIENDLY_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.20");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");

/// A private key with its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs12Key {
    /// The friendly name clients show (`alice enc#1`).
    pub name: Option<String>,
    /// The certificate.
    pub certificate: CertificateDer,
    /// The private key.
    pub key: PrivateKeyDer,
}

/// A certificate that travels without a key (a CA certificate of the chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs12Certificate {
    /// The friendly name, if any.
    pub name: Option<String>,
    /// The certificate.
    pub certificate: CertificateDer,
}

/// What a PKCS #12 file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pkcs12Contents {
    /// Every key, paired with its certificate, in file order.
    pub keys: Vec<Pkcs12Key>,
    /// Every other certificate, in file order.
    pub certificates: Vec<Pkcs12Certificate>,
}

/// Why a PKCS #12 file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum Pkcs12Error {
    /// The structure does not parse or encode.
    #[error("malformed PKCS #12: {0}")]
    Der(#[from] der::Error),
    /// A key does not parse or encode.
    #[error("a private key: {0}")]
    Key(#[from] pkcs8::Error),
    /// The MAC does not check: a wrong password, or a changed file.
    #[error("the password is wrong or the file was changed (its MAC does not check)")]
    MacMismatch,
    /// A safe or key could not be decrypted with the password.
    #[error("cannot decrypt with this password: {0}")]
    Decrypt(String),
    /// An algorithm kmlab does not read.
    #[error("unsupported algorithm {0}")]
    Unsupported(ObjectIdentifier),
    /// A structure is not what it claims to be.
    #[error("{0}")]
    Malformed(String),
}

/// Builds a PKCS #12 file of `keys` (each with its certificate) and `chain` (CA
/// certificates), protected by `password`; salts and IVs are drawn from `rng`.
pub fn build_pkcs12(
    keys: &[Pkcs12Key],
    chain: &[Pkcs12Certificate],
    password: &str,
    rng: &mut impl RngCore,
) -> Result<Vec<u8>, Pkcs12Error> {
    let mut certificate_bags = Vec::new();
    let mut key_bags = Vec::new();
    for key in keys {
        let id = Sha1::digest(key.certificate.as_bytes()).to_vec();
        let attributes = bag_attributes(key.name.as_deref(), Some(&id))?;
        certificate_bags.push(certificate_bag(&key.certificate, attributes.clone())?);
        let info = pkcs8::PrivateKeyInfo::try_from(key.key.as_bytes())?;
        let (salt, iv) = (random::<16>(rng), random::<16>(rng));
        let params =
            pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PKCS12_ITERATIONS, &salt, &iv)
                .map_err(|e| Pkcs12Error::Malformed(e.to_string()))?;
        let shrouded = info
            .encrypt_with_params(params, password)
            .map_err(|e| Pkcs12Error::Malformed(e.to_string()))?;
        key_bags.push(SafeBag {
            bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
            bag_value: Any::from_der(shrouded.as_bytes())?,
            bag_attributes: Some(attributes),
        });
    }
    for certificate in chain {
        let attributes = bag_attributes(certificate.name.as_deref(), None)?;
        certificate_bags.push(certificate_bag(&certificate.certificate, attributes)?);
    }

    let certificates = certificate_bags.to_der()?;
    let (salt, iv) = (random::<16>(rng), random::<16>(rng));
    let scheme = pkcs5::EncryptionScheme::Pbes2(
        pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PKCS12_ITERATIONS, &salt, &iv)
            .map_err(|e| Pkcs12Error::Malformed(e.to_string()))?,
    );
    let encrypted = scheme
        .encrypt(password, &certificates)
        .map_err(|e| Pkcs12Error::Malformed(e.to_string()))?;
    let encrypted_safe = EncryptedData {
        version: CmsVersion::V0,
        enc_content_info: EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: AlgorithmIdentifierOwned::from_der(&scheme.to_der()?)?,
            encrypted_content: Some(OctetString::new(encrypted)?),
        },
        unprotected_attrs: None,
    };
    let authenticated_safe = vec![
        ContentInfo {
            content_type: ID_ENCRYPTED_DATA,
            content: Any::from_der(&encrypted_safe.to_der()?)?,
        },
        data_content(&key_bags.to_der()?)?,
    ]
    .to_der()?;

    let mac_salt = random::<8>(rng);
    let iterations = i32::try_from(PKCS12_ITERATIONS).unwrap_or(i32::MAX);
    let mac = pkcs12_mac::<Sha256>(&authenticated_safe, password, &mac_salt, iterations)?;
    let pfx = Pfx {
        version: Version::V3,
        auth_safe: data_content(&authenticated_safe)?,
        mac_data: Some(MacData {
            mac: pkcs12::digest_info::DigestInfo {
                algorithm: AlgorithmIdentifierOwned {
                    oid: ID_SHA_256,
                    parameters: Some(Any::null()),
                },
                digest: OctetString::new(mac)?,
            },
            mac_salt: OctetString::new(mac_salt.to_vec())?,
            iterations,
        }),
    };
    Ok(pfx.to_der()?)
}

/// Reads a PKCS #12 file with `password`: checks its MAC, decrypts its safes and keys, and
/// pairs each key with its certificate (by `localKeyId`, else by public key).
///
/// The file may be BER (NSS's `pk12util` writes indefinite lengths and segmented strings):
/// each layer is re-encoded as DER before it is parsed, the MAC checked over the content's
/// octets as they were written.
pub fn read_pkcs12(der: &[u8], password: &str) -> Result<Pkcs12Contents, Pkcs12Error> {
    let pfx = Pfx::from_der(&model::ber::to_der(der))?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(Pkcs12Error::Malformed(
            "public-key integrity mode is not supported (authSafe is not data)".into(),
        ));
    }
    let authenticated_safe = pfx.auth_safe.content.decode_as::<OctetString>()?;
    let authenticated_safe = authenticated_safe.as_bytes();
    if let Some(mac_data) = &pfx.mac_data {
        check_mac(authenticated_safe, password, mac_data)?;
    }
    let mut bags = Vec::new();
    for content in Vec::<ContentInfo>::from_der(&model::ber::to_der(authenticated_safe))? {
        let safe = if content.content_type == ID_DATA {
            content
                .content
                .decode_as::<OctetString>()?
                .as_bytes()
                .to_vec()
        } else if content.content_type == ID_ENCRYPTED_DATA {
            let encrypted = content.content.decode_as::<EncryptedData>()?;
            let info = encrypted.enc_content_info;
            let ciphertext = info.encrypted_content.ok_or_else(|| {
                Pkcs12Error::Malformed("an encrypted safe without content".into())
            })?;
            decrypt(&info.content_enc_alg, password, ciphertext.as_bytes())?
        } else {
            return Err(Pkcs12Error::Unsupported(content.content_type));
        };
        collect_bags(&safe, password, &mut bags, 0)?;
    }
    pair(bags)
}

/// A safe bag: what a PKCS #12 safe is a sequence of.
#[derive(Debug, Clone, Sequence)]
struct SafeBag {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    bag_attributes: Option<SetOfVec<Attribute>>,
}

/// A bag's useful content, read.
enum Bag {
    Key {
        key: PrivateKeyDer,
        name: Option<String>,
        id: Option<Vec<u8>>,
    },
    Certificate {
        certificate: CertificateDer,
        name: Option<String>,
        id: Option<Vec<u8>>,
    },
}

fn random<const N: usize>(rng: &mut impl RngCore) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill_bytes(&mut bytes);
    bytes
}

fn data_content(bytes: &[u8]) -> Result<ContentInfo, Pkcs12Error> {
    Ok(ContentInfo {
        content_type: ID_DATA,
        content: Any::from_der(&OctetString::new(bytes)?.to_der()?)?,
    })
}

fn bag_attributes(
    name: Option<&str>,
    id: Option<&[u8]>,
) -> Result<SetOfVec<Attribute>, Pkcs12Error> {
    let mut attributes = SetOfVec::new();
    let values = [
        (
            FRIENDLY_NAME,
            name.map(|name| BmpString::from_utf8(name)?.to_der())
                .transpose()?,
        ),
        (
            LOCAL_KEY_ID,
            id.map(|id| OctetString::new(id)?.to_der()).transpose()?,
        ),
    ];
    for (oid, value) in values {
        if let Some(value) = value {
            attributes.insert(Attribute {
                oid,
                values: SetOfVec::try_from(vec![Any::from_der(&value)?])?,
            })?;
        }
    }
    Ok(attributes)
}

fn certificate_bag(
    certificate: &CertificateDer,
    attributes: SetOfVec<Attribute>,
) -> Result<SafeBag, Pkcs12Error> {
    let bag = pkcs12::cert_type::CertBag {
        cert_id: pkcs12::PKCS_12_X509_CERT_OID,
        cert_value: OctetString::new(certificate.as_bytes())?,
    };
    Ok(SafeBag {
        bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
        bag_value: Any::from_der(&bag.to_der()?)?,
        bag_attributes: (!attributes.is_empty()).then_some(attributes),
    })
}

/// The PKCS #12 MAC: HMAC with `D`, keyed by the appendix B derivation of the password.
fn pkcs12_mac<D>(
    data: &[u8],
    password: &str,
    salt: &[u8],
    rounds: i32,
) -> Result<Vec<u8>, Pkcs12Error>
where
    D: Digest + digest::FixedOutputReset + digest::core_api::BlockSizeUser,
{
    let length = <D as Digest>::output_size();
    let key = derive_key_utf8::<D>(password, salt, Pkcs12KeyType::Mac, rounds, length)?;
    let mut mac = <SimpleHmac<D> as KeyInit>::new_from_slice(&key)
        .map_err(|e| Pkcs12Error::Malformed(e.to_string()))?;
    Mac::update(&mut mac, data);
    Ok(mac.finalize().into_bytes().to_vec())
}

fn check_mac(data: &[u8], password: &str, mac_data: &MacData) -> Result<(), Pkcs12Error> {
    let salt = mac_data.mac_salt.as_bytes();
    let rounds = mac_data.iterations;
    let computed = match mac_data.mac.algorithm.oid {
        oid if oid == ID_SHA_1 => pkcs12_mac::<Sha1>(data, password, salt, rounds)?,
        oid if oid == ID_SHA_256 => pkcs12_mac::<Sha256>(data, password, salt, rounds)?,
        oid if oid == ID_SHA_384 => pkcs12_mac::<Sha384>(data, password, salt, rounds)?,
        oid if oid == ID_SHA_512 => pkcs12_mac::<Sha512>(data, password, salt, rounds)?,
        oid => return Err(Pkcs12Error::Unsupported(oid)),
    };
    if computed == mac_data.mac.digest.as_bytes() {
        Ok(())
    } else {
        Err(Pkcs12Error::MacMismatch)
    }
}

/// Decrypts with PBES2 or one of PKCS #12's own password-based schemes.
fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    password: &str,
    ciphertext: &[u8],
) -> Result<Vec<u8>, Pkcs12Error> {
    let failed = |e: &dyn std::fmt::Display| Pkcs12Error::Decrypt(e.to_string());
    if algorithm.oid == pkcs5::pbes2::PBES2_OID {
        let encoded = with_null_prf_parameters(algorithm)?;
        let scheme = pkcs5::EncryptionScheme::from_der(&encoded)?;
        return scheme.decrypt(password, ciphertext).map_err(|e| failed(&e));
    }
    let (key_length, rc2_bits) = match algorithm.oid {
        oid if oid == pkcs12::PKCS_12_PBE_WITH_SHAAND3_KEY_TRIPLE_DES_CBC => (24, None),
        oid if oid == pkcs12::PKCS_12_PBE_WITH_SHAAND128_BIT_RC2_CBC => (16, Some(128)),
        oid if oid == pkcs12::PKCS_12_PBEWITH_SHAAND40_BIT_RC2_CBC => (5, Some(40)),
        oid => return Err(Pkcs12Error::Unsupported(oid)),
    };
    let params = algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| Pkcs12Error::Malformed("PBE without parameters".into()))?
        .decode_as::<Pkcs12PbeParams>()?;
    let salt = params.salt.as_bytes();
    let rounds = params.iterations;
    let key = derive_key_utf8::<Sha1>(
        password,
        salt,
        Pkcs12KeyType::EncryptionKey,
        rounds,
        key_length,
    )?;
    let iv = derive_key_utf8::<Sha1>(password, salt, Pkcs12KeyType::Iv, rounds, 8)?;
    match rc2_bits {
        None => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|e| failed(&e))?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .map_err(|e| failed(&e)),
        Some(bits) => {
            let rc2 = rc2::Rc2::new_with_eff_key_len(&key, bits);
            cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(rc2, &iv)
                .map_err(|e| failed(&e))?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
                .map_err(|e| failed(&e))
        }
    }
}

/// PBES2 parameters as RFC 8018 writes them, loosely: the PRF's parameters may be absent.
#[derive(Debug, Clone, Sequence)]
struct Pbes2Parameters {
    key_derivation: AlgorithmIdentifierOwned,
    encryption: AlgorithmIdentifierOwned,
}

/// PBKDF2 parameters, loosely.
#[derive(Debug, Clone, Sequence)]
struct Pbkdf2Parameters {
    salt: Any,
    iterations: Any,
    key_length: Option<u32>,
    prf: Option<AlgorithmIdentifierOwned>,
}

/// The PBES2 algorithm identifier with a NULL given to a PRF that has no parameters: NSS
/// (`pk12util`) omits them, as RFC 8018 lets a writer, while the PBES2 reader wants the NULL.
fn with_null_prf_parameters(algorithm: &AlgorithmIdentifierOwned) -> Result<Vec<u8>, Pkcs12Error> {
    let unchanged = || algorithm.to_der().map_err(Pkcs12Error::from);
    let Some(parameters) = &algorithm.parameters else {
        return unchanged();
    };
    let Ok(mut pbes2) = parameters.decode_as::<Pbes2Parameters>() else {
        return unchanged();
    };
    let Some(kdf_parameters) = &pbes2.key_derivation.parameters else {
        return unchanged();
    };
    let Ok(mut pbkdf2) = kdf_parameters.decode_as::<Pbkdf2Parameters>() else {
        return unchanged();
    };
    match &mut pbkdf2.prf {
        Some(prf) if prf.parameters.is_none() => prf.parameters = Some(Any::from(der::asn1::Null)),
        _ => return unchanged(),
    }
    pbes2.key_derivation.parameters = Some(Any::encode_from(&pbkdf2)?);
    Ok(AlgorithmIdentifierOwned {
        oid: algorithm.oid,
        parameters: Some(Any::encode_from(&pbes2)?),
    }
    .to_der()?)
}

/// Nested safe-contents bags deeper than this are refused.
const MAX_NESTING: usize = 4;

fn collect_bags(
    safe: &[u8],
    password: &str,
    bags: &mut Vec<Bag>,
    depth: usize,
) -> Result<(), Pkcs12Error> {
    if depth > MAX_NESTING {
        return Err(Pkcs12Error::Malformed(
            "safe contents nested too deeply".into(),
        ));
    }
    for bag in Vec::<SafeBag>::from_der(&model::ber::to_der(safe))? {
        let (name, id) = read_attributes(bag.bag_attributes.as_ref());
        match bag.bag_id {
            oid if oid == pkcs12::PKCS_12_KEY_BAG_OID => {
                let key = bag.bag_value.to_der()?;
                pkcs8::PrivateKeyInfo::try_from(key.as_slice())?;
                bags.push(Bag::Key {
                    key: PrivateKeyDer::new(key),
                    name,
                    id,
                });
            }
            oid if oid == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID => {
                let shrouded = bag
                    .bag_value
                    .decode_as::<pkcs12::pbe_params::EncryptedPrivateKeyInfo>()?;
                let key = decrypt(
                    &shrouded.encryption_algorithm,
                    password,
                    shrouded.encrypted_data.as_bytes(),
                )?;
                let key = model::ber::to_der(&key).into_owned();
                // Parsing proves the password gave a key rather than lucky padding.
                pkcs8::PrivateKeyInfo::try_from(key.as_slice()).map_err(|_| {
                    Pkcs12Error::Decrypt("the decrypted key is not a PKCS #8 key".into())
                })?;
                bags.push(Bag::Key {
                    key: PrivateKeyDer::new(key),
                    name,
                    id,
                });
            }
            oid if oid == pkcs12::PKCS_12_CERT_BAG_OID => {
                let certificate = bag.bag_value.decode_as::<pkcs12::cert_type::CertBag>()?;
                if certificate.cert_id != pkcs12::PKCS_12_X509_CERT_OID {
                    continue;
                }
                let certificate = CertificateDer::new(certificate.cert_value.as_bytes().to_vec());
                CertificateInfo::parse(&certificate)
                    .map_err(|e| Pkcs12Error::Malformed(format!("a certificate bag: {e}")))?;
                bags.push(Bag::Certificate {
                    certificate,
                    name,
                    id,
                });
            }
            oid if oid == pkcs12::PKCS_12_SAFE_CONTENTS_BAG_OID => {
                collect_bags(&bag.bag_value.to_der()?, password, bags, depth + 1)?;
            }
            // CRL and secret bags hold nothing a mail client reads from this file.
            _ => {}
        }
    }
    Ok(())
}

fn read_attributes(attributes: Option<&SetOfVec<Attribute>>) -> (Option<String>, Option<Vec<u8>>) {
    let mut name = None;
    let mut id = None;
    for attribute in attributes.into_iter().flat_map(SetOfVec::iter) {
        let Some(value) = attribute.values.iter().next() else {
            continue;
        };
        if attribute.oid == FRIENDLY_NAME {
            name = value.decode_as::<BmpString>().ok().map(|s| s.to_string());
        } else if attribute.oid == LOCAL_KEY_ID {
            id = value
                .decode_as::<OctetString>()
                .ok()
                .map(|s| s.as_bytes().to_vec());
        }
    }
    (name, id)
}

/// Pairs keys with certificates: by `localKeyId` where both carry one, else by public key.
fn pair(bags: Vec<Bag>) -> Result<Pkcs12Contents, Pkcs12Error> {
    let mut keys = Vec::new();
    let mut certificates = Vec::new();
    for bag in bags {
        match bag {
            Bag::Key { key, name, id } => keys.push((key, name, id)),
            Bag::Certificate {
                certificate,
                name,
                id,
            } => certificates.push((certificate, name, id)),
        }
    }
    let mut contents = Pkcs12Contents::default();
    let mut used = vec![false; certificates.len()];
    for (key, key_name, key_id) in keys {
        let public = public_key_of(&key)?;
        let found = certificates
            .iter()
            .enumerate()
            .position(|(_, (_, _, id))| key_id.is_some() && id == &key_id)
            .or_else(|| {
                certificates.iter().position(|(certificate, _, _)| {
                    CertificateInfo::parse(certificate)
                        .ok()
                        .and_then(|info| info.public_key().ok())
                        .is_some_and(|candidate| candidate == public)
                })
            });
        let Some(index) = found else {
            return Err(Pkcs12Error::Malformed(format!(
                "a private key{} without its certificate",
                key_name
                    .as_deref()
                    .map(|n| format!(" (\"{n}\")"))
                    .unwrap_or_default()
            )));
        };
        used[index] = true;
        let (certificate, certificate_name, _) = &certificates[index];
        contents.keys.push(Pkcs12Key {
            name: key_name.or_else(|| certificate_name.clone()),
            certificate: certificate.clone(),
            key,
        });
    }
    for ((certificate, name, _), used) in certificates.into_iter().zip(used) {
        if !used {
            contents
                .certificates
                .push(Pkcs12Certificate { name, certificate });
        }
    }
    Ok(contents)
}

fn public_key_of(key: &PrivateKeyDer) -> Result<rsa::RsaPublicKey, Pkcs12Error> {
    use rsa::pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs8_der(key.as_bytes())
        .map(|key| key.to_public_key())
        .map_err(|e| Pkcs12Error::Malformed(format!("a private key kmlab cannot read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificate::{CertificatePurpose, CertificateTemplate, Issuer, SignatureHash};
    use crate::name::{NameAttribute, build_name};
    use crate::{CertificateVersion, issue_certificate, private_key_der};
    use model::{SeededRng, Serial, Timestamp};

    /// A CA certificate and two keys it certified, for one file.
    fn material() -> (Vec<Pkcs12Key>, Vec<Pkcs12Certificate>) {
        let pool = crate::KeyPool::new(5, None);
        let ca_key = pool.key("ca", 1024).unwrap().0;
        let ca_name = build_name(&[NameAttribute::CommonName("Root")]).unwrap();
        let issuer = Issuer {
            name: &ca_name,
            key: &ca_key,
            key_identifier: None,
        };
        let template = |purpose, serial: u8, subject: &str| CertificateTemplate {
            host_names: Vec::new(),
            version: CertificateVersion::V3,
            purpose,
            serial: Serial::from_be_bytes(&[serial]),
            subject: build_name(&[NameAttribute::CommonName(subject)]).unwrap(),
            email: None,
            not_before: Timestamp::DEFAULT_START,
            not_after: Timestamp::DEFAULT_START.plus(model::Duration::years(2)),
            crl_distribution_point: None,
            hash: SignatureHash::Sha256,
        };
        let root = issue_certificate(
            &template(CertificatePurpose::Authority, 1, "Root"),
            &ca_key.to_public_key(),
            issuer,
        )
        .unwrap();
        let keys = ["user", "user2"]
            .into_iter()
            .enumerate()
            .map(|(index, role)| {
                let key = pool.key(role, 1024).unwrap().0;
                let serial = u8::try_from(index).unwrap() + 2;
                Pkcs12Key {
                    name: Some(format!("alice enc#{}", index + 1)),
                    certificate: issue_certificate(
                        &template(CertificatePurpose::SmimeEncryption, serial, "alice"),
                        &key.to_public_key(),
                        issuer,
                    )
                    .unwrap(),
                    key: private_key_der(&key).unwrap(),
                }
            })
            .collect();
        let chain = vec![Pkcs12Certificate {
            name: Some("Root".into()),
            certificate: root,
        }];
        (keys, chain)
    }

    #[test]
    fn a_written_file_reads_back_with_keys_paired_and_names_kept() {
        let (keys, chain) = material();
        let der = build_pkcs12(&keys, &chain, "kmlab", &mut SeededRng::new(1, "p12")).unwrap();
        let contents = read_pkcs12(&der, "kmlab").unwrap();
        assert_eq!(contents.keys, keys);
        assert_eq!(contents.certificates, chain);
    }

    #[test]
    fn the_same_generator_gives_the_same_bytes_and_another_different_salts() {
        let (keys, chain) = material();
        let build = |seed| build_pkcs12(&keys, &chain, "kmlab", &mut SeededRng::new(seed, "p12"));
        assert_eq!(build(1).unwrap(), build(1).unwrap());
        assert_ne!(build(1).unwrap(), build(2).unwrap());
    }

    #[test]
    fn a_wrong_password_or_a_changed_byte_fails_the_mac() {
        let (keys, chain) = material();
        let der = build_pkcs12(&keys, &chain, "kmlab", &mut SeededRng::new(1, "p12")).unwrap();
        assert!(matches!(
            read_pkcs12(&der, "wrong"),
            Err(Pkcs12Error::MacMismatch)
        ));
        // A byte inside the encrypted certificates: the structure still parses.
        let mut changed = der.clone();
        let middle = changed.len() / 3;
        changed[middle] ^= 1;
        assert!(read_pkcs12(&changed, "kmlab").is_err());
        assert!(read_pkcs12(b"not a pfx", "kmlab").is_err());
    }
}
