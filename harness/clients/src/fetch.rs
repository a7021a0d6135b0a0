//! Fetching a message from a mailbox server over IMAP4rev1 or POP3, the way a live user's
//! mail client does: what kmlab's stand-in for a live user does under `kmlab run`, so that a
//! live scenario exercises the same servers a real client talks to.
//!
//! Deliberately small: plaintext login on loopback, one mailbox (INBOX), the newest message
//! with a given subject, its bytes exactly as the server sent them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The connection failed or timed out.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server answered something other than what the protocol allows here.
    #[error("the server answered {0:?}")]
    Protocol(String),
}

/// How long the server may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The newest message in `user`'s INBOX whose subject is `subject`, over IMAP: LOGIN, SELECT,
/// UID SEARCH SUBJECT, UID FETCH BODY.PEEK[] (the fetch the server reports), LOGOUT.
pub fn fetch_imap(
    server: SocketAddr,
    user: &str,
    password: &str,
    subject: &str,
) -> Result<Option<Vec<u8>>, FetchError> {
    let mut session = Session::connect(server)?;
    session.line()?;
    session.imap(
        "a1",
        &format!("LOGIN {} {}", quoted(user), quoted(password)),
    )?;
    session.imap("a2", "SELECT INBOX")?;
    let found = session.imap("a3", &format!("UID SEARCH SUBJECT {}", quoted(subject)))?;
    let newest = found
        .iter()
        .filter_map(|line| line.strip_prefix("* SEARCH"))
        .flat_map(str::split_whitespace)
        .filter_map(|uid| uid.parse::<u32>().ok())
        .max();
    let Some(uid) = newest else {
        session.imap("a5", "LOGOUT")?;
        return Ok(None);
    };
    session.send(&format!("a4 UID FETCH {uid} BODY[]"))?;
    let mut body = None;
    loop {
        let line = session.line()?;
        if let Some(size) = literal_size(&line) {
            body = Some(session.exact(size)?);
        } else if line.starts_with("a4 ") {
            if !line.starts_with("a4 OK") {
                return Err(FetchError::Protocol(line));
            }
            break;
        }
    }
    session.imap("a5", "LOGOUT")?;
    Ok(body)
}

/// The newest message in `user`'s mailbox whose subject is `subject`, over POP3: USER, PASS,
/// LIST, TOP n 0 from the newest back, RETR (dot-unstuffed), QUIT.
pub fn fetch_pop3(
    server: SocketAddr,
    user: &str,
    password: &str,
    subject: &str,
) -> Result<Option<Vec<u8>>, FetchError> {
    let mut session = Session::connect(server)?;
    session.pop3_ok()?;
    session.send(&format!("USER {user}"))?;
    session.pop3_ok()?;
    session.send(&format!("PASS {password}"))?;
    session.pop3_ok()?;
    session.send("LIST")?;
    session.pop3_ok()?;
    let numbers: Vec<u32> = session
        .pop3_lines()?
        .iter()
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect();
    let mut found = None;
    for number in numbers.into_iter().rev() {
        session.send(&format!("TOP {number} 0"))?;
        session.pop3_ok()?;
        let headers = session.pop3_lines()?;
        if header_subject(&headers).as_deref() == Some(subject) {
            session.send(&format!("RETR {number}"))?;
            session.pop3_ok()?;
            let lines = session.pop3_lines()?;
            found = Some(lines.concat().into_bytes());
            break;
        }
    }
    session.send("QUIT")?;
    session.pop3_ok()?;
    Ok(found)
}

/// One connection, read line by line (lines keep their CRLF).
struct Session {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Session {
    fn connect(server: SocketAddr) -> Result<Self, FetchError> {
        let stream = TcpStream::connect_timeout(&server, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        Ok(Self {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    fn send(&mut self, command: &str) -> Result<(), FetchError> {
        self.writer.write_all(format!("{command}\r\n").as_bytes())?;
        Ok(())
    }

    fn line(&mut self) -> Result<String, FetchError> {
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line)? == 0 {
            return Err(FetchError::Protocol(
                "nothing (the connection closed)".to_owned(),
            ));
        }
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    fn exact(&mut self, size: usize) -> Result<Vec<u8>, FetchError> {
        let mut bytes = vec![0; size];
        self.reader.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    /// Sends a tagged IMAP command and returns its untagged lines once it completed `OK`.
    fn imap(&mut self, tag: &str, command: &str) -> Result<Vec<String>, FetchError> {
        self.send(&format!("{tag} {command}"))?;
        let mut untagged = Vec::new();
        loop {
            let line = self.line()?;
            if let Some(rest) = line
                .strip_prefix(tag)
                .and_then(|rest| rest.strip_prefix(' '))
            {
                return if rest.starts_with("OK") {
                    Ok(untagged)
                } else {
                    Err(FetchError::Protocol(line.trim_end().to_owned()))
                };
            }
            untagged.push(line.trim_end().to_owned());
        }
    }

    fn pop3_ok(&mut self) -> Result<(), FetchError> {
        let line = self.line()?;
        if line.starts_with("+OK") {
            Ok(())
        } else {
            Err(FetchError::Protocol(line.trim_end().to_owned()))
        }
    }

    /// A POP3 multi-line answer up to its `.` line, dot-unstuffed, each line with its CRLF.
    fn pop3_lines(&mut self) -> Result<Vec<String>, FetchError> {
        let mut lines = Vec::new();
        loop {
            let line = self.line()?;
            if line == ".\r\n" {
                return Ok(lines);
            }
            lines.push(line.strip_prefix('.').map_or(line.clone(), str::to_owned));
        }
    }
}

/// An IMAP quoted string.
fn quoted(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The size of the literal a line announces (`… {123}`), if it announces one.
fn literal_size(line: &str) -> Option<usize> {
    let inner = line.trim_end().strip_suffix('}')?;
    let open = inner.rfind('{')?;
    inner[open + 1..].parse().ok()
}

/// The Subject header among header lines (unfolded), if there is one.
fn header_subject(lines: &[String]) -> Option<String> {
    let headers = lines.concat();
    let parsed = mail_parser::MessageParser::new().parse_headers(headers.as_bytes())?;
    parsed.subject().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_literal_announcement_gives_its_size() {
        assert_eq!(
            literal_size("* 1 FETCH (UID 3 BODY[] {6675}\r\n"),
            Some(6675)
        );
        assert_eq!(literal_size("a4 OK done\r\n"), None);
    }

    #[test]
    fn quoted_strings_escape_quotes_and_backslashes() {
        assert_eq!(quoted(r#"say "hi" \o/"#), r#""say \"hi\" \\o/""#);
    }

    #[test]
    fn the_subject_is_found_among_folded_headers() {
        let lines = vec![
            "From: a@b\r\n".to_owned(),
            "Subject: quarterly\r\n".to_owned(),
            " report\r\n".to_owned(),
            "\r\n".to_owned(),
        ];
        assert_eq!(header_subject(&lines).as_deref(), Some("quarterly report"));
    }
}
