//! The POP3 server's session (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS): a sans-IO state
//! machine `Authorization → Transaction → Update` over a user's INBOX.
//!
//! Framing (lines) lives in `lines`; [`Command::parse`] gives a line its meaning;
//! [`Pop3Session`] answers it.

use crate::lines::{Line, LineBuffer};
use crate::store::{Event, Flag, FlagChange, Flags, MailboxName, Mailboxes, Protocol, Uid};
use crate::{Limits, Output};

/// What a POP3 session needs besides its input.
#[derive(Debug, Clone)]
pub struct Pop3Context {
    /// The mailboxes, their accounts, and who hears what clients do.
    pub mailboxes: Mailboxes,
    /// Line and error bounds.
    pub limits: Limits,
    /// Whether STLS can be offered (the server has a certificate).
    pub tls_available: bool,
}

/// One POP3 command, as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `CAPA`
    Capa,
    /// `USER name`
    User(String),
    /// `PASS secret`
    Pass(String),
    /// `STLS`
    Stls,
    /// `STAT`
    Stat,
    /// `LIST [n]`
    List(Option<usize>),
    /// `UIDL [n]`
    Uidl(Option<usize>),
    /// `RETR n`
    Retr(usize),
    /// `TOP n lines`
    Top(usize, usize),
    /// `DELE n`
    Dele(usize),
    /// `NOOP`
    Noop,
    /// `RSET`
    Rset,
    /// `QUIT`
    Quit,
}

impl Command {
    /// The command a line holds, or why it holds none.
    pub fn parse(line: &[u8]) -> Result<Self, &'static str> {
        let line = std::str::from_utf8(line).map_err(|_| "command is not UTF-8")?;
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let arguments: Vec<&str> = rest.split(' ').filter(|a| !a.is_empty()).collect();
        let number = |index: usize| -> Result<usize, &'static str> {
            arguments
                .get(index)
                .ok_or("missing argument")?
                .parse::<usize>()
                .map_err(|_| "argument is not a number")
        };
        let optional = || -> Result<Option<usize>, &'static str> {
            if arguments.is_empty() {
                Ok(None)
            } else {
                number(0).map(Some)
            }
        };
        match verb.to_ascii_uppercase().as_str() {
            "CAPA" => Ok(Self::Capa),
            // RFC 1939 allows spaces in neither, but a password may hold them in practice.
            "USER" if !rest.is_empty() => Ok(Self::User(rest.to_owned())),
            "PASS" if !rest.is_empty() => Ok(Self::Pass(rest.to_owned())),
            "USER" | "PASS" => Err("missing argument"),
            "STLS" => Ok(Self::Stls),
            "STAT" => Ok(Self::Stat),
            "LIST" => optional().map(Self::List),
            "UIDL" => optional().map(Self::Uidl),
            "RETR" => number(0).map(Self::Retr),
            "TOP" => Ok(Self::Top(number(0)?, number(1)?)),
            "DELE" => number(0).map(Self::Dele),
            "NOOP" => Ok(Self::Noop),
            "RSET" => Ok(Self::Rset),
            "QUIT" => Ok(Self::Quit),
            _ => Err("unknown command"),
        }
    }
}

/// One message of the maildrop, as fixed at login.
#[derive(Debug, Clone)]
struct Drop {
    uid: Uid,
    size: u64,
    deleted: bool,
}

#[derive(Debug)]
enum State {
    /// Before login; holds the name a USER gave.
    Authorization { user: Option<String> },
    /// Logged in: the maildrop as it was at login, messages numbered from 1.
    Transaction {
        user: String,
        uid_validity: u32,
        messages: Vec<Drop>,
    },
    /// QUIT or too many errors.
    Closed,
}

/// One POP3 connection, without the socket.
#[derive(Debug)]
pub struct Pop3Session {
    context: Pop3Context,
    state: State,
    lines: LineBuffer,
    errors: u32,
    tls_active: bool,
}

impl Pop3Session {
    /// A new connection and its greeting.
    pub fn new(context: Pop3Context) -> (Self, Vec<u8>) {
        let greeting = format!("+OK {} POP3 server ready\r\n", context.limits.hostname);
        (
            Self {
                context,
                state: State::Authorization { user: None },
                lines: LineBuffer::default(),
                errors: 0,
                tls_active: false,
            },
            greeting.into_bytes(),
        )
    }

    /// Tells the session TLS is now up, so STLS is no longer offered and USER is allowed.
    pub fn tls_started(&mut self) {
        self.tls_active = true;
    }

    /// Feeds bytes the client sent; returns the replies.
    pub fn receive(&mut self, input: &[u8]) -> Output {
        let mut output = Output::default();
        if matches!(self.state, State::Closed) {
            output.close = true;
            return output;
        }
        self.lines.push(input);
        while let Some(line) = self.lines.next_line(self.context.limits.max_line) {
            match line {
                Line::TooLong => self.error(&mut output, "line too long"),
                Line::Complete(line) => match Command::parse(&line) {
                    Err(why) => self.error(&mut output, why),
                    Ok(command) => self.answer(command, &mut output),
                },
            }
            if output.close || output.start_tls {
                if output.start_tls {
                    self.lines.clear();
                }
                break;
            }
        }
        output
    }

    fn error(&mut self, output: &mut Output, why: &str) {
        self.errors += 1;
        output
            .bytes
            .extend_from_slice(format!("-ERR {why}\r\n").as_bytes());
        if self.errors >= self.context.limits.max_errors {
            output
                .bytes
                .extend_from_slice(b"-ERR too many errors, closing\r\n");
            output.close = true;
            self.state = State::Closed;
        }
    }

    fn ok(output: &mut Output, text: &str) {
        output
            .bytes
            .extend_from_slice(format!("+OK {text}\r\n").as_bytes());
    }

    fn answer(&mut self, command: Command, output: &mut Output) {
        match command {
            Command::Capa => {
                let mut capabilities = String::from("+OK capability list follows\r\n");
                capabilities.push_str("TOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\n");
                if matches!(self.state, State::Authorization { .. }) {
                    if self.context.tls_available && !self.tls_active {
                        capabilities.push_str("STLS\r\n");
                    }
                    if self.login_allowed() {
                        capabilities.push_str("USER\r\n");
                    }
                }
                capabilities.push_str("IMPLEMENTATION kmlab\r\n.\r\n");
                output.bytes.extend_from_slice(capabilities.as_bytes());
            }
            Command::Quit => {
                if let State::Transaction { user, messages, .. } = &self.state {
                    match self.update(user, messages) {
                        Ok(()) => Self::ok(output, "bye"),
                        Err(why) => output
                            .bytes
                            .extend_from_slice(format!("-ERR {why}\r\n").as_bytes()),
                    }
                } else {
                    Self::ok(output, "bye");
                }
                self.state = State::Closed;
                output.close = true;
            }
            Command::Noop if matches!(self.state, State::Transaction { .. }) => {
                Self::ok(output, "");
            }
            Command::Stls => {
                if !matches!(self.state, State::Authorization { .. }) {
                    self.error(output, "STLS only before login");
                } else if !self.context.tls_available || self.tls_active {
                    self.error(output, "TLS not available");
                } else {
                    Self::ok(output, "begin TLS negotiation");
                    output.start_tls = true;
                }
            }
            Command::User(name) => match &mut self.state {
                State::Authorization { user } => {
                    if self.context.limits.require_tls_for_login && !self.tls_active {
                        let _ = user;
                        self.error(output, "[AUTH] TLS required before login");
                    } else {
                        *user = Some(name);
                        Self::ok(output, "send PASS");
                    }
                }
                _ => self.error(output, "already logged in"),
            },
            Command::Pass(password) => self.pass(&password, output),
            command => self.transaction(command, output),
        }
    }

    fn login_allowed(&self) -> bool {
        !self.context.limits.require_tls_for_login || self.tls_active
    }

    fn pass(&mut self, password: &str, output: &mut Output) {
        let State::Authorization { user } = &mut self.state else {
            return self.error(output, "already logged in");
        };
        let Some(name) = user.take() else {
            return self.error(output, "USER first");
        };
        if !self.context.mailboxes.authenticate(&name, password) {
            return self.error(output, "[AUTH] invalid user name or password");
        }
        match self.context.mailboxes.snapshot(&name, MailboxName::Inbox) {
            Ok(snapshot) => {
                self.context.mailboxes.observer.observe(Event::LoggedIn {
                    user: name.clone(),
                    protocol: Protocol::Pop3,
                });
                let messages: Vec<Drop> = snapshot
                    .messages
                    .iter()
                    .filter(|m| !m.flags.contains(Flag::Deleted))
                    .map(|m| Drop {
                        uid: m.uid,
                        size: m.size,
                        deleted: false,
                    })
                    .collect();
                Self::ok(output, &format!("{} messages", messages.len()));
                self.state = State::Transaction {
                    user: name,
                    uid_validity: snapshot.uidvalidity,
                    messages,
                };
            }
            Err(err) => self.error(output, &format!("[SYS/TEMP] {err}")),
        }
    }

    /// The commands of the TRANSACTION state.
    fn transaction(&mut self, command: Command, output: &mut Output) {
        let State::Transaction {
            user,
            uid_validity,
            messages,
        } = &mut self.state
        else {
            return self.error(output, "not logged in");
        };
        let live = |messages: &[Drop], number: usize| -> Option<usize> {
            let index = number.checked_sub(1)?;
            messages.get(index).filter(|m| !m.deleted).map(|_| index)
        };
        match command {
            Command::Stat => {
                let (count, octets) = messages
                    .iter()
                    .filter(|m| !m.deleted)
                    .fold((0usize, 0u64), |(c, o), m| (c + 1, o + m.size));
                Self::ok(output, &format!("{count} {octets}"));
            }
            Command::List(None) | Command::Uidl(None) => {
                let uidl = matches!(command, Command::Uidl(_));
                let mut text = String::from("+OK\r\n");
                for (index, m) in messages.iter().enumerate().filter(|(_, m)| !m.deleted) {
                    let value = if uidl {
                        format!("{uid_validity}.{}", m.uid)
                    } else {
                        m.size.to_string()
                    };
                    text.push_str(&format!("{} {value}\r\n", index + 1));
                }
                text.push_str(".\r\n");
                output.bytes.extend_from_slice(text.as_bytes());
            }
            Command::List(Some(number)) | Command::Uidl(Some(number)) => {
                match live(messages, number).and_then(|i| messages.get(i)) {
                    Some(m) => {
                        let value = if matches!(command, Command::Uidl(_)) {
                            format!("{uid_validity}.{}", m.uid)
                        } else {
                            m.size.to_string()
                        };
                        Self::ok(output, &format!("{number} {value}"));
                    }
                    None => self.error(output, "no such message"),
                }
            }
            Command::Retr(number) | Command::Top(number, _) => {
                let Some(m) = live(messages, number).and_then(|i| messages.get(i)) else {
                    return self.error(output, "no such message");
                };
                let uid = m.uid;
                let user = user.clone();
                let bytes = match self.context.mailboxes.read(&user, MailboxName::Inbox, uid) {
                    Ok(bytes) => bytes,
                    Err(err) => return self.error(output, &format!("[SYS/TEMP] {err}")),
                };
                let body = match command {
                    Command::Top(_, lines) => top(&bytes, lines),
                    _ => {
                        // Reading a message marks it read, as IMAP's BODY[] would.
                        let _ = self.context.mailboxes.store_flags(
                            &user,
                            MailboxName::Inbox,
                            uid,
                            FlagChange::Add(Flags::NONE.with(Flag::Seen)),
                        );
                        &bytes[..]
                    }
                };
                Self::ok(output, &format!("{} octets", bytes.len()));
                dot_stuff(body, &mut output.bytes);
                self.context.mailboxes.observer.observe(Event::Fetched {
                    user,
                    mailbox: MailboxName::Inbox,
                    uid,
                    protocol: Protocol::Pop3,
                });
            }
            Command::Dele(number) => match live(messages, number) {
                Some(index) => {
                    if let Some(m) = messages.get_mut(index) {
                        m.deleted = true;
                    }
                    Self::ok(output, "marked for deletion");
                }
                None => self.error(output, "no such message"),
            },
            Command::Rset => {
                for m in messages.iter_mut() {
                    m.deleted = false;
                }
                Self::ok(output, "");
            }
            _ => self.error(output, "not in this state"),
        }
    }

    /// The UPDATE state: messages marked with DELE leave the mailbox.
    fn update(&self, user: &str, messages: &[Drop]) -> Result<(), String> {
        let doomed: Vec<Uid> = messages
            .iter()
            .filter(|m| m.deleted)
            .map(|m| m.uid)
            .collect();
        if doomed.is_empty() {
            return Ok(());
        }
        for uid in &doomed {
            self.context
                .mailboxes
                .store_flags(
                    user,
                    MailboxName::Inbox,
                    *uid,
                    FlagChange::Add(Flags::NONE.with(Flag::Deleted)),
                )
                .map_err(|e| e.to_string())?;
        }
        self.context
            .mailboxes
            .expunge(user, MailboxName::Inbox)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The header and the first `lines` lines of the body.
fn top(message: &[u8], lines: usize) -> &[u8] {
    let body_start = crate::mime::body_offset(message);
    let mut end = body_start;
    for _ in 0..lines {
        match message
            .get(end..)
            .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        {
            Some(at) => end += at + 1,
            None => {
                end = message.len();
                break;
            }
        }
    }
    message.get(..end).unwrap_or(message)
}

/// Appends `message` as a POP3 multi-line response body: lines starting with `.` get another,
/// and the terminating `.` line follows (RFC 1939 §3).
fn dot_stuff(message: &[u8], out: &mut Vec<u8>) {
    let mut at_line_start = true;
    for &byte in message {
        if at_line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        at_line_start = byte == b'\n';
    }
    if !message.is_empty() && !message.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// Drives one POP3 session over `input` (all the bytes a client sent) and returns everything
/// the server answered, the greeting first; for fuzzing and tests.
pub fn pop3_exchange(context: Pop3Context, input: &[u8]) -> Vec<u8> {
    let (mut session, mut out) = Pop3Session::new(context);
    out.extend(session.receive(input).bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::store::{EventLog, TestMail, test_mailboxes};

    fn context() -> (Pop3Context, TestMail, Arc<EventLog>) {
        let log = Arc::new(EventLog::new());
        let store = test_mailboxes(&[b"Subject: one\r\n\r\n.hidden\r\nline 2\r\n"], log.clone());
        let context = Pop3Context {
            mailboxes: store.mailboxes.clone(),
            limits: Limits::default(),
            tls_available: false,
        };
        (context, store, log)
    }

    #[test]
    fn retr_dot_stuffs_and_dele_expunges_at_quit() {
        let (context, store, log) = context();
        let out = pop3_exchange(
            context,
            b"USER alice\r\nPASS secret\r\nSTAT\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nQUIT\r\n",
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("+OK 1 33\r\n"), "{text}");
        assert!(text.contains("1 1.1\r\n"), "{text}");
        assert!(
            text.contains("\r\n\r\n..hidden\r\nline 2\r\n.\r\n"),
            "{text}"
        );
        assert!(
            text.contains("+OK 33 octets\r\nSubject: one\r\n\r\n.\r\n"),
            "{text}"
        );
        assert!(
            store
                .snapshot("alice", MailboxName::Inbox)
                .unwrap()
                .messages
                .is_empty()
        );
        assert!(
            log.events()
                .iter()
                .any(|e| matches!(e, Event::Fetched { .. }))
        );
    }

    #[test]
    fn rubbish_gets_err_and_the_session_ends_after_too_many() {
        let (context, _, _) = context();
        let out = pop3_exchange(context, &b"FROB\r\n".repeat(30));
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("-ERR unknown command").count(), 20);
        assert!(text.ends_with("-ERR too many errors, closing\r\n"));
    }
}
