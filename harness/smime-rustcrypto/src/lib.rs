//! The pure-Rust S/MIME engine: CMS signed-data and enveloped-data built and read with the
//! RustCrypto stack. Every random byte (content keys, IVs, PKCS #1 padding) comes from the
//! generator the caller passes, so the same seed gives the same message.

mod ciphers;

use cms::enveloped_data::RecipientInfo;
use cms::signed_data::{SignedData, SignerInfo};
use der::asn1::OctetString;
use der::{Decode, Encode};
use model::{CertificateDer, Named, PrivateKeyDer};
use pkcs8::DecodePrivateKey;
use rand_core::CryptoRngCore;
use rsa::{Oaep, Pkcs1v15Encrypt, Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use smime::assemble::{self, SignedAttributes, encoding, unusable};
use smime::structure::{
    CertificateId, KeyTransport, SignatureScheme, algorithm_name, carried_certificates,
    content_cipher, decode_envelope, is_unsupported, key_transport, signature_scheme,
};
use smime::{
    CallContext, CmsDer, Decryption, Digest, Engine, EngineError, EnvelopeRequest, SignRequest,
    SignatureCheck, SignatureStatus, oids,
};
use spki::DecodePublicKey;
use x509_cert::Certificate;

const NAME: &str = "rustcrypto";

/// The pure-Rust engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct RustCryptoEngine;

impl Engine for RustCryptoEngine {
    fn name(&self) -> &str {
        NAME
    }

    fn is_deterministic(&self) -> bool {
        true
    }

    fn sign(
        &self,
        request: &SignRequest<'_>,
        _context: &CallContext<'_>,
        _rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        let key = RsaPrivateKey::from_pkcs8_der(request.signer.key.as_bytes())
            .map_err(|e| unusable("signing key", e))?;
        let attributes = SignedAttributes::new(request, &hash(request.digest, request.content))?;
        let signature = key
            .sign(
                padding(request.digest),
                &hash(request.digest, attributes.to_be_signed()),
            )
            .map_err(|e| unusable("signing key", e))?;
        assemble::signed_data(request, attributes, signature)
    }

    fn envelope(
        &self,
        request: &EnvelopeRequest<'_>,
        _context: &CallContext<'_>,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        let cipher = request.cipher;
        if cipher.is_authenticated() {
            return Err(EngineError::Unsupported {
                engine: NAME.to_owned(),
                detail: format!("{cipher} is read, not sent"),
            });
        }
        let (content_key, iv) = assemble::content_key_and_iv(cipher, rng);
        let encrypted = ciphers::encrypt(cipher, &content_key, &iv, request.content);

        let mut wrapped_keys = Vec::with_capacity(request.recipients.len());
        for recipient in request.recipients {
            let public_key = RsaPublicKey::from_public_key_der(&assemble::public_key_info(
                &recipient.certificate,
            )?)
            .map_err(|e| unusable("public key", e))?;
            let wrapped = public_key
                .encrypt(&mut RngAdapter(rng), Pkcs1v15Encrypt, &content_key)
                .map_err(|e| unusable("recipient key", e))?;
            wrapped_keys.push(wrapped);
        }
        assemble::enveloped_data(cipher, &iv, encrypted, request.recipients, &wrapped_keys)
    }

    fn decrypt(
        &self,
        message: &[u8],
        certificate: &CertificateDer,
        key: &PrivateKeyDer,
        _context: &CallContext<'_>,
    ) -> Decryption {
        let envelope = match decode_envelope(message) {
            Ok(envelope) => envelope,
            Err(detail) => return Decryption::Malformed { detail },
        };
        let Ok(own) = Certificate::from_der(certificate.as_bytes()) else {
            return Decryption::Malformed {
                detail: "the reader's certificate does not parse".into(),
            };
        };
        let ktri = envelope.recip_infos.0.iter().find_map(|info| match info {
            RecipientInfo::Ktri(ktri) if CertificateId::from_recipient(&ktri.rid).matches(&own) => {
                Some(ktri)
            }
            _ => None,
        });
        let Some(ktri) = ktri else {
            return Decryption::NotARecipient;
        };
        // What the message names but kmlab does not implement is said before any key is tried:
        // an unsupported algorithm is never a wrong key (MSG-09).
        let transport = match key_transport(&ktri.key_enc_alg) {
            Ok(transport) => transport,
            Err(detail) => return smime::judge::unreadable(detail),
        };
        let algorithm = &envelope.encrypted_content.content_enc_alg;
        let (cipher, iv) = match content_cipher(algorithm) {
            Ok(found) => found,
            Err(detail) if is_unsupported(&detail) => {
                return Decryption::UnsupportedCipher {
                    algorithm: algorithm_name(&algorithm.oid),
                };
            }
            Err(detail) => return Decryption::Malformed { detail },
        };
        if cipher.is_authenticated() != envelope.authentication.is_some() {
            return Decryption::Malformed {
                detail: format!(
                    "{} in {}",
                    cipher.name(),
                    if cipher.is_authenticated() {
                        "enveloped-data, which has no authentication tag"
                    } else {
                        "authenticated-enveloped-data, which needs an authenticated cipher"
                    }
                ),
            };
        }
        let Ok(key) = RsaPrivateKey::from_pkcs8_der(key.as_bytes()) else {
            return Decryption::KeyDoesNotOpen {
                detail: "the private key does not parse".into(),
            };
        };
        let wrapped = ktri.enc_key.as_bytes();
        let unwrapped = match &transport {
            KeyTransport::Pkcs1v15 => key.decrypt(Pkcs1v15Encrypt, wrapped),
            KeyTransport::Oaep {
                hash,
                mgf_hash,
                label,
            } => {
                // The rsa crate takes the label as text; a binary one is not supported.
                let Ok(label) = String::from_utf8(label.clone()) else {
                    return Decryption::Unsupported {
                        detail: "unsupported OAEP label that is not UTF-8 in RSAES-OAEP-params"
                            .into(),
                    };
                };
                let oaep = Oaep {
                    digest: dyn_digest(*hash),
                    mgf_digest: dyn_digest(*mgf_hash),
                    label: (!label.is_empty()).then_some(label),
                };
                key.decrypt(oaep, wrapped)
            }
        };
        let Ok(content_key) = unwrapped else {
            return Decryption::KeyDoesNotOpen {
                detail: match transport {
                    KeyTransport::Pkcs1v15 => "RSA decryption of the content key failed".into(),
                    KeyTransport::Oaep { hash, .. } => {
                        format!("RSA-OAEP ({hash}) decryption of the content key failed")
                    }
                },
            };
        };
        if content_key.len() != cipher.key_len() {
            return Decryption::KeyDoesNotOpen {
                detail: format!(
                    "the content key has {} bytes, {} needs {}",
                    content_key.len(),
                    cipher.name(),
                    cipher.key_len()
                ),
            };
        }
        let Some(ciphertext) = &envelope.encrypted_content.encrypted_content else {
            return Decryption::Malformed {
                detail: "no encrypted content".into(),
            };
        };
        if let Some(authentication) = &envelope.authentication {
            return match ciphers::open_gcm(
                cipher,
                &content_key,
                &iv,
                &authentication.aad,
                ciphertext.as_bytes(),
                &authentication.mac,
            ) {
                Ok(content) => Decryption::Opened { content },
                Err(verdict) => verdict,
            };
        }
        match ciphers::decrypt(cipher, &content_key, &iv, ciphertext.as_bytes()) {
            Some(content) => Decryption::Opened { content },
            None => Decryption::KeyDoesNotOpen {
                detail: "the content does not decrypt (bad padding)".into(),
            },
        }
    }

    fn verify(
        &self,
        message: &[u8],
        detached_content: Option<&[u8]>,
        _context: &CallContext<'_>,
    ) -> SignatureCheck {
        let signed = match smime::structure::decode_signed(message) {
            Ok(signed) => signed,
            Err(detail) => return SignatureCheck::failed(SignatureStatus::Malformed { detail }),
        };
        let certificates = carried_certificates(&signed);
        let encapsulated = match &signed.encap_content_info.econtent {
            Some(any) => match any.decode_as::<OctetString>() {
                Ok(octets) => Some(octets.as_bytes().to_vec()),
                Err(e) => {
                    return SignatureCheck::failed(SignatureStatus::Malformed {
                        detail: format!("encapsulated content: {e}"),
                    });
                }
            },
            None => None,
        };
        let summary = smime::structure::summarize_signed(&signed);
        let Some(info) = signed.signer_infos.0.iter().next() else {
            return SignatureCheck::failed(SignatureStatus::Malformed {
                detail: "no signer infos".into(),
            });
        };
        let first = &summary.signers[0];
        let mut check = SignatureCheck {
            status: SignatureStatus::Verified,
            signer: None,
            certificates: certificates.clone(),
            signing_time: first.signing_time,
            digest: first.digest.ok(),
            capabilities: first.capabilities.clone(),
            content: encapsulated.clone(),
        };
        check.status = verify_signer(
            info,
            &signed,
            &certificates,
            detached_content.or(encapsulated.as_deref()),
            &mut check.signer,
        );
        check
    }
}

fn verify_signer(
    info: &SignerInfo,
    signed: &SignedData,
    certificates: &[CertificateDer],
    content: Option<&[u8]>,
    signer_out: &mut Option<CertificateDer>,
) -> SignatureStatus {
    let Some(content) = content else {
        return SignatureStatus::Malformed {
            detail: "detached signature without content".into(),
        };
    };
    // The signer is found first, so that it is named whatever else the message holds that
    // kmlab cannot check (MSG-09).
    let id = CertificateId::from_signer(&info.sid);
    let Some(signer) = certificates.iter().find(|der| id.matches_der(der)) else {
        return match Digest::from_oid(&info.digest_alg.oid) {
            Some(_) => SignatureStatus::SignerNotFound,
            None => SignatureStatus::Unsupported {
                detail: smime::judge::unsupported_digest(&info.digest_alg.oid),
            },
        };
    };
    *signer_out = Some(signer.clone());
    let Some(digest) = Digest::from_oid(&info.digest_alg.oid) else {
        return SignatureStatus::Unsupported {
            detail: smime::judge::unsupported_digest(&info.digest_alg.oid),
        };
    };
    let scheme = match signature_scheme(info) {
        Ok(scheme) => scheme,
        Err(detail) if is_unsupported(&detail) => {
            return SignatureStatus::Unsupported { detail };
        }
        Err(detail) => return SignatureStatus::Malformed { detail },
    };
    let Ok(certificate) = Certificate::from_der(signer.as_bytes()) else {
        return SignatureStatus::Malformed {
            detail: "the signer's certificate does not parse".into(),
        };
    };
    let public_key = match signer_key(&certificate) {
        Ok(key) => key,
        Err(detail) if is_unsupported(&detail) => return SignatureStatus::Unsupported { detail },
        Err(detail) => return SignatureStatus::Malformed { detail },
    };
    let signed_bytes = match smime::judge::signed_bytes(info, signed, digest, content, hash) {
        Ok(bytes) => bytes,
        Err(status) => return status,
    };
    // What was signed is hashed with the signature's own hash: PKCS #1 v1.5 uses the digest
    // algorithm, PSS and ECDSA name theirs; Ed25519 signs the bytes themselves.
    let signature = info.signature.as_bytes();
    let verified = match (scheme, &public_key) {
        (SignatureScheme::Pkcs1v15, SignerKey::Rsa(key)) => key
            .verify(padding(digest), &hash(digest, &signed_bytes), signature)
            .is_ok(),
        (SignatureScheme::Pss { hash: h, salt_len }, SignerKey::Rsa(key)) => key
            .verify(
                Pss {
                    blinded: false,
                    digest: dyn_digest(h),
                    salt_len,
                },
                &hash(h, &signed_bytes),
                signature,
            )
            .is_ok(),
        (SignatureScheme::Ecdsa { hash: h }, SignerKey::P256(key)) => {
            use ecdsa::signature::hazmat::PrehashVerifier as _;
            p256::ecdsa::DerSignature::from_bytes(signature)
                .is_ok_and(|sig| key.verify_prehash(&hash(h, &signed_bytes), &sig).is_ok())
        }
        (SignatureScheme::Ecdsa { hash: h }, SignerKey::P384(key)) => {
            use ecdsa::signature::hazmat::PrehashVerifier as _;
            p384::ecdsa::DerSignature::from_bytes(signature)
                .is_ok_and(|sig| key.verify_prehash(&hash(h, &signed_bytes), &sig).is_ok())
        }
        (SignatureScheme::Ecdsa { hash: h }, SignerKey::P521(key)) => {
            use ecdsa::signature::hazmat::PrehashVerifier as _;
            p521::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify_prehash(&hash(h, &signed_bytes), &sig).is_ok())
        }
        (SignatureScheme::Ed25519, SignerKey::Ed25519(key)) => {
            ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(&signed_bytes, &sig).is_ok())
        }
        (scheme, key) => {
            return SignatureStatus::Malformed {
                detail: format!(
                    "a {} signature by a {} key",
                    scheme.kind().name(),
                    key.name()
                ),
            };
        }
    };
    if verified {
        SignatureStatus::Verified
    } else {
        SignatureStatus::SignatureInvalid
    }
}

/// A signer's public key, of any kind kmlab verifies.
enum SignerKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl SignerKey {
    fn name(&self) -> &'static str {
        match self {
            Self::Rsa(_) => "RSA",
            Self::P256(_) => "P-256",
            Self::P384(_) => "P-384",
            Self::P521(_) => "P-521",
            Self::Ed25519(_) => "Ed25519",
        }
    }
}

/// The signer's key from its certificate, or `unsupported …` naming what it is (MSG-09).
fn signer_key(certificate: &Certificate) -> Result<SignerKey, String> {
    let spki = &certificate.tbs_certificate.subject_public_key_info;
    let bits = spki.subject_public_key.raw_bytes();
    let unusable = |what: &str, e: &dyn std::fmt::Display| format!("the signer's {what} key: {e}");
    match spki.algorithm.oid {
        oids::RSA_ENCRYPTION => rsa_public_key(certificate)
            .map(SignerKey::Rsa)
            .map_err(|e| unusable("RSA", &e)),
        oids::EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
            match curve {
                Some(oids::SECP256R1) => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(SignerKey::P256)
                    .map_err(|e| unusable("P-256", &e)),
                Some(oids::SECP384R1) => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(SignerKey::P384)
                    .map_err(|e| unusable("P-384", &e)),
                Some(oids::SECP521R1) => p521::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                    .map(SignerKey::P521)
                    .map_err(|e| unusable("P-521", &e)),
                Some(other) => Err(format!(
                    "{} curve {} in the signer's certificate",
                    smime::structure::UNSUPPORTED,
                    algorithm_name(&other)
                )),
                None => Err("the signer's EC key names no curve".into()),
            }
        }
        oids::ED25519 => <[u8; 32]>::try_from(bits)
            .map_err(|_| format!("the signer's Ed25519 key has {} bytes", bits.len()))
            .and_then(|bytes| {
                ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| unusable("Ed25519", &e))
            })
            .map(SignerKey::Ed25519),
        other => Err(format!(
            "{} signer key {} in the signer's certificate",
            smime::structure::UNSUPPORTED,
            algorithm_name(&other)
        )),
    }
}

fn hash(digest: Digest, data: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    match digest {
        Digest::Sha1 => sha1::Sha1::digest(data).to_vec(),
        Digest::Sha256 => sha2::Sha256::digest(data).to_vec(),
        Digest::Sha384 => sha2::Sha384::digest(data).to_vec(),
        Digest::Sha512 => sha2::Sha512::digest(data).to_vec(),
    }
}

fn padding(digest: Digest) -> Pkcs1v15Sign {
    match digest {
        Digest::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
        Digest::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
        Digest::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
        Digest::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

/// The digest as the rsa crate's PSS and OAEP take it.
fn dyn_digest(digest: Digest) -> Box<dyn rsa::sha2::digest::DynDigest + Send + Sync> {
    match digest {
        Digest::Sha1 => Box::new(sha1::Sha1::default()),
        Digest::Sha256 => Box::new(sha2::Sha256::default()),
        Digest::Sha384 => Box::new(sha2::Sha384::default()),
        Digest::Sha512 => Box::new(sha2::Sha512::default()),
    }
}

fn rsa_public_key(certificate: &Certificate) -> Result<RsaPublicKey, EngineError> {
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(encoding)?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| unusable("public key", e))
}

/// Lets a `dyn CryptoRngCore` be passed where `rsa` wants a sized `CryptoRngCore`.
struct RngAdapter<'a>(&'a mut dyn CryptoRngCore);

impl rand_core::RngCore for RngAdapter<'_> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill_bytes(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.try_fill_bytes(dest)
    }
}

impl rand_core::CryptoRng for RngAdapter<'_> {}
