//! Composing, sending and reading messages, and changing them in transit.

use std::sync::{Arc, Mutex, PoisonError};

use clients::compose::{Draft, Encryption, Signing};
use clients::faults::{TransitChange, first_difference};
use clients::send::{Correspondent, SendPlan, SendRefusal, SendRequest, cipher_names};
use clients::submit::{Login, submit_with_retries};
use model::{CertificateDer, Named, Outcome, UserName};
use rand_core::RngCore;
use report::{Detail, Record};
use scenario::{Folder, SendStep};
use smime::mime::{Entity, MessageHeaders, classify};
use smime::structure::{CertificateId, CmsSummary, EnvelopeSummary, summarize};
use smime::{CallContext, CmsDer, Engine, EngineError, IdentifierKind, Recipient};

use super::{new_record, refuse};
use crate::error::{StepError, StepResult};
use crate::reading::{algorithm_text, cipher_text, describe_reading, record_detail};
use crate::world::{Delivered, RewrittenBy, SPOOL, SentMessage, World};

pub(super) fn send(world: &mut World, step: &SendStep) -> StepResult {
    send_as(world, step, None)
}

/// A send whose client logs in to the server first (a live user's stand-in does).
pub(super) fn send_as(world: &mut World, step: &SendStep, login: Option<Login>) -> StepResult {
    let mut record = new_record(world, step.from.to_string());
    let plan = match plan(world, step)? {
        Ok(plan) => plan,
        Err(refusal) => {
            let mut record = refuse(record, &refusal.reason);
            record
                .details
                .extend(refusal.details.into_iter().map(record_detail));
            return Ok(record);
        }
    };
    if let Some(warning) = plan.warning {
        record.warn(warning);
    }
    record
        .details
        .extend(plan.details.into_iter().map(record_detail));
    let sender = world.clients.user(&step.from)?;
    let addresses = Addresses {
        from: sender.email.to_string(),
        to: step
            .to
            .iter()
            .map(|name| Ok(world.clients.user(name)?.email.to_string()))
            .collect::<Result<_, StepError>>()?,
        retries: sender.profile().smtp_retries,
        minimum_bits: sender.strength.minimum_bits(),
        login,
    };
    let draft = draft(world, step, &addresses, plan.signing, plan.encryption);
    if let Some(name) = world.clients.seated_name(&step.from) {
        record
            .details
            .push(Detail::text("implementation", name.to_owned()));
    }
    let engine = world.clients.engine_for(&step.from);
    let authorities = world.pki.authorities();
    let recording = Recording::new(engine.as_ref());
    // The cross-check builds the same message again with the other engine from the same
    // generator state: deterministic engines must agree byte for byte.
    let cross_builder = world
        .clients
        .cross_check
        .clone()
        .filter(|cross| {
            world.clients.seated_name(&step.from).is_none()
                && engine.is_deterministic()
                && cross.is_deterministic()
        })
        .map(|cross| (cross, world.mail.rng.clone()));
    let composed = clients::compose::compose(&draft, &recording, &authorities, &mut world.mail.rng);
    let message = match composed {
        Ok(message) => message,
        Err(error) => return engine_refusal(record, error),
    };
    if let Some((cross, mut rng)) = cross_builder {
        let theirs = clients::compose::compose(&draft, cross.as_ref(), &authorities, &mut rng);
        if let Some(lines) = built_differently(engine.name(), &message, cross.name(), &theirs) {
            record.details.push(Detail::list("cross-check", lines));
        }
    }
    let built = Built {
        message: &message,
        layers: recording.built(),
        identifier: plan.identifier,
        cipher_choice: plan.cipher_choice,
        minimum_bits: addresses.minimum_bits,
    };
    describe_send(world, &draft, built, &mut record);
    submit(world, step, &addresses, message, record)
}

/// Where two engines' builds of one message part, for the cross-check: `None` when the bytes
/// are the same.
fn built_differently(
    ours_name: &str,
    ours: &[u8],
    theirs_name: &str,
    theirs: &Result<Vec<u8>, EngineError>,
) -> Option<Vec<String>> {
    let theirs = match theirs {
        Ok(theirs) => theirs,
        Err(error) => {
            return Some(vec![
                format!("{ours_name}: built {} bytes", ours.len()),
                format!("{theirs_name}: {error}"),
            ]);
        }
    };
    let difference = first_difference(ours, theirs)?;
    Some(vec![
        format!("{ours_name}: built {} bytes", ours.len()),
        format!(
            "{theirs_name}: built {} bytes, first different at {difference}",
            theirs.len()
        ),
    ])
}

/// Who a message goes from and to, and how often the sender's client tries.
struct Addresses {
    from: String,
    to: Vec<String>,
    retries: u32,
    /// The sender's build's weakest acceptable cipher, in bits.
    minimum_bits: u32,
    /// What the client logs in with, if it does.
    login: Option<Login>,
}

/// What the engine built for a send, and what the plan said about it.
struct Built<'m> {
    message: &'m [u8],
    layers: Vec<CmsSummary>,
    identifier: IdentifierKind,
    cipher_choice: Vec<String>,
    minimum_bits: u32,
}

/// The draft of a send: headers (the message identifier draws from the run's generator), the
/// body and the plan's layers.
fn draft(
    world: &mut World,
    step: &SendStep,
    addresses: &Addresses,
    signing: Option<Signing>,
    encryption: Option<Encryption>,
) -> Draft {
    let now = world.clock.now();
    let sequence = world.mail.sent.len() + 1;
    let mut tag = [0u8; 4];
    world.mail.rng.fill_bytes(&mut tag);
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let headers = MessageHeaders {
        from: addresses.from.clone(),
        to: addresses.to.clone(),
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
    Draft {
        headers,
        body,
        date: now,
        signing,
        encryption,
        order: step.order,
    }
}

/// What a send record says about the layers: what the bytes say, not what was asked for,
/// since an implementation in the user's seat may not do what it was asked.
fn describe_send(world: &World, draft: &Draft, built: Built<'_>, record: &mut Record) {
    let Built {
        message,
        layers: built,
        identifier,
        cipher_choice,
        minimum_bits,
    } = built;
    if let Some(signing) = &draft.signing {
        let signer = world.pki.book.describe(&signing.signer.certificate);
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
        for envelope in envelopes_in(message) {
            describe_envelope(record, &envelope);
            let weak = envelope
                .cipher
                .as_ref()
                .is_ok_and(|cipher| cipher.key_bits() < minimum_bits);
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
}

/// What the sender's client decides to do with this send (`clients::send`), from what the
/// World knows: the sender's chain and the directory's certificates for each recipient.
fn plan(world: &World, step: &SendStep) -> Result<Result<SendPlan, SendRefusal>, StepError> {
    let sender = world.clients.user(&step.from)?;
    // The CA certificates above each recipient's certificate, for checking CRLs (CA-12).
    let issuers: Vec<Vec<CertificateDer>> = step
        .to
        .iter()
        .map(|name| {
            world
                .km
                .directory
                .current_encryption_certificate(name)
                .map(|certificate| world.pki.issuer_chain(certificate))
                .unwrap_or_default()
        })
        .collect();
    let recipients = step
        .to
        .iter()
        .zip(&issuers)
        .map(|(name, issuers)| {
            let recipient = world.clients.user(name)?;
            Ok(Correspondent {
                name: &recipient.name,
                email: &recipient.email,
                certificate: world.km.directory.current_encryption_certificate(name),
                issuers,
            })
        })
        .collect::<Result<Vec<_>, StepError>>()?;
    // Clients of the era sent their chain with the signature, up to and including the root,
    // so a reader without that root still sees whose it is.
    let chain = sender
        .signing_key()
        .map(|key| world.pki.issuer_chain(&key.certificate))
        .unwrap_or_default();
    let request = SendRequest {
        form: step.sign,
        digest: step.digest,
        identifier: step.identifier,
        encrypt: step.encrypt,
        cipher: step.cipher,
        fault: step.fault,
        recipients: &recipients,
        chain,
        now: world.now(),
        // KM-06: a V1-only client whose KM server went v3-only.
        advanced_security_lost: super::km::v1_security_lost(world, &step.from),
    };
    Ok(clients::send::plan(sender, &request))
}

/// A send the engine could not build: an implementation that says it cannot do what was
/// asked refuses the send (`unsupported`); one that failed at its job (crashed, hung,
/// answered nonsense) makes it an error (`adapter-failure`). Both are verdicts on the
/// implementation; any other engine error is kmlab's own failure.
fn engine_refusal(mut record: Record, error: smime::EngineError) -> StepResult {
    let (outcome, reason, detail) = match error {
        smime::EngineError::AdapterFailure { detail } => {
            (Outcome::Error(None), "adapter-failure", detail)
        }
        smime::EngineError::Unsupported { detail, .. } => (Outcome::Refused, "unsupported", detail),
        other => return Err(other.into()),
    };
    record.outcome = outcome;
    record.reason = Some(reason.to_owned());
    record.details.push(Detail::text(reason, detail));
    Ok(record)
}

/// A recipient as the send record lists it: how the envelope names it where that is not how
/// the sender asked (`named`: the envelope's recipient identifiers, as built).
fn recipient_text(
    world: &World,
    recipient: &Recipient,
    wanted: IdentifierKind,
    named: Option<&[CertificateId]>,
) -> String {
    let text = world.pki.book.describe(&recipient.certificate);
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
    addresses: &Addresses,
    message: Vec<u8>,
    mut record: Record,
) -> StepResult {
    let to: Vec<&str> = addresses.to.iter().map(String::as_str).collect();
    let stored_before = world.mail.sink.store().len();
    let attempts = submit_with_retries(
        world.mail.sink.address(),
        "client.kmlab.test",
        addresses.login.as_ref(),
        &addresses.from,
        &to,
        &message,
        addresses.retries,
    );
    let stored = world.mail.sink.store().since(stored_before);
    if stored.len() > 1 {
        return Err(StepError::Inconsistent(format!(
            "the sink stored {} copies of one submission",
            stored.len()
        )));
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
    let last = attempts
        .last()
        .ok_or_else(|| StepError::Inconsistent("no submission attempt was made".to_owned()))?;
    if last.delivered {
        let delivered = stored.first().ok_or_else(|| {
            StepError::Inconsistent("the sink accepted a message it did not store".to_owned())
        })?;
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
        let stored_bytes = delivered.data().map_err(StepError::io(SPOOL))?;
        let composed = (*stored_bytes != *message).then(|| Arc::from(message));
        world.mail.sent.push(SentMessage {
            from: step.from.clone(),
            subject: step.subject.clone(),
            id: delivered.id,
            composed,
        });
    } else {
        if !stored.is_empty() {
            return Err(StepError::Inconsistent(
                "the sink stored a message the client was told failed".to_owned(),
            ));
        }
        record.outcome = Outcome::Error(None);
        record.reason = Some("submission-failed".into());
        record
            .details
            .push(Detail::text("sink", last.outcome.clone()));
    }
    Ok(record)
}

/// An envelope's cipher as its bytes say it, with the algorithm's identifier and key bits.
pub(super) fn describe_envelope(record: &mut Record, envelope: &EnvelopeSummary) {
    record
        .details
        .push(Detail::text("cipher", cipher_text(envelope)));
    record
        .details
        .push(Detail::text("algorithm", algorithm_text(envelope)));
}

/// Every envelope in a message, outermost first, found by peeling signatures without keys.
pub(super) fn envelopes_in(message: &[u8]) -> Vec<EnvelopeSummary> {
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
) -> Result<Option<Found>, StepError> {
    let has_subject = has_subject(subject);
    let reader = world.clients.user(user)?;
    Ok(match folder {
        Folder::Inbox => newest_with_subject(world.mail.inbox_newest_first(reader), has_subject)?
            .map(|(id, data)| {
                let altered = world.mail.altered.get(&(user.clone(), id));
                let rewritten = world
                    .mail
                    .mailbox_overrides
                    .contains_key(&(user.clone(), id));
                Found {
                    label: if rewritten {
                        format!("inbox #{id} \"{subject}\" (the copy sectool rewrote)")
                    } else {
                        format!("inbox #{id} \"{subject}\"")
                    },
                    delivered: altered.map(|_| Arc::clone(&data)),
                    data: altered.map_or(data, |changed| Arc::from(changed.as_slice())),
                }
            }),
        Folder::Sent => {
            let mut found = None;
            for sent in world
                .mail
                .sent
                .iter()
                .rev()
                .filter(|sent| &sent.from == user)
            {
                let data = match &sent.composed {
                    Some(composed) => Arc::clone(composed),
                    None => world.mail.stored(sent.id)?,
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

/// Whether a message's Subject header is `subject`.
pub(super) fn has_subject(subject: &str) -> impl Fn(&[u8]) -> bool + '_ {
    move |data: &[u8]| {
        mail_parser::MessageParser::new()
            .parse_headers(data)
            .is_some_and(|message| message.subject() == Some(subject))
    }
}

/// A step that names a message the mailbox does not hold.
pub(super) fn no_such_message(mut record: Record) -> Record {
    record.outcome = Outcome::Error(None);
    record.reason = Some("no-such-message".into());
    record
}

/// The first message (newest first) whose bytes `has_subject` accepts.
pub(super) fn newest_with_subject(
    inbox: impl Iterator<Item = Result<Delivered, StepError>>,
    has_subject: impl Fn(&[u8]) -> bool,
) -> Result<Option<Delivered>, StepError> {
    for entry in inbox {
        let (id, data) = entry?;
        if has_subject(&data) {
            return Ok(Some((id, data)));
        }
    }
    Ok(None)
}

pub(super) fn alter_message(
    world: &mut World,
    user: &UserName,
    subject: &str,
    change: TransitChange,
) -> StepResult {
    let mut record = new_record(world, "transit");
    let client = world.clients.user(user)?;
    let mut stored = None;
    for message in world
        .mail
        .sink
        .store()
        .mailbox(client.email.as_str())
        .into_iter()
        .rev()
    {
        let data = message.data().map_err(StepError::io(SPOOL))?;
        if has_subject(subject)(&data) {
            stored = Some((message, data));
            break;
        }
    }
    let Some((stored, data)) = stored else {
        return Ok(no_such_message(record));
    };
    record.details.push(Detail::text(
        "message",
        format!("{user}'s inbox #{} \"{subject}\"", stored.id),
    ));
    record.details.push(Detail::text("change", change.name()));
    let key = (user.clone(), stored.id);
    let current = world
        .mail
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
            let step = world.step;
            world
                .mail
                .rewrite(RewrittenBy::Transit, step, user, stored.id, changed);
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
) -> StepResult {
    let mut record = new_record(world, user.to_string());
    let Some(found) = find_message(world, user, subject, folder)? else {
        return Ok(no_such_message(record));
    };
    record.details.push(Detail::text("message", found.label));
    let client = world.clients.user(user)?;
    // KM-06: after v3-only a V1-only client's security is gone, keys and all.
    let security_lost = super::km::v1_security_lost(world, user);
    // KM-15: the organisation's trust list, where a root this client trusts signed it.
    let trust_list = world.pki.trust_list_for(client);
    if let Some(name) = world.clients.seated_name(user) {
        record
            .details
            .push(Detail::text("implementation", name.to_owned()));
    }
    let now = world.clock.now();
    let engine = world.clients.engine_for(user);
    let authorities = world.pki.authorities();
    let reader = |engine| {
        let mut reader = client.reader_with(engine, now, &authorities, &world.pki.signatures);
        reader.trust_list = &trust_list;
        if security_lost {
            reader.keys = &[];
        }
        reader
    };
    let reading = clients::read::read(&found.data, &reader(engine.as_ref()));
    let keys = reader(engine.as_ref()).keys;
    describe_reading(&world.pki.book, keys, &reading, &mut record);
    if security_lost && record.outcome != Outcome::Ok {
        record.reason = Some("advanced-security-lost".into());
    }
    if let Some(delivered) = &found.delivered {
        record.details.push(Detail::text(
            "changed-in-transit",
            transit_difference(delivered, &found.data),
        ));
    }
    if let Some(cross) = &world.clients.cross_check {
        let other = clients::read::read(&found.data, &reader(cross.as_ref()));
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
            let reader = world.clients.user_mut(user)?;
            if reader.remember_capabilities(from, ciphers.clone()) {
                record.details.push(Detail::text(
                    "capabilities",
                    format!("remembered for {from}: {}", cipher_names(&ciphers)),
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
