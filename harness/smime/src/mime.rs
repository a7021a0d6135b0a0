//! MIME framing for S/MIME: building clear-signed and application/pkcs7-mime entities and
//! taking received ones apart.
//!
//! Everything here works on raw bytes. The signed part of a multipart/signed is found by a
//! line-anchored scan for the boundary, because the signature covers those exact bytes and a
//! boundary-looking string inside a line must not end the part.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mail_parser::{MessageParser, MimeHeaders, PartType};

use crate::CmsDer;
use crate::algorithms::Digest;

/// The `smime-type` of an application/pkcs7-mime entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmimeType {
    /// enveloped-data
    EnvelopedData,
    /// signed-data (opaque signing)
    SignedData,
    /// authEnveloped-data (RFC 8551 §3.2.2: authenticated-enveloped-data, AES-GCM)
    AuthEnvelopedData,
}

impl SmimeType {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EnvelopedData => "enveloped-data",
            Self::SignedData => "signed-data",
            Self::AuthEnvelopedData => "authEnveloped-data",
        }
    }
}

/// The RFC 5322 header fields of a top-level message.
#[derive(Debug, Clone)]
pub struct MessageHeaders {
    /// `From:`
    pub from: String,
    /// `To:` addresses.
    pub to: Vec<String>,
    /// `Subject:`
    pub subject: String,
    /// `Date:` in RFC 5322 form.
    pub date: String,
    /// `Message-ID:` without angle brackets.
    pub message_id: String,
}

/// Converts every bare LF to CRLF, leaving existing CRLFs alone.
pub fn to_crlf(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 32);
    let mut previous = 0u8;
    for &byte in text.as_bytes() {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

/// A text/plain entity; the body is converted to CRLF and ends with a line break.
pub fn text_entity(body: &str) -> Vec<u8> {
    let mut out = b"Content-Type: text/plain; charset=us-ascii\r\n\
Content-Transfer-Encoding: 7bit\r\n\r\n"
        .to_vec();
    out.extend_from_slice(&to_crlf(body));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A multipart/signed entity around `signed_part` with a detached signature.
pub fn clear_signed_entity(
    signed_part: &[u8],
    signature: &CmsDer,
    digest: Digest,
    boundary: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(signed_part.len() + signature.as_bytes().len() * 2 + 512);
    out.extend_from_slice(
        format!(
            "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; \
micalg={}; boundary=\"{boundary}\"\r\n\r\n\
This is an S/MIME signed message\r\n\r\n--{boundary}\r\n",
            digest.micalg()
        )
        .as_bytes(),
    );
    out.extend_from_slice(signed_part);
    out.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\n\
Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n"
        )
        .as_bytes(),
    );
    out.extend_from_slice(&base64_lines(signature.as_bytes()));
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// An application/pkcs7-mime entity carrying `der`.
pub fn pkcs7_mime_entity(der: &CmsDer, smime_type: SmimeType) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: application/pkcs7-mime; smime-type={}; name=\"smime.p7m\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n",
        smime_type.as_str()
    )
    .into_bytes();
    out.extend_from_slice(&base64_lines(der.as_bytes()));
    out.extend_from_slice(b"\r\n");
    out
}

/// The media type kmlab gives a message sealed in the legacy format: the Exchange Server
/// security of Outlook 97's era (CL-02), carried as a CMS enveloped-data whose recipients may
/// hold V1 or V3 certificates, named by issuer and serial.
pub const SEALED_MEDIA_TYPE: &str = "application/x-exchange-sealed";

/// A legacy-format (Exchange Server security) entity carrying an enveloped-data `der`.
pub fn sealed_entity(der: &CmsDer) -> Vec<u8> {
    let mut out = format!(
        "Content-Type: {SEALED_MEDIA_TYPE}; name=\"sealed.dat\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"sealed.dat\"\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(&base64_lines(der.as_bytes()));
    out.extend_from_slice(b"\r\n");
    out
}

/// A complete message: the header fields, `MIME-Version`, then the entity's own header
/// fields and body.
pub fn message(headers: &MessageHeaders, entity: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\nMessage-ID: <{}>\r\nMIME-Version: 1.0\r\n",
        headers.from,
        headers.to.join(", "),
        headers.subject,
        headers.date,
        headers.message_id
    )
    .into_bytes();
    out.extend_from_slice(entity);
    out
}

/// Base64 in lines of 76 characters joined by CRLF, without a final line break.
pub fn base64_lines(bytes: &[u8]) -> Vec<u8> {
    let encoded = STANDARD.encode(bytes);
    let mut out = Vec::with_capacity(encoded.len() + encoded.len() / 38);
    for (index, chunk) in encoded.as_bytes().chunks(76).enumerate() {
        if index > 0 {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(chunk);
    }
    out
}

/// Why an entity could not be taken apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// The header section did not parse.
    #[error("the MIME header section does not parse")]
    Unparseable,
    /// multipart/signed without a boundary parameter.
    #[error("multipart/signed without a boundary")]
    NoBoundary,
    /// The boundary delimiter lines are not where they must be.
    #[error("multipart/signed: {0}")]
    BadMultipart(String),
    /// The signature or pkcs7-mime body is not valid base64.
    #[error("the {0} body is not valid base64")]
    BadBase64(&'static str),
}

/// A received entity, classified by what S/MIME must do with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entity {
    /// multipart/signed with a detached signature.
    ClearSigned {
        /// The first part exactly as received: the bytes the signature covers.
        signed: Vec<u8>,
        /// The DER of the detached signature (re-encoded if it came in BER).
        signature: Vec<u8>,
        /// The `micalg` parameter.
        micalg: Option<String>,
    },
    /// application/pkcs7-mime (or its `x-` form).
    Pkcs7 {
        /// The `smime-type` parameter, if present.
        smime_type: Option<String>,
        /// The decoded DER (re-encoded if it came in BER).
        der: Vec<u8>,
    },
    /// A message sealed in the legacy format ([`SEALED_MEDIA_TYPE`]).
    Sealed {
        /// The decoded DER of the enveloped-data.
        der: Vec<u8>,
    },
    /// Anything else: the end of the S/MIME layers.
    Plain {
        /// `type/subtype`.
        content_type: String,
        /// The decoded text of the first text part, if any.
        text: Option<String>,
    },
}

/// Classifies an entity (a whole message or a decrypted inner entity).
pub fn classify(entity: &[u8]) -> Result<Entity, MimeError> {
    let parsed = MessageParser::new()
        .parse(entity)
        .ok_or(MimeError::Unparseable)?;
    let root = parsed.root_part();
    let content_type = root.content_type();
    let main = content_type
        .map(|ct| ct.ctype().to_ascii_lowercase())
        .unwrap_or_else(|| "text".into());
    let sub = content_type
        .and_then(|ct| ct.subtype())
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| "plain".into());
    match (main.as_str(), sub.as_str()) {
        ("multipart", "signed") => {
            let boundary = content_type
                .and_then(|ct| ct.attribute("boundary"))
                .ok_or(MimeError::NoBoundary)?;
            let micalg = content_type
                .and_then(|ct| ct.attribute("micalg"))
                .map(str::to_owned);
            let parts = split_multipart(entity, boundary)?;
            let [signed, signature_part] = parts.as_slice() else {
                return Err(MimeError::BadMultipart(format!(
                    "expected 2 parts, found {}",
                    parts.len()
                )));
            };
            let signature =
                decoded_body(signature_part).ok_or(MimeError::BadBase64("signature"))?;
            Ok(Entity::ClearSigned {
                signed: signed.to_vec(),
                signature: crate::ber::to_der(&signature).into_owned(),
                micalg,
            })
        }
        ("application", "pkcs7-mime" | "x-pkcs7-mime") => {
            let smime_type = content_type
                .and_then(|ct| ct.attribute("smime-type"))
                .map(str::to_ascii_lowercase);
            let der = binary_body(root).ok_or(MimeError::BadBase64("pkcs7-mime"))?;
            let der = crate::ber::to_der(&der).into_owned();
            Ok(Entity::Pkcs7 { smime_type, der })
        }
        ("application", "x-exchange-sealed") => {
            let der = binary_body(root).ok_or(MimeError::BadBase64("sealed"))?;
            let der = crate::ber::to_der(&der).into_owned();
            Ok(Entity::Sealed { der })
        }
        _ => Ok(Entity::Plain {
            content_type: format!("{main}/{sub}"),
            text: parsed.body_text(0).map(|text| text.into_owned()),
        }),
    }
}

/// The decoded body of a single-part entity.
fn decoded_body(entity: &[u8]) -> Option<Vec<u8>> {
    let parsed = MessageParser::new().parse(entity)?;
    binary_body(parsed.root_part())
}

/// A part's decoded body as bytes; `None` when its transfer encoding is broken.
fn binary_body(part: &mail_parser::MessagePart<'_>) -> Option<Vec<u8>> {
    if part.is_encoding_problem {
        return None;
    }
    match &part.body {
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => Some(bytes.to_vec()),
        PartType::Text(text) => Some(text.as_bytes().to_vec()),
        _ => None,
    }
}

/// The body parts of a multipart entity, each exactly as it stands between its delimiter
/// line and the line break before the next delimiter (RFC 2046 §5.1.1: that line break
/// belongs to the delimiter).
pub fn split_multipart<'a>(entity: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, MimeError> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // Start offsets of lines that begin with the delimiter, with whether it closes.
    let mut delimiters = Vec::new();
    let mut line_start = 0;
    while line_start < entity.len() {
        let line_end = entity[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(entity.len(), |offset| line_start + offset + 1);
        let line = &entity[line_start..line_end];
        if let Some(rest) = line.strip_prefix(delimiter) {
            let closing = rest.starts_with(b"--");
            let tail = if closing { &rest[2..] } else { rest };
            // Only transport padding (spaces, tabs) may follow the delimiter on its line.
            if tail
                .iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
            {
                delimiters.push((line_start, line_end, closing));
                if closing {
                    break;
                }
            }
        }
        line_start = line_end;
    }
    let Some(close) = delimiters.iter().position(|(_, _, closing)| *closing) else {
        return Err(MimeError::BadMultipart("no closing delimiter".into()));
    };
    let mut parts = Vec::new();
    for window in delimiters[..=close].windows(2) {
        let (_, body_start, _) = window[0];
        let (next_start, _, _) = window[1];
        let mut end = next_start;
        if end > body_start && entity[end - 1] == b'\n' {
            end -= 1;
            if end > body_start && entity[end - 1] == b'\r' {
                end -= 1;
            }
        }
        parts.push(&entity[body_start..end.max(body_start)]);
    }
    if parts.is_empty() {
        return Err(MimeError::BadMultipart("no body parts".into()));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_conversion_leaves_crlf_alone() {
        assert_eq!(to_crlf("a\nb\r\nc"), b"a\r\nb\r\nc");
    }

    #[test]
    fn split_keeps_exact_part_bytes() {
        let entity = b"Content-Type: multipart/signed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\nline --b1 inside\r\n--b1\r\nsig\r\n--b1--\r\n";
        let parts = split_multipart(entity, "b1").unwrap();
        assert_eq!(
            parts[0],
            b"Content-Type: text/plain\r\n\r\nline --b1 inside"
        );
        assert_eq!(parts[1], b"sig");
    }

    #[test]
    fn split_handles_lf_only_messages() {
        let entity = b"Content-Type: multipart/mixed; boundary=x\n\n--x\nA\n--x\nB\n--x--\n";
        assert_eq!(
            split_multipart(entity, "x").unwrap(),
            vec![&b"A"[..], &b"B"[..]]
        );
    }

    #[test]
    fn split_requires_a_closing_delimiter() {
        assert!(split_multipart(b"--x\r\nA\r\n", "x").is_err());
    }

    #[test]
    fn classifies_clear_signed_and_pkcs7() {
        let signature = CmsDer::new(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
        let inner = text_entity("hello\n");
        let entity = clear_signed_entity(&inner, &signature, Digest::Sha256, "----=_b");
        match classify(&entity).unwrap() {
            Entity::ClearSigned {
                signed,
                signature: sig,
                micalg,
            } => {
                assert_eq!(signed, inner);
                assert_eq!(sig, signature.as_bytes());
                assert_eq!(micalg.as_deref(), Some("sha-256"));
            }
            other => panic!("{other:?}"),
        }
        let opaque = pkcs7_mime_entity(&signature, SmimeType::EnvelopedData);
        assert_eq!(
            classify(&opaque).unwrap(),
            Entity::Pkcs7 {
                smime_type: Some("enveloped-data".into()),
                der: signature.as_bytes().to_vec()
            }
        );
        let sealed = sealed_entity(&signature);
        assert_eq!(
            classify(&sealed).unwrap(),
            Entity::Sealed {
                der: signature.into_bytes()
            }
        );
    }
}
