//! Composing, sending and reading messages, and changing them in transit.

use std::sync::{Arc, Mutex, PoisonError};

use clients::compose::{Draft, Encryption, Signing};
use clients::faults::{SendFault, TransitChange, first_difference};
use clients::submit::submit_with_retries;
use clients::{Fallback, SignForm, VirtualUser};
use model::{CertificateDer, Named, Outcome, Timestamp, UserName};
use pki::{CertificateInfo, CertificateVersion};
use rand_core::RngCore;
use report::{Detail, Record};
use scenario::{Folder, SendStep};
use smime::mime::{Entity, MessageHeaders, classify};
use smime::structure::{CertificateId, CmsSummary, EnvelopeSummary, summarize};
use smime::{
    CallContext, Capability, Cipher, CmsDer, Engine, EngineError, IdentifierKind, Recipient,
};

use super::{new_record, refuse};
use crate::reading::{algorithm_text, cipher_text, describe_reading};
use crate::world::{Delivered, SentMessage, World, spool_error};

pub(super) fn send(world: &mut World, step: &SendStep) -> Result<Record, String> {
    let record = new_record(world, step.from.to_string(), "send");
    let sender = world
        .users
        .get(&step.from)
        .ok_or_else(|| format!("no user {}", step.from))?
        .clone();
    let profile = sender.profile();
    let recipients: Vec<VirtualUser> = step
        .to
        .iter()
        .map(|name| {
            world
                .users
                .get(name)
                .cloned()
                .ok_or_else(|| format!("no user {name}"))
        })
        .collect::<Result<_, _>>()?;
    let now = world.now();
    let form = step.sign.unwrap_or(profile.default_signing);
    let digest = step.digest.unwrap_or(profile.signing_digest);
    let identifier = step.identifier.unwrap_or(profile.identifier);
    if !profile.sign_forms.contains(&form) {
        return Ok(refuse(
            record,
            &format!("client-cannot-sign-{}", form.name()),
        ));
    }
    if form != SignForm::None && !profile.digests.contains(&digest) {
        return Ok(refuse(record, "digest-not-supported"));
    }
    let mut notes = Notes { record, now };

    let signing = match form {
        SignForm::None => None,
        form => match signing(&sender, world, form, digest, identifier, now) {
            Ok(signing) => Some(signing),
            Err(reason) => return Ok(refuse(notes.record, reason)),
        },
    };
    let (encryption, cipher_choice) = if step.encrypt {
        match encryption(world, &sender, &recipients, step, identifier, &mut notes)? {
            Planned::Envelope(encryption, choice) => (Some(encryption), choice),
            Planned::InClear => (None, Vec::new()),
            Planned::Refused(record) => return Ok(*record),
        }
    } else {
        (None, Vec::new())
    };
    let mut record = notes.record;

    let sequence = world.sent.len() + 1;
    let mut tag = [0u8; 4];
    world.rng.fill_bytes(&mut tag);
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let headers = MessageHeaders {
        from: sender.email.to_string(),
        to: recipients.iter().map(|r| r.email.to_string()).collect(),
        subject: step.subject.clone(),
        date: now.to_rfc5322(),
        message_id: format!("{sequence}.{tag}@{}", world.scenario.topology.mail_domain),
    };
    let body = step.body.clone().unwrap_or_else(|| {
        format!(
            "{} to {}: {}\n",
            step.from,
            step.to
                .iter()
                .map(UserName::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            step.subject
        )
    });
    let draft = Draft {
        headers,
        body,
        date: now,
        signing,
        encryption,
        order: step.order,
    };
    if let Some(name) = world.seated_name(&step.from) {
        record
            .details
            .push(Detail::text("implementation", name.to_owned()));
    }
    let engine = world.engine_for(&step.from);
    let authorities = world.authorities();
    let recording = Recording::new(engine.as_ref());
    let message = match clients::compose::compose(&draft, &recording, &authorities, &mut world.rng)
    {
        Ok(message) => message,
        Err(error) => return engine_refusal(record, error),
    };
    let built = recording.built();

    if let Some(signing) = &draft.signing {
        let signer = world.book.describe(&signing.signer.certificate);
        // What the signer info says: an implementation in the user's seat may not do what
        // it was asked.
        let signer_info = built.iter().find_map(|summary| match summary {
            CmsSummary::Signed(signed) => signed.signers.first(),
            _ => None,
        });
        let named = match signer_info.map(|info| info.id.kind()) {
            Some(kind) if kind != signing.identifier => format!(
                ", named by {} ({} asked for)",
                kind.name(),
                signing.identifier.name()
            ),
            _ if signing.identifier != identifier => format!(
                ", named by {} (it has no subject key identifier)",
                signing.identifier.name()
            ),
            _ => String::new(),
        };
        let digest = match signer_info.map(|info| &info.digest) {
            Some(Ok(used)) if *used != signing.digest => {
                format!("{used} ({} asked for)", signing.digest)
            }
            Some(Err(oid)) => format!("digest {oid} ({} asked for)", signing.digest),
            _ => signing.digest.to_string(),
        };
        record.details.push(Detail::text(
            "signed",
            format!("{}, {digest} by {signer}{named}", signing.form.name()),
        ));
        if draft.encryption.is_some() {
            record
                .details
                .push(Detail::text("layers", draft.order.name()));
        }
    }
    if draft.signing.is_some() || draft.encryption.is_some() {
        record
            .details
            .push(Detail::text("identifier", identifier.name()));
    }
    if let Some(encryption) = &draft.encryption {
        // What the bytes say, not what was asked for: a downgrade shows here (CL-03).
        for envelope in envelopes_in(&message) {
            record
                .details
                .push(Detail::text("cipher", cipher_text(&envelope)));
            record
                .details
                .push(Detail::text("algorithm", algorithm_text(&envelope)));
            let weak = envelope
                .cipher
                .as_ref()
                .is_ok_and(|cipher| cipher.key_bits() < sender.strength.minimum_bits());
            if weak {
                record.outcome = Outcome::Error(None);
                record.reason = Some("silent-downgrade".into());
            }
        }
        record
            .details
            .push(Detail::list("cipher-choice", cipher_choice));
        let named: Option<&[CertificateId]> = built.iter().find_map(|summary| match summary {
            CmsSummary::Enveloped(envelope) => Some(envelope.recipients.as_slice()),
            _ => None,
        });
        record.details.push(Detail::list(
            "recipients",
            encryption
                .recipients
                .iter()
                .map(|recipient| recipient_text(world, recipient, identifier, named))
                .collect(),
        ));
    }
    submit(world, step, &sender, &recipients, message, record)
}

/// A send the engine could not build: an implementation that says it cannot do what was
/// asked refuses the send (`unsupported`); one that failed at its job (crashed, hung,
/// answered nonsense) makes it an error (`adapter-failure`). Both are verdicts on the
/// implementation; any other engine error is kmlab's own failure.
fn engine_refusal(mut record: Record, error: smime::EngineError) -> Result<Record, String> {
    let (outcome, reason, detail) = match error {
        smime::EngineError::AdapterFailure { detail } => {
            (Outcome::Error(None), "adapter-failure", detail)
        }
        smime::EngineError::Unsupported { detail, .. } => (Outcome::Refused, "unsupported", detail),
        other => return Err(other.to_string()),
    };
    record.outcome = outcome;
    record.reason = Some(reason.to_owned());
    record.details.push(Detail::text(reason, detail));
    Ok(record)
}

/// A record being built, with the moment it is built at.
struct Notes {
    record: Record,
    now: Timestamp,
}

/// What the envelope planning decided.
enum Planned {
    /// The envelope, and how its cipher was chosen.
    Envelope(Encryption, Vec<String>),
    /// A recipient had no usable certificate and the client sends in clear (with a warning
    /// already on the record).
    InClear,
    Refused(Box<Record>),
}

fn signing(
    sender: &VirtualUser,
    world: &World,
    form: SignForm,
    digest: smime::Digest,
    identifier: IdentifierKind,
    now: Timestamp,
) -> Result<Signing, &'static str> {
    // Clients of the era sent their chain with the signature, up to and including the root,
    // so a reader without that root still sees whose it is.
    let chain = sender
        .signing_key()
        .map(|key| world.issuer_chain(&key.certificate))
        .unwrap_or_default();
    let signer = sender.signer(chain).ok_or("no-signing-certificate")?;
    // MSG-07 at the signing end: a client does not sign with a certificate that is out of
    // date at the moment of signing.
    if let Ok(info) = CertificateInfo::parse(&signer.certificate) {
        if now > info.not_after {
            return Err("signing-certificate-expired");
        }
        if now < info.not_before {
            return Err("signing-certificate-not-yet-valid");
        }
    }
    let identifier = usable_identifier(identifier, &signer.certificate);
    // The build announces what it can open: an export build only its 40-bit cipher.
    let capabilities = sender
        .profile()
        .readable_ciphers(sender.strength)
        .into_iter()
        .map(Capability::Cipher)
        .collect();
    Ok(Signing {
        form,
        digest,
        signer,
        identifier,
        capabilities,
    })
}

/// A subject key identifier where the certificate has one; issuer and serial otherwise (a v1
/// certificate has no extensions, MSG-05).
fn usable_identifier(wanted: IdentifierKind, certificate: &CertificateDer) -> IdentifierKind {
    if wanted == IdentifierKind::SubjectKeyIdentifier
        && !smime::assemble::has_key_identifier(certificate)
    {
        IdentifierKind::IssuerAndSerial
    } else {
        wanted
    }
}

fn encryption(
    world: &World,
    sender: &VirtualUser,
    recipients: &[VirtualUser],
    step: &SendStep,
    identifier: IdentifierKind,
    notes: &mut Notes,
) -> Result<Planned, String> {
    let profile = sender.profile();
    // Takes the record out of `notes` as a refusal; the send stops there.
    let refused = |notes: &mut Notes, reason: &str| {
        refuse(
            std::mem::replace(&mut notes.record, new_record(world, "", "")),
            reason,
        )
    };
    let stop = |record: Record| Ok(Planned::Refused(Box::new(record)));
    // CL-02: a client without S/MIME encryption seals in the legacy format if it can.
    let legacy = !profile.smime_encryption;
    if legacy && !profile.legacy_security {
        return stop(refused(notes, "client-cannot-encrypt-smime"));
    }
    let Some(own) = sender.current_encryption_key() else {
        return stop(refused(notes, "sender-has-no-encryption-certificate"));
    };
    let mut certificates = Vec::new();
    let mut unusable = Vec::new();
    for recipient in recipients {
        if recipient.name == sender.name {
            continue;
        }
        match usable_certificate(world, &recipient.name, notes.now, legacy) {
            Ok(certificate) => certificates.push(certificate),
            Err(why) => unusable.push(format!("{} ({why})", recipient.name)),
        }
    }
    if !unusable.is_empty() {
        // MSG-04: never silently dropped; the profile says refuse or send in clear.
        return match profile.no_usable_certificate {
            Fallback::Refuse => {
                let mut record = refused(notes, "no-usable-encryption-certificate");
                record.details.push(Detail::list("missing", unusable));
                stop(record)
            }
            Fallback::SendInClear => {
                notes.record.warn("sent-unencrypted");
                notes
                    .record
                    .details
                    .push(Detail::list("unencrypted-for", unusable));
                Ok(Planned::InClear)
            }
        };
    }
    if legacy {
        certificates.push(own.certificate.clone());
        notes
            .record
            .details
            .push(Detail::text("format", "legacy (Exchange Server security)"));
        let recipients = certificates
            .into_iter()
            .map(|certificate| Recipient {
                identifier: IdentifierKind::IssuerAndSerial,
                certificate,
            })
            .collect();
        let cipher = sender.strength.legacy_cipher();
        return Ok(Planned::Envelope(
            Encryption {
                cipher,
                recipients,
                legacy: true,
            },
            vec![format!(
                "the legacy format seals with {} in a {} build",
                cipher.name(),
                sender.strength.name()
            )],
        ));
    }
    let (chosen, explanation) = match choose_cipher(sender, recipients, step.cipher) {
        Ok(chosen) => chosen,
        Err((reason, explanation)) => {
            let mut record = refused(notes, reason);
            record
                .details
                .push(Detail::list("cipher-choice", explanation));
            return stop(record);
        }
    };
    let cipher = match step.fault {
        Some(SendFault::DowngradeCipher) => Cipher::Rc2Cbc40,
        None => chosen,
    };
    // The sender encrypts to itself too, so the sent copy stays readable (MSG-04).
    certificates.push(own.certificate.clone());
    Ok(Planned::Envelope(
        Encryption {
            cipher,
            recipients: certificates
                .into_iter()
                .map(|certificate| Recipient {
                    identifier: usable_identifier(identifier, &certificate),
                    certificate,
                })
                .collect(),
            legacy: false,
        },
        explanation,
    ))
}

/// The recipient's current encryption certificate from the directory, if the format can use
/// it: present, valid now and, for S/MIME, v3 (CL-02: V1 certificates serve only the legacy
/// format).
fn usable_certificate(
    world: &World,
    user: &UserName,
    now: Timestamp,
    legacy: bool,
) -> Result<CertificateDer, &'static str> {
    let certificate = world
        .directory
        .current_encryption_certificate(user)
        .ok_or("no certificate")?;
    let info = CertificateInfo::parse(certificate).map_err(|_| "unreadable certificate")?;
    if info.version == CertificateVersion::V1 && !legacy {
        return Err("only a v1 certificate");
    }
    if now > info.not_after {
        return Err("certificate expired");
    }
    Ok(certificate.clone())
}

/// A chosen cipher, or a refusal reason; either way with the reasoning, one line each.
type CipherChoice = Result<(Cipher, Vec<String>), (&'static str, Vec<String>)>;

/// MSG-06: the strongest cipher the sender may use that every recipient reads, judged from
/// the SMIMECapabilities each announced (or the profile's assumption for strangers), never
/// below the sender's minimum. Returns the cipher with the reasoning, or a refusal reason.
fn choose_cipher(
    sender: &VirtualUser,
    recipients: &[VirtualUser],
    explicit: Option<Cipher>,
) -> CipherChoice {
    let profile = sender.profile();
    let offered = profile.sending_ciphers(sender.strength);
    let minimum = sender.strength.minimum_bits();
    let mut explanation = Vec::new();
    let chosen = if let Some(cipher) = explicit {
        explanation.push(format!("{} chosen by the sender", cipher.name()));
        if !offered.contains(&cipher) {
            return Err(("cipher-not-offered", explanation));
        }
        cipher
    } else {
        let mut readable: Vec<Vec<Cipher>> = Vec::new();
        for recipient in recipients.iter().filter(|r| r.name != sender.name) {
            match sender.known_capabilities(recipient.email.as_str()) {
                Some(ciphers) => {
                    explanation.push(format!("{} announced {}", recipient.name, names(ciphers)));
                    readable.push(ciphers.to_vec());
                }
                None => {
                    let assumed = profile.unknown_capabilities.to_vec();
                    explanation.push(format!(
                        "{} announced nothing; assumed {}",
                        recipient.name,
                        names(&assumed)
                    ));
                    readable.push(assumed);
                }
            }
        }
        let Some(cipher) = offered
            .iter()
            .copied()
            .find(|cipher| readable.iter().all(|ciphers| ciphers.contains(cipher)))
        else {
            explanation.push(format!("the sender offers {}", names(&offered)));
            return Err(("no-common-cipher", explanation));
        };
        explanation.push(format!("strongest in common: {}", cipher.name()));
        cipher
    };
    if chosen.key_bits() < minimum {
        explanation.push(format!(
            "{} has {} bits, below the sender's {minimum}-bit minimum",
            chosen.name(),
            chosen.key_bits()
        ));
        return Err(("below-minimum-strength", explanation));
    }
    Ok((chosen, explanation))
}

fn names(ciphers: &[Cipher]) -> String {
    if ciphers.is_empty() {
        return "nothing".to_owned();
    }
    ciphers
        .iter()
        .map(|cipher| cipher.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A recipient as the send record lists it: how the envelope names it where that is not how
/// the sender asked (`named`: the envelope's recipient identifiers, as built).
fn recipient_text(
    world: &World,
    recipient: &Recipient,
    wanted: IdentifierKind,
    named: Option<&[CertificateId]>,
) -> String {
    let text = world.book.describe(&recipient.certificate);
    let used = named.map(|ids| {
        ids.iter()
            .find(|id| id.matches_der(&recipient.certificate))
            .map(CertificateId::kind)
    });
    match used {
        Some(None) => format!("{text} not named in the envelope"),
        Some(Some(kind)) if kind != recipient.identifier => format!(
            "{text} named by {} ({} asked for)",
            kind.name(),
            recipient.identifier.name()
        ),
        _ if recipient.identifier != wanted => format!(
            "{text} named by {} (it has no subject key identifier)",
            recipient.identifier.name()
        ),
        _ => text,
    }
}

/// An engine that keeps the structure of every CMS layer it builds, so that a send record
/// says what the message's bytes say rather than what was asked for.
#[derive(Debug)]
struct Recording<'a> {
    engine: &'a dyn Engine,
    built: Mutex<Vec<CmsSummary>>,
}

impl<'a> Recording<'a> {
    fn new(engine: &'a dyn Engine) -> Self {
        Self {
            engine,
            built: Mutex::new(Vec::new()),
        }
    }

    fn keep(&self, built: Result<CmsDer, EngineError>) -> Result<CmsDer, EngineError> {
        if let Ok(der) = &built {
            if let Ok(summary) = summarize(&smime::ber::to_der(der.as_bytes())) {
                self.built
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(summary);
            }
        }
        built
    }

    /// Every layer built, innermost first.
    fn built(self) -> Vec<CmsSummary> {
        self.built
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Engine for Recording<'_> {
    fn name(&self) -> &str {
        self.engine.name()
    }

    fn is_deterministic(&self) -> bool {
        self.engine.is_deterministic()
    }

    fn sign(
        &self,
        request: &smime::SignRequest<'_>,
        context: &CallContext<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        self.keep(self.engine.sign(request, context, rng))
    }

    fn envelope(
        &self,
        request: &smime::EnvelopeRequest<'_>,
        context: &CallContext<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        self.keep(self.engine.envelope(request, context, rng))
    }

    fn decrypt(
        &self,
        message: &[u8],
        certificate: &CertificateDer,
        key: &model::PrivateKeyDer,
        context: &CallContext<'_>,
    ) -> smime::Decryption {
        self.engine.decrypt(message, certificate, key, context)
    }

    fn verify(
        &self,
        message: &[u8],
        detached_content: Option<&[u8]>,
        context: &CallContext<'_>,
    ) -> smime::SignatureCheck {
        self.engine.verify(message, detached_content, context)
    }
}

/// Submits the message with the client's retries and finishes the record.
fn submit(
    world: &mut World,
    step: &SendStep,
    sender: &VirtualUser,
    recipients: &[VirtualUser],
    message: Vec<u8>,
    mut record: Record,
) -> Result<Record, String> {
    let to: Vec<&str> = recipients.iter().map(|r| r.email.as_str()).collect();
    let stored_before = world.sink.store().len();
    let attempts = submit_with_retries(
        world.sink.address(),
        "client.kmlab.test",
        sender.email.as_str(),
        &to,
        &message,
        sender.profile().smtp_retries,
    );
    let stored = world.sink.store().since(stored_before);
    if stored.len() > 1 {
        return Err(format!(
            "the sink stored {} copies of one submission",
            stored.len()
        ));
    }
    if attempts.len() > 1 || attempts.iter().all(|attempt| !attempt.delivered) {
        record.details.push(Detail::list(
            "attempts",
            attempts
                .iter()
                .enumerate()
                .map(|(index, attempt)| {
                    let next = if attempt.delivered {
                        ""
                    } else if attempt.transient && index + 1 < attempts.len() {
                        " (transient: the client tries again)"
                    } else if attempt.transient {
                        " (transient: the client gives up)"
                    } else {
                        " (permanent: the client gives up)"
                    };
                    format!("{}: {}{next}", index + 1, attempt.outcome)
                })
                .collect(),
        ));
    }
    let last = attempts.last().ok_or("no submission attempt was made")?;
    if last.delivered {
        let delivered = stored
            .first()
            .ok_or("the sink accepted a message it did not store")?;
        record.details.insert(
            0,
            Detail::text(
                "message",
                format!(
                    "#{} \"{}\", {} bytes",
                    delivered.id,
                    step.subject,
                    message.len()
                ),
            ),
        );
        record
            .details
            .push(Detail::text("sink", last.outcome.clone()));
        // The sender's sent copy is what the client composed: the sink's bytes when it stored
        // exactly those, else a copy of its own.
        let stored_bytes = delivered.data().map_err(|e| spool_error(&e))?;
        let composed = (*stored_bytes != *message).then(|| Arc::from(message));
        world.sent.push(SentMessage {
            from: step.from.clone(),
            subject: step.subject.clone(),
            id: delivered.id,
            composed,
        });
    } else {
        if !stored.is_empty() {
            return Err("the sink stored a message the client was told failed".into());
        }
        record.outcome = Outcome::Error(None);
        record.reason = Some("submission-failed".into());
        record
            .details
            .push(Detail::text("sink", last.outcome.clone()));
    }
    Ok(record)
}

/// Every envelope in a message, outermost first, found by peeling signatures without keys.
fn envelopes_in(message: &[u8]) -> Vec<EnvelopeSummary> {
    let mut found = Vec::new();
    let mut entity = message.to_vec();
    for _ in 0..8 {
        match classify(&entity) {
            Ok(Entity::ClearSigned { signed, .. }) => entity = signed,
            Ok(Entity::Pkcs7 { der, .. }) => match summarize(&der) {
                Ok(CmsSummary::Enveloped(summary)) => {
                    found.push(summary);
                    break;
                }
                Ok(CmsSummary::Signed(_)) => {
                    match smime::structure::decode_signed(&der)
                        .ok()
                        .and_then(|signed| signed.encap_content_info.econtent)
                        .and_then(|any| any.decode_as::<der::asn1::OctetString>().ok())
                    {
                        Some(content) => entity = content.as_bytes().to_vec(),
                        None => break,
                    }
                }
                _ => break,
            },
            _ => break,
        }
    }
    found
}

/// A message in a user's folder: its label, the bytes the client sees, and (for a message
/// changed in transit) the bytes as they were delivered.
struct Found {
    label: String,
    data: Arc<[u8]>,
    delivered: Option<Arc<[u8]>>,
}

fn find_message(
    world: &World,
    user: &UserName,
    subject: &str,
    folder: Folder,
) -> Result<Option<Found>, String> {
    let has_subject = |data: &[u8]| {
        mail_parser::MessageParser::new()
            .parse_headers(data)
            .is_some_and(|message| message.subject() == Some(subject))
    };
    Ok(match folder {
        Folder::Inbox => {
            newest_with_subject(world.inbox_newest_first(user), has_subject)?.map(|(id, data)| {
                let altered = world.altered.get(&(user.clone(), id));
                let rewritten = world.mailbox_overrides.contains_key(&(user.clone(), id));
                Found {
                    label: if rewritten {
                        format!("inbox #{id} \"{subject}\" (the copy sectool rewrote)")
                    } else {
                        format!("inbox #{id} \"{subject}\"")
                    },
                    delivered: altered.map(|_| Arc::clone(&data)),
                    data: altered.map_or(data, |changed| Arc::from(changed.as_slice())),
                }
            })
        }
        Folder::Sent => {
            let mut found = None;
            for sent in world.sent.iter().rev().filter(|sent| &sent.from == user) {
                let data = match &sent.composed {
                    Some(composed) => Arc::clone(composed),
                    None => sent_copy(world, sent.id)?,
                };
                if has_subject(&data) {
                    found = Some(Found {
                        label: format!("sent copy \"{subject}\""),
                        data,
                        delivered: None,
                    });
                    break;
                }
            }
            found
        }
    })
}

/// The first message (newest first) whose bytes `has_subject` accepts.
fn newest_with_subject(
    inbox: impl Iterator<Item = Result<Delivered, String>>,
    has_subject: impl Fn(&[u8]) -> bool,
) -> Result<Option<Delivered>, String> {
    for entry in inbox {
        let (id, data) = entry?;
        if has_subject(&data) {
            return Ok(Some((id, data)));
        }
    }
    Ok(None)
}

/// The bytes the sink stored for message `id`.
fn sent_copy(world: &World, id: sink::MessageId) -> Result<Arc<[u8]>, String> {
    let stored = world
        .sink
        .store()
        .message(id)
        .ok_or_else(|| format!("the sink has no message #{id}"))?;
    stored.data().map_err(|e| spool_error(&e))
}

pub(super) fn alter_message(
    world: &mut World,
    user: &UserName,
    subject: &str,
    change: TransitChange,
) -> Result<Record, String> {
    let mut record = new_record(world, "transit", "alter-message");
    let client = world
        .users
        .get(user)
        .ok_or_else(|| format!("no user {user}"))?;
    let mut stored = None;
    for message in world
        .sink
        .store()
        .mailbox(client.email.as_str())
        .into_iter()
        .rev()
    {
        let data = message.data().map_err(|e| spool_error(&e))?;
        if mail_parser::MessageParser::new()
            .parse_headers(&data)
            .is_some_and(|parsed| parsed.subject() == Some(subject))
        {
            stored = Some((message, data));
            break;
        }
    }
    let Some((stored, data)) = stored else {
        record.outcome = Outcome::Error(None);
        record.reason = Some("no-such-message".into());
        return Ok(record);
    };
    record.details.push(Detail::text(
        "message",
        format!("{user}'s inbox #{} \"{subject}\"", stored.id),
    ));
    record.details.push(Detail::text("change", change.name()));
    let key = (user.clone(), stored.id);
    let current = world
        .altered
        .get(&key)
        .cloned()
        .unwrap_or_else(|| data.to_vec());
    match change.apply(&current) {
        Some(changed) => {
            if let Some(difference) = first_difference(&current, &changed) {
                record
                    .details
                    .push(Detail::text("difference", difference.to_string()));
            }
            world.altered.insert(key, changed);
        }
        None => {
            record.outcome = Outcome::Refused;
            record.reason = Some("nothing-to-change".into());
        }
    }
    Ok(record)
}

pub(super) fn read(
    world: &mut World,
    user: &UserName,
    subject: &str,
    folder: Folder,
) -> Result<Record, String> {
    let mut record = new_record(world, user.to_string(), "read");
    let Some(found) = find_message(world, user, subject, folder)? else {
        record.outcome = Outcome::Error(None);
        record.reason = Some("no-such-message".into());
        return Ok(record);
    };
    record.details.push(Detail::text("message", found.label));
    let mut client = world
        .users
        .get(user)
        .cloned()
        .ok_or_else(|| format!("no user {user}"))?;
    // KM-06: after v3-only a V1-only client's security is gone, keys and all.
    let security_lost = super::km::v1_security_lost(world, user);
    if security_lost {
        client.encryption_keys.clear();
    }
    // KM-15: the organisation's trust list, where a root this client trusts signed it.
    client.trust_list = world.trust_list_for(&client);
    let client = &client;
    if let Some(name) = world.seated_name(user) {
        record
            .details
            .push(Detail::text("implementation", name.to_owned()));
    }
    let engine = world.engine_for(user);
    let authorities = world.authorities();
    let reading = clients::read::read(
        &found.data,
        &client.reader(engine.as_ref(), world.now(), &authorities),
    );
    describe_reading(&world.book, &client.encryption_keys, &reading, &mut record);
    if security_lost && record.outcome != Outcome::Ok {
        record.reason = Some("advanced-security-lost".into());
    }
    if let Some(delivered) = &found.delivered {
        record.details.push(Detail::text(
            "changed-in-transit",
            transit_difference(delivered, &found.data),
        ));
    }
    if let Some(cross) = &world.cross_check {
        let other = clients::read::read(
            &found.data,
            &client.reader(cross.as_ref(), world.now(), &authorities),
        );
        let (ours, theirs) = (reading.verdicts(), other.verdicts());
        if ours != theirs {
            let mut lines: Vec<String> = ours
                .iter()
                .map(|line| format!("{}: {line}", engine.name()))
                .collect();
            lines.extend(
                theirs
                    .iter()
                    .map(|line| format!("{}: {line}", cross.name())),
            );
            record.details.push(Detail::list("cross-check", lines));
        }
    }
    if folder == Folder::Inbox {
        if let (Some(ciphers), Some(from)) = (reading.announced_ciphers(), &reading.from) {
            let reader = world
                .users
                .get_mut(user)
                .ok_or_else(|| format!("no user {user}"))?;
            if reader.remember_capabilities(from, ciphers.clone()) {
                record.details.push(Detail::text(
                    "capabilities",
                    format!("remembered for {from}: {}", names(&ciphers)),
                ));
            }
        }
    }
    Ok(record)
}

/// Where a changed message first differs from what was delivered, in the signed part when
/// both are clear-signed (MSG-02: those are the bytes the signature covers).
fn transit_difference(delivered: &[u8], received: &[u8]) -> String {
    if let (
        Ok(Entity::ClearSigned { signed: was, .. }),
        Ok(Entity::ClearSigned { signed: now, .. }),
    ) = (classify(delivered), classify(received))
    {
        if let Some(difference) = first_difference(&was, &now) {
            return format!("the signed part differs at {difference}");
        }
    }
    first_difference(delivered, received).map_or_else(
        || "no difference".to_owned(),
        |difference| format!("the message differs at {difference}"),
    )
}
