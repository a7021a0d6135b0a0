//! Submitting a message over SMTP with lettre, the way a real client hands it to its server.

use std::net::SocketAddr;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::transport::smtp::SmtpTransport;
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
    let transport = SmtpTransport::builder_dangerous(server.ip().to_string())
        .port(server.port())
        .hello_name(ClientId::Domain(hello.to_owned()))
        .timeout(Some(Duration::from_secs(30)))
        .build();
    let body = message.strip_suffix(b"\r\n").unwrap_or(message);
    let response = transport
        .send_raw(&envelope, body)
        .map_err(|e| SubmitError::Smtp(e.to_string()))?;
    Ok(response.message().collect::<Vec<_>>().join(" "))
}
