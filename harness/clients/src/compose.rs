//! Building an outgoing message: text, then the signature layer and the envelope in the order
//! the draft asks for.

use model::{CertificateDer, Timestamp};
use rand_core::CryptoRngCore;
use smime::mime::{self, MessageHeaders, SmimeType};
use smime::{
    CallContext, Capability, Cipher, Digest, Engine, EngineError, EnvelopeRequest, IdentifierKind,
    Recipient, SignRequest, SignerCredentials,
};

use crate::persona::SignForm;

/// Which layer goes inside the other (MSG-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Order {
    /// The signed message is enveloped: the usual form, whose signature only recipients see.
    #[default]
    SignThenEncrypt,
    /// The envelope is signed: anyone can check who sent it without opening it.
    EncryptThenSign,
}

model::named!(Order {
    SignThenEncrypt => "sign-then-encrypt",
    EncryptThenSign => "encrypt-then-sign",
});

/// How to envelope a message.
#[derive(Debug, Clone)]
pub struct Encryption {
    /// The content cipher.
    pub cipher: Cipher,
    /// Every recipient, the sender's own certificate included, each with how it is named.
    pub recipients: Vec<Recipient>,
    /// Sealed in the legacy format (Exchange Server security) rather than as S/MIME.
    pub legacy: bool,
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
    /// How the signer is named in the signer info.
    pub identifier: IdentifierKind,
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
    /// The signature, if any.
    pub signing: Option<Signing>,
    /// The envelope, if any.
    pub encryption: Option<Encryption>,
    /// Which layer is inside the other when there are both.
    pub order: Order,
}

/// Composes the message bytes at the draft's date, the engine told of the CA certificates
/// `authorities` (an implementation may not encrypt to or sign with a certificate whose chain
/// it cannot build).
pub fn compose(
    draft: &Draft,
    engine: &dyn Engine,
    authorities: &[CertificateDer],
    rng: &mut dyn CryptoRngCore,
) -> Result<Vec<u8>, EngineError> {
    let context = CallContext::new(draft.date, authorities);
    let mut entity = mime::text_entity(&draft.body);
    let signing = draft
        .signing
        .as_ref()
        .filter(|signing| signing.form != SignForm::None);
    match draft.order {
        Order::SignThenEncrypt => {
            if let Some(signing) = signing {
                entity = sign(&entity, signing, &context, engine, rng)?;
            }
            if let Some(encryption) = &draft.encryption {
                entity = envelope(&entity, encryption, &context, engine, rng)?;
            }
        }
        Order::EncryptThenSign => {
            if let Some(encryption) = &draft.encryption {
                entity = envelope(&entity, encryption, &context, engine, rng)?;
            }
            if let Some(signing) = signing {
                entity = sign(&entity, signing, &context, engine, rng)?;
            }
        }
    }
    Ok(mime::message(&draft.headers, &entity))
}

fn sign(
    entity: &[u8],
    signing: &Signing,
    context: &CallContext<'_>,
    engine: &dyn Engine,
    rng: &mut dyn CryptoRngCore,
) -> Result<Vec<u8>, EngineError> {
    let detached = signing.form == SignForm::Clear;
    let request = SignRequest {
        content: entity,
        signer: &signing.signer,
        digest: signing.digest,
        identifier: signing.identifier,
        signing_time: context.at,
        detached,
        capabilities: &signing.capabilities,
    };
    let signature = engine.sign(&request, context, rng)?;
    Ok(if detached {
        let mut random = [0u8; 12];
        rng.fill_bytes(&mut random);
        let boundary: String = random.iter().map(|b| format!("{b:02x}")).collect();
        mime::clear_signed_entity(
            entity,
            &signature,
            signing.digest,
            &format!("----=_kmlab_{boundary}"),
        )
    } else {
        mime::pkcs7_mime_entity(&signature, SmimeType::SignedData)
    })
}

fn envelope(
    entity: &[u8],
    encryption: &Encryption,
    context: &CallContext<'_>,
    engine: &dyn Engine,
    rng: &mut dyn CryptoRngCore,
) -> Result<Vec<u8>, EngineError> {
    let request = EnvelopeRequest {
        content: entity,
        recipients: &encryption.recipients,
        cipher: encryption.cipher,
    };
    let enveloped = engine.envelope(&request, context, rng)?;
    Ok(if encryption.legacy {
        mime::sealed_entity(&enveloped)
    } else {
        mime::pkcs7_mime_entity(
            &enveloped,
            if encryption.cipher.is_authenticated() {
                SmimeType::AuthEnvelopedData
            } else {
                SmimeType::EnvelopedData
            },
        )
    })
}
