//! The IMAP4rev1 server's session (RFC 3501, with IDLE from RFC 2177): a sans-IO state
//! machine `NotAuthenticated → Authenticated → Selected → Logout` that decodes commands and
//! encodes responses with imap-codec.
//!
//! Framing — finding where a command ends, asking for literals with `+`, bounding lines and
//! literals — is in this module; what FETCH items and SEARCH keys mean is in `fetch` and
//! `search`.

mod fetch;
mod search;

use std::num::NonZeroU32;

use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::encode::Encoder;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{LiteralMode, NonEmptyVec, QuotedChar, Tag, Text};
use imap_codec::imap_types::fetch::MacroOrMessageDataItemNames;
use imap_codec::imap_types::flag::{Flag, FlagNameAttribute, FlagPerm, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::{
    Capability, Code, CommandContinuationRequest, Data, Response, Status,
};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::{CommandCodec, ResponseCodec};

use crate::store::{
    Event, Flag as StoreFlag, FlagChange, Flags, InternalDate, MailboxName, Mailboxes, Protocol,
    Snapshot, Uid,
};
use crate::{Limits, Output};

/// What an IMAP session needs besides its input.
#[derive(Debug, Clone)]
pub struct ImapContext {
    /// The mailboxes, their accounts, and who hears what clients do.
    pub mailboxes: Mailboxes,
    /// Line, literal and error bounds.
    pub limits: Limits,
    /// Whether STARTTLS can be offered (the server has a certificate).
    pub tls_available: bool,
}

/// The open mailbox: message sequence numbers are positions in `uids`.
#[derive(Debug)]
struct Selection {
    mailbox: MailboxName,
    read_only: bool,
    uids: Vec<Uid>,
}

#[derive(Debug)]
enum State {
    NotAuthenticated,
    Authenticated { user: String },
    Selected { user: String, selection: Selection },
    Logout,
}

/// A command that spans more than one client line.
#[derive(Debug)]
enum Pending {
    None,
    /// AUTHENTICATE PLAIN sent `+` and waits for the credentials line.
    Authenticate {
        tag: String,
    },
    /// IDLE sent `+` and waits for DONE.
    Idle {
        tag: String,
    },
}

/// One IMAP connection, without the socket.
#[derive(Debug)]
pub struct ImapSession {
    context: ImapContext,
    state: State,
    pending: Pending,
    buffer: Vec<u8>,
    /// Where the command in `buffer` continues after its literals that are already agreed to:
    /// the end of the last literal's data.
    scan_from: usize,
    /// Literals of the current command the session already answered `+` to (by where their
    /// data starts), so a re-decode does not ask again.
    literals: Vec<usize>,
    literal_total: usize,
    /// Discarding the rest of an overlong line.
    skipping: bool,
    errors: u32,
    tls_active: bool,
}

impl ImapSession {
    /// A new connection and its greeting.
    pub fn new(context: ImapContext) -> (Self, Vec<u8>) {
        let session = Self {
            context,
            state: State::NotAuthenticated,
            pending: Pending::None,
            buffer: Vec::new(),
            scan_from: 0,
            literals: Vec::new(),
            literal_total: 0,
            skipping: false,
            errors: 0,
            tls_active: false,
        };
        let mut greeting = Output::default();
        let capabilities = session.capabilities();
        let text = format!("{} IMAP4rev1 server ready", session.context.limits.hostname);
        untagged_status(
            &mut greeting,
            StatusKind::Ok,
            Code::capability(capabilities).ok(),
            &text,
        );
        (session, greeting.bytes)
    }

    /// Tells the session TLS is now up.
    pub fn tls_started(&mut self) {
        self.tls_active = true;
    }

    /// Whether the client is in IDLE, so the server should call [`ImapSession::poll`] now
    /// and then.
    pub fn idling(&self) -> bool {
        matches!(self.pending, Pending::Idle { .. })
    }

    /// During IDLE, reports what changed in the selected mailbox since the last look.
    pub fn poll(&mut self) -> Output {
        let mut output = Output::default();
        if self.idling() {
            self.report_changes(&mut output);
        }
        output
    }

    /// Feeds bytes the client sent; returns the replies.
    pub fn receive(&mut self, input: &[u8]) -> Output {
        let mut output = Output::default();
        if matches!(self.state, State::Logout) {
            output.close = true;
            return output;
        }
        self.buffer.extend_from_slice(input);
        while !output.close && !output.start_tls {
            let progressed = match self.pending {
                Pending::None => self.next_command(&mut output),
                _ => self.continuation_line(&mut output),
            };
            if !progressed {
                break;
            }
            if self.errors >= self.context.limits.max_errors {
                untagged_status(&mut output, StatusKind::Bye, None, "too many errors");
                output.close = true;
                self.state = State::Logout;
            }
        }
        if output.start_tls {
            self.buffer.clear();
            self.reset_command();
        }
        output
    }

    fn reset_command(&mut self) {
        self.scan_from = 0;
        self.literals.clear();
        self.literal_total = 0;
    }

    /// Takes one line (for AUTHENTICATE and IDLE); false when none is complete yet.
    fn take_line(&mut self) -> Option<Result<Vec<u8>, ()>> {
        let max = self.context.limits.max_line;
        match self.buffer.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() + 2 > max {
                    Some(Err(()))
                } else {
                    Some(Ok(line))
                }
            }
            None if self.buffer.len() + 2 > max => {
                self.buffer.clear();
                self.skipping = true;
                Some(Err(()))
            }
            None => None,
        }
    }

    fn continuation_line(&mut self, output: &mut Output) -> bool {
        let Some(line) = self.take_line() else {
            return false;
        };
        match std::mem::replace(&mut self.pending, Pending::None) {
            Pending::Idle { tag } => match line {
                Ok(line) if line.eq_ignore_ascii_case(b"DONE") => {
                    self.report_changes(output);
                    tagged_status(output, StatusKind::Ok, &tag, None, "IDLE terminated");
                }
                _ => {
                    self.errors += 1;
                    tagged_status(output, StatusKind::Bad, &tag, None, "expected DONE");
                }
            },
            Pending::Authenticate { tag } => match line {
                Ok(line) if line == b"*" => {
                    tagged_status(
                        output,
                        StatusKind::Bad,
                        &tag,
                        None,
                        "authentication cancelled",
                    );
                }
                Ok(line) => {
                    use base64::Engine as _;
                    match base64::engine::general_purpose::STANDARD.decode(&line) {
                        Ok(credentials) => self.authenticate_plain(&tag, &credentials, output),
                        Err(_) => {
                            self.errors += 1;
                            tagged_status(output, StatusKind::Bad, &tag, None, "not base64");
                        }
                    }
                }
                Err(()) => {
                    self.errors += 1;
                    tagged_status(output, StatusKind::Bad, &tag, None, "line too long");
                }
            },
            Pending::None => {}
        }
        true
    }

    /// Decodes and answers one command; false when more input is needed first.
    fn next_command(&mut self, output: &mut Output) -> bool {
        if self.skipping {
            match self.buffer.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    self.buffer.drain(..=end);
                    self.skipping = false;
                }
                None => {
                    self.buffer.clear();
                    return false;
                }
            }
        }
        if self.buffer.is_empty() {
            return false;
        }
        let max_line = self.context.limits.max_line;
        let line_end = self
            .buffer
            .get(self.scan_from..)
            .and_then(|rest| rest.windows(2).position(|w| w == b"\r\n"))
            .map(|at| self.scan_from + at);
        let line_length =
            line_end.unwrap_or(self.buffer.len()) - self.scan_from.min(self.buffer.len());
        if line_length + 2 > max_line {
            self.errors += 1;
            match line_end {
                Some(end) => {
                    self.buffer.drain(..end + 2);
                }
                None => {
                    self.buffer.clear();
                    self.skipping = true;
                }
            }
            self.reset_command();
            untagged_status(output, StatusKind::Bad, None, "line too long");
            return true;
        }
        let data = std::mem::take(&mut self.buffer);
        let decoded = CommandCodec::new().decode(&data);
        match decoded {
            Ok((rest, command)) => {
                let consumed = data.len() - rest.len();
                self.reset_command();
                self.handle(command, output);
                if !output.start_tls {
                    self.buffer = data.get(consumed..).unwrap_or_default().to_vec();
                }
                true
            }
            Err(CommandDecodeError::Incomplete) => {
                self.buffer = data;
                false
            }
            Err(CommandDecodeError::LiteralFound { tag, length, mode }) => {
                let tag = tag.as_ref().to_owned();
                let Some(end) = line_end else {
                    self.buffer = data;
                    return false;
                };
                let start = end + 2;
                let length = usize::try_from(length).unwrap_or(usize::MAX);
                if self.literals.contains(&start) {
                    self.buffer = data;
                    return false;
                }
                if self.literal_total.saturating_add(length) > self.context.limits.max_literal {
                    self.errors += 1;
                    self.buffer = data.get(start..).unwrap_or_default().to_vec();
                    self.reset_command();
                    tagged_status(output, StatusKind::Bad, &tag, None, "literal too large");
                    // A non-synchronizing literal's data follows anyway and is read as
                    // commands; it earns BADs, never a store.
                    return true;
                }
                self.literals.push(start);
                self.literal_total += length;
                self.scan_from = start.saturating_add(length);
                if mode == LiteralMode::Sync {
                    output
                        .bytes
                        .extend_from_slice(b"+ Ready for literal data\r\n");
                }
                self.buffer = data;
                // The data may already be here (a non-synchronizing literal): decode again.
                self.buffer.len() >= self.scan_from
            }
            Err(CommandDecodeError::Failed) => {
                self.errors += 1;
                let end = line_end.map_or(data.len(), |end| end + 2);
                let tag = data
                    .split(|&b| b == b' ')
                    .next()
                    .filter(|t| Tag::try_from(*t).is_ok())
                    .map(|t| String::from_utf8_lossy(t).into_owned());
                self.buffer = data.get(end..).unwrap_or_default().to_vec();
                self.reset_command();
                match tag {
                    Some(tag) => tagged_status(
                        output,
                        StatusKind::Bad,
                        &tag,
                        None,
                        "command not understood",
                    ),
                    None => {
                        untagged_status(output, StatusKind::Bad, None, "command not understood")
                    }
                }
                true
            }
        }
    }

    fn capabilities(&self) -> Vec<Capability<'static>> {
        let mut capabilities = vec![Capability::Imap4Rev1];
        let authenticated = !matches!(self.state, State::NotAuthenticated);
        if !authenticated {
            if self.context.tls_available && !self.tls_active {
                capabilities.push(Capability::StartTls);
            }
            if self.login_disabled() {
                capabilities.push(Capability::LoginDisabled);
            } else {
                capabilities.push(Capability::Auth(AuthMechanism::Plain));
            }
        }
        capabilities.push(Capability::Idle);
        capabilities
    }

    fn login_disabled(&self) -> bool {
        self.context.limits.require_tls_for_login && !self.tls_active
    }

    fn user(&self) -> Option<&str> {
        match &self.state {
            State::Authenticated { user } | State::Selected { user, .. } => Some(user),
            _ => None,
        }
    }

    fn handle(&mut self, command: Command<'_>, output: &mut Output) {
        let tag = command.tag.as_ref().to_owned();
        match command.body {
            CommandBody::Capability => {
                if let Ok(data) = Data::capability(self.capabilities()) {
                    send(output, Response::Data(data));
                }
                tagged_status(output, StatusKind::Ok, &tag, None, "CAPABILITY completed");
            }
            CommandBody::Noop | CommandBody::Check => {
                self.report_changes(output);
                tagged_status(output, StatusKind::Ok, &tag, None, "completed");
            }
            CommandBody::Logout => {
                untagged_status(output, StatusKind::Bye, None, "logging out");
                tagged_status(output, StatusKind::Ok, &tag, None, "LOGOUT completed");
                self.state = State::Logout;
                output.close = true;
            }
            CommandBody::StartTLS => {
                if !matches!(self.state, State::NotAuthenticated) {
                    tagged_status(output, StatusKind::Bad, &tag, None, "already authenticated");
                } else if !self.context.tls_available || self.tls_active {
                    tagged_status(output, StatusKind::No, &tag, None, "TLS not available");
                } else {
                    tagged_status(
                        output,
                        StatusKind::Ok,
                        &tag,
                        None,
                        "begin TLS negotiation now",
                    );
                    output.start_tls = true;
                }
            }
            CommandBody::Login { username, password } => {
                if !matches!(self.state, State::NotAuthenticated) {
                    return tagged_status(output, StatusKind::Bad, &tag, None, "already logged in");
                }
                if self.login_disabled() {
                    return tagged_status(output, StatusKind::No, &tag, None, "use STARTTLS first");
                }
                let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                self.login(&tag, user, &password, output);
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } => {
                if !matches!(self.state, State::NotAuthenticated) {
                    return tagged_status(output, StatusKind::Bad, &tag, None, "already logged in");
                }
                if self.login_disabled() {
                    return tagged_status(output, StatusKind::No, &tag, None, "use STARTTLS first");
                }
                if mechanism != AuthMechanism::Plain {
                    return tagged_status(
                        output,
                        StatusKind::No,
                        &tag,
                        None,
                        "only PLAIN is offered",
                    );
                }
                match initial_response {
                    Some(credentials) => {
                        let credentials = credentials.declassify().to_vec();
                        self.authenticate_plain(&tag, &credentials, output);
                    }
                    None => {
                        send(
                            output,
                            Response::CommandContinuationRequest(
                                CommandContinuationRequest::base64(b"".as_ref()),
                            ),
                        );
                        self.pending = Pending::Authenticate { tag };
                    }
                }
            }
            body => {
                let Some(user) = self.user().map(str::to_owned) else {
                    return tagged_status(output, StatusKind::Bad, &tag, None, "log in first");
                };
                self.authenticated(&tag, &user, body, output);
            }
        }
    }

    fn authenticate_plain(&mut self, tag: &str, credentials: &[u8], output: &mut Output) {
        // RFC 4616: authorization identity, NUL, user, NUL, password.
        let fields: Vec<&[u8]> = credentials.split(|&b| b == 0).collect();
        let [authorize, user, password] = fields[..] else {
            self.errors += 1;
            return tagged_status(
                output,
                StatusKind::Bad,
                tag,
                None,
                "malformed PLAIN credentials",
            );
        };
        if !authorize.is_empty() && authorize != user {
            return tagged_status(
                output,
                StatusKind::No,
                tag,
                None,
                "cannot act for another user",
            );
        }
        let user = String::from_utf8_lossy(user).into_owned();
        let password = String::from_utf8_lossy(password).into_owned();
        self.login(tag, user, &password, output);
    }

    fn login(&mut self, tag: &str, user: String, password: &str, output: &mut Output) {
        if self.context.mailboxes.authenticate(&user, password) {
            self.context.mailboxes.observer.observe(Event::LoggedIn {
                user: user.clone(),
                protocol: Protocol::Imap,
            });
            self.state = State::Authenticated { user };
            let capabilities = self.capabilities();
            tagged_status(
                output,
                StatusKind::Ok,
                tag,
                Code::capability(capabilities).ok(),
                "logged in",
            );
        } else {
            self.errors += 1;
            tagged_status(
                output,
                StatusKind::No,
                tag,
                Some(Code::Other(
                    imap_codec::imap_types::response::CodeOther::unvalidated(
                        b"AUTHENTICATIONFAILED".as_ref(),
                    ),
                )),
                "invalid user name or password",
            );
        }
    }

    /// The commands of the authenticated and selected states.
    fn authenticated(&mut self, tag: &str, user: &str, body: CommandBody<'_>, output: &mut Output) {
        let store = self.context.mailboxes.clone();
        match body {
            CommandBody::Select { mailbox } | CommandBody::Examine { mailbox }
                if mailbox_name(&mailbox).is_none() =>
            {
                if let State::Selected { .. } = self.state {
                    self.state = State::Authenticated {
                        user: user.to_owned(),
                    };
                }
                tagged_status(output, StatusKind::No, tag, None, "no such mailbox");
            }
            CommandBody::Select { mailbox } => self.select(tag, user, &mailbox, false, output),
            CommandBody::Examine { mailbox } => self.select(tag, user, &mailbox, true, output),
            CommandBody::List {
                reference,
                mailbox_wildcard,
            }
            | CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                let reference = mailbox_bytes(&reference);
                let pattern: &[u8] = match &mailbox_wildcard {
                    ListMailbox::Token(token) => token.as_ref(),
                    ListMailbox::String(string) => string.as_ref(),
                };
                if pattern.is_empty() {
                    // The answer to `LIST "" ""` names the hierarchy root, which is no
                    // mailbox imap-types can hold.
                    output
                        .bytes
                        .extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
                } else {
                    let mut full = reference;
                    full.extend_from_slice(pattern);
                    let mailboxes = store.folders(user).unwrap_or_default();
                    for name in mailboxes {
                        if wildcard_matches(&full, name.as_str().as_bytes()) {
                            let mailbox = imap_mailbox(name);
                            let items: Vec<FlagNameAttribute<'_>> = Vec::new();
                            send(
                                output,
                                Response::Data(Data::List {
                                    items,
                                    delimiter: Some(QuotedChar::unvalidated('/')),
                                    mailbox,
                                }),
                            );
                        }
                    }
                }
                tagged_status(output, StatusKind::Ok, tag, None, "LIST completed");
            }
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                let Some(name) = mailbox_name(&mailbox) else {
                    return tagged_status(output, StatusKind::No, tag, None, "no such mailbox");
                };
                match store.snapshot(user, name) {
                    Ok(snapshot) => {
                        let items: Vec<StatusDataItem> = item_names
                            .iter()
                            .filter_map(|item| status_item(item, &snapshot))
                            .collect();
                        send(
                            output,
                            Response::Data(Data::Status {
                                mailbox: imap_mailbox(name),
                                items: items.into(),
                            }),
                        );
                        tagged_status(output, StatusKind::Ok, tag, None, "STATUS completed");
                    }
                    Err(err) => tagged_status(output, StatusKind::No, tag, None, &err.to_string()),
                }
            }
            CommandBody::Create { .. }
            | CommandBody::Delete { .. }
            | CommandBody::Rename { .. } => {
                tagged_status(output, StatusKind::No, tag, None, "the mailboxes are fixed");
            }
            CommandBody::Subscribe { .. } | CommandBody::Unsubscribe { .. } => {
                tagged_status(output, StatusKind::Ok, tag, None, "completed");
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                let Some(name) = mailbox_name(&mailbox) else {
                    return no_such_mailbox(output, tag);
                };
                let date = date.map(|d| InternalDate(d.as_ref().timestamp()));
                match store.append(user, name, message.data(), store_flags(&flags), date) {
                    Ok(uid) => {
                        self.context.mailboxes.observer.observe(Event::Appended {
                            user: user.to_owned(),
                            mailbox: name,
                            uid,
                        });
                        tagged_status(output, StatusKind::Ok, tag, None, "APPEND completed");
                    }
                    Err(err) => tagged_status(output, StatusKind::No, tag, None, &err.to_string()),
                }
            }
            CommandBody::Idle => {
                send(
                    output,
                    Response::CommandContinuationRequest(
                        match CommandContinuationRequest::basic(None, "idling") {
                            Ok(request) => request,
                            Err(_) => return,
                        },
                    ),
                );
                self.pending = Pending::Idle {
                    tag: tag.to_owned(),
                };
            }
            body => self.selected(tag, user, body, output),
        }
    }

    fn select(
        &mut self,
        tag: &str,
        user: &str,
        mailbox: &Mailbox<'_>,
        read_only: bool,
        output: &mut Output,
    ) {
        let Some(name) = mailbox_name(mailbox) else {
            return tagged_status(output, StatusKind::No, tag, None, "no such mailbox");
        };
        let snapshot = match self.context.mailboxes.snapshot(user, name) {
            Ok(snapshot) => snapshot,
            Err(err) => return tagged_status(output, StatusKind::No, tag, None, &err.to_string()),
        };
        send(
            output,
            Response::Data(Data::Flags(vec![
                Flag::Answered,
                Flag::Flagged,
                Flag::Deleted,
                Flag::Seen,
                Flag::Draft,
            ])),
        );
        send(
            output,
            Response::Data(Data::Exists(count(snapshot.messages.len()))),
        );
        send(output, Response::Data(Data::Recent(0)));
        if let Some(first) = snapshot
            .messages
            .iter()
            .position(|m| !m.flags.contains(StoreFlag::Seen))
        {
            untagged_status(
                output,
                StatusKind::Ok,
                Code::unseen(count(first + 1)).ok(),
                "first unseen",
            );
        }
        let permanent = if read_only {
            Vec::new()
        } else {
            [
                Flag::Answered,
                Flag::Flagged,
                Flag::Deleted,
                Flag::Seen,
                Flag::Draft,
            ]
            .into_iter()
            .map(FlagPerm::Flag)
            .collect()
        };
        untagged_status(
            output,
            StatusKind::Ok,
            Some(Code::permanentflags(permanent)),
            "flags",
        );
        untagged_status(
            output,
            StatusKind::Ok,
            Code::uidvalidity(snapshot.uidvalidity).ok(),
            "UIDs valid",
        );
        untagged_status(
            output,
            StatusKind::Ok,
            Code::uidnext(snapshot.uidnext.0).ok(),
            "predicted next UID",
        );
        let code = if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        };
        self.state = State::Selected {
            user: user.to_owned(),
            selection: Selection {
                mailbox: name,
                read_only,
                uids: snapshot.messages.iter().map(|m| m.uid).collect(),
            },
        };
        tagged_status(output, StatusKind::Ok, tag, Some(code), "SELECT completed");
    }

    /// The commands of the selected state.
    fn selected(&mut self, tag: &str, user: &str, body: CommandBody<'_>, output: &mut Output) {
        let State::Selected { selection, .. } = &mut self.state else {
            return tagged_status(output, StatusKind::Bad, tag, None, "select a mailbox first");
        };
        let store = self.context.mailboxes.clone();
        let snapshot = match store.snapshot(user, selection.mailbox) {
            Ok(snapshot) => snapshot,
            Err(err) => return tagged_status(output, StatusKind::No, tag, None, &err.to_string()),
        };
        match body {
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
            } => {
                let targets = resolve(&sequence_set, uid, &selection.uids);
                let expanded;
                let items = match &macro_or_item_names {
                    MacroOrMessageDataItemNames::Macro(m) => {
                        expanded = m.expand();
                        &expanded
                    }
                    MacroOrMessageDataItemNames::MessageDataItemNames(items) => items,
                };
                let request = fetch::Request {
                    user,
                    mailbox: selection.mailbox,
                    read_only: selection.read_only,
                    uid_command: uid,
                    items,
                };
                for (seq, message_uid) in targets {
                    let Some(info) = snapshot.message(message_uid) else {
                        continue;
                    };
                    if let Some(data) = fetch::fetch(
                        &request,
                        &store,
                        &*self.context.mailboxes.observer,
                        seq,
                        info,
                    ) {
                        send(output, Response::Data(data));
                    }
                }
                tagged_status(output, StatusKind::Ok, tag, None, "FETCH completed");
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
            } => {
                if selection.read_only {
                    return tagged_status(
                        output,
                        StatusKind::No,
                        tag,
                        None,
                        "mailbox is read-only",
                    );
                }
                let flags = store_flags(&flags);
                let change = match kind {
                    StoreType::Replace => FlagChange::Replace(flags),
                    StoreType::Add => FlagChange::Add(flags),
                    StoreType::Remove => FlagChange::Remove(flags),
                };
                for (seq, message_uid) in resolve(&sequence_set, uid, &selection.uids) {
                    let Ok(now) = store.store_flags(user, selection.mailbox, message_uid, change)
                    else {
                        continue;
                    };
                    if response == StoreResponse::Answer || uid {
                        let mut items = Vec::new();
                        if response == StoreResponse::Answer {
                            items.push(fetch::flags_item(now));
                        }
                        if uid {
                            items.push(fetch::uid_item(message_uid));
                        }
                        if let (Ok(items), Some(seq)) =
                            (NonEmptyVec::try_from(items), NonZeroU32::new(seq))
                        {
                            send(output, Response::Data(Data::Fetch { seq, items }));
                        }
                    }
                }
                tagged_status(output, StatusKind::Ok, tag, None, "STORE completed");
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            } => {
                let Some(target) = mailbox_name(&mailbox) else {
                    return no_such_mailbox(output, tag);
                };
                for (_, message_uid) in resolve(&sequence_set, uid, &selection.uids) {
                    let Some(info) = snapshot.message(message_uid) else {
                        continue;
                    };
                    let copied =
                        store
                            .read(user, selection.mailbox, message_uid)
                            .and_then(|bytes| {
                                store.append(
                                    user,
                                    target,
                                    &bytes,
                                    info.flags,
                                    Some(info.internal_date),
                                )
                            });
                    match copied {
                        Ok(new_uid) => self.context.mailboxes.observer.observe(Event::Appended {
                            user: user.to_owned(),
                            mailbox: target,
                            uid: new_uid,
                        }),
                        Err(err) => {
                            return tagged_status(
                                output,
                                StatusKind::No,
                                tag,
                                None,
                                &err.to_string(),
                            );
                        }
                    }
                }
                tagged_status(output, StatusKind::Ok, tag, None, "COPY completed");
            }
            CommandBody::Search {
                charset: _,
                criteria,
                uid,
            } => {
                let mut found = Vec::new();
                for (index, message_uid) in selection.uids.iter().enumerate() {
                    let Some(info) = snapshot.message(*message_uid) else {
                        continue;
                    };
                    let seq = u32::try_from(index + 1).unwrap_or(u32::MAX);
                    let context = search::Candidate {
                        seq,
                        info,
                        largest_seq: count(selection.uids.len()),
                        largest_uid: selection.uids.last().map_or(0, |u| u.0),
                        bytes: || store.read(user, selection.mailbox, *message_uid).ok(),
                    };
                    if search::matches(&criteria, &context) {
                        let value = if uid { message_uid.0 } else { seq };
                        found.extend(NonZeroU32::new(value));
                    }
                }
                send(output, Response::Data(Data::Search(found)));
                tagged_status(output, StatusKind::Ok, tag, None, "SEARCH completed");
            }
            CommandBody::Expunge => {
                if selection.read_only {
                    return tagged_status(
                        output,
                        StatusKind::No,
                        tag,
                        None,
                        "mailbox is read-only",
                    );
                }
                if let Err(err) = store.expunge(user, selection.mailbox) {
                    return tagged_status(output, StatusKind::No, tag, None, &err.to_string());
                }
                self.report_changes(output);
                tagged_status(output, StatusKind::Ok, tag, None, "EXPUNGE completed");
            }
            CommandBody::Close | CommandBody::Unselect => {
                if matches!(body, CommandBody::Close) && !selection.read_only {
                    // CLOSE expunges without telling (RFC 3501 §6.4.2).
                    let _ = store.expunge(user, selection.mailbox);
                }
                self.state = State::Authenticated {
                    user: user.to_owned(),
                };
                tagged_status(output, StatusKind::Ok, tag, None, "completed");
            }
            _ => tagged_status(output, StatusKind::Bad, tag, None, "command not supported"),
        }
    }

    /// Tells the client of messages expunged or arrived since it last heard.
    fn report_changes(&mut self, output: &mut Output) {
        let State::Selected { user, selection } = &mut self.state else {
            return;
        };
        let Ok(snapshot) = self.context.mailboxes.snapshot(user, selection.mailbox) else {
            return;
        };
        let before = selection.uids.len();
        // From the highest sequence number down, so each number is still right when sent.
        for index in (0..selection.uids.len()).rev() {
            let uid = selection.uids[index];
            if snapshot.message(uid).is_none() {
                selection.uids.remove(index);
                if let Ok(data) = Data::expunge(count(index + 1)) {
                    send(output, Response::Data(data));
                }
            }
        }
        let last = selection.uids.last().copied();
        let arrived: Vec<Uid> = snapshot
            .messages
            .iter()
            .map(|m| m.uid)
            .filter(|uid| last.is_none_or(|last| *uid > last))
            .collect();
        let grew = !arrived.is_empty();
        selection.uids.extend(arrived);
        if grew || selection.uids.len() != before {
            send(
                output,
                Response::Data(Data::Exists(count(selection.uids.len()))),
            );
        }
    }
}

/// Drives one IMAP session over `input` (all the bytes a client sent) and returns everything
/// the server answered, the greeting first; for fuzzing and tests.
pub fn imap_exchange(context: ImapContext, input: &[u8]) -> Vec<u8> {
    let (mut session, mut out) = ImapSession::new(context);
    out.extend(session.receive(input).bytes);
    out
}

/// A count for a response, saturating (a mailbox never holds 4 billion messages).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(Debug, Clone, Copy)]
enum StatusKind {
    Ok,
    No,
    Bad,
    Bye,
}

fn send(output: &mut Output, response: Response<'_>) {
    output
        .bytes
        .extend(ResponseCodec::new().encode(&response).dump());
}

/// A status response; text that imap-codec refuses (it never is, but a store error might
/// hold a line break) is replaced by a fixed one.
fn status<'a>(
    kind: StatusKind,
    tag: Option<Tag<'a>>,
    code: Option<Code<'a>>,
    text: &str,
) -> Response<'a> {
    let text = Text::try_from(text.replace(['\r', '\n'], " "))
        .unwrap_or_else(|_| Text::unvalidated("completed"));
    Response::Status(match kind {
        StatusKind::Ok => Status::Ok { tag, code, text },
        StatusKind::No => Status::No { tag, code, text },
        StatusKind::Bad => Status::Bad { tag, code, text },
        StatusKind::Bye => Status::Bye { code, text },
    })
}

/// `NO [TRYCREATE]`: a mailbox this server does not have (only INBOX and Sent exist).
fn no_such_mailbox(output: &mut Output, tag: &str) {
    tagged_status(
        output,
        StatusKind::No,
        tag,
        Some(Code::TryCreate),
        "no such mailbox",
    )
}

fn tagged_status(
    output: &mut Output,
    kind: StatusKind,
    tag: &str,
    code: Option<Code<'_>>,
    text: &str,
) {
    match Tag::try_from(tag) {
        Ok(tag) => send(output, status(kind, Some(tag), code, text)),
        Err(_) => send(output, status(kind, None, code, text)),
    }
}

fn untagged_status(output: &mut Output, kind: StatusKind, code: Option<Code<'_>>, text: &str) {
    send(output, status(kind, None, code, text));
}

fn mailbox_bytes(mailbox: &Mailbox<'_>) -> Vec<u8> {
    match mailbox {
        Mailbox::Inbox => b"INBOX".to_vec(),
        Mailbox::Other(other) => other.as_ref().to_vec(),
    }
}

fn mailbox_name(mailbox: &Mailbox<'_>) -> Option<MailboxName> {
    MailboxName::parse(std::str::from_utf8(&mailbox_bytes(mailbox)).ok()?)
}

fn imap_mailbox(name: MailboxName) -> Mailbox<'static> {
    Mailbox::try_from(name.as_str()).unwrap_or(Mailbox::Inbox)
}

/// Whether a LIST pattern matches a name: `*` matches anything, `%` anything but the
/// hierarchy delimiter.
fn wildcard_matches(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| wildcard_matches(rest, &name[skip..])),
        Some((b'%', rest)) => (0..=name.len())
            .take_while(|&skip| skip == 0 || name[skip - 1] != b'/')
            .any(|skip| wildcard_matches(rest, &name[skip..])),
        Some((first, rest)) => name.split_first().is_some_and(|(n, name_rest)| {
            (n == first || (n.eq_ignore_ascii_case(first) && name.len() == 5))
                && wildcard_matches(rest, name_rest)
        }),
    }
}

fn status_item(item: &StatusDataItemName, snapshot: &Snapshot) -> Option<StatusDataItem> {
    Some(match item {
        StatusDataItemName::Messages => StatusDataItem::Messages(count(snapshot.messages.len())),
        StatusDataItemName::Recent => StatusDataItem::Recent(0),
        StatusDataItemName::UidNext => {
            StatusDataItem::UidNext(NonZeroU32::new(snapshot.uidnext.0)?)
        }
        StatusDataItemName::UidValidity => {
            StatusDataItem::UidValidity(NonZeroU32::new(snapshot.uidvalidity)?)
        }
        StatusDataItemName::Unseen => StatusDataItem::Unseen(count(
            snapshot
                .messages
                .iter()
                .filter(|m| !m.flags.contains(StoreFlag::Seen))
                .count(),
        )),
        StatusDataItemName::Deleted => StatusDataItem::Deleted(count(
            snapshot
                .messages
                .iter()
                .filter(|m| m.flags.contains(StoreFlag::Deleted))
                .count(),
        )),
        _ => return None,
    })
}

/// The system flags in a STORE or APPEND flag list; keywords are not kept.
fn store_flags(flags: &[Flag<'_>]) -> Flags {
    // Keywords are accepted and not kept: the store keeps the system flags only.
    flags
        .iter()
        .filter_map(|flag| match flag {
            Flag::Seen => Some(StoreFlag::Seen),
            Flag::Answered => Some(StoreFlag::Answered),
            Flag::Flagged => Some(StoreFlag::Flagged),
            Flag::Deleted => Some(StoreFlag::Deleted),
            Flag::Draft => Some(StoreFlag::Draft),
            _ => None,
        })
        .collect()
}

/// The messages a sequence set names, as (sequence number, UID) in mailbox order.
fn resolve(set: &SequenceSet, by_uid: bool, uids: &[Uid]) -> Vec<(u32, Uid)> {
    let largest = if by_uid {
        uids.last().map_or(0, |u| u.0)
    } else {
        count(uids.len())
    };
    let value = |v: &SeqOrUid| match v {
        SeqOrUid::Value(n) => n.get(),
        SeqOrUid::Asterisk => largest,
    };
    let ranges: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|sequence| match sequence {
            Sequence::Single(v) => (value(v), value(v)),
            Sequence::Range(a, b) => {
                let (a, b) = (value(a), value(b));
                (a.min(b), a.max(b))
            }
        })
        .collect();
    uids.iter()
        .enumerate()
        .map(|(index, uid)| (count(index + 1), *uid))
        .filter(|(seq, uid)| {
            let key = if by_uid { uid.0 } else { *seq };
            ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&key))
        })
        .collect()
}

#[cfg(test)]
mod tests;
