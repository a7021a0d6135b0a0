//! Reading certificates, keys, CRLs and PKCS #12 files that people hand `kmlab inspect`: PEM
//! (one block or a bundle) or DER, with every failure naming the file.

use std::path::{Path, PathBuf};

use der::Decode;
use model::{CertificateDer, CrlDer, PrivateKeyDer};
use pki::{CertificateInfo, Pkcs12Contents};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;

/// A file that could not be read as what it was given as.
#[derive(Debug, thiserror::Error)]
#[error("{}: {detail}", path.display())]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub detail: String,
}

impl FileError {
    pub(crate) fn new(path: &Path, detail: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            detail: detail.into(),
        }
    }
}

/// Every certificate in a PEM file (a bundle is fine) or a DER file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer>, FileError> {
    let blocks = read_blocks(path, &[CertificateDer::PEM_LABEL, "X509 CERTIFICATE"])?;
    blocks
        .into_iter()
        .map(|der| {
            let certificate = CertificateDer::new(der);
            CertificateInfo::parse(&certificate)
                .map(|_| certificate)
                .map_err(|e| FileError::new(path, format!("not an X.509 certificate: {e}")))
        })
        .collect()
}

/// The one certificate in a file.
pub fn read_certificate(path: &Path) -> Result<CertificateDer, FileError> {
    let mut certificates = read_certificates(path)?;
    match certificates.len() {
        1 => Ok(certificates.remove(0)),
        count => Err(FileError::new(
            path,
            format!("expected one certificate, found {count}"),
        )),
    }
}

/// An RSA private key: PKCS #8 (`PRIVATE KEY`) or PKCS #1 (`RSA PRIVATE KEY`), PEM or DER;
/// returned as PKCS #8.
pub fn read_private_key(path: &Path) -> Result<PrivateKeyDer, FileError> {
    let text = read(path)?;
    if contains(&text, b"-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        return Err(FileError::new(
            path,
            "the key is encrypted; write it unencrypted (openssl pkey -in KEY -out PLAIN.pem) or pass a PKCS #12 file with --p12",
        ));
    }
    let der = if contains(&text, b"-----BEGIN RSA PRIVATE KEY-----") {
        pem_blocks(path, &text, &["RSA PRIVATE KEY"])?
    } else if contains(&text, b"-----BEGIN ") {
        pem_blocks(path, &text, &[PrivateKeyDer::PEM_LABEL])?
    } else {
        vec![text]
    };
    let [der] = <[Vec<u8>; 1]>::try_from(der).map_err(|found| {
        FileError::new(path, format!("expected one key, found {}", found.len()))
    })?;
    use rsa::pkcs8::DecodePrivateKey;
    // The PEM label says which form a key is in; DER does not, so both are tried.
    if rsa::RsaPrivateKey::from_pkcs8_der(&der).is_ok() {
        return Ok(PrivateKeyDer::new(der));
    }
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&der).map_err(|_| {
        FileError::new(
            path,
            "not an RSA private key kmlab reads (PKCS #8 or PKCS #1, PEM or DER)",
        )
    })?;
    let pkcs8 = key
        .to_pkcs8_der()
        .map_err(|e| FileError::new(path, format!("re-encoding the key: {e}")))?;
    Ok(PrivateKeyDer::new(pkcs8.as_bytes().to_vec()))
}

/// Every CRL in a PEM file or a DER file.
pub fn read_crls(path: &Path) -> Result<Vec<CrlDer>, FileError> {
    read_blocks(path, &[CrlDer::PEM_LABEL])?
        .into_iter()
        .map(|der| {
            x509_cert::crl::CertificateList::from_der(&der)
                .map(|_| CrlDer::new(der))
                .map_err(|e| FileError::new(path, format!("not a CRL: {e}")))
        })
        .collect()
}

/// A PKCS #12 file's keys and certificates, opened with `password`.
pub fn read_pkcs12_file(path: &Path, password: &str) -> Result<Pkcs12Contents, FileError> {
    let der = read(path)?;
    pki::read_pkcs12(&der, password).map_err(|e| FileError::new(path, e.to_string()))
}

pub(crate) fn read(path: &Path) -> Result<Vec<u8>, FileError> {
    std::fs::read(path).map_err(|e| FileError::new(path, e.to_string()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The DER of every block labelled one of `labels` in a PEM file, or the file itself when it
/// is not PEM.
fn read_blocks(path: &Path, labels: &[&str]) -> Result<Vec<Vec<u8>>, FileError> {
    let bytes = read(path)?;
    if contains(&bytes, b"-----BEGIN ") {
        pem_blocks(path, &bytes, labels)
    } else {
        Ok(vec![bytes])
    }
}

fn pem_blocks(path: &Path, bytes: &[u8], labels: &[&str]) -> Result<Vec<Vec<u8>>, FileError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| FileError::new(path, "PEM that is not text"))?
        .replace("\r\n", "\n");
    let mut blocks = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("-----BEGIN ") {
        let block = &rest[start..];
        let label_end = block["-----BEGIN ".len()..]
            .find("-----")
            .ok_or_else(|| FileError::new(path, "a PEM header without its closing dashes"))?;
        let label = &block["-----BEGIN ".len().."-----BEGIN ".len() + label_end];
        let footer = format!("-----END {label}-----");
        let end = block
            .find(&footer)
            .ok_or_else(|| FileError::new(path, format!("no {footer} line")))?
            + footer.len();
        if labels.contains(&label) {
            let (_, der) = der::pem::decode_vec(&block.as_bytes()[..end])
                .map_err(|e| FileError::new(path, format!("bad PEM {label} block: {e}")))?;
            blocks.push(der);
        }
        rest = &block[end..];
    }
    if blocks.is_empty() {
        return Err(FileError::new(
            path,
            format!("no {} block in this PEM file", labels.join(" or ")),
        ));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_errors_that_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let error = read_certificates(&missing).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with(&missing.display().to_string())
        );

        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(
            read_certificates(&garbage)
                .unwrap_err()
                .to_string()
                .contains("bad PEM")
        );

        let key_file = dir.path().join("key.pem");
        std::fs::write(
            &key_file,
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(
            read_private_key(&key_file)
                .unwrap_err()
                .to_string()
                .contains("PRIVATE KEY")
        );
        assert!(read_crls(&key_file).is_err());
    }
}
