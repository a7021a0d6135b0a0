//! The network side: a tokio accept loop driving one [`Connection`] per client, and an
//! embedded sink that runs it on its own thread for the runner.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;

use crate::faults::FaultPlan;
use crate::net::{FAREWELL_TIMEOUT, is_transient, now, write_before};
use crate::reply::Reply;
use crate::session::{Connection, Limits, Submission};
use crate::store::{Envelope, MessageId, Store};

/// How long, and for how many bytes, a closing connection keeps reading what the client still
/// sends. Closing a socket with unread input resets the connection, and a reset can destroy
/// the last reply before the client reads it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// Errors starting or running the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Binding or accepting failed.
    #[error("sink socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Accepts connections on `listener` until `shutdown` completes, serving each one on its own
/// task, at most `limits.max_connections` at once and `limits.max_connections_per_client`
/// from one address; every connection consults `faults`.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    limits: Limits,
    faults: FaultPlan,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SinkError> {
    serve_submission(listener, store, limits, faults, None, shutdown).await
}

/// [`serve`], offering `submission` (AUTH and STARTTLS) on every connection when given one.
pub async fn serve_submission(
    listener: TcpListener,
    store: Store,
    limits: Limits,
    faults: FaultPlan,
    submission: Option<Arc<Submission>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SinkError> {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let clients = Clients::default();
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (mut socket, peer) = match accepted {
                    Ok(pair) => pair,
                    // A client that vanished between SYN and accept is not the sink's failure.
                    Err(err) if is_transient(&err) => continue,
                    Err(err) => return Err(err.into()),
                };
                let Some(client_slot) =
                    clients.admit(peer.ip(), limits.max_connections_per_client)
                else {
                    tokio::spawn(async move {
                        let busy = Reply::new(
                            421,
                            "4.7.0",
                            "too many connections from your address, try again later",
                        );
                        let _ = farewell(&mut socket, &busy).await;
                    });
                    continue;
                };
                let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                    tokio::spawn(async move {
                        let busy = Reply::new(421, "4.7.0", "too many connections, try again later");
                        let _ = farewell(&mut socket, &busy).await;
                    });
                    continue;
                };
                let store = store.clone();
                let limits = limits.clone();
                let faults = faults.clone();
                let submission = submission.clone();
                tokio::spawn(async move {
                    // A broken client connection ends that session only.
                    let _ = handle(socket, store, limits, faults, submission).await;
                    drop(slot);
                    drop(client_slot);
                });
            }
        }
    }
}

/// How many connections each client address has open.
#[derive(Debug, Clone, Default)]
struct Clients(Arc<Mutex<BTreeMap<IpAddr, usize>>>);

impl Clients {
    /// A slot for one more connection from `address`, unless it already has `cap`.
    fn admit(&self, address: IpAddr, cap: usize) -> Option<ClientSlot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_default();
        if *count >= cap.max(1) {
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            clients: self.clone(),
            address,
        })
    }
}

/// One open connection of a client; counted until dropped.
#[derive(Debug)]
struct ClientSlot {
    clients: Clients,
    address: IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// When the client's time runs out, and what the sink says then.
#[derive(Debug)]
struct Deadlines {
    /// The last time bytes arrived.
    last_read: Instant,
    /// The last reply: the next command (or the whole DATA section) is due from then.
    last_reply: Instant,
}

impl Deadlines {
    fn new() -> Self {
        let start = now();
        Self {
            last_read: start,
            last_reply: start,
        }
    }

    /// The earliest deadline in force, and the reply for missing it.
    fn next(&self, limits: &Limits, in_data: bool) -> (Instant, &'static str) {
        let idle = self.last_read + limits.idle_timeout;
        let (phase, text) = if in_data {
            (
                self.last_reply + limits.data_timeout,
                "data section took too long, closing the connection",
            )
        } else {
            (
                self.last_reply + limits.command_timeout,
                "command took too long, closing the connection",
            )
        };
        if idle <= phase {
            (idle, "idle too long, closing the connection")
        } else {
            (phase, text)
        }
    }
}

/// A connection's byte stream, in the clear or over TLS, and the TCP socket under it.
trait Transport: AsyncRead + AsyncWrite + Unpin {
    fn tcp(&self) -> &TcpStream;
}

impl Transport for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Transport for TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// How one phase of a connection (before or after STARTTLS) ended.
enum Ended {
    /// The connection is closed.
    Done,
    /// The session accepted STARTTLS: the handshake comes next.
    StartTls,
}

async fn handle(
    mut socket: TcpStream,
    store: Store,
    limits: Limits,
    faults: FaultPlan,
    submission: Option<Arc<Submission>>,
) -> std::io::Result<()> {
    let tls = submission.as_ref().and_then(|offer| offer.tls.clone());
    let (mut connection, greeting) =
        Connection::with_submission(limits.clone(), faults, submission);
    // Replies go out whole in one write each, so Nagle's algorithm could only delay them.
    // Only a latency hint: a socket that refuses it still works.
    let _ = socket.set_nodelay(true);
    let mut deadlines = Deadlines::new();
    write_before(
        &mut socket,
        greeting.to_wire().as_bytes(),
        now() + limits.idle_timeout,
    )
    .await?;
    match drive(
        &mut socket,
        &mut connection,
        &store,
        &limits,
        &mut deadlines,
    )
    .await?
    {
        Ended::Done => Ok(()),
        Ended::StartTls => {
            let Some(tls) = tls else {
                // The session offers STARTTLS only with a certificate; nothing to upgrade to.
                return close(&mut socket).await;
            };
            let handshake = tls.acceptor().accept(socket);
            // A handshake is one command's worth of the client's time; a failed one ends the
            // connection, as RFC 3207 §4.1 leaves the server no way to go on in the clear.
            let Ok(Ok(mut stream)) =
                tokio::time::timeout_at(now() + limits.command_timeout, handshake).await
            else {
                return Ok(());
            };
            let mut deadlines = Deadlines::new();
            // The session refuses a second STARTTLS, so this phase can only end.
            let _ = drive(
                &mut stream,
                &mut connection,
                &store,
                &limits,
                &mut deadlines,
            )
            .await?;
            Ok(())
        }
    }
}

/// Runs the session over `stream` until it closes (closing the stream) or accepts STARTTLS.
async fn drive(
    stream: &mut impl Transport,
    connection: &mut Connection,
    store: &Store,
    limits: &Limits,
    deadlines: &mut Deadlines,
) -> std::io::Result<Ended> {
    let blocking = store.blocks()
        && tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let (deadline, why) = deadlines.next(limits, connection.in_data());
        let read = match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(read) => read?,
            Err(_) => {
                // Whatever transaction was open is dropped, never stored.
                farewell(stream, &Reply::new(421, "4.4.2", why)).await?;
                return Ok(Ended::Done);
            }
        };
        if read == 0 {
            // The client hung up; an unfinished transaction is dropped, never stored.
            break;
        }
        deadlines.last_read = now();
        let mut deliver = |envelope: Envelope| -> Result<MessageId, String> {
            let deliver = || store.deliver(envelope).map_err(|e| e.to_string());
            if blocking {
                // A synced delivery waits for the disk; the worker's other connections move
                // to another thread meanwhile.
                tokio::task::block_in_place(deliver)
            } else {
                deliver()
            }
        };
        let output = connection.receive(&buffer[..read], &mut deliver);
        if output.reply_bytes.is_empty() {
            acknowledge_now(stream.tcp());
        } else {
            // A client that does not read its replies stalls the sink's writes: it gets as
            // long as an idle one, then the connection goes.
            write_before(stream, &output.reply_bytes, now() + limits.idle_timeout).await?;
            deadlines.last_reply = now();
        }
        if output.close {
            break;
        }
        if output.start_tls {
            return Ok(Ended::StartTls);
        }
    }
    close(stream).await?;
    Ok(Ended::Done)
}

/// Sends a last reply, briefly, and closes.
async fn farewell(
    socket: &mut (impl AsyncRead + AsyncWrite + Unpin),
    reply: &Reply,
) -> std::io::Result<()> {
    write_before(socket, reply.to_wire().as_bytes(), now() + FAREWELL_TIMEOUT).await?;
    close(socket).await
}

/// Ends the sink's side, then discards what the client still sends for a bounded while, so
/// that the last reply reaches it.
async fn close(socket: &mut (impl AsyncRead + AsyncWrite + Unpin)) -> std::io::Result<()> {
    socket.shutdown().await?;
    let deadline = now() + LINGER;
    let mut discarded = 0;
    let mut buffer = [0u8; 4096];
    while discarded < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
            Ok(Ok(read)) if read > 0 => discarded += read,
            _ => break,
        }
    }
    Ok(())
}

/// Acknowledges what was just read at once instead of after the delayed-ACK timer; called
/// only after a read that got no reply (a reply carries the acknowledgement itself).
///
/// A client that writes the end of DATA (`CRLF.CRLF`) separately from the message, as lettre
/// does, has Nagle's algorithm hold that last write until the message is acknowledged; a
/// receiver that delays its ACK (it has nothing to reply yet) would then stall every message
/// for the delayed-ACK timeout (40 ms on Linux). Linux clears the option after use, so it is
/// set again after each such read.
fn acknowledge_now(socket: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Only a latency hint: a socket that refuses it still works.
        let _ = socket2::SockRef::from(socket).set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
}

/// A sink running on 127.0.0.1 on its own thread, stopped when dropped.
#[derive(Debug)]
pub struct EmbeddedSink {
    address: SocketAddr,
    store: Store,
    faults: FaultPlan,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedSink {
    /// Binds a free loopback port and starts serving, keeping messages in memory.
    pub fn start(limits: Limits) -> Result<Self, SinkError> {
        Self::start_with(limits, Store::in_memory())
    }

    /// Binds a free loopback port and starts serving into `store`.
    pub fn start_with(limits: Limits, store: Store) -> Result<Self, SinkError> {
        Self::serving(limits, store, None)
    }

    /// Binds a free loopback port and starts serving into `store`, offering `submission`
    /// (AUTH against its credentials, STARTTLS with its certificate) to live users' clients.
    pub fn start_with_submission(
        limits: Limits,
        store: Store,
        submission: Submission,
    ) -> Result<Self, SinkError> {
        Self::serving(limits, store, Some(Arc::new(submission)))
    }

    /// Binds `address` (port 0 for any free one) and starts serving into `store`, offering
    /// `submission`: `kmlab serve`'s sink, whose port real clients are told.
    pub fn start_at(
        address: SocketAddr,
        limits: Limits,
        store: Store,
        submission: Submission,
    ) -> Result<Self, SinkError> {
        Self::serving_at(address, limits, store, Some(Arc::new(submission)))
    }

    fn serving(
        limits: Limits,
        store: Store,
        submission: Option<Arc<Submission>>,
    ) -> Result<Self, SinkError> {
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::serving_at(loopback, limits, store, submission)
    }

    fn serving_at(
        address: SocketAddr,
        limits: Limits,
        store: Store,
        submission: Option<Arc<Submission>>,
    ) -> Result<Self, SinkError> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let served = store.clone();
        let faults = FaultPlan::default();
        let plan = faults.clone();
        let thread = std::thread::Builder::new()
            .name(format!("sink-{}", address.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    let shutdown = async {
                        let _ = stopped.await;
                    };
                    let _ = serve_submission(listener, served, limits, plan, submission, shutdown)
                        .await;
                });
            })?;
        Ok(Self {
            address,
            store,
            faults,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address to send to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The faults armed on the sink.
    pub fn faults(&self) -> &FaultPlan {
        &self.faults
    }

    /// What the sink has stored.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl Drop for EmbeddedSink {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    fn exchange(
        stream: &mut std::net::TcpStream,
        reader: &mut BufReader<std::net::TcpStream>,
        line: &[u8],
    ) -> String {
        stream.write_all(line).unwrap();
        let mut reply = String::new();
        loop {
            let mut l = String::new();
            reader.read_line(&mut l).unwrap();
            reply.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    #[test]
    fn embedded_sink_stores_over_a_real_socket() {
        let sink = EmbeddedSink::start(Limits::default()).unwrap();
        let mut stream = std::net::TcpStream::connect(sink.address()).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut greeting = String::new();
        reader.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("220 "));
        assert!(exchange(&mut stream, &mut reader, b"EHLO t\r\n").contains("250 HELP"));
        assert!(exchange(&mut stream, &mut reader, b"MAIL FROM:<a@x.test>\r\n").starts_with("250"));
        assert!(exchange(&mut stream, &mut reader, b"RCPT TO:<b@x.test>\r\n").starts_with("250"));
        assert!(exchange(&mut stream, &mut reader, b"DATA\r\n").starts_with("354"));
        assert!(
            exchange(
                &mut stream,
                &mut reader,
                b"Subject: t\r\n\r\n..dot\r\n.\r\n"
            )
            .starts_with("250")
        );
        assert!(exchange(&mut stream, &mut reader, b"QUIT\r\n").starts_with("221"));
        assert_eq!(
            &*sink.store().mailbox("b@x.test")[0].data().unwrap(),
            b"Subject: t\r\n\r\n.dot\r\n"
        );
    }

    #[test]
    fn a_dropped_connection_stores_nothing() {
        let sink = EmbeddedSink::start(Limits::default()).unwrap();
        {
            let mut stream = std::net::TcpStream::connect(sink.address()).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut greeting = String::new();
            reader.read_line(&mut greeting).unwrap();
            exchange(&mut stream, &mut reader, b"HELO t\r\n");
            exchange(&mut stream, &mut reader, b"MAIL FROM:<a@x.test>\r\n");
            exchange(&mut stream, &mut reader, b"RCPT TO:<b@x.test>\r\n");
            exchange(&mut stream, &mut reader, b"DATA\r\n");
            stream.write_all(b"half a message\r\n").unwrap();
        }
        // A second client is still served after the first one vanished mid-DATA.
        let mut stream = std::net::TcpStream::connect(sink.address()).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut greeting = String::new();
        reader.read_line(&mut greeting).unwrap();
        assert!(exchange(&mut stream, &mut reader, b"NOOP\r\n").starts_with("250"));
        assert!(sink.store().all().is_empty());
    }
}
