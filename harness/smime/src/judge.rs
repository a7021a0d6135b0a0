//! The key-less half of an engine's verdicts: what a message says about itself.
//!
//! Engines that hand the cryptography to another implementation (OpenSSL, an external
//! program) read the message's structure here first, so the verdicts that need no key —
//! malformed, not a recipient, an unknown cipher or digest, no signer certificate — are worded
//! the same whichever implementation does the key work, and the signer, signing time and
//! capabilities a check reports come from the message itself.

use model::CertificateDer;

use crate::structure::{
    CertificateId, algorithm_name, attribute_values, carried_certificates, content_cipher,
    is_unsupported, key_transport,
};
use crate::{Decryption, SignatureCheck, SignatureStatus};

/// What every engine says when a key opened the content key of authenticated-enveloped-data
/// but the content failed its authentication tag ([`Decryption::ContentAltered`]).
pub const TAG_MISMATCH: &str = "the key opened the content key, but the authentication tag does not match: the content, nonce or authenticated attributes changed after sealing";

/// Opens enveloped-data or authenticated-enveloped-data for `certificate`: answers from the
/// structure what needs no key, and leaves the rest to `cryptography`, called only for a
/// well-formed message that names the certificate and uses a key transport and a cipher kmlab
/// knows.
pub fn open_enveloped(
    message: &[u8],
    certificate: &CertificateDer,
    cryptography: impl FnOnce() -> Decryption,
) -> Decryption {
    let envelope = match crate::structure::decode_envelope(message) {
        Ok(envelope) => envelope,
        Err(detail) => return Decryption::Malformed { detail },
    };
    let named = envelope.recip_infos.0.iter().find_map(|info| match info {
        cms::enveloped_data::RecipientInfo::Ktri(ktri)
            if CertificateId::from_recipient(&ktri.rid).matches_der(certificate) =>
        {
            Some(ktri)
        }
        _ => None,
    });
    let Some(ktri) = named else {
        return Decryption::NotARecipient;
    };
    if let Err(detail) = key_transport(&ktri.key_enc_alg) {
        return unreadable(detail);
    }
    let algorithm = &envelope.encrypted_content.content_enc_alg;
    match content_cipher(algorithm) {
        Ok(_) => cryptography(),
        Err(detail) if is_unsupported(&detail) => Decryption::UnsupportedCipher {
            algorithm: algorithm_name(&algorithm.oid),
        },
        Err(detail) => Decryption::Malformed { detail },
    }
}

/// For authenticated-enveloped-data naming `certificate`: its cipher, the key transport of the
/// recipient info that names the certificate, and the wrapped content key there. An engine
/// whose implementation does not tell a wrong key from a failed tag unwraps the key with these
/// to tell them apart; `None` for anything else.
pub fn authenticated_recipient(
    message: &[u8],
    certificate: &CertificateDer,
) -> Option<(crate::Cipher, crate::structure::KeyTransport, Vec<u8>)> {
    let envelope = crate::structure::decode_envelope(message).ok()?;
    envelope.authentication.as_ref()?;
    let (cipher, _) = content_cipher(&envelope.encrypted_content.content_enc_alg).ok()?;
    envelope.recip_infos.0.iter().find_map(|info| match info {
        cms::enveloped_data::RecipientInfo::Ktri(ktri)
            if CertificateId::from_recipient(&ktri.rid).matches_der(certificate) =>
        {
            let transport = key_transport(&ktri.key_enc_alg).ok()?;
            Some((cipher, transport, ktri.enc_key.as_bytes().to_vec()))
        }
        _ => None,
    })
}

/// A reason from the structure readers as a decryption verdict: unsupported or malformed.
pub fn unreadable(detail: String) -> Decryption {
    if is_unsupported(&detail) {
        Decryption::Unsupported { detail }
    } else {
        Decryption::Malformed { detail }
    }
}

/// Checks signed-data: the signer, certificates, signing time, digest and capabilities come
/// from the structure, and so does every verdict that needs no cryptography. `cryptography`
/// is called only when the signature can be checked; it returns the status and, for
/// encapsulated content that verified, the content as the implementation extracted it.
pub fn check_signed(
    message: &[u8],
    detached_content: Option<&[u8]>,
    cryptography: impl FnOnce() -> (SignatureStatus, Option<Vec<u8>>),
) -> SignatureCheck {
    let signed = match crate::structure::decode_signed(message) {
        Ok(signed) => signed,
        Err(detail) => return SignatureCheck::failed(SignatureStatus::Malformed { detail }),
    };
    let summary = crate::structure::summarize_signed(&signed);
    let Some(first) = summary.signers.first() else {
        return SignatureCheck::failed(SignatureStatus::Malformed {
            detail: "no signer infos".into(),
        });
    };
    let certificates = carried_certificates(&signed);
    let mut check = SignatureCheck {
        status: SignatureStatus::Verified,
        signer: certificates
            .iter()
            .find(|der| first.id.matches_der(der))
            .cloned(),
        certificates,
        signing_time: first.signing_time,
        digest: first.digest.ok(),
        capabilities: first.capabilities.clone(),
        content: None,
    };
    let encapsulated = signed.encap_content_info.econtent.is_some();
    check.status = if !encapsulated && detached_content.is_none() {
        SignatureStatus::Malformed {
            detail: "detached signature without content".into(),
        }
    } else if let Err(oid) = first.digest {
        SignatureStatus::Unsupported {
            detail: unsupported_digest(&oid),
        }
    } else if check.signer.is_none() {
        SignatureStatus::SignerNotFound
    } else {
        let (status, content) = cryptography();
        if encapsulated && status == SignatureStatus::Verified {
            check.content = content;
        }
        status
    };
    if encapsulated && check.content.is_none() {
        // The content is part of the message even when its signature fails; show it.
        check.content = encapsulated_content(&signed);
    }
    check
}

/// MSG-09's words for a digest kmlab does not implement.
pub fn unsupported_digest(oid: &const_oid::ObjectIdentifier) -> String {
    format!(
        "{} digest {} in SignerInfo",
        crate::structure::UNSUPPORTED,
        algorithm_name(oid)
    )
}

/// The bytes of the encapsulated content, when the message carries it.
pub fn encapsulated_content(signed: &cms::signed_data::SignedData) -> Option<Vec<u8>> {
    let any = signed.encap_content_info.econtent.as_ref()?;
    any.decode_as::<der::asn1::OctetString>()
        .ok()
        .map(|octets| octets.as_bytes().to_vec())
}

/// What a signer's signature covers (RFC 5652 §5.4): the DER of its signed attributes, once
/// they are checked (one message-digest, equal to the content's digest under `digest`; one
/// content-type naming the encapsulated type; at most one signing-time, a Time), or the
/// content itself when it has none. `hash` computes a digest, so that each engine uses its
/// own library.
pub fn signed_bytes(
    info: &cms::signed_data::SignerInfo,
    signed: &cms::signed_data::SignedData,
    digest: crate::Digest,
    content: &[u8],
    hash: impl Fn(crate::Digest, &[u8]) -> Vec<u8>,
) -> Result<Vec<u8>, SignatureStatus> {
    use der::{Decode as _, Encode as _};
    let malformed = |detail: String| Err(SignatureStatus::Malformed { detail });
    let Some(attributes) = &info.signed_attrs else {
        return Ok(content.to_vec());
    };
    let digests = attribute_values(attributes, crate::oids::MESSAGE_DIGEST);
    let [value] = digests.as_slice() else {
        return malformed(format!("{} message-digest attributes", digests.len()));
    };
    let Ok(claimed) = value.decode_as::<der::asn1::OctetString>() else {
        return malformed("message-digest is not an OCTET STRING".into());
    };
    let types = attribute_values(attributes, crate::oids::CONTENT_TYPE);
    let content_type_ok = matches!(types.as_slice(), [t] if t.decode_as::<der::asn1::ObjectIdentifier>().is_ok_and(|oid| oid == signed.encap_content_info.econtent_type));
    if !content_type_ok {
        return malformed("content-type attribute missing or wrong".into());
    }
    // RFC 5652 §11.3: at most one signing-time attribute, with one value, a Time.
    match attribute_values(attributes, crate::oids::SIGNING_TIME).as_slice() {
        [] => {}
        [time] => {
            let parsed = time
                .to_der()
                .ok()
                .and_then(|der: Vec<u8>| x509_cert::time::Time::from_der(&der).ok());
            if parsed.is_none() {
                return malformed("signing-time is not a UTCTime or GeneralizedTime".into());
            }
        }
        more => return malformed(format!("{} signing-time values", more.len())),
    }
    if claimed.as_bytes() != hash(digest, content).as_slice() {
        return Err(SignatureStatus::DigestMismatch);
    }
    attributes.to_der().or_else(|e| malformed(e.to_string()))
}
