//! The network side: a tokio accept loop driving one [`Connection`] per client, and an
//! embedded sink that runs it on its own thread for the runner.

use std::future::Future;
use std::net::SocketAddr;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::faults::FaultPlan;
use crate::session::{Connection, Limits};
use crate::store::{Envelope, MessageId, Store};

/// How long a client may stay silent before the sink closes the connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Errors starting or running the sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Binding or accepting failed.
    #[error("sink socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Accepts connections on `listener` until `shutdown` completes, serving each one on its own
/// task; every connection consults `faults`.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    limits: Limits,
    faults: FaultPlan,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SinkError> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (socket, _) = match accepted {
                    Ok(pair) => pair,
                    // A client that vanished between SYN and accept is not the sink's failure.
                    Err(err) if is_transient(&err) => continue,
                    Err(err) => return Err(err.into()),
                };
                let store = store.clone();
                let limits = limits.clone();
                let faults = faults.clone();
                tokio::spawn(async move {
                    // A broken client connection ends that session only.
                    let _ = handle(socket, store, limits, faults).await;
                });
            }
        }
    }
}

fn is_transient(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::Interrupted
    )
}

async fn handle(
    mut socket: TcpStream,
    store: Store,
    limits: Limits,
    faults: FaultPlan,
) -> std::io::Result<()> {
    let (mut connection, greeting) = Connection::with_faults(limits, faults);
    socket.write_all(greeting.to_wire().as_bytes()).await?;
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let read = match tokio::time::timeout(IDLE_TIMEOUT, socket.read(&mut buffer)).await {
            Ok(read) => read?,
            Err(_) => {
                let reply =
                    crate::Reply::new(421, "4.4.2", "idle too long, closing the connection");
                socket.write_all(reply.to_wire().as_bytes()).await?;
                break;
            }
        };
        if read == 0 {
            // The client hung up; an unfinished transaction is dropped, never stored.
            break;
        }
        acknowledge_now(&socket);
        let mut deliver = |envelope: Envelope| -> Result<MessageId, String> {
            store.deliver(envelope).map_err(|e| e.to_string())
        };
        let output = connection.receive(&buffer[..read], &mut deliver);
        if !output.reply_bytes.is_empty() {
            socket.write_all(&output.reply_bytes).await?;
        }
        if output.close {
            break;
        }
    }
    socket.shutdown().await
}

/// Acknowledges what was just read at once instead of after the delayed-ACK timer.
///
/// A client that writes the end of DATA (`CRLF.CRLF`) separately from the message, as lettre
/// does, has Nagle's algorithm hold that last write until the message is acknowledged; a
/// receiver that delays its ACK (it has nothing to reply yet) would then stall every message
/// for the delayed-ACK timeout (40 ms on Linux). Linux clears the option after use, so it is
/// set again after every read.
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
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
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
                    let _ = serve(listener, served, limits, plan, shutdown).await;
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
