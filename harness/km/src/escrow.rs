//! How the KM server keeps escrowed keys: each private key wrapped under keys derived from the
//! startup password.
//!
//! - **Key derivation:** PBKDF2-HMAC-SHA-256 over the startup password with the database's own
//!   16-byte salt and [`ITERATIONS`] iterations gives a 32-byte master key; HMAC-SHA-256 of the
//!   master key over three labels gives the encryption key, the authentication key and the
//!   startup verifier. The salt and the iteration count are kept in the database's settings
//!   (`escrow_salt`, `escrow_iterations`), the verifier as `startup_verifier`.
//! - **Wrapping:** AES-256-CBC with a fresh 16-byte IV (PKCS #7 padding), then HMAC-SHA-256 of
//!   the authentication key over a label, the key's generation, hierarchy and serial, the IV
//!   and the ciphertext (encrypt-then-MAC): `wrapped_key` is the ciphertext followed by the
//!   32-byte tag. A changed byte, another key's record or another password is refused before
//!   anything is decrypted.
//!
//! The salt and every IV come from the KM server's seeded generator, so a scenario's database
//! is the same file on every run.

use std::fmt;

use cipher::block_padding::Pkcs7;
use cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::database::{Database, DatabaseError, EscrowedKey};

/// The key derivation, as named in the database's `escrow_kdf` setting.
pub const KDF: &str = "pbkdf2-hmac-sha256";

/// PBKDF2 iterations for a new database.
pub const ITERATIONS: u32 = 100_000;

/// The salt's length in bytes.
pub const SALT_LENGTH: usize = 16;

/// The length of the tag after each ciphertext.
const TAG_LENGTH: usize = 32;

/// The keys derived from one startup password for one database.
#[derive(Clone)]
pub struct EscrowKeys {
    encryption: [u8; 32],
    authentication: [u8; 32],
    verifier: String,
}

impl fmt::Debug for EscrowKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EscrowKeys(..)")
    }
}

/// The database's key derivation parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KdfParameters {
    pub(crate) salt: Vec<u8>,
    pub(crate) iterations: u32,
}

impl KdfParameters {
    /// Writes them into `database`'s settings.
    pub(crate) fn store(&self, database: &Database) -> Result<(), DatabaseError> {
        database.set_setting("escrow_kdf", KDF)?;
        database.set_setting("escrow_iterations", &self.iterations.to_string())?;
        database.set_setting("escrow_salt", &hex(&self.salt))
    }

    /// Reads them from `database`'s settings.
    pub(crate) fn load(database: &Database) -> Result<Self, DatabaseError> {
        let foreign = |detail: String| DatabaseError::Foreign {
            path: database.path().to_path_buf(),
            detail,
        };
        let kdf = database.setting("escrow_kdf")?;
        if kdf.as_deref() != Some(KDF) {
            return Err(foreign(format!(
                "escrowed keys wrapped with key derivation {kdf:?}, expected {KDF}"
            )));
        }
        let iterations = database
            .setting("escrow_iterations")?
            .and_then(|text| text.parse::<u32>().ok())
            .filter(|iterations| *iterations > 0)
            .ok_or_else(|| foreign("no valid escrow_iterations setting".to_owned()))?;
        let salt = database
            .setting("escrow_salt")?
            .and_then(|text| unhex(&text))
            .filter(|salt| !salt.is_empty())
            .ok_or_else(|| foreign("no valid escrow_salt setting".to_owned()))?;
        Ok(Self { salt, iterations })
    }
}

impl EscrowKeys {
    /// The keys for `startup_password` under `parameters`.
    pub(crate) fn derive(startup_password: &str, parameters: &KdfParameters) -> Self {
        let mut master = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(
            startup_password.as_bytes(),
            &parameters.salt,
            parameters.iterations,
            &mut master,
        );
        let expand = |label: &[u8]| -> [u8; 32] {
            let mut mac = mac(&master);
            mac.update(label);
            mac.finalize().into_bytes().into()
        };
        Self {
            encryption: expand(b"kmlab km escrow encryption v2"),
            authentication: expand(b"kmlab km escrow authentication v2"),
            verifier: hex(&expand(b"kmlab km startup verifier v2")),
        }
    }

    /// The keys for `startup_password` under the parameters `database` holds.
    pub fn for_database(
        database: &Database,
        startup_password: &str,
    ) -> Result<Self, DatabaseError> {
        Ok(Self::derive(
            startup_password,
            &KdfParameters::load(database)?,
        ))
    }

    /// What the database keeps to check a startup password with.
    pub(crate) fn verifier(&self) -> &str {
        &self.verifier
    }

    /// `plaintext` encrypted under `iv` and authenticated with `record`'s identity.
    pub(crate) fn wrap(&self, iv: &[u8; 16], record: &Identity<'_>, plaintext: &[u8]) -> Vec<u8> {
        let mut wrapped = cbc::Encryptor::<aes::Aes256>::new(&self.encryption.into(), iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext);
        let tag = self.tag(iv, record, &wrapped);
        wrapped.extend_from_slice(&tag);
        wrapped
    }

    /// The private key in `escrowed`, if its tag holds under these keys.
    pub fn unwrap(&self, escrowed: &EscrowedKey) -> Option<Vec<u8>> {
        let record = Identity {
            generation: escrowed.generation,
            hierarchy: &escrowed.hierarchy,
            serial: &escrowed.serial,
        };
        let split = escrowed.wrapped_key.len().checked_sub(TAG_LENGTH)?;
        let (ciphertext, tag) = escrowed.wrapped_key.split_at(split);
        let mut check = mac(&self.authentication);
        feed(&mut check, &escrowed.wrap_iv, &record, ciphertext);
        check.verify_slice(tag).ok()?;
        cbc::Decryptor::<aes::Aes256>::new_from_slices(&self.encryption, &escrowed.wrap_iv)
            .ok()?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
            .ok()
    }

    fn tag(&self, iv: &[u8], record: &Identity<'_>, ciphertext: &[u8]) -> [u8; TAG_LENGTH] {
        let mut tag = mac(&self.authentication);
        feed(&mut tag, iv, record, ciphertext);
        tag.finalize().into_bytes().into()
    }
}

/// What a wrapped key is bound to: the record it is stored in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Identity<'a> {
    pub(crate) generation: u32,
    pub(crate) hierarchy: &'a str,
    pub(crate) serial: &'a str,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes a key of any length.
        Err(_) => unreachable!("HMAC accepts every key length"),
    }
}

/// The tag's input: a label, then each field with its length, so no two records feed the same
/// bytes.
fn feed(mac: &mut Hmac<Sha256>, iv: &[u8], record: &Identity<'_>, ciphertext: &[u8]) {
    mac.update(b"kmlab km escrowed key v2\0");
    mac.update(&record.generation.to_be_bytes());
    for field in [record.hierarchy.as_bytes(), record.serial.as_bytes(), iv] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
    mac.update(ciphertext);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use sha2::Digest;

    use super::*;

    fn parameters(salt: u8) -> KdfParameters {
        KdfParameters {
            salt: vec![salt; SALT_LENGTH],
            iterations: 1000,
        }
    }

    fn escrowed(keys: &EscrowKeys, iv: [u8; 16], plaintext: &[u8]) -> EscrowedKey {
        let record = Identity {
            generation: 2,
            hierarchy: "ExchCA",
            serial: "0a11",
        };
        EscrowedKey {
            generation: 2,
            version: "v3".to_owned(),
            hierarchy: "ExchCA".to_owned(),
            serial: "0a11".to_owned(),
            certificate: Vec::new(),
            wrapped_key: keys.wrap(&iv, &record, plaintext),
            wrap_iv: iv.to_vec(),
        }
    }

    #[test]
    fn a_key_unwraps_only_with_its_password_salt_and_record() {
        let plaintext = b"a PKCS #8 private key, longer than one block";
        let keys = EscrowKeys::derive("correct horse", &parameters(1));
        let stored = escrowed(&keys, [7; 16], plaintext);
        assert_eq!(keys.unwrap(&stored).as_deref(), Some(&plaintext[..]));
        // The same derivation again: deterministic.
        let again = EscrowKeys::derive("correct horse", &parameters(1));
        assert_eq!(again.verifier(), keys.verifier());
        assert_eq!(again.unwrap(&stored).as_deref(), Some(&plaintext[..]));

        assert_eq!(
            EscrowKeys::derive("wrong", &parameters(1)).unwrap(&stored),
            None
        );
        let other_salt = EscrowKeys::derive("correct horse", &parameters(2));
        assert_ne!(other_salt.verifier(), keys.verifier());
        assert_eq!(other_salt.unwrap(&stored), None);

        // Any changed byte, or the key moved to another record, is refused.
        for index in 0..stored.wrapped_key.len() {
            let mut changed = stored.clone();
            changed.wrapped_key[index] ^= 1;
            assert_eq!(keys.unwrap(&changed), None, "byte {index}");
        }
        let mut moved = stored.clone();
        moved.generation = 1;
        assert_eq!(keys.unwrap(&moved), None);
        let mut moved = stored.clone();
        moved.serial = "0a12".to_owned();
        assert_eq!(keys.unwrap(&moved), None);
        let mut moved = stored.clone();
        moved.wrap_iv[0] ^= 1;
        assert_eq!(keys.unwrap(&moved), None);
        let mut short = stored;
        short.wrapped_key.truncate(10);
        assert_eq!(keys.unwrap(&short), None);
    }

    #[test]
    fn a_plain_hash_of_the_password_opens_nothing() {
        let plaintext = b"a PKCS #8 private key, longer than one block";
        let keys = EscrowKeys::derive("startup", &parameters(3));
        let stored = escrowed(&keys, [9; 16], plaintext);
        let ciphertext = &stored.wrapped_key[..stored.wrapped_key.len() - TAG_LENGTH];
        let plain = sha2::Sha256::digest(b"startup");
        let labelled = sha2::Sha256::new()
            .chain_update(b"kmlab km escrow wrap v1\0")
            .chain_update(b"startup")
            .finalize();
        for key in [&plain[..16], &labelled[..16]] {
            for data in [ciphertext, &stored.wrapped_key[..]] {
                let opened = cbc::Decryptor::<aes::Aes128>::new_from_slices(key, &[9; 16])
                    .unwrap()
                    .decrypt_padded_vec_mut::<Pkcs7>(data);
                assert!(opened.is_err() || opened.unwrap() != plaintext);
            }
        }
        for data in [ciphertext, &stored.wrapped_key[..]] {
            let opened = cbc::Decryptor::<aes::Aes256>::new_from_slices(&plain, &[9; 16])
                .unwrap()
                .decrypt_padded_vec_mut::<Pkcs7>(data);
            assert!(opened.is_err() || opened.unwrap() != plaintext);
        }
    }

    #[test]
    fn parameters_round_trip_through_the_database_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let database = Database::create(&dir.path().join("km.sqlite"), "KM1").unwrap();
        assert!(matches!(
            KdfParameters::load(&database),
            Err(DatabaseError::Foreign { .. })
        ));
        parameters(4).store(&database).unwrap();
        assert_eq!(KdfParameters::load(&database).unwrap(), parameters(4));
        database.set_setting("escrow_salt", "not hex").unwrap();
        let error = KdfParameters::load(&database).unwrap_err().to_string();
        assert!(error.contains("escrow_salt"), "{error}");
    }
}
