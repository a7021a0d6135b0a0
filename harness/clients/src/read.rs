//! Reading a received message: peeling S/MIME layers and judging each one.
//!
//! Every layer gets two verdicts: the cryptographic one from the engine (did the key open it,
//! do the signature and digest check out) and the policy one from the client ([`policy`]: is
//! the signer's chain trusted, valid, unrevoked, fit to sign, does the address match).
//! Neither is an error: an unreadable message is a reading like any other. How a reading is
//! put in words, for the transcript and for comparing engines alike, is [`describe`]'s job.
//!
//! [`policy`]: crate::policy
//! [`describe`]: Reading::describe

use mail_parser::MessageParser;
use model::Named;
use model::{CertificateDer, CertifiedKey, CrlDer, KeyGeneration, Timestamp};
use pki::SignatureMemo;
use smime::mime::{Entity, classify};
use smime::structure::{
    CmsSummary, EnvelopeSummary, KeyTransport, is_unsupported, signature_schemes, summarize,
};
use smime::{
    CallContext, Capability, Cipher, Decryption, Digest, Engine, SignatureCheck, SignatureStatus,
};

use crate::persona::{Profile, Sha1Signatures, SignForm, Strength};
use crate::policy::{SignaturePolicy, TrustInput, judge};

mod describe;

pub use describe::{
    CertificateNames, Description, Problem, Unnamed, algorithm_text, cipher_text,
    describe_certificate,
};

/// Nested S/MIME deeper than this is treated as unreadable rather than followed.
const MAX_LAYERS: usize = 16;

/// What the reading client has to work with.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The engine doing the cryptography.
    pub engine: &'a dyn Engine,
    /// The client's profile.
    pub profile: &'static Profile,
    /// The client build's strength: which ciphers it can open.
    pub strength: Strength,
    /// Every encryption key the client holds.
    pub keys: &'a [CertifiedKey],
    /// The client's trusted roots.
    pub roots: &'a [CertificateDer],
    /// CA certificates on the certificate trust lists the client holds.
    pub trust_list: &'a [CertificateDer],
    /// The CRLs the client has fetched.
    pub crls: &'a [CrlDer],
    /// The moment of reading (virtual time).
    pub now: Timestamp,
    /// Where signer chains' signature verdicts are remembered: the memo of whoever owns the
    /// reading (a run's world), shared by its readers so that a chain checked once is not
    /// checked again.
    pub memo: SignatureMemo,
    /// The CA certificates the engine is told of, for an implementation that will not use a
    /// certificate whose chain it cannot build. The caller chooses them: a run hands over every
    /// CA certificate it holds, `kmlab inspect` the client's trusted roots. The client's own
    /// verdict on trust never looks at them.
    pub authorities: &'a [CertificateDer],
}

impl Reader<'_> {
    /// What the engine is told with every operation of this reading.
    pub fn context(&self) -> CallContext<'_> {
        CallContext::new(self.now, self.authorities)
    }
}

/// One attempt to open an envelope with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttempt {
    /// The key's generation.
    pub generation: KeyGeneration,
    /// What happened.
    pub result: &'static str,
    /// The implementation's own words, when it could not try (it refused the key or failed).
    pub detail: Option<String>,
}

/// One S/MIME layer, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// An enveloped-data layer.
    Enveloped {
        /// Whether it came sealed in the legacy format rather than as S/MIME.
        legacy: bool,
        /// The envelope's structure, or why it does not parse.
        summary: Result<EnvelopeSummary, String>,
        /// The generation of the key that opened it.
        opened_with: Option<KeyGeneration>,
        /// Every key tried, in order.
        attempts: Vec<KeyAttempt>,
    },
    /// A signed layer the client checked.
    Signed {
        /// Clear (multipart/signed) or opaque (signed-data).
        form: SignForm,
        /// The engine's verdict.
        check: SignatureCheck,
        /// Whether the client itself knows the digest; one that does not (Outlook 2000 and
        /// SHA-256) cannot vouch for the signature whatever the engine found.
        digest_known: bool,
        /// The client's verdict, when the message named a signer certificate.
        policy: Option<SignaturePolicy>,
        /// Whether the client restored CRLF line ends in the signed part before checking it
        /// (a clear-signed part that arrived with bare LFs, read by a client that does, MSG-02).
        crlf_restored: bool,
        /// What the client's profile holds against the signature, whatever the engine found.
        objections: Vec<Objection>,
    },
    /// A clear-signed layer whose signature the client cannot check (it does not process
    /// S/MIME); the signed part is shown as it is (MSG-01).
    Unchecked,
    /// A signature wrapped around an encrypted layer, which the client does not check or show
    /// (Thunderbird's way with encrypt-then-sign, MSG-08); it reads on inside.
    Ignored {
        /// Clear (multipart/signed) or opaque (signed-data).
        form: SignForm,
    },
}

/// Something a client's profile holds against a signature the engine checked: an algorithm the
/// client does not verify, a digest it distrusts, a Date header far from the signing time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Objection {
    /// Whether the client refuses the signature (an error) rather than warning about it.
    pub refuses: bool,
    /// The reason word.
    pub reason: &'static str,
    /// What exactly, naming the algorithm and its OID where there is one.
    pub detail: String,
}

impl Layer {
    /// An envelope the client did not try to open.
    fn unopened(legacy: bool, summary: Result<EnvelopeSummary, String>) -> Self {
        Self::Enveloped {
            legacy,
            summary,
            opened_with: None,
            attempts: Vec::new(),
        }
    }
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

impl Reading {
    /// The ciphers the sender announced in a signature the client trusts cryptographically
    /// and whose certificate carries the From address: what a client remembers (MSG-06).
    pub fn announced_ciphers(&self) -> Option<Vec<Cipher>> {
        self.layers.iter().find_map(|layer| match layer {
            Layer::Signed {
                check,
                policy: Some(policy),
                digest_known: true,
                objections,
                ..
            } if check.status == SignatureStatus::Verified
                && objections.iter().all(|objection| !objection.refuses)
                && policy.address_matches == Some(true)
                && !check.capabilities.is_empty() =>
            {
                Some(
                    check
                        .capabilities
                        .iter()
                        .map(|Capability::Cipher(cipher)| *cipher)
                        .collect(),
                )
            }
            _ => None,
        })
    }
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
    let date = headers
        .as_ref()
        .and_then(|message| message.date())
        .map(|date| Timestamp::from_unix(date.to_timestamp()));
    let mut layers = Vec::new();
    let mut entity = raw.to_vec();
    let mut sealed = false;
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
            // Inside a legacy seal the signature is part of the legacy format, which the
            // client checks whether or not it processes S/MIME.
            Entity::ClearSigned { signed, .. } if !reader.profile.processes_smime && !sealed => {
                layers.push(Layer::Unchecked);
                entity = signed;
            }
            Entity::ClearSigned { signed, .. }
                if !reader.profile.checks_signature_around_encryption
                    && wraps_encryption(&signed) =>
            {
                layers.push(Layer::Ignored {
                    form: SignForm::Clear,
                });
                entity = signed;
            }
            Entity::ClearSigned {
                signed, signature, ..
            } => {
                let restored = reader
                    .profile
                    .restores_crlf
                    .then(|| restore_crlf(&signed))
                    .flatten();
                let crlf_restored = restored.is_some();
                let signed = restored.unwrap_or(signed);
                let check = reader
                    .engine
                    .verify(&signature, Some(&signed), &reader.context());
                let policy = policy_of(&check, from.as_deref(), reader);
                layers.push(Layer::Signed {
                    form: SignForm::Clear,
                    digest_known: digest_known(&check, reader),
                    objections: objections(&signature, &check, date, reader),
                    check,
                    policy,
                    crlf_restored,
                });
                entity = signed;
            }
            Entity::Sealed { der } => {
                let summary = summarize(&der).and_then(|summary| match summary {
                    CmsSummary::Enveloped(summary) => Ok(summary),
                    _ => Err("a sealed message that is not enveloped-data".to_owned()),
                });
                let Ok(summary) = summary else {
                    layers.push(Layer::unopened(true, summary));
                    break Content::Unreadable("malformed-cms");
                };
                if !reader.profile.legacy_security {
                    layers.push(Layer::unopened(true, Ok(summary)));
                    break Content::Unreadable("client-cannot-read-legacy-format");
                }
                match open_layer(&der, summary, true, reader, &mut layers) {
                    Ok(content) => {
                        entity = content;
                        sealed = true;
                    }
                    Err(reason) => break Content::Unreadable(reason),
                }
            }
            Entity::Pkcs7 { .. } if !reader.profile.processes_smime => {
                break Content::Unreadable("client-does-not-process-smime");
            }
            Entity::Pkcs7 { der, .. } => match summarize(&der) {
                Ok(CmsSummary::Enveloped(summary)) => {
                    // A cipher the client does not open, or one kmlab does not implement, is
                    // refused before any key is tried: it is never a wrong key (MSG-09).
                    let refusal = if !reader.profile.smime_encryption {
                        Some("client-cannot-decrypt-smime")
                    } else if match &summary.cipher {
                        Ok(cipher) => !reader
                            .profile
                            .readable_ciphers(reader.strength)
                            .contains(cipher),
                        Err(reason) => is_unsupported(reason),
                    } {
                        Some("cipher-not-supported")
                    } else {
                        None
                    };
                    if let Some(refusal) = refusal {
                        layers.push(Layer::unopened(false, Ok(summary)));
                        break Content::Unreadable(refusal);
                    }
                    match open_layer(&der, summary, false, reader, &mut layers) {
                        Ok(content) => entity = content,
                        Err(reason) => break Content::Unreadable(reason),
                    }
                }
                Ok(CmsSummary::Signed(_)) => {
                    let check = reader.engine.verify(&der, None, &reader.context());
                    if let Some(inner) = check.content.as_ref().filter(|inner| {
                        !reader.profile.checks_signature_around_encryption
                            && wraps_encryption(inner)
                    }) {
                        layers.push(Layer::Ignored {
                            form: SignForm::Opaque,
                        });
                        entity = inner.clone();
                        continue;
                    }
                    let policy = policy_of(&check, from.as_deref(), reader);
                    let inner = check.content.clone();
                    layers.push(Layer::Signed {
                        form: SignForm::Opaque,
                        digest_known: digest_known(&check, reader),
                        objections: objections(&der, &check, date, reader),
                        check,
                        policy,
                        crlf_restored: false,
                    });
                    match inner {
                        Some(inner) => entity = inner,
                        None => break Content::Unreadable("signed-data-without-content"),
                    }
                }
                Ok(CmsSummary::Other { .. }) => break Content::Unreadable("unknown-cms-content"),
                Err(detail) => {
                    layers.push(Layer::unopened(false, Err(detail)));
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

/// Opens an envelope with the reader's keys and records the layer; the content if a key
/// opened it, else why reading stops: `no-key-opens`, `content-altered` (a key opened the
/// content key of authenticated-enveloped-data whose tag then failed), or the implementation's own failure
/// (`adapter-failure`), its refusal or an algorithm it lacks (`unsupported`), or a cipher it
/// lacks (`cipher-not-supported`). Only when every key was tried and none named an algorithm
/// it cannot use is it `no-key-opens` (MSG-09).
fn open_layer(
    der: &[u8],
    summary: EnvelopeSummary,
    legacy: bool,
    reader: &Reader<'_>,
    layers: &mut Vec<Layer>,
) -> Result<Vec<u8>, &'static str> {
    let (opened, attempts) = open(der, &summary, reader);
    let stopped = [
        ("adapter-failure", "adapter-failure"),
        ("unsupported", "unsupported"),
        ("unsupported-cipher", "cipher-not-supported"),
        (KEY_TRANSPORT_NOT_SUPPORTED, KEY_TRANSPORT_NOT_SUPPORTED),
        ("content-altered", "content-altered"),
    ]
    .into_iter()
    .find(|(result, _)| attempts.iter().any(|attempt| attempt.result == *result))
    .map_or("no-key-opens", |(_, reason)| reason);
    layers.push(Layer::Enveloped {
        legacy,
        summary: Ok(summary),
        opened_with: opened.as_ref().map(|(generation, _)| *generation),
        attempts,
    });
    opened.map(|(_, content)| content).ok_or(stopped)
}

/// The reason a key is not tried when the recipient info naming it wraps the content key with
/// a key transport the client's profile lacks (MSG-08).
const KEY_TRANSPORT_NOT_SUPPORTED: &str = "key-transport-not-supported";

/// Tries every key, newest first, and returns the first that opens the envelope. An
/// implementation that failed at its job is not asked again. A key whose recipient info uses a
/// key transport the client lacks is not handed to the engine: the client could not have
/// unwrapped it.
fn open(
    der: &[u8],
    summary: &EnvelopeSummary,
    reader: &Reader<'_>,
) -> (Option<(KeyGeneration, Vec<u8>)>, Vec<KeyAttempt>) {
    let mut attempts = Vec::new();
    let context = reader.context();
    for key in reader.keys.iter().rev() {
        let transport = summary
            .recipients
            .iter()
            .zip(&summary.key_transports)
            .find(|(id, _)| id.matches_der(&key.certificate))
            .and_then(|(_, transport)| transport.as_ref().ok());
        if let Some(kind) = transport
            .map(KeyTransport::kind)
            .filter(|kind| !reader.profile.key_transports.contains(kind))
        {
            attempts.push(KeyAttempt {
                generation: key.generation,
                result: KEY_TRANSPORT_NOT_SUPPORTED,
                detail: Some(format!(
                    "{} key transport ({}) is not supported by {}",
                    kind.name(),
                    kind.algorithm(),
                    reader.profile.name
                )),
            });
            continue;
        }
        let result = reader
            .engine
            .decrypt(der, &key.certificate, &key.key, &context);
        let detail = match &result {
            Decryption::AdapterFailure { detail }
            | Decryption::Unsupported { detail }
            | Decryption::ContentAltered { detail } => Some(detail.clone()),
            Decryption::UnsupportedCipher { algorithm } => Some(format!(
                "unsupported content-encryption algorithm {algorithm}"
            )),
            _ => None,
        };
        // A key that opened the content key of content that then failed its authentication is
        // the right key: no other one would read the content either.
        let failed = matches!(
            result,
            Decryption::AdapterFailure { .. } | Decryption::ContentAltered { .. }
        );
        attempts.push(KeyAttempt {
            generation: key.generation,
            result: result.reason(),
            detail,
        });
        if let Decryption::Opened { content } = result {
            return (Some((key.generation, content)), attempts);
        }
        if failed {
            break;
        }
    }
    (None, attempts)
}

/// Whether `entity` is an encrypted layer: S/MIME enveloped-data or a legacy seal.
fn wraps_encryption(entity: &[u8]) -> bool {
    match classify(entity) {
        Ok(Entity::Sealed { .. }) => true,
        Ok(Entity::Pkcs7 { der, .. }) => matches!(
            summarize(&smime::ber::to_der(&der)),
            Ok(CmsSummary::Enveloped(_))
        ),
        _ => false,
    }
}

/// The signed part with every bare LF made CRLF, or `None` when it has none (MSG-02: RFC 5751
/// §3.1.1's canonical form, restored by the clients that do).
fn restore_crlf(signed: &[u8]) -> Option<Vec<u8>> {
    let bare = signed
        .iter()
        .enumerate()
        .any(|(at, byte)| *byte == b'\n' && (at == 0 || signed[at - 1] != b'\r'));
    if !bare {
        return None;
    }
    let mut out = Vec::with_capacity(signed.len() + signed.len() / 32);
    for (at, byte) in signed.iter().enumerate() {
        if *byte == b'\n' && (at == 0 || signed[at - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(*byte);
    }
    Some(out)
}

/// What the reader's profile holds against the signature in `cms` (signed-data, BER or DER)
/// whose check is `check`, in a message whose Date header says `date`: a signature scheme it
/// lacks, and, for a signature the engine verified, SHA-1 and a Date header far from the
/// signing time, as its profile judges them (MSG-08).
fn objections(
    cms: &[u8],
    check: &SignatureCheck,
    date: Option<Timestamp>,
    reader: &Reader<'_>,
) -> Vec<Objection> {
    let profile = reader.profile;
    let mut objections = Vec::new();
    if let Some(kind) = signature_schemes(cms)
        .into_iter()
        .flatten()
        .map(|scheme| scheme.kind())
        .find(|kind| !profile.signature_schemes.contains(kind))
    {
        objections.push(Objection {
            refuses: true,
            reason: "signature-scheme-not-supported",
            detail: format!(
                "{} signatures ({}) are not supported by {}",
                kind.name(),
                kind.algorithm(),
                profile.name
            ),
        });
    }
    if check.status != SignatureStatus::Verified {
        return objections;
    }
    if check.digest == Some(Digest::Sha1) {
        let sha1 = format!("SHA-1 ({})", smime::oids::SHA1);
        match profile.sha1_signatures {
            Sha1Signatures::Accept => {}
            Sha1Signatures::Warn => objections.push(Objection {
                refuses: false,
                reason: "sha1-signature",
                detail: format!(
                    "{sha1} no longer resists collisions; {} accepts the signature with a warning",
                    profile.name
                ),
            }),
            Sha1Signatures::Refuse => objections.push(Objection {
                refuses: true,
                reason: "sha1-signature",
                detail: format!("{sha1} signatures are refused by {}", profile.name),
            }),
        }
    }
    if let (Some(tolerance), Some(date), Some(signed)) =
        (profile.date_tolerance, date, check.signing_time)
    {
        let apart = date.unix().abs_diff(signed.unix());
        if apart > u64::from(tolerance) {
            objections.push(Objection {
                refuses: false,
                reason: "date-differs-from-signing-time",
                detail: format!(
                    "the Date header ({date}) is {} {} the signing time ({signed}); {} flags more than {}",
                    span(apart),
                    if date.unix() > signed.unix() { "after" } else { "before" },
                    profile.name,
                    span(u64::from(tolerance))
                ),
            });
        }
    }
    objections
}

/// A span of seconds in words: `2h 5m`, `1h`, `45m 10s`.
fn span(seconds: u64) -> String {
    let (hours, minutes, seconds) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut parts = Vec::new();
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if seconds > 0 || parts.is_empty() {
        parts.push(format!("{seconds}s"));
    }
    parts.join(" ")
}

fn digest_known(check: &SignatureCheck, reader: &Reader<'_>) -> bool {
    check
        .digest
        .is_none_or(|digest| reader.profile.digests.contains(&digest))
}

/// The client's trust policy on a signature whose cryptography was checked.
fn policy_of(
    check: &SignatureCheck,
    from: Option<&str>,
    reader: &Reader<'_>,
) -> Option<SignaturePolicy> {
    let signer = check.signer.as_ref()?;
    let trust = TrustInput {
        roots: reader.roots,
        trust_list: reader.trust_list,
        crls: reader.crls,
        now: reader.now,
        judged_at: reader.profile.judges_validity_at,
        v1_intermediate_cas: reader.profile.v1_intermediate_cas,
    };
    Some(judge(
        signer,
        &check.certificates,
        check.signing_time,
        from,
        &trust,
        &reader.memo,
    ))
}

#[cfg(test)]
mod tests {
    use super::{restore_crlf, span};

    #[test]
    fn spans_read_as_hours_minutes_and_seconds() {
        assert_eq!(span(7200), "2h");
        assert_eq!(span(3600 + 5 * 60 + 1), "1h 5m 1s");
        assert_eq!(span(59), "59s");
        assert_eq!(span(0), "0s");
    }

    #[test]
    fn only_bare_lfs_become_crlf() {
        assert_eq!(restore_crlf(b"a\nb\r\nc\n").unwrap(), b"a\r\nb\r\nc\r\n");
        assert_eq!(restore_crlf(b"\nx").unwrap(), b"\r\nx");
        assert_eq!(restore_crlf(b"a\r\nb\r\n"), None);
        assert_eq!(restore_crlf(b"no line end"), None);
    }
}
