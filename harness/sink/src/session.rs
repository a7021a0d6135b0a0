//! The SMTP session: a state machine that turns framed input into replies and deliveries.
//!
//! [`Connection`] is sans-IO: it is fed the bytes a client sent and returns the bytes to send
//! back, calling a delivery function when a message is complete. The server drives it over a
//! socket; tests and fuzzers drive it directly.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::command::{self, Command, CommandError, Credentials, Mechanism, SaslResponse};
use crate::faults::{self, Effect, FaultPlan};
use crate::framing::{CommandLine, DataEnd, DataProblem, DataReader, Inbound};
use crate::reply::Reply;
use crate::store::{Envelope, MessageId};
use crate::tls::TlsConfig;

/// What the sink offers a mail client that submits as a user (LIVE-03): `AUTH PLAIN LOGIN`
/// (RFC 4954) against these credentials and, with a certificate, `STARTTLS` (RFC 3207).
/// Without one, the sink offers neither and answers both with 502, as it always has.
///
/// AUTH is offered over plaintext too: the sink listens on loopback only.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    /// Login → password.
    pub credentials: BTreeMap<String, String>,
    /// The certificate STARTTLS presents; `None` offers no STARTTLS.
    pub tls: Option<TlsConfig>,
    /// Whether MAIL needs a successful AUTH first (`530 5.7.0 Authentication required`).
    pub require_auth: bool,
}

impl Submission {
    /// Whether `credentials` name a known login with its password, for itself (a PLAIN
    /// authorization identity other than the login is refused: no one submits as another).
    fn accepts(&self, credentials: &Credentials) -> bool {
        (credentials.authorize_as.is_empty() || credentials.authorize_as == credentials.login)
            && self
                .credentials
                .get(&credentials.login)
                .is_some_and(|password| *password == credentials.password)
    }
}

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

/// An AUTH exchange waiting for the client's next response line.
#[derive(Debug)]
enum AuthStep {
    /// PLAIN without an initial response: the credentials come next.
    Plain,
    /// LOGIN: the user name comes next.
    LoginUser,
    /// LOGIN: the password for `login` comes next.
    LoginPassword { login: String },
}

/// The result of feeding bytes to a connection.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Output {
    /// Bytes to send to the client.
    pub reply_bytes: Vec<u8>,
    /// Whether the server must close the connection after sending them.
    pub close: bool,
    /// Whether the server must start TLS after sending them (STARTTLS was accepted); the
    /// session has already dropped whatever the client pipelined after the command and
    /// stands reset, as RFC 3207 §4.2 asks.
    pub start_tls: bool,
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
    submission: Option<Arc<Submission>>,
    /// The login a successful AUTH proved, recorded with each message sent after it.
    authenticated: Option<String>,
    auth_step: Option<AuthStep>,
    tls_active: bool,
    /// STARTTLS was just accepted: nothing more is read before the server starts TLS.
    starting_tls: bool,
}

impl Connection {
    /// A new connection and the greeting to send first.
    pub fn new(limits: Limits) -> (Self, Reply) {
        Self::with_faults(limits, FaultPlan::default())
    }

    /// A new connection that consults `faults` (SMTP-03), and the greeting to send first.
    pub fn with_faults(limits: Limits, faults: FaultPlan) -> (Self, Reply) {
        Self::with_submission(limits, faults, None)
    }

    /// A new connection that also offers `submission` (AUTH, STARTTLS) when given one, and
    /// the greeting to send first.
    pub fn with_submission(
        limits: Limits,
        faults: FaultPlan,
        submission: Option<Arc<Submission>>,
    ) -> (Self, Reply) {
        let greeting = Reply::plain(220, format!("{} ESMTP kmlab sink ready", limits.hostname));
        (
            Self {
                limits,
                state: State::ExpectHelo,
                inbound: Inbound::default(),
                errors: 0,
                faults,
                submission,
                authenticated: None,
                auth_step: None,
                tls_active: false,
                starting_tls: false,
            },
            greeting,
        )
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// The login a successful AUTH proved in this session, if any.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// Whether TLS is up (STARTTLS was accepted).
    pub fn tls_active(&self) -> bool {
        self.tls_active
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
            if std::mem::take(&mut self.starting_tls) && !self.is_closed() {
                // RFC 3207 §4.2 and the STARTTLS command-injection attacks: whatever came in
                // the clear after STARTTLS is never taken as if it came over TLS.
                self.inbound.discard();
                output.start_tls = true;
                break;
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
                // A response line that broke the limits ends the AUTH exchange with it.
                self.auth_step = None;
                return Reply::new(500, "5.5.6", "command line too long");
            }
            CommandLine::BareLineFeed => {
                self.auth_step = None;
                return Reply::new(500, "5.5.2", "command line must end with CRLF");
            }
        };
        if let Some(step) = self.auth_step.take() {
            return self.auth_response(step, &line);
        }
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

    /// STARTTLS, with submission configured (RFC 3207).
    fn start_tls(&mut self, state: State, argument: &str) -> (State, Reply) {
        let offered = self
            .submission
            .as_ref()
            .is_some_and(|submission| submission.tls.is_some());
        if !offered {
            return (state, Reply::new(502, "5.5.1", "STARTTLS not offered"));
        }
        if !argument.is_empty() {
            return (
                state,
                Reply::new(501, "5.5.4", "STARTTLS takes no argument"),
            );
        }
        if self.tls_active {
            return (state, Reply::new(503, "5.5.1", "TLS already active"));
        }
        if matches!(state, State::ExpectRcpt { .. }) {
            return (
                state,
                Reply::new(
                    503,
                    "5.5.1",
                    "STARTTLS not permitted during a mail transaction",
                ),
            );
        }
        // RFC 3207 §4.2: the client must greet again and everything learnt in the clear
        // (an AUTH included) is forgotten.
        self.tls_active = true;
        self.starting_tls = true;
        self.authenticated = None;
        (
            State::ExpectHelo,
            Reply::new(220, "2.0.0", "ready to start TLS"),
        )
    }

    /// AUTH, with submission configured (RFC 4954 §4).
    fn auth(
        &mut self,
        state: State,
        mechanism: &str,
        initial_response: Option<&str>,
    ) -> (State, Reply) {
        let refusal = match &state {
            State::ExpectHelo => Some(Reply::new(503, "5.5.1", "send EHLO first")),
            State::ExpectRcpt { .. } => Some(Reply::new(
                503,
                "5.5.1",
                "AUTH not permitted during a mail transaction",
            )),
            _ if self.authenticated.is_some() => {
                Some(Reply::new(503, "5.5.1", "already authenticated"))
            }
            _ if mechanism.is_empty() => Some(Reply::new(501, "5.5.4", "AUTH needs a mechanism")),
            _ => None,
        };
        if let Some(reply) = refusal {
            return (state, reply);
        }
        let Some(mechanism) = Mechanism::parse(mechanism) else {
            return (
                state,
                Reply::new(504, "5.5.4", "mechanism not supported; try PLAIN or LOGIN"),
            );
        };
        let reply = match (mechanism, initial_response) {
            (Mechanism::Plain, None) => {
                self.auth_step = Some(AuthStep::Plain);
                Reply::plain(334, "")
            }
            (Mechanism::Login, None) => {
                self.auth_step = Some(AuthStep::LoginUser);
                username_challenge()
            }
            (Mechanism::Plain, Some(response)) => {
                self.auth_response(AuthStep::Plain, response.as_bytes())
            }
            (Mechanism::Login, Some(response)) => {
                self.auth_response(AuthStep::LoginUser, response.as_bytes())
            }
        };
        (state, reply)
    }

    /// One response line of an AUTH exchange; sets the next step if another is due.
    fn auth_response(&mut self, step: AuthStep, line: &[u8]) -> Reply {
        let decoded = match command::sasl_response(line) {
            Ok(SaslResponse::Cancel) => {
                return Reply::new(501, "5.7.0", "authentication cancelled");
            }
            Ok(SaslResponse::Data(decoded)) => decoded,
            Err(why) => return Reply::new(501, "5.5.2", why.to_string()),
        };
        let credentials = match step {
            AuthStep::Plain => command::plain_credentials(&decoded),
            AuthStep::LoginUser => {
                return match command::login_text(decoded) {
                    Ok(login) => {
                        self.auth_step = Some(AuthStep::LoginPassword { login });
                        Reply::plain(334, "UGFzc3dvcmQ6")
                    }
                    Err(why) => Reply::new(501, "5.5.2", why.to_string()),
                };
            }
            AuthStep::LoginPassword { login } => {
                command::login_text(decoded).map(|password| Credentials {
                    authorize_as: String::new(),
                    login,
                    password,
                })
            }
        };
        let credentials = match credentials {
            Ok(credentials) => credentials,
            Err(why) => return Reply::new(501, "5.5.2", why.to_string()),
        };
        if self
            .submission
            .as_ref()
            .is_some_and(|submission| submission.accepts(&credentials))
        {
            self.authenticated = Some(credentials.login);
            Reply::new(235, "2.7.0", "authentication successful")
        } else {
            Reply::new(535, "5.7.8", "authentication credentials invalid")
        }
    }

    /// The state machine proper: every (state, command) pair and where it leads.
    fn transition(&mut self, state: State, command: Command) -> (State, Reply) {
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
            (state, command @ (Command::StartTls { .. } | Command::Auth { .. }))
                if self.submission.is_none() =>
            {
                (
                    state,
                    Reply::new(502, "5.5.1", format!("{} not implemented", command.verb())),
                )
            }
            (state, Command::StartTls { argument }) => self.start_tls(state, &argument),
            (
                state,
                Command::Auth {
                    mechanism,
                    initial_response,
                },
            ) => self.auth(state, &mechanism, initial_response.as_deref()),
            (ExpectHelo, Command::Rset) => (ExpectHelo, Reply::new(250, "2.0.0", "OK")),
            (_, Command::Rset) => (ExpectMail, Reply::new(250, "2.0.0", "OK")),
            (ExpectHelo, _) => (
                ExpectHelo,
                Reply::new(503, "5.5.1", "send HELO or EHLO first"),
            ),
            (ExpectMail, Command::Mail { .. })
                if self.authenticated.is_none()
                    && self
                        .submission
                        .as_ref()
                        .is_some_and(|submission| submission.require_auth) =>
            {
                (
                    ExpectMail,
                    Reply::new(530, "5.7.0", "Authentication required"),
                )
            }
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
        let mut lines = vec![
            format!("{} greets {domain}", self.limits.hostname),
            "PIPELINING".into(),
            format!("SIZE {}", self.limits.max_message_size),
            "8BITMIME".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if let Some(submission) = &self.submission {
            if submission.tls.is_some() && !self.tls_active {
                lines.push("STARTTLS".into());
            }
            lines.push("AUTH PLAIN LOGIN".into());
        }
        lines.push("HELP".into());
        Reply::multiline(250, lines)
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
                authenticated: self.authenticated.clone(),
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

/// LOGIN's first challenge: `Username:` in base64.
fn username_challenge() -> Reply {
    Reply::plain(334, "VXNlcm5hbWU6")
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

    fn submission(require_auth: bool) -> Harness {
        let submission = Submission {
            credentials: [("bob".to_owned(), "secret".to_owned())].into(),
            tls: None,
            require_auth,
        };
        Harness {
            connection: Connection::with_submission(
                Limits::default(),
                FaultPlan::default(),
                Some(Arc::new(submission)),
            )
            .0,
            delivered: Vec::new(),
        }
    }

    /// `\0bob\0secret`
    const PLAIN_BOB: &str = "AGJvYgBzZWNyZXQ=";

    #[test]
    fn without_submission_ehlo_offers_neither_auth_nor_starttls_and_both_get_502() {
        let mut h = Harness::new(Limits::default());
        let ehlo = h.send(b"EHLO c\r\n");
        assert!(
            !ehlo.contains("AUTH") && !ehlo.contains("STARTTLS"),
            "{ehlo}"
        );
        assert_eq!(
            h.send(b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nSTARTTLS\r\n"),
            "502 5.5.1 AUTH not implemented\r\n502 5.5.1 STARTTLS not implemented\r\n"
        );
    }

    #[test]
    fn auth_plain_records_the_login_with_the_message() {
        let mut h = submission(true);
        let ehlo = h.send(b"EHLO c\r\n");
        assert!(ehlo.contains("250-AUTH PLAIN LOGIN\r\n"), "{ehlo}");
        // No certificate, no STARTTLS.
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_eq!(
            h.send(b"MAIL FROM:<bob@x.test>\r\n"),
            "530 5.7.0 Authentication required\r\n"
        );
        assert_eq!(
            h.send(format!("AUTH PLAIN {PLAIN_BOB}\r\n").as_bytes()),
            "235 2.7.0 authentication successful\r\n"
        );
        assert_eq!(h.connection.authenticated(), Some("bob"));
        assert_eq!(h.codes(TRANSACTION), [250, 250, 354, 250]);
        assert_eq!(h.delivered[0].authenticated.as_deref(), Some("bob"));
        assert_eq!(
            h.codes(format!("AUTH PLAIN {PLAIN_BOB}\r\n").as_bytes()),
            [503]
        );
    }

    #[test]
    fn auth_plain_and_login_ask_for_what_they_need() {
        let mut h = submission(false);
        assert_eq!(
            h.send(b"EHLO c\r\nAUTH PLAIN\r\n"),
            format!("{}334 \r\n", {
                let mut other = submission(false);
                other.send(b"EHLO c\r\n")
            })
        );
        assert_eq!(h.codes(format!("{PLAIN_BOB}\r\n").as_bytes()), [235]);
        let mut h = submission(false);
        assert_eq!(h.codes(b"EHLO c\r\n"), [250]);
        assert_eq!(h.send(b"AUTH LOGIN\r\n"), "334 VXNlcm5hbWU6\r\n");
        assert_eq!(h.send(b"Ym9i\r\n"), "334 UGFzc3dvcmQ6\r\n");
        assert_eq!(h.codes(b"c2VjcmV0\r\n"), [235]);
        assert_eq!(h.connection.authenticated(), Some("bob"));
        // LOGIN with the user name as its initial response, as some clients send it.
        let mut h = submission(false);
        assert_eq!(
            h.send(b"EHLO c\r\nAUTH LOGIN Ym9i\r\n").lines().last(),
            Some("334 UGFzc3dvcmQ6")
        );
        assert_eq!(h.codes(b"c2VjcmV0\r\n"), [235]);
    }

    #[test]
    fn auth_failures_get_their_codes() {
        let mut h = submission(false);
        assert_eq!(h.codes(b"AUTH PLAIN\r\n"), [503]);
        assert_eq!(h.codes(b"EHLO c\r\n"), [250]);
        // `\0bob\0wrong`
        assert_eq!(
            h.send(b"AUTH PLAIN AGJvYgB3cm9uZw==\r\n"),
            "535 5.7.8 authentication credentials invalid\r\n"
        );
        // Someone else's identity with bob's password: `alice\0bob\0secret`.
        assert_eq!(h.codes(b"AUTH PLAIN YWxpY2UAYm9iAHNlY3JldA==\r\n"), [535]);
        assert_eq!(h.codes(b"AUTH PLAIN !!!\r\n"), [501]);
        assert_eq!(h.codes(b"AUTH LOGIN\r\n*\r\n"), [334, 501]);
        assert_eq!(h.codes(b"AUTH CRAM-MD5\r\n"), [504]);
        assert_eq!(h.codes(b"AUTH\r\n"), [501]);
        assert_eq!(
            h.codes(b"MAIL FROM:<a@x.test>\r\nAUTH PLAIN\r\nRSET\r\n"),
            [250, 503, 250]
        );
        assert_eq!(h.codes(b"STARTTLS\r\n"), [502]);
        assert!(h.connection.authenticated().is_none());
        // After all that, the session still works, and did not need AUTH for it.
        assert_eq!(h.codes(TRANSACTION), [250, 250, 354, 250]);
        assert_eq!(h.delivered[0].authenticated, None);
    }

    #[test]
    fn wrong_passwords_count_towards_the_error_limit() {
        let limits = Limits {
            max_errors: 2,
            ..Limits::default()
        };
        let submission = Submission {
            credentials: [("bob".to_owned(), "secret".to_owned())].into(),
            ..Submission::default()
        };
        let mut h = Harness {
            connection: Connection::with_submission(
                limits,
                FaultPlan::default(),
                Some(Arc::new(submission)),
            )
            .0,
            delivered: Vec::new(),
        };
        let replies = h.send(b"EHLO c\r\nAUTH PLAIN AGJvYgB3cm9uZw==\r\nAUTH PLAIN AGJvYgB3cm9uZw==\r\nAUTH PLAIN AGJvYgB3cm9uZw==\r\n");
        assert!(
            replies.ends_with("421 4.7.0 too many errors, closing the connection\r\n"),
            "{replies}"
        );
        assert!(h.connection.is_closed());
    }

    fn test_tls() -> TlsConfig {
        let certified = rcgen::generate_simple_self_signed(vec!["sink.kmlab.test".into()]).unwrap();
        TlsConfig::new(
            &[certified.cert.der().to_vec()],
            &certified.signing_key.serialize_der(),
        )
        .unwrap()
    }

    #[test]
    fn starttls_resets_the_session_and_drops_what_was_pipelined_in_the_clear() {
        let submission = Submission {
            credentials: [("bob".to_owned(), "secret".to_owned())].into(),
            tls: Some(test_tls()),
            require_auth: false,
        };
        let (connection, _) = Connection::with_submission(
            Limits::default(),
            FaultPlan::default(),
            Some(Arc::new(submission)),
        );
        let mut h = Harness {
            connection,
            delivered: Vec::new(),
        };
        let ehlo = h.send(b"EHLO c\r\n");
        assert!(ehlo.contains("250-STARTTLS\r\n"), "{ehlo}");
        assert_eq!(
            h.codes(format!("AUTH PLAIN {PLAIN_BOB}\r\n").as_bytes()),
            [235]
        );
        assert_eq!(h.codes(b"STARTTLS now\r\n"), [501]);
        let mut deliver = |_: Envelope| Ok(MessageId(1));
        let output = h
            .connection
            .receive(b"STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n", &mut deliver);
        assert_eq!(output.reply_bytes, b"220 2.0.0 ready to start TLS\r\n");
        assert!(output.start_tls && !output.close);
        assert!(h.connection.tls_active());
        // RFC 3207 §4.2: the AUTH from before is forgotten and the client greets again; the
        // MAIL that came with STARTTLS was never read.
        assert!(h.connection.authenticated().is_none());
        assert_eq!(h.codes(b"MAIL FROM:<a@x.test>\r\n"), [503]);
        let ehlo = h.send(b"EHLO c\r\n");
        assert!(
            !ehlo.contains("STARTTLS") && ehlo.contains("AUTH PLAIN LOGIN"),
            "{ehlo}"
        );
        assert_eq!(h.codes(b"STARTTLS\r\n"), [503]);
    }
}
