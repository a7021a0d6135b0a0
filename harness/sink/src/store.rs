//! What the sink keeps: either a log of every delivered message (bytes in memory or in a
//! spool file), indexed by recipient, which the runner embeds; or Maildir folders on disk,
//! for `kmlab sink`. Both are served as folders through [`MailStore`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::mailstore::{
    Clock, FixedClock, FlagChange, Flags, InternalDate, MailStore, MailboxName, MaildirOptions,
    MessageMeta, Snapshot, StoreError, Uid,
};

/// The sink's identifier for a stored message: its delivery order, starting at 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:06}", self.0)
    }
}

/// A message as the SMTP transaction delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path (empty for the null sender).
    pub from: String,
    /// The forward paths, in RCPT order.
    pub recipients: Vec<String>,
    /// The message exactly as received, dot-unstuffed, without the final `.` line; shared,
    /// so that whoever keeps a copy of what was delivered (a sender's sent folder) keeps
    /// these bytes rather than another copy of them.
    pub data: Arc<[u8]>,
    /// The login the client proved with AUTH before sending it (submission), if any.
    pub authenticated: Option<String>,
}

/// A stored message: the transaction's addresses, and its bytes in memory or in the spool.
#[derive(Debug, Clone)]
pub struct StoredMessage {
    /// Its identifier.
    pub id: MessageId,
    /// The reverse path (empty for the null sender).
    pub from: String,
    /// The forward paths, in RCPT order.
    pub recipients: Vec<String>,
    /// The message's length in bytes.
    pub size: usize,
    /// The login the submitting client proved with AUTH, if any: which live user sent it.
    pub authenticated: Option<String>,
    bytes: Bytes,
}

/// Where a stored message's bytes are.
#[derive(Debug, Clone)]
enum Bytes {
    Memory(Arc<[u8]>),
    Spooled { spool: Arc<Spool>, offset: u64 },
}

impl Bytes {
    fn read(&self, size: usize) -> Result<Arc<[u8]>, std::io::Error> {
        match self {
            Bytes::Memory(data) => Ok(Arc::clone(data)),
            Bytes::Spooled { spool, offset } => spool.read(*offset, size).map(Arc::from),
        }
    }
}

impl StoredMessage {
    /// The message exactly as received.
    pub fn data(&self) -> Result<Arc<[u8]>, std::io::Error> {
        self.bytes.read(self.size)
    }
}

/// One append-only file holding the bytes of every message a spooled store received, so
/// that a run's memory does not grow with its mail. Writers reserve their range and write at
/// its offset, so neither writing nor reading takes a lock.
#[derive(Debug)]
struct Spool {
    file: File,
    end: AtomicU64,
}

impl Spool {
    fn append(&self, data: &[u8]) -> Result<u64, std::io::Error> {
        let offset = self.end.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.file.write_all_at(data, offset)?;
        Ok(offset)
    }

    fn read(&self, offset: u64, size: usize) -> Result<Vec<u8>, std::io::Error> {
        let mut data = vec![0; size];
        self.file.read_exact_at(&mut data, offset)?;
        Ok(data)
    }

    fn keep(self: &Arc<Self>, data: &[u8]) -> Result<Bytes, std::io::Error> {
        Ok(Bytes::Spooled {
            spool: Arc::clone(self),
            offset: self.append(data)?,
        })
    }
}

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

/// The log backend: every delivered message once, in delivery order, and per user an INBOX
/// (an index into the log) and a Sent folder.
#[derive(Debug)]
pub(crate) struct LogStore {
    spool: Option<Arc<Spool>>,
    clock: Mutex<Arc<dyn Clock>>,
    log: Mutex<Log>,
}

#[derive(Debug, Default)]
struct Log {
    messages: Vec<StoredMessage>,
    /// By lower-case address.
    users: BTreeMap<String, Arc<UserMail>>,
}

#[derive(Debug, Default)]
struct UserMail {
    inbox: Mutex<MemoryFolder>,
    sent: Mutex<MemoryFolder>,
}

#[derive(Debug)]
struct MemoryFolder {
    uidnext: u32,
    /// In UID order.
    entries: Vec<MemoryEntry>,
}

impl Default for MemoryFolder {
    fn default() -> Self {
        Self {
            uidnext: 1,
            entries: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct MemoryEntry {
    meta: MessageMeta,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// A delivered message: its position in the log.
    Delivered(usize),
    /// An appended one.
    Appended(Bytes),
}

/// The UIDVALIDITY of every folder of a log store: the store lives as long as its process,
/// so UIDs never need to change meaning.
const LOG_UIDVALIDITY: u32 = 1;

impl MemoryFolder {
    fn push(
        &mut self,
        meta: impl FnOnce(Uid) -> MessageMeta,
        place: Place,
    ) -> Result<Uid, StoreError> {
        let uid = Uid(self.uidnext);
        self.uidnext = self
            .uidnext
            .checked_add(1)
            .ok_or(StoreError::UidsExhausted)?;
        self.entries.push(MemoryEntry {
            meta: meta(uid),
            place,
        });
        Ok(uid)
    }

    fn find(&mut self, uid: Uid) -> Result<&mut MemoryEntry, StoreError> {
        let position = self
            .entries
            .binary_search_by_key(&uid, |entry| entry.meta.uid)
            .map_err(|_| StoreError::NoSuchMessage(uid))?;
        self.entries
            .get_mut(position)
            .ok_or(StoreError::NoSuchMessage(uid))
    }
}

impl LogStore {
    fn new(spool: Option<Arc<Spool>>) -> Self {
        Self {
            spool,
            clock: Mutex::new(Arc::new(FixedClock::default())),
            log: Mutex::new(Log::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn now(&self) -> InternalDate {
        InternalDate::of(
            self.clock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .now(),
        )
    }

    fn keep(&self, data: &Arc<[u8]>) -> Result<Bytes, std::io::Error> {
        match &self.spool {
            Some(spool) => spool.keep(data),
            None => Ok(Bytes::Memory(Arc::clone(data))),
        }
    }

    fn deliver(&self, envelope: Envelope) -> Result<MessageId, StoreError> {
        // The spool is written before the log is locked: the log's lock covers no file IO.
        let bytes = self.keep(&envelope.data).map_err(|source| StoreError::Io {
            action: "writing",
            path: "the spool".into(),
            source,
        })?;
        let internal_date = self.now();
        let size = envelope.data.len();
        let mut recipients: Vec<String> = envelope
            .recipients
            .iter()
            .map(|recipient| recipient.to_ascii_lowercase())
            .collect();
        recipients.sort();
        recipients.dedup();
        let mut log = self.lock();
        let position = log.messages.len();
        let id = MessageId(position as u64 + 1);
        for recipient in recipients {
            let user = Arc::clone(log.users.entry(recipient).or_default());
            // Taken while the log is locked, so that every INBOX lists messages in delivery
            // order; a folder's lock is never held while taking the log's.
            user.inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(
                    |uid| MessageMeta {
                        uid,
                        size: size as u64,
                        internal_date,
                        flags: Flags::NONE,
                    },
                    Place::Delivered(position),
                )?;
        }
        log.messages.push(StoredMessage {
            id,
            size,
            from: envelope.from,
            recipients: envelope.recipients,
            authenticated: envelope.authenticated,
            bytes,
        });
        Ok(id)
    }

    fn delivered_to(&self, recipient: &str) -> Vec<StoredMessage> {
        let log = self.lock();
        let Some(user) = log.users.get(&recipient.to_ascii_lowercase()) else {
            return Vec::new();
        };
        let inbox = user.inbox.lock().unwrap_or_else(PoisonError::into_inner);
        inbox
            .entries
            .iter()
            .filter_map(|entry| match entry.place {
                Place::Delivered(position) => log.messages.get(position).cloned(),
                Place::Appended(_) => None,
            })
            .collect()
    }

    pub(crate) fn users(&self) -> Vec<String> {
        self.lock().users.keys().cloned().collect()
    }

    pub(crate) fn mailbox(self: &Arc<Self>, user: &str, name: MailboxName) -> LogMailbox {
        let user = Arc::clone(
            self.lock()
                .users
                .entry(user.to_ascii_lowercase())
                .or_default(),
        );
        LogMailbox {
            store: Arc::clone(self),
            user,
            name,
        }
    }
}

/// A folder of a log store.
#[derive(Debug, Clone)]
pub(crate) struct LogMailbox {
    store: Arc<LogStore>,
    user: Arc<UserMail>,
    name: MailboxName,
}

impl LogMailbox {
    fn folder(&self) -> std::sync::MutexGuard<'_, MemoryFolder> {
        match self.name {
            MailboxName::Inbox => &self.user.inbox,
            MailboxName::Sent => &self.user.sent,
        }
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn select(&self) -> Snapshot {
        let folder = self.folder();
        Snapshot {
            uidvalidity: LOG_UIDVALIDITY,
            uidnext: Uid(folder.uidnext),
            messages: folder.entries.iter().map(|entry| entry.meta).collect(),
        }
    }

    pub(crate) fn read(&self, uid: Uid) -> Result<Arc<[u8]>, StoreError> {
        let (bytes, size) = {
            let mut folder = self.folder();
            let entry = folder.find(uid)?;
            let size = usize::try_from(entry.meta.size).unwrap_or(usize::MAX);
            match &entry.place {
                Place::Appended(bytes) => (bytes.clone(), size),
                Place::Delivered(position) => {
                    let position = *position;
                    // The folder's lock is let go before the log's is taken.
                    drop(folder);
                    let log = self.store.lock();
                    let stored = log
                        .messages
                        .get(position)
                        .ok_or(StoreError::NoSuchMessage(uid))?;
                    (stored.bytes.clone(), stored.size)
                }
            }
        };
        bytes.read(size).map_err(|source| StoreError::Io {
            action: "reading",
            path: "the spool".into(),
            source,
        })
    }

    pub(crate) fn set_flags(&self, uid: Uid, change: FlagChange) -> Result<Flags, StoreError> {
        let mut folder = self.folder();
        let entry = folder.find(uid)?;
        entry.meta.flags = change.apply(entry.meta.flags);
        Ok(entry.meta.flags)
    }

    pub(crate) fn expunge(&self) -> Vec<Uid> {
        let mut folder = self.folder();
        let mut gone = Vec::new();
        folder.entries.retain(|entry| {
            let deleted = entry.meta.flags.contains(crate::mailstore::Flag::Deleted);
            if deleted {
                gone.push(entry.meta.uid);
            }
            !deleted
        });
        gone
    }

    pub(crate) fn append(
        &self,
        data: &[u8],
        flags: Flags,
        internal_date: Option<InternalDate>,
    ) -> Result<Uid, StoreError> {
        let internal_date = internal_date.unwrap_or_else(|| self.store.now());
        let bytes = self
            .store
            .keep(&Arc::from(data))
            .map_err(|source| StoreError::Io {
                action: "writing",
                path: "the spool".into(),
                source,
            })?;
        self.folder().push(
            |uid| MessageMeta {
                uid,
                size: data.len() as u64,
                internal_date,
                flags,
            },
            Place::Appended(bytes),
        )
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
