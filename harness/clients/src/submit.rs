//! Submitting a message over SMTP with lettre, the way a real client hands it to its server.

use std::error::Error as _;
use std::net::SocketAddr;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::SmtpTransport;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Transport};

/// Why a submission failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// An address is not a valid SMTP address.
    #[error("invalid address {0}")]
    Address(String),
    /// The server refused or the connection failed.
    #[error("{0}")]
    Smtp(String),
}

impl SubmitError {
    /// The SMTP reply code, when the server gave one.
    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Smtp(text) => text
                .split(|c: char| !c.is_ascii_digit())
                .find(|part| part.len() == 3)?
                .parse()
                .ok(),
            Self::Address(_) => None,
        }
    }
}

/// A login for SMTP submission (AUTH PLAIN, RFC 4954).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// Sends `message` from `from` to every address in `to` through the server at `server`.
///
/// lettre ends the data with CRLF.CRLF itself, so a message that already ends in CRLF is sent
/// without it; the server then stores exactly `message`.
pub fn submit(
    server: SocketAddr,
    hello: &str,
    from: &str,
    to: &[&str],
    message: &[u8],
) -> Result<String, SubmitError> {
    submit_as(server, hello, None, from, to, message)
}

/// Sends `message` like [`submit`], authenticating with `login` first when one is given.
pub fn submit_as(
    server: SocketAddr,
    hello: &str,
    login: Option<&Login>,
    from: &str,
    to: &[&str],
    message: &[u8],
) -> Result<String, SubmitError> {
    let parse = |address: &str| {
        address
            .parse::<Address>()
            .map_err(|_| SubmitError::Address(address.to_owned()))
    };
    let recipients = to
        .iter()
        .map(|address| parse(address))
        .collect::<Result<Vec<_>, _>>()?;
    let envelope = Envelope::new(Some(parse(from)?), recipients)
        .map_err(|e| SubmitError::Smtp(e.to_string()))?;
    let mut builder = SmtpTransport::builder_dangerous(server.ip().to_string())
        .port(server.port())
        .hello_name(ClientId::Domain(hello.to_owned()))
        .timeout(Some(Duration::from_secs(30)));
    if let Some(login) = login {
        builder = builder
            .credentials(Credentials::new(login.user.clone(), login.password.clone()))
            .authentication(vec![Mechanism::Plain]);
    }
    let transport = builder.build();
    let body = message.strip_suffix(b"\r\n").unwrap_or(message);
    let response = transport
        .send_raw(&envelope, body)
        .map_err(|e| SubmitError::Smtp(describe(&e)))?;
    Ok(response.message().collect::<Vec<_>>().join(" "))
}

/// One try at submitting a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The server's final reply (`250 …`), or what went wrong.
    pub outcome: String,
    /// Whether it was delivered.
    pub delivered: bool,
    /// Whether the failure was transient (a 4xx reply or a lost connection), so a client
    /// may try again.
    pub transient: bool,
}

/// Submits `message` like [`submit`], trying again up to `retries` more times after a
/// transient failure, as a client's outbox does (SMTP-03). Every try is returned, in order.
pub fn submit_with_retries(
    server: SocketAddr,
    hello: &str,
    login: Option<&Login>,
    from: &str,
    to: &[&str],
    message: &[u8],
    retries: u32,
) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    loop {
        let attempt = match submit_as(server, hello, login, from, to, message) {
            Ok(reply) => Attempt {
                outcome: format!("250 {reply}"),
                delivered: true,
                transient: false,
            },
            Err(error) => {
                let transient = match &error {
                    SubmitError::Smtp(_) => error.code().is_none_or(|code| code < 500),
                    SubmitError::Address(_) => false,
                };
                Attempt {
                    outcome: error.to_string(),
                    delivered: false,
                    transient,
                }
            }
        };
        let again = attempt.transient && attempts.len() < retries as usize;
        attempts.push(attempt);
        if !again {
            return attempts;
        }
    }
}

/// A lettre error in words that do not depend on timing: the server's reply when there was
/// one, else that the connection was lost.
fn describe(error: &lettre::transport::smtp::Error) -> String {
    match (error.status(), error.source()) {
        (Some(code), Some(text)) => format!("{code} {text}"),
        (Some(code), None) => code.to_string(),
        (None, _) if error.is_client() => format!("the client failed: {error}"),
        (None, _) => "connection lost".to_owned(),
    }
}
