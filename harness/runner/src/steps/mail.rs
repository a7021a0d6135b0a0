//! Composing, sending and reading messages.

use clients::compose::{Draft, Encryption, Signing};
use clients::read::{Content, Layer, Reader, Reading};
use clients::submit::submit;
use clients::{SignForm, VirtualUser};
use model::{CertificateDer, CertifiedKey, KeyGeneration, Named, Outcome, UserName};
use pki::ChainVerdict;
use rand_core::RngCore;
use report::{Detail, Record};
use scenario::{Folder, SendStep};
use smime::mime::MessageHeaders;
use smime::structure::{CmsSummary, summarize};
use smime::{Capability, SignatureStatus};

use super::{new_record, refuse};
use crate::world::{SentMessage, World};

pub(super) fn send(world: &mut World, step: &SendStep) -> Result<Record, String> {
    let mut record = new_record(world, step.from.to_string(), "send");
    let sender = world
        .users
        .get(&step.from)
        .ok_or_else(|| format!("no user {}", step.from))?
        .clone();
    let profile = sender.profile();
    let recipients: Vec<&VirtualUser> = step
        .to
        .iter()
        .map(|name| {
            world
                .users
                .get(name)
                .ok_or_else(|| format!("no user {name}"))
        })
        .collect::<Result<_, _>>()?;
    let sign = step.sign.unwrap_or(profile.default_signing);
    let digest = step.digest.unwrap_or(profile.signing_digest);

    let signing_certificate = sender
        .signing_key()
        .map(|key| key.certificate.clone())
        .unwrap_or_else(|| CertificateDer::new(Vec::new()));
    let signing = match sign {
        SignForm::None => None,
        form => {
            let Some(signer) = sender.signer(world.issuer_chain(&signing_certificate)) else {
                return Ok(refuse(record, "no-signing-certificate"));
            };
            let capabilities = profile
                .ciphers
                .iter()
                .map(|cipher| Capability::Cipher(*cipher))
                .collect();
            Some(Signing {
                form,
                digest,
                signer,
                capabilities,
            })
        }
    };
    let encryption = if step.encrypt {
        let Some(cipher) = step.cipher.or_else(|| profile.ciphers.first().copied()) else {
            return Ok(refuse(record, "client-cannot-encrypt-smime"));
        };
        let mut certificates = Vec::new();
        let mut missing = Vec::new();
        for recipient in &recipients {
            match world
                .directory
                .current_encryption_certificate(&recipient.name)
            {
                Some(certificate) => certificates.push(certificate.clone()),
                None => missing.push(recipient.name.to_string()),
            }
        }
        if !missing.is_empty() {
            let mut refused = refuse(record, "no-encryption-certificate");
            refused.details.push(Detail::list("missing", missing));
            return Ok(refused);
        }
        // The sender encrypts to itself too, so the sent copy stays readable (MSG-04).
        let Some(own) = sender.current_encryption_key() else {
            return Ok(refuse(record, "sender-has-no-encryption-certificate"));
        };
        certificates.push(own.certificate.clone());
        Some(Encryption {
            cipher,
            recipients: certificates,
        })
    } else {
        None
    };

    let sequence = world.sent.len() + 1;
    let mut tag = [0u8; 4];
    world.rng.fill_bytes(&mut tag);
    let tag: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    let headers = MessageHeaders {
        from: sender.email.to_string(),
        to: recipients.iter().map(|r| r.email.to_string()).collect(),
        subject: step.subject.clone(),
        date: world.now().to_rfc5322(),
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
        date: world.now(),
        identifier: profile.identifier,
        signing,
        encryption,
    };
    let message = clients::compose::compose(&draft, world.engine.as_ref(), &mut world.rng)
        .map_err(|e| e.to_string())?;

    if let Some(signing) = &draft.signing {
        let signer = world.book.describe(&signing.signer.certificate);
        record.details.push(Detail::text(
            "signed",
            format!("{}, {} by {signer}", signing.form.name(), signing.digest),
        ));
    }
    if let Some(encryption) = &draft.encryption {
        record.details.push(Detail::text(
            "cipher",
            envelope_cipher(&message).unwrap_or_else(|| encryption.cipher.to_string()),
        ));
        record.details.push(Detail::list(
            "recipients",
            encryption
                .recipients
                .iter()
                .map(|c| world.book.describe(c))
                .collect(),
        ));
    }
    let to: Vec<&str> = recipients.iter().map(|r| r.email.as_str()).collect();
    match submit(
        world.sink.address(),
        "client.kmlab.test",
        sender.email.as_str(),
        &to,
        &message,
    ) {
        Ok(reply) => {
            let id = world
                .sink
                .store()
                .all()
                .last()
                .map(|stored| stored.id)
                .ok_or("the sink accepted a message it did not store")?;
            record.details.insert(
                0,
                Detail::text(
                    "message",
                    format!("#{} \"{}\", {} bytes", id, step.subject, message.len()),
                ),
            );
            record
                .details
                .push(Detail::text("sink", format!("250 {reply}")));
            world.sent.push(SentMessage {
                from: step.from.clone(),
                subject: step.subject.clone(),
                id,
            });
            if let Some(sender) = world.users.get_mut(&step.from) {
                sender.sent.push(message);
            }
        }
        Err(error) => {
            record.outcome = Outcome::Error(None);
            record.reason = Some("submission-failed".into());
            record.details.push(Detail::text("sink", error.to_string()));
        }
    }
    Ok(record)
}

/// The cipher of the outermost envelope of a composed message, read back from its bytes.
fn envelope_cipher(message: &[u8]) -> Option<String> {
    let smime::mime::Entity::Pkcs7 { der, .. } = smime::mime::classify(message).ok()? else {
        return None;
    };
    match summarize(&der).ok()? {
        CmsSummary::Enveloped(summary) => summary.cipher.ok().map(|cipher| cipher.to_string()),
        _ => None,
    }
}

pub(super) fn read(
    world: &mut World,
    user: &UserName,
    subject: &str,
    folder: Folder,
) -> Result<Record, String> {
    let mut record = new_record(world, user.to_string(), "read");
    let client = world
        .users
        .get(user)
        .ok_or_else(|| format!("no user {user}"))?;
    let has_subject = |data: &[u8]| {
        mail_parser::MessageParser::new()
            .parse_headers(data)
            .is_some_and(|message| message.subject() == Some(subject))
    };
    let found = match folder {
        Folder::Inbox => world
            .inbox(user)
            .into_iter()
            .rev()
            .find(|(_, data)| has_subject(data))
            .map(|(id, data)| (format!("inbox #{id} \"{subject}\""), data)),
        Folder::Sent => client
            .sent
            .iter()
            .rev()
            .find(|data| has_subject(data))
            .map(|data| (format!("sent copy \"{subject}\""), data.clone())),
    };
    let Some((label, data)) = found else {
        record.outcome = Outcome::Error(None);
        record.reason = Some("no-such-message".into());
        return Ok(record);
    };
    record.details.push(Detail::text("message", label));
    // KM-06: after v3-only a V1-only client's security is gone, keys and all.
    let security_lost = super::km::v1_security_lost(world, user);
    let reader = Reader {
        engine: world.engine.as_ref(),
        profile: client.profile(),
        keys: if security_lost {
            &[]
        } else {
            &client.encryption_keys
        },
        roots: &client.trusted_roots,
        now: world.clock.now(),
    };
    let reading = clients::read::read(&data, &reader);
    describe_reading(world, &reading, &mut record);
    if security_lost && record.outcome != Outcome::Ok {
        record.reason = Some("advanced-security-lost".into());
    }
    Ok(record)
}

fn generation_label(world: &World, keys: &[CertifiedKey], generation: KeyGeneration) -> String {
    keys.iter()
        .find(|key| key.generation == generation)
        .and_then(|key| world.book.label(&key.certificate))
        .map_or_else(|| format!("enc#{generation}"), str::to_owned)
}

fn chain_text(verdict: &ChainVerdict) -> String {
    match verdict {
        ChainVerdict::Valid { path } => format!("valid ({})", path.join(" <- ")),
        ChainVerdict::UntrustedRoot { root } => format!("untrusted-root ({root})"),
        ChainVerdict::IssuerNotFound { subject, issuer } => {
            format!("issuer-not-found ({subject} names {issuer})")
        }
        ChainVerdict::Expired { subject, not_after } => {
            format!("expired ({subject} ended {not_after})")
        }
        ChainVerdict::NotYetValid {
            subject,
            not_before,
        } => format!("not-yet-valid ({subject} starts {not_before})"),
        ChainVerdict::Malformed { detail } => format!("malformed-certificate ({detail})"),
    }
}

/// Turns a reading into details and sets the record's outcome: `error` when the message could
/// not be read or a signature failed its cryptography, `warning` when the cryptography held
/// but the client's trust policy did not, `ok` otherwise.
fn describe_reading(world: &World, reading: &Reading, record: &mut Record) {
    let keys = world
        .users
        .get(&UserName::new(record.actor.as_str()))
        .map(|u| u.encryption_keys.clone())
        .unwrap_or_default();
    let mut layers = Vec::new();
    let mut problem: Option<(Outcome, String)> = None;
    let mut note = |outcome: Outcome, reason: &str| {
        let rank = |o: &Outcome| match o {
            Outcome::Error(_) => 2,
            Outcome::Warning => 1,
            _ => 0,
        };
        if problem
            .as_ref()
            .is_none_or(|(current, _)| rank(&outcome) > rank(current))
        {
            problem = Some((outcome, reason.to_owned()));
        }
    };
    for layer in &reading.layers {
        match layer {
            Layer::Enveloped {
                summary,
                opened_with,
                attempts,
            } => {
                let (cipher, recipients) = match summary {
                    Ok(summary) => (
                        summary.cipher.as_ref().map_or_else(
                            |unknown| format!("unknown cipher ({unknown})"),
                            ToString::to_string,
                        ),
                        summary
                            .recipients
                            .iter()
                            .map(|id| world.book.label_for(id))
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                    Err(detail) => (format!("malformed ({detail})"), String::new()),
                };
                let opened = match opened_with {
                    Some(generation) => {
                        let label = generation_label(world, &keys, *generation);
                        record
                            .details
                            .push(Detail::text("decrypted-with", label.clone()));
                        format!("opened with {label}")
                    }
                    None if attempts.is_empty() => "not opened".to_owned(),
                    None => format!(
                        "no key opened it ({})",
                        attempts
                            .iter()
                            .map(|a| format!("enc#{}: {}", a.generation, a.result))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                record.details.push(Detail::text("cipher", cipher.clone()));
                layers.push(format!(
                    "enveloped-data, {cipher}, for {recipients}: {opened}"
                ));
            }
            Layer::Signed {
                form,
                check,
                policy,
            } => {
                let signer = check.signer.as_ref().map_or_else(
                    || "an unknown signer".to_owned(),
                    |der: &CertificateDer| world.book.describe(der),
                );
                let digest = check
                    .digest
                    .map_or("unknown digest".to_owned(), |d| d.to_string());
                let mut line = format!(
                    "{}-signed, {digest}, by {signer}: signature {}",
                    form.name(),
                    check.status.reason()
                );
                record
                    .details
                    .push(Detail::text("signature", check.status.reason()));
                if let Some(der) = &check.signer {
                    record.details.push(Detail::text(
                        "signer",
                        world.book.label(der).unwrap_or("unknown").to_owned(),
                    ));
                }
                record.details.push(Detail::text("digest", digest));
                match check.status {
                    SignatureStatus::Verified => {}
                    SignatureStatus::DigestMismatch | SignatureStatus::SignatureInvalid => {
                        note(Outcome::Error(None), "tampered")
                    }
                    _ => note(Outcome::Error(None), check.status.reason()),
                }
                if let Some(policy) = policy {
                    record
                        .details
                        .push(Detail::text("chain", policy.at_reading.reason()));
                    line.push_str(&format!(
                        "; chain at reading {}",
                        chain_text(&policy.at_reading)
                    ));
                    if let (Some(at_signing), Some(time)) = (&policy.at_signing, check.signing_time)
                    {
                        line.push_str(&format!(
                            "; signed {time}, chain then {}",
                            at_signing.reason()
                        ));
                    }
                    if !policy.at_reading.is_valid() {
                        note(Outcome::Warning, policy.at_reading.reason());
                    }
                    if policy.address_matches == Some(false) {
                        line.push_str("; signer address differs from From");
                        note(Outcome::Warning, "address-mismatch");
                    }
                }
                layers.push(line);
            }
        }
    }
    record.details.push(Detail::list("layers", layers));
    match &reading.content {
        Content::Text(text) => {
            record.details.push(Detail::list(
                "body",
                text.lines().map(str::to_owned).collect(),
            ));
        }
        Content::Other(content_type) => record
            .details
            .push(Detail::text("body", format!("({content_type})"))),
        Content::Unreadable(reason) => note(Outcome::Error(None), reason),
    }
    if let Some((outcome, reason)) = problem {
        record.outcome = outcome;
        record.reason = Some(reason);
    }
}
