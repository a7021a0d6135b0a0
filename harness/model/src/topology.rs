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

/// Something installed on a host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InstalledPart {
    /// Certificate Services (the CA).
    CertificateServices,
    /// Certificate Services Web Enrollment Support.
    WebEnrollmentSupport,
    /// A hotfix, by its Knowledge Base number, e.g. `Q262288`.
    Fix(String),
}

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

    /// Whether the fix `name` (e.g. `Q262288`) is installed.
    pub fn has_fix(&self, name: &str) -> bool {
        self.installed
            .iter()
            .any(|part| matches!(part, InstalledPart::Fix(fix) if fix.eq_ignore_ascii_case(name)))
    }
}
