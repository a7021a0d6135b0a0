//! What a mail folder is made of, whichever store keeps it: UIDs, flags, INTERNALDATEs, the
//! snapshot a server selects, the folders' names, the clock dates come from, and what can go
//! wrong. Both stores (`mailstore`'s Maildir, `store`'s delivery log) build on these.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The file in each Maildir folder that keeps its UIDVALIDITY and its messages' UIDs, in the
/// form of Dovecot's `dovecot-uidlist` (version 3): a header `3 V<uidvalidity> N<uidnext>`,
/// then a line `<uid> :<unique name>` per message.
pub const UIDLIST: &str = "kmlab-uidlist";

/// The time since the Unix epoch, for INTERNALDATEs and Maildir names. kmlab reads no wall
/// clock for a result: the runner injects its virtual clock, `kmlab sink` the wall clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The time now, as time since 1970-01-01T00:00:00Z.
    fn now(&self) -> Duration;
}

/// A clock that always says the same time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FixedClock(pub Duration);

impl Clock for FixedClock {
    fn now(&self) -> Duration {
        self.0
    }
}

/// When a message arrived (IMAP's INTERNALDATE), in whole seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct InternalDate(pub i64);

impl InternalDate {
    /// The date of a clock reading.
    pub fn of(since_epoch: Duration) -> Self {
        Self(i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A message's identifier within its folder: assigned in arrival order, never reused while
/// the folder's UIDVALIDITY stays the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Uid(pub u32);

impl fmt::Display for Uid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One of the IMAP system flags a store keeps (`\Recent` is a session's business, not the
/// store's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// `\Seen`; Maildir `S`.
    Seen,
    /// `\Answered`; Maildir `R` (replied).
    Answered,
    /// `\Flagged`; Maildir `F`.
    Flagged,
    /// `\Deleted`; Maildir `T` (trashed).
    Deleted,
    /// `\Draft`; Maildir `D`.
    Draft,
}

impl Flag {
    /// Every flag, in the order of their Maildir letters (which is how a Maildir name lists
    /// them).
    pub const ALL: [Flag; 5] = [
        Flag::Draft,
        Flag::Flagged,
        Flag::Answered,
        Flag::Seen,
        Flag::Deleted,
    ];

    /// The flag's letter in a Maildir name's `:2,` info.
    pub fn maildir_letter(self) -> char {
        match self {
            Flag::Draft => 'D',
            Flag::Flagged => 'F',
            Flag::Answered => 'R',
            Flag::Seen => 'S',
            Flag::Deleted => 'T',
        }
    }

    /// The flag as IMAP writes it.
    pub fn imap_name(self) -> &'static str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Flag::Seen => 1,
            Flag::Answered => 2,
            Flag::Flagged => 4,
            Flag::Deleted => 8,
            Flag::Draft => 16,
        }
    }
}

/// A set of flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags(u8);

impl Flags {
    /// No flags.
    pub const NONE: Flags = Flags(0);

    /// Whether `flag` is set.
    pub fn contains(self, flag: Flag) -> bool {
        self.0 & flag.bit() != 0
    }

    /// These flags and `flag`.
    #[must_use]
    pub fn with(self, flag: Flag) -> Self {
        Self(self.0 | flag.bit())
    }

    /// These flags and every one of `other`.
    #[must_use]
    pub fn union(self, other: Flags) -> Self {
        Self(self.0 | other.0)
    }

    /// These flags without any of `other`.
    #[must_use]
    pub fn without(self, other: Flags) -> Self {
        Self(self.0 & !other.0)
    }

    /// The flags set, in Maildir letter order.
    pub fn iter(self) -> impl Iterator<Item = Flag> {
        Flag::ALL
            .into_iter()
            .filter(move |flag| self.contains(*flag))
    }

    /// The Maildir letters of these flags, in the order a Maildir name lists them.
    pub fn maildir_letters(self) -> String {
        self.iter().map(Flag::maildir_letter).collect()
    }

    /// The flags named by a Maildir name's info letters; letters for flags the store does not
    /// keep (`P` passed, lower-case keywords) are ignored.
    pub fn from_maildir_letters(letters: &str) -> Self {
        letters.chars().fold(Flags::NONE, |flags, letter| {
            match Flag::ALL
                .into_iter()
                .find(|flag| flag.maildir_letter() == letter)
            {
                Some(flag) => flags.with(flag),
                None => flags,
            }
        })
    }
}

impl FromIterator<Flag> for Flags {
    fn from_iter<I: IntoIterator<Item = Flag>>(iter: I) -> Self {
        iter.into_iter().fold(Flags::NONE, Flags::with)
    }
}

/// How a flag change applies (IMAP `STORE FLAGS`, `+FLAGS`, `-FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    /// Replace the message's flags.
    Replace(Flags),
    /// Add these flags.
    Add(Flags),
    /// Remove these flags.
    Remove(Flags),
}

impl FlagChange {
    /// The flags after this change to `flags`.
    pub fn apply(self, flags: Flags) -> Flags {
        match self {
            FlagChange::Replace(new) => new,
            FlagChange::Add(added) => flags.union(added),
            FlagChange::Remove(removed) => flags.without(removed),
        }
    }
}

/// What a folder knows about one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageMeta {
    /// Its UID in the folder.
    pub uid: Uid,
    /// Its length in bytes.
    pub size: u64,
    /// When it arrived.
    pub internal_date: InternalDate,
    /// Its flags.
    pub flags: Flags,
}

/// A folder as it stands when selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The folder's UIDVALIDITY: while it stays the same, a UID names the same message.
    pub uidvalidity: u32,
    /// The UID the next message will get.
    pub uidnext: Uid,
    /// Every message, in UID order.
    pub messages: Vec<MessageMeta>,
}

impl Snapshot {
    /// The message with `uid`, if the folder had it.
    pub fn message(&self, uid: Uid) -> Option<&MessageMeta> {
        self.messages
            .binary_search_by_key(&uid, |meta| meta.uid)
            .ok()
            .and_then(|index| self.messages.get(index))
    }
}

/// The folders every user has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MailboxName {
    /// Where the sink delivers.
    Inbox,
    /// Where a user's client keeps copies of what it sent (by APPEND).
    Sent,
}

impl MailboxName {
    /// Every folder, as `list` gives them.
    pub const ALL: [MailboxName; 2] = [MailboxName::Inbox, MailboxName::Sent];

    /// The folder's name as IMAP lists it.
    pub fn as_str(self) -> &'static str {
        match self {
            MailboxName::Inbox => "INBOX",
            MailboxName::Sent => "Sent",
        }
    }

    /// The folder an IMAP name means (INBOX in any case, as RFC 3501 §5.1 asks).
    pub fn parse(name: &str) -> Option<Self> {
        if name.eq_ignore_ascii_case("INBOX") {
            Some(MailboxName::Inbox)
        } else if name == "Sent" {
            Some(MailboxName::Sent)
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

/// Why the store could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What the store was doing.
        action: &'static str,
        /// The file or folder.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The folder has no message with this UID (any more).
    #[error("no message with UID {0}")]
    NoSuchMessage(Uid),
    /// A UID list that cannot be read as one.
    #[error("{path}: line {line} is not a UID list entry")]
    BadUidList {
        /// The file.
        path: String,
        /// Its line number, from 1.
        line: usize,
    },
    /// The folder ran out of UIDs (2³² − 1 messages).
    #[error("no UIDs left in the folder")]
    UidsExhausted,
}

impl StoreError {
    pub(crate) fn io(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.display().to_string();
        move |source| StoreError::Io {
            action,
            path,
            source,
        }
    }
}

/// How a Maildir store writes.
#[derive(Debug, Clone)]
pub struct MaildirOptions {
    /// Whether a delivery is on disk before it is acknowledged: the message file and the
    /// folder entry are synced (`fsync`) before `deliver` returns.
    pub fsync: bool,
    /// Where INTERNALDATEs and unique names take their time from.
    pub clock: Arc<dyn Clock>,
    /// The host part of unique names.
    pub hostname: String,
}

impl Default for MaildirOptions {
    fn default() -> Self {
        Self {
            fsync: false,
            clock: Arc::new(FixedClock::default()),
            hostname: "kmlab".into(),
        }
    }
}
