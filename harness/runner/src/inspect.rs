//! What one user's client makes of any message: the core of `kmlab inspect`.
//!
//! The client comes from an artifacts folder (`users/<user>/client.json` and the files it
//! names: the key history, trusted roots, the certificate trust list's CAs and fetched CRLs, as
//! they stood at the end of the run), from files given one by one, or both. The reading is
//! described exactly as the runner's `read` step describes it, with the same labels where
//! `certificates.json` names a certificate.

use std::path::{Path, PathBuf};

use clients::read::Reading;
use clients::{Persona, Strength, VirtualUser};
use der::Decode;
use model::{
    CertificateDer, CertifiedKey, KeyGeneration, MailAddress, Named, Outcome, PrivateKeyDer,
    Timestamp, UserName,
};
use report::{Detail, Record};
use smime::Engine;

use crate::artifacts::{
    CERTIFICATES_FILE, CERTIFICATES_SCHEMA, CLIENT_FILE, CLIENT_SCHEMA, CertificatesFile,
    ClientFile,
};
use crate::book::CertificateBook;
use crate::files::{
    FileError, read, read_certificate, read_certificates, read_crls, read_pkcs12_file,
    read_private_key,
};
use crate::reading::describe_reading;

/// Why a client could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// A file is missing or not what it should be.
    #[error(transparent)]
    File(#[from] FileError),
    /// The folder holds no kmlab artifacts.
    #[error(
        "{}: no kmlab artifacts here (no transcript.json in it or below it); write them with `kmlab run --artifacts DIR`",
        .0.display()
    )]
    NotArtifacts(PathBuf),
    /// The folder holds several scenarios' artifacts.
    #[error("{}: holds the artifacts of several scenarios; name one of their folders: {}", .dir.display(), .found.join(", "))]
    SeveralScenarios {
        /// The folder given.
        dir: PathBuf,
        /// The scenario folders in it.
        found: Vec<String>,
    },
    /// No such user in the artifacts.
    #[error("no user {user} in {}; its users are: {}", .dir.display(), if .known.is_empty() { "(none)".to_owned() } else { .known.join(", ") })]
    UnknownUser {
        /// The user asked for.
        user: String,
        /// The scenario folder.
        dir: PathBuf,
        /// The users it has.
        known: Vec<String>,
    },
}

/// A client ready to read: its state, the labels of the certificates it may meet, and the
/// moment it judges at.
#[derive(Debug, Clone)]
pub struct Inspector {
    /// The client: persona, strength, keys, roots, trust list, CRLs.
    pub client: VirtualUser,
    /// Labels for certificates (`alice enc#2`).
    pub book: CertificateBook,
    /// When validity is judged.
    pub at: Timestamp,
    /// Whether the client lost advanced security (KM-06) and opens no encrypted mail.
    pub advanced_security_lost: bool,
    /// What the reader should know about the client's state (keys missing from the artifacts).
    pub notes: Vec<String>,
}

/// What the client made of a message.
#[derive(Debug, Clone)]
#[must_use]
pub struct Inspection {
    /// The record, as a transcript would hold it.
    pub record: Record,
    /// The reading behind it: every layer's engine and client verdict.
    pub reading: Reading,
}

impl Inspector {
    /// A client with nothing in it: `persona` at `strength`, judging at `at`.
    pub fn empty(name: &str, persona: Persona, strength: Strength, at: Timestamp) -> Self {
        Self {
            client: VirtualUser::new(UserName::new(name), MailAddress::new(""), persona, strength),
            book: CertificateBook::default(),
            at,
            advanced_security_lost: false,
            notes: Vec::new(),
        }
    }

    /// `user`'s client as the artifacts in `dir` (a scenario's folder, or a folder holding
    /// exactly one scenario's) left it.
    pub fn from_artifacts(dir: &Path, user: &str) -> Result<Self, InspectError> {
        let root = scenario_folder(dir)?;
        let users = root.join("users");
        let mut known: Vec<String> = std::fs::read_dir(&users)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|entry| entry.path().join(CLIENT_FILE).is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        known.sort();
        if !known.iter().any(|name| name == user) {
            return Err(InspectError::UnknownUser {
                user: user.to_owned(),
                dir: root,
                known,
            });
        }
        let folder = users.join(user);
        let client_path = folder.join(CLIENT_FILE);
        let file: ClientFile = read_json(&client_path)?;
        if file.schema != CLIENT_SCHEMA {
            return Err(FileError::new(
                &client_path,
                format!("schema {} (this kmlab reads {CLIENT_SCHEMA})", file.schema),
            )
            .into());
        }
        let bad = |detail: String| FileError::new(&client_path, detail);
        let persona = Persona::from_name(&file.client).ok_or_else(|| {
            bad(format!(
                "unknown client {}; known: {}",
                file.client,
                Persona::names()
            ))
        })?;
        let strength = Strength::from_name(&file.strength).ok_or_else(|| {
            bad(format!(
                "unknown strength {}; known: {}",
                file.strength,
                Strength::names()
            ))
        })?;
        let at: Timestamp = file
            .at
            .parse()
            .map_err(|_| bad(format!("unreadable time {}", file.at)))?;
        let mut inspector = Self::empty(user, persona, strength, at);
        inspector.client.email = MailAddress::new(file.email.clone());
        inspector.advanced_security_lost = file.advanced_security_lost;
        inspector.book = book_of(&root)?;
        let mut missing_keys = Vec::new();
        for entry in &file.encryption_keys {
            let certificate = read_certificate(&folder.join(&entry.certificate))?;
            match &entry.key {
                Some(key) => inspector.client.add_encryption_key(CertifiedKey {
                    generation: KeyGeneration::new(entry.generation),
                    certificate,
                    key: read_private_key(&folder.join(key))?,
                }),
                None => missing_keys.push(format!("enc#{}", entry.generation)),
            }
        }
        if !missing_keys.is_empty() {
            inspector.notes.push(format!(
                "the artifacts hold no private key for {} (write them with --export-keys): those keys open nothing",
                missing_keys.join(", ")
            ));
        }
        for file_name in &file.trusted_roots {
            for root in read_certificates(&folder.join(file_name))? {
                inspector.client.trust_root(root);
            }
        }
        for file_name in &file.trust_list {
            inspector
                .client
                .trust_list
                .extend(read_certificates(&folder.join(file_name))?);
        }
        for file_name in &file.crls {
            for crl in read_crls(&folder.join(file_name))? {
                inspector.client.add_crl(crl);
            }
        }
        Ok(inspector)
    }

    /// Adds trusted roots from a PEM or DER file.
    pub fn trust(&mut self, path: &Path) -> Result<(), InspectError> {
        for root in read_certificates(path)? {
            self.client.trust_root(root);
        }
        Ok(())
    }

    /// Adds CRLs the client fetched.
    pub fn add_crls(&mut self, path: &Path) -> Result<(), InspectError> {
        for crl in read_crls(path)? {
            self.client.add_crl(crl);
        }
        Ok(())
    }

    /// Adds an encryption key and its certificate as the newest generation (labelled
    /// `<reader> enc#<n>` unless the artifacts name it).
    pub fn add_key(&mut self, certificate: &Path, key: &Path) -> Result<(), InspectError> {
        let certificate_der = read_certificate(certificate)?;
        let key_der = read_private_key(key)?;
        if !key_matches(&key_der, &certificate_der) {
            return Err(FileError::new(
                key,
                format!("this key does not belong to {}", certificate.display()),
            )
            .into());
        }
        self.push_key(certificate_der, key_der, None);
        Ok(())
    }

    /// Adds every encryption key a PKCS #12 file holds (signing-only certificates are left
    /// out, as a client files them), labelled by their friendly names (else as
    /// [`Self::add_key`] labels them); its CA certificates
    /// only lend their names (a PKCS #12 file does not make a root trusted).
    pub fn add_pkcs12(&mut self, path: &Path, password: &str) -> Result<(), InspectError> {
        let contents = read_pkcs12_file(path, password)?;
        for key in contents.keys {
            if may_encrypt(&key.certificate) {
                self.push_key(key.certificate, key.key, key.name);
            } else if let Some(name) = key.name {
                self.book.add(&key.certificate, name);
            }
        }
        for certificate in contents.certificates {
            if let Some(name) = certificate.name {
                self.book.add(&certificate.certificate, name);
            }
        }
        Ok(())
    }

    fn push_key(&mut self, certificate: CertificateDer, key: PrivateKeyDer, name: Option<String>) {
        let generation = self
            .client
            .encryption_keys
            .iter()
            .map(|key| key.generation.get())
            .max()
            .unwrap_or(0)
            + 1;
        // Named as transcripts name a user's keys, unless the file or the run named it.
        let label = name.unwrap_or_else(|| format!("{} enc#{generation}", self.client.name));
        self.book.add(&certificate, label);
        self.client.add_encryption_key(CertifiedKey {
            generation: KeyGeneration::new(generation),
            certificate,
            key,
        });
    }

    /// Reads `raw` as this client, with `engine` doing the cryptography. The bytes are read as
    /// they are, exactly as a `read` step reads a mailbox copy: a file with no CRLF at all (mail
    /// on disk often lost its CRs) is noted, and whether a clear-signed part with bare LFs still
    /// verifies is the client's profile's rule (MSG-02, `Profile::restores_crlf`).
    pub fn inspect(&self, message: &str, raw: &[u8], engine: &dyn Engine) -> Inspection {
        let mut record = Record::new(self.at, self.client.name.to_string(), "inspect");
        record.details.push(Detail::text("message", message));
        record.details.push(Detail::text(
            "client",
            format!(
                "{} ({}), judging at {}",
                self.client.persona.name(),
                self.client.strength.name(),
                self.at
            ),
        ));
        let lf_only = !raw.windows(2).any(|pair| pair == b"\r\n") && raw.contains(&b'\n');
        if lf_only {
            record.details.push(Detail::text(
                "line-endings",
                "LF only; read as it is, as the client reads its mailbox (MSG-02)",
            ));
        }
        let data = raw;
        for note in &self.notes {
            record.details.push(Detail::text("note", note.clone()));
        }
        let mut client = self.client.clone();
        // KM-06, as the runner's read step applies it.
        if self.advanced_security_lost {
            client.encryption_keys.clear();
        }
        // An implementation is told of the client's own trusted roots, the only CA
        // certificates a client outside a run can vouch for.
        let reading =
            clients::read::read(data, &client.reader(engine, self.at, &client.trusted_roots));
        describe_reading(&self.book, &client.encryption_keys, &reading, &mut record);
        if self.advanced_security_lost && record.outcome != Outcome::Ok {
            record.reason = Some("advanced-security-lost".into());
        }
        Inspection { record, reading }
    }
}

/// The scenario folder `dir` names: `dir` itself, or the one scenario folder below it.
fn scenario_folder(dir: &Path) -> Result<PathBuf, InspectError> {
    if !dir.is_dir() {
        return Err(FileError::new(dir, "no such folder").into());
    }
    if dir.join("transcript.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    let mut found = Vec::new();
    find_scenarios(dir, 0, &mut found);
    found.sort();
    match found.len() {
        0 => Err(InspectError::NotArtifacts(dir.to_path_buf())),
        1 => Ok(found.remove(0)),
        _ => Err(InspectError::SeveralScenarios {
            dir: dir.to_path_buf(),
            found: found
                .iter()
                .map(|path| path.strip_prefix(dir).unwrap_or(path).display().to_string())
                .collect(),
        }),
    }
}

/// Scenario ids nest (`messaging/legacy-clients`), so their folders do too.
fn find_scenarios(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if depth > 4 {
        return;
    }
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.join("transcript.json").is_file() {
            found.push(path);
        } else {
            find_scenarios(&path, depth + 1, found);
        }
    }
}

/// The labels the run used: `certificates.json`, then, for artifacts written without it, the
/// names the files carry (`pki/<ca>.crt.pem`, `users/<user>/enc-<n>.crt.pem`).
fn book_of(root: &Path) -> Result<CertificateBook, InspectError> {
    let mut book = CertificateBook::default();
    let path = root.join(CERTIFICATES_FILE);
    if path.is_file() {
        let file: CertificatesFile = read_json(&path)?;
        if file.schema != CERTIFICATES_SCHEMA {
            return Err(FileError::new(
                &path,
                format!(
                    "schema {} (this kmlab reads {CERTIFICATES_SCHEMA})",
                    file.schema
                ),
            )
            .into());
        }
        for entry in file.certificates {
            let (_, der) = der::pem::decode_vec(entry.certificate.as_bytes()).map_err(|e| {
                FileError::new(&path, format!("the certificate of {}: {e}", entry.label))
            })?;
            book.add(&CertificateDer::new(der), entry.label);
        }
    }
    for ca in pem_files(&root.join("pki"), ".crt.pem") {
        let name = file_stem(&ca, ".crt.pem");
        book.add(&read_certificate(&ca)?, name);
    }
    for user in std::fs::read_dir(root.join("users"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let user_name = user.file_name().to_string_lossy().into_owned();
        for file in pem_files(&user.path(), ".crt.pem") {
            let stem = file_stem(&file, ".crt.pem");
            if let Some((kind, generation)) = stem.split_once('-') {
                if matches!(kind, "enc" | "sign") {
                    book.add(
                        &read_certificate(&file)?,
                        format!("{user_name} {kind}#{generation}"),
                    );
                }
            }
        }
    }
    Ok(book)
}

fn pem_files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    files
}

fn file_stem(path: &Path, suffix: &str) -> String {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(suffix).unwrap_or(&name).to_owned()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, FileError> {
    let bytes = read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| FileError::new(path, e.to_string()))
}

/// Whether the key is the private half of the certificate's public key.
fn key_matches(key: &PrivateKeyDer, certificate: &CertificateDer) -> bool {
    use rsa::pkcs8::DecodePrivateKey;
    let Ok(private) = rsa::RsaPrivateKey::from_pkcs8_der(key.as_bytes()) else {
        return false;
    };
    pki::CertificateInfo::parse(certificate)
        .ok()
        .and_then(|info| info.public_key().ok())
        .is_some_and(|public| public == private.to_public_key())
}

/// Whether a certificate's key usage allows key encipherment (a v1 certificate, or one
/// without the extension, says nothing against it).
fn may_encrypt(certificate: &CertificateDer) -> bool {
    use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
    let Ok(parsed) = x509_cert::Certificate::from_der(certificate.as_bytes()) else {
        return false;
    };
    let usage = parsed
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|extension| extension.extn_id == <KeyUsage as const_oid::AssociatedOid>::OID)
        .and_then(|extension| KeyUsage::from_der(extension.extn_value.as_bytes()).ok());
    usage.is_none_or(|usage| usage.0.contains(KeyUsages::KeyEncipherment))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_without_artifacts_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = Inspector::from_artifacts(dir.path(), "bob").unwrap_err();
        assert!(matches!(error, InspectError::NotArtifacts(_)), "{error}");
        let error = Inspector::from_artifacts(&dir.path().join("nothing"), "bob").unwrap_err();
        assert!(error.to_string().contains("no such folder"), "{error}");
    }
}
