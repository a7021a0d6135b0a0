//! The algorithm vocabulary: digests, content ciphers, identifier kinds and capabilities.

use std::fmt;

use const_oid::ObjectIdentifier;

use crate::oids;

/// A message digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Digest {
    /// SHA-1, what every client of the Exchange 5.5 era used.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384 (S/MIME 4.0).
    Sha384,
    /// SHA-512 (S/MIME 4.0).
    Sha512,
}

model::named!(Digest { Sha1 => "SHA-1", Sha256 => "SHA-256", Sha384 => "SHA-384", Sha512 => "SHA-512" });

impl Digest {
    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::SHA1,
            Self::Sha256 => oids::SHA256,
            Self::Sha384 => oids::SHA384,
            Self::Sha512 => oids::SHA512,
        }
    }

    /// The digest named by `oid`, if kmlab knows it.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        <Self as model::Named>::ALL
            .iter()
            .copied()
            .find(|digest| digest.oid() == *oid)
    }

    /// The `micalg` parameter of multipart/signed (RFC 3851 spells SHA-1 `sha1`, RFC 5751
    /// spells the SHA-2 family `sha-256`, `sha-384`, `sha-512`).
    pub fn micalg(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha-256",
            Self::Sha384 => "sha-384",
            Self::Sha512 => "sha-512",
        }
    }

    /// The digest's output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(model::Named::name(*self))
    }
}

/// A content-encryption algorithm with its key length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cipher {
    /// RC2 in CBC mode with a 40-bit key: the export-grade ("low") cipher.
    Rc2Cbc40,
    /// RC2 in CBC mode with a 64-bit key.
    Rc2Cbc64,
    /// RC2 in CBC mode with a 128-bit key.
    Rc2Cbc128,
    /// Triple DES (three keys) in CBC mode.
    DesEde3Cbc,
    /// AES-128 in CBC mode.
    Aes128Cbc,
    /// AES-256 in CBC mode.
    Aes256Cbc,
    /// AES-128 in GCM mode, in authenticated-enveloped-data (RFC 5083/5084).
    Aes128Gcm,
    /// AES-256 in GCM mode, in authenticated-enveloped-data (RFC 5083/5084).
    Aes256Gcm,
}

model::named!(Cipher {
    Rc2Cbc40 => "RC2-40-CBC",
    Rc2Cbc64 => "RC2-64-CBC",
    Rc2Cbc128 => "RC2-128-CBC",
    DesEde3Cbc => "DES-EDE3-CBC",
    Aes128Cbc => "AES-128-CBC",
    Aes256Cbc => "AES-256-CBC",
    Aes128Gcm => "AES-128-GCM",
    Aes256Gcm => "AES-256-GCM",
});

impl Cipher {
    /// The algorithm's object identifier (RC2 carries its key length in the parameters).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Rc2Cbc40 | Self::Rc2Cbc64 | Self::Rc2Cbc128 => oids::RC2_CBC,
            Self::DesEde3Cbc => oids::DES_EDE3_CBC,
            Self::Aes128Cbc => oids::AES128_CBC,
            Self::Aes256Cbc => oids::AES256_CBC,
            Self::Aes128Gcm => oids::AES128_GCM,
            Self::Aes256Gcm => oids::AES256_GCM,
        }
    }

    /// The effective key length in bits (Triple DES counts its 168 key bits).
    pub fn key_bits(self) -> u32 {
        match self {
            Self::Rc2Cbc40 => 40,
            Self::Rc2Cbc64 => 64,
            Self::Rc2Cbc128 | Self::Aes128Cbc | Self::Aes128Gcm => 128,
            Self::DesEde3Cbc => 168,
            Self::Aes256Cbc | Self::Aes256Gcm => 256,
        }
    }

    /// The key length in bytes the algorithm consumes.
    pub fn key_len(self) -> usize {
        match self {
            Self::Rc2Cbc40 => 5,
            Self::Rc2Cbc64 => 8,
            Self::Rc2Cbc128 | Self::Aes128Cbc | Self::Aes128Gcm => 16,
            Self::DesEde3Cbc => 24,
            Self::Aes256Cbc | Self::Aes256Gcm => 32,
        }
    }

    /// The block (and IV) length in bytes; for GCM the nonce length RFC 5084 recommends.
    pub fn block_len(self) -> usize {
        match self {
            Self::Aes128Cbc | Self::Aes256Cbc => 16,
            Self::Aes128Gcm | Self::Aes256Gcm => 12,
            _ => 8,
        }
    }

    /// Whether this is an authenticated cipher, carried in authenticated-enveloped-data.
    pub fn is_authenticated(self) -> bool {
        matches!(self, Self::Aes128Gcm | Self::Aes256Gcm)
    }

    /// The RC2 cipher with this effective key length.
    pub fn rc2_with_bits(bits: u32) -> Option<Self> {
        match bits {
            40 => Some(Self::Rc2Cbc40),
            64 => Some(Self::Rc2Cbc64),
            128 => Some(Self::Rc2Cbc128),
            _ => None,
        }
    }

    /// Whether this is a "high" (128-bit class) cipher in the sense of the era's export rules.
    pub fn is_strong(self) -> bool {
        self.key_bits() >= 128
    }
}

impl fmt::Display for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}-bit)", model::Named::name(*self), self.key_bits())
    }
}

/// How a certificate is named inside a CMS structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    /// The issuer's name and the serial number (works for every certificate).
    IssuerAndSerial,
    /// The subject key identifier extension (v3 certificates only).
    SubjectKeyIdentifier,
}

model::named!(IdentifierKind {
    IssuerAndSerial => "issuer-and-serial",
    SubjectKeyIdentifier => "subject-key-identifier",
});

/// One entry of an SMIMECapabilities attribute that kmlab understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// A content-encryption algorithm the sender can decrypt.
    Cipher(Cipher),
}
