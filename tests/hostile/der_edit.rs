//! Just enough DER to take a structure apart and put it back with a change: what the corpus
//! needs to build messages no well-behaved encoder would.

/// SEQUENCE (constructed).
pub const SEQUENCE: u8 = 0x30;
/// SET (constructed).
pub const SET: u8 = 0x31;
/// INTEGER.
pub const INTEGER: u8 = 0x02;
/// BIT STRING.
pub const BIT_STRING: u8 = 0x03;
/// OCTET STRING.
pub const OCTET_STRING: u8 = 0x04;
/// `[0]` constructed, context-specific.
pub const CONTEXT_0: u8 = 0xa0;

/// A tag and content in DER's definite-length form.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let first = bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - first) as u8);
        out.extend_from_slice(&bytes[first..]);
    }
    out.extend_from_slice(content);
    out
}

/// The header length and content length of the TLV at the start of `der`; `None` if it is not
/// a well-formed definite-length TLV with a one-byte tag.
fn header(der: &[u8]) -> Option<(usize, usize)> {
    let first = *der.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let count = usize::from(first & 0x7f);
    if count == 0 || count > 4 {
        return None;
    }
    let mut length = 0usize;
    for byte in der.get(2..2 + count)? {
        length = (length << 8) | usize::from(*byte);
    }
    Some((2 + count, length))
}

/// The content of the TLV at the start of `der`.
pub fn content(der: &[u8]) -> &[u8] {
    header(der)
        .and_then(|(head, length)| der.get(head..head + length))
        .expect("a definite-length TLV the corpus built itself")
}

/// The TLVs inside the constructed TLV `der`, each whole.
pub fn children(der: &[u8]) -> Vec<&[u8]> {
    let mut rest = content(der);
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (head, length) = header(rest).expect("nested TLVs the corpus built itself");
        out.push(&rest[..head + length]);
        rest = &rest[head + length..];
    }
    out
}

/// `der` (a constructed TLV) with its children replaced.
pub fn rebuild(der: &[u8], children: &[&[u8]]) -> Vec<u8> {
    tlv(der[0], &children.concat())
}

/// `der` re-encoded with BER's indefinite length on the outer TLV and, `depth - 1` levels
/// down, on the first constructed child of each (ContentInfo, its `[0]`, the content's
/// SEQUENCE …), as streaming encoders write them.
pub fn indefinite(der: &[u8], depth: usize) -> Vec<u8> {
    if depth == 0 {
        return der.to_vec();
    }
    let parts = children(der);
    let first_constructed = parts.iter().position(|child| child[0] & 0x20 != 0);
    let mut out = vec![der[0], 0x80];
    for (index, child) in parts.iter().enumerate() {
        if Some(index) == first_constructed {
            out.extend_from_slice(&indefinite(child, depth - 1));
        } else {
            out.extend_from_slice(child);
        }
    }
    out.extend_from_slice(&[0, 0]);
    out
}
