//! How a reading becomes a record: the engine's verdict and the client's, layer by layer, in
//! the words transcripts use. The runner's `read` step and `kmlab inspect` both describe
//! readings here, so a message inspected later reads exactly as it did in the run.

use clients::read::{Content, Layer, Reading};
use model::{CertificateDer, CertifiedKey, KeyGeneration, Named, Outcome};
use pki::ChainVerdict;
use report::{Detail, Record};
use smime::structure::EnvelopeSummary;
use smime::{Cipher, SignatureStatus};

use crate::book::CertificateBook;

/// Turns a reading into details and sets the record's outcome: `error` when the message could
/// not be read or a signature failed its cryptography, `warning` when the cryptography held
/// but the client's trust policy did not, `ok` otherwise.
pub fn describe_reading(
    book: &CertificateBook,
    keys: &[CertifiedKey],
    reading: &Reading,
    record: &mut Record,
) {
    let mut layers = Vec::new();
    let mut problem: Option<(Outcome, String)> = None;
    let mut note = |outcome: Outcome, reason: &str| {
        let rank = |o: &Outcome| match o {
            Outcome::Error(_) => 2,
            Outcome::Warning => 1,
            _ => 0,
        };
        if problem
            .as_ref()
            .is_none_or(|(current, _)| rank(&outcome) > rank(current))
        {
            problem = Some((outcome, reason.to_owned()));
        }
    };
    for layer in &reading.layers {
        match layer {
            Layer::Enveloped {
                legacy,
                summary,
                opened_with,
                attempts,
            } => {
                let (cipher, recipients) = match summary {
                    Ok(summary) => {
                        // Sorted: engines lay out the SET OF recipient infos differently.
                        let mut labels: Vec<String> = summary
                            .recipients
                            .iter()
                            .map(|id| book.label_for(id))
                            .collect();
                        labels.sort();
                        (cipher_text(summary), labels.join(", "))
                    }
                    Err(detail) => (format!("malformed ({detail})"), String::new()),
                };
                let opened = match opened_with {
                    Some(generation) => {
                        let label = generation_label(book, keys, *generation);
                        record
                            .details
                            .push(Detail::text("decrypted-with", label.clone()));
                        let before: Vec<String> = attempts
                            .iter()
                            .filter(|a| a.generation != *generation)
                            .map(|a| format!("enc#{}: {}", a.generation, a.result))
                            .collect();
                        if before.is_empty() {
                            format!("opened with {label}")
                        } else {
                            format!("opened with {label} (tried first {})", before.join(", "))
                        }
                    }
                    None if attempts.is_empty() => "not opened".to_owned(),
                    None => format!(
                        "no key opened it ({})",
                        attempts
                            .iter()
                            .map(|a| format!("enc#{}: {}", a.generation, a.result))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                for attempt in attempts {
                    if let Some(detail) = &attempt.detail {
                        record
                            .details
                            .push(Detail::text(attempt.result, detail.clone()));
                    }
                }
                record.details.push(Detail::text("cipher", cipher.clone()));
                if let Ok(summary) = summary {
                    record
                        .details
                        .push(Detail::text("algorithm", algorithm_text(summary)));
                }
                let kind = if *legacy {
                    "sealed in the legacy format"
                } else {
                    "enveloped-data"
                };
                layers.push(format!("{kind}, {cipher}, for {recipients}: {opened}"));
            }
            Layer::Unchecked => {
                record.details.push(Detail::text(
                    "signature",
                    "not-checked (the client does not process S/MIME)",
                ));
                layers.push("clear-signed: signature not checked, signed part shown".to_owned());
            }
            Layer::Signed {
                form,
                check,
                policy,
                digest_known,
            } => {
                let signer = check.signer.as_ref().map_or_else(
                    || "an unknown signer".to_owned(),
                    |der: &CertificateDer| book.describe(der),
                );
                let digest = check
                    .digest
                    .map_or("unknown digest".to_owned(), |d| d.to_string());
                let mut line = format!(
                    "{}-signed, {digest}, by {signer}: signature {}",
                    form.name(),
                    check.status.reason()
                );
                record
                    .details
                    .push(Detail::text("signature", check.status.reason()));
                if let Some(der) = &check.signer {
                    record.details.push(Detail::text(
                        "signer",
                        book.label(der).unwrap_or("unknown").to_owned(),
                    ));
                }
                record.details.push(Detail::text("digest", digest));
                if let (
                    SignatureStatus::AdapterFailure { detail }
                    | SignatureStatus::Unsupported { detail },
                    reason,
                ) = (&check.status, check.status.reason())
                {
                    record.details.push(Detail::text(reason, detail.clone()));
                }
                match check.status {
                    SignatureStatus::Verified => {}
                    SignatureStatus::DigestMismatch | SignatureStatus::SignatureInvalid => {
                        note(Outcome::Error(None), "tampered");
                    }
                    _ => note(Outcome::Error(None), check.status.reason()),
                }
                if !digest_known {
                    line.push_str("; the client does not know this digest and cannot vouch for it");
                    note(Outcome::Warning, "digest-not-supported");
                }
                if let Some(policy) = policy {
                    record.details.push(Detail::text("policy", policy.reason()));
                    record
                        .details
                        .push(Detail::text("chain", policy.at_reading.reason()));
                    line.push_str(&format!(
                        "; chain at reading {}",
                        chain_text(&policy.at_reading)
                    ));
                    if let (Some(at_signing), Some(time)) = (&policy.at_signing, check.signing_time)
                    {
                        record
                            .details
                            .push(Detail::text("chain-at-signing", at_signing.reason()));
                        line.push_str(&format!(
                            "; signed {time}, chain then {}",
                            at_signing.reason()
                        ));
                    }
                    if policy.anchor == Some(clients::policy::Anchor::TrustList) {
                        line.push_str("; trusted through the certificate trust list");
                    }
                    line.push_str(&format!("; judged at {} time", policy.judged_at.name()));
                    record.details.push(Detail::text(
                        "revocation",
                        revocation_text(&policy.revocation),
                    ));
                    if policy.address_matches == Some(false) {
                        line.push_str("; signer address differs from From");
                    }
                    if !policy.is_valid() {
                        note(Outcome::Warning, policy.reason());
                    }
                }
                layers.push(line);
            }
        }
    }
    record.details.push(Detail::list("layers", layers));
    match &reading.content {
        Content::Text(text) => {
            record.details.push(Detail::list(
                "body",
                text.lines().map(str::to_owned).collect(),
            ));
        }
        Content::Other(content_type) => record
            .details
            .push(Detail::text("body", format!("({content_type})"))),
        Content::Unreadable(reason) => note(Outcome::Error(None), reason),
    }
    if let Some((outcome, reason)) = problem {
        record.outcome = outcome;
        record.reason = Some(reason);
    }
}

fn generation_label(
    book: &CertificateBook,
    keys: &[CertifiedKey],
    generation: KeyGeneration,
) -> String {
    keys.iter()
        .find(|key| key.generation == generation)
        .and_then(|key| book.label(&key.certificate))
        .map_or_else(|| format!("enc#{generation}"), str::to_owned)
}

fn chain_text(verdict: &ChainVerdict) -> String {
    match verdict {
        ChainVerdict::Valid { path } => format!("valid ({})", path.join(" <- ")),
        ChainVerdict::UntrustedRoot { root } => format!("untrusted-root ({root})"),
        ChainVerdict::IssuerNotFound { subject, issuer } => {
            format!("issuer-not-found ({subject} names {issuer})")
        }
        ChainVerdict::Expired { subject, not_after } => {
            format!("expired ({subject} ended {not_after})")
        }
        ChainVerdict::NotYetValid {
            subject,
            not_before,
        } => format!("not-yet-valid ({subject} starts {not_before})"),
        ChainVerdict::UnknownCriticalExtension { subject, oid } => {
            format!("unknown-critical-extension ({subject}: {oid})")
        }
        ChainVerdict::Malformed { detail } => format!("malformed-certificate ({detail})"),
    }
}

fn revocation_text(revocation: &clients::policy::Revocation) -> String {
    use clients::policy::Revocation;
    match revocation {
        Revocation::NoCrl => "no-crl (the client holds no CRL of the issuer)".to_owned(),
        Revocation::NotRevoked { crl_issued } => format!("not-revoked (CRL of {crl_issued})"),
        Revocation::Revoked {
            crl_issued,
            revoked_at,
        } => format!("revoked on {revoked_at} (CRL of {crl_issued})"),
    }
}

pub(crate) fn cipher_text(summary: &EnvelopeSummary) -> String {
    summary.cipher.as_ref().map_or_else(
        |unknown| format!("unknown cipher ({unknown})"),
        ToString::to_string,
    )
}

/// CL-03: the algorithm as the message names it, and the key length that takes effect.
pub(crate) fn algorithm_text(summary: &EnvelopeSummary) -> String {
    match &summary.cipher {
        Ok(cipher) => format!(
            "{} ({}), {} effective key bits",
            summary.cipher_oid,
            match cipher {
                Cipher::Rc2Cbc40 | Cipher::Rc2Cbc64 | Cipher::Rc2Cbc128 => "rc2-cbc",
                Cipher::DesEde3Cbc => "des-ede3-cbc",
                Cipher::Aes128Cbc => "aes128-cbc",
                Cipher::Aes256Cbc => "aes256-cbc",
            },
            cipher.key_bits()
        ),
        Err(_) => format!("{} (unknown)", summary.cipher_oid),
    }
}
