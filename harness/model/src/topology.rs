//! Facts about the servers and domains of an organisation that KM and CA behaviour depends on.

use crate::{HostName, named};

/// A server's operating system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Os {
    /// Windows NT 4.0.
    Nt4,
    /// Windows 2000.
    W2k,
}

named!(Os { Nt4 => "nt4", W2k => "w2k" });

/// What kind of Windows domain this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainKind {
    /// A Windows NT 4.0 domain.
    Nt4,
    /// A Windows 2000 domain in mixed mode (NT 4.0 domain controllers allowed).
    W2kMixed,
    /// A Windows 2000 domain in native mode.
    W2kNative,
}

named!(DomainKind { Nt4 => "nt4", W2kMixed => "w2k-mixed", W2kNative => "w2k-native" });

/// A Windows domain and the domains it has two-way trusts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The domain's name, e.g. `CONTOSO`.
    pub name: String,
    /// Its kind.
    pub kind: DomainKind,
    /// Domains with a two-way trust to this one.
    pub trusts: Vec<String>,
}

/// Something installed on a host: a closed vocabulary, so that a misspelt part or an unknown
/// fix is reported where it is written instead of standing silently for nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstalledPart {
    /// Certificate Services (the CA).
    CertificateServices,
    /// Certificate Services Web Enrollment Support.
    WebEnrollmentSupport,
    /// Hotfix Q262288, which lets a KM server reach a CA in another domain (KM-03).
    FixQ262288,
}

named!(InstalledPart {
    CertificateServices => "certificate-services",
    WebEnrollmentSupport => "web-enrollment-support",
    FixQ262288 => "Q262288",
});

/// A server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Its name.
    pub name: HostName,
    /// Its operating system.
    pub os: Os,
    /// Its Windows domain.
    pub domain: String,
    /// What is installed on it.
    pub installed: Vec<InstalledPart>,
}

impl Host {
    /// Whether Web Enrollment Support is installed.
    pub fn has_web_enrollment_support(&self) -> bool {
        self.installed
            .contains(&InstalledPart::WebEnrollmentSupport)
    }

    /// Whether `part` is installed.
    pub fn has(&self, part: InstalledPart) -> bool {
        self.installed.contains(&part)
    }
}
