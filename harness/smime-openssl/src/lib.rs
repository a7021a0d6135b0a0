//! The OpenSSL S/MIME engine, kmlab's default: OpenSSL's arithmetic and OpenSSL's own CMS reader.
//!
//! Every message is decrypted and verified by OpenSSL (`CMS_decrypt`, `CMS_verify`), so a
//! message kmlab reads the same way with this engine and the pure-Rust one has been judged by
//! two unrelated code bases. What it builds it builds from the caller's generator, exactly as
//! the pure-Rust engine does, so both give the same bytes: signed attributes are laid out by
//! [`smime::assemble`] (`CMS_sign` would stamp the wall-clock time where kmlab must put the
//! virtual clock's) and signed with OpenSSL's RSA (PKCS #1 v1.5 signatures are deterministic);
//! an envelope's content key, IV (a GCM nonce for authenticated-enveloped-data) and each
//! recipient's PKCS #1 v1.5 padding are drawn through [`smime::assemble`], and OpenSSL does
//! the content cipher and raises each padded block to the
//! recipient's public exponent (`CMS_encrypt` would draw its own random bytes). This is the only
//! crate that links OpenSSL.
//!
//! Parsing a PKCS #8 key through OpenSSL 3's decoders costs about as much as a 1024-bit
//! signature, so an engine keeps every private key and recipient public key it has parsed, keyed
//! by the exact DER bytes it was given (two different encodings never share an entry), for as
//! long as it lives: a run's users sign and read many messages with the same keys.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use model::{CertificateDer, PrivateKeyDer};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::error::ErrorStack;
use openssl::hash::{MessageDigest, hash};
use openssl::md::Md;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private, Public};
use openssl::pkey_ctx::PkeyCtx;
use openssl::provider::Provider;
use openssl::rsa::{Padding, Rsa};
use openssl::sign::Signer;
use openssl::symm;
use openssl::x509::X509;
use rand_core::CryptoRngCore;
use smime::assemble::{self, SignedAttributes, encoding, unusable};
use smime::structure::KeyTransport;
use smime::{
    CallContext, Cipher, CmsDer, Decryption, Digest, Engine, EngineError, EnvelopeRequest,
    SignRequest, SignatureCheck, SignatureStatus,
};

const NAME: &str = "openssl";

/// The OpenSSL engine. It keeps OpenSSL's legacy provider (RC2) loaded while it lives, and
/// the keys and certificates it has parsed.
pub struct OpensslEngine {
    // Dropping the provider unloads it; holding it keeps RC2 available to every call.
    _legacy: Provider,
    private_keys: Parsed<PKey<Private>>,
    recipient_keys: Parsed<Rsa<Public>>,
}

/// OpenSSL objects parsed from DER, by the DER bytes. Only successful parses are kept, so a
/// key that does not parse fails the same way on every call. Handing one out clones a
/// reference (OpenSSL counts them), and the lock is not held while it is used.
struct Parsed<T> {
    by_der: Mutex<BTreeMap<Vec<u8>, T>>,
}

impl<T: Clone> Parsed<T> {
    fn new() -> Self {
        Self {
            by_der: Mutex::new(BTreeMap::new()),
        }
    }

    fn get_or_parse(
        &self,
        der: &[u8],
        parse: impl FnOnce(&[u8]) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let cached = self
            .by_der
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(der)
            .cloned();
        if let Some(found) = cached {
            return Ok(found);
        }
        // Parsed outside the lock; two threads parsing the same DER at once both get equal
        // objects and one of them is kept.
        let parsed = parse(der)?;
        self.by_der
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(der.to_vec())
            .or_insert_with(|| parsed.clone());
        Ok(parsed)
    }
}

impl std::fmt::Debug for OpensslEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpensslEngine")
    }
}

impl OpensslEngine {
    /// Loads the legacy provider (keeping the default one) and returns the engine.
    pub fn new() -> Result<Self, EngineError> {
        let legacy =
            Provider::try_load(None, "legacy", true).map_err(|e| EngineError::Unsupported {
                engine: NAME.to_owned(),
                detail: format!("OpenSSL's legacy provider (RC2) does not load: {e}"),
            })?;
        Ok(Self {
            _legacy: legacy,
            private_keys: Parsed::new(),
            recipient_keys: Parsed::new(),
        })
    }

    /// Certificates are parsed on every call: an OpenSSL `X509` takes several KiB, a load run
    /// has thousands of users, and parsing one costs a small part of a decryption.
    fn certificate(&self, der: &CertificateDer) -> Result<X509, EngineError> {
        X509::from_der(der.as_bytes()).map_err(|e| unusable("certificate", e))
    }

    fn private_key(&self, der: &PrivateKeyDer) -> Result<PKey<Private>, EngineError> {
        self.private_keys.get_or_parse(der.as_bytes(), |der| {
            PKey::private_key_from_pkcs8(der).map_err(|e| unusable("private key", e))
        })
    }

    /// The RSA public key of a recipient's certificate.
    fn recipient_key(&self, der: &CertificateDer) -> Result<Rsa<Public>, EngineError> {
        self.recipient_keys.get_or_parse(der.as_bytes(), |_| {
            self.certificate(der)?
                .public_key()
                .and_then(|key| key.rsa())
                .map_err(|e| unusable("recipient key", e))
        })
    }
}

impl Engine for OpensslEngine {
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
        let key = self.private_key(&request.signer.key)?;
        let digest = message_digest(request.digest);
        let content_digest = hash(digest, request.content).map_err(openssl_error)?;
        let attributes = SignedAttributes::new(request, &content_digest)?;
        let mut signer = Signer::new(digest, &key).map_err(|e| unusable("signing key", e))?;
        signer
            .update(attributes.to_be_signed())
            .map_err(openssl_error)?;
        let signature = signer
            .sign_to_vec()
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
        // Refused before anything is drawn, so the generator moves as the pure-Rust engine's.
        let algorithm = symmetric(cipher)?;
        let (content_key, iv) = assemble::content_key_and_iv(cipher, rng);
        let mut tag = [0u8; assemble::GCM_TAG_LEN];
        let ciphertext = if cipher.is_authenticated() {
            symm::encrypt_aead(
                algorithm,
                &content_key,
                Some(&iv),
                &[],
                request.content,
                &mut tag,
            )
        } else {
            symm::encrypt(algorithm, &content_key, Some(&iv), request.content)
        }
        .map_err(openssl_error)?;
        let mut wrapped_keys = Vec::with_capacity(request.recipients.len());
        for recipient in request.recipients {
            let public = self.recipient_key(&recipient.certificate)?;
            let size = public.size() as usize;
            // The padding comes from the caller's generator, drawn as the pure-Rust engine's
            // `rsa` crate draws it; OpenSSL only raises the block to the public exponent.
            let block = assemble::key_transport_block(&content_key, size, rng)?;
            let mut wrapped = vec![0u8; size];
            let length = public
                .public_encrypt(&block, &mut wrapped, Padding::NONE)
                .map_err(|e| unusable("recipient key", e))?;
            wrapped.truncate(length);
            wrapped_keys.push(wrapped);
        }
        if cipher.is_authenticated() {
            assemble::auth_enveloped_data(
                cipher,
                &iv,
                ciphertext,
                &tag,
                request.recipients,
                &wrapped_keys,
            )
        } else {
            assemble::enveloped_data(cipher, &iv, ciphertext, request.recipients, &wrapped_keys)
        }
    }

    fn decrypt(
        &self,
        message: &[u8],
        certificate_der: &CertificateDer,
        key: &PrivateKeyDer,
        _context: &CallContext<'_>,
    ) -> Decryption {
        // What the message says about itself is read structurally, so the verdicts that do not
        // need a key are worded the same for every engine; the key work is OpenSSL's.
        smime::judge::open_enveloped(message, certificate_der, || {
            let (Ok(certificate), Ok(key)) =
                (self.certificate(certificate_der), self.private_key(key))
            else {
                return Decryption::KeyDoesNotOpen {
                    detail: "the certificate or private key does not parse".into(),
                };
            };
            // CMS_decrypt answers a key that does not unwrap the content key with a random
            // content key (against padding oracles), which opens CBC content to garbage one
            // time in 256: a key that is not the certificate's is refused before it runs.
            if !certificate
                .public_key()
                .is_ok_and(|public| public.public_eq(&key))
            {
                return Decryption::KeyDoesNotOpen {
                    detail: "the private key is not the certificate's".into(),
                };
            }
            let parsed = match CmsContentInfo::from_der(message) {
                Ok(parsed) => parsed,
                Err(e) => {
                    return Decryption::Malformed {
                        detail: reasons(&e),
                    };
                }
            };
            match parsed.decrypt(&key, &certificate) {
                Ok(content) => Decryption::Opened { content },
                // OpenSSL's error does not tell a wrong key from a failed tag; unwrapping the
                // content key again does.
                Err(_) if unwraps_content_key(message, certificate_der, &key) => {
                    Decryption::ContentAltered {
                        detail: smime::judge::TAG_MISMATCH.into(),
                    }
                }
                Err(e) => Decryption::KeyDoesNotOpen {
                    detail: reasons(&e),
                },
            }
        })
    }

    fn verify(
        &self,
        message: &[u8],
        detached_content: Option<&[u8]>,
        _context: &CallContext<'_>,
    ) -> SignatureCheck {
        smime::judge::check_signed(message, detached_content, || {
            let mut content = Vec::new();
            let status = openssl_verify(message, detached_content, &mut content);
            (status, Some(content))
        })
    }
}

/// Runs `CMS_verify` for the signature mathematics and the message digest only: the signer's
/// chain is the reading client's policy, judged apart from the engine.
fn openssl_verify(
    message: &[u8],
    detached: Option<&[u8]>,
    content: &mut Vec<u8>,
) -> SignatureStatus {
    if let Some(status) = ed25519_verify(message, detached, content) {
        return status;
    }
    let mut parsed = match CmsContentInfo::from_der(message) {
        Ok(parsed) => parsed,
        Err(e) => {
            return SignatureStatus::Malformed {
                detail: reasons(&e),
            };
        }
    };
    let flags = CMSOptions::NO_SIGNER_CERT_VERIFY | CMSOptions::BINARY;
    match parsed.verify(None, None, detached, Some(content), flags) {
        Ok(()) => SignatureStatus::Verified,
        Err(e) => {
            let text = reasons(&e);
            // OpenSSL checks the signature over the attributes first ("verification failure")
            // and then the content against the message-digest attribute, adding "content
            // verify error" when that fails.
            if text.contains("content verify error") {
                SignatureStatus::DigestMismatch
            } else if text.contains("verification failure") {
                SignatureStatus::SignatureInvalid
            } else {
                SignatureStatus::Malformed { detail: text }
            }
        }
    }
}

/// RFC 8419 for an Ed25519 signer, which OpenSSL 3.0's CMS code refuses ("invalid
/// digest"): the signed attributes are checked as for every signer and OpenSSL's Ed25519
/// verifies the signature over their DER. `None` for any other signer.
fn ed25519_verify(
    message: &[u8],
    detached: Option<&[u8]>,
    content: &mut Vec<u8>,
) -> Option<SignatureStatus> {
    let signed = smime::structure::decode_signed(message).ok()?;
    let info = signed.signer_infos.0.iter().next()?;
    if !matches!(
        smime::structure::signature_scheme(info),
        Ok(smime::structure::SignatureScheme::Ed25519)
    ) {
        return None;
    }
    let encapsulated = smime::judge::encapsulated_content(&signed);
    let Some(signed_content) = detached.or(encapsulated.as_deref()) else {
        return Some(SignatureStatus::Malformed {
            detail: "detached signature without content".into(),
        });
    };
    let id = smime::structure::CertificateId::from_signer(&info.sid);
    let certificates = smime::structure::carried_certificates(&signed);
    let Some(signer) = certificates.iter().find(|der| id.matches_der(der)) else {
        return Some(SignatureStatus::SignerNotFound);
    };
    let Some(digest) = Digest::from_oid(&info.digest_alg.oid) else {
        return Some(SignatureStatus::Unsupported {
            detail: smime::judge::unsupported_digest(&info.digest_alg.oid),
        });
    };
    let openssl_hash = |digest: Digest, data: &[u8]| {
        hash(message_digest(digest), data).map_or_else(|_| Vec::new(), |bytes| bytes.to_vec())
    };
    let bytes =
        match smime::judge::signed_bytes(info, &signed, digest, signed_content, openssl_hash) {
            Ok(bytes) => bytes,
            Err(status) => return Some(status),
        };
    let verified = X509::from_der(signer.as_bytes())
        .and_then(|certificate| certificate.public_key())
        .and_then(|key| {
            openssl::sign::Verifier::new_without_digest(&key)?
                .verify_oneshot(info.signature.as_bytes(), &bytes)
        });
    if let Some(encapsulated) = encapsulated {
        *content = encapsulated;
    }
    Some(match verified {
        Ok(true) => SignatureStatus::Verified,
        Ok(false) => SignatureStatus::SignatureInvalid,
        Err(e) => SignatureStatus::Malformed {
            detail: reasons(&e),
        },
    })
}

fn symmetric(cipher: Cipher) -> Result<symm::Cipher, EngineError> {
    let found = match cipher {
        Cipher::Rc2Cbc40 => Some(symm::Cipher::rc2_40_cbc()),
        Cipher::Rc2Cbc64 => symm::Cipher::from_nid(Nid::RC2_64_CBC),
        Cipher::Rc2Cbc128 => Some(symm::Cipher::rc2_cbc()),
        Cipher::DesEde3Cbc => Some(symm::Cipher::des_ede3_cbc()),
        Cipher::Aes128Cbc => Some(symm::Cipher::aes_128_cbc()),
        Cipher::Aes256Cbc => Some(symm::Cipher::aes_256_cbc()),
        Cipher::Aes128Gcm => Some(symm::Cipher::aes_128_gcm()),
        Cipher::Aes256Gcm => Some(symm::Cipher::aes_256_gcm()),
    };
    found.ok_or_else(|| EngineError::Unsupported {
        engine: NAME.to_owned(),
        detail: format!("OpenSSL has no {cipher}"),
    })
}

fn message_digest(digest: Digest) -> MessageDigest {
    match digest {
        Digest::Sha1 => MessageDigest::sha1(),
        Digest::Sha256 => MessageDigest::sha256(),
        Digest::Sha384 => MessageDigest::sha384(),
        Digest::Sha512 => MessageDigest::sha512(),
    }
}

/// Whether `key` unwraps, with the key transport its recipient info names, a content key of
/// the right length for authenticated-enveloped-data: a message that then fails to decrypt
/// failed its authentication tag, not the key.
fn unwraps_content_key(message: &[u8], certificate: &CertificateDer, key: &PKey<Private>) -> bool {
    let Some((cipher, transport, wrapped)) =
        smime::judge::authenticated_recipient(message, certificate)
    else {
        return false;
    };
    let unwrap = || -> Result<Vec<u8>, ErrorStack> {
        let mut context = PkeyCtx::new(key)?;
        context.decrypt_init()?;
        match &transport {
            KeyTransport::Pkcs1v15 => context.set_rsa_padding(Padding::PKCS1)?,
            KeyTransport::Oaep {
                hash,
                mgf_hash,
                label,
            } => {
                context.set_rsa_padding(Padding::PKCS1_OAEP)?;
                context.set_rsa_oaep_md(md_of(*hash))?;
                context.set_rsa_mgf1_md(md_of(*mgf_hash))?;
                if !label.is_empty() {
                    context.set_rsa_oaep_label(label)?;
                }
            }
        }
        let mut content_key = Vec::new();
        context.decrypt_to_vec(&wrapped, &mut content_key)?;
        Ok(content_key)
    };
    unwrap().is_ok_and(|content_key| content_key.len() == cipher.key_len())
}

fn md_of(digest: Digest) -> &'static openssl::md::MdRef {
    match digest {
        Digest::Sha1 => Md::sha1(),
        Digest::Sha256 => Md::sha256(),
        Digest::Sha384 => Md::sha384(),
        Digest::Sha512 => Md::sha512(),
    }
}

/// OpenSSL's error reasons, joined: the words kmlab maps to verdicts.
fn reasons(stack: &ErrorStack) -> String {
    let words: Vec<&str> = stack.errors().iter().filter_map(|e| e.reason()).collect();
    if words.is_empty() {
        stack.to_string()
    } else {
        words.join("; ")
    }
}

fn openssl_error(error: ErrorStack) -> EngineError {
    encoding(reasons(&error))
}
