//! The fuzz targets' bodies. `tests/fuzz` hands them libFuzzer's inputs; the regression tests
//! hand them the inputs that once broke something. Each one panics when kmlab misbehaves: a
//! panic inside kmlab, or a property that must hold for every input and did not.

use std::path::Path;

use clients::{Persona, Strength};
use model::Named;
use sink::{Connection, Envelope, Limits, MessageId};
use smime::mime::{Entity, SmimeType, classify, split_multipart};

use super::Fixture;

/// Arbitrary bytes from an SMTP client into the sink's session, in one read and again cut
/// into reads of the sizes the first byte picks. Both must give the same replies and the
/// same deliveries (how TCP happens to segment a stream must not change what the sink
/// does), every reply must be well-formed and every delivery whole.
pub fn smtp_session(data: &[u8]) {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    // Small limits, so that short inputs reach them.
    let limits = Limits {
        max_message_size: 4096,
        max_data_line: 80,
        max_command_line: 64,
        max_recipients: 3,
        recipient_overshoot: 2,
        max_errors: 8,
        ..Limits::default()
    };
    let whole = session(&limits, stream, &mut std::iter::repeat(stream.len().max(1)));
    let mut sizes = (1..=usize::from(cut % 16) + 1).cycle();
    let pieces = session(&limits, stream, &mut sizes);
    assert_eq!(
        whole,
        pieces,
        "the sink answered differently when the same bytes arrived in pieces of up to {} bytes",
        cut % 16 + 1
    );
    check_replies(&whole.replies);
    for envelope in &whole.delivered {
        check_delivery(envelope, &limits);
    }
}

/// What one session did.
#[derive(Debug, PartialEq, Eq)]
struct Session {
    replies: Vec<u8>,
    delivered: Vec<Envelope>,
    closed_after: Option<usize>,
}

fn session(limits: &Limits, stream: &[u8], sizes: &mut dyn Iterator<Item = usize>) -> Session {
    let (mut connection, greeting) = Connection::new(limits.clone());
    let mut replies = greeting.to_wire().into_bytes();
    let mut delivered = Vec::new();
    let mut closed_after = None;
    let mut offset = 0;
    while offset < stream.len() {
        let size = sizes.next().unwrap_or(1).min(stream.len() - offset);
        let mut deliver = |envelope: Envelope| {
            delivered.push(envelope);
            Ok(MessageId(delivered.len() as u64))
        };
        let output = connection.receive(&stream[offset..offset + size], &mut deliver);
        replies.extend_from_slice(&output.reply_bytes);
        offset += size;
        if output.close {
            // What the client sent after the sink closed is never read.
            closed_after = Some(replies.len());
            break;
        }
    }
    Session {
        replies,
        delivered,
        closed_after,
    }
}

/// Every reply line is `ddd` then a space or a dash, plain text, and ends in CRLF.
fn check_replies(replies: &[u8]) {
    for line in crlf_lines(replies, "reply") {
        assert!(
            line.len() >= 4
                && line[..3].iter().all(u8::is_ascii_digit)
                && matches!(line[3], b' ' | b'-'),
            "a malformed reply line: {:?}",
            String::from_utf8_lossy(line)
        );
        assert!(
            !line.contains(&0),
            "a reply line carries a NUL: {:?}",
            String::from_utf8_lossy(line)
        );
    }
}

/// A delivered message is within the limits and made of CRLF-terminated lines.
fn check_delivery(envelope: &Envelope, limits: &Limits) {
    assert!(
        (1..=limits.max_recipients).contains(&envelope.recipients.len()),
        "{} recipients delivered",
        envelope.recipients.len()
    );
    assert!(envelope.data.len() <= limits.max_message_size);
    for line in crlf_lines(&envelope.data, "stored message") {
        assert!(
            line.len() + 2 <= limits.max_data_line,
            "stored an over-long line"
        );
    }
}

/// The lines of `text`, which must be lines each ended by CRLF with no other CR or LF.
fn crlf_lines<'a>(text: &'a [u8], what: &str) -> Vec<&'a [u8]> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or_else(|| panic!("a {what} that does not end in CRLF"));
        let line = rest[..end].strip_suffix(b"\r").unwrap_or_else(|| {
            panic!(
                "a bare LF in a {what}: {:?}",
                String::from_utf8_lossy(&rest[..end])
            )
        });
        assert!(
            !line.contains(&b'\r'),
            "a bare CR in a {what}: {:?}",
            String::from_utf8_lossy(line)
        );
        lines.push(line);
        rest = &rest[end + 1..];
    }
    lines
}

/// Arbitrary text into both levels of the scenario parser. A file that does not resolve
/// must yield at least one problem, each at a line and column inside the file, and the
/// rendering of all of them must work.
pub fn scenario_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Err(diagnostics) = scenario::parse("fuzz", Path::new("fuzz.toml"), text) else {
        return;
    };
    assert!(!diagnostics.items.is_empty(), "rejected without a reason");
    let lines = text.split('\n').count();
    for message in diagnostics.located_messages() {
        let rest = message
            .strip_prefix("fuzz.toml:")
            .unwrap_or_else(|| panic!("not located in the file: {message}"));
        let mut numbers = rest.splitn(3, ':');
        let line: usize = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let column: usize = numbers.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(
            (1..=lines).contains(&line) && column >= 1,
            "located outside the file: {message}"
        );
    }
    let rendered = diagnostics.to_string();
    assert!(rendered.contains("fuzz.toml"));
}

/// What [`smime_reader`] needs before its first input: the fixture's keys, derived (and, on a
/// machine whose key cache lacks them, generated) here rather than inside the first input,
/// where a sanitized build's key generation would count against the fuzzer's time limit.
pub fn smime_reader_init() {
    let _ = Fixture::get();
}

/// Arbitrary bytes into `kmlab inspect`'s path, which is a client's read with the record a
/// transcript holds around it: the first byte chooses whether the rest is a whole message,
/// the DER of an application/pkcs7-mime body (enveloped or signed), or the DER of a detached
/// signature, and which of Bob's clients reads it. Bob's reader, with his real key and
/// trusted root, must come back with a reading and a record that renders.
pub fn smime_reader(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let message = match mode % 4 {
        0 => rest.to_vec(),
        1 => pkcs7_message(rest, SmimeType::EnvelopedData),
        2 => pkcs7_message(rest, SmimeType::SignedData),
        _ => clear_signed_message(rest),
    };
    if mode % 4 != 0 {
        let _ = smime::structure::summarize(rest);
    }
    let personas = <Persona as Named>::ALL;
    let persona = personas[usize::from(mode >> 2) % personas.len()];
    let strength = if mode & 0x80 == 0 {
        Strength::High
    } else {
        Strength::Export
    };
    let inspector = Fixture::get().inspector(persona, strength);
    let inspection = inspector.inspect("fuzz.eml", &message, &smime_rustcrypto::RustCryptoEngine);
    let reading = &inspection.reading;
    assert_eq!(reading.verdicts().len(), reading.layers.len() + 1);
    let rendered = report::render_record(&inspection.record, "inspect");
    assert!(
        rendered.starts_with("[inspect] inspect by bob"),
        "{rendered}"
    );
    let _ = super::verdict(reading);
}

fn pkcs7_message(der: &[u8], smime_type: SmimeType) -> Vec<u8> {
    let mut message = b"From: alice@hostile.example\r\nTo: bob@hostile.example\r\nSubject: fuzz\r\nMIME-Version: 1.0\r\n".to_vec();
    message.extend(smime::mime::pkcs7_mime_entity(
        &smime::CmsDer::new(der.to_vec()),
        smime_type,
    ));
    message
}

fn clear_signed_message(der: &[u8]) -> Vec<u8> {
    let mut message = b"From: alice@hostile.example\r\nTo: bob@hostile.example\r\nSubject: fuzz\r\nMIME-Version: 1.0\r\n".to_vec();
    message.extend(smime::mime::clear_signed_entity(
        &smime::mime::text_entity("fuzz\n"),
        &smime::CmsDer::new(der.to_vec()),
        smime::Digest::Sha256,
        "fuzz-boundary",
    ));
    message
}

/// Arbitrary bytes into the multipart/signed split. The signed part is the exact bytes of
/// the message, never a rewrite of them; the parts of any multipart are slices of the input,
/// in order and not overlapping, whatever the boundary (taken from the first line).
pub fn signed_part(data: &[u8]) {
    if let Ok(Entity::ClearSigned { signed, .. }) = classify(data) {
        assert!(
            signed.is_empty() || data.windows(signed.len()).any(|window| window == signed),
            "the signed part is not a run of the message's own bytes"
        );
    }
    let first_line = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let boundary = String::from_utf8_lossy(&first_line[..first_line.len().min(70)]);
    let Ok(parts) = split_multipart(data, boundary.trim_end_matches('\r')) else {
        return;
    };
    let start = data.as_ptr() as usize;
    let mut previous_end = start;
    for part in parts {
        let part_start = part.as_ptr() as usize;
        assert!(
            part_start >= previous_end && part_start + part.len() <= start + data.len(),
            "a part outside the message or overlapping the one before"
        );
        previous_end = part_start + part.len();
    }
}

/// The mailboxes the live servers' fuzz targets serve: the sink's in-memory store with one
/// message for `alice` (password `secret`), and small limits so that short inputs reach them.
fn live_world() -> (live::Mailboxes, live::Limits) {
    let store = sink::Store::in_memory();
    // An in-memory delivery has nothing to fail on; a failure would show as an empty INBOX.
    let _ = store.deliver(Envelope {
        from: "bob@example.test".into(),
        recipients: vec!["alice@example.test".into()],
        data: std::sync::Arc::from(
            &b"From: bob@example.test\r\nSubject: hi\r\n\r\n.dot\r\nbody\r\n"[..],
        ),
        authenticated: None,
    });
    let accounts = live::Accounts::new();
    accounts.add("alice", "secret", "alice@example.test");
    let mailboxes = live::Mailboxes {
        store: store.mail().clone(),
        accounts,
        observer: std::sync::Arc::new(live::Unobserved),
    };
    let limits = live::Limits {
        max_line: 256,
        max_literal: 4096,
        max_errors: 8,
        ..live::Limits::default()
    };
    (mailboxes, limits)
}

/// Arbitrary bytes from an IMAP client into the IMAP session (`live::imap_exchange`): no
/// panic, every response a well-formed line (`*`, `+` or a tag, ended by CRLF, literals
/// skipped), and once the session closes (too many errors, LOGOUT) it answers nothing more.
pub fn imap_session(data: &[u8]) {
    let (mailboxes, limits) = live_world();
    let context = live::ImapContext {
        mailboxes,
        limits,
        tls_available: true,
    };
    let replies = live::imap_exchange(context.clone(), data);
    check_imap_responses(&replies);
    let (mut session, _) = live::ImapSession::new(context);
    check_closed_stays_closed(
        |input| {
            let output = session.receive(input);
            (output.bytes, output.close)
        },
        data,
    );
}

/// Arbitrary bytes from a POP3 client into the POP3 session (`live::pop3_exchange`): no
/// panic, every reply line ended by CRLF with no other CR or LF, every status line `+OK` or
/// `-ERR`, and once the session closes it answers nothing more.
pub fn pop3_session(data: &[u8]) {
    let (mailboxes, limits) = live_world();
    let context = live::Pop3Context {
        mailboxes,
        limits,
        tls_available: true,
    };
    let replies = live::pop3_exchange(context.clone(), data);
    let lines = crlf_lines(&replies, "POP3 reply");
    assert!(
        lines
            .first()
            .is_some_and(|greeting| greeting.starts_with(b"+OK")),
        "no +OK greeting"
    );
    let (mut session, _) = live::Pop3Session::new(context);
    check_closed_stays_closed(
        |input| {
            let output = session.receive(input);
            (output.bytes, output.close)
        },
        data,
    );
}

/// Arbitrary bytes from an LDAP client into the directory's session (`live::ldap_exchange`):
/// no panic, and every answer a sequence of whole BER `LDAPMessage` SEQUENCEs with definite
/// lengths; once the session closes it answers nothing more.
pub fn ldap_session(data: &[u8]) {
    let (mailboxes, _) = live_world();
    let context = live::LdapContext {
        directory: live::Directory::new(live::DirectorySnapshot::empty("o=Example")),
        mailboxes,
        max_request: 4096,
    };
    let replies = live::ldap_exchange(context.clone(), data);
    let mut rest = replies.as_slice();
    while !rest.is_empty() {
        assert_eq!(rest[0], 0x30, "an LDAP answer that is not a SEQUENCE");
        let length = ber_length(&rest[1..]).unwrap_or_else(|| panic!("a bad BER length"));
        rest = rest
            .get(1 + length.0 + length.1..)
            .unwrap_or_else(|| panic!("an LDAP answer shorter than its length"));
    }
    let mut session = live::LdapSession::new(context);
    check_closed_stays_closed(
        |input| {
            let output = session.receive(input);
            (output.bytes, output.close)
        },
        data,
    );
}

/// A BER definite length: (octets of the length field, the length).
fn ber_length(bytes: &[u8]) -> Option<(usize, usize)> {
    let first = *bytes.first()?;
    if first < 0x80 {
        return Some((1, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let length = bytes
        .get(1..=count)?
        .iter()
        .fold(0usize, |length, &b| (length << 8) | usize::from(b));
    Some((1 + count, length))
}

/// Feeds `data` a line at a time; once a reply says the session closed, every later input
/// gets no answer.
fn check_closed_stays_closed(mut feed: impl FnMut(&[u8]) -> (Vec<u8>, bool), data: &[u8]) {
    let mut closed = false;
    for piece in data
        .split_inclusive(|&b| b == b'\n')
        .chain([&b"NOOP\r\n"[..]])
    {
        let (bytes, close) = feed(piece);
        if closed {
            assert!(
                bytes.is_empty(),
                "a closed session answered: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        closed |= close;
    }
}

/// IMAP responses: each line starts with `*`, `+` or a tag and a status, ends in CRLF, and a
/// `{n}` at its end is followed by n bytes of literal before the line goes on.
fn check_imap_responses(replies: &[u8]) {
    let mut rest = replies;
    let mut at_line_start = true;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|pair| pair == b"\r\n")
            .unwrap_or_else(|| {
                panic!(
                    "an IMAP response without CRLF: {:?}",
                    String::from_utf8_lossy(rest)
                )
            });
        let line = &rest[..end];
        assert!(
            !line.contains(&b'\n') && !line.contains(&0),
            "a bare LF or a NUL in an IMAP response line: {:?}",
            String::from_utf8_lossy(line)
        );
        if at_line_start {
            let well_formed = line.starts_with(b"* ")
                || line.starts_with(b"+")
                || line
                    .split(|&b| b == b' ')
                    .nth(1)
                    .is_some_and(|status| matches!(status, b"OK" | b"NO" | b"BAD"));
            assert!(
                well_formed,
                "an IMAP response that is neither untagged, a continuation nor tagged: {:?}",
                String::from_utf8_lossy(line)
            );
        }
        rest = &rest[end + 2..];
        // A literal: `{n}` (or `{n+}`) ends the line, n bytes follow, then the line goes on.
        let literal = line
            .strip_suffix(b"}")
            .and_then(|head| {
                head.iter()
                    .rposition(|&b| b == b'{')
                    .map(|at| &head[at + 1..])
            })
            .and_then(|digits| {
                std::str::from_utf8(digits.strip_suffix(b"+").unwrap_or(digits)).ok()
            })
            .and_then(|digits| digits.parse::<usize>().ok());
        match literal {
            Some(length) => {
                rest = rest
                    .get(length..)
                    .unwrap_or_else(|| panic!("an IMAP literal shorter than announced"));
                at_line_start = false;
            }
            None => at_line_start = true,
        }
    }
}
