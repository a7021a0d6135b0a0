//! A reading in words: the one place a [`Reading`] becomes text.
//!
//! [`Reading::describe`] walks the layers once and, for each, writes everything a reading says
//! about it: the record's details (`decrypted-with`, `signature`, `chain` …), the layer's
//! sentence in the `layers` list, the line [`Reading::verdicts`] gives for comparing two
//! engines' readings (engine-neutral, free of labels: the cross-check's "the engines
//! disagree" and `kmlab inspect --format json`), and the problem that sets the record's
//! outcome. The transcript, `kmlab inspect` and the cross-check all take their words from
//! here, so a new kind of layer or verdict is described for all of them in one function.
//! `clients` does not know the report: the caller turns [`RecordDetail`]s into its details
//! and names certificates through [`CertificateNames`].

use model::{CertificateDer, CertifiedKey, KeyGeneration, Named, Outcome, Timestamp};
use pki::{CertificateInfo, ChainVerdict};
use smime::structure::{CertificateId, EnvelopeSummary};
use smime::{Cipher, SignatureCheck, SignatureStatus};

use super::{Content, KeyAttempt, Layer, Objection, Reading};
use crate::RecordDetail;
use crate::persona::SignForm;
use crate::policy::{Anchor, Revocation, SignaturePolicy};

/// How a description names certificates: a run's certificate book (`alice enc#1`), or
/// [`Unnamed`].
pub trait CertificateNames {
    /// The label of `certificate`, if it has one.
    fn label(&self, certificate: &CertificateDer) -> Option<&str>;

    /// The label of the certificate an identifier names, if it has one.
    fn label_of(&self, id: &CertificateId) -> Option<&str>;

    /// `label (serial …)` for a certificate, or its subject if it has no label; an
    /// implementation may remember the answer rather than parse the certificate each time.
    fn describe(&self, certificate: &CertificateDer) -> String {
        describe_certificate(self.label(certificate), certificate)
    }
}

/// No certificate has a label: each is described by its subject and serial.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unnamed;

impl CertificateNames for Unnamed {
    fn label(&self, _: &CertificateDer) -> Option<&str> {
        None
    }

    fn label_of(&self, _: &CertificateId) -> Option<&str> {
        None
    }
}

/// `label (serial …)` for a certificate with a label, `subject (serial …)` for one without.
pub fn describe_certificate(label: Option<&str>, certificate: &CertificateDer) -> String {
    match (label, CertificateInfo::parse(certificate)) {
        (Some(label), Ok(info)) => format!("{label} (serial {})", info.serial),
        (Some(label), Err(_)) => label.to_owned(),
        (None, Ok(info)) => format!("{} (serial {})", info.subject, info.serial),
        (None, Err(_)) => "an unparseable certificate".to_owned(),
    }
}

/// What is wrong with a reading: the worst thing found, and the outcome it gives the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `error` when the message could not be read or a signature failed its cryptography,
    /// `warning` when the cryptography held but the client's trust policy did not.
    pub outcome: Outcome,
    /// The reason word (`tampered`, `no-key-opens`, `untrusted-root` …).
    pub reason: &'static str,
}

/// A reading in words.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Description {
    /// The record's details, in order: each layer's, the `layers` list, then the `body`.
    pub details: Vec<RecordDetail>,
    /// The worst problem, the first found among equals; `None` when all is well.
    pub problem: Option<Problem>,
    /// One line per layer and one for the content, for comparing two engines' readings.
    pub verdicts: Vec<String>,
}

impl Reading {
    /// Describes the reading, naming certificates by `names` and the reader's own keys by
    /// `keys` (a key without a label is `enc#<generation>`).
    pub fn describe(&self, names: &dyn CertificateNames, keys: &[CertifiedKey]) -> Description {
        let mut words = Words {
            names,
            keys,
            details: Vec::new(),
            sentences: Vec::new(),
            verdicts: Vec::new(),
            problem: None,
        };
        for layer in &self.layers {
            match layer {
                Layer::Enveloped {
                    legacy,
                    summary,
                    opened_with,
                    attempts,
                } => words.envelope(*legacy, summary, *opened_with, attempts),
                Layer::Signed {
                    form,
                    check,
                    policy,
                    digest_known,
                    crlf_restored,
                    objections,
                } => words.signature(
                    *form,
                    check,
                    policy.as_ref(),
                    (*digest_known, objections),
                    *crlf_restored,
                ),
                Layer::Unchecked => words.unchecked(),
                Layer::Ignored { form } => words.ignored(*form),
            }
        }
        let sentences = std::mem::take(&mut words.sentences);
        words.list("layers", sentences);
        words.content(&self.content);
        Description {
            details: words.details,
            problem: words.problem,
            verdicts: words.verdicts,
        }
    }

    /// The verdicts in a form two engines' readings can be compared by: one line per layer
    /// and one for the content, free of engine-specific wording and of labels.
    pub fn verdicts(&self) -> Vec<String> {
        self.describe(&Unnamed, &[]).verdicts
    }
}

/// The words of a description as they are written, layer by layer.
struct Words<'a> {
    names: &'a dyn CertificateNames,
    keys: &'a [CertifiedKey],
    details: Vec<RecordDetail>,
    /// The `layers` list: one sentence per layer.
    sentences: Vec<String>,
    verdicts: Vec<String>,
    problem: Option<Problem>,
}

impl Words<'_> {
    fn text(&mut self, key: &'static str, value: impl Into<String>) {
        self.details.push(RecordDetail::Text {
            key,
            value: value.into(),
        });
    }

    fn list(&mut self, key: &'static str, items: Vec<String>) {
        self.details.push(RecordDetail::List { key, items });
    }

    /// Keeps the worse of the problem so far and this one; the first of equals stays.
    fn note(&mut self, outcome: Outcome, reason: &'static str) {
        let rank = |outcome: &Outcome| match outcome {
            Outcome::Error(_) => 2,
            Outcome::Warning => 1,
            _ => 0,
        };
        if self
            .problem
            .as_ref()
            .is_none_or(|current| rank(&outcome) > rank(&current.outcome))
        {
            self.problem = Some(Problem { outcome, reason });
        }
    }

    fn envelope(
        &mut self,
        legacy: bool,
        summary: &Result<EnvelopeSummary, String>,
        opened_with: Option<KeyGeneration>,
        attempts: &[KeyAttempt],
    ) {
        let (cipher, recipients) = match summary {
            Ok(summary) => {
                // Sorted: engines lay out the SET OF recipient infos differently.
                let mut labels: Vec<String> = summary
                    .recipients
                    .iter()
                    .map(|id| {
                        self.names.label_of(id).map_or_else(
                            || format!("unknown certificate ({})", id.describe()),
                            str::to_owned,
                        )
                    })
                    .collect();
                labels.sort();
                (cipher_text(summary), labels.join(", "))
            }
            Err(detail) => (format!("malformed ({detail})"), String::new()),
        };
        let tried =
            |attempt: &KeyAttempt| format!("enc#{}: {}", attempt.generation, attempt.result);
        let opened = match opened_with {
            Some(generation) => {
                let label = self.generation_label(generation);
                self.text("decrypted-with", label.clone());
                let before: Vec<String> = attempts
                    .iter()
                    .filter(|attempt| attempt.generation != generation)
                    .map(tried)
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
                attempts.iter().map(tried).collect::<Vec<_>>().join(", ")
            ),
        };
        for attempt in attempts {
            if let Some(detail) = &attempt.detail {
                self.text(attempt.result, detail.clone());
            }
        }
        self.text("cipher", cipher.clone());
        if let Ok(summary) = summary {
            self.text("algorithm", algorithm_text(summary));
        }
        let kind = if legacy {
            "sealed in the legacy format"
        } else if summary.as_ref().is_ok_and(|summary| summary.authenticated) {
            "authenticated-enveloped-data"
        } else {
            "enveloped-data"
        };
        self.sentences
            .push(format!("{kind}, {cipher}, for {recipients}: {opened}"));
        self.verdicts
            .push(envelope_verdict(legacy, summary, opened_with, attempts));
    }

    /// The label of the reader's key of `generation`, or `enc#<generation>`.
    fn generation_label(&self, generation: KeyGeneration) -> String {
        self.keys
            .iter()
            .find(|key| key.generation == generation)
            .and_then(|key| self.names.label(&key.certificate))
            .map_or_else(|| format!("enc#{generation}"), str::to_owned)
    }

    fn signature(
        &mut self,
        form: SignForm,
        check: &SignatureCheck,
        policy: Option<&SignaturePolicy>,
        (digest_known, objections): (bool, &[Objection]),
        crlf_restored: bool,
    ) {
        let names = self.names;
        let signer = check
            .signer
            .as_ref()
            .map_or_else(|| "an unknown signer".to_owned(), |der| names.describe(der));
        let digest = check
            .digest
            .map_or("unknown digest".to_owned(), |digest| digest.to_string());
        let mut sentence = format!(
            "{}-signed, {digest}, by {signer}: signature {}",
            form.name(),
            check.status.reason()
        );
        if crlf_restored {
            sentence.push_str("; line ends restored to CRLF before checking (MSG-02)");
            self.text(
                "line-endings",
                "bare LF in the signed part; CRLF restored before checking (RFC 5751 §3.1.1)",
            );
        }
        self.text("signature", check.status.reason());
        if let Some(der) = &check.signer {
            self.text("signer", names.label(der).unwrap_or("unknown"));
        }
        self.text("digest", digest);
        if let SignatureStatus::AdapterFailure { detail }
        | SignatureStatus::Unsupported { detail } = &check.status
        {
            self.text(check.status.reason(), detail.clone());
        }
        match &check.status {
            SignatureStatus::Verified => {}
            SignatureStatus::DigestMismatch | SignatureStatus::SignatureInvalid => {
                self.note(Outcome::Error(None), "tampered");
            }
            status => self.note(Outcome::Error(None), status.reason()),
        }
        if !digest_known {
            sentence.push_str("; the client does not know this digest and cannot vouch for it");
            self.note(Outcome::Warning, "digest-not-supported");
        }
        // After the trust policy: a warning about the chain is the one a reader sees first.
        if let Some(policy) = policy {
            self.policy(policy, check.signing_time, &mut sentence);
        }
        for objection in objections {
            sentence.push_str(&format!("; {}", objection.detail));
            self.text(objection.reason, objection.detail.clone());
            let outcome = if objection.refuses {
                Outcome::Error(None)
            } else {
                Outcome::Warning
            };
            self.note(outcome, objection.reason);
        }
        self.sentences.push(sentence);
        let mut verdict = signature_verdict(form, check, policy, digest_known);
        for objection in objections {
            verdict.push_str(&format!(
                ", {} {}",
                if objection.refuses {
                    "refused"
                } else {
                    "warned"
                },
                objection.reason
            ));
        }
        self.verdicts.push(verdict);
    }

    /// The client's verdict on a signature: its details, and the end of the layer's sentence.
    fn policy(
        &mut self,
        policy: &SignaturePolicy,
        signing_time: Option<Timestamp>,
        sentence: &mut String,
    ) {
        self.text("policy", policy.reason());
        self.text("chain", policy.at_reading.reason());
        sentence.push_str(&format!(
            "; chain at reading {}",
            chain_text(&policy.at_reading)
        ));
        if let (Some(at_signing), Some(time)) = (&policy.at_signing, signing_time) {
            self.text("chain-at-signing", at_signing.reason());
            sentence.push_str(&format!(
                "; signed {time}, chain then {}",
                at_signing.reason()
            ));
        }
        if policy.anchor == Some(Anchor::TrustList) {
            sentence.push_str("; trusted through the certificate trust list");
        }
        sentence.push_str(&format!("; judged at {} time", policy.judged_at.name()));
        self.text("revocation", revocation_text(&policy.revocation));
        if policy.address_matches == Some(false) {
            sentence.push_str("; signer address differs from From");
        }
        if !policy.is_valid() {
            self.note(Outcome::Warning, policy.reason());
        }
    }

    fn unchecked(&mut self) {
        self.text(
            "signature",
            "not-checked (the client does not process S/MIME)",
        );
        self.sentences
            .push("clear-signed: signature not checked, signed part shown".to_owned());
        self.verdicts.push("clear-signed, not checked".to_owned());
    }

    fn ignored(&mut self, form: SignForm) {
        self.text("signature", "ignored");
        self.sentences.push(format!(
            "{}-signed around an encrypted layer: signature ignored, as the client ignores one there",
            form.name()
        ));
        self.verdicts
            .push(format!("{}-signed, ignored", form.name()));
    }

    fn content(&mut self, content: &Content) {
        let verdict = match content {
            Content::Text(text) => {
                self.list("body", shown_body(text));
                format!("text ({} bytes)", text.len())
            }
            Content::Other(content_type) => {
                self.text("body", format!("({content_type})"));
                format!("content {content_type}")
            }
            Content::Unreadable(reason) => {
                self.note(Outcome::Error(None), reason);
                format!("unreadable: {reason}")
            }
        };
        self.verdicts.push(verdict);
    }
}

/// How much of a text body a record shows: this many lines ...
const BODY_LINES_SHOWN: usize = 100;
/// ... and this many bytes. The body itself stays whole in the message (and the `.eml`).
const BODY_BYTES_SHOWN: usize = 8192;

/// The lines of `text` a record shows: at most [`BODY_LINES_SHOWN`] lines and
/// [`BODY_BYTES_SHOWN`] bytes (a longer line cut at a character boundary), then a line saying
/// how much was left out.
fn shown_body(text: &str) -> Vec<String> {
    let mut shown = Vec::new();
    let mut bytes = 0;
    let mut consumed = 0;
    for piece in text.split_inclusive('\n') {
        if shown.len() == BODY_LINES_SHOWN || bytes >= BODY_BYTES_SHOWN {
            break;
        }
        let line = piece.strip_suffix('\n').unwrap_or(piece);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut end = line.len().min(BODY_BYTES_SHOWN - bytes);
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        shown.push(line[..end].to_owned());
        bytes += end;
        if end < line.len() {
            consumed += end;
            break;
        }
        consumed += piece.len();
    }
    let rest = &text[consumed..];
    if !rest.is_empty() {
        let lines = rest.lines().count();
        shown.push(format!(
            "... {} more byte{} ({} more line{}) not shown",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" },
            lines,
            if lines == 1 { "" } else { "s" }
        ));
    }
    shown
}

/// An envelope's line in [`Reading::verdicts`].
fn envelope_verdict(
    legacy: bool,
    summary: &Result<EnvelopeSummary, String>,
    opened_with: Option<KeyGeneration>,
    attempts: &[KeyAttempt],
) -> String {
    let cipher = match summary {
        Ok(summary) => summary
            .cipher
            .as_ref()
            .map_or_else(Clone::clone, |cipher| cipher.name().to_owned()),
        Err(_) => "malformed".to_owned(),
    };
    let tried: Vec<String> = attempts
        .iter()
        .map(|attempt| format!("enc#{} {}", attempt.generation, attempt.result))
        .collect();
    format!(
        "{} {cipher}: opened with {}; tried {}",
        if legacy { "sealed" } else { "enveloped" },
        opened_with.map_or("none".to_owned(), |generation| format!("enc#{generation}")),
        tried.join(", ")
    )
}

/// A signature's line in [`Reading::verdicts`]: the signer by serial, since labels are the
/// runner's.
fn signature_verdict(
    form: SignForm,
    check: &SignatureCheck,
    policy: Option<&SignaturePolicy>,
    digest_known: bool,
) -> String {
    let signer = check
        .signer
        .as_ref()
        .and_then(|der| CertificateInfo::parse(der).ok())
        .map_or("none".to_owned(), |info| info.serial.to_string());
    format!(
        "{}-signed by {signer}, {}{}: signature {}, policy {}",
        form.name(),
        check
            .digest
            .map_or("unknown digest", |digest| digest.name()),
        if digest_known {
            ""
        } else {
            " (unknown to the client)"
        },
        check.status.reason(),
        policy.map_or("none", SignaturePolicy::reason)
    )
}

/// An envelope's cipher as the record names it (`AES-128-CBC`), or why it is not one kmlab
/// reads (an algorithm it does not implement, named by OID, or malformed parameters).
pub fn cipher_text(summary: &EnvelopeSummary) -> String {
    summary.cipher.as_ref().map_or_else(
        |problem| {
            if smime::structure::is_unsupported(problem) {
                problem.clone()
            } else {
                format!("unreadable cipher ({problem})")
            }
        },
        ToString::to_string,
    )
}

/// CL-03: the algorithm as the message names it, and the key length that takes effect.
pub fn algorithm_text(summary: &EnvelopeSummary) -> String {
    match &summary.cipher {
        Ok(cipher) => format!(
            "{} ({}), {} effective key bits",
            summary.cipher_oid,
            match cipher {
                Cipher::Rc2Cbc40 | Cipher::Rc2Cbc64 | Cipher::Rc2Cbc128 => "rc2-cbc",
                Cipher::DesEde3Cbc => "des-ede3-cbc",
                Cipher::Aes128Cbc => "aes128-cbc",
                Cipher::Aes256Cbc => "aes256-cbc",
                Cipher::Aes128Gcm => "aes128-gcm",
                Cipher::Aes256Gcm => "aes256-gcm",
            },
            cipher.key_bits()
        ),
        Err(_) => format!(
            "{} (not read)",
            smime::structure::algorithm_name(&summary.cipher_oid)
        ),
    }
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
        ChainVerdict::V1IntermediateCa { subject } => format!(
            "v1-intermediate-ca ({subject} is a version 1 certificate used as a CA, RFC 5280 §6.1.4(k))"
        ),
        ChainVerdict::Malformed { detail } => format!("malformed-certificate ({detail})"),
    }
}

fn revocation_text(revocation: &Revocation) -> String {
    match revocation {
        Revocation::NoCrl => "no-crl (the client holds no CRL of the issuer)".to_owned(),
        Revocation::NotRevoked { crl_issued } => format!("not-revoked (CRL of {crl_issued})"),
        Revocation::Revoked {
            crl_issued,
            revoked_at,
        } => format!("revoked on {revoked_at} (CRL of {crl_issued})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_shows_the_start_of_a_long_body_and_says_how_much_more() {
        let short = "Hello Bob,\r\nsee you.\r\n";
        assert_eq!(shown_body(short), ["Hello Bob,", "see you."]);

        let many: String = (0..1000).map(|n| format!("line {n}\n")).collect();
        let shown = shown_body(&many);
        assert_eq!(shown.len(), BODY_LINES_SHOWN + 1);
        assert_eq!(
            shown[BODY_LINES_SHOWN - 1],
            format!("line {}", BODY_LINES_SHOWN - 1)
        );
        let left: String = (BODY_LINES_SHOWN..1000)
            .map(|n| format!("line {n}\n"))
            .collect();
        assert_eq!(
            shown[BODY_LINES_SHOWN],
            format!(
                "... {} more bytes ({} more lines) not shown",
                left.len(),
                1000 - BODY_LINES_SHOWN
            )
        );

        // One long line of two-byte characters, cut at a character boundary.
        let wide = "é".repeat(50_000);
        let shown = shown_body(&wide);
        assert_eq!(shown.len(), 2);
        assert_eq!(shown[0].len(), BODY_BYTES_SHOWN);
        assert_eq!(
            shown[1],
            format!(
                "... {} more bytes (1 more line) not shown",
                wide.len() - BODY_BYTES_SHOWN
            )
        );
        let total: usize = shown.iter().map(String::len).sum();
        assert!(total < BODY_BYTES_SHOWN + 100);
    }
}
