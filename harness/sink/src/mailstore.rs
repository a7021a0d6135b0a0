//! The mailboxes the sink delivers into, as a mail server serves them: per user an INBOX and
//! a Sent folder, each message with a stable UID, flags, an INTERNALDATE and a size.
//!
//! One type, [`MailStore`], with two backends behind it:
//! - **Maildir** ([`MailStore::maildir`]), for `kmlab sink`: `<root>/<user>/` is the INBOX and
//!   `<root>/<user>/.Sent/` the Sent folder (the Maildir++ layout mutt, Dovecot and `mu`
//!   read). Messages are `<unique>` in `new/` or `<unique>:2,<flags>` in `cur/`, written in
//!   `tmp/` first; UIDs and the UIDVALIDITY persist in a `kmlab-uidlist` file per folder, in
//!   the form of Dovecot's `dovecot-uidlist`. No message bytes stay in memory.
//! - **Log** (the in-memory or spooled store of [`crate::Store`], which the runner embeds):
//!   folders are indexes over the delivery log, the UIDVALIDITY is 1 and INTERNALDATEs come from
//!   the injected [`Clock`], so a run stays deterministic.
//!
//! Everything is synchronous and safe to share between threads: each folder has a lock of its
//! own, and delivery into a Maildir takes no lock at all. An async server calls it through
//! `spawn_blocking` (or directly, for the in-memory backend).

pub(crate) mod maildir;

use std::sync::Arc;

pub use crate::folder::{
    Clock, FixedClock, Flag, FlagChange, Flags, InternalDate, MailboxName, MaildirOptions,
    MessageMeta, Snapshot, StoreError, UIDLIST, Uid,
};
use crate::log::{LogMailbox, LogStore};
use maildir::MaildirBox;

/// Every user's folders; cheap to clone (the clones share the store).
#[derive(Debug, Clone)]
pub struct MailStore {
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Maildir(Arc<maildir::MaildirStore>),
    Log(Arc<LogStore>),
}

impl MailStore {
    /// A Maildir store under `root`, continuing whatever is there; folders (and `root`) are
    /// made when first needed.
    pub fn maildir(root: impl Into<std::path::PathBuf>, options: MaildirOptions) -> Self {
        Self {
            backend: Backend::Maildir(Arc::new(maildir::MaildirStore::open(root.into(), options))),
        }
    }

    pub(crate) fn log(store: Arc<LogStore>) -> Self {
        Self {
            backend: Backend::Log(store),
        }
    }

    pub(crate) fn as_maildir(&self) -> Option<&Arc<maildir::MaildirStore>> {
        match &self.backend {
            Backend::Maildir(store) => Some(store),
            Backend::Log(_) => None,
        }
    }

    pub(crate) fn as_log(&self) -> Option<&Arc<LogStore>> {
        match &self.backend {
            Backend::Log(store) => Some(store),
            Backend::Maildir(_) => None,
        }
    }

    /// Every user with folders: each address that was delivered to or appended for, in
    /// lower case.
    pub fn users(&self) -> Result<Vec<String>, StoreError> {
        match &self.backend {
            Backend::Maildir(store) => store.users(),
            Backend::Log(store) => Ok(store.users()),
        }
    }

    /// A user's folders (the same for everyone: INBOX and Sent).
    pub fn mailboxes(&self, _user: &str) -> Vec<MailboxName> {
        MailboxName::ALL.to_vec()
    }

    /// One of `user`'s folders (created if it does not exist yet); the user's address is
    /// compared without regard to case.
    pub fn mailbox(&self, user: &str, name: MailboxName) -> Result<Mailbox, StoreError> {
        Ok(Mailbox {
            inner: match &self.backend {
                Backend::Maildir(store) => MailboxInner::Maildir(store.mailbox(user, name)?),
                Backend::Log(store) => MailboxInner::Log(store.mailbox(user, name)),
            },
            name,
        })
    }
}

/// One folder of one user; cheap to clone. Every call sees the folder as it is then.
#[derive(Debug, Clone)]
pub struct Mailbox {
    inner: MailboxInner,
    name: MailboxName,
}

#[derive(Debug, Clone)]
enum MailboxInner {
    Maildir(Arc<MaildirBox>),
    Log(LogMailbox),
}

impl Mailbox {
    /// Which folder this is.
    pub fn name(&self) -> MailboxName {
        self.name
    }

    /// The folder now: its UIDVALIDITY, next UID and every message (new deliveries get their
    /// UIDs here).
    pub fn select(&self) -> Result<Snapshot, StoreError> {
        match &self.inner {
            MailboxInner::Maildir(folder) => folder.select(),
            MailboxInner::Log(folder) => Ok(folder.select()),
        }
    }

    /// The bytes of the message with `uid`, exactly as received or appended.
    pub fn read(&self, uid: Uid) -> Result<Arc<[u8]>, StoreError> {
        match &self.inner {
            MailboxInner::Maildir(folder) => folder.read(uid),
            MailboxInner::Log(folder) => folder.read(uid),
        }
    }

    /// Changes the flags of the message with `uid`; returns its flags after the change.
    pub fn set_flags(&self, uid: Uid, change: FlagChange) -> Result<Flags, StoreError> {
        match &self.inner {
            MailboxInner::Maildir(folder) => folder.set_flags(uid, change),
            MailboxInner::Log(folder) => folder.set_flags(uid, change),
        }
    }

    /// Removes every message flagged `\Deleted`; returns their UIDs, in order.
    pub fn expunge(&self) -> Result<Vec<Uid>, StoreError> {
        match &self.inner {
            MailboxInner::Maildir(folder) => folder.expunge(),
            MailboxInner::Log(folder) => Ok(folder.expunge()),
        }
    }

    /// Adds a message with these flags and this INTERNALDATE (the store's clock if `None`);
    /// returns its UID.
    pub fn append(
        &self,
        data: &[u8],
        flags: Flags,
        internal_date: Option<InternalDate>,
    ) -> Result<Uid, StoreError> {
        match &self.inner {
            MailboxInner::Maildir(folder) => folder.append(data, flags, internal_date),
            MailboxInner::Log(folder) => folder.append(data, flags, internal_date),
        }
    }
}

/// A folder name that cannot leave the store's root: letters, digits and `@._+-` pass (a
/// leading `.` does not), anything else is hex-escaped as `%xx`.
pub(crate) fn safe_folder_name(user: &str) -> String {
    let lower = user.to_ascii_lowercase();
    let mut out = String::with_capacity(lower.len());
    for byte in lower.bytes() {
        if byte.is_ascii_alphanumeric()
            || b"@_+-".contains(&byte)
            || (byte == b'.' && !out.is_empty())
        {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02x}"));
        }
    }
    out
}

/// The user a folder name of [`safe_folder_name`] stands for; `None` for names it never
/// makes.
pub(crate) fn user_of_folder_name(name: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(name.len());
    let mut rest = name.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            bytes.push(byte);
            rest = tail;
        }
    }
    let user = String::from_utf8(bytes).ok()?;
    (safe_folder_name(&user) == name).then_some(user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_cannot_escape_and_read_back() {
        assert_eq!(safe_folder_name("Bob@x.test"), "bob@x.test");
        assert_eq!(
            safe_folder_name("../../etc/passwd"),
            "%2e.%2f..%2fetc%2fpasswd"
        );
        for user in ["bob@x.test", "../../etc/passwd", "a b%c@x"] {
            assert_eq!(
                user_of_folder_name(&safe_folder_name(user)).as_deref(),
                Some(user)
            );
        }
        assert_eq!(user_of_folder_name(".Sent"), None);
        assert_eq!(user_of_folder_name("%2"), None);
    }

    #[test]
    fn flags_spell_as_maildir_letters_in_order() {
        let flags: Flags = [Flag::Seen, Flag::Draft, Flag::Deleted]
            .into_iter()
            .collect();
        assert_eq!(flags.maildir_letters(), "DST");
        assert_eq!(Flags::from_maildir_letters("DSTPa"), flags);
        assert_eq!(
            FlagChange::Remove(Flags::NONE.with(Flag::Seen)).apply(flags),
            Flags::NONE.with(Flag::Draft).with(Flag::Deleted)
        );
        assert_eq!(MailboxName::parse("inbox"), Some(MailboxName::Inbox));
    }
}
