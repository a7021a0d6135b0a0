//! The network side: tokio accept loops that drive one sans-IO session per client, with
//! STARTTLS/STLS, a connection limit and an idle timeout, and [`LiveServers`], which runs all
//! three servers on a thread of their own.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::directory::Directory;
use crate::imap::{ImapContext, ImapSession};
use crate::ldap::{LdapContext, LdapSession};
use crate::pop3::{Pop3Context, Pop3Session};
use crate::store::Mailboxes;
use crate::tls::TlsConfig;
use crate::{Limits, Output};
use sink::net::{FAREWELL_TIMEOUT, is_transient, now, write_before};

/// Errors starting or running the servers.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Binding or accepting failed.
    #[error("live server socket: {0}")]
    Io(#[from] std::io::Error),
}

/// A session the accept loop can drive, whatever its protocol.
trait Session: Send + 'static {
    /// Feeds client bytes.
    fn receive(&mut self, input: &[u8]) -> Output;
    /// TLS is up.
    fn tls_started(&mut self);
    /// Whether to call `poll` periodically (an IMAP client in IDLE).
    fn polling(&self) -> bool {
        false
    }
    /// What changed while the client waits.
    fn poll(&mut self) -> Output {
        Output::default()
    }
}

impl Session for ImapSession {
    fn receive(&mut self, input: &[u8]) -> Output {
        ImapSession::receive(self, input)
    }
    fn tls_started(&mut self) {
        ImapSession::tls_started(self);
    }
    fn polling(&self) -> bool {
        self.idling()
    }
    fn poll(&mut self) -> Output {
        ImapSession::poll(self)
    }
}

impl Session for Pop3Session {
    fn receive(&mut self, input: &[u8]) -> Output {
        Pop3Session::receive(self, input)
    }
    fn tls_started(&mut self) {
        Pop3Session::tls_started(self);
    }
}

impl Session for LdapSession {
    fn receive(&mut self, input: &[u8]) -> Output {
        LdapSession::receive(self, input)
    }
    fn tls_started(&mut self) {}
}

/// Serves IMAP on `listener` until `shutdown` completes.
pub async fn serve_imap(
    listener: TcpListener,
    mailboxes: Mailboxes,
    tls: Option<TlsConfig>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LiveError> {
    let context = ImapContext {
        mailboxes,
        limits: limits.clone(),
        tls_available: tls.is_some(),
    };
    let busy = b"* BYE too many connections, try again later\r\n";
    serve(listener, tls, limits, shutdown, busy, move || {
        ImapSession::new(context.clone())
    })
    .await
}

/// Serves POP3 on `listener` until `shutdown` completes.
pub async fn serve_pop3(
    listener: TcpListener,
    mailboxes: Mailboxes,
    tls: Option<TlsConfig>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LiveError> {
    let context = Pop3Context {
        mailboxes,
        limits: limits.clone(),
        tls_available: tls.is_some(),
    };
    let busy = b"-ERR [SYS/TEMP] too many connections, try again later\r\n";
    serve(listener, tls, limits, shutdown, busy, move || {
        Pop3Session::new(context.clone())
    })
    .await
}

/// Serves the LDAP directory on `listener` until `shutdown` completes; binds check passwords
/// against `mailboxes`.
pub async fn serve_ldap(
    listener: TcpListener,
    directory: Directory,
    mailboxes: Mailboxes,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> Result<(), LiveError> {
    let context = LdapContext {
        directory,
        mailboxes,
        max_request: limits.max_literal.min(16 * 1024 * 1024),
    };
    serve(listener, None, limits, shutdown, b"", move || {
        (LdapSession::new(context.clone()), Vec::new())
    })
    .await
}

async fn serve<S: Session>(
    listener: TcpListener,
    tls: Option<TlsConfig>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
    busy: &'static [u8],
    start: impl Fn() -> (S, Vec<u8>),
) -> Result<(), LiveError> {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (mut socket, _) = match accepted {
                    Ok(pair) => pair,
                    // A client that vanished between SYN and accept is not the server's failure.
                    Err(err) if is_transient(&err) => continue,
                    Err(err) => return Err(err.into()),
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tokio::spawn(async move {
                        let _ = write_before(&mut socket, busy, now() + FAREWELL_TIMEOUT).await;
                        let _ = socket.shutdown().await;
                    });
                    continue;
                };
                let (session, greeting) = start();
                let limits = limits.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    // A broken client connection ends that session only.
                    let _ = handle(socket, session, greeting, tls, limits).await;
                    drop(slot);
                });
            }
        }
    }
}

/// How a plaintext phase of a connection ended.
enum Ended {
    Closed,
    StartTls,
}

async fn handle<S: Session>(
    mut socket: TcpStream,
    mut session: S,
    greeting: Vec<u8>,
    tls: Option<TlsConfig>,
    limits: Limits,
) -> std::io::Result<()> {
    write_before(&mut socket, &greeting, now() + limits.idle_timeout).await?;
    match drive(&mut socket, &mut session, &limits).await? {
        Ended::Closed => {}
        Ended::StartTls => {
            let Some(tls) = tls else {
                return Ok(());
            };
            let handshake = tls.acceptor().accept(socket);
            let mut stream = match tokio::time::timeout(FAREWELL_TIMEOUT * 6, handshake).await {
                Ok(stream) => stream?,
                Err(_) => return Ok(()),
            };
            session.tls_started();
            // A second STARTTLS is refused by the session, so this phase only closes.
            let _ = drive(&mut stream, &mut session, &limits).await?;
            let _ = stream.shutdown().await;
            return Ok(());
        }
    }
    let _ = socket.shutdown().await;
    Ok(())
}

/// Runs the session over `stream` until it closes or asks for TLS.
async fn drive<S: Session>(
    stream: &mut (impl AsyncRead + AsyncWrite + Unpin),
    session: &mut S,
    limits: &Limits,
) -> std::io::Result<Ended> {
    let mut buffer = vec![0u8; 16 * 1024];
    let mut last_read = now();
    loop {
        let deadline = last_read + limits.idle_timeout;
        let output = tokio::select! {
            read = tokio::time::timeout_at(deadline, stream.read(&mut buffer)) => {
                let Ok(read) = read else {
                    // Idle too long: the session ends without ceremony.
                    return Ok(Ended::Closed);
                };
                let read = read?;
                if read == 0 {
                    return Ok(Ended::Closed);
                }
                last_read = now();
                session.receive(buffer.get(..read).unwrap_or_default())
            }
            () = tokio::time::sleep(limits.idle_poll), if session.polling() => session.poll(),
        };
        if !output.bytes.is_empty() {
            write_before(stream, &output.bytes, now() + limits.idle_timeout).await?;
        }
        if output.close {
            return Ok(Ended::Closed);
        }
        if output.start_tls {
            return Ok(Ended::StartTls);
        }
    }
}

/// Where and how [`LiveServers`] listen.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// The address every server binds to; loopback unless a test or harness says otherwise.
    pub bind: IpAddr,
    /// The IMAP port; 0 for any free one.
    pub imap_port: u16,
    /// The POP3 port; 0 for any free one.
    pub pop3_port: u16,
    /// The LDAP port; 0 for any free one.
    pub ldap_port: u16,
    /// The certificate for STARTTLS and STLS; without one neither is offered.
    pub tls: Option<TlsConfig>,
    /// The bounds on clients.
    pub limits: Limits,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            imap_port: 0,
            pop3_port: 0,
            ldap_port: 0,
            tls: None,
            limits: Limits::default(),
        }
    }
}

/// IMAP, POP3 and LDAP servers running on their own thread, stopped when dropped.
#[derive(Debug)]
pub struct LiveServers {
    imap: SocketAddr,
    pop3: SocketAddr,
    ldap: SocketAddr,
    stop: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

impl LiveServers {
    /// Binds the three ports and starts serving `mailboxes` and `directory`.
    pub fn start(
        config: LiveConfig,
        mailboxes: Mailboxes,
        directory: Directory,
    ) -> Result<Self, LiveError> {
        let bind = |port: u16| -> Result<std::net::TcpListener, LiveError> {
            let listener = std::net::TcpListener::bind((config.bind, port))?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        };
        let (imap_listener, pop3_listener, ldap_listener) = (
            bind(config.imap_port)?,
            bind(config.pop3_port)?,
            bind(config.ldap_port)?,
        );
        let imap = imap_listener.local_addr()?;
        let pop3 = pop3_listener.local_addr()?;
        let ldap = ldap_listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("live-{}", imap.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let (Ok(imap), Ok(pop3), Ok(ldap)) = (
                        TcpListener::from_std(imap_listener),
                        TcpListener::from_std(pop3_listener),
                        TcpListener::from_std(ldap_listener),
                    ) else {
                        return;
                    };
                    let until_stopped = || {
                        let mut stopped = stopped.clone();
                        async move {
                            let _ = stopped.wait_for(|stop| *stop).await;
                        }
                    };
                    let _ = tokio::join!(
                        serve_imap(
                            imap,
                            mailboxes.clone(),
                            config.tls.clone(),
                            config.limits.clone(),
                            until_stopped(),
                        ),
                        serve_pop3(
                            pop3,
                            mailboxes.clone(),
                            config.tls.clone(),
                            config.limits.clone(),
                            until_stopped(),
                        ),
                        serve_ldap(ldap, directory, mailboxes, config.limits, until_stopped()),
                    );
                });
            })?;
        Ok(Self {
            imap,
            pop3,
            ldap,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where IMAP listens.
    pub fn imap_address(&self) -> SocketAddr {
        self.imap
    }

    /// Where POP3 listens.
    pub fn pop3_address(&self) -> SocketAddr {
        self.pop3
    }

    /// Where LDAP listens.
    pub fn ldap_address(&self) -> SocketAddr {
        self.ldap
    }

    /// Stops all three servers and waits for their thread; open connections are dropped.
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LiveServers {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}
