//! Building an outgoing message: text, then the signature layer, then the envelope.

use model::{CertificateDer, Timestamp};
use rand_core::CryptoRngCore;
use smime::mime::{self, MessageHeaders, SmimeType};
use smime::{
    Capability, Cipher, Digest, Engine, EngineError, EnvelopeRequest, IdentifierKind, Recipient,
    SignRequest, SignerCredentials,
};

use crate::persona::SignForm;

/// How to envelope a message.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// The content cipher.
    pub cipher: Cipher,
    /// Every recipient certificate, the sender's own included.
    pub recipients: Vec<CertificateDer>,
}

/// How to sign a message.
#[derive(Debug, Clone)]
pub struct Signing {
    /// Clear or opaque.
    pub form: SignForm,
    /// The digest.
    pub digest: Digest,
    /// The signer.
    pub signer: SignerCredentials,
    /// The sender's SMIMECapabilities.
    pub capabilities: Vec<Capability>,
}

/// Everything about a message to be composed.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The header fields.
    pub headers: MessageHeaders,
    /// The plain-text body.
    pub body: String,
    /// The signing time (the virtual clock).
    pub date: Timestamp,
    /// How certificates are named in the CMS structures.
    pub identifier: IdentifierKind,
    /// The signature, if any.
    pub signing: Option<Signing>,
    /// The envelope, if any.
    pub encryption: Option<Encryption>,
}

/// Composes the message bytes; signing happens inside the envelope (sign-then-encrypt).
pub fn compose(
    draft: &Draft,
    engine: &dyn Engine,
    rng: &mut dyn CryptoRngCore,
) -> Result<Vec<u8>, EngineError> {
    let mut entity = mime::text_entity(&draft.body);
    if let Some(signing) = &draft.signing {
        if signing.form != SignForm::None {
            let detached = signing.form == SignForm::Clear;
            let request = SignRequest {
                content: &entity,
                signer: &signing.signer,
                digest: signing.digest,
                identifier: draft.identifier,
                signing_time: draft.date,
                detached,
                capabilities: &signing.capabilities,
            };
            let signature = engine.sign(&request, rng)?;
            entity = if detached {
                let mut random = [0u8; 12];
                rng.fill_bytes(&mut random);
                let boundary: String = random.iter().map(|b| format!("{b:02x}")).collect();
                mime::clear_signed_entity(
                    &entity,
                    &signature,
                    signing.digest,
                    &format!("----=_kmlab_{boundary}"),
                )
            } else {
                mime::pkcs7_mime_entity(&signature, SmimeType::SignedData)
            };
        }
    }
    if let Some(encryption) = &draft.encryption {
        let recipients: Vec<Recipient> = encryption
            .recipients
            .iter()
            .map(|certificate| Recipient {
                certificate: certificate.clone(),
                identifier: draft.identifier,
            })
            .collect();
        let request = EnvelopeRequest {
            content: &entity,
            recipients: &recipients,
            cipher: encryption.cipher,
        };
        let enveloped = engine.envelope(&request, rng)?;
        entity = mime::pkcs7_mime_entity(&enveloped, SmimeType::EnvelopedData);
    }
    Ok(mime::message(&draft.headers, &entity))
}
