//! Distinguished names: building them from attribute lists, printing them RFC 4514 style and
//! comparing them RFC 5280 style, all through one decoder of attribute string values.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc3280::EMAIL_ADDRESS as ID_EMAIL_ADDRESS;
use const_oid::db::rfc4519::{
    COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME, ORGANIZATIONAL_UNIT_NAME,
};
use der::asn1::{Ia5StringRef, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Any, Tagged};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

use crate::PkiError;

/// One attribute of a distinguished name, in the order X.509 encodes them (most general first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameAttribute<'a> {
    /// `C=`
    Country(&'a str),
    /// `O=`
    Organization(&'a str),
    /// `OU=`
    OrganizationalUnit(&'a str),
    /// `CN=`
    CommonName(&'a str),
    /// `E=` (PKCS #9 emailAddress, what pre-RFC 2459 clients looked for)
    Email(&'a str),
}

/// Builds a name with one attribute per RDN, most general first.
pub fn build_name(attributes: &[NameAttribute<'_>]) -> Result<Name, PkiError> {
    let mut rdns = Vec::with_capacity(attributes.len());
    for attribute in attributes {
        let (oid, value) = match *attribute {
            NameAttribute::Country(v) => (COUNTRY_NAME, directory_string(v)?),
            NameAttribute::Organization(v) => (ORGANIZATION_NAME, directory_string(v)?),
            NameAttribute::OrganizationalUnit(v) => {
                (ORGANIZATIONAL_UNIT_NAME, directory_string(v)?)
            }
            NameAttribute::CommonName(v) => (COMMON_NAME, directory_string(v)?),
            NameAttribute::Email(v) => (ID_EMAIL_ADDRESS, Any::from(Ia5StringRef::new(v)?)),
        };
        let mut set = SetOfVec::new();
        set.insert(AttributeTypeAndValue { oid, value })?;
        rdns.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(rdns))
}

/// PrintableString where the value allows it (what Windows 2000 certificate services wrote),
/// UTF8String otherwise.
fn directory_string(value: &str) -> Result<Any, PkiError> {
    Ok(match PrintableStringRef::new(value) {
        Ok(printable) => Any::from(printable),
        Err(_) => Any::from(Utf8StringRef::new(value)?),
    })
}

/// The RFC 4514 form, most specific attribute first: `CN=alice,OU=Redmond,O=Contoso`.
pub fn display_name(name: &Name) -> String {
    let mut parts = Vec::new();
    for rdn in name.0.iter().rev() {
        let attributes: Vec<String> = rdn
            .0
            .iter()
            .map(|atv| {
                format!(
                    "{}={}",
                    attribute_label(&atv.oid),
                    attribute_text(&atv.value)
                )
            })
            .collect();
        parts.push(attributes.join("+"));
    }
    parts.join(",")
}

/// The value of the first `CN` attribute.
pub fn common_name(name: &Name) -> Option<String> {
    first_attribute(name, COMMON_NAME)
}

/// The value of the first `E` (emailAddress) attribute.
pub fn email_attribute(name: &Name) -> Option<String> {
    first_attribute(name, ID_EMAIL_ADDRESS)
}

fn first_attribute(name: &Name, oid: ObjectIdentifier) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oid)
        .map(|atv| attribute_text(&atv.value))
}

fn attribute_label(oid: &ObjectIdentifier) -> String {
    match *oid {
        COMMON_NAME => "CN".into(),
        COUNTRY_NAME => "C".into(),
        ORGANIZATION_NAME => "O".into(),
        ORGANIZATIONAL_UNIT_NAME => "OU".into(),
        ID_EMAIL_ADDRESS => "E".into(),
        other => other.to_string(),
    }
}

fn attribute_text(value: &Any) -> String {
    match directory_text(value) {
        Some(decoded) => escape_rfc4514(&decoded.text),
        None => {
            let hex: String = value.value().iter().map(|b| format!("{b:02x}")).collect();
            format!("#{hex}")
        }
    }
}

/// RFC 5280 §7.1 name matching: the same RDNs in the same order, each attribute compared
/// after case folding and collapsing white space, whatever string type encodes it.
pub fn names_match(a: &Name, b: &Name) -> bool {
    a.0.len() == b.0.len()
        && a.0.iter().zip(b.0.iter()).all(|(left, right)| {
            left.0.len() == right.0.len()
                && left.0.iter().all(|attribute| {
                    right.0.iter().any(|other| {
                        other.oid == attribute.oid && values_match(&attribute.value, &other.value)
                    })
                })
        })
}

fn values_match(a: &Any, b: &Any) -> bool {
    match (prepared(a), prepared(b)) {
        (Some(left), Some(right)) => left == right,
        _ => a == b,
    }
}

/// A string attribute value prepared for comparison (RFC 4518, reduced to what these names
/// use): lower case, white space collapsed and trimmed. Only a value that decoded exactly
/// takes part: two different malformed values must not compare equal because both became
/// replacement characters, so those are compared as encoded.
fn prepared(value: &Any) -> Option<String> {
    let decoded = directory_text(value).filter(|decoded| decoded.exact)?;
    Some(
        decoded
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase(),
    )
}

/// An attribute value decoded as text by [`decode_directory_string`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectoryText {
    /// The text; undecodable parts are U+FFFD (and an odd trailing byte of a BMPString, half
    /// a character, is left out).
    pub(crate) text: String,
    /// Whether every byte was a valid encoding of the string type.
    pub(crate) exact: bool,
}

/// [`decode_directory_string`] for a parsed attribute value.
fn directory_text(value: &Any) -> Option<DirectoryText> {
    decode_directory_string(value.tag().octet(), value.value())
}

/// The universal tag of UniversalString, which `der` has no [`der::Tag`] for: a value with it is
/// refused while a certificate is parsed, so only callers holding raw tags meet it here.
const UNIVERSAL_STRING: u8 = 0x1C;

/// The one decoder of the string types X.520 attributes come in (the DirectoryString choices,
/// the IA5String of emailAddress and the VisibleString some old CAs wrote), used both to show
/// names and to compare them, so that the two never disagree on what a value says. `None` for
/// any other tag.
///
/// PrintableString, IA5String and VisibleString are ASCII subsets; they are read as UTF-8
/// (ASCII itself), since that is how misencoded certificates in the wild are meant. A
/// TeletexString is read as Latin-1, as Windows and OpenSSL do, rather than as T.61 proper.
pub(crate) fn decode_directory_string(tag: u8, bytes: &[u8]) -> Option<DirectoryText> {
    const UTF8_STRING: u8 = 0x0C;
    const PRINTABLE_STRING: u8 = 0x13;
    const TELETEX_STRING: u8 = 0x14;
    const IA5_STRING: u8 = 0x16;
    const VISIBLE_STRING: u8 = 0x1A;
    const BMP_STRING: u8 = 0x1E;
    Some(match tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING | VISIBLE_STRING => {
            match std::str::from_utf8(bytes) {
                Ok(text) => DirectoryText {
                    text: text.to_owned(),
                    exact: true,
                },
                Err(_) => DirectoryText {
                    text: String::from_utf8_lossy(bytes).into_owned(),
                    exact: false,
                },
            }
        }
        TELETEX_STRING => DirectoryText {
            text: bytes.iter().map(|&byte| char::from(byte)).collect(),
            exact: true,
        },
        BMP_STRING => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            match String::from_utf16(&units) {
                Ok(text) => DirectoryText {
                    text,
                    exact: bytes.len() % 2 == 0,
                },
                Err(_) => DirectoryText {
                    text: String::from_utf16_lossy(&units),
                    exact: false,
                },
            }
        }
        UNIVERSAL_STRING => {
            let characters: Vec<Option<char>> = bytes
                .chunks_exact(4)
                .map(|quad| {
                    char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]]))
                })
                .collect();
            DirectoryText {
                text: characters
                    .iter()
                    .map(|character| character.unwrap_or(char::REPLACEMENT_CHARACTER))
                    .collect(),
                exact: bytes.len() % 4 == 0 && characters.iter().all(Option::is_some),
            }
        }
        _ => return None,
    })
}

fn escape_rfc4514(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (index, ch) in text.chars().enumerate() {
        let needs_escape = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (index == 0 && (ch == '#' || ch == ' '))
            || (index + 1 == text.chars().count() && ch == ' ');
        if needs_escape {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_displays_most_specific_first() {
        let name = build_name(&[
            NameAttribute::Organization("Contoso"),
            NameAttribute::OrganizationalUnit("Redmond"),
            NameAttribute::CommonName("alice"),
            NameAttribute::Email("alice@contoso.example"),
        ])
        .unwrap();
        assert_eq!(
            display_name(&name),
            "E=alice@contoso.example,CN=alice,OU=Redmond,O=Contoso"
        );
        assert_eq!(common_name(&name).as_deref(), Some("alice"));
        assert_eq!(
            email_attribute(&name).as_deref(),
            Some("alice@contoso.example")
        );
    }

    #[test]
    fn escapes_special_characters() {
        let name = build_name(&[NameAttribute::CommonName("Smith, John")]).unwrap();
        assert_eq!(display_name(&name), "CN=Smith\\, John");
    }

    /// A one-RDN name `CN=<value>` whose value is `bytes` under universal `tag`.
    fn common_name_as(tag: u8, bytes: &[u8]) -> Name {
        let value = Any::new(der::Tag::try_from(tag).unwrap(), bytes).unwrap();
        let mut set = SetOfVec::new();
        set.insert(AttributeTypeAndValue {
            oid: COMMON_NAME,
            value,
        })
        .unwrap();
        RdnSequence(vec![RelativeDistinguishedName(set)])
    }

    fn utf16(text: &str) -> Vec<u8> {
        text.encode_utf16().flat_map(u16::to_be_bytes).collect()
    }

    fn utf32(text: &str) -> Vec<u8> {
        text.chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect()
    }

    /// Every string type the decoder accepts, with "Zoë Contoso" in it.
    fn encodings() -> Vec<(&'static str, u8, Vec<u8>)> {
        vec![
            ("UTF8String", 0x0C, "Zoë Contoso".as_bytes().to_vec()),
            ("TeletexString", 0x14, b"Zo\xeb Contoso".to_vec()),
            ("BMPString", 0x1E, utf16("Zoë Contoso")),
            ("UniversalString", 0x1C, utf32("Zoë Contoso")),
        ]
    }

    #[test]
    fn decodes_every_directory_string_type() {
        for (tag, name) in [
            (0x13, "PrintableString"),
            (0x0C, "UTF8String"),
            (0x16, "IA5String"),
            (0x14, "TeletexString"),
            (0x1A, "VisibleString"),
        ] {
            assert_eq!(
                decode_directory_string(tag, b"Contoso Ltd"),
                Some(DirectoryText {
                    text: "Contoso Ltd".to_owned(),
                    exact: true
                }),
                "{name}"
            );
        }
        for (name, tag, bytes) in encodings() {
            let decoded = decode_directory_string(tag, &bytes).unwrap();
            assert_eq!(decoded.text, "Zoë Contoso", "{name}");
            assert!(decoded.exact, "{name}");
        }
    }

    #[test]
    fn teletex_string_is_latin_1() {
        let decoded = decode_directory_string(0x14, &[b'M', 0xfc, b'l', b'l', b'e', b'r']).unwrap();
        assert_eq!(decoded.text, "Müller");
        assert!(decoded.exact);
    }

    #[test]
    fn malformed_values_decode_lossily_and_not_exactly() {
        for (tag, bytes) in [
            (0x0C, vec![b'a', 0xff]),
            (0x1A, vec![b'a', 0xff]),
            (0x1E, vec![0xd8, 0x00]),
            (0x1E, vec![0x00, b'a', 0x00]),
            (0x1C, vec![0x00, 0x11, 0x00, 0x00]),
            (0x1C, vec![0x00, 0x00, 0x00, b'a', 0x00]),
        ] {
            let decoded = decode_directory_string(tag, &bytes).unwrap();
            assert!(!decoded.exact, "tag {tag:#x}: {bytes:?}");
        }
        assert_eq!(
            decode_directory_string(0x1E, &[0x00, b'a', 0x00])
                .unwrap()
                .text,
            "a"
        );
    }

    #[test]
    fn other_tags_are_not_strings() {
        assert_eq!(decode_directory_string(0x12, b"123"), None);
        assert_eq!(decode_directory_string(0x04, b"abc"), None);
    }

    #[test]
    fn display_and_matching_use_the_same_decoder() {
        // VisibleString once showed as text but compared as bytes: the two callers disagreed.
        let visible = common_name_as(0x1A, b"Contoso  CA");
        let printable = common_name_as(0x13, b"contoso ca");
        assert_eq!(display_name(&visible), "CN=Contoso  CA");
        assert!(names_match(&visible, &printable));
        for (name, tag, bytes) in encodings().into_iter().filter(|(_, tag, _)| *tag != 0x1C) {
            let encoded = common_name_as(tag, &bytes);
            assert_eq!(display_name(&encoded), "CN=Zoë Contoso", "{name}");
            let utf8 = common_name_as(0x0C, "ZOË   contoso".as_bytes());
            assert!(names_match(&encoded, &utf8), "{name}");
        }
    }

    #[test]
    fn malformed_values_match_only_their_own_encoding() {
        let one = common_name_as(0x0C, &[b'a', 0xff]);
        let other = common_name_as(0x0C, &[b'a', 0xfe]);
        assert_eq!(display_name(&one), "CN=a\u{fffd}");
        assert!(names_match(&one, &one.clone()));
        assert!(!names_match(&one, &other));
    }

    #[test]
    fn other_tags_show_as_hex() {
        let numeric = common_name_as(0x12, b"42");
        assert_eq!(display_name(&numeric), "CN=#3432");
    }
}
