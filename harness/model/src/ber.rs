//! Reading CMS and PKCS #12 that arrive in BER.
//!
//! CMS (RFC 5652) is defined over BER; only the signed attributes must be DER. PKCS #12 files
//! (RFC 7292) are BER too. Many real implementations (GnuPG's gpgsm, NSS's cmsutil and
//! pk12util) write indefinite lengths and content split into constructed OCTET STRINGs, while
//! kmlab's parsers take DER. [`to_der`] re-encodes such input in DER before it is read; input
//! that already is DER comes back unchanged, byte for byte.

use std::borrow::Cow;

/// Nested deeper than this, the input is not taken apart (it is left as it was).
const MAX_DEPTH: usize = 64;

/// The DER form of a BER-encoded CMS message or PKCS #12 structure; the input itself when it uses no BER-only
/// form (or does not parse, which the DER parsers then report).
pub fn to_der(input: &[u8]) -> Cow<'_, [u8]> {
    match parse(input, 0) {
        Ok((node, rest)) if rest.is_empty() && node.needs_rewrite() => {
            let mut out = Vec::with_capacity(input.len());
            node.emit(&mut out, Context::Other);
            Cow::Owned(out)
        }
        _ => Cow::Borrowed(input),
    }
}

#[derive(Debug)]
struct Node<'a> {
    /// The identifier octets, as read.
    tag: &'a [u8],
    indefinite: bool,
    body: Body<'a>,
}

#[derive(Debug)]
enum Body<'a> {
    Primitive(&'a [u8]),
    Constructed(Vec<Node<'a>>),
}

/// Where a node sits, for the one implicitly tagged string CMS has: the `encryptedContent
/// [0] IMPLICIT OCTET STRING` of an EncryptedContentInfo (the third element of a sequence
/// that starts with a content type and an algorithm identifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    EncryptedContent,
    Other,
}

impl Node<'_> {
    fn constructed(&self) -> bool {
        self.tag[0] & 0x20 != 0
    }

    /// A universal string type (OCTET STRING, BIT STRING, the character strings) in its
    /// constructed, segmented form.
    fn is_segmented_string(&self, context: Context) -> bool {
        let universal_string = self.tag.len() == 1
            && self.tag[0] & 0xC0 == 0
            && matches!(self.tag[0] & 0x1F, 3 | 4 | 12 | 19 | 20 | 22 | 26 | 30);
        self.constructed() && (universal_string || context == Context::EncryptedContent)
    }

    fn needs_rewrite(&self) -> bool {
        if self.indefinite {
            return true;
        }
        match &self.body {
            Body::Primitive(_) => false,
            Body::Constructed(children) => {
                self.is_segmented_string(Context::Other)
                    || children.iter().any(Node::needs_rewrite)
                    || self
                        .encrypted_content_index()
                        .is_some_and(|index| children.get(index).is_some_and(Node::constructed))
            }
        }
    }

    /// The index of an implicitly tagged encrypted content among this sequence's children.
    fn encrypted_content_index(&self) -> Option<usize> {
        let Body::Constructed(children) = &self.body else {
            return None;
        };
        let starts_like_content_info = self.tag == [0x30]
            && children.len() == 3
            && children[0].tag == [0x06]
            && children[1].tag == [0x30]
            && children[2].tag.first().is_some_and(|t| t & 0xDF == 0x80);
        starts_like_content_info.then_some(2)
    }

    fn emit(&self, out: &mut Vec<u8>, context: Context) {
        match &self.body {
            Body::Primitive(content) => {
                out.extend_from_slice(self.tag);
                push_length(out, content.len());
                out.extend_from_slice(content);
            }
            Body::Constructed(_) if self.is_segmented_string(context) => {
                let mut content = Vec::new();
                self.concatenate(&mut content);
                let mut tag = self.tag.to_vec();
                tag[0] &= !0x20;
                out.extend_from_slice(&tag);
                push_length(out, content.len());
                out.extend_from_slice(&content);
            }
            Body::Constructed(children) => {
                let special = self.encrypted_content_index();
                let mut content = Vec::new();
                for (index, child) in children.iter().enumerate() {
                    let context = if Some(index) == special {
                        Context::EncryptedContent
                    } else {
                        Context::Other
                    };
                    child.emit(&mut content, context);
                }
                out.extend_from_slice(self.tag);
                push_length(out, content.len());
                out.extend_from_slice(&content);
            }
        }
    }

    /// The contents of a segmented string, its segments joined.
    fn concatenate(&self, out: &mut Vec<u8>) {
        match &self.body {
            Body::Primitive(content) => out.extend_from_slice(content),
            Body::Constructed(children) => children.iter().for_each(|c| c.concatenate(out)),
        }
    }
}

fn push_length(out: &mut Vec<u8>, length: usize) {
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Reads one node; it and what follows it.
fn parse(input: &[u8], depth: usize) -> Result<(Node<'_>, &[u8]), ()> {
    if depth > MAX_DEPTH {
        return Err(());
    }
    let first = *input.first().ok_or(())?;
    let mut tag_len = 1;
    if first & 0x1F == 0x1F {
        while input.get(tag_len).ok_or(())? & 0x80 != 0 {
            tag_len += 1;
        }
        tag_len += 1;
    }
    let tag = &input[..tag_len];
    let rest = &input[tag_len..];
    let length_byte = *rest.first().ok_or(())?;
    let rest = &rest[1..];
    let constructed = first & 0x20 != 0;
    if length_byte == 0x80 {
        if !constructed {
            return Err(());
        }
        let mut children = Vec::new();
        let mut rest = rest;
        loop {
            if rest.starts_with(&[0, 0]) {
                return Ok((
                    Node {
                        tag,
                        indefinite: true,
                        body: Body::Constructed(children),
                    },
                    &rest[2..],
                ));
            }
            let (child, after) = parse(rest, depth + 1)?;
            children.push(child);
            rest = after;
        }
    }
    let length = if length_byte & 0x80 == 0 {
        usize::from(length_byte)
    } else {
        let count = usize::from(length_byte & 0x7F);
        if count > 8 || rest.len() < count {
            return Err(());
        }
        let value = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        let (_, after) = rest.split_at(count);
        return parse_body(tag, constructed, value, after, depth);
    };
    parse_body(tag, constructed, length, rest, depth)
}

fn parse_body<'a>(
    tag: &'a [u8],
    constructed: bool,
    length: usize,
    input: &'a [u8],
    depth: usize,
) -> Result<(Node<'a>, &'a [u8]), ()> {
    if input.len() < length {
        return Err(());
    }
    let (content, rest) = input.split_at(length);
    let body = if constructed {
        let mut children = Vec::new();
        let mut remaining = content;
        while !remaining.is_empty() {
            let (child, after) = parse(remaining, depth + 1)?;
            children.push(child);
            remaining = after;
        }
        Body::Constructed(children)
    } else {
        Body::Primitive(content)
    };
    Ok((
        Node {
            tag,
            indefinite: false,
            body,
        },
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_comes_back_unchanged() {
        // SEQUENCE { OID 1.2, OCTET STRING "ab" }
        let der = [0x30, 0x07, 0x06, 0x01, 0x2A, 0x04, 0x02, b'a', b'b'];
        assert!(matches!(to_der(&der), Cow::Borrowed(_)));
    }

    #[test]
    fn indefinite_lengths_and_segmented_strings_become_der() {
        // SEQUENCE (indefinite) { OID 1.2, OCTET STRING constructed { "a", "b" } }
        let ber = [
            0x30, 0x80, 0x06, 0x01, 0x2A, 0x24, 0x80, 0x04, 0x01, b'a', 0x04, 0x01, b'b', 0x00,
            0x00, 0x00, 0x00,
        ];
        let der = [0x30, 0x07, 0x06, 0x01, 0x2A, 0x04, 0x02, b'a', b'b'];
        assert_eq!(to_der(&ber).as_ref(), der);
    }

    #[test]
    fn the_implicit_encrypted_content_is_joined_into_one_primitive() {
        // EncryptedContentInfo { OID, AlgorithmIdentifier { OID }, [0] { "a", "b" } }
        let ber = [
            0x30, 0x80, 0x06, 0x01, 0x2A, 0x30, 0x03, 0x06, 0x01, 0x2B, 0xA0, 0x80, 0x04, 0x01,
            b'a', 0x04, 0x01, b'b', 0x00, 0x00, 0x00, 0x00,
        ];
        let der = [
            0x30, 0x0C, 0x06, 0x01, 0x2A, 0x30, 0x03, 0x06, 0x01, 0x2B, 0x80, 0x02, b'a', b'b',
        ];
        assert_eq!(to_der(&ber).as_ref(), der);
    }

    #[test]
    fn truncated_input_is_left_alone() {
        let broken = [0x30, 0x80, 0x06, 0x01];
        assert_eq!(to_der(&broken).as_ref(), broken);
    }
}
