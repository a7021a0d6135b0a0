//! The artifacts folder: everything a run produced, in files outside tools can open.

use std::fs;
use std::path::{Path, PathBuf};

use der::pem::LineEnding;
use model::{CertificateDer, CrlDer, PrivateKeyDer};

use crate::Run;

impl Run {
    /// Writes `dir/<scenario-id>/…` as the design's artifact layout describes; private keys
    /// only when `export_keys` is set.
    pub fn write_artifacts(&self, dir: &Path, export_keys: bool) -> std::io::Result<PathBuf> {
        let world = &self.world;
        let root = dir.join(&world.scenario.id);
        if root.exists() {
            fs::remove_dir_all(&root)?;
        }
        let pki = root.join("pki");
        fs::create_dir_all(&pki)?;
        for (name, ca) in &world.cas {
            if let Some(certificate) = ca.certificate() {
                write_pem(
                    &pki.join(format!("{name}.crt.pem")),
                    CertificateDer::PEM_LABEL,
                    certificate.as_bytes(),
                )?;
            }
            if let Some(crl) = ca.latest_crl() {
                write_pem(
                    &pki.join(format!("{name}.crl.pem")),
                    CrlDer::PEM_LABEL,
                    crl.as_bytes(),
                )?;
            }
        }
        if let Some(trust_list) = &world.signed_trust_list {
            // Microsoft's certificate trust list files are DER with the .stl extension.
            fs::write(pki.join("trust-list.stl"), trust_list.as_bytes())?;
        }
        for (name, user) in &world.users {
            let folder = root.join("users").join(name.as_str());
            for (kind, keys) in [("enc", &user.encryption_keys), ("sign", &user.signing_keys)] {
                for key in keys {
                    fs::create_dir_all(&folder)?;
                    let stem = format!("{kind}-{}", key.generation);
                    write_pem(
                        &folder.join(format!("{stem}.crt.pem")),
                        CertificateDer::PEM_LABEL,
                        key.certificate.as_bytes(),
                    )?;
                    if export_keys {
                        write_pem(
                            &folder.join(format!("{stem}.key.pem")),
                            PrivateKeyDer::PEM_LABEL,
                            key.key.as_bytes(),
                        )?;
                    }
                }
            }
        }
        let stored = world.sink.store().all();
        if !world.sent.is_empty() || !stored.is_empty() {
            let mail = root.join("mail");
            fs::create_dir_all(&mail)?;
            let senders: std::collections::HashMap<sink::MessageId, &crate::world::SentMessage> =
                world.sent.iter().map(|sent| (sent.id, sent)).collect();
            for message in &stored {
                let sent = senders.get(&message.id);
                let from =
                    sent.map_or_else(|| "smtp-client".to_owned(), |sent| sent.from.to_string());
                let subject = sent.map_or_else(|| "raw".to_owned(), |sent| slug(&sent.subject));
                fs::write(
                    mail.join(format!("{:03}-{from}-{subject}.eml", message.id.0)),
                    &*message.data()?,
                )?;
            }
        }
        let km = root.join("km");
        for (name, path) in world.km_databases() {
            fs::create_dir_all(&km)?;
            fs::copy(&path, km.join(format!("{name}.sqlite")))?;
        }
        fs::write(
            root.join("transcript.json"),
            report::transcript_json(&self.transcript),
        )?;
        Ok(root)
    }
}

fn write_pem(path: &Path, label: &'static str, der: &[u8]) -> std::io::Result<()> {
    let pem = der::pem::encode_string(label, LineEnding::LF, der)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    fs::write(path, pem)
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
}
