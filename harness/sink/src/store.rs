//! What the sink keeps: either a log of every delivered message (bytes in memory or in a
//! spool file), indexed by recipient, which the runner embeds; or Maildir folders on disk,
//! for `kmlab sink`. Both are served as folders through [`MailStore`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};

use crate::folder::{Clock, MailboxName};
use crate::folder::{MaildirOptions, StoreError};
use crate::log::{Bytes, LogStore, Spool};
pub use crate::log::{Envelope, MessageId, StoredMessage};
use crate::mailstore::MailStore;

/// The sink's message store, shared by every connection; cheap to clone.
///
/// A log store (in memory or spooled) answers every query below from its log. A Maildir store
/// keeps no log and no message bytes: `len` counts the messages this process delivered,
/// `mailbox` and `all` read the INBOX folders back from disk (without the envelope's sender),
/// `since` skips into `all`, and `message` finds nothing.
#[derive(Debug, Clone)]
pub struct Store {
    mail: MailStore,
    /// Messages a Maildir store delivered in this process.
    delivered: Arc<AtomicU64>,
}

impl Default for Store {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl Store {
    /// An in-memory store.
    pub fn in_memory() -> Self {
        Self::log(LogStore::new(None))
    }

    /// A store of Maildir folders under `dir` with the default [`MaildirOptions`] (no
    /// `fsync`, a fixed clock); see [`MailStore`] for the layout.
    pub fn with_maildir(dir: impl Into<PathBuf>) -> Self {
        Self::maildir(dir, MaildirOptions::default())
    }

    /// A store of Maildir folders under `dir`, continuing whatever is there.
    pub fn maildir(dir: impl Into<PathBuf>, options: MaildirOptions) -> Self {
        Self {
            mail: MailStore::maildir(dir, options),
            delivered: Arc::default(),
        }
    }

    /// A store that keeps message bytes in the file `path` (created, or emptied) rather than
    /// in memory; only addresses and positions stay in memory.
    pub fn spooled(path: &Path) -> Result<Self, std::io::Error> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Self::log(LogStore::new(Some(Arc::new(Spool {
            file,
            end: AtomicU64::new(0),
        })))))
    }

    fn log(store: LogStore) -> Self {
        Self {
            mail: MailStore::log(Arc::new(store)),
            delivered: Arc::default(),
        }
    }

    /// Sets the clock a log store dates deliveries and appends by (the Unix epoch until
    /// then); a Maildir store takes its clock from its [`MaildirOptions`].
    pub fn set_clock(&self, clock: Arc<dyn Clock>) {
        if let Some(log) = self.mail.as_log() {
            *log.clock.lock().unwrap_or_else(PoisonError::into_inner) = clock;
        }
    }

    /// The store's folders, for serving them (IMAP, POP3).
    pub fn mail(&self) -> &MailStore {
        &self.mail
    }

    /// Whether a delivery does blocking file IO worth moving off an async worker (a Maildir
    /// store that syncs every message).
    pub fn blocks(&self) -> bool {
        self.mail.as_maildir().is_some_and(|store| store.fsyncs())
    }

    /// Stores a message; only a complete transaction ever reaches this. When it returns
    /// `Ok`, the message is stored for good (on disk, for a Maildir store with `fsync`).
    pub fn deliver(&self, envelope: Envelope) -> Result<MessageId, StoreError> {
        if let Some(log) = self.mail.as_log() {
            return log.deliver(envelope);
        }
        if let Some(maildir) = self.mail.as_maildir() {
            maildir.deliver(&envelope.recipients, &envelope.data)?;
        }
        Ok(MessageId(
            self.delivered.fetch_add(1, Ordering::Relaxed) + 1,
        ))
    }

    /// Every message delivered to `recipient` (compared without regard to case), in order.
    pub fn mailbox(&self, recipient: &str) -> Vec<StoredMessage> {
        match self.mail.as_log() {
            Some(log) => log.delivered_to(recipient),
            None => self.read_back(recipient),
        }
    }

    /// A Maildir INBOX read back as stored messages, numbered by UID; what cannot be read is
    /// left out.
    fn read_back(&self, recipient: &str) -> Vec<StoredMessage> {
        let Ok(folder) = self.mail.mailbox(recipient, MailboxName::Inbox) else {
            return Vec::new();
        };
        let Ok(snapshot) = folder.select() else {
            return Vec::new();
        };
        snapshot
            .messages
            .iter()
            .filter_map(|meta| {
                let data = folder.read(meta.uid).ok()?;
                Some(StoredMessage {
                    id: MessageId(u64::from(meta.uid.0)),
                    from: String::new(),
                    recipients: vec![recipient.to_ascii_lowercase()],
                    size: data.len(),
                    authenticated: None,
                    bytes: Bytes::Memory(data),
                })
            })
            .collect()
    }

    /// How many messages the sink has stored.
    pub fn len(&self) -> usize {
        match self.mail.as_log() {
            Some(log) => log.lock().messages.len(),
            None => usize::try_from(self.delivered.load(Ordering::Relaxed)).unwrap_or(usize::MAX),
        }
    }

    /// Whether nothing has been stored yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The messages stored after the first `count`, in delivery order.
    pub fn since(&self, count: usize) -> Vec<StoredMessage> {
        match self.mail.as_log() {
            Some(log) => log
                .lock()
                .messages
                .get(count..)
                .unwrap_or_default()
                .to_vec(),
            None => self.all().into_iter().skip(count).collect(),
        }
    }

    /// The message numbered `id`, if it was stored.
    pub fn message(&self, id: MessageId) -> Option<StoredMessage> {
        let index = usize::try_from(id.0.checked_sub(1)?).ok()?;
        let log = self.mail.as_log()?;
        log.lock()
            .messages
            .get(index)
            .filter(|stored| stored.id == id)
            .cloned()
    }

    /// Every message, in delivery order (for a Maildir store: user by user, in UID order).
    pub fn all(&self) -> Vec<StoredMessage> {
        match self.mail.as_log() {
            Some(_) => self.since(0),
            None => self
                .mail
                .users()
                .unwrap_or_default()
                .iter()
                .flat_map(|user| self.read_back(user))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spooled_store_gives_back_every_message_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::spooled(&dir.path().join("spool")).unwrap();
        let bodies: [&[u8]; 3] = [b"first\r\n", b"", b"third message\r\n.\r\n"];
        for (index, body) in bodies.iter().enumerate() {
            store
                .deliver(Envelope {
                    from: "a@x".into(),
                    recipients: vec![format!("r{}@x", index % 2)],
                    data: Arc::from(*body),
                    authenticated: None,
                })
                .unwrap();
        }
        let all = store.all();
        assert_eq!(all.len(), 3);
        for (message, body) in all.iter().zip(bodies) {
            assert_eq!(&*message.data().unwrap(), body);
            assert_eq!(message.size, body.len());
        }
        let r0: Vec<MessageId> = store.mailbox("R0@x").iter().map(|m| m.id).collect();
        assert_eq!(r0, [MessageId(1), MessageId(3)]);
    }

    #[test]
    fn mailboxes_index_one_stored_copy() {
        let store = Store::in_memory();
        let id = store
            .deliver(Envelope {
                from: "a@x".into(),
                recipients: vec!["b@x".into(), "C@x".into()],
                data: Arc::from(&b"m"[..]),
                authenticated: Some("b".into()),
            })
            .unwrap();
        assert_eq!(id, MessageId(1));
        assert_eq!(store.mailbox("b@x").len(), 1);
        assert_eq!(store.mailbox("c@x")[0].id, id);
        assert_eq!(&*store.mailbox("c@x")[0].data().unwrap(), b"m");
        assert!(store.mailbox("d@x").is_empty());
        assert_eq!(store.all().len(), 1);
        assert_eq!(store.len(), 1);
        assert!(store.since(1).is_empty());
        assert_eq!(store.since(0)[0].id, id);
        assert_eq!(store.message(id).map(|stored| stored.id), Some(id));
        assert!(store.message(MessageId(id.0 + 1)).is_none());
    }
}
