//! A client's decisions before it sends (MSG-04 … MSG-07, CL-02, CL-03): whether it can sign
//! in the form and digest asked for and with which certificate, whom it can encrypt to, in
//! which format and with which cipher, or why it refuses. Data in, a plan or a refusal out;
//! building and submitting the message is `compose` and `submit`.

use model::{CertificateDer, MailAddress, Named, Timestamp, UserName};
use pki::{CertificateInfo, CertificateVersion};
use smime::{Capability, Cipher, Digest, IdentifierKind, Recipient};

use crate::RecordDetail;
use crate::compose::{Encryption, Signing};
use crate::faults::SendFault;
use crate::persona::{Fallback, SignForm};
use crate::policy::{Revocation, revocation};
use crate::user::VirtualUser;

/// One addressee of a message, as the sending client sees it.
#[derive(Debug, Clone, Copy)]
pub struct Correspondent<'a> {
    /// The user's name.
    pub name: &'a UserName,
    /// The address the client looks announced capabilities up by.
    pub email: &'a MailAddress,
    /// The user's current encryption certificate in the directory, if there is one.
    pub certificate: Option<&'a CertificateDer>,
    /// The CA certificates above that certificate, which the sender checks a CRL's signature
    /// against (CA-12).
    pub issuers: &'a [CertificateDer],
}

/// What a send step asks of the sender's client; `None` leaves a choice to the profile.
#[derive(Debug, Clone)]
pub struct SendRequest<'a> {
    /// How to sign; the profile's default otherwise.
    pub form: Option<SignForm>,
    /// The digest to sign with; the profile's otherwise.
    pub digest: Option<Digest>,
    /// How to name certificates; the profile's way otherwise.
    pub identifier: Option<IdentifierKind>,
    /// Whether to encrypt.
    pub encrypt: bool,
    /// A cipher the sender picked; chosen from the recipients' capabilities otherwise.
    pub cipher: Option<Cipher>,
    /// A client defect to switch on.
    pub fault: Option<SendFault>,
    /// Every addressee, in the order the step names them; the sender may be among them.
    pub recipients: &'a [Correspondent<'a>],
    /// The issuer chain of the sender's signing certificate, sent with the signature.
    pub chain: Vec<CertificateDer>,
    /// The moment of sending.
    pub now: Timestamp,
    /// Whether the sender's V1-only client lost Exchange Server advanced security when its KM
    /// server went `v3-only` (KM-06): it can then neither seal nor sign.
    pub advanced_security_lost: bool,
}

/// What the client will send.
#[derive(Debug, Clone)]
#[must_use]
pub struct SendPlan {
    /// The signing form in force (asked for or the profile's).
    pub form: SignForm,
    /// The digest in force (asked for or the profile's).
    pub digest: Digest,
    /// How certificates were asked to be named (asked for or the profile's); a certificate
    /// without a subject key identifier is named by issuer and serial in `signing` and
    /// `encryption` instead.
    pub identifier: IdentifierKind,
    /// The signature, unless the form is `none`.
    pub signing: Option<Signing>,
    /// The envelope, unless the message is not encrypted or goes in clear.
    pub encryption: Option<Encryption>,
    /// How the envelope's cipher was chosen, one line each; empty without an envelope.
    pub cipher_choice: Vec<String>,
    /// A warning the message goes out despite (`sent-unencrypted`).
    pub warning: Option<&'static str>,
    /// Facts for the record, in order, before anything about the message as built.
    pub details: Vec<RecordDetail>,
}

/// Why the client does not send, with what the user is told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct SendRefusal {
    /// The reason word (`client-cannot-sign-opaque`, `no-usable-encryption-certificate` …).
    pub reason: String,
    /// Facts for the record, in order.
    pub details: Vec<RecordDetail>,
}

/// What `sender`'s client does with `request`: checks the signing form and digest, then the
/// signing certificate, then plans the envelope. The first check that fails refuses.
pub fn plan(sender: &VirtualUser, request: &SendRequest<'_>) -> Result<SendPlan, SendRefusal> {
    let profile = sender.profile();
    let form = request.form.unwrap_or(profile.default_signing);
    let digest = request.digest.unwrap_or(profile.signing_digest);
    let identifier = request.identifier.unwrap_or(profile.identifier);
    if !profile.sign_forms.contains(&form) {
        return Err(SendRefusal::new(format!(
            "client-cannot-sign-{}",
            form.name()
        )));
    }
    if request.advanced_security_lost && (form != SignForm::None || request.encrypt) {
        // KM-06: sealing and signing are advanced security as much as opening sealed mail is.
        let recipients: Vec<&str> = request
            .recipients
            .iter()
            .map(|recipient| recipient.name.as_str())
            .filter(|name| *name != sender.name.as_str())
            .collect();
        return Err(SendRefusal {
            reason: "advanced-security-lost".to_owned(),
            details: vec![RecordDetail::Text {
                key: "problem",
                value: format!(
                    "this V1-only client lost Exchange Server advanced security when its KM server went v3-only: it can no longer seal or sign ({}), so the message is not sent and nothing reaches {}; a message neither sealed nor signed still goes out",
                    if request.encrypt {
                        "sealing asked for"
                    } else {
                        "signing asked for"
                    },
                    if recipients.is_empty() {
                        "anyone".to_owned()
                    } else {
                        recipients.join(", ")
                    }
                ),
            }],
        });
    }
    if form != SignForm::None && !profile.digests.contains(&digest) {
        return Err(SendRefusal::new("digest-not-supported"));
    }
    let signing = match form {
        SignForm::None => None,
        form => Some(signing(sender, request, form, digest, identifier).map_err(SendRefusal::new)?),
    };
    let mut plan = SendPlan {
        form,
        digest,
        identifier,
        signing,
        encryption: None,
        cipher_choice: Vec::new(),
        warning: None,
        details: Vec::new(),
    };
    if request.encrypt {
        match encryption(sender, request, identifier)? {
            Planned::Envelope {
                encryption,
                cipher_choice,
            } => {
                if encryption.legacy {
                    plan.details.push(RecordDetail::Text {
                        key: "format",
                        value: "legacy (Exchange Server security)".to_owned(),
                    });
                }
                plan.encryption = Some(encryption);
                plan.cipher_choice = cipher_choice;
            }
            Planned::InClear { unencrypted_for } => {
                plan.warning = Some("sent-unencrypted");
                plan.details.push(RecordDetail::List {
                    key: "unencrypted-for",
                    items: unencrypted_for,
                });
            }
        }
    }
    Ok(plan)
}

impl SendRefusal {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            details: Vec::new(),
        }
    }

    fn with_list(reason: &str, key: &'static str, items: Vec<String>) -> Self {
        Self {
            reason: reason.to_owned(),
            details: vec![RecordDetail::List { key, items }],
        }
    }
}

/// What the envelope planning decided, short of a refusal.
enum Planned {
    /// The envelope, and how its cipher was chosen.
    Envelope {
        encryption: Encryption,
        cipher_choice: Vec<String>,
    },
    /// A recipient had no usable certificate and the client sends in clear; who, and why.
    InClear { unencrypted_for: Vec<String> },
}

fn signing(
    sender: &VirtualUser,
    request: &SendRequest<'_>,
    form: SignForm,
    digest: Digest,
    identifier: IdentifierKind,
) -> Result<Signing, &'static str> {
    // Clients of the era sent their chain with the signature, up to and including the root,
    // so a reader without that root still sees whose it is.
    let signer = sender
        .signer(request.chain.clone())
        .ok_or("no-signing-certificate")?;
    // MSG-07 at the signing end: a client does not sign with a certificate that is out of
    // date at the moment of signing. One it cannot read it leaves to the engine to judge.
    if let Ok(info) = CertificateInfo::parse(&signer.certificate) {
        if request.now > info.not_after {
            return Err("signing-certificate-expired");
        }
        if request.now < info.not_before {
            return Err("signing-certificate-not-yet-valid");
        }
    }
    let identifier = usable_identifier(identifier, &signer.certificate);
    // The build announces what it can open: an export build only its 40-bit cipher.
    let capabilities = sender
        .profile()
        .readable_ciphers(sender.strength)
        .into_iter()
        .map(Capability::Cipher)
        .collect();
    Ok(Signing {
        form,
        digest,
        signer,
        identifier,
        capabilities,
    })
}

/// A subject key identifier where the certificate has one; issuer and serial otherwise (a v1
/// certificate has no extensions, MSG-05).
fn usable_identifier(wanted: IdentifierKind, certificate: &CertificateDer) -> IdentifierKind {
    if wanted == IdentifierKind::SubjectKeyIdentifier
        && !smime::assemble::has_key_identifier(certificate)
    {
        IdentifierKind::IssuerAndSerial
    } else {
        wanted
    }
}

fn encryption(
    sender: &VirtualUser,
    request: &SendRequest<'_>,
    identifier: IdentifierKind,
) -> Result<Planned, SendRefusal> {
    let profile = sender.profile();
    // CL-02: a client without S/MIME encryption seals in the legacy format if it can.
    let legacy = !profile.smime_encryption;
    if legacy && !profile.legacy_security {
        return Err(SendRefusal::new("client-cannot-encrypt-smime"));
    }
    let Some(own) = sender.current_encryption_key() else {
        return Err(SendRefusal::new("sender-has-no-encryption-certificate"));
    };
    let mut certificates = Vec::new();
    let mut unusable = Vec::new();
    for recipient in request.recipients {
        // The sender's own certificate goes last, below, whether or not it is addressed.
        if *recipient.name == sender.name {
            continue;
        }
        match usable_certificate(sender, recipient, request.now, legacy) {
            Ok(certificate) => certificates.push(certificate),
            Err(why) => unusable.push(format!("{} ({why})", recipient.name)),
        }
    }
    if !unusable.is_empty() {
        // MSG-04: never silently dropped; the profile says refuse or send in clear.
        return match profile.no_usable_certificate {
            Fallback::Refuse => Err(SendRefusal::with_list(
                "no-usable-encryption-certificate",
                "missing",
                unusable,
            )),
            Fallback::SendInClear => Ok(Planned::InClear {
                unencrypted_for: unusable,
            }),
        };
    }
    if legacy {
        certificates.push(own.certificate.clone());
        let recipients = certificates
            .into_iter()
            .map(|certificate| Recipient {
                identifier: IdentifierKind::IssuerAndSerial,
                certificate,
            })
            .collect();
        let cipher = sender.strength.legacy_cipher();
        return Ok(Planned::Envelope {
            encryption: Encryption {
                cipher,
                recipients,
                legacy: true,
            },
            cipher_choice: vec![format!(
                "the legacy format seals with {} in a {} build",
                cipher.name(),
                sender.strength.name()
            )],
        });
    }
    let (chosen, explanation) = choose_cipher(sender, request.recipients, request.cipher).map_err(
        |(reason, explanation)| SendRefusal::with_list(reason, "cipher-choice", explanation),
    )?;
    let cipher = match request.fault {
        Some(SendFault::DowngradeCipher) => Cipher::Rc2Cbc40,
        None => chosen,
    };
    // The sender encrypts to itself too, so the sent copy stays readable (MSG-04).
    certificates.push(own.certificate.clone());
    Ok(Planned::Envelope {
        encryption: Encryption {
            cipher,
            recipients: certificates
                .into_iter()
                .map(|certificate| Recipient {
                    identifier: usable_identifier(identifier, &certificate),
                    certificate,
                })
                .collect(),
            legacy: false,
        },
        cipher_choice: explanation,
    })
}

/// The recipient's current encryption certificate from the directory, if the format can use
/// it: present, valid now, not on the newest CRL of its issuer the sender holds (CA-12) and,
/// for S/MIME, v3 (CL-02: V1 certificates serve only the legacy format).
fn usable_certificate(
    sender: &VirtualUser,
    recipient: &Correspondent<'_>,
    now: Timestamp,
    legacy: bool,
) -> Result<CertificateDer, String> {
    let certificate = recipient.certificate.ok_or("no certificate")?;
    let info = CertificateInfo::parse(certificate).map_err(|_| "unreadable certificate")?;
    if info.version == CertificateVersion::V1 && !legacy {
        return Err("only a v1 certificate".to_owned());
    }
    if now > info.not_after {
        return Err("certificate expired".to_owned());
    }
    // The CRL's signature must hold under a CA certificate the sender knows of.
    let issuers: Vec<&CertificateDer> = sender
        .trusted_roots
        .iter()
        .chain(&sender.trust_list)
        .chain(recipient.issuers)
        .collect();
    if let Revocation::Revoked {
        crl_issued,
        revoked_at,
    } = revocation(&info, &issuers, &sender.crls, now)
    {
        return Err(format!(
            "certificate revoked {revoked_at}, on the sender's CRL issued {crl_issued}"
        ));
    }
    Ok(certificate.clone())
}

/// A chosen cipher, or a refusal reason; either way with the reasoning, one line each.
type CipherChoice = Result<(Cipher, Vec<String>), (&'static str, Vec<String>)>;

/// MSG-06: the strongest cipher the sender may use that every recipient reads, judged from
/// the SMIMECapabilities each announced (or the profile's assumption for strangers), never
/// below the sender's minimum. Returns the cipher with the reasoning, or a refusal reason.
fn choose_cipher(
    sender: &VirtualUser,
    recipients: &[Correspondent<'_>],
    explicit: Option<Cipher>,
) -> CipherChoice {
    let profile = sender.profile();
    let offered = profile.sending_ciphers(sender.strength);
    let minimum = sender.strength.minimum_bits();
    let mut explanation = Vec::new();
    let chosen = if let Some(cipher) = explicit {
        explanation.push(format!("{} chosen by the sender", cipher.name()));
        if !offered.contains(&cipher) {
            return Err(("cipher-not-offered", explanation));
        }
        cipher
    } else {
        let mut readable: Vec<Vec<Cipher>> = Vec::new();
        // The sender reads whatever it sends with, so only the others constrain the choice.
        for recipient in recipients.iter().filter(|r| *r.name != sender.name) {
            match sender.known_capabilities(recipient.email.as_str()) {
                Some(ciphers) => {
                    explanation.push(format!(
                        "{} announced {}",
                        recipient.name,
                        cipher_names(ciphers)
                    ));
                    readable.push(ciphers.to_vec());
                }
                None => {
                    let assumed = profile.unknown_capabilities.to_vec();
                    explanation.push(format!(
                        "{} announced nothing; assumed {}",
                        recipient.name,
                        cipher_names(&assumed)
                    ));
                    readable.push(assumed);
                }
            }
        }
        let Some(cipher) = offered
            .iter()
            .copied()
            .find(|cipher| readable.iter().all(|ciphers| ciphers.contains(cipher)))
        else {
            explanation.push(format!("the sender offers {}", cipher_names(&offered)));
            return Err(("no-common-cipher", explanation));
        };
        explanation.push(format!("strongest in common: {}", cipher.name()));
        cipher
    };
    if chosen.key_bits() < minimum {
        explanation.push(format!(
            "{} has {} bits, below the sender's {minimum}-bit minimum",
            chosen.name(),
            chosen.key_bits()
        ));
        return Err(("below-minimum-strength", explanation));
    }
    Ok((chosen, explanation))
}

/// Ciphers as a transcript lists them: `RC2-128, 3DES`, or `nothing`.
pub fn cipher_names(ciphers: &[Cipher]) -> String {
    if ciphers.is_empty() {
        return "nothing".to_owned();
    }
    ciphers
        .iter()
        .map(|cipher| cipher.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use model::{CertifiedKey, Duration, KeyGeneration};
    use pki::{
        CertificatePurpose, CertificateTemplate, Issuer, KeyPool, NameAttribute, RsaPrivateKey,
        SignatureHash, build_name, issue_certificate, private_key_der,
    };

    use super::*;
    use crate::persona::{Persona, Strength};

    const START: Timestamp = Timestamp::DEFAULT_START;

    /// One key for the CA and one for every user: planning looks at certificates, never at
    /// keys, and generating RSA keys is slow in a debug build.
    fn key(role: &str) -> &'static RsaPrivateKey {
        static CA: OnceLock<RsaPrivateKey> = OnceLock::new();
        static USER: OnceLock<RsaPrivateKey> = OnceLock::new();
        let cell = if role == "ca" { &CA } else { &USER };
        cell.get_or_init(|| {
            KeyPool::new(17, None)
                .key(&format!("send:{role}"), 1024)
                .unwrap()
                .0
        })
    }

    /// A certificate for `owner` from one CA; `serial` keeps each distinct.
    fn certificate(
        owner: &str,
        serial: u8,
        version: CertificateVersion,
        purpose: CertificatePurpose,
        not_before: Timestamp,
        not_after: Timestamp,
    ) -> CertificateDer {
        let ca = build_name(&[NameAttribute::CommonName("Contoso CA")]).unwrap();
        let template = CertificateTemplate {
            host_names: Vec::new(),
            version,
            purpose,
            serial: model::Serial::from_be_bytes(&[serial]),
            subject: build_name(&[NameAttribute::CommonName(owner)]).unwrap(),
            email: Some(format!("{owner}@contoso.example")),
            not_before,
            not_after,
            crl_distribution_point: None,
            hash: SignatureHash::Sha256,
        };
        let issuer = Issuer {
            name: &ca,
            key: key("ca"),
            key_identifier: None,
        };
        issue_certificate(&template, &key("user").to_public_key(), issuer).unwrap()
    }

    fn encryption_certificate(
        owner: &str,
        serial: u8,
        version: CertificateVersion,
    ) -> CertificateDer {
        certificate(
            owner,
            serial,
            version,
            CertificatePurpose::SmimeEncryption,
            START,
            START.plus(Duration::years(2)),
        )
    }

    fn signing_certificate(owner: &str, serial: u8, version: CertificateVersion) -> CertificateDer {
        certificate(
            owner,
            serial,
            version,
            CertificatePurpose::SmimeSigning,
            START,
            START.plus(Duration::years(2)),
        )
    }

    fn certified(certificate: CertificateDer) -> CertifiedKey {
        CertifiedKey {
            generation: KeyGeneration::FIRST,
            certificate,
            key: private_key_der(key("user")).unwrap(),
        }
    }

    fn user(name: &str, persona: Persona) -> VirtualUser {
        VirtualUser::new(
            UserName::new(name),
            MailAddress::new(format!("{name}@contoso.example")),
            persona,
            Strength::High,
        )
    }

    /// A user holding a signing and an encryption key with certificates of `version`.
    fn equipped(name: &str, persona: Persona, version: CertificateVersion) -> VirtualUser {
        let mut user = user(name, persona);
        user.signing_keys
            .push(certified(signing_certificate(name, 100, version)));
        user.add_encryption_key(certified(encryption_certificate(name, 101, version)));
        user
    }

    fn own_certificate(user: &VirtualUser) -> CertificateDer {
        user.current_encryption_key().unwrap().certificate.clone()
    }

    fn to<'a>(user: &'a VirtualUser, certificate: Option<&'a CertificateDer>) -> Correspondent<'a> {
        Correspondent {
            name: &user.name,
            email: &user.email,
            certificate,
            issuers: &[],
        }
    }

    /// Sign as the profile does, do not encrypt, one day after every certificate's start.
    fn request<'a>(recipients: &'a [Correspondent<'a>]) -> SendRequest<'a> {
        SendRequest {
            form: None,
            digest: None,
            identifier: None,
            encrypt: false,
            cipher: None,
            fault: None,
            recipients,
            chain: Vec::new(),
            now: START.plus(Duration::days(1)),
            advanced_security_lost: false,
        }
    }

    fn encrypted<'a>(recipients: &'a [Correspondent<'a>]) -> SendRequest<'a> {
        SendRequest {
            encrypt: true,
            ..request(recipients)
        }
    }

    fn refusal(sender: &VirtualUser, request: &SendRequest<'_>) -> SendRefusal {
        plan(sender, request).unwrap_err()
    }

    fn refused(reason: &str) -> SendRefusal {
        SendRefusal::new(reason)
    }

    fn list(key: &'static str, items: &[&str]) -> RecordDetail {
        RecordDetail::List {
            key,
            items: items.iter().map(|item| (*item).to_owned()).collect(),
        }
    }

    fn lines(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    fn envelope(plan: &SendPlan) -> &Encryption {
        plan.encryption.as_ref().expect("an envelope")
    }

    /// The envelope's recipients as (certificate, how it is named), in order.
    fn named(plan: &SendPlan) -> Vec<(CertificateDer, IdentifierKind)> {
        envelope(plan)
            .recipients
            .iter()
            .map(|recipient| (recipient.certificate.clone(), recipient.identifier))
            .collect()
    }

    #[test]
    fn a_sign_form_the_profile_lacks_is_refused_before_the_digest_is_looked_at() {
        let alice = equipped("alice", Persona::Outlook97, CertificateVersion::V1);
        let asked = SendRequest {
            form: Some(SignForm::Opaque),
            digest: Some(Digest::Sha256),
            ..request(&[])
        };
        assert_eq!(
            refusal(&alice, &asked),
            refused("client-cannot-sign-opaque")
        );
    }

    #[test]
    fn a_digest_the_profile_lacks_is_refused_only_when_signing() {
        let alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        let asked = SendRequest {
            digest: Some(Digest::Sha256),
            ..request(&[])
        };
        assert_eq!(refusal(&alice, &asked), refused("digest-not-supported"));
        let unsigned = SendRequest {
            form: Some(SignForm::None),
            ..asked
        };
        let plan = plan(&alice, &unsigned).unwrap();
        assert!(plan.signing.is_none());
        assert_eq!(plan.digest, Digest::Sha256);
    }

    #[test]
    fn signing_without_a_signing_certificate_is_refused_before_encryption_is_planned() {
        let alice = user("alice", Persona::Outlook2000);
        assert_eq!(
            refusal(&alice, &encrypted(&[])),
            refused("no-signing-certificate")
        );
        let unsigned = SendRequest {
            form: Some(SignForm::None),
            ..encrypted(&[])
        };
        assert_eq!(
            refusal(&alice, &unsigned),
            refused("sender-has-no-encryption-certificate")
        );
    }

    #[test]
    fn a_signing_certificate_out_of_date_at_sending_is_refused() {
        let mut alice = user("alice", Persona::Outlook2000);
        alice.signing_keys.push(certified(certificate(
            "alice",
            1,
            CertificateVersion::V3,
            CertificatePurpose::SmimeSigning,
            START.plus(Duration::days(10)),
            START.plus(Duration::days(20)),
        )));
        let early = SendRequest {
            now: START.plus(Duration::days(5)),
            ..request(&[])
        };
        assert_eq!(
            refusal(&alice, &early),
            refused("signing-certificate-not-yet-valid")
        );
        let late = SendRequest {
            now: START.plus(Duration::days(21)),
            ..request(&[])
        };
        assert_eq!(
            refusal(&alice, &late),
            refused("signing-certificate-expired")
        );
        let in_time = SendRequest {
            now: START.plus(Duration::days(15)),
            ..request(&[])
        };
        assert!(plan(&alice, &in_time).is_ok());
    }

    #[test]
    fn a_signature_carries_the_chain_and_the_builds_readable_ciphers() {
        let mut alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        alice.strength = Strength::Export;
        let chain = vec![signing_certificate("Contoso CA", 1, CertificateVersion::V3)];
        let asked = SendRequest {
            chain: chain.clone(),
            ..request(&[])
        };
        let plan = plan(&alice, &asked).unwrap();
        let signing = plan.signing.unwrap();
        assert_eq!(signing.form, SignForm::Clear);
        assert_eq!(signing.digest, Digest::Sha1);
        assert_eq!(signing.signer.chain, chain);
        assert_eq!(
            signing.signer.certificate,
            alice.signing_key().unwrap().certificate
        );
        assert_eq!(signing.capabilities, [Capability::Cipher(Cipher::Rc2Cbc40)]);
        assert!(plan.encryption.is_none());
        assert!(plan.cipher_choice.is_empty());
        assert_eq!(plan.warning, None);
        assert!(plan.details.is_empty());
    }

    #[test]
    fn a_recipient_without_a_usable_certificate_refuses_or_goes_in_clear_per_profile() {
        let bob = user("bob", Persona::Outlook2000);
        let carol = user("carol", Persona::Outlook2000);
        let expired = certificate(
            "carol",
            2,
            CertificateVersion::V3,
            CertificatePurpose::SmimeEncryption,
            START,
            START.plus(Duration::days(1)),
        );
        let recipients = [to(&bob, None), to(&carol, Some(&expired))];
        let late = SendRequest {
            now: START.plus(Duration::days(2)),
            ..encrypted(&recipients)
        };
        let missing = ["bob (no certificate)", "carol (certificate expired)"];

        let strict = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        assert_eq!(
            refusal(&strict, &late),
            SendRefusal {
                reason: "no-usable-encryption-certificate".to_owned(),
                details: vec![list("missing", &missing)],
            }
        );

        let lenient = equipped("alice", Persona::Outlook98, CertificateVersion::V3);
        let plan = plan(&lenient, &late).unwrap();
        assert_eq!(plan.warning, Some("sent-unencrypted"));
        assert_eq!(plan.details, [list("unencrypted-for", &missing)]);
        assert!(plan.encryption.is_none());
        assert!(plan.cipher_choice.is_empty());
        assert!(plan.signing.is_some());
    }

    #[test]
    fn an_unreadable_recipient_certificate_is_unusable() {
        let bob = user("bob", Persona::Outlook2000);
        let garbage = CertificateDer::new(vec![0x30, 0x00]);
        let recipients = [to(&bob, Some(&garbage))];
        let alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        assert_eq!(
            refusal(&alice, &encrypted(&recipients)).details,
            [list("missing", &["bob (unreadable certificate)"])]
        );
    }

    #[test]
    fn a_v1_certificate_serves_only_the_legacy_format() {
        let bob = user("bob", Persona::Outlook97);
        let bob_v1 = encryption_certificate("bob", 2, CertificateVersion::V1);
        let recipients = [to(&bob, Some(&bob_v1))];

        let smime = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        assert_eq!(
            refusal(&smime, &encrypted(&recipients)).details,
            [list("missing", &["bob (only a v1 certificate)"])]
        );

        let legacy = equipped("alice", Persona::Outlook97, CertificateVersion::V1);
        let plan = plan(&legacy, &encrypted(&recipients)).unwrap();
        assert_eq!(
            plan.details,
            [RecordDetail::Text {
                key: "format",
                value: "legacy (Exchange Server security)".to_owned(),
            }]
        );
        assert_eq!(plan.warning, None);
        assert!(envelope(&plan).legacy);
        assert_eq!(envelope(&plan).cipher, Cipher::DesEde3Cbc);
        assert_eq!(
            named(&plan),
            [
                (bob_v1.clone(), IdentifierKind::IssuerAndSerial),
                (own_certificate(&legacy), IdentifierKind::IssuerAndSerial),
            ]
        );
        assert_eq!(
            plan.cipher_choice,
            lines(&["the legacy format seals with DES-EDE3-CBC in a 128-bit build"])
        );
    }

    #[test]
    fn a_client_that_lost_advanced_security_neither_seals_nor_signs() {
        // KM-06: after v3-only a V1-only client keeps its keys but may not use them.
        let bob = user("bob", Persona::Outlook97);
        let bob_v1 = encryption_certificate("bob", 2, CertificateVersion::V1);
        let recipients = [to(&bob, Some(&bob_v1))];
        let walter = equipped("walter", Persona::Outlook97, CertificateVersion::V1);
        fn lost(request: SendRequest<'_>) -> SendRequest<'_> {
            SendRequest {
                advanced_security_lost: true,
                ..request
            }
        }
        for asked in [lost(encrypted(&recipients)), lost(request(&recipients))] {
            let refused = refusal(&walter, &asked);
            assert_eq!(refused.reason, "advanced-security-lost");
            assert!(matches!(
                refused.details.as_slice(),
                [RecordDetail::Text { key: "problem", value }] if value.contains("nothing reaches bob")
            ));
        }
        let plain = SendRequest {
            form: Some(SignForm::None),
            ..lost(request(&recipients))
        };
        let plan = plan(&walter, &plain).unwrap();
        assert!(plan.signing.is_none() && plan.encryption.is_none());
        // The same sealed send goes out while the client still has advanced security.
        assert!(super::plan(&walter, &encrypted(&recipients)).is_ok());
    }

    #[test]
    fn the_legacy_format_ignores_the_asked_cipher_and_the_downgrade_fault() {
        let mut alice = equipped("alice", Persona::Outlook97, CertificateVersion::V1);
        alice.strength = Strength::Export;
        let asked = SendRequest {
            cipher: Some(Cipher::Aes256Cbc),
            fault: Some(SendFault::DowngradeCipher),
            ..encrypted(&[])
        };
        let plan = plan(&alice, &asked).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::Rc2Cbc40);
        assert_eq!(
            plan.cipher_choice,
            lines(&["the legacy format seals with RC2-40-CBC in a 40-bit build"])
        );
    }

    #[test]
    fn the_cipher_is_the_strongest_every_recipient_announced() {
        let bob = user("bob", Persona::Outlook2000);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let recipients = [to(&bob, Some(&bob_certificate))];
        let mut alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        alice.remember_capabilities(
            "BOB@contoso.example",
            vec![Cipher::Rc2Cbc128, Cipher::Rc2Cbc40],
        );
        let plan = plan(&alice, &encrypted(&recipients)).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::Rc2Cbc128);
        assert!(!envelope(&plan).legacy);
        assert_eq!(
            plan.cipher_choice,
            lines(&[
                "bob announced RC2-128-CBC, RC2-40-CBC",
                "strongest in common: RC2-128-CBC",
            ])
        );
        assert_eq!(plan.warning, None);
        assert!(plan.details.is_empty());
    }

    #[test]
    fn today_s_client_prefers_gcm_when_every_recipient_announced_it() {
        let bob = user("bob", Persona::Modern);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let carol = user("carol", Persona::Thunderbird);
        let carol_certificate = encryption_certificate("carol", 3, CertificateVersion::V3);
        let mut alice = equipped("alice", Persona::Modern, CertificateVersion::V3);
        let todays = Persona::Thunderbird.profile().ciphers.to_vec();
        assert_eq!(todays[..2], [Cipher::Aes256Gcm, Cipher::Aes128Gcm]);
        alice.remember_capabilities("bob@contoso.example", todays.clone());
        alice.remember_capabilities("carol@contoso.example", todays);
        let both = [
            to(&bob, Some(&bob_certificate)),
            to(&carol, Some(&carol_certificate)),
        ];
        let plan = plan(&alice, &encrypted(&both)).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::Aes256Gcm);
        assert_eq!(
            plan.cipher_choice.last().map(String::as_str),
            Some("strongest in common: AES-256-GCM")
        );
        // One recipient of the era, which announced no GCM: the whole envelope falls back.
        let dave = user("dave", Persona::Outlook2000);
        let dave_certificate = encryption_certificate("dave", 4, CertificateVersion::V3);
        alice.remember_capabilities(
            "dave@contoso.example",
            Persona::Outlook2000.profile().ciphers.to_vec(),
        );
        let mixed = [
            to(&bob, Some(&bob_certificate)),
            to(&dave, Some(&dave_certificate)),
        ];
        let plan = super::plan(&alice, &encrypted(&mixed)).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::DesEde3Cbc);
    }

    #[test]
    fn a_stranger_is_assumed_to_read_what_the_profile_says() {
        let bob = user("bob", Persona::Outlook2000);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let recipients = [to(&bob, Some(&bob_certificate))];
        let alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        let plan = plan(&alice, &encrypted(&recipients)).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::DesEde3Cbc);
        assert_eq!(
            plan.cipher_choice,
            lines(&[
                "bob announced nothing; assumed DES-EDE3-CBC, RC2-40-CBC",
                "strongest in common: DES-EDE3-CBC",
            ])
        );
    }

    #[test]
    fn no_cipher_in_common_is_refused_with_the_reasoning() {
        let bob = user("bob", Persona::Outlook2000);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let recipients = [to(&bob, Some(&bob_certificate))];
        let mut alice = equipped("alice", Persona::Modern, CertificateVersion::V3);
        alice.remember_capabilities("bob@contoso.example", vec![Cipher::Rc2Cbc40]);
        assert_eq!(
            refusal(&alice, &encrypted(&recipients)),
            SendRefusal {
                reason: "no-common-cipher".to_owned(),
                details: vec![list(
                    "cipher-choice",
                    &[
                        "bob announced RC2-40-CBC",
                        "the sender offers AES-256-GCM, AES-128-GCM, AES-256-CBC, AES-128-CBC, DES-EDE3-CBC",
                    ]
                )],
            }
        );
        alice.remember_capabilities("bob@contoso.example", Vec::new());
        assert_eq!(
            refusal(&alice, &encrypted(&recipients)).details,
            [list(
                "cipher-choice",
                &[
                    "bob announced nothing",
                    "the sender offers AES-256-GCM, AES-128-GCM, AES-256-CBC, AES-128-CBC, DES-EDE3-CBC",
                ]
            )]
        );
    }

    #[test]
    fn the_common_cipher_below_the_senders_minimum_is_refused() {
        let bob = user("bob", Persona::Outlook2000);
        let carol = user("carol", Persona::Outlook2000);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let carol_certificate = encryption_certificate("carol", 3, CertificateVersion::V3);
        let recipients = [
            to(&bob, Some(&bob_certificate)),
            to(&carol, Some(&carol_certificate)),
        ];
        let mut alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        alice.remember_capabilities(
            "bob@contoso.example",
            vec![Cipher::Rc2Cbc128, Cipher::Rc2Cbc40],
        );
        assert_eq!(
            refusal(&alice, &encrypted(&recipients)),
            SendRefusal {
                reason: "below-minimum-strength".to_owned(),
                details: vec![list(
                    "cipher-choice",
                    &[
                        "bob announced RC2-128-CBC, RC2-40-CBC",
                        "carol announced nothing; assumed DES-EDE3-CBC, RC2-40-CBC",
                        "strongest in common: RC2-40-CBC",
                        "RC2-40-CBC has 40 bits, below the sender's 128-bit minimum",
                    ]
                )],
            }
        );
        // The export build's minimum is 40 bits: the same choice goes out.
        alice.strength = Strength::Export;
        let plan = plan(&alice, &encrypted(&recipients)).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::Rc2Cbc40);
    }

    #[test]
    fn an_explicit_cipher_must_be_offered_and_strong_enough() {
        let bob = user("bob", Persona::Outlook2000);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let recipients = [to(&bob, Some(&bob_certificate))];
        let rc2_40 = SendRequest {
            cipher: Some(Cipher::Rc2Cbc40),
            ..encrypted(&recipients)
        };
        let modern = equipped("alice", Persona::Modern, CertificateVersion::V3);
        assert_eq!(
            refusal(&modern, &rc2_40),
            SendRefusal {
                reason: "cipher-not-offered".to_owned(),
                details: vec![list("cipher-choice", &["RC2-40-CBC chosen by the sender"])],
            }
        );
        let outlook = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        assert_eq!(
            refusal(&outlook, &rc2_40),
            SendRefusal {
                reason: "below-minimum-strength".to_owned(),
                details: vec![list(
                    "cipher-choice",
                    &[
                        "RC2-40-CBC chosen by the sender",
                        "RC2-40-CBC has 40 bits, below the sender's 128-bit minimum",
                    ]
                )],
            }
        );
        // Chosen by the sender, whatever the recipient announced.
        let rc2_128 = SendRequest {
            cipher: Some(Cipher::Rc2Cbc128),
            ..encrypted(&recipients)
        };
        let plan = plan(&outlook, &rc2_128).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::Rc2Cbc128);
        assert_eq!(
            plan.cipher_choice,
            lines(&["RC2-128-CBC chosen by the sender"])
        );
    }

    #[test]
    fn the_downgrade_fault_seals_with_40_bit_rc2_and_keeps_the_reasoning() {
        let bob = user("bob", Persona::Outlook2000);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let recipients = [to(&bob, Some(&bob_certificate))];
        let alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        let faulty = SendRequest {
            fault: Some(SendFault::DowngradeCipher),
            ..encrypted(&recipients)
        };
        let plan = plan(&alice, &faulty).unwrap();
        assert_eq!(envelope(&plan).cipher, Cipher::Rc2Cbc40);
        assert_eq!(
            plan.cipher_choice,
            lines(&[
                "bob announced nothing; assumed DES-EDE3-CBC, RC2-40-CBC",
                "strongest in common: DES-EDE3-CBC",
            ])
        );
        assert_eq!(plan.warning, None);
    }

    #[test]
    fn the_sender_encrypts_to_itself_last_and_is_not_asked_for_capabilities() {
        let bob = user("bob", Persona::Outlook2000);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let alice = equipped("alice", Persona::Outlook2000, CertificateVersion::V3);
        // The directory's certificate for the sender is not used, even an unusable one.
        let stale = encryption_certificate("alice", 3, CertificateVersion::V1);
        let recipients = [to(&alice, Some(&stale)), to(&bob, Some(&bob_certificate))];
        let plan = plan(&alice, &encrypted(&recipients)).unwrap();
        assert_eq!(
            named(&plan),
            [
                (bob_certificate.clone(), IdentifierKind::IssuerAndSerial),
                (own_certificate(&alice), IdentifierKind::IssuerAndSerial),
            ]
        );
        assert_eq!(
            plan.cipher_choice,
            lines(&[
                "bob announced nothing; assumed DES-EDE3-CBC, RC2-40-CBC",
                "strongest in common: DES-EDE3-CBC",
            ])
        );

        // Mail to oneself alone: the strongest cipher the sender offers.
        let only_self = [to(&alice, None)];
        let plan = super::plan(&alice, &encrypted(&only_self)).unwrap();
        assert_eq!(
            named(&plan),
            [(own_certificate(&alice), IdentifierKind::IssuerAndSerial)]
        );
        assert_eq!(
            plan.cipher_choice,
            lines(&["strongest in common: DES-EDE3-CBC"])
        );
    }

    #[test]
    fn a_certificate_without_a_key_identifier_is_named_by_issuer_and_serial() {
        let bob = user("bob", Persona::Modern);
        let bob_certificate = encryption_certificate("bob", 2, CertificateVersion::V3);
        let recipients = [to(&bob, Some(&bob_certificate))];
        // A v1 certificate has no extensions, so no subject key identifier.
        let alice = equipped("alice", Persona::Modern, CertificateVersion::V1);
        let plan = plan(&alice, &encrypted(&recipients)).unwrap();
        assert_eq!(plan.identifier, IdentifierKind::SubjectKeyIdentifier);
        assert_eq!(
            plan.signing.as_ref().unwrap().identifier,
            IdentifierKind::IssuerAndSerial
        );
        assert_eq!(
            named(&plan),
            [
                (
                    bob_certificate.clone(),
                    IdentifierKind::SubjectKeyIdentifier
                ),
                (own_certificate(&alice), IdentifierKind::IssuerAndSerial),
            ]
        );
        assert_eq!(envelope(&plan).cipher, Cipher::Aes128Cbc);

        let modern = equipped("alice", Persona::Modern, CertificateVersion::V3);
        let plan = super::plan(&modern, &encrypted(&recipients)).unwrap();
        assert_eq!(
            plan.signing.unwrap().identifier,
            IdentifierKind::SubjectKeyIdentifier
        );

        // Issuer and serial asked for stays issuer and serial.
        let asked = SendRequest {
            identifier: Some(IdentifierKind::IssuerAndSerial),
            ..encrypted(&recipients)
        };
        let plan = super::plan(&modern, &asked).unwrap();
        assert_eq!(plan.identifier, IdentifierKind::IssuerAndSerial);
        assert!(
            named(&plan)
                .iter()
                .all(|(_, kind)| *kind == IdentifierKind::IssuerAndSerial)
        );
    }
}
