//! The artifacts folder: everything a run produced, in files outside tools can open.

use std::fs;
use std::path::{Path, PathBuf};

use clients::VirtualUser;
use der::pem::LineEnding;
use model::{CertificateDer, CertifiedKey, CrlDer, Named, PrivateKeyDer, UserName};
use serde::{Deserialize, Serialize};

use crate::Run;

/// The password of every `users/<user>/<user>.p12`.
pub const PKCS12_PASSWORD: &str = "kmlab";

/// The identifier of the `client.json` format, bumped on incompatible changes.
pub const CLIENT_SCHEMA: &str = "kmlab-client/1";

/// The identifier of the `certificates.json` format, bumped on incompatible changes.
pub const CERTIFICATES_SCHEMA: &str = "kmlab-certificates/1";

/// Each user's client state, in the user's folder.
pub const CLIENT_FILE: &str = "client.json";

/// Every certificate the run labelled, at the scenario folder's root.
pub const CERTIFICATES_FILE: &str = "certificates.json";

/// `users/<user>/client.json`: what the user's mail client holds at the end of the run. File
/// names are relative to the user's folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFile {
    /// [`CLIENT_SCHEMA`].
    pub schema: String,
    /// The user's name.
    pub user: String,
    /// The user's SMTP address.
    pub email: String,
    /// The client persona (`outlook2000`).
    pub client: String,
    /// The client build's strength (`128-bit`, `40-bit`).
    pub strength: String,
    /// The virtual time at the end of the run: when `kmlab inspect` judges by default.
    pub at: String,
    /// Whether a V1-only client lost advanced security when its KM server went `v3-only`
    /// (KM-06): it then opens no encrypted mail whatever keys it holds.
    pub advanced_security_lost: bool,
    /// The encryption key history, oldest first.
    pub encryption_keys: Vec<KeyFiles>,
    /// Every signing key the client generated, oldest first; the last is current.
    pub signing_keys: Vec<KeyFiles>,
    /// Encryption keys the client held during the run and no longer holds (lost keys, a 5.5
    /// site move, a KM server attached to another CA), oldest first. `kmlab inspect` does not
    /// read with them: the client cannot.
    #[serde(default)]
    pub lost_encryption_keys: Vec<KeyFiles>,
    /// Signing keys the client held during the run and no longer holds, oldest first.
    #[serde(default)]
    pub lost_signing_keys: Vec<KeyFiles>,
    /// Every copy of a message in the user's mailbox that `alter-message` or `sectool`
    /// rewrote, in the order the steps wrote them: the copy a later `read` read is the last
    /// one written before it for that message.
    #[serde(default)]
    pub rewritten_mail: Vec<RewrittenFile>,
    /// The client's trusted roots.
    pub trusted_roots: Vec<String>,
    /// The CA certificates the organisation's certificate trust list vouches for, as this
    /// client sees the list.
    pub trust_list: Vec<String>,
    /// The CRLs the client fetched.
    pub crls: Vec<String>,
}

/// One key of a user's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFiles {
    /// The generation (1, 2, …).
    pub generation: u32,
    /// The certificate's file.
    pub certificate: String,
    /// The private key's file; absent unless the artifacts were written with
    /// `--export-keys`.
    pub key: Option<String>,
}

/// One rewritten mailbox copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewrittenFile {
    /// The step that wrote it.
    pub step: usize,
    /// The message's number at the sink (the `mail/` file of the same number is what the
    /// sink received).
    pub message: u64,
    /// The copy's file.
    pub file: String,
}

/// `certificates.json`: every certificate the run labelled, with the label transcripts use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatesFile {
    /// [`CERTIFICATES_SCHEMA`].
    pub schema: String,
    /// The certificates, in the order the run labelled them.
    pub certificates: Vec<LabelledCertificate>,
}

/// A certificate and its label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledCertificate {
    /// The label (`alice enc#2`, `ContosoRoot`).
    pub label: String,
    /// The certificate, PEM.
    pub certificate: String,
}

impl Run {
    /// Writes `dir/<scenario-id>/…` as the design's artifact layout describes; private keys
    /// only when `export_keys` is set.
    ///
    /// The folder appears whole or not at all: it is written under a hidden name beside its
    /// place (`.<name>.partial-<pid>`) and renamed into place once complete, the previous
    /// folder moved aside (`.<name>.old-<pid>`) first and removed after. A process killed
    /// midway leaves only hidden folders, which the next write of the same folder removes.
    pub fn write_artifacts(&self, dir: &Path, export_keys: bool) -> std::io::Result<PathBuf> {
        let root = self.artifacts_root(dir)?;
        let (parent, name) = match (root.parent(), root.file_name().and_then(|n| n.to_str())) {
            (Some(parent), Some(name)) => (parent, name),
            _ => return Err(std::io::Error::other("the artifacts folder has no name")),
        };
        fs::create_dir_all(parent)?;
        remove_leftovers(parent, name)?;
        let pid = std::process::id();
        let partial = parent.join(format!(".{name}.partial-{pid}"));
        fs::create_dir(&partial)?;
        if let Err(error) = self.write_complete(&partial, export_keys) {
            let _ = fs::remove_dir_all(&partial);
            return Err(error);
        }
        if root.exists() {
            let old = parent.join(format!(".{name}.old-{pid}"));
            fs::rename(&root, &old)?;
            fs::rename(&partial, &root)?;
            fs::remove_dir_all(&old)?;
        } else {
            fs::rename(&partial, &root)?;
        }
        Ok(root)
    }

    /// Every artifact, into `root`.
    fn write_complete(&self, root: &Path, export_keys: bool) -> std::io::Result<()> {
        self.write_pki(&root.join("pki"))?;
        for (name, user) in &self.world.clients.users {
            let folder = root.join("users").join(file_name(name.as_str())?);
            self.write_user(&folder, name, user, export_keys)?;
        }
        self.write_certificates(&root.join(CERTIFICATES_FILE))?;
        self.write_mail(&root.join("mail"))?;
        self.write_km_databases(&root.join("km"))?;
        fs::write(
            root.join("transcript.json"),
            report::transcript_json(&self.transcript),
        )
    }

    /// `dir/<scenario-id>`, and inside it a folder per combination for a matrix cell.
    fn artifacts_root(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let scenario = &self.world.scenario;
        let mut root = dir.to_path_buf();
        for part in scenario.id.split('/') {
            root.push(file_name(part)?);
        }
        if !scenario.settings.is_empty() {
            let cell: Vec<String> = scenario
                .settings
                .iter()
                .map(|setting| format!("{}={}", setting.key, slug(&setting.value)))
                .collect();
            root.push(file_name(&cell.join(","))?);
        }
        Ok(root)
    }

    /// `pki/`: each CA's certificate and latest CRL, and the signed trust list.
    fn write_pki(&self, pki: &Path) -> std::io::Result<()> {
        let world = &self.world;
        fs::create_dir_all(pki)?;
        for (name, ca) in &world.pki.cas {
            if let Some(certificate) = ca.certificate() {
                write_pem(
                    &pki.join(format!("{}.crt.pem", file_name(name.as_str())?)),
                    CertificateDer::PEM_LABEL,
                    certificate.as_bytes(),
                )?;
            }
            if let Some(crl) = ca.latest_crl() {
                write_pem(
                    &pki.join(format!("{}.crl.pem", file_name(name.as_str())?)),
                    CrlDer::PEM_LABEL,
                    crl.as_bytes(),
                )?;
            }
        }
        if let Some(trust_list) = &world.pki.signed_trust_list {
            // Microsoft's certificate trust list files are DER with the .stl extension.
            fs::write(pki.join("trust-list.stl"), trust_list.as_bytes())?;
        }
        Ok(())
    }

    /// `users/<user>/`: the user's keys, what the client trusts, `client.json` and, with
    /// `export_keys`, the PKCS #12 file.
    fn write_user(
        &self,
        folder: &Path,
        name: &UserName,
        user: &VirtualUser,
        export_keys: bool,
    ) -> std::io::Result<()> {
        let world = &self.world;
        fs::create_dir_all(folder)?;
        let mut files = ClientFile {
            schema: CLIENT_SCHEMA.to_owned(),
            user: name.to_string(),
            email: user.email.to_string(),
            client: user.persona.name().to_owned(),
            strength: user.strength.name().to_owned(),
            at: world.now().to_string(),
            advanced_security_lost: world.km.v1_security_ended(name),
            encryption_keys: write_keys(folder, "enc", &user.encryption_keys, export_keys)?,
            signing_keys: write_keys(folder, "sign", &user.signing_keys, export_keys)?,
            lost_encryption_keys: write_keys(
                folder,
                "enc",
                &no_longer_held(&user.lost_encryption_keys, &user.encryption_keys),
                export_keys,
            )?,
            lost_signing_keys: write_keys(
                folder,
                "sign",
                &no_longer_held(&user.lost_signing_keys, &user.signing_keys),
                export_keys,
            )?,
            rewritten_mail: self.write_rewritten_mail(folder, name)?,
            trusted_roots: Vec::new(),
            trust_list: Vec::new(),
            crls: Vec::new(),
        };
        self.write_trust(folder, user, &mut files)?;
        fs::write(folder.join(CLIENT_FILE), json_text(&files)?)?;
        if export_keys {
            if let Some(pkcs12) = self.pkcs12_of(user)? {
                fs::write(folder.join(format!("{name}.p12")), pkcs12)?;
            }
        }
        Ok(())
    }

    /// `users/<user>/trust/`: what the client trusts and knows at the end of the run, so
    /// `kmlab inspect` can read as this client does.
    fn write_trust(
        &self,
        folder: &Path,
        user: &VirtualUser,
        files: &mut ClientFile,
    ) -> std::io::Result<()> {
        let trust = folder.join("trust");
        let trust_list = self.world.pki.trust_list_for(user);
        let groups: [(&str, &[CertificateDer], &mut Vec<String>); 2] = [
            ("root", &user.trusted_roots, &mut files.trusted_roots),
            ("listed", &trust_list, &mut files.trust_list),
        ];
        for (stem, certificates, listed) in groups {
            for (index, certificate) in certificates.iter().enumerate() {
                let file = format!("trust/{stem}-{}.crt.pem", index + 1);
                fs::create_dir_all(&trust)?;
                write_pem(
                    &folder.join(&file),
                    CertificateDer::PEM_LABEL,
                    certificate.as_bytes(),
                )?;
                listed.push(file);
            }
        }
        for (index, crl) in user.crls.iter().enumerate() {
            let file = format!("trust/crl-{}.crl.pem", index + 1);
            fs::create_dir_all(&trust)?;
            write_pem(&folder.join(&file), CrlDer::PEM_LABEL, crl.as_bytes())?;
            files.crls.push(file);
        }
        Ok(())
    }

    /// `users/<user>/mailbox/`: every copy of a message in the user's mailbox that a step
    /// rewrote, named after the message as `mail/` names it and the step that wrote it.
    fn write_rewritten_mail(
        &self,
        folder: &Path,
        user: &UserName,
    ) -> std::io::Result<Vec<RewrittenFile>> {
        let mut files = Vec::new();
        for rewrite in self.world.mail.rewrites.iter().filter(|r| &r.user == user) {
            let file = format!(
                "mailbox/{}.step-{}.eml",
                self.message_stem(rewrite.id),
                rewrite.step
            );
            fs::create_dir_all(folder.join("mailbox"))?;
            fs::write(folder.join(&file), &*rewrite.data)?;
            files.push(RewrittenFile {
                step: rewrite.step,
                message: rewrite.id.0,
                file,
            });
        }
        Ok(files)
    }

    /// `<seq>-<from>-<subject>`: how the artifacts name message `id`.
    fn message_stem(&self, id: sink::MessageId) -> String {
        let sent = self.world.mail.sent.iter().find(|sent| sent.id == id);
        let from = sent.map_or_else(|| "smtp-client".to_owned(), |sent| sent.from.to_string());
        let subject = sent.map_or_else(|| "raw".to_owned(), |sent| slug(&sent.subject));
        format!("{:03}-{from}-{subject}", id.0)
    }

    /// `certificates.json`: every certificate the run labelled.
    fn write_certificates(&self, path: &Path) -> std::io::Result<()> {
        let book = CertificatesFile {
            schema: CERTIFICATES_SCHEMA.to_owned(),
            certificates: self
                .world
                .pki
                .book
                .entries()
                .map(|(certificate, label)| {
                    Ok(LabelledCertificate {
                        label: label.to_owned(),
                        certificate: pem(CertificateDer::PEM_LABEL, certificate.as_bytes())?,
                    })
                })
                .collect::<std::io::Result<_>>()?,
        };
        fs::write(path, json_text(&book)?)
    }

    /// `mail/`: every message the sink stored, named after its number, sender and subject;
    /// no folder when no mail was sent or stored.
    fn write_mail(&self, mail: &Path) -> std::io::Result<()> {
        let world = &self.world;
        let stored = world.mail.sink.store().all();
        if world.mail.sent.is_empty() && stored.is_empty() {
            return Ok(());
        }
        fs::create_dir_all(mail)?;
        let senders: std::collections::BTreeMap<sink::MessageId, &crate::world::SentMessage> =
            world.mail.sent.iter().map(|sent| (sent.id, sent)).collect();
        for message in &stored {
            let sent = senders.get(&message.id);
            let from = sent.map_or_else(|| "smtp-client".to_owned(), |sent| sent.from.to_string());
            let subject = sent.map_or_else(|| "raw".to_owned(), |sent| slug(&sent.subject));
            fs::write(
                mail.join(format!("{:03}-{from}-{subject}.eml", message.id.0)),
                &*message.data()?,
            )?;
        }
        Ok(())
    }

    /// `km/`: a copy of each KM server's database; no folder without one.
    fn write_km_databases(&self, km: &Path) -> std::io::Result<()> {
        for (name, path) in self.world.km_databases() {
            fs::create_dir_all(km)?;
            fs::copy(
                &path,
                km.join(format!("{}.sqlite", file_name(name.as_str())?)),
            )?;
        }
        Ok(())
    }

    /// The user's keys and certificates as one PKCS #12 file for a real mail client: every
    /// encryption key, the current signing key, and the CA certificates above them; salts and
    /// IVs from the scenario seed. `None` for a user who holds no key.
    fn pkcs12_of(&self, user: &VirtualUser) -> std::io::Result<Option<Vec<u8>>> {
        self.world
            .pkcs12_of(user)
            .map_err(|e| std::io::Error::other(format!("{}.p12: {e}", user.name)))
    }
}

/// The keys of `lost` that are not among `held` (a recovered key is held again).
fn no_longer_held(lost: &[CertifiedKey], held: &[CertifiedKey]) -> Vec<CertifiedKey> {
    lost.iter()
        .filter(|key| !held.iter().any(|h| h.certificate == key.certificate))
        .cloned()
        .collect()
}

/// Writes each key's certificate as `<kind>-<generation>.crt.pem` and, with `export_keys`, its
/// private key as `<kind>-<generation>.key.pem`; the files, for `client.json`.
fn write_keys(
    folder: &Path,
    kind: &str,
    keys: &[CertifiedKey],
    export_keys: bool,
) -> std::io::Result<Vec<KeyFiles>> {
    let mut entries = Vec::new();
    for key in keys {
        let stem = format!("{kind}-{}", key.generation);
        let certificate = format!("{stem}.crt.pem");
        write_pem(
            &folder.join(&certificate),
            CertificateDer::PEM_LABEL,
            key.certificate.as_bytes(),
        )?;
        let key_file = format!("{stem}.key.pem");
        if export_keys {
            write_pem(
                &folder.join(&key_file),
                PrivateKeyDer::PEM_LABEL,
                key.key.as_bytes(),
            )?;
        }
        entries.push(KeyFiles {
            generation: key.generation.get(),
            certificate,
            key: export_keys.then_some(key_file),
        });
    }
    Ok(entries)
}

/// Removes what an interrupted write of the artifacts folder `name` in `parent` left: its
/// hidden `.partial-` and `.old-` folders.
fn remove_leftovers(parent: &Path, name: &str) -> std::io::Result<()> {
    let partial = format!(".{name}.partial-");
    let old = format!(".{name}.old-");
    for entry in fs::read_dir(parent)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(file_name) = file_name.to_str() else {
            continue;
        };
        if (file_name.starts_with(&partial) || file_name.starts_with(&old))
            && entry.file_type()?.is_dir()
        {
            fs::remove_dir_all(entry.path())?;
        }
    }
    Ok(())
}

fn pem(label: &'static str, der: &[u8]) -> std::io::Result<String> {
    der::pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// `name` if it is one plain path component, so that joining it stays inside the folder it
/// is joined to. The scenario language refuses such names already; this holds the line for
/// every other way a run could be built.
fn file_name(name: &str) -> std::io::Result<&str> {
    match model::file_name_problem(name) {
        None => Ok(name),
        Some(why) => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{name}` cannot be a file name in the artifacts: {why}"),
        )),
    }
}

fn write_pem(path: &Path, label: &'static str, der: &[u8]) -> std::io::Result<()> {
    fs::write(path, pem(label, der)?)
}

fn json_text(value: &impl Serialize) -> std::io::Result<String> {
    serde_json::to_string_pretty(value)
        .map(|text| text + "\n")
        .map_err(std::io::Error::other)
}

/// A file-name-safe form of a subject: lower-case letters, digits and dashes, at most 40.
fn slug(text: &str) -> String {
    let mut out = String::new();
    for ch in text.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
        if out.len() >= 40 {
            break;
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "message".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_file_names() {
        assert_eq!(slug("Quarterly figures, Q1!"), "quarterly-figures-q1");
        assert_eq!(slug("../../etc"), "etc");
        assert_eq!(slug("***"), "message");
    }

    #[test]
    fn names_that_would_leave_the_artifacts_folder_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a\\b", "x\u{0}y", "..."] {
            assert!(file_name(bad).is_err(), "{bad:?}");
        }
        for good in ["alice", "Contosø Root", "KM-PARIS-2", ".hidden"] {
            assert_eq!(file_name(good).unwrap(), good);
        }
    }
}
