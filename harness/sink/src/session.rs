//! The SMTP session: a state machine that turns framed input into replies and deliveries.
//!
//! [`Connection`] is sans-IO: it is fed the bytes a client sent and returns the bytes to send
//! back, calling a delivery function when a message is complete. The server drives it over a
//! socket; tests and fuzzers drive it directly.

use std::time::Duration;

use crate::command::{self, Command, CommandError};
use crate::faults::{self, Effect, FaultPlan};
use crate::framing::{CommandLine, DataEnd, DataProblem, DataReader, Inbound};
use crate::reply::Reply;
use crate::store::{Envelope, MessageId};

/// The limits a session enforces (SMTP-04).
#[derive(Debug, Clone)]
pub struct Limits {
    /// The host name in the greeting and EHLO reply.
    pub hostname: String,
    /// Largest message accepted, in bytes (advertised with SIZE).
    pub max_message_size: usize,
    /// Longest text line in DATA, including CRLF (RFC 5321 §4.5.3.1.6: 1000).
    pub max_data_line: usize,
    /// Longest command line, including CRLF (RFC 5321 §4.5.3.1.4: 512).
    pub max_command_line: usize,
    /// Most recipients per message (RFC 5321 §4.5.3.1.8 asks servers to take at least 100).
    pub max_recipients: usize,
    /// Recipients past `max_recipients` that are refused with 452 without counting as session
    /// errors. RFC 5321 §4.5.3.1.10 expects a client to send the rest in a later transaction,
    /// so a few refusals are normal; beyond this many each one counts towards `max_errors`
    /// (Postfix's `smtpd_recipient_overshoot_limit`).
    pub recipient_overshoot: usize,
    /// Errors tolerated in one session before it is closed with 421.
    pub max_errors: u32,
    /// The longest a client may send nothing at all before the server closes the connection
    /// with 421 (RFC 5321 §4.5.3.2.7 asks for at least 5 minutes).
    pub idle_timeout: Duration,
    /// The longest a client may take to complete its next command line after the server's
    /// last reply, however it trickles the bytes in: a client that sends a byte now and then
    /// never goes idle, but it does run out of this.
    pub command_timeout: Duration,
    /// The longest a whole DATA section may take, from the 354 reply to the final dot
    /// (RFC 5321 §4.5.3.2.6 gives the client 10 minutes to hear the answer).
    pub data_timeout: Duration,
    /// Most connections served at once; a client beyond them hears 421 and is disconnected.
    pub max_connections: usize,
    /// Most connections served at once for one client address, so that one host cannot take
    /// every slot; a connection beyond them hears `421 4.7.0 too many connections from your
    /// address` and is disconnected, while other clients are still served (SMTP-06).
    pub max_connections_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            hostname: "sink.kmlab.test".into(),
            max_message_size: 64 * 1024 * 1024,
            max_data_line: 1000,
            max_command_line: 512,
            max_recipients: 100,
            recipient_overshoot: 1000,
            max_errors: 20,
            idle_timeout: Duration::from_secs(5 * 60),
            command_timeout: Duration::from_secs(5 * 60),
            data_timeout: Duration::from_secs(10 * 60),
            max_connections: 100,
            // Half of all slots, as Postfix's smtpd_client_connection_count_limit is half its
            // default process limit.
            max_connections_per_client: 50,
        }
    }
}

/// Where the session stands.
#[derive(Debug)]
enum State {
    /// Greeted; waiting for HELO or EHLO.
    ExpectHelo,
    /// Between transactions.
    ExpectMail,
    /// MAIL accepted; collecting recipients.
    ExpectRcpt {
        from: String,
        recipients: Vec<String>,
        /// Recipients refused so far because the message already has `max_recipients`.
        overshoot: usize,
    },
    /// Reading message data.
    Data {
        from: String,
        recipients: Vec<String>,
        reader: DataReader,
        /// A scripted fault this message sets off.
        fault: Option<Effect>,
    },
    /// QUIT or a fatal error: nothing more is read.
    Closed,
}

/// The result of feeding bytes to a connection.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Bytes to send to the client.
    pub reply_bytes: Vec<u8>,
    /// Whether the server must close the connection after sending them.
    pub close: bool,
}

/// Delivers a complete message and returns its identifier, or why it could not be stored.
pub type Deliver<'a> = dyn FnMut(Envelope) -> Result<MessageId, String> + 'a;

/// One SMTP connection, without the socket.
#[derive(Debug)]
pub struct Connection {
    limits: Limits,
    state: State,
    inbound: Inbound,
    errors: u32,
    faults: FaultPlan,
}

impl Connection {
    /// A new connection and the greeting to send first.
    pub fn new(limits: Limits) -> (Self, Reply) {
        Self::with_faults(limits, FaultPlan::default())
    }

    /// A new connection that consults `faults` (SMTP-03), and the greeting to send first.
    pub fn with_faults(limits: Limits, faults: FaultPlan) -> (Self, Reply) {
        let greeting = Reply::plain(220, format!("{} ESMTP kmlab sink ready", limits.hostname));
        (
            Self {
                limits,
                state: State::ExpectHelo,
                inbound: Inbound::default(),
                errors: 0,
                faults,
            },
            greeting,
        )
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether the session is inside a DATA section.
    pub fn in_data(&self) -> bool {
        matches!(self.state, State::Data { .. })
    }

    /// Feeds bytes from the client and answers every complete command in them, in order
    /// (PIPELINING).
    pub fn receive(&mut self, bytes: &[u8], deliver: &mut Deliver<'_>) -> Output {
        self.inbound.push(bytes);
        let mut output = Output::default();
        loop {
            if self.is_closed() {
                output.close = true;
                break;
            }
            if let State::Data {
                fault: Some(Effect::Drop),
                ..
            } = &self.state
            {
                // A scripted drop: the connection goes away once message data arrives.
                if !self.inbound.is_empty() {
                    self.state = State::Closed;
                    output.close = true;
                }
                break;
            }
            let reply = if let State::Data { reader, .. } = &mut self.state {
                match self.inbound.next_data(reader) {
                    Some(end) => self.finish_data(end, deliver),
                    None => break,
                }
            } else {
                match self.inbound.next_command(self.limits.max_command_line) {
                    Some(line) => self.command_line(line),
                    None => break,
                }
            };
            if self.counts_as_error(&reply) {
                self.errors += 1;
            }
            output
                .reply_bytes
                .extend_from_slice(reply.to_wire().as_bytes());
            if self.errors > self.limits.max_errors && !self.is_closed() {
                let closing = Reply::new(421, "4.7.0", "too many errors, closing the connection");
                output
                    .reply_bytes
                    .extend_from_slice(closing.to_wire().as_bytes());
                self.state = State::Closed;
            }
        }
        output
    }

    /// Whether `reply`, just given, counts towards `max_errors`. A recipient refused for the
    /// per-message limit does not, up to `recipient_overshoot` of them in one transaction.
    fn counts_as_error(&self, reply: &Reply) -> bool {
        if reply.code < 400 || reply.code == 421 {
            return false;
        }
        match &self.state {
            State::ExpectRcpt { overshoot, .. } if *reply == too_many_recipients() => {
                *overshoot > self.limits.recipient_overshoot
            }
            _ => true,
        }
    }

    fn command_line(&mut self, line: CommandLine) -> Reply {
        let line = match line {
            CommandLine::Line(line) => line,
            CommandLine::TooLong => {
                return Reply::new(500, "5.5.6", "command line too long");
            }
            CommandLine::BareLineFeed => {
                return Reply::new(500, "5.5.2", "command line must end with CRLF");
            }
        };
        match command::parse(&line) {
            Ok(command) => match self.faults.on_command(command.verb()) {
                Some(Effect::Reply(code)) => self.fault_reply(code),
                _ => self.command(command),
            },
            Err(CommandError::Unrecognized) => Reply::new(500, "5.5.1", "command not recognized"),
            Err(CommandError::Syntax(text)) => Reply::new(501, "5.5.4", text),
            Err(CommandError::BadAddress) => Reply::new(501, "5.1.3", "bad address syntax"),
            Err(CommandError::UnsupportedParameter(param)) => {
                Reply::new(555, "5.5.4", format!("parameter {param} not supported"))
            }
        }
    }

    /// The reply of a scripted fault; 421 also ends the session.
    fn fault_reply(&mut self, code: u16) -> Reply {
        if code == 421 {
            self.state = State::Closed;
        }
        faults::reply(code)
    }

    fn command(&mut self, command: Command) -> Reply {
        let state = std::mem::replace(&mut self.state, State::Closed);
        let (next, reply) = self.transition(state, command);
        self.state = next;
        reply
    }

    /// The state machine proper: every (state, command) pair and where it leads.
    fn transition(&self, state: State, command: Command) -> (State, Reply) {
        use State::{ExpectHelo, ExpectMail, ExpectRcpt};
        match (state, command) {
            (_, Command::Quit) => (State::Closed, Reply::new(221, "2.0.0", "bye")),
            (_, Command::Helo(domain)) => (
                ExpectMail,
                Reply::plain(250, format!("{} greets {domain}", self.limits.hostname)),
            ),
            (_, Command::Ehlo(domain)) => (ExpectMail, self.ehlo_reply(&domain)),
            (state, Command::Noop) => (state, Reply::new(250, "2.0.0", "OK")),
            (state, Command::Vrfy) => (
                state,
                Reply::new(252, "2.5.0", "cannot VRFY user, but will accept message"),
            ),
            (state, Command::Help) => (
                state,
                Reply::new(
                    214,
                    "2.0.0",
                    "commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP",
                ),
            ),
            (state, Command::NotImplemented(verb)) => (
                state,
                Reply::new(502, "5.5.1", format!("{verb} not implemented")),
            ),
            (ExpectHelo, Command::Rset) => (ExpectHelo, Reply::new(250, "2.0.0", "OK")),
            (_, Command::Rset) => (ExpectMail, Reply::new(250, "2.0.0", "OK")),
            (ExpectHelo, _) => (
                ExpectHelo,
                Reply::new(503, "5.5.1", "send HELO or EHLO first"),
            ),
            (ExpectMail, Command::Mail { from, size }) => match size {
                Some(size) if size > self.limits.max_message_size as u64 => (
                    ExpectMail,
                    Reply::new(
                        552,
                        "5.3.4",
                        "message size exceeds fixed maximum message size",
                    ),
                ),
                _ => (
                    ExpectRcpt {
                        from,
                        recipients: Vec::new(),
                        overshoot: 0,
                    },
                    Reply::new(250, "2.1.0", "sender OK"),
                ),
            },
            (ExpectMail, Command::Rcpt(_)) => {
                (ExpectMail, Reply::new(503, "5.5.1", "need MAIL first"))
            }
            (ExpectMail, Command::Data) => {
                (ExpectMail, Reply::new(503, "5.5.1", "need MAIL first"))
            }
            (state @ ExpectRcpt { .. }, Command::Mail { .. }) => {
                (state, Reply::new(503, "5.5.1", "sender already given"))
            }
            (
                ExpectRcpt {
                    from,
                    mut recipients,
                    overshoot,
                },
                Command::Rcpt(to),
            ) => {
                if let Some(Effect::Reply(code)) = self.faults.on_recipient(&to) {
                    let next = if code == 421 {
                        State::Closed
                    } else {
                        ExpectRcpt {
                            from,
                            recipients,
                            overshoot,
                        }
                    };
                    (next, faults::reply(code))
                } else if recipients.len() >= self.limits.max_recipients {
                    (
                        ExpectRcpt {
                            from,
                            recipients,
                            overshoot: overshoot.saturating_add(1),
                        },
                        too_many_recipients(),
                    )
                } else {
                    recipients.push(to);
                    (
                        ExpectRcpt {
                            from,
                            recipients,
                            overshoot,
                        },
                        Reply::new(250, "2.1.5", "recipient OK"),
                    )
                }
            }
            (
                ExpectRcpt {
                    from,
                    recipients,
                    overshoot,
                },
                Command::Data,
            ) if recipients.is_empty() => (
                ExpectRcpt {
                    from,
                    recipients,
                    overshoot,
                },
                Reply::new(503, "5.5.1", "need RCPT first"),
            ),
            (
                ExpectRcpt {
                    from, recipients, ..
                },
                Command::Data,
            ) => {
                let reader =
                    DataReader::new(self.limits.max_message_size, self.limits.max_data_line);
                (
                    State::Data {
                        from,
                        recipients,
                        reader,
                        fault: self.faults.on_message(),
                    },
                    Reply::plain(354, "end data with <CR><LF>.<CR><LF>"),
                )
            }
            // Commands are never read while in DATA or after close; keep the state as it is.
            (state @ (State::Data { .. } | State::Closed), _) => {
                (state, Reply::new(503, "5.5.1", "bad sequence of commands"))
            }
        }
    }

    fn ehlo_reply(&self, domain: &str) -> Reply {
        Reply::multiline(
            250,
            vec![
                format!("{} greets {domain}", self.limits.hostname),
                "PIPELINING".into(),
                format!("SIZE {}", self.limits.max_message_size),
                "8BITMIME".into(),
                "ENHANCEDSTATUSCODES".into(),
                "HELP".into(),
            ],
        )
    }

    fn finish_data(&mut self, end: DataEnd, deliver: &mut Deliver<'_>) -> Reply {
        let State::Data {
            from,
            recipients,
            fault,
            ..
        } = std::mem::replace(&mut self.state, State::ExpectMail)
        else {
            return Reply::new(503, "5.5.1", "bad sequence of commands");
        };
        if let (Some(Effect::Reply(code)), DataEnd::Complete(_)) = (fault, &end) {
            // The message arrived whole, but the script says the server fails it: nothing is
            // stored, and the client hears the scripted code.
            return self.fault_reply(code);
        }
        match end {
            DataEnd::Complete(data) => match deliver(Envelope {
                from,
                recipients,
                data: data.into(),
            }) {
                Ok(id) => Reply::new(250, "2.0.0", format!("OK: queued as {id}")),
                Err(why) => Reply::new(451, "4.3.0", format!("message not stored: {why}")),
            },
            DataEnd::Refused(problem) => match problem {
                DataProblem::Smuggling => Reply::new(
                    550,
                    "5.6.11",
                    "message refused: bare LF before '.' (the <LF>.<CR><LF> smuggling pattern)",
                ),
                DataProblem::SmugglingCarriageReturn => Reply::new(
                    550,
                    "5.6.11",
                    "message refused: bare CR before '.' (the <CR>.<CR><LF> smuggling pattern)",
                ),
                DataProblem::BareLineFeed => {
                    Reply::new(550, "5.6.11", "message refused: bare LF in data")
                }
                DataProblem::BareCarriageReturn => {
                    Reply::new(550, "5.6.11", "message refused: bare CR in data")
                }
                DataProblem::LineTooLong => Reply::new(
                    550,
                    "5.6.0",
                    format!(
                        "message refused: line longer than {} octets",
                        self.limits.max_data_line
                    ),
                ),
                DataProblem::TooBig => Reply::new(
                    552,
                    "5.3.4",
                    "message size exceeds fixed maximum message size",
                ),
            },
        }
    }
}

/// RFC 5321 §4.5.3.1.10: a server that has its fill of recipients answers 452.
fn too_many_recipients() -> Reply {
    Reply::new(452, "4.5.3", "too many recipients")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Harness {
        connection: Connection,
        delivered: Vec<Envelope>,
    }

    impl Harness {
        fn new(limits: Limits) -> Self {
            Self::with_faults(limits, FaultPlan::default())
        }

        fn with_faults(limits: Limits, faults: FaultPlan) -> Self {
            Self {
                connection: Connection::with_faults(limits, faults).0,
                delivered: Vec::new(),
            }
        }

        fn send(&mut self, bytes: &[u8]) -> String {
            let delivered = &mut self.delivered;
            let mut deliver = |envelope: Envelope| {
                delivered.push(envelope);
                Ok(MessageId(delivered.len() as u64))
            };
            let output = self.connection.receive(bytes, &mut deliver);
            String::from_utf8(output.reply_bytes).unwrap()
        }

        fn codes(&mut self, bytes: &[u8]) -> Vec<u16> {
            self.send(bytes)
                .lines()
                .filter(|line| line.as_bytes().get(3) == Some(&b' '))
                .map(|line| line[..3].parse().unwrap())
                .collect()
        }
    }

    #[test]
    fn a_pipelined_transaction_is_stored_once() {
        let mut h = Harness::new(Limits::default());
        let codes = h.codes(
            b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
        );
        assert_eq!(codes, [250, 250, 250, 250, 354, 250, 221]);
        assert_eq!(h.delivered.len(), 1);
        assert_eq!(h.delivered[0].recipients, ["b@x.test", "c@x.test"]);
        assert_eq!(&*h.delivered[0].data, b"hi\r\n");
        assert!(h.connection.is_closed());
    }

    #[test]
    fn sequence_errors_get_503() {
        let mut h = Harness::new(Limits::default());
        assert_eq!(h.codes(b"MAIL FROM:<a@x.test>\r\n"), [503]);
        assert_eq!(
            h.codes(b"HELO c\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"),
            [250, 503, 503]
        );
        assert_eq!(
            h.codes(b"MAIL FROM:<a@x.test>\r\nDATA\r\nMAIL FROM:<a@x.test>\r\n"),
            [250, 503, 503]
        );
    }

    #[test]
    fn rset_aborts_and_stores_nothing() {
        let mut h = Harness::new(Limits::default());
        assert_eq!(
            h.codes(b"HELO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRSET\r\n"),
            [250, 250, 250, 250]
        );
        assert_eq!(h.codes(b"DATA\r\n"), [503]);
        assert!(h.delivered.is_empty());
    }

    #[test]
    fn smuggled_end_of_data_is_refused_and_nothing_is_stored() {
        let mut h = Harness::new(Limits::default());
        let codes = h.codes(
            b"HELO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nx\n.\r\nMAIL FROM:<e@x.test>\r\n.\r\n",
        );
        assert_eq!(codes, [250, 250, 250, 354, 550]);
        assert!(h.delivered.is_empty());
    }

    #[test]
    fn limits_answer_with_their_codes() {
        let limits = Limits {
            max_recipients: 2,
            max_message_size: 100,
            ..Limits::default()
        };
        let mut h = Harness::new(limits);
        assert_eq!(
            h.codes(b"HELO c\r\nMAIL FROM:<a@x.test> SIZE=1000\r\n"),
            [250, 552]
        );
        assert_eq!(
            h.codes(b"MAIL FROM:<a@x.test>\r\nRCPT TO:<1@x.test>\r\nRCPT TO:<2@x.test>\r\nRCPT TO:<3@x.test>\r\n"),
            [250, 250, 250, 452]
        );
        let mut big = b"DATA\r\n".to_vec();
        big.extend(std::iter::repeat_n(b"0123456789\r\n".as_slice(), 20).flatten());
        big.extend_from_slice(b".\r\n");
        assert_eq!(h.codes(&big), [354, 552]);
        assert!(h.delivered.is_empty());
    }

    #[test]
    fn recipients_past_the_limit_get_452_and_only_a_flood_of_them_closes_the_session() {
        let limits = Limits {
            max_recipients: 2,
            recipient_overshoot: 3,
            max_errors: 2,
            ..Limits::default()
        };
        let mut h = Harness::new(limits);
        let rcpts = |n: usize| -> Vec<u8> {
            (0..n)
                .flat_map(|i| format!("RCPT TO:<r{i}@x.test>\r\n").into_bytes())
                .collect()
        };
        assert_eq!(h.codes(b"HELO c\r\nMAIL FROM:<a@x.test>\r\n"), [250, 250]);
        // Two accepted, three refused without counting as errors: the client sends the
        // message to the first two and may send it again to the rest.
        assert_eq!(h.codes(&rcpts(5)), [250, 250, 452, 452, 452]);
        assert_eq!(h.codes(b"DATA\r\nhi\r\n.\r\n"), [354, 250]);
        assert_eq!(h.delivered[0].recipients, ["r0@x.test", "r1@x.test"]);
        // A client that keeps going past the overshoot is counted and then cut off.
        assert_eq!(h.codes(b"MAIL FROM:<a@x.test>\r\n"), [250]);
        assert_eq!(
            h.codes(&rcpts(100)),
            [250, 250, 452, 452, 452, 452, 452, 452, 421]
        );
        assert!(h.connection.is_closed());
        assert_eq!(h.delivered.len(), 1);
    }

    #[test]
    fn too_many_errors_close_the_session() {
        let limits = Limits {
            max_errors: 3,
            ..Limits::default()
        };
        let mut h = Harness::new(limits);
        let reply = h.send(b"X\r\nX\r\nX\r\nX\r\nNOOP\r\n");
        assert!(
            reply.ends_with("421 4.7.0 too many errors, closing the connection\r\n"),
            "{reply}"
        );
        assert!(h.connection.is_closed());
    }

    const TRANSACTION: &[u8] = b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nhi\r\n.\r\n";

    fn faulty(trigger: crate::faults::Trigger, effect: Effect, times: u32) -> Harness {
        let plan = FaultPlan::default();
        plan.arm(crate::faults::Fault {
            trigger,
            effect,
            times,
        });
        Harness::with_faults(Limits::default(), plan)
    }

    #[test]
    fn a_faulted_message_is_answered_with_its_code_and_not_stored() {
        let mut h = faulty(crate::faults::Trigger::Message(1), Effect::Reply(451), 1);
        assert_eq!(h.codes(b"HELO c\r\n"), [250]);
        assert_eq!(h.codes(TRANSACTION), [250, 250, 354, 451]);
        assert!(h.delivered.is_empty());
        // The retry gets through, once.
        assert_eq!(h.codes(TRANSACTION), [250, 250, 354, 250]);
        assert_eq!(h.delivered.len(), 1);
    }

    #[test]
    fn a_scripted_drop_closes_mid_data_without_a_reply() {
        let mut h = faulty(crate::faults::Trigger::Message(1), Effect::Drop, 1);
        let mut deliver = |_: Envelope| Ok(MessageId(1));
        let output = h.connection.receive(
            b"HELO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nhalf",
            &mut deliver,
        );
        let replies = String::from_utf8(output.reply_bytes).unwrap();
        assert!(
            replies.ends_with("354 end data with <CR><LF>.<CR><LF>\r\n"),
            "{replies}"
        );
        assert!(output.close);
        assert!(h.connection.is_closed());
    }

    #[test]
    fn recipient_and_command_faults_answer_where_they_are_set() {
        let mut h = faulty(
            crate::faults::Trigger::Recipient("b@x.test".into()),
            Effect::Reply(550),
            1,
        );
        assert_eq!(
            h.codes(b"HELO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n"),
            [250, 250, 550, 503]
        );
        let mut h = faulty(
            crate::faults::Trigger::Command("MAIL".into()),
            Effect::Reply(421),
            1,
        );
        assert_eq!(
            h.codes(b"HELO c\r\nMAIL FROM:<a@x.test>\r\nNOOP\r\n"),
            [250, 421]
        );
        assert!(h.connection.is_closed());
    }
}
