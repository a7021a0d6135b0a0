//! The delivery log the runner's embedded sink keeps: every delivered message once, its bytes
//! in memory or in a spool file, indexed by recipient and served as folders (INBOX, Sent) with
//! UIDs and flags through [`crate::MailStore`].

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::folder::{
    Clock, FixedClock, Flag, FlagChange, Flags, InternalDate, MailboxName, MessageMeta, Snapshot,
    StoreError, Uid,
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
    pub(crate) bytes: Bytes,
}

/// Where a stored message's bytes are.
#[derive(Debug, Clone)]
pub(crate) enum Bytes {
    Memory(Arc<[u8]>),
    Spooled { spool: Arc<Spool>, offset: u64 },
}

impl Bytes {
    pub(crate) fn read(&self, size: usize) -> Result<Arc<[u8]>, std::io::Error> {
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
pub(crate) struct Spool {
    pub(crate) file: File,
    pub(crate) end: AtomicU64,
}

impl Spool {
    pub(crate) fn append(&self, data: &[u8]) -> Result<u64, std::io::Error> {
        let offset = self.end.fetch_add(data.len() as u64, Ordering::Relaxed);
        self.file.write_all_at(data, offset)?;
        Ok(offset)
    }

    pub(crate) fn read(&self, offset: u64, size: usize) -> Result<Vec<u8>, std::io::Error> {
        let mut data = vec![0; size];
        self.file.read_exact_at(&mut data, offset)?;
        Ok(data)
    }

    pub(crate) fn keep(self: &Arc<Self>, data: &[u8]) -> Result<Bytes, std::io::Error> {
        Ok(Bytes::Spooled {
            spool: Arc::clone(self),
            offset: self.append(data)?,
        })
    }
}

/// The log backend: every delivered message once, in delivery order, and per user an INBOX
/// (an index into the log) and a Sent folder.
#[derive(Debug)]
pub(crate) struct LogStore {
    pub(crate) spool: Option<Arc<Spool>>,
    pub(crate) clock: Mutex<Arc<dyn Clock>>,
    pub(crate) log: Mutex<Log>,
}

#[derive(Debug, Default)]
pub(crate) struct Log {
    pub(crate) messages: Vec<StoredMessage>,
    /// By lower-case address.
    pub(crate) users: BTreeMap<String, Arc<UserMail>>,
}

#[derive(Debug, Default)]
pub(crate) struct UserMail {
    inbox: Mutex<MemoryFolder>,
    sent: Mutex<MemoryFolder>,
}

#[derive(Debug)]
pub(crate) struct MemoryFolder {
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
pub(crate) struct MemoryEntry {
    meta: MessageMeta,
    place: Place,
}

#[derive(Debug)]
pub(crate) enum Place {
    /// A delivered message: its position in the log.
    Delivered(usize),
    /// An appended one.
    Appended(Bytes),
}

/// The UIDVALIDITY of every folder of a log store: the store lives as long as its process,
/// so UIDs never need to change meaning.
const LOG_UIDVALIDITY: u32 = 1;

impl MemoryFolder {
    pub(crate) fn push(
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

    pub(crate) fn find(&mut self, uid: Uid) -> Result<&mut MemoryEntry, StoreError> {
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
    pub(crate) fn new(spool: Option<Arc<Spool>>) -> Self {
        Self {
            spool,
            clock: Mutex::new(Arc::new(FixedClock::default())),
            log: Mutex::new(Log::default()),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn now(&self) -> InternalDate {
        InternalDate::of(
            self.clock
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .now(),
        )
    }

    pub(crate) fn keep(&self, data: &Arc<[u8]>) -> Result<Bytes, std::io::Error> {
        match &self.spool {
            Some(spool) => spool.keep(data),
            None => Ok(Bytes::Memory(Arc::clone(data))),
        }
    }

    pub(crate) fn deliver(&self, envelope: Envelope) -> Result<MessageId, StoreError> {
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

    pub(crate) fn delivered_to(&self, recipient: &str) -> Vec<StoredMessage> {
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
    pub(crate) fn folder(&self) -> std::sync::MutexGuard<'_, MemoryFolder> {
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
            let deleted = entry.meta.flags.contains(Flag::Deleted);
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
