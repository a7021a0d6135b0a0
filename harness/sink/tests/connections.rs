//! The per-client connection cap over real loopback sockets (SMTP-06).
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};

use sink::{EmbeddedSink, Limits};

/// Connects from `local` (any address in 127.0.0.0/8 is this host) and returns the first line
/// the sink says.
fn first_line(sink: SocketAddr, local: [u8; 4]) -> (TcpStream, String) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&SocketAddr::from((local, 0)).into()).unwrap();
    socket.connect(&sink.into()).unwrap();
    let stream: TcpStream = socket.into();
    let mut line = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    (stream, line)
}

/// Issue 15: 100 idle connections from one host took every slot of the sink.
#[test]
fn one_client_past_its_cap_hears_421_while_another_is_served() {
    let sink = EmbeddedSink::start(Limits {
        max_connections_per_client: 2,
        ..Limits::default()
    })
    .unwrap();
    let greedy = [127, 0, 0, 1];
    let (first, greeting) = first_line(sink.address(), greedy);
    assert!(greeting.starts_with("220 "), "{greeting}");
    let (_second, greeting) = first_line(sink.address(), greedy);
    assert!(greeting.starts_with("220 "), "{greeting}");
    let (_third, refused) = first_line(sink.address(), greedy);
    assert_eq!(
        refused,
        "421 4.7.0 too many connections from your address, try again later\r\n"
    );
    let (_other, greeting) = first_line(sink.address(), [127, 0, 0, 2]);
    assert!(greeting.starts_with("220 "), "{greeting}");
    // A slot the client gives back is its own again.
    drop(first);
    let mut greeting = String::new();
    for _ in 0..50 {
        let (_again, line) = first_line(sink.address(), greedy);
        greeting = line;
        if greeting.starts_with("220 ") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(greeting.starts_with("220 "), "{greeting}");
}
