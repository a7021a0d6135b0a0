//! The mailboxes the servers serve: the `MailStore` interface, its in-memory implementation,
//! and the events a harness observes through an `Observer`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use model::Timestamp;

/// A mailbox a live user has. Every user has exactly these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MailboxName {
    /// Mail delivered to the user.
    Inbox,
    /// Copies of mail the user sent.
    Sent,
}

impl MailboxName {
    /// Both mailboxes, in listing order.
    pub const ALL: [Self; 2] = [Self::Inbox, Self::Sent];

    /// The name IMAP shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inbox => "INBOX",
            Self::Sent => "Sent",
        }
    }

    /// The mailbox an IMAP name means: `INBOX` in any case, `Sent` exactly.
    pub fn from_imap(name: &[u8]) -> Option<Self> {
        if name.eq_ignore_ascii_case(b"INBOX") {
            Some(Self::Inbox)
        } else if name == b"Sent" {
            Some(Self::Sent)
        } else {
            None
        }
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message's unique identifier within its mailbox (RFC 3501 §2.3.1.1); never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(u32);

impl Uid {
    /// The first identifier a mailbox hands out.
    pub const FIRST: Self = Self(1);

    /// A UID from its number; `None` for zero.
    pub fn new(value: u32) -> Option<Self> {
        (value != 0).then_some(Self(value))
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }

    /// The identifier after this one.
    pub fn next(self) -> Self {
        Self(self.0.saturating_add(1))
    }
}

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The system flags of RFC 3501 §2.3.2 a message can carry (\Recent is never set: every
/// session sees every message as old).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flags {
    /// `\Seen`
    pub seen: bool,
    /// `\Answered`
    pub answered: bool,
    /// `\Flagged`
    pub flagged: bool,
    /// `\Deleted`
    pub deleted: bool,
    /// `\Draft`
    pub draft: bool,
}

impl Flags {
    /// No flag set.
    pub const NONE: Self = Self {
        seen: false,
        answered: false,
        flagged: false,
        deleted: false,
        draft: false,
    };

    /// Only `\Seen`.
    pub const SEEN: Self = Self {
        seen: true,
        ..Self::NONE
    };

    /// Only `\Deleted`.
    pub const DELETED: Self = Self {
        deleted: true,
        ..Self::NONE
    };

    /// The flags set in either.
    pub fn union(self, other: Self) -> Self {
        Self {
            seen: self.seen || other.seen,
            answered: self.answered || other.answered,
            flagged: self.flagged || other.flagged,
            deleted: self.deleted || other.deleted,
            draft: self.draft || other.draft,
        }
    }

    /// The flags of `self` not set in `other`.
    pub fn without(self, other: Self) -> Self {
        Self {
            seen: self.seen && !other.seen,
            answered: self.answered && !other.answered,
            flagged: self.flagged && !other.flagged,
            deleted: self.deleted && !other.deleted,
            draft: self.draft && !other.draft,
        }
    }

    /// The IMAP names of the flags set, in a fixed order.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for (set, name) in [
            (self.seen, "\\Seen"),
            (self.answered, "\\Answered"),
            (self.flagged, "\\Flagged"),
            (self.deleted, "\\Deleted"),
            (self.draft, "\\Draft"),
        ] {
            if set {
                names.push(name);
            }
        }
        names
    }
}

/// How a STORE changes a message's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    /// `FLAGS`: exactly these.
    Replace(Flags),
    /// `+FLAGS`: these as well.
    Add(Flags),
    /// `-FLAGS`: not these.
    Remove(Flags),
}

impl FlagChange {
    /// The flags after the change.
    pub fn apply(self, flags: Flags) -> Flags {
        match self {
            Self::Replace(new) => new,
            Self::Add(more) => flags.union(more),
            Self::Remove(fewer) => flags.without(fewer),
        }
    }
}

/// What a mailbox listing tells of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageInfo {
    /// Its identifier, stable for the mailbox's UIDVALIDITY.
    pub uid: Uid,
    /// Its flags now.
    pub flags: Flags,
    /// When it arrived, on the scenario's clock.
    pub internal_date: Timestamp,
    /// Its size in octets, as stored.
    pub size: u32,
}

/// A mailbox at one moment: messages in ascending UID order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxSnapshot {
    /// Changes only if UIDs are reused, which this store never does.
    pub uid_validity: u32,
    /// The UID the next message will get.
    pub uid_next: Uid,
    /// The messages, oldest (lowest UID) first.
    pub messages: Vec<MessageInfo>,
}

impl MailboxSnapshot {
    /// The message with `uid`.
    pub fn message(&self, uid: Uid) -> Option<&MessageInfo> {
        self.messages
            .binary_search_by_key(&uid, |info| info.uid)
            .ok()
            .and_then(|index| self.messages.get(index))
    }
}

/// Why the store could not do what a server asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No such user.
    #[error("no user {0}")]
    NoUser(String),
    /// No message with that UID (it was expunged).
    #[error("no message {uid} in {mailbox}")]
    NoMessage {
        /// The mailbox.
        mailbox: MailboxName,
        /// The identifier asked for.
        uid: Uid,
    },
    /// The store does not take this change (appending to INBOX, say).
    #[error("refused: {0}")]
    Refused(String),
    /// The store itself failed (a spool file could not be read).
    #[error("store failure: {0}")]
    Failed(String),
}

/// The mailboxes of the live users, as the IMAP and POP3 servers see them.
///
/// Synchronous because the stores behind it are; servers call it from their tasks and every
/// call is short. Every operation names the user it acts for, once the server has checked the
/// login with [`MailStore::authenticate`].
pub trait MailStore: Send + Sync + fmt::Debug {
    /// Whether `password` is `user`'s.
    fn authenticate(&self, user: &str, password: &str) -> bool;

    /// The mailboxes `user` has.
    fn mailboxes(&self, user: &str) -> Result<Vec<MailboxName>, StoreError>;

    /// `mailbox` as it is now.
    fn snapshot(&self, user: &str, mailbox: MailboxName) -> Result<MailboxSnapshot, StoreError>;

    /// The bytes of one message, exactly as stored.
    fn read(&self, user: &str, mailbox: MailboxName, uid: Uid) -> Result<Arc<[u8]>, StoreError>;

    /// Changes one message's flags and returns them as they now are.
    fn store_flags(
        &self,
        user: &str,
        mailbox: MailboxName,
        uid: Uid,
        change: FlagChange,
    ) -> Result<Flags, StoreError>;

    /// Removes the messages flagged `\Deleted` and returns their UIDs, ascending.
    fn expunge(&self, user: &str, mailbox: MailboxName) -> Result<Vec<Uid>, StoreError>;

    /// Adds a message (a client saving what it sent, or copying) and returns its UID.
    /// `internal_date` is the date the client gave; without one the store dates it.
    fn append(
        &self,
        user: &str,
        mailbox: MailboxName,
        bytes: Vec<u8>,
        flags: Flags,
        internal_date: Option<Timestamp>,
    ) -> Result<Uid, StoreError>;
}

/// The protocol a live user fetched or logged in with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// IMAP4rev1.
    Imap,
    /// POP3.
    Pop3,
    /// LDAPv3.
    Ldap,
}

/// Something a live user did that a scenario step may wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A login succeeded.
    LoggedIn {
        /// The user.
        user: String,
        /// Over which protocol.
        protocol: Protocol,
    },
    /// A client read a whole message (IMAP `BODY[]`, `BODY.PEEK[]`, `RFC822`, or the last
    /// piece of a partial fetch; POP3 `RETR`) or its start (POP3 `TOP`).
    Fetched {
        /// The user.
        user: String,
        /// The mailbox.
        mailbox: MailboxName,
        /// The message.
        uid: Uid,
        /// Over which protocol.
        protocol: Protocol,
    },
    /// A client added a message to a mailbox (IMAP `APPEND` or `COPY`).
    Appended {
        /// The user.
        user: String,
        /// The mailbox.
        mailbox: MailboxName,
        /// The new message.
        uid: Uid,
    },
}

/// Told of every [`Event`], from the servers' tasks; it must not block for long.
pub trait Observer: Send + Sync + fmt::Debug {
    /// One thing happened.
    fn observe(&self, event: Event);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn observe(&self, _event: Event) {}
}

/// An observer that keeps every event, in order, and lets a thread wait for one.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Mutex<Vec<Event>>,
    arrived: Condvar,
}

impl EventLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// Waits until an event matching `wanted` has been observed, at most `timeout`; returns it,
    /// or `None` when the time ran out.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut wanted: impl FnMut(&Event) -> bool,
    ) -> Option<Event> {
        let guard = self.lock();
        let (guard, _) = self
            .arrived
            .wait_timeout_while(guard, timeout, |events| !events.iter().any(&mut wanted))
            .unwrap_or_else(PoisonError::into_inner);
        guard.iter().find(|event| wanted(event)).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Event>> {
        // A panicking observer elsewhere leaves the list whole: pushing is one step.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Observer for EventLog {
    fn observe(&self, event: Event) {
        self.lock().push(event);
        self.arrived.notify_all();
    }
}

#[derive(Debug)]
struct StoredMessage {
    info: MessageInfo,
    bytes: Arc<[u8]>,
}

#[derive(Debug)]
struct MemoryMailbox {
    uid_validity: u32,
    uid_next: Uid,
    messages: BTreeMap<Uid, StoredMessage>,
}

impl MemoryMailbox {
    fn new(uid_validity: u32) -> Self {
        Self {
            uid_validity,
            uid_next: Uid::FIRST,
            messages: BTreeMap::new(),
        }
    }
}

#[derive(Debug)]
struct MemoryUser {
    password: String,
    mailboxes: BTreeMap<MailboxName, MemoryMailbox>,
}

#[derive(Debug)]
struct MemoryState {
    users: BTreeMap<String, MemoryUser>,
    now: Timestamp,
}

/// A [`MailStore`] in memory, for tests and for harnesses that keep mail nowhere else.
/// Messages appended without a date get the store's current time, which only
/// [`MemoryStore::set_time`] moves.
#[derive(Debug)]
pub struct MemoryStore {
    state: Mutex<MemoryState>,
}

impl MemoryStore {
    /// An empty store whose clock stands at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self {
            state: Mutex::new(MemoryState {
                users: BTreeMap::new(),
                now,
            }),
        }
    }

    /// Adds a user with empty mailboxes (or changes an existing user's password).
    pub fn add_user(&self, user: &str, password: &str) {
        let mut state = self.lock();
        let entry = state
            .users
            .entry(user.to_owned())
            .or_insert_with(|| MemoryUser {
                password: String::new(),
                mailboxes: MailboxName::ALL
                    .into_iter()
                    .map(|name| (name, MemoryMailbox::new(1)))
                    .collect(),
            });
        password.clone_into(&mut entry.password);
    }

    /// Delivers a message into a mailbox, dated `internal_date`, and returns its UID.
    pub fn deliver(
        &self,
        user: &str,
        mailbox: MailboxName,
        bytes: impl Into<Arc<[u8]>>,
        internal_date: Timestamp,
    ) -> Result<Uid, StoreError> {
        let mut state = self.lock();
        let mailbox = Self::mailbox_mut(&mut state, user, mailbox)?;
        let bytes: Arc<[u8]> = bytes.into();
        let uid = mailbox.uid_next;
        mailbox.uid_next = uid.next();
        mailbox.messages.insert(
            uid,
            StoredMessage {
                info: MessageInfo {
                    uid,
                    flags: Flags::NONE,
                    internal_date,
                    size: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
                },
                bytes,
            },
        );
        Ok(uid)
    }

    /// Moves the store's clock, which dates messages appended without a date.
    pub fn set_time(&self, now: Timestamp) {
        self.lock().now = now;
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // Every change below is made in one step under the lock, so a panic elsewhere cannot
        // leave half a change behind.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mailbox_mut<'s>(
        state: &'s mut MemoryState,
        user: &str,
        mailbox: MailboxName,
    ) -> Result<&'s mut MemoryMailbox, StoreError> {
        state
            .users
            .get_mut(user)
            .and_then(|u| u.mailboxes.get_mut(&mailbox))
            .ok_or_else(|| StoreError::NoUser(user.to_owned()))
    }
}

impl MailStore for MemoryStore {
    fn authenticate(&self, user: &str, password: &str) -> bool {
        self.lock()
            .users
            .get(user)
            .is_some_and(|u| u.password == password)
    }

    fn mailboxes(&self, user: &str) -> Result<Vec<MailboxName>, StoreError> {
        self.lock()
            .users
            .get(user)
            .map(|u| u.mailboxes.keys().copied().collect())
            .ok_or_else(|| StoreError::NoUser(user.to_owned()))
    }

    fn snapshot(&self, user: &str, mailbox: MailboxName) -> Result<MailboxSnapshot, StoreError> {
        let mut state = self.lock();
        let mailbox = Self::mailbox_mut(&mut state, user, mailbox)?;
        Ok(MailboxSnapshot {
            uid_validity: mailbox.uid_validity,
            uid_next: mailbox.uid_next,
            messages: mailbox.messages.values().map(|m| m.info).collect(),
        })
    }

    fn read(&self, user: &str, mailbox: MailboxName, uid: Uid) -> Result<Arc<[u8]>, StoreError> {
        let mut state = self.lock();
        let found = Self::mailbox_mut(&mut state, user, mailbox)?;
        found
            .messages
            .get(&uid)
            .map(|m| Arc::clone(&m.bytes))
            .ok_or(StoreError::NoMessage { mailbox, uid })
    }

    fn store_flags(
        &self,
        user: &str,
        mailbox: MailboxName,
        uid: Uid,
        change: FlagChange,
    ) -> Result<Flags, StoreError> {
        let mut state = self.lock();
        let found = Self::mailbox_mut(&mut state, user, mailbox)?;
        let message = found
            .messages
            .get_mut(&uid)
            .ok_or(StoreError::NoMessage { mailbox, uid })?;
        message.info.flags = change.apply(message.info.flags);
        Ok(message.info.flags)
    }

    fn expunge(&self, user: &str, mailbox: MailboxName) -> Result<Vec<Uid>, StoreError> {
        let mut state = self.lock();
        let found = Self::mailbox_mut(&mut state, user, mailbox)?;
        let gone: Vec<Uid> = found
            .messages
            .values()
            .filter(|m| m.info.flags.deleted)
            .map(|m| m.info.uid)
            .collect();
        for uid in &gone {
            found.messages.remove(uid);
        }
        Ok(gone)
    }

    fn append(
        &self,
        user: &str,
        mailbox: MailboxName,
        bytes: Vec<u8>,
        flags: Flags,
        internal_date: Option<Timestamp>,
    ) -> Result<Uid, StoreError> {
        let date = internal_date.unwrap_or(self.lock().now);
        let uid = self.deliver(user, mailbox, bytes, date)?;
        self.store_flags(user, mailbox, uid, FlagChange::Replace(flags))?;
        Ok(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expunge_removes_only_deleted_messages_and_uids_are_not_reused() {
        let store = MemoryStore::new(Timestamp::DEFAULT_START);
        store.add_user("alice", "pw");
        let first = store
            .deliver(
                "alice",
                MailboxName::Inbox,
                &b"a\r\n"[..],
                Timestamp::DEFAULT_START,
            )
            .unwrap();
        let second = store
            .deliver(
                "alice",
                MailboxName::Inbox,
                &b"b\r\n"[..],
                Timestamp::DEFAULT_START,
            )
            .unwrap();
        store
            .store_flags(
                "alice",
                MailboxName::Inbox,
                first,
                FlagChange::Add(Flags::DELETED),
            )
            .unwrap();
        assert_eq!(
            store.expunge("alice", MailboxName::Inbox).unwrap(),
            vec![first]
        );
        let snapshot = store.snapshot("alice", MailboxName::Inbox).unwrap();
        assert_eq!(snapshot.messages.len(), 1);
        assert_eq!(snapshot.messages[0].uid, second);
        let third = store
            .append(
                "alice",
                MailboxName::Inbox,
                b"c\r\n".to_vec(),
                Flags::SEEN,
                None,
            )
            .unwrap();
        assert_eq!(third.get(), 3);
    }

    #[test]
    fn event_log_finds_an_event_already_seen() {
        let log = EventLog::new();
        log.observe(Event::LoggedIn {
            user: "alice".into(),
            protocol: Protocol::Pop3,
        });
        assert!(
            log.wait_for(Duration::from_millis(1), |e| matches!(
                e,
                Event::LoggedIn { .. }
            ))
            .is_some()
        );
        assert!(
            log.wait_for(Duration::from_millis(1), |e| matches!(
                e,
                Event::Fetched { .. }
            ))
            .is_none()
        );
    }
}
