//! Deliberately broken behaviour, in one place that is easy to find: a client that weakens
//! its cipher behind its user's back (CL-03), and the changes a relay or a mail store makes
//! to a message in transit (MSG-02). Nothing else in kmlab produces broken messages.

/// A client defect a `send` step can switch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendFault {
    /// The client encrypts with 40-bit RC2 whatever its policy chose, and says nothing.
    DowngradeCipher,
}

model::named!(SendFault { DowngradeCipher => "downgrade-cipher" });

/// A change made to a delivered message before its recipient reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransitChange {
    /// A relay re-wraps the first text line longer than 60 characters at a space.
    Rewrap,
    /// A mail store keeps bare LF line ends instead of CRLF.
    LfOnly,
    /// Someone edits the text: the first `a` of the first text part becomes `o`.
    EditBody,
    /// A relay strips white space at the end of lines.
    StripTrailingSpace,
    /// A gateway stamps its own Date header, two hours after the one the sender wrote.
    Redate,
}

model::named!(TransitChange {
    Rewrap => "rewrap",
    LfOnly => "lf-only",
    EditBody => "edit-body",
    StripTrailingSpace => "strip-trailing-space",
    Redate => "redate",
});

/// How far a re-dating gateway moves the Date header, in seconds.
pub const REDATE_SECONDS: i64 = 2 * 3600;

impl TransitChange {
    /// The message after the change, or `None` when the change finds nothing to change.
    pub fn apply(self, message: &[u8]) -> Option<Vec<u8>> {
        let body_start = find(message, b"\r\n\r\n").map_or(0, |at| at + 4);
        let changed = match self {
            Self::Redate => {
                let date = mail_parser::MessageParser::new()
                    .parse_headers(message)?
                    .date()?
                    .to_timestamp();
                let header = &message[..body_start];
                let line_start = if header.starts_with(b"Date:") {
                    0
                } else {
                    find(header, b"\r\nDate:")? + 2
                };
                let line_end = line_start + find(&message[line_start..], b"\r\n")?;
                let moved = model::Timestamp::from_unix(date + REDATE_SECONDS).to_rfc5322();
                let mut changed = message[..line_start].to_vec();
                changed.extend_from_slice(format!("Date: {moved}").as_bytes());
                changed.extend_from_slice(&message[line_end..]);
                changed
            }
            Self::LfOnly => message
                .iter()
                .enumerate()
                .filter(|(index, byte)| {
                    !(**byte == b'\r' && message.get(index + 1) == Some(&b'\n'))
                })
                .map(|(_, byte)| *byte)
                .collect(),
            Self::EditBody => {
                let text_start = text_start(message, body_start);
                let offset = message[text_start..]
                    .iter()
                    .position(|byte| *byte == b'a')?;
                let mut changed = message.to_vec();
                changed[text_start + offset] = b'o';
                changed
            }
            Self::Rewrap => {
                let mut line_start = text_start(message, body_start);
                loop {
                    let line_end = find(&message[line_start..], b"\r\n")
                        .map_or(message.len(), |at| line_start + at);
                    let line = &message[line_start..line_end];
                    if line.len() > WRAP {
                        let space = line[..WRAP].iter().rposition(|byte| *byte == b' ')?;
                        let mut changed = message[..line_start + space].to_vec();
                        changed.extend_from_slice(b"\r\n");
                        changed.extend_from_slice(&message[line_start + space + 1..]);
                        break changed;
                    }
                    if line_end >= message.len() {
                        return None;
                    }
                    line_start = line_end + 2;
                }
            }
            Self::StripTrailingSpace => {
                let mut changed = Vec::with_capacity(message.len());
                for line in message.split_inclusive(|byte| *byte == b'\n') {
                    let (text, end) = match line.strip_suffix(b"\r\n") {
                        Some(text) => (text, &b"\r\n"[..]),
                        None => (line, &b""[..]),
                    };
                    let kept = text
                        .iter()
                        .rposition(|byte| !matches!(byte, b' ' | b'\t'))
                        .map_or(0, |last| last + 1);
                    changed.extend_from_slice(&text[..kept]);
                    changed.extend_from_slice(end);
                }
                changed
            }
        };
        (changed != message).then_some(changed)
    }
}

/// The width a re-wrapping relay breaks text lines at.
const WRAP: usize = 60;

/// Where the text itself starts: after the header section of the first text/plain part, or
/// after the message's own header section.
fn text_start(message: &[u8], body_start: usize) -> usize {
    find(message, b"Content-Type: text/plain")
        .and_then(|at| find(&message[at..], b"\r\n\r\n").map(|end| at + end + 4))
        .unwrap_or(body_start)
}

/// Where two messages first differ: the 1-based line and column in `original`, and that
/// line as it reads in each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
    /// The line in the original, escaped for a transcript.
    pub original: String,
    /// The same line in the changed message, escaped.
    pub changed: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: was \"{}\", now \"{}\"",
            self.line, self.column, self.original, self.changed
        )
    }
}

/// The first difference between `original` and `changed`, if they differ.
pub fn first_difference(original: &[u8], changed: &[u8]) -> Option<Difference> {
    let at = original
        .iter()
        .zip(changed)
        .position(|(a, b)| a != b)
        .or_else(|| (original.len() != changed.len()).then(|| original.len().min(changed.len())))?;
    let line_start = original[..at]
        .iter()
        .rposition(|byte| *byte == b'\n')
        .map_or(0, |newline| newline + 1);
    let line = original[..line_start]
        .iter()
        .filter(|byte| **byte == b'\n')
        .count()
        + 1;
    let line_of = |bytes: &[u8]| {
        let rest = bytes.get(line_start..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|byte| *byte == b'\n')
            .map_or(rest.len(), |newline| newline + 1);
        escape(&rest[..end])
    };
    Some(Difference {
        line,
        column: at - line_start + 1,
        original: line_of(original),
        changed: line_of(changed),
    })
}

/// Printable ASCII as it is; CR, LF, tab and anything else escaped; at most 60 characters.
fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for byte in bytes.iter().take(60) {
        match byte {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(char::from(*byte)),
            other => out.push_str(&format!("\\x{other:02x}")),
        }
    }
    if bytes.len() > 60 {
        out.push('…');
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGE: &[u8] = b"Subject: x\r\n\r\nThe quarterly figures are final, checked twice, and must stay private.  \r\nbye\r\n";

    #[test]
    fn each_change_changes_the_body_and_says_where() {
        let lf = TransitChange::LfOnly.apply(MESSAGE).unwrap();
        assert!(!lf.contains(&b'\r'));
        assert_eq!(
            first_difference(MESSAGE, &lf).unwrap().to_string(),
            "line 1, column 11: was \"Subject: x\\r\\n\", now \"Subject: x\\n\""
        );
        let wrapped = TransitChange::Rewrap.apply(MESSAGE).unwrap();
        assert!(wrapped.starts_with(
            b"Subject: x\r\n\r\nThe quarterly figures are final, checked twice, and must\r\nstay"
        ));
        assert_eq!(first_difference(MESSAGE, &wrapped).unwrap().line, 3);
        let edited = TransitChange::EditBody.apply(MESSAGE).unwrap();
        assert_eq!(first_difference(MESSAGE, &edited).unwrap().column, 7);
        let stripped = TransitChange::StripTrailingSpace.apply(MESSAGE).unwrap();
        assert!(stripped.ends_with(b"private.\r\nbye\r\n"));
    }

    #[test]
    fn redating_moves_the_date_header_two_hours_and_nothing_else() {
        let message = b"From: a@example\r\nDate: Thu, 01 Mar 2001 09:00:00 +0000\r\nSubject: x\r\n\r\nDate: not a header\r\n";
        let redated = TransitChange::Redate.apply(message).unwrap();
        assert_eq!(
            redated,
            b"From: a@example\r\nDate: Thu, 01 Mar 2001 11:00:00 +0000\r\nSubject: x\r\n\r\nDate: not a header\r\n"
        );
        assert_eq!(TransitChange::Redate.apply(MESSAGE), None);
    }

    #[test]
    fn a_change_with_nothing_to_change_says_so() {
        assert_eq!(
            TransitChange::Rewrap.apply(b"Subject: x\r\n\r\nshort\r\n"),
            None
        );
        assert_eq!(first_difference(b"same", b"same"), None);
    }
}
