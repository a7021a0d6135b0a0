//! The mailboxes the servers serve: the sink's [`sink::MailStore`] (the same folders the sink
//! delivers into), the live users' [`Accounts`] (login → password and the address the sink
//! keys their folders by), and the events a harness observes through an [`Observer`].
//!
//! The store's vocabulary (folder names, UIDs, flags, snapshots) is the sink's and is
//! re-exported here; `live` adds only who may log in and who hears about it.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

pub use sink::mailstore::{
    Flag, FlagChange, Flags, InternalDate, MailStore, Mailbox, MailboxName, MessageMeta, Snapshot,
    Uid,
};

/// Why a server's request on the mailboxes failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such login.
    #[error("no user {0}")]
    NoUser(String),
    /// The sink's store refused or failed (a message expunged meanwhile, a spool not read).
    #[error(transparent)]
    Store(#[from] sink::StoreError),
}

/// One live user's login.
#[derive(Clone, PartialEq, Eq)]
struct Account {
    password: String,
    /// The address the sink delivers the user's mail to: the key of its folders.
    address: String,
}

/// The live users who may log in: login → password, and the mailbox address their folders
/// are kept under in the sink's store (the sink keys folders by recipient address, in lower
/// case). Cheap to clone; clones share the accounts, so the harness can add a user while the
/// servers run.
#[derive(Clone, Default)]
pub struct Accounts {
    accounts: Arc<RwLock<BTreeMap<String, Account>>>,
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logins and addresses, never passwords.
        let accounts = self.read();
        f.debug_map()
            .entries(
                accounts
                    .iter()
                    .map(|(login, account)| (login, &account.address)),
            )
            .finish()
    }
}

impl Accounts {
    /// No accounts.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `login` with `password`, whose folders are those of `address` (or changes an
    /// existing login's).
    pub fn add(&self, login: &str, password: &str, address: &str) {
        self.accounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                login.to_owned(),
                Account {
                    password: password.to_owned(),
                    address: address.to_ascii_lowercase(),
                },
            );
    }

    /// Whether `password` is `login`'s.
    pub fn authenticate(&self, login: &str, password: &str) -> bool {
        self.read()
            .get(login)
            .is_some_and(|account| account.password == password)
    }

    /// The address `login`'s folders are kept under.
    pub fn address(&self, login: &str) -> Option<String> {
        self.read()
            .get(login)
            .map(|account| account.address.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Account>> {
        // Every change is one insert, so a panic elsewhere cannot leave half of one behind.
        self.accounts.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the IMAP, POP3 and LDAP servers serve: the sink's folders, the accounts that open
/// them, and who hears what clients do. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Mailboxes {
    /// The sink's store (`sink::Store::mail()` of the embedded sink).
    pub store: MailStore,
    /// Who may log in, and whose folders they get.
    pub accounts: Accounts,
    /// Told of logins, fetches and appends.
    pub observer: Arc<dyn Observer>,
}

impl Mailboxes {
    /// Whether `password` is `login`'s.
    pub fn authenticate(&self, login: &str, password: &str) -> bool {
        self.accounts.authenticate(login, password)
    }

    /// One of `login`'s folders.
    pub fn mailbox(&self, login: &str, name: MailboxName) -> Result<Mailbox, StoreError> {
        let address = self
            .accounts
            .address(login)
            .ok_or_else(|| StoreError::NoUser(login.to_owned()))?;
        Ok(self.store.mailbox(&address, name)?)
    }

    /// The folders `login` has.
    pub fn folders(&self, login: &str) -> Result<Vec<MailboxName>, StoreError> {
        let address = self
            .accounts
            .address(login)
            .ok_or_else(|| StoreError::NoUser(login.to_owned()))?;
        Ok(self.store.mailboxes(&address))
    }

    /// A folder as it is now.
    pub fn snapshot(&self, login: &str, name: MailboxName) -> Result<Snapshot, StoreError> {
        Ok(self.mailbox(login, name)?.select()?)
    }

    /// The bytes of one message, exactly as stored.
    pub fn read(&self, login: &str, name: MailboxName, uid: Uid) -> Result<Arc<[u8]>, StoreError> {
        Ok(self.mailbox(login, name)?.read(uid)?)
    }

    /// Changes one message's flags and returns them as they now are.
    pub fn store_flags(
        &self,
        login: &str,
        name: MailboxName,
        uid: Uid,
        change: FlagChange,
    ) -> Result<Flags, StoreError> {
        Ok(self.mailbox(login, name)?.set_flags(uid, change)?)
    }

    /// Removes the messages flagged `\Deleted` and returns their UIDs, ascending.
    pub fn expunge(&self, login: &str, name: MailboxName) -> Result<Vec<Uid>, StoreError> {
        Ok(self.mailbox(login, name)?.expunge()?)
    }

    /// Adds a message (a client saving what it sent, or copying) and returns its UID; without
    /// a date the store's clock dates it.
    pub fn append(
        &self,
        login: &str,
        name: MailboxName,
        bytes: &[u8],
        flags: Flags,
        internal_date: Option<InternalDate>,
    ) -> Result<Uid, StoreError> {
        Ok(self
            .mailbox(login, name)?
            .append(bytes, flags, internal_date)?)
    }
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

/// What the sessions' tests serve: the sink's log store in memory, dated at the scenario's
/// default start, and `alice` (password `secret`, address `alice@example.test`).
#[cfg(test)]
#[derive(Debug, Clone)]
pub(crate) struct TestMail {
    pub(crate) sink: sink::Store,
    pub(crate) mailboxes: Mailboxes,
}

#[cfg(test)]
impl TestMail {
    /// Delivers `message` to alice through the sink's store, as SMTP would.
    pub(crate) fn deliver(&self, message: &[u8]) {
        self.sink
            .deliver(sink::Envelope {
                from: "bob@example.test".into(),
                recipients: vec!["alice@example.test".into()],
                data: Arc::from(message),
                authenticated: None,
            })
            .unwrap_or_else(|err| panic!("an in-memory delivery: {err}"));
    }
}

#[cfg(test)]
impl std::ops::Deref for TestMail {
    type Target = Mailboxes;
    fn deref(&self) -> &Mailboxes {
        &self.mailboxes
    }
}

/// A [`TestMail`] with `messages` delivered to alice.
#[cfg(test)]
pub(crate) fn test_mailboxes(messages: &[&[u8]], observer: Arc<dyn Observer>) -> TestMail {
    let sink = sink::Store::in_memory();
    let start = u64::try_from(model::Timestamp::DEFAULT_START.unix()).unwrap_or_default();
    sink.set_clock(Arc::new(sink::FixedClock(Duration::from_secs(start))));
    let accounts = Accounts::new();
    accounts.add("alice", "secret", "alice@example.test");
    let mail = TestMail {
        mailboxes: Mailboxes {
            store: sink.mail().clone(),
            accounts,
            observer,
        },
        sink,
    };
    for message in messages {
        mail.deliver(message);
    }
    mail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_open_the_folders_of_their_address() {
        let store = sink::Store::in_memory();
        store
            .deliver(sink::Envelope {
                from: "bob@x.test".into(),
                recipients: vec!["Alice@X.test".into()],
                data: Arc::from(&b"a\r\n"[..]),
                authenticated: None,
            })
            .unwrap();
        let accounts = Accounts::new();
        accounts.add("alice", "pw", "alice@x.test");
        let mailboxes = Mailboxes {
            store: store.mail().clone(),
            accounts,
            observer: Arc::new(Unobserved),
        };
        assert!(mailboxes.authenticate("alice", "pw"));
        assert!(!mailboxes.authenticate("alice", "wrong"));
        let snapshot = mailboxes.snapshot("alice", MailboxName::Inbox).unwrap();
        assert_eq!(snapshot.messages.len(), 1);
        assert_eq!(
            &*mailboxes
                .read("alice", MailboxName::Inbox, snapshot.messages[0].uid)
                .unwrap(),
            b"a\r\n"
        );
        assert!(matches!(
            mailboxes.snapshot("mallory", MailboxName::Inbox),
            Err(StoreError::NoUser(_))
        ));
        assert!(!format!("{:?}", mailboxes.accounts).contains("pw"));
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
