//! Servers that let real mail clients join a run: IMAP4rev1 and POP3 over the live users'
//! mailboxes, and a read-only LDAPv3 directory of their certificates.
//!
//! Each protocol is a sans-IO session — bytes in, bytes out — so that tests and fuzzers can
//! drive it without sockets: [`imap::ImapSession`], [`pop3::Pop3Session`],
//! [`ldap::LdapSession`]. [`server`] runs them over TCP on tokio, with STARTTLS/STLS from
//! [`tls`]; [`LiveServers`] starts all three on a thread of their own. The mailboxes are the
//! sink's `sink::MailStore` behind [`Mailboxes`] (with the live users' [`Accounts`]), the
//! directory a [`Directory`] whose snapshot the harness replaces; an
//! [`Observer`] hears what the clients did.

use std::time::Duration;

pub mod directory;
pub mod imap;
pub mod ldap;
mod lines;
pub mod mime;
pub mod pop3;
pub mod server;
pub mod store;
pub mod tls;

pub use directory::{Directory, DirectoryEntry, DirectorySnapshot, smime_certificate_bundle};
pub use tls::{TlsConfig, TlsError};

pub use imap::{ImapContext, ImapSession, imap_exchange};
pub use ldap::{LdapContext, LdapSession, ldap_exchange};
pub use pop3::{Pop3Context, Pop3Session, pop3_exchange};

pub use server::{LiveConfig, LiveError, LiveServers, serve_imap, serve_ldap, serve_pop3};
pub use store::{
    Accounts, Event, EventLog, Flag, FlagChange, Flags, InternalDate, MailboxName, Mailboxes,
    MessageMeta, Observer, Protocol, Snapshot, StoreError, Uid, Unobserved,
};

/// What a session answers to a piece of input.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Bytes to send to the client.
    pub bytes: Vec<u8>,
    /// Whether to close the connection after sending them.
    pub close: bool,
    /// Whether to start TLS after sending them (STARTTLS, STLS); the session has already
    /// dropped whatever plaintext input followed the command.
    pub start_tls: bool,
}

/// The bounds every server keeps a client within (LIVE-05: bad input gets a protocol error,
/// never a crash).
#[derive(Debug, Clone)]
pub struct Limits {
    /// The host name in greetings.
    pub hostname: String,
    /// Longest command line, including CRLF; past it the line is refused and discarded.
    pub max_line: usize,
    /// Largest IMAP literal (APPEND's message) and LDAP request, in bytes.
    pub max_literal: usize,
    /// Protocol errors tolerated in one session before it is closed.
    pub max_errors: u32,
    /// Most connections per server at once; a client beyond them is turned away.
    pub max_connections: usize,
    /// The longest a client may send nothing (an IDLEing IMAP client included: RFC 3501
    /// §5.4 asks for at least 30 minutes there, clients re-IDLE sooner).
    pub idle_timeout: Duration,
    /// How often an IDLEing IMAP session looks for new mail.
    pub idle_poll: Duration,
    /// Whether IMAP advertises LOGINDISABLED and POP3 refuses USER until TLS is up.
    pub require_tls_for_login: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            hostname: "live.kmlab.test".into(),
            max_line: 8 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_errors: 20,
            max_connections: 50,
            idle_timeout: Duration::from_secs(30 * 60),
            idle_poll: Duration::from_millis(500),
            require_tls_for_login: false,
        }
    }
}
