//! Distinguished names: building them from attribute lists and printing them RFC 4514 style.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc3280::EMAIL_ADDRESS as ID_EMAIL_ADDRESS;
use const_oid::db::rfc4519::{
    COMMON_NAME, COUNTRY_NAME, ORGANIZATION_NAME, ORGANIZATIONAL_UNIT_NAME,
};
use der::asn1::{Ia5StringRef, PrintableStringRef, SetOfVec, Utf8StringRef};
use der::{Any, Tag, Tagged};
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
    let text = match value.tag() {
        Tag::PrintableString
        | Tag::Utf8String
        | Tag::Ia5String
        | Tag::TeletexString
        | Tag::VisibleString => String::from_utf8_lossy(value.value()).into_owned(),
        Tag::BmpString => {
            let units: Vec<u16> = value
                .value()
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => {
            let hex: String = value.value().iter().map(|b| format!("{b:02x}")).collect();
            return format!("#{hex}");
        }
    };
    escape_rfc4514(&text)
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
}
