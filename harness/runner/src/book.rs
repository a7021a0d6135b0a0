//! Names for certificates: every certificate the run issued, labelled the way transcripts
//! speak of it (`alice enc#1`, `ContosoRoot`).

use model::CertificateDer;
use pki::CertificateInfo;
use smime::structure::CertificateId;

/// The labels of every certificate issued in a run (or, for `kmlab inspect`, named by its
/// artifacts), in the order they were labelled.
#[derive(Debug, Default, Clone)]
pub struct CertificateBook {
    entries: Vec<(CertificateDer, String)>,
}

impl CertificateBook {
    /// Labels `certificate`, unless it already has a label.
    pub fn add(&mut self, certificate: &CertificateDer, label: impl Into<String>) {
        if self.label(certificate).is_none() {
            self.entries.push((certificate.clone(), label.into()));
        }
    }

    /// The label of `certificate`, if it has one.
    pub fn label(&self, certificate: &CertificateDer) -> Option<&str> {
        self.entries
            .iter()
            .find(|(der, _)| der == certificate)
            .map(|(_, label)| label.as_str())
    }

    /// Every labelled certificate, in the order they were labelled.
    pub fn entries(&self) -> impl Iterator<Item = (&CertificateDer, &str)> {
        self.entries
            .iter()
            .map(|(der, label)| (der, label.as_str()))
    }

    /// The label of the certificate an identifier names, or the identifier itself.
    pub fn label_for(&self, id: &CertificateId) -> String {
        self.entries
            .iter()
            .find(|(der, _)| id.matches_der(der))
            .map_or_else(
                || format!("unknown certificate ({})", id.describe()),
                |(_, label)| label.clone(),
            )
    }

    /// `label (serial …)` for a certificate, or its subject if it is not in the book.
    pub fn describe(&self, certificate: &CertificateDer) -> String {
        let info = CertificateInfo::parse(certificate);
        match (self.label(certificate), info) {
            (Some(label), Ok(info)) => format!("{label} (serial {})", info.serial),
            (Some(label), Err(_)) => label.to_owned(),
            (None, Ok(info)) => format!("{} (serial {})", info.subject, info.serial),
            (None, Err(_)) => "an unparseable certificate".to_owned(),
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
