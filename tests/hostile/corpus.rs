//! The malformed-input corpus: messages no well-behaved client sends, made from the fixture's
//! real keys and certificates so that everything but the one fault in each is genuine CMS.
//! The generator is deterministic (every random byte comes from a seeded generator), so the
//! committed files under `tests/corpus/malformed/` are exactly what [`files`] returns.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use der::asn1::{OctetString, SetOfVec, Utf8StringRef};
use der::{Any, Decode, Encode};
use model::{CertificateDer, SeededRng, Serial, Timestamp};
use pki::{RsaPrivateKey, SignatureHash};
use sha2::Digest as _;
use smime::mime::{self, MessageHeaders, SmimeType};
use smime::structure::{cipher_algorithm, content_cipher};
use smime::{
    CallContext, Capability, Cipher, CmsDer, Digest, Engine, EnvelopeRequest, IdentifierKind,
    Recipient, SignRequest, SignerCredentials, oids,
};
use smime_rustcrypto::RustCryptoEngine;
use x509_cert::Certificate;
use x509_cert::attr::Attribute;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;

use super::Fixture;
use super::der_edit::{CONTEXT_0, INTEGER, children, indefinite, rebuild, tlv};

/// The seed of every random byte in the corpus (content keys, IVs, padding).
const SEED: u64 = 2026;

/// The multipart/signed boundary of every clear-signed message in the corpus.
pub const BOUNDARY: &str = "----=_corpus_boundary";

/// An object identifier no one defines, under a private enterprise arc.
const UNKNOWN_EXTENSION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1");

/// One file of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusFile {
    /// Its file name.
    pub name: &'static str,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Every file of the committed corpus, in name order.
pub fn files() -> Vec<CorpusFile> {
    let g = Generator::new();
    let text = g.text();
    let signed = g.clear_signed_entity(&text);
    let opaque_der = g.signature(&text, false);
    let enveloped_der = g.envelope_der(&text, &g.to_bob(), Cipher::Aes128Cbc, "enveloped");
    let detached_der = g.signature(&text, true);
    let mut files = vec![
        // Well-formed messages, so the corpus also shows what a good reading looks like.
        g.file("valid-clear-signed.eml", "Valid clear-signed", &signed),
        g.file(
            "valid-opaque-signed.eml",
            "Valid opaque-signed",
            &mime::pkcs7_mime_entity(&opaque_der, SmimeType::SignedData),
        ),
        g.file(
            "valid-enveloped.eml",
            "Valid enveloped",
            &mime::pkcs7_mime_entity(&enveloped_der, SmimeType::EnvelopedData),
        ),
        g.file(
            "valid-signed-then-enveloped.eml",
            "Valid signed then enveloped",
            &g.enveloped_entity(&signed, "signed-then-enveloped"),
        ),
        // Truncated and indefinite-length DER.
        g.pkcs7_file(
            "truncated-enveloped-der.eml",
            &enveloped_der.as_bytes()[..enveloped_der.as_bytes().len() / 2],
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "truncated-opaque-signed-der.eml",
            &opaque_der.as_bytes()[..opaque_der.as_bytes().len() - 1],
            SmimeType::SignedData,
        ),
        g.detached_file(
            "truncated-detached-signature-der.eml",
            &text,
            &detached_der.as_bytes()[..40],
        ),
        g.pkcs7_file(
            "indefinite-length-opaque-signed.eml",
            &indefinite(opaque_der.as_bytes(), 3),
            SmimeType::SignedData,
        ),
        g.pkcs7_file(
            "indefinite-length-enveloped.eml",
            &indefinite(enveloped_der.as_bytes(), 3),
            SmimeType::EnvelopedData,
        ),
        g.detached_file(
            "indefinite-length-detached-signature.eml",
            &text,
            &indefinite(detached_der.as_bytes(), 1),
        ),
        g.pkcs7_file(
            "indefinite-length-never-ended.eml",
            &{
                // The end-of-contents octets of the two innermost indefinite lengths are cut.
                let ber = indefinite(enveloped_der.as_bytes(), 3);
                ber[..ber.len() - 4].to_vec()
            },
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "der-trailing-bytes.eml",
            &[enveloped_der.as_bytes(), b"\0\0trailing"].concat(),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "der-length-claims-4-gib.eml",
            &[
                &[0x30, 0x84, 0xff, 0xff, 0xff, 0xf0][..],
                &enveloped_der.as_bytes()[2..64],
            ]
            .concat(),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "der-length-not-minimal.eml",
            &non_minimal_length(enveloped_der.as_bytes()),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file("empty-pkcs7-body.eml", b"", SmimeType::EnvelopedData),
        // Content types that are not what they say.
        g.pkcs7_file(
            "data-content-labelled-enveloped.eml",
            &content_info(
                oids::DATA,
                &OctetString::new(text.clone()).expect("short text"),
            ),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "signed-data-labelled-enveloped.eml",
            opaque_der.as_bytes(),
            SmimeType::EnvelopedData,
        ),
        g.detached_file(
            "detached-signature-is-enveloped-data.eml",
            &text,
            enveloped_der.as_bytes(),
        ),
        g.pkcs7_file(
            "econtent-type-not-data.eml",
            &g.custom_signed(&Custom {
                econtent_type: oids::SIGNED_DATA,
                ..g.custom(&text)
            }),
            SmimeType::SignedData,
        ),
        // Signed attributes missing, duplicated, or not what they claim.
        g.attributes_file("missing-message-digest.eml", &text, |a| {
            a.retain(|attribute| attribute.oid != oids::MESSAGE_DIGEST);
        }),
        g.attributes_file("duplicated-message-digest.eml", &text, |a| {
            a.push(attribute(oids::MESSAGE_DIGEST, octets(&[0x5a; 32])));
        }),
        g.attributes_file("message-digest-with-two-values.eml", &text, |a| {
            let digest = sha256(&text);
            a.retain(|attribute| attribute.oid != oids::MESSAGE_DIGEST);
            a.push(attribute_of(
                oids::MESSAGE_DIGEST,
                vec![octets(&digest), octets(&[0x5a; 32])],
            ));
        }),
        g.attributes_file("message-digest-of-other-content.eml", &text, |a| {
            a.retain(|attribute| attribute.oid != oids::MESSAGE_DIGEST);
            a.push(attribute(oids::MESSAGE_DIGEST, octets(&sha256(b"other"))));
        }),
        g.attributes_file("missing-content-type.eml", &text, |a| {
            a.retain(|attribute| attribute.oid != oids::CONTENT_TYPE);
        }),
        g.attributes_file("duplicated-content-type.eml", &text, |a| {
            a.push(attribute(oids::CONTENT_TYPE, oid_value(oids::SIGNED_DATA)));
        }),
        g.attributes_file("content-type-attribute-wrong.eml", &text, |a| {
            a.retain(|attribute| attribute.oid != oids::CONTENT_TYPE);
            a.push(attribute(
                oids::CONTENT_TYPE,
                oid_value(oids::ENVELOPED_DATA),
            ));
        }),
        g.attributes_file("missing-signing-time.eml", &text, |a| {
            a.retain(|attribute| attribute.oid != oids::SIGNING_TIME);
        }),
        g.attributes_file("duplicated-signing-time.eml", &text, |a| {
            let later = g.fixture.signed_at.plus(model::Duration::days(300));
            a.push(attribute(oids::SIGNING_TIME, time_value(later)));
        }),
        g.attributes_file("signing-time-with-two-values.eml", &text, |a| {
            a.retain(|attribute| attribute.oid != oids::SIGNING_TIME);
            let later = g.fixture.signed_at.plus(model::Duration::days(300));
            a.push(attribute_of(
                oids::SIGNING_TIME,
                vec![time_value(g.fixture.signed_at), time_value(later)],
            ));
        }),
        g.attributes_file("signing-time-not-a-time.eml", &text, |a| {
            a.retain(|attribute| attribute.oid != oids::SIGNING_TIME);
            let words = Utf8StringRef::new("yesterday").expect("plain text");
            a.push(attribute(
                oids::SIGNING_TIME,
                Any::encode_from(&words).expect("a UTF8String"),
            ));
        }),
        g.detached_file(
            "no-signed-attributes.eml",
            &text,
            &g.custom_signed(&Custom {
                detached: true,
                attributes: None,
                ..g.custom(&text)
            }),
        ),
        // Line ends: a signature is over the exact bytes, CRLF and all.
        g.raw_file(
            "clear-signed-stored-with-lf.eml",
            crlf_to_lf(&g.message("Stored with LF", &signed)),
        ),
        g.raw_file(
            "signed-over-lf-text-sent-with-lf.eml",
            crlf_to_lf(&g.message(
                "Signed over LF text",
                &g.clear_signed_entity(&crlf_to_lf(&text)),
            )),
        ),
        g.file(
            "signed-over-lf-text-sent-with-crlf.eml",
            "Signed over LF text",
            &mime::clear_signed_entity(
                &text,
                &g.signature(&crlf_to_lf(&text), true),
                Digest::Sha256,
                BOUNDARY,
            ),
        ),
        // Boundaries where they do not belong, or missing where they do.
        g.file(
            "boundary-inside-a-line.eml",
            "Boundary inside a line",
            &g.clear_signed_entity(&mime::text_entity(&format!(
                "the delimiter --{BOUNDARY} in the middle of a line ends nothing\n"
            ))),
        ),
        g.file(
            "boundary-as-a-line-prefix.eml",
            "Boundary as a line prefix",
            &g.clear_signed_entity(&mime::text_entity(&format!(
                "--{BOUNDARY}-and-more starts a line but is no delimiter\n"
            ))),
        ),
        g.file(
            "delimiters-with-transport-padding.eml",
            "Delimiters with padding",
            &replace(
                &signed,
                &format!("--{BOUNDARY}\r\n"),
                &format!("--{BOUNDARY} \t\r\n"),
            ),
        ),
        g.file(
            "no-closing-delimiter.eml",
            "No closing delimiter",
            &replace(&signed, &format!("--{BOUNDARY}--"), "the end"),
        ),
        g.file(
            "three-parts-in-multipart-signed.eml",
            "Three parts",
            &replace(
                &signed,
                &format!("--{BOUNDARY}--"),
                &format!("--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nextra\r\n--{BOUNDARY}--"),
            ),
        ),
        g.file(
            "no-boundary-parameter.eml",
            "No boundary parameter",
            &replace(&signed, &format!("; boundary=\"{BOUNDARY}\""), ""),
        ),
        // Base64 that is not quite base64.
        g.file(
            "base64-with-noise-outside-the-alphabet.eml",
            "Base64 with noise",
            &insert_in_base64(
                &mime::pkcs7_mime_entity(&enveloped_der, SmimeType::EnvelopedData),
                "!*%$ #@",
            ),
        ),
        g.file(
            "base64-with-garbage-inside-the-alphabet.eml",
            "Base64 with garbage",
            &insert_in_base64(
                &mime::pkcs7_mime_entity(&enveloped_der, SmimeType::EnvelopedData),
                "QUJD",
            ),
        ),
        g.file(
            "base64-with-padding-in-the-middle.eml",
            "Base64 padding inside",
            &insert_in_base64(
                &mime::pkcs7_mime_entity(&enveloped_der, SmimeType::EnvelopedData),
                "A==",
            ),
        ),
        g.file(
            "signature-base64-with-garbage.eml",
            "Signature base64 with garbage",
            &insert_in_base64(&signed, "QUJD"),
        ),
        // Certificates with extensions and serials the reader must cope with.
        g.signed_by_file("signer-unknown-critical-extension.eml", |children| {
            add_extension(children, true);
        }),
        g.signed_by_file("signer-unknown-non-critical-extension.eml", |children| {
            add_extension(children, false);
        }),
        g.signed_by_file("signer-negative-serial.eml", |children| {
            children[1] = tlv(INTEGER, &[0xf5, 0x11]);
        }),
        g.signed_by_file("signer-serial-of-20-octets.eml", |children| {
            let mut serial = vec![0x00];
            serial.extend_from_slice(&[0xa5; 20]);
            children[1] = tlv(INTEGER, &serial);
        }),
        g.signed_by_file("signer-serial-of-30-octets.eml", |children| {
            children[1] = tlv(INTEGER, &[0x3c; 30]);
        }),
        // Recipient infos that do not name the reader, or lie about him.
        g.pkcs7_file(
            "recipient-info-for-nobody.eml",
            g.envelope_der(
                &text,
                &[recipient(&g.fixture.carol, IdentifierKind::IssuerAndSerial)],
                Cipher::Aes128Cbc,
                "for-nobody",
            )
            .as_bytes(),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "recipient-info-serial-minus-one.eml",
            &edit_recipients(enveloped_der.as_bytes(), |ktri| {
                if let RecipientIdentifier::IssuerAndSerialNumber(ias) = &mut ktri.rid {
                    if Serial::from_der_integer(ias.serial_number.as_bytes())
                        == Serial::from_be_bytes(&[0xff])
                    {
                        // Bob's serial 255 is `00 ff`; -1 is `ff`.
                        ias.serial_number =
                            SerialNumber::from_der(&[INTEGER, 1, 0xff]).expect("INTEGER -1");
                    }
                }
            }),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "recipient-key-identifier-for-nobody.eml",
            &edit_recipients(
                g.envelope_der(
                    &text,
                    &[recipient(
                        &g.fixture.bob,
                        IdentifierKind::SubjectKeyIdentifier,
                    )],
                    Cipher::Aes128Cbc,
                    "ski-for-nobody",
                )
                .as_bytes(),
                |ktri| {
                    ktri.rid = RecipientIdentifier::SubjectKeyIdentifier(
                        x509_cert::ext::pkix::SubjectKeyIdentifier(
                            OctetString::new([0x77u8; 20]).expect("20 bytes"),
                        ),
                    );
                },
            ),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "recipient-named-but-key-garbage.eml",
            &edit_recipients(
                g.envelope_der(&text, &[g.bob()], Cipher::Aes128Cbc, "key-garbage")
                    .as_bytes(),
                |ktri| ktri.enc_key = OctetString::new([0x42u8; 256]).expect("256 bytes"),
            ),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "recipient-infos-empty.eml",
            &edit_enveloped(
                enveloped_der.as_bytes(),
                |_| RecipientInfos(SetOfVec::new()),
            ),
            SmimeType::EnvelopedData,
        ),
        // RC2 parameters whose version disagrees with the key that was really used.
        g.rc2_file("rc2-says-128-bits-key-has-40.eml", Cipher::Rc2Cbc40, |iv| {
            cipher_algorithm(Cipher::Rc2Cbc128, iv).expect("RC2 parameters")
        }),
        g.rc2_file(
            "rc2-says-40-bits-key-has-128.eml",
            Cipher::Rc2Cbc128,
            |iv| cipher_algorithm(Cipher::Rc2Cbc40, iv).expect("RC2 parameters"),
        ),
        g.rc2_file("rc2-version-undefined.eml", Cipher::Rc2Cbc128, |iv| {
            rc2_version(7, iv)
        }),
        g.rc2_file("rc2-version-1024-bits.eml", Cipher::Rc2Cbc128, |iv| {
            rc2_version(1024, iv)
        }),
        // Nesting deeper than any client follows.
        // Inner layers travel as binary (RFC 8551 §3.1.2 allows it on 8-bit-clean paths), so
        // twenty of them stay small; only the outermost is base64.
        g.file(
            "opaque-signed-20-levels.eml",
            "Twenty signatures",
            &mime::pkcs7_mime_entity(
                &g.signature(
                    &(0..19).fold(text.clone(), |entity, _| {
                        binary_pkcs7_entity(&g.signature(&entity, false), SmimeType::SignedData)
                    }),
                    false,
                ),
                SmimeType::SignedData,
            ),
        ),
        g.file(
            "signed-and-enveloped-20-levels.eml",
            "Ten signatures, ten envelopes",
            &(0..10).fold(text.clone(), |entity, level| {
                let signed =
                    binary_pkcs7_entity(&g.signature(&entity, false), SmimeType::SignedData);
                let enveloped = g.envelope_der(
                    &signed,
                    &g.to_bob(),
                    Cipher::Aes128Cbc,
                    &format!("nested-{level}"),
                );
                if level == 9 {
                    mime::pkcs7_mime_entity(&enveloped, SmimeType::EnvelopedData)
                } else {
                    binary_pkcs7_entity(&enveloped, SmimeType::EnvelopedData)
                }
            }),
        ),
        g.file(
            "multipart-mixed-1000-levels.eml",
            "A thousand multiparts",
            &nested_multipart(1000),
        ),
        // Authenticated-enveloped-data (RFC 5083/5084), which today's clients send.
        g.pkcs7_file(
            "valid-auth-enveloped-gcm.eml",
            &g.auth_enveloped_der(&text, "gcm", false),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "auth-enveloped-truncated.eml",
            &{
                let der = g.auth_enveloped_der(&text, "gcm", false);
                der[..der.len() - 40].to_vec()
            },
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "auth-enveloped-bad-gcm-tag.eml",
            &{
                let mut der = g.auth_enveloped_der(&text, "gcm", false);
                // The tag is the structure's last field.
                if let Some(last) = der.last_mut() {
                    *last ^= 0x01;
                }
                der
            },
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "auth-enveloped-altered-nonce.eml",
            &altered_gcm_nonce(&g.auth_enveloped_der(&text, "gcm", false)),
            SmimeType::EnvelopedData,
        ),
        g.pkcs7_file(
            "oaep-with-unknown-hash.eml",
            &g.auth_enveloped_der(&text, "oaep-sha224", true),
            SmimeType::EnvelopedData,
        ),
    ];
    files.sort_by_key(|file| file.name);
    files
}

/// A clear-signed message whose multipart/mixed body carries an attachment of `size` bytes:
/// too big to commit, so tests make it when they need it.
pub fn big_attachment_message(size: usize) -> Vec<u8> {
    let g = Generator::new();
    let attachment: Vec<u8> = (0..size).map(|n| (n % 251) as u8).collect();
    let mut mixed =
        b"Content-Type: multipart/mixed; boundary=\"mixed\"\r\n\r\n--mixed\r\n".to_vec();
    mixed.extend_from_slice(&g.text());
    mixed.extend_from_slice(
        b"\r\n--mixed\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"big.bin\"\r\n\r\n",
    );
    mixed.extend_from_slice(&mime::base64_lines(&attachment));
    drop(attachment);
    mixed.extend_from_slice(b"\r\n--mixed--\r\n");
    g.message("A big attachment", &g.clear_signed_entity(&mixed))
}

/// What a hand-built signed-data carries.
struct Custom<'a> {
    content: &'a [u8],
    detached: bool,
    econtent_type: ObjectIdentifier,
    attributes: Option<Vec<Attribute>>,
    certificate: CertificateDer,
}

struct Generator {
    fixture: &'static Fixture,
    engine: RustCryptoEngine,
}

impl Generator {
    fn new() -> Self {
        Self {
            fixture: Fixture::get(),
            engine: RustCryptoEngine,
        }
    }

    fn text(&self) -> Vec<u8> {
        mime::text_entity("The Q1 figures are final.\nSee you on Monday.\n")
    }

    fn headers(&self, subject: &str) -> MessageHeaders {
        MessageHeaders {
            from: self.fixture.alice.address.clone(),
            to: vec![self.fixture.bob.address.clone()],
            subject: subject.to_owned(),
            date: self.fixture.signed_at.to_rfc5322(),
            message_id: format!(
                "{}@hostile.example",
                subject.to_ascii_lowercase().replace(' ', "-")
            ),
        }
    }

    fn message(&self, subject: &str, entity: &[u8]) -> Vec<u8> {
        mime::message(&self.headers(subject), entity)
    }

    fn file(&self, name: &'static str, subject: &str, entity: &[u8]) -> CorpusFile {
        self.raw_file(name, self.message(subject, entity))
    }

    fn raw_file(&self, name: &'static str, bytes: Vec<u8>) -> CorpusFile {
        CorpusFile { name, bytes }
    }

    fn pkcs7_file(&self, name: &'static str, der: &[u8], smime_type: SmimeType) -> CorpusFile {
        self.file(
            name,
            name.trim_end_matches(".eml"),
            &mime::pkcs7_mime_entity(&CmsDer::new(der.to_vec()), smime_type),
        )
    }

    fn detached_file(&self, name: &'static str, content: &[u8], signature: &[u8]) -> CorpusFile {
        self.file(
            name,
            name.trim_end_matches(".eml"),
            &mime::clear_signed_entity(
                content,
                &CmsDer::new(signature.to_vec()),
                Digest::Sha256,
                BOUNDARY,
            ),
        )
    }

    /// Alice writes at the signing time, knowing the fixture's root.
    fn context(&self) -> CallContext<'static> {
        CallContext::new(
            self.fixture.signed_at,
            std::slice::from_ref(&self.fixture.root),
        )
    }

    fn signer(&self) -> SignerCredentials {
        SignerCredentials {
            certificate: self.fixture.alice.sign.certificate.clone(),
            key: self.fixture.alice.sign.key.clone(),
            chain: Vec::new(),
        }
    }

    fn signature(&self, content: &[u8], detached: bool) -> CmsDer {
        let signer = self.signer();
        let request = SignRequest {
            content,
            signer: &signer,
            digest: Digest::Sha256,
            identifier: IdentifierKind::IssuerAndSerial,
            signing_time: self.fixture.signed_at,
            detached,
            capabilities: &[Capability::Cipher(Cipher::Aes128Cbc)],
        };
        self.engine
            .sign(
                &request,
                &self.context(),
                &mut SeededRng::new(SEED, "signature"),
            )
            .expect("signing with the fixture's key")
    }

    fn clear_signed_entity(&self, entity: &[u8]) -> Vec<u8> {
        mime::clear_signed_entity(
            entity,
            &self.signature(entity, true),
            Digest::Sha256,
            BOUNDARY,
        )
    }

    fn bob(&self) -> Recipient {
        recipient(&self.fixture.bob, IdentifierKind::IssuerAndSerial)
    }

    /// Bob, and Alice for her sent copy, as every enveloped message is addressed.
    fn to_bob(&self) -> Vec<Recipient> {
        vec![
            self.bob(),
            recipient(&self.fixture.alice, IdentifierKind::IssuerAndSerial),
        ]
    }

    fn envelope_der(
        &self,
        content: &[u8],
        recipients: &[Recipient],
        cipher: Cipher,
        purpose: &str,
    ) -> CmsDer {
        let request = EnvelopeRequest {
            content,
            recipients,
            cipher,
        };
        self.engine
            .envelope(
                &request,
                &self.context(),
                &mut SeededRng::new(SEED, purpose),
            )
            .expect("enveloping to the fixture's certificates")
    }

    /// Authenticated-enveloped-data to Bob with AES-128-GCM and a 16-byte tag, built here
    /// since kmlab reads it but does not send it; Bob's content key wrapped with PKCS #1 v1.5,
    /// or with RSA-OAEP over SHA-224, a hash kmlab does not read OAEP with (MSG-09).
    fn auth_enveloped_der(&self, content: &[u8], purpose: &str, oaep_sha224: bool) -> Vec<u8> {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        use rand_core::RngCore;

        let mut rng = SeededRng::new(SEED, purpose);
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let sealed = aes_gcm::Aes128Gcm::new_from_slice(&key)
            .expect("a 16-byte key")
            .encrypt(
                aes_gcm::Nonce::from_slice(&nonce),
                Payload {
                    msg: content,
                    aad: &[],
                },
            )
            .expect("GCM seals anything this short");
        let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
        let bob = &self.fixture.bob.enc_public;
        let (key_enc_alg, enc_key) = if oaep_sha224 {
            let parameters = pkcs1::RsaOaepParams::new::<sha2::Sha224>()
                .to_der()
                .expect("OAEP parameters");
            (
                spki::AlgorithmIdentifierOwned {
                    oid: smime::oids::RSAES_OAEP,
                    parameters: Some(Any::from_der(&parameters).expect("DER")),
                },
                bob.encrypt(&mut rng, rsa::Oaep::new::<sha2::Sha224>(), &key),
            )
        } else {
            (
                spki::AlgorithmIdentifierOwned {
                    oid: smime::oids::RSA_ENCRYPTION,
                    parameters: Some(Any::from(der::asn1::Null)),
                },
                bob.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, &key),
            )
        };
        let (rid, _) = signer_identity(&self.fixture.bob.enc.certificate);
        let info = RecipientInfo::Ktri(KeyTransRecipientInfo {
            version: CmsVersion::V0,
            rid: RecipientIdentifier::IssuerAndSerialNumber(rid),
            key_enc_alg,
            enc_key: OctetString::new(enc_key.expect("RSA encrypts a 16-byte key"))
                .expect("octets"),
        });
        let gcm = smime::structure::GcmParameters {
            nonce: OctetString::new(nonce.to_vec()).expect("octets"),
            icv_len: 16,
        };
        let data = smime::structure::AuthEnvelopedData {
            version: CmsVersion::V0,
            originator_info: None,
            recip_infos: RecipientInfos(SetOfVec::try_from(vec![info]).expect("one info")),
            auth_encrypted_content: cms::enveloped_data::EncryptedContentInfo {
                content_type: smime::oids::DATA,
                content_enc_alg: spki::AlgorithmIdentifierOwned {
                    oid: smime::oids::AES128_GCM,
                    parameters: Some(Any::encode_from(&gcm).expect("GCM parameters")),
                },
                encrypted_content: Some(OctetString::new(ciphertext).expect("octets")),
            },
            auth_attrs: None,
            mac: OctetString::new(tag).expect("octets"),
            unauth_attrs: None,
        };
        content_info(smime::oids::AUTH_ENVELOPED_DATA, &data)
    }

    fn enveloped_entity(&self, content: &[u8], purpose: &str) -> Vec<u8> {
        mime::pkcs7_mime_entity(
            &self.envelope_der(content, &self.to_bob(), Cipher::Aes128Cbc, purpose),
            SmimeType::EnvelopedData,
        )
    }

    /// A hand-built signature over `content` by Alice, with the usual attributes.
    fn custom<'a>(&self, content: &'a [u8]) -> Custom<'a> {
        Custom {
            content,
            detached: false,
            econtent_type: oids::DATA,
            attributes: Some(vec![
                attribute(oids::CONTENT_TYPE, oid_value(oids::DATA)),
                attribute(oids::SIGNING_TIME, time_value(self.fixture.signed_at)),
                attribute(oids::MESSAGE_DIGEST, octets(&sha256(content))),
            ]),
            certificate: self.fixture.alice.sign.certificate.clone(),
        }
    }

    /// Signed-data as [`Custom`] describes it, signed for real with Alice's key: over the
    /// attributes when there are some, else straight over the content (RFC 5652 §5.4).
    fn custom_signed(&self, custom: &Custom<'_>) -> Vec<u8> {
        self.signed_with(custom, &self.fixture.alice.sign_key)
    }

    fn signed_with(&self, custom: &Custom<'_>, key: &RsaPrivateKey) -> Vec<u8> {
        let attributes = custom
            .attributes
            .clone()
            .map(|list| SetOfVec::try_from(list).expect("distinct attributes"));
        let signature = match &attributes {
            Some(set) => SignatureHash::Sha256.sign(key, &set.to_der().expect("attributes")),
            None => SignatureHash::Sha256.sign(key, custom.content),
        };
        let (issuer_and_serial, carried) = signer_identity(&custom.certificate);
        let sha256 = spki::AlgorithmIdentifierOwned {
            oid: oids::SHA256,
            parameters: None,
        };
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial),
            digest_alg: sha256.clone(),
            signed_attrs: attributes,
            signature_algorithm: spki::AlgorithmIdentifierOwned {
                oid: oids::RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
            signature: OctetString::new(signature).expect("a signature"),
            unsigned_attrs: None,
        };
        let signed = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![sha256]).expect("one"),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: custom.econtent_type,
                econtent: (!custom.detached).then(|| {
                    Any::encode_from(&OctetString::new(custom.content).expect("content"))
                        .expect("an OCTET STRING")
                }),
            },
            certificates: Some(CertificateSet(
                SetOfVec::try_from(vec![CertificateChoices::Certificate(carried)])
                    .expect("one certificate"),
            )),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).expect("one")),
        };
        let der = content_info(oids::SIGNED_DATA, &signed);
        if Certificate::from_der(custom.certificate.as_bytes()).is_ok() {
            der
        } else {
            replace_certificates(&der, custom.certificate.as_bytes())
        }
    }

    fn attributes_file(
        &self,
        name: &'static str,
        text: &[u8],
        edit: impl FnOnce(&mut Vec<Attribute>),
    ) -> CorpusFile {
        let mut custom = Custom {
            detached: true,
            ..self.custom(text)
        };
        if let Some(attributes) = &mut custom.attributes {
            edit(attributes);
        }
        self.detached_file(name, text, &self.custom_signed(&custom))
    }

    /// A clear-signed message by Alice whose signing certificate was edited (as the children
    /// of its TBSCertificate) and signed again by the root.
    fn signed_by_file(
        &self,
        name: &'static str,
        edit: impl FnOnce(&mut Vec<Vec<u8>>),
    ) -> CorpusFile {
        let certificate = &self.fixture.alice.sign.certificate;
        let tbs = children(certificate.as_bytes())[0];
        let mut parts: Vec<Vec<u8>> = children(tbs).into_iter().map(<[u8]>::to_vec).collect();
        edit(&mut parts);
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let edited = self.fixture.sign_tbs(&rebuild(tbs, &parts));
        let text = self.text();
        let custom = Custom {
            detached: true,
            certificate: edited,
            ..self.custom(&text)
        };
        self.detached_file(name, &text, &self.custom_signed(&custom))
    }

    /// An RC2 envelope built with `real`, whose algorithm identifier is then replaced.
    fn rc2_file(
        &self,
        name: &'static str,
        real: Cipher,
        claimed: impl Fn(&[u8]) -> spki::AlgorithmIdentifierOwned,
    ) -> CorpusFile {
        let der = self.envelope_der(&self.text(), &[self.bob()], real, name);
        let mut data = smime::structure::decode_enveloped(der.as_bytes()).expect("our envelope");
        let (_, iv) =
            content_cipher(&data.encrypted_content.content_enc_alg).expect("our RC2 parameters");
        data.encrypted_content.content_enc_alg = claimed(&iv);
        self.pkcs7_file(
            name,
            &content_info(oids::ENVELOPED_DATA, &data),
            SmimeType::EnvelopedData,
        )
    }
}

fn recipient(party: &super::Party, identifier: IdentifierKind) -> Recipient {
    Recipient {
        certificate: party.enc.certificate.clone(),
        identifier,
    }
}

fn content_info(content_type: ObjectIdentifier, content: &impl Encode) -> Vec<u8> {
    let content = Any::from_der(&content.to_der().expect("encodable content")).expect("DER");
    ContentInfo {
        content_type,
        content,
    }
    .to_der()
    .expect("a ContentInfo")
}

/// How to name the signer of `certificate`, and the parsed certificate to carry. A
/// certificate that does not parse (an over-long serial) is carried as raw bytes afterwards,
/// and Alice's own certificate stands in for it here.
fn signer_identity(certificate: &CertificateDer) -> (IssuerAndSerialNumber, Certificate) {
    let parsed = Certificate::from_der(certificate.as_bytes())
        .or_else(|_| Certificate::from_der(Fixture::get().alice.sign.certificate.as_bytes()))
        .expect("Alice's certificate parses");
    let issuer_and_serial = IssuerAndSerialNumber {
        issuer: parsed.tbs_certificate.issuer.clone(),
        serial_number: parsed.tbs_certificate.serial_number.clone(),
    };
    (issuer_and_serial, parsed)
}

/// A signed-data ContentInfo with its certificate set replaced by `raw`, bytes no parser
/// had to accept first.
fn replace_certificates(content_info_der: &[u8], raw: &[u8]) -> Vec<u8> {
    let outer = children(content_info_der);
    let explicit = outer[1];
    let signed = children(explicit)[0];
    let parts: Vec<Vec<u8>> = children(signed)
        .into_iter()
        .map(|part| {
            if part[0] == CONTEXT_0 {
                tlv(CONTEXT_0, raw)
            } else {
                part.to_vec()
            }
        })
        .collect();
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let signed = rebuild(signed, &parts);
    let explicit = rebuild(explicit, &[&signed]);
    rebuild(content_info_der, &[outer[0], &explicit])
}

/// `der` (our enveloped-data) with every key-transport recipient info edited.
fn edit_recipients(der: &[u8], edit: impl Fn(&mut KeyTransRecipientInfo)) -> Vec<u8> {
    edit_enveloped(der, |data| {
        let infos: Vec<RecipientInfo> = data
            .recip_infos
            .0
            .iter()
            .map(|info| match info {
                RecipientInfo::Ktri(ktri) => {
                    let mut ktri = ktri.clone();
                    edit(&mut ktri);
                    RecipientInfo::Ktri(ktri)
                }
                other => other.clone(),
            })
            .collect();
        RecipientInfos(SetOfVec::try_from(infos).expect("distinct recipient infos"))
    })
}

fn edit_enveloped(der: &[u8], edit: impl FnOnce(&EnvelopedData) -> RecipientInfos) -> Vec<u8> {
    let mut data = smime::structure::decode_enveloped(der).expect("our envelope");
    data.recip_infos = edit(&data);
    content_info(oids::ENVELOPED_DATA, &data)
}

fn rc2_version(version: u32, iv: &[u8]) -> spki::AlgorithmIdentifierOwned {
    spki::AlgorithmIdentifierOwned {
        oid: oids::RC2_CBC,
        parameters: Some(
            Any::encode_from(&smime::structure::Rc2Parameter {
                version,
                iv: OctetString::new(iv).expect("an IV"),
            })
            .expect("RC2 parameters"),
        ),
    }
}

fn attribute(oid: ObjectIdentifier, value: Any) -> Attribute {
    attribute_of(oid, vec![value])
}

fn attribute_of(oid: ObjectIdentifier, values: Vec<Any>) -> Attribute {
    Attribute {
        oid,
        values: SetOfVec::try_from(values).expect("distinct values"),
    }
}

fn octets(bytes: &[u8]) -> Any {
    Any::encode_from(&OctetString::new(bytes).expect("octets")).expect("an OCTET STRING")
}

fn oid_value(oid: ObjectIdentifier) -> Any {
    Any::encode_from(&oid).expect("an OID")
}

fn time_value(at: Timestamp) -> Any {
    Any::encode_from(&pki::x509_time(at).expect("a time after 1970")).expect("a Time")
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(bytes).to_vec()
}

/// An unknown extension appended to a TBSCertificate's extensions (its last child, `[3]`).
fn add_extension(tbs_children: &mut [Vec<u8>], critical: bool) {
    let extension = Extension {
        extn_id: UNKNOWN_EXTENSION,
        critical,
        extn_value: OctetString::new([0x05, 0x00]).expect("NULL"),
    }
    .to_der()
    .expect("an extension");
    let last = tbs_children
        .last_mut()
        .expect("a v3 certificate has extensions");
    let list = children(last)[0];
    let mut items: Vec<&[u8]> = children(list);
    items.push(&extension);
    let list = rebuild(list, &items);
    *last = rebuild(last, &[&list]);
}

/// `der` with its outer length in a longer form than DER allows (`82 00 nn` for `81 nn`).
fn non_minimal_length(der: &[u8]) -> Vec<u8> {
    let content = super::der_edit::content(der);
    let mut out = vec![der[0], 0x84];
    out.extend_from_slice(&(content.len() as u32).to_be_bytes());
    out.extend_from_slice(content);
    out
}

fn crlf_to_lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for (index, &byte) in bytes.iter().enumerate() {
        if byte == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
            continue;
        }
        out.push(byte);
    }
    out
}

fn replace(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).expect("the corpus's MIME is ASCII");
    assert!(text.contains(from), "{from:?} not in the message");
    text.replace(from, to).into_bytes()
}

/// `noise` inserted after the first 40 characters of the third base64 line of the body.
fn insert_in_base64(entity: &[u8], noise: &str) -> Vec<u8> {
    let text = String::from_utf8(entity.to_vec()).expect("the corpus's MIME is ASCII");
    let body = text.rfind("\r\n\r\n").expect("a body") + 4;
    let mut lines = text[body..].split("\r\n");
    let third = body
        + lines
            .by_ref()
            .take(2)
            .map(|line| line.len() + 2)
            .sum::<usize>()
        + 40;
    let mut out = text[..third].to_owned();
    out.push_str(noise);
    out.push_str(&text[third..]);
    out.into_bytes()
}

/// An application/pkcs7-mime entity with the DER as a binary body.
fn binary_pkcs7_entity(der: &CmsDer, smime_type: SmimeType) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: application/pkcs7-mime; smime-type={}; name=\"smime.p7m\"\r\n\
Content-Transfer-Encoding: binary\r\n\r\n",
        smime_type.as_str()
    )
    .into_bytes();
    out.extend_from_slice(der.as_bytes());
    out
}

/// `depth` multipart/mixed entities inside one another around one text part.
fn nested_multipart(depth: usize) -> Vec<u8> {
    let mut out = String::new();
    for level in 0..depth {
        out.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    out.push_str("Content-Type: text/plain\r\n\r\nat the bottom\r\n");
    for level in (0..depth).rev() {
        out.push_str(&format!("--b{level}--\r\n"));
    }
    out.into_bytes()
}

/// Authenticated-enveloped-data with one bit of its GCM nonce flipped: the key still unwraps
/// the content key, and the tag no longer matches.
fn altered_gcm_nonce(der: &[u8]) -> Vec<u8> {
    let info = cms::content_info::ContentInfo::from_der(der).expect("ContentInfo");
    let mut data: smime::structure::AuthEnvelopedData = info
        .content
        .decode_as()
        .expect("authenticated-enveloped-data");
    let algorithm = &mut data.auth_encrypted_content.content_enc_alg;
    let mut gcm: smime::structure::GcmParameters = algorithm
        .parameters
        .as_ref()
        .expect("GCM parameters")
        .decode_as()
        .expect("GCM parameters");
    let mut nonce = gcm.nonce.as_bytes().to_vec();
    nonce[0] ^= 0x01;
    gcm.nonce = OctetString::new(nonce).expect("octets");
    algorithm.parameters = Some(Any::encode_from(&gcm).expect("GCM parameters"));
    content_info(smime::oids::AUTH_ENVELOPED_DATA, &data)
}
