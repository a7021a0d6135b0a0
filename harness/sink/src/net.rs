//! Network plumbing every server kmlab runs shares (the SMTP sink here, the IMAP, POP3 and
//! LDAP servers of `live`): which accept errors to shrug off, the one monotonic clock for
//! timeouts, and writing under a deadline.

use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// How long a refused or closing client gets to take its last words.
pub const FAREWELL_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether an accept error concerns only the one connection (the listener goes on).
pub fn is_transient(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

/// The monotonic clock, for network timeouts only: nothing it reads reaches a result.
#[expect(
    clippy::disallowed_methods,
    reason = "network timeouts are timing code; no result depends on them"
)]
pub fn now() -> Instant {
    Instant::now()
}

/// Writes `bytes` unless `deadline` passes first.
pub async fn write_before(
    socket: &mut (impl AsyncWrite + Unpin),
    bytes: &[u8],
    deadline: Instant,
) -> std::io::Result<()> {
    match tokio::time::timeout_at(deadline, socket.write_all(bytes)).await {
        Ok(written) => written,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}
