//! SMTP replies: a code, an enhanced status code and text lines.

use std::fmt::Write as _;

/// One SMTP reply, possibly multi-line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code.
    pub code: u16,
    /// The RFC 3463 enhanced status code, if the reply carries one.
    pub status: Option<&'static str>,
    /// The text lines.
    pub lines: Vec<String>,
}

impl Reply {
    /// A single-line reply with an enhanced status code.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Self {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A single-line reply without an enhanced status code (greeting, EHLO).
    pub fn plain(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            status: None,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply without enhanced status codes.
    pub fn multiline(code: u16, lines: Vec<String>) -> Self {
        Self {
            code,
            status: None,
            lines,
        }
    }

    /// Whether the reply is a positive completion (2xx).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The reply as it goes on the wire, every line ending in CRLF.
    pub fn to_wire(&self) -> String {
        let mut out = String::new();
        let last = self.lines.len().saturating_sub(1);
        for (index, line) in self.lines.iter().enumerate() {
            let separator = if index == last { ' ' } else { '-' };
            let _ = write!(out, "{}{separator}", self.code);
            if let Some(status) = self.status {
                let _ = write!(out, "{status} ");
            }
            // Reply text is printable US-ASCII (RFC 5321 §4.2); anything else that found its
            // way in from a client's command is shown as `?`, so no client can put a CR or a
            // NUL into the sink's replies.
            out.extend(line.chars().map(|c| {
                if c == ' ' || c.is_ascii_graphic() {
                    c
                } else {
                    '?'
                }
            }));
            out.push_str("\r\n");
        }
        if self.lines.is_empty() {
            let _ = write!(out, "{}\r\n", self.code);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_replies_use_dashes_until_the_last_line() {
        let reply = Reply::multiline(250, vec!["a".into(), "b".into()]);
        assert_eq!(reply.to_wire(), "250-a\r\n250 b\r\n");
        assert_eq!(Reply::new(550, "5.1.1", "no").to_wire(), "550 5.1.1 no\r\n");
    }

    #[test]
    fn control_characters_never_reach_the_wire() {
        let reply = Reply::new(555, "5.5.4", "parameter X=\r\0\u{7}é not supported");
        assert_eq!(
            reply.to_wire(),
            "555 5.5.4 parameter X=???? not supported\r\n"
        );
    }
}
