//! What a live user's mail client does: fetching a message over IMAP or POP3, submitting one
//! with SMTP AUTH. Under `kmlab run` kmlab's stand-in does it at once over the same servers;
//! under `kmlab serve` the step waits for the real client, up to its timeout (LIVE-05). Either
//! way the step is judged from what the servers saw, so a real client and the stand-in are
//! judged alike.

use std::sync::Arc;

use clients::fetch::{fetch_imap, fetch_pop3};
use clients::submit::Login;
use model::{Duration, Outcome, UserName};
use report::{Detail, Record};
use scenario::{FetchProtocol, SendStep};
use smime::mime::{Entity, classify};
use smime::structure::{CmsSummary, summarize};

use super::mail::{has_subject, newest_with_subject, no_such_message};
use super::new_record;
use crate::LiveClients;
use crate::error::{StepError, StepResult};
use crate::world::{Live, SentMessage, Waited, World};

/// The live user's client fetches the newest message with `subject` from its inbox.
pub(super) fn live_fetch(
    world: &mut World,
    user: &UserName,
    subject: &str,
    protocol: FetchProtocol,
    timeout: Duration,
) -> StepResult {
    let mut record = new_record(world, user.to_string());
    let live = live(world)?;
    let client = world.clients.user(user)?;
    let inbox = world.mail.inbox_newest_first(client);
    let Some((id, expected)) = newest_with_subject(inbox, has_subject(subject))? else {
        return Ok(no_such_message(record));
    };
    record.details.push(Detail::text(
        "message",
        format!("inbox #{id} \"{subject}\""),
    ));
    let account = live.account(user)?;
    let mut fetched_bytes = None;
    if live.clients == LiveClients::StandIn {
        let (server, fetch): (_, fn(_, &str, &str, &str) -> _) = match protocol {
            FetchProtocol::Imap => (live.imap_address(), fetch_imap),
            FetchProtocol::Pop3 => (live.pop3_address(), fetch_pop3),
        };
        match fetch(server, &account.login, &account.password, subject) {
            Ok(bytes) => fetched_bytes = bytes,
            Err(error) => {
                record.outcome = Outcome::Error(None);
                record.reason = Some("fetch-failed".into());
                record
                    .details
                    .push(Detail::text("problem", error.to_string()));
                return Ok(record);
            }
        }
    }
    let store = world.mail.sink.store().mail().clone();
    let login = account.login.clone();
    let address = client.email.to_string();
    let fetched = |event: &live::Event| match event {
        live::Event::Fetched {
            user: who,
            mailbox,
            uid,
            protocol,
        } if who == &login
            && *mailbox == sink::MailboxName::Inbox
            && store
                .mailbox(&address, sink::MailboxName::Inbox)
                .and_then(|mailbox| mailbox.read(*uid))
                .is_ok_and(|bytes| *bytes == *expected) =>
        {
            Some(*protocol)
        }
        _ => None,
    };
    let waited = live.wait(timeout.as_real_time(), || live.next_event(fetched));
    let protocol = match waited {
        Waited::Done(protocol) => protocol,
        Waited::TimedOut | Waited::Interrupted => {
            return Ok(gave_up(
                record,
                &waited,
                format!("{user}'s client did not fetch the message"),
                timeout,
            ));
        }
    };
    let who = match live.clients {
        LiveClients::StandIn => "kmlab's stand-in",
        LiveClients::Real => "the user's client",
    };
    record.details.push(Detail::text(
        "fetched",
        format!("over {} by {who}", protocol_name(protocol)),
    ));
    // LIVE-02: what a client sees is byte for byte what the sink stored.
    let bytes = match &fetched_bytes {
        Some(bytes) if *bytes == *expected => {
            format!("{} bytes, identical to what the sink stored", bytes.len())
        }
        Some(bytes) => {
            record.outcome = Outcome::Error(None);
            record.reason = Some("fetched-bytes-differ".into());
            format!(
                "{} bytes, not what the sink stored ({} bytes)",
                bytes.len(),
                expected.len()
            )
        }
        None => format!("{} bytes, as the sink stored them", expected.len()),
    };
    record.details.push(Detail::text("bytes", bytes));
    Ok(record)
}

/// The live user's client submits a message with SMTP AUTH; its scripted recipients then
/// read it like any other (LIVE-03).
pub(super) fn live_send(world: &mut World, send: &SendStep, timeout: Duration) -> StepResult {
    let live = live(world)?;
    let account = live.account(&send.from)?;
    let login = Login {
        user: account.login.clone(),
        password: account.password.clone(),
    };
    let stored_before = world.mail.sink.store().len();
    if live.clients == LiveClients::StandIn {
        let mut record = super::mail::send_as(world, send, Some(login.clone()))?;
        let submitted = world
            .mail
            .sink
            .store()
            .since(stored_before)
            .into_iter()
            .any(|stored| stored.authenticated.as_deref() == Some(login.user.as_str()));
        if submitted {
            record.details.push(Detail::text(
                "submitted",
                format!("with AUTH as {} by kmlab's stand-in", login.user),
            ));
        }
        return Ok(record);
    }
    let mut record = new_record(world, send.from.to_string());
    let wanted = |stored: &sink::StoredMessage| {
        stored.authenticated.as_deref() == Some(login.user.as_str())
            && stored
                .data()
                .is_ok_and(|data| subject_of(&data).as_deref() == Some(send.subject.as_str()))
    };
    let waited = live.wait(timeout.as_real_time(), || {
        world.mail.sink.store().all().into_iter().find(&wanted)
    });
    let stored = match waited {
        Waited::Done(stored) => stored,
        Waited::TimedOut | Waited::Interrupted => {
            let problem = format!(
                "{}'s client submitted no message \"{}\"",
                send.from, send.subject
            );
            return Ok(gave_up(record, &waited, problem, timeout));
        }
    };
    let data = stored.data().map_err(StepError::io(crate::world::SPOOL))?;
    describe_submission(&mut record, &stored, &data, &login);
    world.mail.sent.push(SentMessage {
        from: send.from.clone(),
        subject: send.subject.clone(),
        id: stored.id,
        composed: None,
    });
    Ok(record)
}

/// What a real client's submission carried, from its bytes: the layers, the envelopes'
/// ciphers, the recipients it was addressed to.
fn describe_submission(
    record: &mut Record,
    stored: &sink::StoredMessage,
    data: &Arc<[u8]>,
    login: &Login,
) {
    record.details.push(Detail::text(
        "message",
        format!(
            "#{} \"{}\", {} bytes",
            stored.id,
            subject_of(data).unwrap_or_default(),
            data.len()
        ),
    ));
    record.details.push(Detail::text(
        "submitted",
        format!("with AUTH as {} by the user's client", login.user),
    ));
    // The outer layer is all a sender's bytes show: what an envelope holds, only its
    // recipients' keys open (their `read` says).
    let outer = match classify(data) {
        Ok(Entity::ClearSigned { .. }) => "clear-signed (multipart/signed)",
        Ok(Entity::Pkcs7 { der, .. }) => match summarize(&der) {
            Ok(CmsSummary::Signed(_)) => "opaque-signed (signed-data)",
            Ok(CmsSummary::Enveloped(_)) => {
                "encrypted (enveloped-data); what it holds, its recipients see"
            }
            _ => "application/pkcs7-mime that is neither signed- nor enveloped-data",
        },
        Ok(_) => "no S/MIME layer",
        Err(_) => "not readable as MIME",
    };
    record.details.push(Detail::text("layers", outer));
    for envelope in super::mail::envelopes_in(data) {
        super::mail::describe_envelope(record, &envelope);
    }
    record
        .details
        .push(Detail::list("recipients", stored.recipients.clone()));
}

/// A live step that stopped waiting: past its timeout, or because the run is ending
/// (LIVE-05: a failed step with a reason, never a hang).
fn gave_up<T>(
    mut record: Record,
    waited: &Waited<T>,
    problem: String,
    timeout: Duration,
) -> Record {
    record.outcome = Outcome::Error(None);
    // An interrupted wait ended before its timeout: the problem says which.
    let (reason, problem) = match waited {
        Waited::Interrupted => (
            "interrupted",
            format!("{problem} before the run was interrupted"),
        ),
        Waited::TimedOut | Waited::Done(_) => {
            ("live-timeout", format!("{problem} within {timeout}"))
        }
    };
    record.reason = Some(reason.to_owned());
    record.details.push(Detail::text("problem", problem));
    record
}

fn live(world: &World) -> Result<&Live, StepError> {
    world.live.as_ref().ok_or_else(|| {
        StepError::Inconsistent("a live step in a scenario without live users".to_owned())
    })
}

fn subject_of(data: &[u8]) -> Option<String> {
    mail_parser::MessageParser::new()
        .parse_headers(data)?
        .subject()
        .map(str::to_owned)
}

fn protocol_name(protocol: live::Protocol) -> &'static str {
    match protocol {
        live::Protocol::Imap => "IMAP",
        live::Protocol::Pop3 => "POP3",
        live::Protocol::Ldap => "LDAP",
    }
}
