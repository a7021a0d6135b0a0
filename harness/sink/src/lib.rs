//! The SMTP sink: an RFC 5321 receiver that stores each message byte for byte, per recipient.
//!
//! The protocol lives in a sans-IO core: [`framing`] cuts the byte stream into command lines
//! and message data, [`command`] gives command lines their meaning, and [`session`] is the
//! state machine (`ExpectHelo → ExpectMail → ExpectRcpt → Data`) that answers them, with
//! AUTH and STARTTLS when a [`Submission`] is configured. [`server`] is the only part that
//! touches sockets, upgrading them with [`tls`]; [`store`] keeps what was delivered, and
//! [`mailstore`] serves it as per-user folders (INBOX, Sent) with UIDs and flags.

pub mod command;
pub mod faults;
pub mod folder;
pub mod framing;
mod log;
pub mod mailstore;
pub mod net;
pub mod reply;
pub mod server;
pub mod session;
pub mod store;
pub mod tls;

pub use faults::{Effect, Fault, FaultPlan, Trigger};
pub use mailstore::{
    Clock, FixedClock, Flag, FlagChange, Flags, InternalDate, MailStore, Mailbox, MailboxName,
    MaildirOptions, MessageMeta, Snapshot, StoreError, Uid,
};
pub use reply::Reply;
pub use server::{EmbeddedSink, SinkError, serve, serve_submission};
pub use session::{Connection, Limits, Submission};
pub use store::{Envelope, MessageId, Store, StoredMessage};
pub use tls::{TlsConfig, TlsError};
