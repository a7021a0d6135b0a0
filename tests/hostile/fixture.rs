//! A small world of real certificates and keys: a root, Alice who signs, Bob who reads and
//! Carol, a stranger. Every message in the corpus and every reader in the fuzz targets uses it.

use std::sync::OnceLock;

use clients::read::Reader;
use clients::{Persona, Strength};
use model::{CertificateDer, CertifiedKey, Duration, KeyGeneration, Serial, Timestamp};
use pki::{
    CertificateInfo, CertificatePurpose, CertificateTemplate, CertificateVersion, Issuer, KeyPool,
    Name, NameAttribute, RsaPrivateKey, RsaPublicKey, SignatureHash, SignatureMemo, build_name,
    issue_certificate, private_key_der,
};
use smime::Engine;

use super::der_edit::{BIT_STRING, SEQUENCE, tlv};

/// The key pool's seed: the fixture's keys are the same on every machine.
const SEED: u64 = 8;

/// A user with a signing and an encryption certificate.
#[derive(Debug, Clone)]
pub struct Party {
    /// The e-mail address in both certificates.
    pub address: String,
    /// The signing certificate and key.
    pub sign: CertifiedKey,
    /// The encryption certificate and key.
    pub enc: CertifiedKey,
    /// The signing key, for signatures built by hand.
    pub sign_key: RsaPrivateKey,
    /// The encryption key's public half, for envelopes built by hand.
    pub enc_public: RsaPublicKey,
}

/// The root, its users, and the moments of signing and reading.
#[derive(Debug)]
pub struct Fixture {
    /// The root certificate every reader trusts.
    pub root: CertificateDer,
    /// The root's subject.
    pub root_name: Name,
    root_key: RsaPrivateKey,
    root_key_id: Vec<u8>,
    /// The sender.
    pub alice: Party,
    /// The reader. His encryption certificate's serial is 255, whose magnitude has the same
    /// byte as -1 in two's complement: a recipient info naming serial -1 is not for him.
    pub bob: Party,
    /// Someone Bob is not.
    pub carol: Party,
    /// When messages are signed.
    pub signed_at: Timestamp,
    /// When Bob reads.
    pub now: Timestamp,
}

impl Fixture {
    /// The fixture, built once per process (keys come from the shared key cache).
    pub fn get() -> &'static Self {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| Self::new(&KeyPool::new(SEED, Some(crate::key_cache()))))
    }

    fn new(pool: &KeyPool) -> Self {
        let key = |role: &str| {
            pool.key(&format!("hostile:{role}"), 2048)
                .expect("keys derive from the seed; only an unwritable cache folder fails")
                .0
        };
        let root_key = key("root");
        let root_name = name("Hostile Test Root");
        let root = issue_certificate(
            &template(
                CertificatePurpose::Authority,
                &[1],
                root_name.clone(),
                None,
                Duration::years(20),
            ),
            &root_key.to_public_key(),
            Issuer {
                name: &root_name,
                key: &root_key,
                key_identifier: None,
            },
        )
        .expect("a root certificate from a fixed template");
        let root_key_id = CertificateInfo::parse(&root)
            .ok()
            .and_then(|info| info.subject_key_identifier)
            .unwrap_or_default();
        let issuer = Issuer {
            name: &root_name,
            key: &root_key,
            key_identifier: Some(&root_key_id),
        };
        let party = |user: &str, sign_serial: &[u8], enc_serial: &[u8]| {
            let address = format!("{user}@hostile.example");
            let sign_key = key(&format!("{user}:sign"));
            let enc_key = key(&format!("{user}:enc"));
            let certified = |purpose, serial: &[u8], key: &RsaPrivateKey| CertifiedKey {
                generation: KeyGeneration::FIRST,
                certificate: issue_certificate(
                    &template(
                        purpose,
                        serial,
                        name(user),
                        Some(address.clone()),
                        Duration::years(2),
                    ),
                    &key.to_public_key(),
                    issuer,
                )
                .expect("a certificate from a fixed template"),
                key: private_key_der(key).expect("PKCS #8 encoding of a generated key"),
            };
            Party {
                sign: certified(CertificatePurpose::SmimeSigning, sign_serial, &sign_key),
                enc: certified(CertificatePurpose::SmimeEncryption, enc_serial, &enc_key),
                enc_public: enc_key.to_public_key(),
                sign_key,
                address,
            }
        };
        let alice = party("alice", &[0x0a, 0x11], &[0x0a, 0x12]);
        let bob = party("bob", &[0x0b, 0x01], &[0xff]);
        let carol = party("carol", &[0x0c, 0x01], &[0x0c, 0x02]);
        Self {
            root,
            root_name,
            root_key,
            root_key_id,
            alice,
            bob,
            carol,
            signed_at: Timestamp::DEFAULT_START.plus(Duration::days(30)),
            now: Timestamp::DEFAULT_START.plus(Duration::days(31)),
        }
    }

    /// A certificate for `key` signed by the root.
    pub fn issue(&self, template: &CertificateTemplate, key: &RsaPublicKey) -> CertificateDer {
        issue_certificate(
            template,
            key,
            Issuer {
                name: &self.root_name,
                key: &self.root_key,
                key_identifier: Some(&self.root_key_id),
            },
        )
        .expect("a certificate from a fixed template")
    }

    /// A certificate around `tbs` (a DER `TBSCertificate`, edited by hand) with the root's
    /// SHA-256 signature.
    pub fn sign_tbs(&self, tbs: &[u8]) -> CertificateDer {
        let algorithm = der::Encode::to_der(&SignatureHash::Sha256.algorithm())
            .expect("a fixed algorithm identifier");
        let mut bits = vec![0u8];
        bits.extend_from_slice(&SignatureHash::Sha256.sign(&self.root_key, tbs));
        let mut body = tbs.to_vec();
        body.extend_from_slice(&algorithm);
        body.extend_from_slice(&tlv(BIT_STRING, &bits));
        CertificateDer::new(tlv(SEQUENCE, &body))
    }

    /// Bob's modern client: his encryption key, the root trusted, reading at [`Self::now`].
    pub fn reader<'a>(&'a self, engine: &'a dyn Engine) -> Reader<'a> {
        self.reader_as(Persona::Modern, Strength::High, engine)
    }

    /// Bob with another client (and build strength), holding the same keys and trust.
    pub fn reader_as<'a>(
        &'a self,
        persona: Persona,
        strength: Strength,
        engine: &'a dyn Engine,
    ) -> Reader<'a> {
        Reader {
            engine,
            profile: persona.profile(),
            strength,
            keys: std::slice::from_ref(&self.bob.enc),
            roots: std::slice::from_ref(&self.root),
            trust_list: &[],
            crls: &[],
            now: self.now,
            memo: SignatureMemo::new(),
            authorities: std::slice::from_ref(&self.root),
        }
    }
}

impl Fixture {
    /// Bob as `kmlab inspect` builds a reader from files: his encryption key (labelled
    /// `bob enc#1`), the root trusted, judging at [`Self::now`].
    pub fn inspector(&self, persona: Persona, strength: Strength) -> runner::Inspector {
        let mut inspector = runner::Inspector::empty("bob", persona, strength, self.now);
        inspector.client.trust_root(self.root.clone());
        inspector
            .book
            .add(&self.bob.enc.certificate, "bob enc#1".to_owned());
        inspector.client.add_encryption_key(self.bob.enc.clone());
        inspector
    }
}

/// A template for a certificate valid from the default start for `lifetime`.
pub(crate) fn template(
    purpose: CertificatePurpose,
    serial: &[u8],
    subject: Name,
    email: Option<String>,
    lifetime: Duration,
) -> CertificateTemplate {
    CertificateTemplate {
        host_names: Vec::new(),
        version: CertificateVersion::V3,
        purpose,
        serial: Serial::from_be_bytes(serial),
        subject,
        email,
        not_before: Timestamp::DEFAULT_START,
        not_after: Timestamp::DEFAULT_START.plus(lifetime),
        crl_distribution_point: None,
        hash: SignatureHash::Sha256,
    }
}

pub(crate) fn name(common_name: &str) -> Name {
    build_name(&[NameAttribute::CommonName(common_name)]).expect("a plain common name")
}
