//! The boundary between kmlab and the S/MIME engines that do the cryptography.
//!
//! An [`Engine`] signs, envelopes, decrypts and verifies CMS. Certificates, keys and messages
//! cross this boundary only as DER or byte newtypes, so no engine's types leak into the rest of
//! kmlab. Around the trait sit the engine-independent parts: the algorithm vocabulary, the
//! verdicts (data, never errors), MIME framing ([`mime`]) and a structural summary of any CMS
//! message ([`structure`]) that reports show instead of raw random bytes.

pub mod algorithms;
pub mod assemble;
pub mod judge;
pub mod mime;
pub mod oids;
pub mod structure;

/// BER re-encoded as DER for the readers (it lives in `model`, since PKCS #12 files need it
/// too).
pub use model::ber;

use model::{CertificateDer, PrivateKeyDer, Timestamp};
use rand_core::CryptoRngCore;

pub use algorithms::{Capability, Cipher, Digest, IdentifierKind};

/// A CMS `ContentInfo`, DER-encoded.
#[derive(Clone, PartialEq, Eq)]
pub struct CmsDer(Vec<u8>);

impl CmsDer {
    /// Wraps DER bytes.
    pub fn new(der: Vec<u8>) -> Self {
        Self(der)
    }

    /// The DER bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The DER bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl std::fmt::Debug for CmsDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CmsDer({} bytes)", self.0.len())
    }
}

/// A signer's certificate, private key and the chain certificates to include.
#[derive(Debug, Clone)]
pub struct SignerCredentials {
    /// The signing certificate.
    pub certificate: CertificateDer,
    /// Its private key.
    pub key: PrivateKeyDer,
    /// Further certificates to put in the message (issuers up to the root).
    pub chain: Vec<CertificateDer>,
}

/// What to sign and how.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    /// The content: a MIME entity with CRLF line ends.
    pub content: &'a [u8],
    /// Who signs.
    pub signer: &'a SignerCredentials,
    /// The digest algorithm.
    pub digest: Digest,
    /// How the signer is identified in `SignerInfo.sid`.
    pub identifier: IdentifierKind,
    /// The signing time put in the signed attributes.
    pub signing_time: Timestamp,
    /// Detached (`true`, for multipart/signed) or encapsulated (opaque signed-data).
    pub detached: bool,
    /// The sender's SMIMECapabilities, most preferred first.
    pub capabilities: &'a [Capability],
}

/// One recipient of an enveloped message.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The recipient's encryption certificate.
    pub certificate: CertificateDer,
    /// How the recipient is identified in `KeyTransRecipientInfo.rid`.
    pub identifier: IdentifierKind,
}

/// What to envelope and for whom.
#[derive(Debug, Clone, Copy)]
pub struct EnvelopeRequest<'a> {
    /// The content: a MIME entity with CRLF line ends.
    pub content: &'a [u8],
    /// Everyone who may open it (the sender included, for the sent copy).
    pub recipients: &'a [Recipient],
    /// The content-encryption algorithm.
    pub cipher: Cipher,
}

/// The circumstances of one operation: when it happens and which certification authorities
/// the caller knows of. The built-in engines need neither (they judge nothing about time or
/// trust; that is the reader's policy), but a real implementation in a user's seat checks
/// validity at the moment it is told and will not use a certificate whose chain it cannot
/// build, so every operation is told both rather than the engine keeping a clock of its own.
#[derive(Debug, Clone, Copy)]
pub struct CallContext<'a> {
    /// The virtual time of the operation: the moment of reading for decrypt and verify, of
    /// building for sign and envelope.
    pub at: Timestamp,
    /// CA certificates the caller vouches for, whichever its trust policy makes of them.
    pub authorities: &'a [CertificateDer],
}

impl<'a> CallContext<'a> {
    /// The operation happens at `at`, with `authorities` known.
    pub fn new(at: Timestamp, authorities: &'a [CertificateDer]) -> Self {
        Self { at, authorities }
    }
}

/// A failure of the engine itself, as opposed to a verdict about a message.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A certificate or key handed to the engine could not be used.
    #[error("unusable {what}: {detail}")]
    Unusable {
        /// Which input.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The engine cannot do what was asked (an algorithm it lacks).
    #[error("unsupported by the {engine} engine: {detail}")]
    Unsupported {
        /// The engine's name.
        engine: String,
        /// What is missing.
        detail: String,
    },
    /// Encoding failed.
    #[error("encoding: {0}")]
    Encoding(String),
    /// An external implementation failed at its own job: it crashed, hung or answered
    /// something that is not an answer.
    #[error("{detail}")]
    AdapterFailure {
        /// What happened, naming the implementation.
        detail: String,
    },
}

/// What happened when a reader tried one of its keys on an enveloped message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Decryption {
    /// The key opened the message.
    Opened {
        /// The decrypted content.
        content: Vec<u8>,
    },
    /// No recipient info names this certificate.
    NotARecipient,
    /// A recipient info names this certificate but the key did not open it.
    KeyDoesNotOpen {
        /// What failed.
        detail: String,
    },
    /// The key opened the content key, but the content failed its authentication: the tag of
    /// authenticated-enveloped-data (AES-GCM) does not match its content, nonce or
    /// authenticated attributes, so they were altered after sealing.
    ContentAltered {
        /// What failed.
        detail: String,
    },
    /// The content-encryption algorithm is not one the engine knows.
    UnsupportedCipher {
        /// The algorithm, as named in the message.
        algorithm: String,
    },
    /// The message is not a well-formed enveloped-data.
    Malformed {
        /// What the parser said.
        detail: String,
    },
    /// The implementation says it cannot do this (a certificate or algorithm it refuses).
    Unsupported {
        /// Its reason.
        detail: String,
    },
    /// An external implementation failed at its own job: it crashed, hung or answered
    /// something that is not an answer.
    AdapterFailure {
        /// What happened, naming the implementation.
        detail: String,
    },
}

impl Decryption {
    /// A stable reason word for transcripts.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Opened { .. } => "opened",
            Self::NotARecipient => "not-a-recipient",
            Self::KeyDoesNotOpen { .. } => "key-does-not-open",
            Self::ContentAltered { .. } => "content-altered",
            Self::UnsupportedCipher { .. } => "unsupported-cipher",
            Self::Malformed { .. } => "malformed",
            Self::Unsupported { .. } => "unsupported",
            Self::AdapterFailure { .. } => "adapter-failure",
        }
    }

    /// What went wrong in words, for the verdicts that carry any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::KeyDoesNotOpen { detail }
            | Self::ContentAltered { detail }
            | Self::Malformed { detail }
            | Self::Unsupported { detail }
            | Self::AdapterFailure { detail } => Some(detail),
            Self::UnsupportedCipher { algorithm } => Some(algorithm),
            Self::Opened { .. } | Self::NotARecipient => None,
        }
    }
}

/// The cryptographic verdict on a signature: the maths and the message digest, nothing about
/// trust (that is the reader's policy, judged separately).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum SignatureStatus {
    /// The message digest matches and the signature verifies with the signer's key.
    Verified,
    /// The content does not hash to the signed message digest: it changed after signing.
    DigestMismatch,
    /// The signature over the signed attributes does not verify.
    SignatureInvalid,
    /// The signer's certificate is not in the message.
    SignerNotFound,
    /// The engine does not know an algorithm the message uses.
    Unsupported {
        /// What is unknown.
        detail: String,
    },
    /// The message is not well-formed signed-data.
    Malformed {
        /// What the parser said.
        detail: String,
    },
    /// An external implementation failed at its own job: it crashed, hung or answered
    /// something that is not an answer.
    AdapterFailure {
        /// What happened, naming the implementation.
        detail: String,
    },
}

impl SignatureStatus {
    /// A stable reason word for transcripts.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::DigestMismatch => "digest-mismatch",
            Self::SignatureInvalid => "signature-invalid",
            Self::SignerNotFound => "signer-not-found",
            Self::Unsupported { .. } => "unsupported",
            Self::Malformed { .. } => "malformed",
            Self::AdapterFailure { .. } => "adapter-failure",
        }
    }

    /// What went wrong in words, for the verdicts that carry any.
    pub fn detail(&self) -> Option<&str> {
        match self {
            Self::Unsupported { detail }
            | Self::Malformed { detail }
            | Self::AdapterFailure { detail } => Some(detail),
            Self::Verified
            | Self::DigestMismatch
            | Self::SignatureInvalid
            | Self::SignerNotFound => None,
        }
    }
}

/// Everything an engine learnt while checking a signed-data message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SignatureCheck {
    /// The cryptographic verdict.
    pub status: SignatureStatus,
    /// The signer's certificate, if the message carried it.
    pub signer: Option<CertificateDer>,
    /// Every certificate the message carried.
    pub certificates: Vec<CertificateDer>,
    /// The signing time from the signed attributes.
    pub signing_time: Option<Timestamp>,
    /// The digest algorithm the signer used.
    pub digest: Option<Digest>,
    /// The sender's SMIMECapabilities.
    pub capabilities: Vec<Capability>,
    /// The encapsulated content (opaque signing), absent for detached signatures.
    pub content: Option<Vec<u8>>,
}

impl SignatureCheck {
    /// A check that failed before anything could be learnt.
    pub fn failed(status: SignatureStatus) -> Self {
        Self {
            status,
            signer: None,
            certificates: Vec::new(),
            signing_time: None,
            digest: None,
            capabilities: Vec::new(),
            content: None,
        }
    }
}

/// One S/MIME implementation. Verdicts about messages are data; `Err` is reserved for the
/// engine failing to do its own job.
pub trait Engine: Send + Sync + std::fmt::Debug {
    /// A short name for transcripts: `rustcrypto`, `openssl`, an adapter's name.
    fn name(&self) -> &str;

    /// Whether the same inputs and generator always give the same bytes.
    fn is_deterministic(&self) -> bool;

    /// Produces signed-data (detached or encapsulated).
    fn sign(
        &self,
        request: &SignRequest<'_>,
        context: &CallContext<'_>,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError>;

    /// Produces enveloped-data for every recipient.
    fn envelope(
        &self,
        request: &EnvelopeRequest<'_>,
        context: &CallContext<'_>,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError>;

    /// Tries to open enveloped-data with one certificate and its private key.
    fn decrypt(
        &self,
        message: &[u8],
        certificate: &CertificateDer,
        key: &PrivateKeyDer,
        context: &CallContext<'_>,
    ) -> Decryption;

    /// Checks signed-data; `detached_content` is the signed part of a multipart/signed.
    fn verify(
        &self,
        message: &[u8],
        detached_content: Option<&[u8]>,
        context: &CallContext<'_>,
    ) -> SignatureCheck;
}
