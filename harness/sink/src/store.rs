//! What the sink keeps: every delivered message once, indexed by recipient, optionally also
//! written to a Maildir.

use std::fmt;
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
    /// The message exactly as received, dot-unstuffed, without the final `.` line.
    pub data: Vec<u8>,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Its identifier.
    pub id: MessageId,
    /// The transaction that delivered it.
    pub envelope: Arc<Envelope>,
}

#[derive(Debug, Default)]
struct Inner {
    messages: Vec<StoredMessage>,
}

/// The sink's message store, shared by every connection.
#[derive(Debug, Clone, Default)]
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    maildir: Option<PathBuf>,
}

impl Store {
    /// An in-memory store.
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// A store that also writes every message to `<dir>/<recipient>/new/<id>.eml`.
    pub fn with_maildir(dir: impl Into<PathBuf>) -> Self {
        Self {
            inner: Arc::default(),
            maildir: Some(dir.into()),
        }
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
        inner.messages.push(StoredMessage {
            id,
            envelope: Arc::new(envelope),
        });
        Ok(id)
    }

    /// Every message delivered to `recipient` (compared without regard to case), in order.
    pub fn mailbox(&self, recipient: &str) -> Vec<StoredMessage> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .messages
            .iter()
            .filter(|message| {
                message
                    .envelope
                    .recipients
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(recipient))
            })
            .cloned()
            .collect()
    }

    /// Every message, in delivery order.
    pub fn all(&self) -> Vec<StoredMessage> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .messages
            .clone()
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
                data: b"m".to_vec(),
            })
            .unwrap();
        assert_eq!(id, MessageId(1));
        assert_eq!(store.mailbox("b@x").len(), 1);
        assert_eq!(store.mailbox("c@x")[0].id, id);
        assert!(store.mailbox("d@x").is_empty());
        assert_eq!(store.all().len(), 1);
    }
}
