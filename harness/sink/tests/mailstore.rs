//! The folder API (`sink::MailStore`) over both backends, the Maildir store across restarts,
//! and the Maildir layout other tools read.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sink::{
    Clock, Envelope, FixedClock, Flag, FlagChange, Flags, InternalDate, MailboxName,
    MaildirOptions, Store, Uid,
};

/// A clock that moves on a millisecond each time it is read, from a fixed start.
#[derive(Debug, Default)]
struct Ticking(AtomicU64);

impl Clock for Ticking {
    fn now(&self) -> Duration {
        Duration::from_secs(1_700_000_000)
            + Duration::from_millis(self.0.fetch_add(1, Ordering::Relaxed))
    }
}

fn maildir(root: &Path) -> Store {
    Store::maildir(
        root,
        MaildirOptions {
            clock: Arc::new(Ticking::default()),
            ..MaildirOptions::default()
        },
    )
}

fn deliver(store: &Store, to: &[&str], body: &str) {
    store
        .deliver(Envelope {
            from: "alice@x.test".into(),
            recipients: to.iter().map(|to| (*to).to_owned()).collect(),
            data: Arc::from(body.as_bytes()),
            authenticated: None,
        })
        .unwrap();
}

/// The same checks for every backend: UIDs in arrival order, flags, expunge, append.
fn check_folders(store: &Store) {
    deliver(store, &["Bob@x.test", "carol@x.test"], "one\r\n");
    deliver(store, &["bob@x.test"], "two\r\n");
    let mail = store.mail();
    assert_eq!(mail.users().unwrap(), ["bob@x.test", "carol@x.test"]);
    assert_eq!(
        mail.mailboxes("bob@x.test"),
        [MailboxName::Inbox, MailboxName::Sent]
    );
    let inbox = mail.mailbox("bob@x.test", MailboxName::Inbox).unwrap();
    let snapshot = inbox.select().unwrap();
    let uids: Vec<Uid> = snapshot.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [Uid(1), Uid(2)]);
    assert_eq!(snapshot.uidnext, Uid(3));
    assert_eq!(snapshot.messages[0].size, 5);
    assert_eq!(snapshot.messages[0].flags, Flags::NONE);
    assert_eq!(&*inbox.read(Uid(1)).unwrap(), b"one\r\n");
    assert_eq!(&*inbox.read(Uid(2)).unwrap(), b"two\r\n");
    assert!(inbox.read(Uid(9)).is_err());

    let seen = Flags::NONE.with(Flag::Seen);
    assert_eq!(
        inbox.set_flags(Uid(1), FlagChange::Add(seen)).unwrap(),
        seen
    );
    let deleted = seen.with(Flag::Deleted);
    assert_eq!(
        inbox
            .set_flags(Uid(1), FlagChange::Add(Flags::NONE.with(Flag::Deleted)))
            .unwrap(),
        deleted
    );
    assert_eq!(&*inbox.read(Uid(1)).unwrap(), b"one\r\n");
    assert_eq!(inbox.expunge().unwrap(), [Uid(1)]);
    let after = inbox.select().unwrap();
    assert_eq!(
        after.messages.iter().map(|m| m.uid).collect::<Vec<_>>(),
        [Uid(2)]
    );
    assert_eq!(after.uidvalidity, snapshot.uidvalidity);
    // Expunged UIDs are never given out again.
    deliver(store, &["bob@x.test"], "three\r\n");
    let later = inbox.select().unwrap();
    assert_eq!(later.messages.last().unwrap().uid, Uid(3));

    let sent = mail.mailbox("bob@x.test", MailboxName::Sent).unwrap();
    let uid = sent
        .append(b"sent\r\n", seen, Some(InternalDate(1_000_000_000)))
        .unwrap();
    assert_eq!(uid, Uid(1));
    let sent_snapshot = sent.select().unwrap();
    assert_eq!(sent_snapshot.messages[0].flags, seen);
    assert_eq!(
        sent_snapshot.messages[0].internal_date,
        InternalDate(1_000_000_000)
    );
    assert_eq!(&*sent.read(uid).unwrap(), b"sent\r\n");
    // Carol's copy is her own: Bob's flags and expunge did not touch it.
    let carol = mail.mailbox("carol@x.test", MailboxName::Inbox).unwrap();
    let carol_snapshot = carol.select().unwrap();
    assert_eq!(carol_snapshot.messages.len(), 1);
    assert_eq!(carol_snapshot.messages[0].flags, Flags::NONE);
    assert_eq!(&*carol.read(Uid(1)).unwrap(), b"one\r\n");
}

#[test]
fn folders_in_memory() {
    check_folders(&Store::in_memory());
}

#[test]
fn folders_in_a_spool() {
    let dir = tempfile::tempdir().unwrap();
    check_folders(&Store::spooled(&dir.path().join("spool")).unwrap());
}

#[test]
fn folders_in_a_maildir() {
    let dir = tempfile::tempdir().unwrap();
    check_folders(&maildir(dir.path()));
}

#[test]
fn a_log_store_dates_messages_by_its_injected_clock() {
    let store = Store::in_memory();
    store.set_clock(Arc::new(FixedClock(Duration::from_secs(86_400))));
    deliver(&store, &["bob@x.test"], "m\r\n");
    let snapshot = store
        .mail()
        .mailbox("bob@x.test", MailboxName::Inbox)
        .unwrap()
        .select()
        .unwrap();
    assert_eq!(snapshot.messages[0].internal_date, InternalDate(86_400));
    assert_eq!(snapshot.uidvalidity, 1);
}

/// Issue 15: a restart on the same folder began numbering at 1 again and replaced the first
/// message with the second.
#[test]
fn a_restart_on_the_same_maildir_keeps_every_message_and_uid() {
    let dir = tempfile::tempdir().unwrap();
    let first = maildir(dir.path());
    deliver(&first, &["bob@x.test"], "first\r\n");
    let inbox = first
        .mail()
        .mailbox("bob@x.test", MailboxName::Inbox)
        .unwrap();
    let before = inbox.select().unwrap();
    inbox
        .set_flags(Uid(1), FlagChange::Add(Flags::NONE.with(Flag::Seen)))
        .unwrap();
    drop(first);

    // The same clock readings, process id and size again: the same name comes up, and must
    // not replace anything.
    let second = maildir(dir.path());
    deliver(&second, &["bob@x.test"], "again\r\n");
    deliver(&second, &["bob@x.test"], "later\r\n");
    let inbox = second
        .mail()
        .mailbox("bob@x.test", MailboxName::Inbox)
        .unwrap();
    let after = inbox.select().unwrap();
    assert_eq!(after.uidvalidity, before.uidvalidity);
    let uids: Vec<Uid> = after.messages.iter().map(|m| m.uid).collect();
    assert_eq!(uids, [Uid(1), Uid(2), Uid(3)]);
    assert_eq!(after.messages[0].flags, Flags::NONE.with(Flag::Seen));
    assert_eq!(&*inbox.read(Uid(1)).unwrap(), b"first\r\n");
    let mut later: Vec<Vec<u8>> = [Uid(2), Uid(3)]
        .iter()
        .map(|uid| inbox.read(*uid).unwrap().to_vec())
        .collect();
    later.sort();
    assert_eq!(later, [b"again\r\n".to_vec(), b"later\r\n".to_vec()]);
    let bodies: Vec<Vec<u8>> = second
        .mailbox("bob@x.test")
        .iter()
        .map(|m| m.data().unwrap().to_vec())
        .collect();
    assert_eq!(bodies.len(), 3);
}

#[test]
fn the_maildir_layout_is_what_other_tools_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = maildir(dir.path());
    deliver(&store, &["bob@x.test"], "m\r\n");
    let user = dir.path().join("bob@x.test");
    for sub in ["tmp", "new", "cur", ".Sent/tmp", ".Sent/new", ".Sent/cur"] {
        assert!(user.join(sub).is_dir(), "{sub}");
    }
    assert!(user.join(".Sent/maildirfolder").is_file());
    let new: Vec<String> = names(&user.join("new"));
    assert_eq!(new.len(), 1);
    assert!(new[0].contains(",S=3"), "{new:?}");
    assert!(names(&user.join("tmp")).is_empty());

    let inbox = store
        .mail()
        .mailbox("bob@x.test", MailboxName::Inbox)
        .unwrap();
    inbox.select().unwrap();
    let flags = Flags::NONE.with(Flag::Seen).with(Flag::Answered);
    inbox.set_flags(Uid(1), FlagChange::Replace(flags)).unwrap();
    assert!(names(&user.join("new")).is_empty());
    let cur = names(&user.join("cur"));
    assert_eq!(cur, [format!("{}:2,RS", new[0])]);
    let uidlist = std::fs::read_to_string(user.join(sink::mailstore::UIDLIST)).unwrap();
    let mut lines = uidlist.lines();
    assert!(
        lines.next().unwrap().starts_with("3 V1700000000 N"),
        "{uidlist}"
    );
    assert_eq!(lines.next(), Some(format!("1 :{}", new[0]).as_str()));

    // A message another tool drops into the folder gets the next UID, its flags from its name.
    std::fs::write(user.join("cur/1.M1P1.elsewhere:2,F"), "x").unwrap();
    let snapshot = inbox.select().unwrap();
    assert_eq!(snapshot.messages[1].uid, Uid(2));
    assert_eq!(snapshot.messages[1].flags, Flags::NONE.with(Flag::Flagged));
}

#[test]
fn deliveries_from_many_threads_are_all_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = maildir(dir.path());
    std::thread::scope(|scope| {
        for thread in 0..8 {
            let store = store.clone();
            scope.spawn(move || {
                for n in 0..50 {
                    deliver(&store, &["bob@x.test"], &format!("{thread}-{n}\r\n"));
                }
            });
        }
    });
    let inbox = store
        .mail()
        .mailbox("bob@x.test", MailboxName::Inbox)
        .unwrap();
    let snapshot = inbox.select().unwrap();
    assert_eq!(snapshot.messages.len(), 400);
    let mut bodies: Vec<Vec<u8>> = snapshot
        .messages
        .iter()
        .map(|m| inbox.read(m.uid).unwrap().to_vec())
        .collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies.len(), 400);
    assert_eq!(store.len(), 400);
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}
