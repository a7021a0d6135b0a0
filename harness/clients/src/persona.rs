//! Client personas and the one table that states each one's limits.

use model::Named;
use pki::CertificateVersion;
use smime::structure::{KeyTransportKind, SignatureKind};
use smime::{Cipher, Digest, IdentifierKind};

/// A mail client profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Persona {
    /// Outlook 97: Exchange-era security with V1 certificates, no S/MIME V3.
    Outlook97,
    /// Outlook 98: S/MIME with V3 certificates.
    Outlook98,
    /// Outlook 2000: S/MIME with V3 certificates.
    Outlook2000,
    /// Outlook Express 5: S/MIME over POP/SMTP; cannot enroll through the KM server.
    OutlookExpress5,
    /// A present-day S/MIME client, for contrast.
    Modern,
    /// Today's Thunderbird: the modern client with Thunderbird's own judgements.
    Thunderbird,
}

/// How a message is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignForm {
    /// Not signed.
    None,
    /// multipart/signed with a detached signature.
    Clear,
    /// application/pkcs7-mime signed-data.
    Opaque,
}

model::named!(SignForm { None => "none", Clear => "clear", Opaque => "opaque" });

/// What a client does when a recipient has no usable encryption certificate (MSG-04).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fallback {
    /// The message is not sent; the user is told why.
    Refuse,
    /// The message goes out unencrypted, and the user is warned.
    SendInClear,
}

model::named!(Fallback { Refuse => "refuse", SendInClear => "send-in-clear" });

/// The moment at which a client judges a signer certificate's validity (MSG-07).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidityTime {
    /// When the message is read: a certificate that expired since signing fails.
    Reading,
    /// When the message says it was signed: an old message stays valid.
    Signing,
}

model::named!(ValidityTime { Reading => "reading", Signing => "signing" });

/// How a client takes a signature whose digest is SHA-1 (MSG-08).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sha1Signatures {
    /// As any other: the era knew nothing better.
    Accept,
    /// Checked, and the reader warned that SHA-1 no longer resists collisions.
    Warn,
    /// Not accepted: the signature is an error whatever the maths says.
    Refuse,
}

model::named!(Sha1Signatures { Accept => "accept", Warn => "warn", Refuse => "refuse" });

/// A client build's encryption strength (CL-03): the domestic build or the export one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strength {
    /// 128-bit ("high") encryption: every cipher the client has; never sends below 128 bits.
    High,
    /// 40-bit ("low", export) encryption: RC2 with 40 effective bits only.
    Export,
}

model::named!(Strength { High => "128-bit", Export => "40-bit" });

impl Strength {
    /// The content cipher this build seals legacy-format messages with.
    pub fn legacy_cipher(self) -> Cipher {
        match self {
            Self::High => Cipher::DesEde3Cbc,
            Self::Export => Cipher::Rc2Cbc40,
        }
    }

    /// The weakest content cipher, in effective key bits, this build sends with.
    pub fn minimum_bits(self) -> u32 {
        match self {
            Self::High => 128,
            Self::Export => 40,
        }
    }
}

/// What one persona can do. Every limit kmlab applies to a client is a column here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Which persona this row describes.
    pub persona: Persona,
    /// The name used in scenario files.
    pub name: &'static str,
    /// Certificate versions the client can hold and use; it enrolls for the first.
    pub certificate_versions: &'static [CertificateVersion],
    /// Whether the client enrolls through the KM server.
    pub enrolls_with_km: bool,
    /// Whether the client processes S/MIME it receives (verifies signatures, opens
    /// application/pkcs7-mime); one that does not still shows a clear-signed body (MSG-01).
    pub processes_smime: bool,
    /// Whether the client can encrypt and decrypt S/MIME (CL-02).
    pub smime_encryption: bool,
    /// Whether the client speaks the legacy format, Exchange Server security: it seals
    /// messages to V1 or V3 certificates and opens sealed ones (CL-02).
    pub legacy_security: bool,
    /// Content ciphers it can decrypt, strongest first; its SMIMECapabilities and, cut to
    /// its strength, the ciphers it may send with.
    pub ciphers: &'static [Cipher],
    /// The ciphers it assumes a correspondent reads when it has seen no SMIMECapabilities
    /// from them (RFC 2633 §2.7.1: Triple DES, else RC2/40; RFC 2311: RC2/40; RFC 5751:
    /// AES-128).
    pub unknown_capabilities: &'static [Cipher],
    /// Digests it can verify.
    pub digests: &'static [Digest],
    /// The digest it signs with.
    pub signing_digest: Digest,
    /// Signature schemes it verifies (MSG-08): the era's CryptoAPI knew PKCS #1 v1.5 only, so
    /// an RSA-PSS signature is one it cannot check, whatever its digest.
    pub signature_schemes: &'static [SignatureKind],
    /// What it makes of a SHA-1 signature (MSG-08).
    pub sha1_signatures: Sha1Signatures,
    /// How far, in seconds, the Date header may be from a signature's signing time before the
    /// client flags the message (MSG-08); `None` when it does not compare them.
    pub date_tolerance: Option<u32>,
    /// Key transports it unwraps a content key with (MSG-08): RSA-OAEP came after the era, so
    /// an era client cannot open an envelope whose recipient info for its key uses it.
    pub key_transports: &'static [KeyTransportKind],
    /// The signing forms it can produce.
    pub sign_forms: &'static [SignForm],
    /// How it signs unless told otherwise.
    pub default_signing: SignForm,
    /// How it names certificates in messages it builds.
    pub identifier: IdentifierKind,
    /// What it does when a recipient has no usable encryption certificate.
    pub no_usable_certificate: Fallback,
    /// When it judges a signer certificate's validity.
    pub judges_validity_at: ValidityTime,
    /// Whether it checks a signature wrapped around an encrypted layer (encrypt-then-sign).
    /// Thunderbird does not: it shows such a message as encrypted and unsigned.
    pub checks_signature_around_encryption: bool,
    /// Whether it accepts a version 1 certificate as an intermediate CA in a signer's chain:
    /// Windows 2000's chain engine did, today's clients follow RFC 5280 §6.1.4(k) and do not.
    pub v1_intermediate_cas: bool,
    /// Whether it restores CRLF line ends in a clear-signed part before checking its signature
    /// (MSG-02). RFC 5751 §3.1.1 makes CRLF the canonical form, and today's clients (as OpenSSL
    /// and Bouncy Castle do) canonicalise text they were handed with bare LFs; the era's clients
    /// hash the bytes as they are, so a part whose line ends changed is `tampered` for them.
    pub restores_crlf: bool,
    /// How many times it resubmits a message the server refused with a transient (4xx) reply
    /// or a dropped connection.
    pub smtp_retries: u32,
    /// RSA key sizes its keys may have, in bits; a scenario picks one per user (`key_size`),
    /// 2048 unless it says otherwise. Clients of the era also made 1024-bit keys.
    pub key_sizes: &'static [u32],
}

impl Profile {
    /// The ciphers a build of this client at `strength` may send with, strongest first.
    pub fn sending_ciphers(&self, strength: Strength) -> Vec<Cipher> {
        self.ciphers
            .iter()
            .copied()
            .filter(|cipher| strength == Strength::High || cipher.key_bits() <= 40)
            .collect()
    }

    /// The ciphers a build at `strength` can open and announces in its SMIMECapabilities,
    /// strongest first.
    pub fn readable_ciphers(&self, strength: Strength) -> Vec<Cipher> {
        self.sending_ciphers(strength)
    }
}

/// The RSA key size a user's keys have unless the scenario says otherwise.
pub const DEFAULT_KEY_BITS: u32 = 2048;

const LEGACY_KEY_SIZES: &[u32] = &[1024, 2048, 3072, 4096];
const MODERN_KEY_SIZES: &[u32] = &[2048, 3072, 4096];

const LEGACY_CIPHERS: &[Cipher] = &[
    Cipher::DesEde3Cbc,
    Cipher::Rc2Cbc128,
    Cipher::Rc2Cbc64,
    Cipher::Rc2Cbc40,
];
/// What today's clients read and announce, most preferred first: AES-GCM
/// (authenticated-enveloped-data) ahead of AES-CBC, as RFC 8551 §2.7 says to, then Triple DES
/// for the correspondents of the era.
const TODAYS_CIPHERS: &[Cipher] = &[
    Cipher::Aes256Gcm,
    Cipher::Aes128Gcm,
    Cipher::Aes256Cbc,
    Cipher::Aes128Cbc,
    Cipher::DesEde3Cbc,
];
/// Thunderbird flags a Date header more than this many seconds from the signing time.
const ONE_HOUR: u32 = 3600;
const PKCS1_ONLY: &[SignatureKind] = &[SignatureKind::Pkcs1v15];
/// What today's clients verify: RSA in both paddings, ECDSA (RFC 5753) and Ed25519 (RFC 8419).
const TODAYS_SIGNATURES: &[SignatureKind] = &[
    SignatureKind::Pkcs1v15,
    SignatureKind::Pss,
    SignatureKind::Ecdsa,
    SignatureKind::Ed25519,
];
/// What NSS, under Thunderbird, verifies in S/MIME: RSA in both paddings and ECDSA.
const NSS_SIGNATURES: &[SignatureKind] = &[
    SignatureKind::Pkcs1v15,
    SignatureKind::Pss,
    SignatureKind::Ecdsa,
];
const PKCS1_TRANSPORT_ONLY: &[KeyTransportKind] = &[KeyTransportKind::Pkcs1v15];
const V3_ONLY: &[CertificateVersion] = &[CertificateVersion::V3];
const EVERY_FORM: &[SignForm] = &[SignForm::None, SignForm::Clear, SignForm::Opaque];

/// A client of today (RFC 8551): the profile `thunderbird` starts from.
const MODERN: Profile = Profile {
    persona: Persona::Modern,
    name: "modern",
    certificate_versions: V3_ONLY,
    enrolls_with_km: true,
    processes_smime: true,
    smime_encryption: true,
    legacy_security: false,
    ciphers: TODAYS_CIPHERS,
    unknown_capabilities: &[Cipher::Aes128Cbc],
    digests: &[Digest::Sha512, Digest::Sha384, Digest::Sha256, Digest::Sha1],
    signing_digest: Digest::Sha256,
    signature_schemes: TODAYS_SIGNATURES,
    sha1_signatures: Sha1Signatures::Warn,
    date_tolerance: None,
    key_transports: &[KeyTransportKind::Pkcs1v15, KeyTransportKind::Oaep],
    sign_forms: EVERY_FORM,
    default_signing: SignForm::Clear,
    identifier: IdentifierKind::SubjectKeyIdentifier,
    no_usable_certificate: Fallback::Refuse,
    judges_validity_at: ValidityTime::Signing,
    v1_intermediate_cas: false,
    checks_signature_around_encryption: true,
    restores_crlf: true,
    smtp_retries: 1,
    key_sizes: MODERN_KEY_SIZES,
};

/// Every persona's limits, side by side.
pub const PROFILES: &[Profile] = &[
    Profile {
        persona: Persona::Outlook97,
        name: "outlook97",
        certificate_versions: &[CertificateVersion::V1],
        enrolls_with_km: true,
        processes_smime: false,
        smime_encryption: false,
        legacy_security: true,
        ciphers: &[],
        unknown_capabilities: &[],
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        signature_schemes: PKCS1_ONLY,
        sha1_signatures: Sha1Signatures::Accept,
        date_tolerance: None,
        key_transports: PKCS1_TRANSPORT_ONLY,
        sign_forms: &[SignForm::None, SignForm::Clear],
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
        no_usable_certificate: Fallback::Refuse,
        judges_validity_at: ValidityTime::Reading,
        v1_intermediate_cas: true,
        checks_signature_around_encryption: true,
        restores_crlf: false,
        smtp_retries: 2,
        key_sizes: LEGACY_KEY_SIZES,
    },
    Profile {
        persona: Persona::Outlook98,
        name: "outlook98",
        certificate_versions: V3_ONLY,
        enrolls_with_km: true,
        processes_smime: true,
        smime_encryption: true,
        legacy_security: true,
        ciphers: LEGACY_CIPHERS,
        unknown_capabilities: &[Cipher::DesEde3Cbc, Cipher::Rc2Cbc40],
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        signature_schemes: PKCS1_ONLY,
        sha1_signatures: Sha1Signatures::Accept,
        date_tolerance: None,
        key_transports: PKCS1_TRANSPORT_ONLY,
        sign_forms: EVERY_FORM,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
        no_usable_certificate: Fallback::SendInClear,
        judges_validity_at: ValidityTime::Reading,
        v1_intermediate_cas: true,
        checks_signature_around_encryption: true,
        restores_crlf: false,
        smtp_retries: 2,
        key_sizes: LEGACY_KEY_SIZES,
    },
    Profile {
        persona: Persona::Outlook2000,
        name: "outlook2000",
        certificate_versions: V3_ONLY,
        enrolls_with_km: true,
        processes_smime: true,
        smime_encryption: true,
        legacy_security: true,
        ciphers: LEGACY_CIPHERS,
        unknown_capabilities: &[Cipher::DesEde3Cbc, Cipher::Rc2Cbc40],
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        signature_schemes: PKCS1_ONLY,
        sha1_signatures: Sha1Signatures::Accept,
        date_tolerance: None,
        key_transports: PKCS1_TRANSPORT_ONLY,
        sign_forms: EVERY_FORM,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
        no_usable_certificate: Fallback::Refuse,
        judges_validity_at: ValidityTime::Reading,
        v1_intermediate_cas: true,
        checks_signature_around_encryption: true,
        restores_crlf: false,
        smtp_retries: 2,
        key_sizes: LEGACY_KEY_SIZES,
    },
    Profile {
        persona: Persona::OutlookExpress5,
        name: "outlook-express5",
        certificate_versions: V3_ONLY,
        enrolls_with_km: false,
        processes_smime: true,
        smime_encryption: true,
        legacy_security: false,
        ciphers: LEGACY_CIPHERS,
        unknown_capabilities: &[Cipher::Rc2Cbc40],
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        signature_schemes: PKCS1_ONLY,
        sha1_signatures: Sha1Signatures::Accept,
        date_tolerance: None,
        key_transports: PKCS1_TRANSPORT_ONLY,
        sign_forms: EVERY_FORM,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
        no_usable_certificate: Fallback::SendInClear,
        judges_validity_at: ValidityTime::Reading,
        v1_intermediate_cas: true,
        checks_signature_around_encryption: true,
        restores_crlf: false,
        smtp_retries: 3,
        key_sizes: LEGACY_KEY_SIZES,
    },
    MODERN,
    // Today's Thunderbird differs from the modern profile only where it judges otherwise.
    Profile {
        persona: Persona::Thunderbird,
        name: "thunderbird",
        signature_schemes: NSS_SIGNATURES,
        sha1_signatures: Sha1Signatures::Refuse,
        date_tolerance: Some(ONE_HOUR),
        checks_signature_around_encryption: false,
        ..MODERN
    },
];

impl Persona {
    /// This persona's row of [`PROFILES`].
    pub fn profile(self) -> &'static Profile {
        // PROFILES has one row per persona in declaration order; the test below keeps it so.
        &PROFILES[self as usize]
    }
}

impl Named for Persona {
    const ALL: &'static [Self] = &[
        Self::Outlook97,
        Self::Outlook98,
        Self::Outlook2000,
        Self::OutlookExpress5,
        Self::Modern,
        Self::Thunderbird,
    ];

    fn name(self) -> &'static str {
        self.profile().name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_follow_persona_order() {
        for (index, persona) in Persona::ALL.iter().copied().enumerate() {
            assert_eq!(PROFILES[index].persona, persona);
            assert_eq!(Persona::from_name(persona.name()), Some(persona));
        }
        assert_eq!(PROFILES.len(), Persona::ALL.len());
    }

    #[test]
    fn thunderbird_differs_from_modern_only_by_its_own_judgements() {
        let modern = *Persona::Modern.profile();
        let thunderbird = *Persona::Thunderbird.profile();
        assert_eq!(thunderbird.sha1_signatures, Sha1Signatures::Refuse);
        assert_eq!(thunderbird.date_tolerance, Some(ONE_HOUR));
        assert!(!thunderbird.checks_signature_around_encryption);
        assert!(
            !thunderbird
                .signature_schemes
                .contains(&SignatureKind::Ed25519)
        );
        let as_modern = Profile {
            persona: Persona::Modern,
            name: "modern",
            signature_schemes: modern.signature_schemes,
            sha1_signatures: modern.sha1_signatures,
            date_tolerance: modern.date_tolerance,
            checks_signature_around_encryption: modern.checks_signature_around_encryption,
            ..thunderbird
        };
        assert_eq!(as_modern, modern);
    }

    #[test]
    fn the_export_build_sends_only_40_bit_rc2() {
        let outlook = Persona::Outlook2000.profile();
        assert_eq!(
            outlook.sending_ciphers(Strength::Export),
            [Cipher::Rc2Cbc40]
        );
        assert_eq!(outlook.sending_ciphers(Strength::High), LEGACY_CIPHERS);
        assert!(
            Persona::Modern
                .profile()
                .sending_ciphers(Strength::Export)
                .is_empty()
        );
    }

    #[test]
    fn only_s_mime_clients_list_ciphers() {
        for profile in PROFILES {
            assert_eq!(
                profile.smime_encryption,
                !profile.ciphers.is_empty(),
                "{}",
                profile.name
            );
            assert!(
                profile.digests.contains(&profile.signing_digest),
                "{}",
                profile.name
            );
            assert!(profile.sign_forms.contains(&profile.default_signing));
            assert_eq!(
                profile.smime_encryption,
                !profile.unknown_capabilities.is_empty(),
                "{}",
                profile.name
            );
            // A client that does not process S/MIME cannot decrypt it either.
            assert!(profile.processes_smime || !profile.smime_encryption);
        }
    }
}
