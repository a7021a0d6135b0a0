//! Hostile input: a fixed reader whose keys and trust real messages are made for, the entry
//! points the fuzz targets and their regression tests share, a small DER editor, and the
//! generator of the malformed-input corpus.

pub mod corpus;
pub mod der_edit;
mod fixture;
pub mod targets;

pub use fixture::{Fixture, Party};

use clients::read::{Content, Layer, Reading};
use smime::SignatureStatus;

/// What a reader made of a message: a verdict (`readable`, `unreadable`, `bad-signature`,
/// `untrusted`), the reason word behind it, and the detail the failing layer gave, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The verdict.
    pub verdict: &'static str,
    /// The reason word.
    pub reason: String,
    /// What the parser or the chain check said, where that is more than the reason word.
    pub detail: Option<String>,
}

impl Verdict {
    fn new(verdict: &'static str, reason: impl Into<String>, detail: Option<String>) -> Self {
        Self {
            verdict,
            reason: reason.into(),
            detail,
        }
    }
}

/// The verdict on a reading: the first layer that failed decides it.
pub fn verdict(reading: &Reading) -> Verdict {
    for layer in &reading.layers {
        match layer {
            Layer::Enveloped {
                summary: Err(detail),
                ..
            } => {
                if let Content::Unreadable(reason) = &reading.content {
                    return Verdict::new("unreadable", *reason, Some(detail.clone()));
                }
            }
            Layer::Signed {
                check,
                policy,
                digest_known,
                ..
            } => {
                let detail = match &check.status {
                    SignatureStatus::Verified => None,
                    SignatureStatus::Malformed { detail }
                    | SignatureStatus::Unsupported { detail } => Some(detail.clone()),
                    _ => None,
                };
                if check.status != SignatureStatus::Verified {
                    return Verdict::new("bad-signature", check.status.reason(), detail);
                }
                if !digest_known {
                    return Verdict::new("untrusted", "digest-unknown-to-the-client", None);
                }
                match policy {
                    Some(policy) if !policy.is_valid() => {
                        let chain = format!("{:?}", policy.chain());
                        return Verdict::new("untrusted", policy.reason(), Some(chain));
                    }
                    Some(_) => {}
                    None => return Verdict::new("untrusted", "no-signer-certificate", None),
                }
            }
            _ => {}
        }
    }
    match &reading.content {
        Content::Text(_) => Verdict::new("readable", "text/plain", None),
        Content::Other(content_type) => Verdict::new("readable", content_type.clone(), None),
        Content::Unreadable(reason) => Verdict::new("unreadable", *reason, None),
    }
}
