//! Hostile SMTP clients against the real sink over loopback: slow-loris clients, clients that
//! never read, over-long commands, a million recipients, garbage after DATA, connections
//! dropped in every state and more connections than the sink serves. Through all of it the
//! sink answers with the proper codes, stores nothing partial and keeps serving everyone else.
//! Every loop is bounded and every timeout short, so the whole file runs in seconds.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]
#![expect(
    clippy::disallowed_methods,
    reason = "timing code: these tests bound how long the sink takes to cut clients off"
)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sink::{EmbeddedSink, Limits};

/// Limits with timeouts short enough for tests; the rest as shipped.
fn quick_limits() -> Limits {
    Limits {
        idle_timeout: Duration::from_secs(5),
        command_timeout: Duration::from_secs(5),
        data_timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// A raw SMTP client.
struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    /// Connects and reads the greeting.
    fn connect(sink: &EmbeddedSink) -> Self {
        let mut client = Self::connect_silently(sink);
        let greeting = client.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }

    fn connect_silently(sink: &EmbeddedSink) -> Self {
        let stream = TcpStream::connect(sink.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Self { stream, reader }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// One whole reply (every line of a multi-line one); empty once the sink has hung up.
    fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap() == 0 {
                return reply;
            }
            reply.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    /// Sends a command line and returns the reply.
    fn command(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Sends `bytes` every 20 ms for `for_at_most` (fewer times if the sink stops reading),
    /// never going idle; returns how many times they went out.
    fn trickle(&mut self, bytes: &[u8], for_at_most: Duration) -> usize {
        let started = Instant::now();
        let mut sent = 0;
        while started.elapsed() < for_at_most && self.stream.write_all(bytes).is_ok() {
            sent += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        sent
    }

    /// Whether the sink has closed the connection (reads reach the end, or a reset).
    fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(error) => error.kind() == ErrorKind::ConnectionReset,
        }
    }

    /// A complete transaction to `to`; returns the final reply.
    fn deliver(&mut self, to: &str, body: &str) -> String {
        assert!(self.command("MAIL FROM:<sender@x.test>").starts_with("250"));
        assert!(self.command(&format!("RCPT TO:<{to}>")).starts_with("250"));
        assert!(self.command("DATA").starts_with("354"));
        self.send(format!("Subject: t\r\n\r\n{body}\r\n.\r\n").as_bytes());
        self.reply()
    }
}

/// Connects a well-behaved client, says EHLO, and delivers a message; the proof that the
/// sink still serves others.
fn a_good_client_is_served(sink: &EmbeddedSink, to: &str) {
    let mut good = Client::connect(sink);
    assert!(good.command("EHLO good.example").starts_with("250"));
    let reply = good.deliver(to, "still served");
    assert!(reply.starts_with("250 2.0.0 OK"), "{reply}");
    assert!(good.command("QUIT").starts_with("221"));
}

#[test]
fn a_client_that_trickles_a_command_is_cut_off_by_the_command_timeout() {
    let sink = EmbeddedSink::start(Limits {
        command_timeout: Duration::from_millis(400),
        ..quick_limits()
    })
    .unwrap();
    let mut loris = Client::connect(&sink);
    let started = Instant::now();
    // A byte at a time keeps the connection from ever being idle, and never ends a line.
    let sent = loris.trickle(b"X", Duration::from_millis(900));
    let reply = loris.reply();
    assert_eq!(
        reply,
        "421 4.4.2 command took too long, closing the connection\r\n"
    );
    assert!(loris.is_closed());
    assert!(sent > 10, "the client was still sending when cut off");
    assert!(started.elapsed() < Duration::from_secs(3));
    a_good_client_is_served(&sink, "b@x.test");
    assert_eq!(sink.store().all().len(), 1);
}

#[test]
fn a_silent_client_is_cut_off_by_the_idle_timeout() {
    let sink = EmbeddedSink::start(Limits {
        idle_timeout: Duration::from_millis(300),
        ..quick_limits()
    })
    .unwrap();
    let mut silent = Client::connect(&sink);
    assert!(silent.command("HELO c").starts_with("250"));
    let started = Instant::now();
    assert_eq!(
        silent.reply(),
        "421 4.4.2 idle too long, closing the connection\r\n"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(silent.is_closed());
}

#[test]
fn a_client_that_trickles_message_data_is_cut_off_and_nothing_is_stored() {
    let sink = EmbeddedSink::start(Limits {
        data_timeout: Duration::from_millis(500),
        ..quick_limits()
    })
    .unwrap();
    let mut loris = Client::connect(&sink);
    assert!(loris.command("HELO c").starts_with("250"));
    assert!(loris.command("MAIL FROM:<a@x.test>").starts_with("250"));
    assert!(loris.command("RCPT TO:<b@x.test>").starts_with("250"));
    assert!(loris.command("DATA").starts_with("354"));
    // Whole, valid lines, just never the final dot.
    loris.trickle(b"more data\r\n", Duration::from_millis(1000));
    assert_eq!(
        loris.reply(),
        "421 4.4.2 data section took too long, closing the connection\r\n"
    );
    assert!(loris.is_closed());
    assert!(sink.store().all().is_empty());
    a_good_client_is_served(&sink, "b@x.test");
}

#[test]
fn a_client_that_never_reads_its_replies_is_dropped() {
    let sink = EmbeddedSink::start(Limits {
        idle_timeout: Duration::from_millis(300),
        ..quick_limits()
    })
    .unwrap();
    let mut deaf = Client::connect_silently(&sink);
    deaf.stream
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // Pipelined NOOPs whose replies pile up unread until the sink's writes stall.
    let chunk = b"NOOP\r\n".repeat(10_000);
    let started = Instant::now();
    let mut written = 0usize;
    let error = loop {
        match deaf.stream.write(&chunk) {
            Ok(n) => written += n,
            Err(error) => break error,
        }
        assert!(
            written < 512 << 20,
            "the sink kept reading from a client that never reads"
        );
    };
    assert!(
        matches!(
            error.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        ),
        "the sink should have dropped the connection: {error}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    a_good_client_is_served(&sink, "b@x.test");
}

#[test]
fn ten_thousand_character_commands_get_500_and_the_session_goes_on() {
    let sink = EmbeddedSink::start(quick_limits()).unwrap();
    let mut client = Client::connect(&sink);
    let long = "a".repeat(10_000);
    assert_eq!(
        client.command(&format!("HELO {long}")),
        "500 5.5.6 command line too long\r\n"
    );
    assert!(client.command("HELO c").starts_with("250"));
    assert!(client.command("MAIL FROM:<a@x.test>").starts_with("250"));
    assert_eq!(
        client.command(&format!("RCPT TO:<{long}@x.test>")),
        "500 5.5.6 command line too long\r\n"
    );
    // The same line in small pieces is refused once, not once per piece.
    for piece in format!("RCPT TO:<{long}@x.test>").as_bytes().chunks(700) {
        client.send(piece);
        std::thread::sleep(Duration::from_millis(1));
    }
    client.send(b"\r\n");
    assert_eq!(client.reply(), "500 5.5.6 command line too long\r\n");
    // A 10,000-character line without any line end, then a normal command.
    client.send(long.as_bytes());
    client.send(b"\r\nRCPT TO:<b@x.test>\r\n");
    assert_eq!(client.reply(), "500 5.5.6 command line too long\r\n");
    assert!(client.reply().starts_with("250 2.1.5"));
    assert!(client.command("DATA").starts_with("354"));
    client.send(b"Subject: t\r\n\r\nbody\r\n.\r\n");
    assert!(client.reply().starts_with("250 2.0.0"));
    let stored = sink.store().all();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].recipients, ["b@x.test"]);
}

/// Sends `lines` pipelined from a second thread while this one reads the reply codes, until
/// the sink hangs up.
fn pipeline(stream: &TcpStream, lines: impl Iterator<Item = Vec<u8>> + Send + 'static) -> Vec<u16> {
    let mut writer = stream.try_clone().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(64 * 1024);
        for line in lines {
            batch.extend_from_slice(&line);
            if batch.len() >= 60 * 1024 {
                if writer.write_all(&batch).is_err() {
                    return;
                }
                batch.clear();
            }
        }
        let _ = writer.write_all(&batch);
        let _ = writer.shutdown(std::net::Shutdown::Write);
    });
    let mut codes = Vec::new();
    let mut reader = BufReader::with_capacity(256 * 1024, stream.try_clone().unwrap());
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.get(3) == Some(&b' ') {
            let code = std::str::from_utf8(&line[..3]).unwrap().parse().unwrap();
            codes.push(code);
        }
    }
    feeder.join().unwrap();
    codes
}

fn recipient(n: u32) -> Vec<u8> {
    format!("RCPT TO:<r{n}@x.test>\r\n").into_bytes()
}

fn count(codes: &[u16], code: u16) -> usize {
    codes.iter().filter(|&&c| c == code).count()
}

#[test]
fn a_million_recipients_are_refused_with_452_and_then_cut_off() {
    let sink = EmbeddedSink::start(quick_limits()).unwrap();
    let client = Client::connect(&sink);
    let started = Instant::now();
    let lines = std::iter::once(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\n".to_vec())
        .chain((0..1_000_000).map(recipient));
    let (codes, growth) = kmlab_tests::memory::peak_growth(|| pipeline(&client.stream, lines));
    let limits = Limits::default();
    // EHLO and MAIL, the recipients the limit allows, the refusals the overshoot forgives,
    // then one more refusal per error the session tolerates before the final 421.
    assert_eq!(count(&codes, 250), 2 + limits.max_recipients);
    assert_eq!(
        count(&codes, 452),
        limits.recipient_overshoot + limits.max_errors as usize + 1
    );
    assert_eq!(codes.last(), Some(&421));
    assert_eq!(
        codes.len(),
        2 + limits.max_recipients + count(&codes, 452) + 1
    );
    assert!(sink.store().all().is_empty());
    // About 25 MB of commands went in and 30 MB of replies came out; none of it stays.
    assert!(growth < 16 << 20, "peak memory grew by {growth} bytes");
    assert!(started.elapsed() < Duration::from_secs(30));
    a_good_client_is_served(&sink, "b@x.test");
}

#[test]
fn a_million_recipients_in_one_transaction_keep_the_first_hundred_in_bounded_memory() {
    // A sink told to forgive every refusal reads all million, keeps a hundred.
    let sink = EmbeddedSink::start(Limits {
        recipient_overshoot: usize::MAX,
        ..quick_limits()
    })
    .unwrap();
    let client = Client::connect(&sink);
    let lines = std::iter::once(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\n".to_vec())
        .chain((0..1_000_000).map(recipient))
        .chain(std::iter::once(
            b"DATA\r\nSubject: many\r\n\r\nhi\r\n.\r\nQUIT\r\n".to_vec(),
        ));
    let (codes, growth) = kmlab_tests::memory::peak_growth(|| pipeline(&client.stream, lines));
    assert_eq!(count(&codes, 452), 1_000_000 - 100);
    assert_eq!(count(&codes, 250), 2 + 100 + 1);
    assert_eq!(&codes[codes.len() - 3..], [354, 250, 221]);
    let stored = sink.store().all();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].recipients.len(), 100);
    assert_eq!(stored[0].recipients[99], "r99@x.test");
    // About 25 MB of commands went in and 30 MB of replies came out; none of it stays.
    assert!(growth < 16 << 20, "peak memory grew by {growth} bytes");
}

#[test]
fn garbage_pipelined_after_a_refused_data_is_answered_as_commands_and_cut_off() {
    let sink = EmbeddedSink::start(quick_limits()).unwrap();
    let client = Client::connect(&sink);
    // The only recipient is refused, so DATA is refused and the message that follows is read
    // as commands: every line an error, until the sink has heard enough.
    let mut lines =
        vec![b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<nobody>\r\nDATA\r\n".to_vec()];
    lines.extend((0..1000).map(|n| format!("garbage line {n} \u{1}\u{7f}\r\n").into_bytes()));
    lines.push(b".\r\n".to_vec());
    let codes = pipeline(&client.stream, lines.into_iter());
    let limits = Limits::default();
    assert_eq!(&codes[..4], [250, 250, 501, 503]);
    assert_eq!(codes.len(), 2 + limits.max_errors as usize + 2);
    assert_eq!(codes.last(), Some(&421));
    assert!(sink.store().all().is_empty());
    a_good_client_is_served(&sink, "b@x.test");
}

#[test]
fn garbage_pipelined_after_a_message_leaves_that_message_stored_once() {
    let sink = EmbeddedSink::start(quick_limits()).unwrap();
    let client = Client::connect(&sink);
    let mut garbage: Vec<u8> = Vec::new();
    garbage.extend_from_slice(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n");
    garbage.extend_from_slice(b"Subject: kept\r\n\r\nbody\r\n.\r\n");
    // Binary noise, bare line ends, NULs, a long line and a second DATA without a transaction.
    garbage.extend((0..=255u8).cycle().take(20_000));
    garbage.extend_from_slice(b"\n\n\r\r\0\0\r\nDATA\r\nx\r\n.\r\n");
    garbage.extend(std::iter::repeat_n(b'z', 5000));
    garbage.extend_from_slice(b"\r\n");
    let codes = pipeline(&client.stream, std::iter::once(garbage));
    assert_eq!(&codes[..5], [250, 250, 250, 354, 250]);
    assert_eq!(codes.last(), Some(&421));
    assert!(codes[5..codes.len() - 1].iter().all(|&code| code >= 500));
    let stored = sink.store().all();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        &*stored[0].data().unwrap(),
        b"Subject: kept\r\n\r\nbody\r\n"
    );
    a_good_client_is_served(&sink, "b@x.test");
}

#[test]
fn connections_dropped_in_every_state_store_nothing_and_others_are_served() {
    let sink = EmbeddedSink::start(quick_limits()).unwrap();
    // A patient client with a transaction open through all of it.
    let mut patient = Client::connect(&sink);
    assert!(patient.command("EHLO patient.example").starts_with("250"));
    assert!(patient.command("MAIL FROM:<p@x.test>").starts_with("250"));
    assert!(patient.command("RCPT TO:<kept@x.test>").starts_with("250"));
    // Each case: the whole commands sent and answered, then the partial bytes the client
    // sends just before it vanishes.
    let greeted = "EHLO c\r\n";
    let sender = "EHLO c\r\nMAIL FROM:<a@x.test>\r\n";
    let recipient = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<lost@x.test>\r\n";
    let data = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<lost@x.test>\r\nDATA\r\n";
    let cases: &[(&str, usize, &[u8])] = &[
        ("", 0, b""),
        ("", 0, b"EHL"),
        (greeted, 1, b""),
        (greeted, 1, b"MAIL FROM:<a@x.te"),
        (sender, 2, b""),
        (sender, 2, b"RCPT TO:<lost@x"),
        (recipient, 3, b""),
        (recipient, 3, b"DA"),
        (data, 4, b""),
        (data, 4, b"Subject: lost\r\n\r\npartial li"),
        (data, 4, b"Subject: lost\r\n\r\nwhole line\r\n"),
        (data, 4, b"Subject: lost\r\n\r\nwhole line\r\n."),
        (data, 4, b"Subject: lost\r\n\r\nwhole line\r\n.\r"),
    ];
    for (commands, replies, partial) in cases {
        for abrupt in [false, true] {
            let mut vanishing = Client::connect(&sink);
            vanishing.send(commands.as_bytes());
            for _ in 0..*replies {
                assert!(!vanishing.reply().is_empty());
            }
            vanishing.send(partial);
            if abrupt {
                // Unread replies make the close a reset rather than an orderly FIN.
                vanishing.send(b"NOOP\r\nNOOP\r\n");
                std::thread::sleep(Duration::from_millis(20));
            } else {
                vanishing.stream.shutdown(std::net::Shutdown::Both).unwrap();
            }
            drop(vanishing);
            // The patient client is still answered between every drop.
            assert!(patient.command("NOOP").starts_with("250"));
        }
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(sink.store().all().is_empty(), "{:?}", sink.store().all());
    assert!(patient.command("DATA").starts_with("354"));
    patient.send(b"Subject: kept\r\n\r\nkept\r\n.\r\n");
    assert!(patient.reply().starts_with("250 2.0.0"));
    let stored = sink.store().all();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].recipients, ["kept@x.test"]);
}

#[test]
fn more_connections_than_the_sink_serves_get_421_and_a_freed_slot_is_served() {
    let sink = EmbeddedSink::start(Limits {
        max_connections: 3,
        ..quick_limits()
    })
    .unwrap();
    let mut held: Vec<Client> = (0..3).map(|_| Client::connect(&sink)).collect();
    let mut turned_away = Client::connect_silently(&sink);
    assert_eq!(
        turned_away.reply(),
        "421 4.7.0 too many connections, try again later\r\n"
    );
    assert!(turned_away.is_closed());
    assert!(held[0].command("QUIT").starts_with("221"));
    held.remove(0);
    // The slot frees once the sink has finished with the connection.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = Client::connect_silently(&sink);
        let greeting = next.reply();
        if greeting.starts_with("220 ") {
            assert!(next.command("NOOP").starts_with("250"));
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free: {greeting}");
        std::thread::sleep(Duration::from_millis(20));
    }
    for client in &mut held {
        assert!(client.command("NOOP").starts_with("250"));
    }
}
