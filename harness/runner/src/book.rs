//! Names for certificates: every certificate the run issued, labelled the way transcripts
//! speak of it (`alice enc#1`, `ContosoRoot`).

use std::collections::BTreeMap;

use clients::read::{CertificateNames, describe_certificate};
use model::CertificateDer;
use pki::CertificateInfo;
use smime::structure::CertificateId;

/// The labels of every certificate issued in a run (or, for `kmlab inspect`, named by its
/// artifacts), in the order they were labelled, found by the certificate or by any identifier
/// that names it; the first certificate added under a name keeps it.
#[derive(Debug, Default, Clone)]
pub struct CertificateBook {
    entries: Vec<(CertificateDer, Entry)>,
    by_certificate: BTreeMap<CertificateDer, usize>,
    by_identifier: BTreeMap<CertificateId, String>,
}

/// A certificate's label, and how [`CertificateBook::describe`] shows it (worked out once:
/// messages name the same certificates again and again).
#[derive(Debug, Clone)]
struct Entry {
    label: String,
    described: String,
}

impl CertificateBook {
    /// Labels `certificate`, unless it already has a label.
    pub fn add(&mut self, certificate: &CertificateDer, label: impl Into<String>) {
        if self.by_certificate.contains_key(certificate) {
            return;
        }
        let label = label.into();
        for id in CertificateId::all_for(certificate) {
            self.by_identifier
                .entry(id)
                .or_insert_with(|| label.clone());
        }
        let described = describe_certificate(Some(&label), certificate);
        self.by_certificate
            .insert(certificate.clone(), self.entries.len());
        self.entries
            .push((certificate.clone(), Entry { label, described }));
    }

    fn entry(&self, certificate: &CertificateDer) -> Option<&Entry> {
        self.by_certificate
            .get(certificate)
            .map(|&index| &self.entries[index].1)
    }

    /// The label of `certificate`, if it has one.
    pub fn label(&self, certificate: &CertificateDer) -> Option<&str> {
        self.entry(certificate).map(|entry| entry.label.as_str())
    }

    /// Every labelled certificate, in the order they were labelled.
    pub fn entries(&self) -> impl Iterator<Item = (&CertificateDer, &str)> {
        self.entries
            .iter()
            .map(|(der, entry)| (der, entry.label.as_str()))
    }

    /// `label (serial …)` for a certificate, or its subject if it is not in the book.
    pub fn describe(&self, certificate: &CertificateDer) -> String {
        self.entry(certificate).map_or_else(
            || describe_certificate(None, certificate),
            |entry| entry.described.clone(),
        )
    }
}

impl CertificateNames for CertificateBook {
    fn label(&self, certificate: &CertificateDer) -> Option<&str> {
        CertificateBook::label(self, certificate)
    }

    fn label_of(&self, id: &CertificateId) -> Option<&str> {
        self.by_identifier.get(id).map(String::as_str)
    }

    fn describe(&self, certificate: &CertificateDer) -> String {
        CertificateBook::describe(self, certificate)
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
