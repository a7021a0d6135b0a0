//! The MIME structure of a stored message as IMAP sections see it: every part's header and
//! body as byte ranges of the stored bytes, with the fields BODYSTRUCTURE reports, read with
//! mail-parser.

use std::ops::Range;

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

/// One MIME part (or the message itself, or a message/rfc822 part's message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimePart {
    /// The header section, through the blank line that ends it.
    pub header: Range<usize>,
    /// The body.
    pub body: Range<usize>,
    /// Lowercase media type, `text` when absent.
    pub media_type: String,
    /// Lowercase subtype, `plain` when absent.
    pub subtype: String,
    /// Content-Type parameters, names lowercase.
    pub parameters: Vec<(String, String)>,
    /// Content-ID.
    pub id: Option<String>,
    /// Content-Description.
    pub description: Option<String>,
    /// Content-Transfer-Encoding, as written.
    pub encoding: Option<String>,
    /// Content-Disposition: its type and parameters.
    pub disposition: Option<(String, Vec<(String, String)>)>,
    /// Content-Language.
    pub language: Vec<String>,
    /// Content-Location.
    pub location: Option<String>,
    /// What the part holds.
    pub content: PartContent,
}

/// What a part holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartContent {
    /// A leaf: text, application data.
    Leaf,
    /// A multipart's parts, in order.
    Multipart(Vec<MimePart>),
    /// A message/rfc822 part's message.
    Message(Box<MimePart>),
}

impl MimePart {
    /// The number of lines in the body (for text and message parts).
    pub fn body_lines(&self, bytes: &[u8]) -> u32 {
        let body = bytes.get(self.body.clone()).unwrap_or_default();
        let lines = body.iter().filter(|&&b| b == b'\n').count()
            + usize::from(!body.is_empty() && !body.ends_with(b"\n"));
        u32::try_from(lines).unwrap_or(u32::MAX)
    }

    /// The part a section path such as `[1, 2]` names (RFC 3501 §6.4.5): a message/rfc822
    /// part's parts are numbered within its message, and a non-multipart message's only part
    /// is 1.
    pub fn part(&self, path: &[u32]) -> Option<&MimePart> {
        let Some((&first, rest)) = path.split_first() else {
            return Some(self);
        };
        let index = usize::try_from(first).ok()?.checked_sub(1)?;
        let holder = match &self.content {
            PartContent::Message(message) => message,
            _ => self,
        };
        let child = match &holder.content {
            PartContent::Multipart(children) => children.get(index)?,
            _ if index == 0 => holder,
            _ => return None,
        };
        child.part(rest)
    }
}

/// Where the body starts: after the first empty line, or at the end without one.
pub fn body_offset(message: &[u8]) -> usize {
    if message.starts_with(b"\r\n") {
        return 2;
    }
    if message.starts_with(b"\n") {
        return 1;
    }
    let crlf = find(message, b"\r\n\r\n").map(|at| at + 4);
    let lf = find(message, b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => message.len(),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses a stored message's structure; a message mail-parser cannot read at all is one
/// text/plain part.
pub fn structure(bytes: &[u8]) -> MimePart {
    let fallback = || {
        let body = body_offset(bytes);
        MimePart {
            header: 0..body,
            body: body..bytes.len(),
            media_type: "text".into(),
            subtype: "plain".into(),
            parameters: vec![("charset".into(), "us-ascii".into())],
            id: None,
            description: None,
            encoding: None,
            disposition: None,
            language: Vec::new(),
            location: None,
            content: PartContent::Leaf,
        }
    };
    match MessageParser::default().parse(bytes) {
        Some(message) if !message.parts.is_empty() => {
            let mut root = convert(&message, 0, bytes.len(), 0);
            // The top part's header is the whole message header, from the first byte.
            root.header.start = 0;
            root.body.end = bytes.len();
            root
        }
        _ => fallback(),
    }
}

/// Nesting beyond this is reported as leaves: mail-parser bounds its own nesting, this bound
/// keeps the recursion here finite whatever it returns.
const MAX_DEPTH: usize = 32;

fn convert(message: &Message<'_>, index: usize, len: usize, depth: usize) -> MimePart {
    let Some(part) = message.parts.get(index) else {
        return leaf_at(len);
    };
    let mut converted = describe(part, len);
    if depth >= MAX_DEPTH {
        return converted;
    }
    converted.content = match &part.body {
        PartType::Multipart(children) => PartContent::Multipart(
            children
                .iter()
                .map(|&child| convert(message, child as usize, len, depth + 1))
                .collect(),
        ),
        PartType::Message(nested) if !nested.parts.is_empty() => {
            let mut inner = convert(nested, 0, len, depth + 1);
            inner.header.start = converted.body.start;
            inner.body.end = converted.body.end.max(inner.body.start);
            // A nested message that was transfer-encoded has offsets into its decoded bytes,
            // which the stored bytes do not hold; such a part is shown as a leaf.
            if inner.body.end > len || inner.header.start > inner.body.start {
                PartContent::Leaf
            } else {
                PartContent::Message(Box::new(inner))
            }
        }
        _ => PartContent::Leaf,
    };
    converted
}

fn leaf_at(len: usize) -> MimePart {
    MimePart {
        header: len..len,
        body: len..len,
        media_type: "text".into(),
        subtype: "plain".into(),
        parameters: Vec::new(),
        id: None,
        description: None,
        encoding: None,
        disposition: None,
        language: Vec::new(),
        location: None,
        content: PartContent::Leaf,
    }
}

fn describe(part: &MessagePart<'_>, len: usize) -> MimePart {
    let clamp = |offset: u32| usize::try_from(offset).unwrap_or(len).min(len);
    let header_start = clamp(part.offset_header);
    let body_start = clamp(part.offset_body).max(header_start);
    let body_end = clamp(part.offset_end).max(body_start);
    let (media_type, subtype, parameters) = match part.content_type() {
        Some(ct) => (
            ct.ctype().to_ascii_lowercase(),
            ct.subtype().unwrap_or("plain").to_ascii_lowercase(),
            ct.attributes()
                .unwrap_or_default()
                .iter()
                .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                .collect(),
        ),
        None => (
            "text".to_owned(),
            "plain".to_owned(),
            vec![("charset".to_owned(), "us-ascii".to_owned())],
        ),
    };
    let disposition = part.content_disposition().map(|d| {
        (
            d.ctype().to_ascii_lowercase(),
            d.attributes()
                .unwrap_or_default()
                .iter()
                .map(|a| (a.name.to_ascii_lowercase(), a.value.to_string()))
                .collect(),
        )
    });
    let language = part
        .content_language()
        .as_text_list()
        .map(|list| list.iter().map(|l| l.to_string()).collect())
        .unwrap_or_default();
    MimePart {
        header: header_start..body_start,
        body: body_start..body_end,
        media_type,
        subtype,
        parameters,
        id: part.content_id().map(|id| format!("<{id}>")),
        description: part.content_description().map(str::to_owned),
        encoding: part.content_transfer_encoding().map(str::to_owned),
        disposition,
        language,
        location: part.content_location().map(str::to_owned),
        content: PartContent::Leaf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNED: &[u8] = b"From: a@x.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"b1\"\r\n\r\n\
This is a signed message.\r\n--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\n\
Content-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=smime.p7s\r\n\r\nAAAA\r\n--b1--\r\n";

    #[test]
    fn multipart_signed_parts_are_byte_ranges_of_the_stored_message() {
        let root = structure(SIGNED);
        assert_eq!(
            (root.media_type.as_str(), root.subtype.as_str()),
            ("multipart", "signed")
        );
        let first = root.part(&[1]).unwrap();
        assert_eq!(&SIGNED[first.body.clone()], b"hello");
        assert_eq!(
            &SIGNED[first.header.clone()],
            b"Content-Type: text/plain\r\n\r\n"
        );
        let second = root.part(&[2]).unwrap();
        assert_eq!(second.subtype, "pkcs7-signature");
        assert_eq!(&SIGNED[second.body.clone()], b"AAAA");
        assert_eq!(second.encoding.as_deref(), Some("base64"));
        assert_eq!(second.disposition.as_ref().unwrap().0, "attachment");
        assert!(root.part(&[3]).is_none());
        assert_eq!(&SIGNED[root.header.clone()][..5], b"From:");
    }

    #[test]
    fn a_single_part_message_is_its_own_part_one() {
        let plain = b"Subject: x\r\n\r\nbody\r\n";
        let root = structure(plain);
        assert_eq!(&plain[root.part(&[1]).unwrap().body.clone()], b"body\r\n");
        assert_eq!(root.body_lines(plain), 1);
    }
}
