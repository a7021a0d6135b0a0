//! The IMAP session driven directly with byte strings.

use super::*;
use crate::store::{EventLog, TestMail, test_mailboxes};
use std::sync::Arc;

const PLAIN: &[u8] = b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: hello\r\nDate: Thu, 1 Mar 2001 09:00:00 +0000\r\nMessage-ID: <1@example.test>\r\n\r\nHi Alice.\r\n";

fn session() -> (ImapSession, TestMail, Arc<EventLog>) {
    let log = Arc::new(EventLog::new());
    let store = test_mailboxes(&[PLAIN], log.clone());
    let (session, greeting) = ImapSession::new(ImapContext {
        mailboxes: store.mailboxes.clone(),
        limits: Limits::default(),
        tls_available: true,
    });
    let greeting = String::from_utf8(greeting).unwrap();
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4REV1 STARTTLS AUTH=PLAIN IDLE]"),
        "{greeting}"
    );
    (session, store, log)
}

fn say(session: &mut ImapSession, input: &str) -> String {
    String::from_utf8(session.receive(input.as_bytes()).bytes).unwrap()
}

#[test]
fn login_select_fetch_marks_seen_and_reports_the_fetch() {
    let (mut s, store, log) = session();
    assert!(say(&mut s, "a LOGIN alice secret\r\n").contains("a OK"));
    let selected = say(&mut s, "b SELECT INBOX\r\n");
    assert!(selected.contains("* 1 EXISTS"), "{selected}");
    assert!(selected.contains("[UIDVALIDITY 1]"), "{selected}");
    assert!(selected.contains("b OK [READ-WRITE]"), "{selected}");
    let fetched = say(
        &mut s,
        "c UID FETCH 1:* (FLAGS BODY[] ENVELOPE BODYSTRUCTURE)\r\n",
    );
    assert!(fetched.contains("UID 1"), "{fetched}");
    assert!(
        fetched.contains(&format!("BODY[] {{{}}}\r\n", PLAIN.len())),
        "{fetched}"
    );
    assert!(fetched.contains("\"hello\""), "{fetched}");
    assert!(
        fetched.contains("BODYSTRUCTURE (\"TEXT\" \"plain\""),
        "{fetched}"
    );
    assert!(fetched.contains("\\Seen"), "{fetched}");
    assert!(
        store
            .snapshot("alice", MailboxName::Inbox)
            .unwrap()
            .messages[0]
            .flags
            .contains(crate::store::Flag::Seen)
    );
    assert!(log.events().iter().any(|e| matches!(
        e,
        Event::Fetched {
            protocol: Protocol::Imap,
            ..
        }
    )));
}

#[test]
fn literals_are_asked_for_and_bounded() {
    let (mut s, _, _) = session();
    assert_eq!(
        say(&mut s, "a LOGIN {5}\r\n"),
        "+ Ready for literal data\r\n"
    );
    assert!(say(&mut s, "alice secret\r\n").contains("a OK"));
    let append = say(&mut s, "b APPEND Sent {99999999999}\r\n");
    assert!(append.contains("b BAD"), "{append}");
}

#[test]
fn garbage_gets_bad_and_too_much_of_it_bye() {
    let (mut s, _, _) = session();
    let out = say(&mut s, &"x y z\r\n".repeat(25));
    assert!(out.contains("x BAD"), "{out}");
    assert!(out.contains("* BYE"), "{out}");
    let out = say(&mut s, "a NOOP\r\n");
    assert!(out.is_empty());
}

#[test]
fn idle_reports_new_mail_and_done_ends_it() {
    let (mut s, store, _) = session();
    say(&mut s, "a LOGIN alice secret\r\nb SELECT INBOX\r\n");
    assert_eq!(say(&mut s, "c IDLE\r\n"), "+ idling\r\n");
    assert!(s.poll().bytes.is_empty());
    store.deliver(PLAIN);
    assert_eq!(String::from_utf8(s.poll().bytes).unwrap(), "* 2 EXISTS\r\n");
    assert!(say(&mut s, "DONE\r\n").starts_with("c OK"));
}

#[test]
fn search_store_expunge() {
    let (mut s, store, _) = session();
    store.deliver(b"Subject: other\r\n\r\nx\r\n");
    say(&mut s, "a LOGIN alice secret\r\nb SELECT INBOX\r\n");
    assert!(say(&mut s, "c SEARCH SUBJECT hello\r\n").starts_with("* SEARCH 1\r\n"));
    assert!(say(&mut s, "d UID SEARCH UNSEEN\r\n").starts_with("* SEARCH 1 2\r\n"));
    assert!(say(&mut s, "e STORE 1 +FLAGS.SILENT (\\Deleted)\r\n").starts_with("e OK"));
    let out = say(&mut s, "f EXPUNGE\r\n");
    assert!(out.starts_with("* 1 EXPUNGE\r\n"), "{out}");
    assert!(say(&mut s, "g FETCH 1 (UID)\r\n").contains("UID 2"));
}

#[test]
fn partial_and_header_fields_sections() {
    let (mut s, _, _) = session();
    say(&mut s, "a LOGIN alice secret\r\nb EXAMINE INBOX\r\n");
    let out = say(
        &mut s,
        "c FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[]<0.4>)\r\n",
    );
    assert!(
        out.contains("BODY[HEADER.FIELDS (SUBJECT)] {18}\r\nSubject: hello\r\n\r\n"),
        "{out}"
    );
    assert!(out.contains("BODY[]<0> {4}\r\nFrom"), "{out}");
    assert!(!out.contains("\\Seen"), "{out}");
}
