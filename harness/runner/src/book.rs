//! Names for certificates: every certificate the run issued, labelled the way transcripts
//! speak of it (`alice enc#1`, `ContosoRoot`).

use std::collections::HashMap;

use model::CertificateDer;
use pki::CertificateInfo;
use smime::structure::CertificateId;

/// The labels of every certificate issued in a run, found by the certificate or by any
/// identifier that names it; the first certificate added under a name keeps it.
#[derive(Debug, Default, Clone)]
pub(crate) struct CertificateBook {
    entries: HashMap<CertificateDer, Entry>,
    by_identifier: HashMap<CertificateId, String>,
}

/// A certificate's label, and how [`CertificateBook::describe`] shows it (worked out once:
/// messages name the same certificates again and again).
#[derive(Debug, Clone)]
struct Entry {
    label: String,
    described: String,
}

impl CertificateBook {
    pub(crate) fn add(&mut self, certificate: &CertificateDer, label: impl Into<String>) {
        if self.entries.contains_key(certificate) {
            return;
        }
        let label = label.into();
        for id in CertificateId::all_for(certificate) {
            self.by_identifier
                .entry(id)
                .or_insert_with(|| label.clone());
        }
        let described = match CertificateInfo::parse(certificate) {
            Ok(info) => format!("{label} (serial {})", info.serial),
            Err(_) => label.clone(),
        };
        self.entries
            .insert(certificate.clone(), Entry { label, described });
    }

    pub(crate) fn label(&self, certificate: &CertificateDer) -> Option<&str> {
        self.entries
            .get(certificate)
            .map(|entry| entry.label.as_str())
    }

    /// The label of the certificate an identifier names, or the identifier itself.
    pub(crate) fn label_for(&self, id: &CertificateId) -> String {
        self.by_identifier.get(id).map_or_else(
            || format!("unknown certificate ({})", id.describe()),
            Clone::clone,
        )
    }

    /// `label (serial …)` for a certificate, or its subject if it is not in the book.
    pub(crate) fn describe(&self, certificate: &CertificateDer) -> String {
        if let Some(entry) = self.entries.get(certificate) {
            return entry.described.clone();
        }
        match CertificateInfo::parse(certificate) {
            Ok(info) => format!("{} (serial {})", info.subject, info.serial),
            Err(_) => "an unparseable certificate".to_owned(),
        }
    }
}

/// A certificate in one line: serial, version, subject, issuer, validity and, for v3, its CRL
/// distribution point.
pub(crate) fn certificate_line(certificate: &CertificateDer) -> String {
    match CertificateInfo::parse(certificate) {
        Ok(info) => {
            let cdp = match (info.version, info.crl_distribution_points.first()) {
                (pki::CertificateVersion::V1, _) => String::new(),
                (_, Some(url)) => format!(", CDP {url}"),
                (_, None) => ", no CDP".to_owned(),
            };
            format!(
                "serial {}, {}, subject {}, issuer {}, valid {} to {}{cdp}",
                info.serial,
                info.version,
                info.subject,
                info.issuer,
                info.not_before,
                info.not_after
            )
        }
        Err(error) => format!("unparseable certificate: {error}"),
    }
}
