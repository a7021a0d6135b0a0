//! Reading a received message: peeling S/MIME layers and judging each one.
//!
//! Every layer gets two verdicts: the cryptographic one from the engine (did the key open it,
//! do the signature and digest check out) and the policy one from the client (is the signer's
//! chain trusted, valid at signing and at reading time, does the address match). Neither is
//! an error: an unreadable message is a reading like any other.

use mail_parser::MessageParser;
use model::{CertificateDer, CertifiedKey, KeyGeneration, Timestamp};
use pki::{CertificateInfo, ChainVerdict, verify_chain};
use smime::mime::{Entity, classify};
use smime::structure::{CmsSummary, EnvelopeSummary, summarize};
use smime::{Decryption, Engine, SignatureCheck};

use crate::persona::{Profile, SignForm};

/// Nested S/MIME deeper than this is treated as unreadable rather than followed.
const MAX_LAYERS: usize = 16;

/// What the reading client has to work with.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    /// The engine doing the cryptography.
    pub engine: &'a dyn Engine,
    /// The client's profile.
    pub profile: &'static Profile,
    /// Every encryption key the client holds.
    pub keys: &'a [CertifiedKey],
    /// The client's trusted roots.
    pub roots: &'a [CertificateDer],
    /// The moment of reading (virtual time).
    pub now: Timestamp,
}

/// One attempt to open an envelope with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttempt {
    /// The key's generation.
    pub generation: KeyGeneration,
    /// What happened.
    pub result: &'static str,
}

/// The policy verdict on a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignaturePolicy {
    /// The signer's chain judged at the moment of reading.
    pub at_reading: ChainVerdict,
    /// The signer's chain judged at the signing time the message claims.
    pub at_signing: Option<ChainVerdict>,
    /// Whether the signer certificate's address equals the From address.
    pub address_matches: Option<bool>,
}

/// One S/MIME layer, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// An enveloped-data layer.
    Enveloped {
        /// The envelope's structure, or why it does not parse.
        summary: Result<EnvelopeSummary, String>,
        /// The generation of the key that opened it.
        opened_with: Option<KeyGeneration>,
        /// Every key tried, in order.
        attempts: Vec<KeyAttempt>,
    },
    /// A signed layer.
    Signed {
        /// Clear (multipart/signed) or opaque (signed-data).
        form: SignForm,
        /// The engine's verdict.
        check: SignatureCheck,
        /// The client's verdict.
        policy: Option<SignaturePolicy>,
    },
}

/// Where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The innermost text was reached.
    Text(String),
    /// Some other innermost content type.
    Other(String),
    /// Reading stopped; the reason word says why.
    Unreadable(&'static str),
}

/// What a client made of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The From header.
    pub from: Option<String>,
    /// The Subject header.
    pub subject: Option<String>,
    /// The S/MIME layers, outermost first.
    pub layers: Vec<Layer>,
    /// The innermost content.
    pub content: Content,
}

/// Reads a message as `reader`'s client would.
pub fn read(raw: &[u8], reader: &Reader<'_>) -> Reading {
    let headers = MessageParser::new().parse_headers(raw);
    let from = headers
        .as_ref()
        .and_then(|message| message.from())
        .and_then(|address| address.first())
        .and_then(|address| address.address())
        .map(str::to_owned);
    let subject = headers
        .as_ref()
        .and_then(|message| message.subject())
        .map(str::to_owned);
    let mut layers = Vec::new();
    let mut entity = raw.to_vec();
    let content = loop {
        if layers.len() >= MAX_LAYERS {
            break Content::Unreadable("too-deeply-nested");
        }
        let classified = match classify(&entity) {
            Ok(classified) => classified,
            Err(_) => break Content::Unreadable("malformed-mime"),
        };
        match classified {
            Entity::Plain { content_type, text } => {
                break match text {
                    Some(text) if content_type == "text/plain" => Content::Text(text),
                    _ => Content::Other(content_type),
                };
            }
            Entity::ClearSigned {
                signed, signature, ..
            } => {
                let check = reader.engine.verify(&signature, Some(&signed));
                let policy = judge(&check, from.as_deref(), reader);
                layers.push(Layer::Signed {
                    form: SignForm::Clear,
                    check,
                    policy,
                });
                entity = signed;
            }
            Entity::Pkcs7 { der, .. } => match summarize(&der) {
                Ok(CmsSummary::Enveloped(summary)) => {
                    if !reader.profile.smime_encryption {
                        layers.push(Layer::Enveloped {
                            summary: Ok(summary),
                            opened_with: None,
                            attempts: Vec::new(),
                        });
                        break Content::Unreadable("client-cannot-decrypt-smime");
                    }
                    let (opened, attempts) = open(&der, reader);
                    let opened_with = opened.as_ref().map(|(generation, _)| *generation);
                    layers.push(Layer::Enveloped {
                        summary: Ok(summary),
                        opened_with,
                        attempts,
                    });
                    match opened {
                        Some((_, content)) => entity = content,
                        None => break Content::Unreadable("no-key-opens"),
                    }
                }
                Ok(CmsSummary::Signed(_)) => {
                    let check = reader.engine.verify(&der, None);
                    let policy = judge(&check, from.as_deref(), reader);
                    let inner = check.content.clone();
                    layers.push(Layer::Signed {
                        form: SignForm::Opaque,
                        check,
                        policy,
                    });
                    match inner {
                        Some(inner) => entity = inner,
                        None => break Content::Unreadable("signed-data-without-content"),
                    }
                }
                Ok(CmsSummary::Other { .. }) => break Content::Unreadable("unknown-cms-content"),
                Err(detail) => {
                    layers.push(Layer::Enveloped {
                        summary: Err(detail),
                        opened_with: None,
                        attempts: Vec::new(),
                    });
                    break Content::Unreadable("malformed-cms");
                }
            },
        }
    };
    Reading {
        from,
        subject,
        layers,
        content,
    }
}

/// Tries every key, newest first, and returns the first that opens the envelope.
fn open(der: &[u8], reader: &Reader<'_>) -> (Option<(KeyGeneration, Vec<u8>)>, Vec<KeyAttempt>) {
    let mut attempts = Vec::new();
    for key in reader.keys.iter().rev() {
        let result = reader.engine.decrypt(der, &key.certificate, &key.key);
        attempts.push(KeyAttempt {
            generation: key.generation,
            result: result.reason(),
        });
        if let Decryption::Opened { content } = result {
            return (Some((key.generation, content)), attempts);
        }
    }
    (None, attempts)
}

/// The client's trust policy on a signature whose cryptography was checked.
fn judge(
    check: &SignatureCheck,
    from: Option<&str>,
    reader: &Reader<'_>,
) -> Option<SignaturePolicy> {
    let signer = check.signer.as_ref()?;
    let at_reading = verify_chain(signer, &check.certificates, reader.roots, reader.now);
    let at_signing = check
        .signing_time
        .map(|time| verify_chain(signer, &check.certificates, reader.roots, time));
    let address_matches = match (CertificateInfo::parse(signer), from) {
        (Ok(info), Some(from)) => Some(
            info.email
                .is_some_and(|email| email.eq_ignore_ascii_case(from)),
        ),
        _ => None,
    };
    Some(SignaturePolicy {
        at_reading,
        at_signing,
        address_matches,
    })
}
