//! Client personas and the one table that states each one's limits.

use model::Named;
use pki::CertificateVersion;
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

/// What one persona can do. Every limit kmlab applies to a client is a column here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// Which persona this row describes.
    pub persona: Persona,
    /// The name used in scenario files.
    pub name: &'static str,
    /// Certificate versions the client can hold and use.
    pub certificate_versions: &'static [CertificateVersion],
    /// Whether the client enrolls through the KM server.
    pub enrolls_with_km: bool,
    /// Whether the client can encrypt and decrypt S/MIME (CL-02).
    pub smime_encryption: bool,
    /// Content ciphers it offers, most preferred first (its SMIMECapabilities).
    pub ciphers: &'static [Cipher],
    /// Digests it can verify.
    pub digests: &'static [Digest],
    /// The digest it signs with.
    pub signing_digest: Digest,
    /// How it signs unless told otherwise.
    pub default_signing: SignForm,
    /// How it names certificates in messages it builds.
    pub identifier: IdentifierKind,
}

const LEGACY_CIPHERS: &[Cipher] = &[
    Cipher::DesEde3Cbc,
    Cipher::Rc2Cbc128,
    Cipher::Rc2Cbc64,
    Cipher::Rc2Cbc40,
];
const V3_ONLY: &[CertificateVersion] = &[CertificateVersion::V3];

/// Every persona's limits, side by side.
pub const PROFILES: &[Profile] = &[
    Profile {
        persona: Persona::Outlook97,
        name: "outlook97",
        certificate_versions: &[CertificateVersion::V1],
        enrolls_with_km: true,
        smime_encryption: false,
        ciphers: &[],
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
    },
    Profile {
        persona: Persona::Outlook98,
        name: "outlook98",
        certificate_versions: V3_ONLY,
        enrolls_with_km: true,
        smime_encryption: true,
        ciphers: LEGACY_CIPHERS,
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
    },
    Profile {
        persona: Persona::Outlook2000,
        name: "outlook2000",
        certificate_versions: V3_ONLY,
        enrolls_with_km: true,
        smime_encryption: true,
        ciphers: LEGACY_CIPHERS,
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
    },
    Profile {
        persona: Persona::OutlookExpress5,
        name: "outlook-express5",
        certificate_versions: V3_ONLY,
        enrolls_with_km: false,
        smime_encryption: true,
        ciphers: LEGACY_CIPHERS,
        digests: &[Digest::Sha1],
        signing_digest: Digest::Sha1,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
    },
    Profile {
        persona: Persona::Modern,
        name: "modern",
        certificate_versions: V3_ONLY,
        enrolls_with_km: true,
        smime_encryption: true,
        ciphers: &[Cipher::Aes256Cbc, Cipher::Aes128Cbc, Cipher::DesEde3Cbc],
        digests: &[Digest::Sha256, Digest::Sha1],
        signing_digest: Digest::Sha256,
        default_signing: SignForm::Clear,
        identifier: IdentifierKind::IssuerAndSerial,
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
        }
    }
}
