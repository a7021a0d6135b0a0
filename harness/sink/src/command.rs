//! SMTP command lines and their meaning, separate from how they were framed.

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELO domain`
    Helo(String),
    /// `EHLO domain`
    Ehlo(String),
    /// `MAIL FROM:<path> [params]`
    Mail {
        /// The reverse path, without angle brackets (empty for the null path).
        from: String,
        /// The declared `SIZE=`, if any.
        size: Option<u64>,
    },
    /// `RCPT TO:<path>`
    Rcpt(String),
    /// `DATA`
    Data,
    /// `RSET`
    Rset,
    /// `NOOP`
    Noop,
    /// `QUIT`
    Quit,
    /// `VRFY …`
    Vrfy,
    /// `HELP …`
    Help,
    /// `STARTTLS` (RFC 3207), with whatever followed it (it takes no argument, but a sink
    /// without TLS answers 502 whatever the line says).
    StartTls {
        /// The text after the verb, trimmed.
        argument: String,
    },
    /// `AUTH mechanism [initial-response]` (RFC 4954), still as text: whether the mechanism is
    /// one the sink offers is the session's question, since a sink without submission answers
    /// 502 to any AUTH line.
    Auth {
        /// The mechanism's name, upper case (empty if the line named none).
        mechanism: String,
        /// The initial response, still base64 (`=` for an empty one).
        initial_response: Option<String>,
    },
    /// A command RFC 5321 knows that this sink does not offer (EXPN, BDAT, …).
    NotImplemented(String),
}

impl Command {
    /// The command's verb, upper case.
    pub fn verb(&self) -> &str {
        match self {
            Self::Helo(_) => "HELO",
            Self::Ehlo(_) => "EHLO",
            Self::Mail { .. } => "MAIL",
            Self::Rcpt(_) => "RCPT",
            Self::Data => "DATA",
            Self::Rset => "RSET",
            Self::Noop => "NOOP",
            Self::Quit => "QUIT",
            Self::Vrfy => "VRFY",
            Self::Help => "HELP",
            Self::StartTls { .. } => "STARTTLS",
            Self::Auth { .. } => "AUTH",
            Self::NotImplemented(verb) => verb,
        }
    }
}

/// Why a command line was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// The verb is not an SMTP command.
    Unrecognized,
    /// The verb is known but its arguments are wrong; the text says how.
    Syntax(&'static str),
    /// An address does not have the form local@domain.
    BadAddress,
    /// A MAIL parameter this sink does not support.
    UnsupportedParameter(String),
}

/// Parses one command line (without its CRLF).
pub fn parse(line: &[u8]) -> Result<Command, CommandError> {
    let line =
        std::str::from_utf8(line).map_err(|_| CommandError::Syntax("command line is not UTF-8"))?;
    let (verb, rest) = match line.find(' ') {
        Some(index) => (&line[..index], line[index + 1..].trim()),
        None => (line, ""),
    };
    match verb.to_ascii_uppercase().as_str() {
        "HELO" => domain_argument(rest).map(Command::Helo),
        "EHLO" => domain_argument(rest).map(Command::Ehlo),
        "MAIL" => parse_mail(rest),
        "RCPT" => {
            let path = strip_prefix_ignore_case(rest, "TO:")
                .ok_or(CommandError::Syntax("expected RCPT TO:<address>"))?;
            let (address, params) = path_and_params(path)?;
            if !params.is_empty() {
                return Err(CommandError::UnsupportedParameter(params.to_owned()));
            }
            if address.is_empty() || !is_address(&address) {
                return Err(CommandError::BadAddress);
            }
            Ok(Command::Rcpt(address))
        }
        "DATA" => no_argument(rest, Command::Data),
        "RSET" => no_argument(rest, Command::Rset),
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_argument(rest, Command::Quit),
        "VRFY" => Ok(Command::Vrfy),
        "HELP" => Ok(Command::Help),
        "STARTTLS" => Ok(Command::StartTls {
            argument: rest.to_owned(),
        }),
        "AUTH" => {
            let mut words = rest.split_whitespace();
            Ok(Command::Auth {
                mechanism: words.next().unwrap_or_default().to_ascii_uppercase(),
                initial_response: words.next().map(str::to_owned),
            })
        }
        "EXPN" | "BDAT" | "TURN" | "ETRN" | "SEND" | "SOML" | "SAML" => {
            Ok(Command::NotImplemented(verb.to_ascii_uppercase()))
        }
        _ => Err(CommandError::Unrecognized),
    }
}

fn no_argument(rest: &str, command: Command) -> Result<Command, CommandError> {
    if rest.is_empty() {
        Ok(command)
    } else {
        Err(CommandError::Syntax("this command takes no argument"))
    }
}

fn domain_argument(rest: &str) -> Result<String, CommandError> {
    let domain = rest.split_whitespace().next().ok_or(CommandError::Syntax(
        "a domain or address literal is required",
    ))?;
    // RFC 5321 §4.1.2: a domain or address literal is printable ASCII. The sink echoes it
    // in its reply, where control characters have no business.
    if !domain.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CommandError::Syntax("the domain must be printable ASCII"));
    }
    Ok(domain.to_owned())
}

fn parse_mail(rest: &str) -> Result<Command, CommandError> {
    let path = strip_prefix_ignore_case(rest, "FROM:")
        .ok_or(CommandError::Syntax("expected MAIL FROM:<address>"))?;
    let (from, params) = path_and_params(path)?;
    if !from.is_empty() && !is_address(&from) {
        return Err(CommandError::BadAddress);
    }
    let mut size = None;
    for param in params.split_whitespace() {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        match key.to_ascii_uppercase().as_str() {
            "SIZE" => {
                size = Some(
                    value
                        .parse()
                        .map_err(|_| CommandError::Syntax("SIZE needs a number"))?,
                );
            }
            "BODY" if matches!(value.to_ascii_uppercase().as_str(), "7BIT" | "8BITMIME") => {}
            _ => return Err(CommandError::UnsupportedParameter(param.to_owned())),
        }
    }
    Ok(Command::Mail { from, size })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text[prefix.len()..].trim_start())
}

/// Splits `<path> params` into the address and the parameter text.
fn path_and_params(text: &str) -> Result<(String, &str), CommandError> {
    let text = text.trim_start();
    let rest = text.strip_prefix('<').ok_or(CommandError::Syntax(
        "the address must be in angle brackets",
    ))?;
    let end = rest.find('>').ok_or(CommandError::Syntax(
        "the address must be in angle brackets",
    ))?;
    let address = &rest[..end];
    // A source route (`@a,@b:user@host`) is accepted and ignored, as RFC 5321 §4.1.1.3 asks.
    let address = match address.split_once(':') {
        Some((route, mailbox)) if route.starts_with('@') => mailbox,
        _ => address,
    };
    Ok((address.to_owned(), rest[end + 1..].trim()))
}

fn is_address(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.is_empty()
        && local.len() <= 64
        && domain.len() <= 255
        && !address
            .chars()
            .any(|c| c.is_control() || c == ' ' || c == '<' || c == '>')
}

/// The SASL mechanisms the sink's submission offers (RFC 4954 §4 names them in AUTH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// RFC 4616: one response, `authzid NUL authcid NUL password`.
    Plain,
    /// The de-facto LOGIN mechanism: the user name, then the password, each asked for.
    Login,
}

impl Mechanism {
    /// The mechanism an AUTH line names (already upper case), if the sink offers it.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Self::Plain),
            "LOGIN" => Some(Self::Login),
            _ => None,
        }
    }
}

/// What a client answered to a `334` challenge (or sent as its initial response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslResponse {
    /// `*`: the client gives up (RFC 4954 §4).
    Cancel,
    /// The decoded bytes (empty for `=` or an empty line).
    Data(Vec<u8>),
}

/// Why a SASL response could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// Not base64 (RFC 4954 §4: answered with 501).
    #[error("the response is not base64")]
    NotBase64,
    /// PLAIN's response is not `authzid NUL authcid NUL password` in UTF-8.
    #[error("the PLAIN response is not authzid, user and password separated by NUL")]
    BadPlain,
    /// LOGIN's user name or password is not UTF-8.
    #[error("the user name or password is not UTF-8")]
    NotUtf8,
}

/// Reads one response line (without CRLF), or an AUTH command's initial response.
pub fn sasl_response(line: &[u8]) -> Result<SaslResponse, SaslError> {
    use base64::Engine as _;
    let line = line.trim_ascii();
    if line == b"*" {
        return Ok(SaslResponse::Cancel);
    }
    // RFC 4954 §4: `=` stands for an empty initial response.
    if line.is_empty() || line == b"=" {
        return Ok(SaslResponse::Data(Vec::new()));
    }
    base64::engine::general_purpose::STANDARD
        .decode(line)
        .map(SaslResponse::Data)
        .map_err(|_| SaslError::NotBase64)
}

/// A login and password a client offered.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The authorization identity PLAIN may carry (empty: the same as `login`).
    pub authorize_as: String,
    /// Who the client says it is.
    pub login: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A password never reaches a log or a panic message.
        f.debug_struct("Credentials")
            .field("authorize_as", &self.authorize_as)
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

/// PLAIN's decoded response (RFC 4616 §2).
pub fn plain_credentials(decoded: &[u8]) -> Result<Credentials, SaslError> {
    let mut parts = decoded.split(|&b| b == 0);
    let (Some(authorize_as), Some(login), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::BadPlain);
    };
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|_| SaslError::BadPlain);
    Ok(Credentials {
        authorize_as: text(authorize_as)?,
        login: text(login)?,
        password: text(password)?,
    })
}

/// LOGIN's decoded user name or password.
pub fn login_text(decoded: Vec<u8>) -> Result<String, SaslError> {
    String::from_utf8(decoded).map_err(|_| SaslError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_transaction_commands() {
        assert_eq!(
            parse(b"EHLO client.example"),
            Ok(Command::Ehlo("client.example".into()))
        );
        assert_eq!(
            parse(b"mail from:<a@b.example> SIZE=120 BODY=8BITMIME"),
            Ok(Command::Mail {
                from: "a@b.example".into(),
                size: Some(120)
            })
        );
        assert_eq!(
            parse(b"MAIL FROM:<>"),
            Ok(Command::Mail {
                from: String::new(),
                size: None
            })
        );
        assert_eq!(
            parse(b"RCPT TO: <bob@x.example>"),
            Ok(Command::Rcpt("bob@x.example".into()))
        );
        assert_eq!(
            parse(b"RCPT TO:<@relay.example:bob@x.example>"),
            Ok(Command::Rcpt("bob@x.example".into()))
        );
        assert_eq!(parse(b"DATA"), Ok(Command::Data));
    }

    #[test]
    fn rejects_what_is_wrong_and_says_why() {
        assert_eq!(
            parse(b"HELO"),
            Err(CommandError::Syntax(
                "a domain or address literal is required"
            ))
        );
        assert_eq!(parse(b"RCPT TO:<nobody>"), Err(CommandError::BadAddress));
        assert_eq!(
            parse(b"RCPT TO:bob@x"),
            Err(CommandError::Syntax(
                "the address must be in angle brackets"
            ))
        );
        assert_eq!(
            parse(b"MAIL FROM:<a@b> FOO=1"),
            Err(CommandError::UnsupportedParameter("FOO=1".into()))
        );
        assert_eq!(parse(b"XYZZY"), Err(CommandError::Unrecognized));
        assert_eq!(
            parse(b"EHLO a\x00b"),
            Err(CommandError::Syntax("the domain must be printable ASCII"))
        );
        assert_eq!(
            parse(b"HELO a\x01b"),
            Err(CommandError::Syntax("the domain must be printable ASCII"))
        );
        assert_eq!(
            parse(b"DATA now"),
            Err(CommandError::Syntax("this command takes no argument"))
        );
        assert_eq!(
            parse(b"STARTTLS"),
            Ok(Command::StartTls {
                argument: String::new()
            })
        );
        assert_eq!(parse(b"EXPN x"), Ok(Command::NotImplemented("EXPN".into())));
    }

    #[test]
    fn auth_lines_and_sasl_responses_read_as_rfc_4954_and_4616_say() {
        assert_eq!(
            parse(b"auth plain AGJvYgBzZWNyZXQ="),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some("AGJvYgBzZWNyZXQ=".into())
            })
        );
        assert_eq!(Mechanism::parse("LOGIN"), Some(Mechanism::Login));
        assert_eq!(Mechanism::parse("CRAM-MD5"), None);
        assert_eq!(sasl_response(b"*"), Ok(SaslResponse::Cancel));
        assert_eq!(sasl_response(b"="), Ok(SaslResponse::Data(Vec::new())));
        assert_eq!(sasl_response(b"!!"), Err(SaslError::NotBase64));
        let Ok(SaslResponse::Data(decoded)) = sasl_response(b"AGJvYgBzZWNyZXQ=") else {
            panic!("valid base64");
        };
        let credentials = plain_credentials(&decoded).unwrap();
        assert_eq!(
            (
                credentials.authorize_as.as_str(),
                credentials.login.as_str()
            ),
            ("", "bob")
        );
        assert_eq!(credentials.password, "secret");
        assert!(!format!("{credentials:?}").contains("secret"));
        assert_eq!(plain_credentials(b"bob\0secret"), Err(SaslError::BadPlain));
    }
}
