//! The KM server: enabling advanced security, enrolling with tokens, escrowing keys.

use std::path::Path;

use cipher::block_padding::Pkcs7;
use cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use model::{
    CertificateDer, CertifiedKey, KeyGeneration, KmName, PrivateKeyDer, SeededRng, SiteName,
    Timestamp, UserName,
};
use pki::{
    CertificateInfo, CertificatePurpose, CertificateRequest, CertificateVersion,
    CertificationAuthority, KeyPool, NameAttribute, RsaPublicKey, build_name, private_key_der,
};
use rand_core::RngCore;
use sha2::{Digest, Sha256};

use crate::database::{Database, DatabaseError, EscrowedKey, TokenCheck};
use crate::directory::Directory;
use crate::token::Token;

/// An Exchange 5.5 service pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServicePack {
    /// The release to manufacturing.
    None,
    /// Service Pack 1.
    Sp1,
    /// Service Pack 2.
    Sp2,
    /// Service Pack 3.
    Sp3,
    /// Service Pack 4.
    Sp4,
}

model::named!(ServicePack { None => "none", Sp1 => "sp1", Sp2 => "sp2", Sp3 => "sp3", Sp4 => "sp4" });

/// Which KM server product this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// Exchange Server 5.5 Key Management Server, with its service pack.
    Ex55(ServicePack),
    /// Exchange 2000 Key Management Service.
    Ex2000,
}

/// What a scenario says about a KM server.
#[derive(Debug, Clone)]
pub struct KmSetup {
    /// The KM server's name.
    pub name: KmName,
    /// The product.
    pub product: Product,
    /// The site (5.5) or administrative group (2000) it serves.
    pub site: SiteName,
    /// The organisation name.
    pub organization: String,
    /// The startup password that unlocks the escrow key.
    pub startup_password: String,
}

/// The environment a KM operation runs in: the attached CA, the key pool, the clock, the
/// directory.
#[derive(Debug)]
pub struct KmContext<'a> {
    /// The CA the KM server is attached to.
    pub ca: &'a mut CertificationAuthority,
    /// Where key pairs come from.
    pub keys: &'a KeyPool,
    /// The virtual time.
    pub now: Timestamp,
    /// The organisation's directory.
    pub directory: &'a mut Directory,
}

/// Errors that stop the KM server itself (as opposed to refusals, which are outcomes).
#[derive(Debug, thiserror::Error)]
pub enum KmError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// Certificate work failed.
    #[error("certificate: {0}")]
    Pki(#[from] pki::PkiError),
    /// A key pair could not be generated or encoded.
    #[error(transparent)]
    Key(#[from] pki::KeyError),
    /// A key could not be unwrapped with the startup password.
    #[error("escrowed key generation {0} does not unwrap with this startup password")]
    Unwrap(u32),
}

/// Why an enrollment was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnrollmentRefusal {
    /// Advanced security has not been enabled on this KM server.
    V3NotEnabled,
    /// The administrator never enabled this mailbox.
    NotEnabled,
    /// The token does not match any issued to this mailbox.
    WrongToken,
    /// The token was already used.
    TokenUsed,
}

impl EnrollmentRefusal {
    /// A stable reason word for transcripts.
    pub fn reason(self) -> &'static str {
        match self {
            Self::V3NotEnabled => "v3-not-enabled",
            Self::NotEnabled => "not-enabled",
            Self::WrongToken => "token-wrong",
            Self::TokenUsed => "token-used",
        }
    }
}

/// What a client receives when it enrolls.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The new encryption key pair (escrowed).
    pub encryption: CertifiedKey,
    /// The certificate for the client's own signing key.
    pub signing_certificate: CertificateDer,
    /// The root of the KM server's hierarchy, which the client is asked to trust.
    pub root: CertificateDer,
}

/// A KM server with its database.
#[derive(Debug)]
pub struct KmServer {
    setup: KmSetup,
    database: Database,
    certificate: Option<CertificateDer>,
    rng: SeededRng,
}

impl KmServer {
    /// Installs a KM server with a new database file at `database_path`.
    pub fn install(setup: KmSetup, database_path: &Path, rng: SeededRng) -> Result<Self, KmError> {
        let database = Database::create(database_path, setup.name.as_str())?;
        Ok(Self {
            setup,
            database,
            certificate: None,
            rng,
        })
    }

    /// The setup.
    pub fn setup(&self) -> &KmSetup {
        &self.setup
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The KM server's own certificate, once advanced security is enabled.
    pub fn certificate(&self) -> Option<&CertificateDer> {
        self.certificate.as_ref()
    }

    /// Enables advanced security: the CA issues the KM server its own certificate.
    pub fn enable_v3(&mut self, context: &mut KmContext<'_>) -> Result<CertificateInfo, KmError> {
        let (key, _) = context.keys.key(&format!("km:{}", self.setup.name), 2048)?;
        let request = CertificateRequest {
            subject: build_name(&[
                NameAttribute::Organization(&self.setup.organization),
                NameAttribute::OrganizationalUnit(self.setup.site.as_str()),
                NameAttribute::CommonName(self.setup.name.as_str()),
            ])?,
            email: None,
            public_key: key.to_public_key(),
            purpose: CertificatePurpose::KmServer,
            version: CertificateVersion::V3,
        };
        let issued = context.ca.issue(&request, context.now)?;
        let info = CertificateInfo::parse(&issued.der)?;
        self.certificate = Some(issued.der);
        Ok(info)
    }

    /// Enables a mailbox and returns its one-time token.
    pub fn enable_user(
        &mut self,
        user: &UserName,
        context: &mut KmContext<'_>,
    ) -> Result<Token, KmError> {
        let Some(entry) = context.directory.entry(user) else {
            return Err(KmError::Database(DatabaseError::Foreign {
                path: self.database.path().to_path_buf(),
                detail: format!("no directory entry for {user}"),
            }));
        };
        self.database.enable_user(
            &entry.mailbox_dn,
            user.as_str(),
            entry.email.as_str(),
            context.now,
        )?;
        let token = Token::generate(&mut self.rng);
        self.database
            .add_token(&entry.mailbox_dn, &token.digest(), context.now)?;
        Ok(token)
    }

    /// A client enrolls with a token: the KM server generates and escrows the encryption key
    /// pair and has the CA certify it and the client's own signing key.
    ///
    /// `version` is the certificate version the client asks for: a V1-only client (Outlook
    /// 97) gets V1 certificates, everything else V3.
    pub fn enroll(
        &mut self,
        user: &UserName,
        token: &Token,
        signing_key: &RsaPublicKey,
        version: CertificateVersion,
        context: &mut KmContext<'_>,
    ) -> Result<Result<Enrollment, EnrollmentRefusal>, KmError> {
        if self.certificate.is_none() {
            return Ok(Err(EnrollmentRefusal::V3NotEnabled));
        }
        let Some(entry) = context.directory.entry(user).cloned() else {
            return Ok(Err(EnrollmentRefusal::NotEnabled));
        };
        if !self.database.is_enabled(&entry.mailbox_dn)? {
            return Ok(Err(EnrollmentRefusal::NotEnabled));
        }
        match self
            .database
            .use_token(&entry.mailbox_dn, &token.digest(), context.now)?
        {
            TokenCheck::Accepted => {}
            TokenCheck::Wrong => return Ok(Err(EnrollmentRefusal::WrongToken)),
            TokenCheck::AlreadyUsed => return Ok(Err(EnrollmentRefusal::TokenUsed)),
        }
        let history = self.database.escrowed_keys(&entry.mailbox_dn)?;
        let generation = KeyGeneration::new(history.len() as u32 + 1);
        let (encryption_key, _) = context
            .keys
            .key(&format!("user:{user}:enc:{generation}"), 2048)?;
        let subject = build_name(&[
            NameAttribute::Organization(&self.setup.organization),
            NameAttribute::OrganizationalUnit(self.setup.site.as_str()),
            NameAttribute::CommonName("Recipients"),
            NameAttribute::CommonName(user.as_str()),
            NameAttribute::Email(entry.email.as_str()),
        ])?;
        let request = |public_key: RsaPublicKey, purpose| CertificateRequest {
            subject: subject.clone(),
            email: Some(entry.email.as_str().to_owned()),
            public_key,
            purpose,
            version,
        };
        let encryption = context.ca.issue(
            &request(
                encryption_key.to_public_key(),
                CertificatePurpose::SmimeEncryption,
            ),
            context.now,
        )?;
        let signing = context.ca.issue(
            &request(signing_key.clone(), CertificatePurpose::SmimeSigning),
            context.now,
        )?;
        let private = private_key_der(&encryption_key)?;
        let mut iv = [0u8; 16];
        self.rng.fill_bytes(&mut iv);
        let escrowed = EscrowedKey {
            generation: generation.get(),
            serial: encryption.serial.to_string(),
            certificate: encryption.der.as_bytes().to_vec(),
            wrapped_key: wrap(&self.setup.startup_password, &iv, private.as_bytes()),
            wrap_iv: iv.to_vec(),
        };
        self.database
            .escrow(&entry.mailbox_dn, &escrowed, context.now)?;
        context
            .directory
            .publish_encryption_certificate(user, encryption.der.clone());
        Ok(Ok(Enrollment {
            encryption: CertifiedKey {
                generation,
                certificate: encryption.der,
                key: private,
            },
            signing_certificate: signing.der,
            root: context.ca.certificate().clone(),
        }))
    }

    /// Every escrowed encryption key of `user`, unwrapped with the startup password.
    pub fn key_history(
        &self,
        user: &UserName,
        directory: &Directory,
    ) -> Result<Vec<CertifiedKey>, KmError> {
        let Some(entry) = directory.entry(user) else {
            return Ok(Vec::new());
        };
        self.database
            .escrowed_keys(&entry.mailbox_dn)?
            .into_iter()
            .map(|escrowed| {
                let key = unwrap(
                    &self.setup.startup_password,
                    &escrowed.wrap_iv,
                    &escrowed.wrapped_key,
                )
                .ok_or(KmError::Unwrap(escrowed.generation))?;
                Ok(CertifiedKey {
                    generation: KeyGeneration::new(escrowed.generation),
                    certificate: CertificateDer::new(escrowed.certificate),
                    key: PrivateKeyDer::new(key),
                })
            })
            .collect()
    }
}

/// The escrow wrapping key: SHA-256 over a label and the startup password, first 16 bytes.
fn wrapping_key(startup_password: &str) -> [u8; 16] {
    let digest = Sha256::new()
        .chain_update(b"kmlab km escrow wrap v1\0")
        .chain_update(startup_password.as_bytes())
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

fn wrap(startup_password: &str, iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<aes::Aes128>::new(&wrapping_key(startup_password).into(), iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

fn unwrap(startup_password: &str, iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    cbc::Decryptor::<aes::Aes128>::new_from_slices(&wrapping_key(startup_password), iv)
        .ok()?
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_needs_the_same_startup_password() {
        let iv = [7u8; 16];
        let wrapped = wrap("correct horse", &iv, b"private key bytes");
        assert_eq!(
            unwrap("correct horse", &iv, &wrapped).as_deref(),
            Some(&b"private key bytes"[..])
        );
        assert_ne!(
            unwrap("wrong", &iv, &wrapped).as_deref(),
            Some(&b"private key bytes"[..])
        );
    }
}
