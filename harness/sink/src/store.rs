//! What the sink keeps: every delivered message once, indexed by recipient, optionally also
//! written to a Maildir.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

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
    bytes: Bytes,
}

/// Where a stored message's bytes are.
#[derive(Debug, Clone)]
enum Bytes {
    Memory(Arc<[u8]>),
    Spooled { spool: Arc<Spool>, offset: u64 },
}

impl StoredMessage {
    /// The message exactly as received.
    pub fn data(&self) -> Result<Arc<[u8]>, std::io::Error> {
        match &self.bytes {
            Bytes::Memory(data) => Ok(Arc::clone(data)),
            Bytes::Spooled { spool, offset } => spool.read(*offset, self.size).map(Arc::from),
        }
    }
}

/// One append-only file holding the bytes of every message a spooled store received, so
/// that a run's memory does not grow with its mail.
#[derive(Debug)]
struct Spool {
    file: Mutex<File>,
}

impl Spool {
    fn append(&self, data: &[u8]) -> Result<u64, std::io::Error> {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let offset = file.seek(SeekFrom::End(0))?;
        file.write_all(data)?;
        Ok(offset)
    }

    fn read(&self, offset: u64, size: usize) -> Result<Vec<u8>, std::io::Error> {
        let mut file = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.seek(SeekFrom::Start(offset))?;
        let mut data = vec![0; size];
        file.read_exact(&mut data)?;
        Ok(data)
    }
}

#[derive(Debug, Default)]
struct Inner {
    messages: Vec<StoredMessage>,
    /// Positions in `messages` by lower-case recipient, in delivery order.
    by_recipient: BTreeMap<String, Vec<usize>>,
}

/// The sink's message store, shared by every connection.
#[derive(Debug, Clone, Default)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    maildir: Option<PathBuf>,
    spool: Option<Arc<Spool>>,
}

impl Store {
    /// An in-memory store.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A store that also writes every message to `<dir>/<recipient>/new/<id>.eml`.
    pub fn with_maildir(dir: impl Into<PathBuf>) -> Self {
        Self {
            maildir: Some(dir.into()),
            ..Self::default()
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
        Ok(Self {
            spool: Some(Arc::new(Spool {
                file: Mutex::new(file),
            })),
            ..Self::default()
        })
    }

    /// Stores a message; only a complete transaction ever reaches this.
    pub fn deliver(&self, envelope: Envelope) -> Result<MessageId, std::io::Error> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let id = MessageId(inner.messages.len() as u64 + 1);
        if let Some(dir) = &self.maildir {
            for recipient in &envelope.recipients {
                write_maildir(dir, recipient, id, &envelope.data)?;
            }
        }
        let bytes = match &self.spool {
            Some(spool) => Bytes::Spooled {
                spool: Arc::clone(spool),
                offset: spool.append(&envelope.data)?,
            },
            None => Bytes::Memory(Arc::clone(&envelope.data)),
        };
        let position = inner.messages.len();
        let mut recipients: Vec<String> = envelope
            .recipients
            .iter()
            .map(|recipient| recipient.to_ascii_lowercase())
            .collect();
        recipients.sort();
        recipients.dedup();
        for recipient in recipients {
            inner
                .by_recipient
                .entry(recipient)
                .or_default()
                .push(position);
        }
        inner.messages.push(StoredMessage {
            id,
            size: envelope.data.len(),
            from: envelope.from,
            recipients: envelope.recipients,
            bytes,
        });
        Ok(id)
    }

    /// Every message delivered to `recipient` (compared without regard to case), in order.
    pub fn mailbox(&self, recipient: &str) -> Vec<StoredMessage> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .by_recipient
            .get(&recipient.to_ascii_lowercase())
            .map(|positions| {
                positions
                    .iter()
                    .filter_map(|&position| inner.messages.get(position).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// How many messages the sink has stored.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .messages
            .len()
    }

    /// Whether nothing has been stored yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The messages stored after the first `count`, in delivery order.
    pub fn since(&self, count: usize) -> Vec<StoredMessage> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.messages.get(count..).unwrap_or_default().to_vec()
    }

    /// The message numbered `id`, if it was stored.
    pub fn message(&self, id: MessageId) -> Option<StoredMessage> {
        let index = usize::try_from(id.0.checked_sub(1)?).ok()?;
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .messages
            .get(index)
            .filter(|stored| stored.id == id)
            .cloned()
    }

    /// Every message, in delivery order.
    pub fn all(&self) -> Vec<StoredMessage> {
        self.since(0)
    }
}

/// Maildir delivery: write into `tmp/`, then rename into `new/`.
fn write_maildir(dir: &Path, recipient: &str, id: MessageId, data: &[u8]) -> std::io::Result<()> {
    let folder = dir.join(safe_folder_name(recipient));
    let tmp = folder.join("tmp");
    let new = folder.join("new");
    std::fs::create_dir_all(&tmp)?;
    std::fs::create_dir_all(&new)?;
    std::fs::create_dir_all(folder.join("cur"))?;
    let name = format!("{id}.eml");
    std::fs::write(tmp.join(&name), data)?;
    std::fs::rename(tmp.join(&name), new.join(&name))
}

/// A folder name that cannot leave the Maildir: letters, digits and `@._+-` pass, anything
/// else is hex-escaped.
fn safe_folder_name(recipient: &str) -> String {
    let lower = recipient.to_ascii_lowercase();
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
    fn folder_names_cannot_escape() {
        assert_eq!(safe_folder_name("Bob@x.test"), "bob@x.test");
        assert_eq!(
            safe_folder_name("../../etc/passwd"),
            "%2e.%2f..%2fetc%2fpasswd"
        );
    }

    #[test]
    fn mailboxes_index_one_stored_copy() {
        let store = Store::in_memory();
        let id = store
            .deliver(Envelope {
                from: "a@x".into(),
                recipients: vec!["b@x".into(), "C@x".into()],
                data: Arc::from(&b"m"[..]),
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
