//! What enabling advanced security checks before it asks the CA for anything: the CA must be
//! found (c1031dab), reachable across domains (c1031d9f) and its hierarchy acceptable to the
//! KM server (c1031daf). Every problem is collected, in the order the product met them, so a
//! transcript can name them all; the first one is the error the administrator sees.

use model::{Domain, DomainKind, Host, InstalledPart, Named, Os, Timestamp};
use pki::{
    CaKind, CertificateInfo, KeyOrigin, PolicyModule, SignatureHash, check_name_links,
    third_party_violations,
};

use crate::product::Product;

/// "The Certificate Authority could not be found."
pub const CA_NOT_FOUND: &str = "c1031dab";
/// "The KM server cannot reach the CA in another domain."
pub const CROSS_DOMAIN: &str = "c1031d9f";
/// "The certificate hierarchy is invalid."
pub const HIERARCHY_INVALID: &str = "c1031daf";

/// The longest name the computer running Certificate Services may have (CA-06).
pub const MAX_CA_HOST_NAME: usize = 15;

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct V3Facts<'a> {
    /// The KM server product.
    pub product: Product,
    /// The KM host.
    pub km_host: &'a Host,
    /// The KM host's domain.
    pub km_domain: Domain,
    /// The CA's host.
    pub ca_host: &'a Host,
    /// The CA host's domain.
    pub ca_domain: Domain,
    /// Whether the two domains have a two-way trust.
    pub two_way_trust: bool,
    /// The CA's common name.
    pub ca_name: &'a str,
    /// What kind of CA.
    pub ca_kind: CaKind,
    /// Whether the CA still waits for its certificate.
    pub ca_pending: bool,
    /// The policy module in force.
    pub policy: PolicyModule,
    /// Where the CA's key came from.
    pub key_origin: KeyOrigin,
    /// The CA's signature hash.
    pub hash: SignatureHash,
    /// The CA's shared configuration folder.
    pub shared_folder: &'a str,
    /// The KM host's ConfigurationDirectory setting.
    pub configuration_directory: Option<&'a str>,
    /// Whether the KM host still has its drive mapped to the shared folder.
    pub mapped_drive: bool,
    /// Whether the account that installed the CA could write to the directory.
    pub installer_writes_directory: bool,
    /// The CA's chain as the KM server sees it: the issuing CA first, the root last.
    pub chain: Vec<CertificateInfo>,
    /// Whether that root is in the KM host's trusted root store.
    pub root_trusted: bool,
    /// Whether the root belongs to a third party.
    pub third_party_root: bool,
    /// When a user certificate issued now would expire.
    pub issued_not_after: Option<Timestamp>,
    /// The virtual time.
    pub now: Timestamp,
}

/// One thing that stops enabling advanced security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Problem {
    /// The product's error identifier.
    pub error: &'static str,
    /// A stable reason word.
    pub reason: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

/// Something worth a warning that does not stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Warning {
    /// A stable reason word.
    pub reason: &'static str,
    /// What the product would say.
    pub message: String,
}

/// The result of the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct V3Check {
    /// Problems, the first one being the error reported.
    pub problems: Vec<V3Problem>,
    /// Warnings.
    pub warnings: Vec<V3Warning>,
}

/// The CA's shared folder, when the KM server reaches the CA only through a drive mapped to
/// that folder on a third server and the mapping was dropped (KM-02): the CA has disappeared
/// for the KM server, for enabling V3 and for every later issue or revocation alike.
pub fn lost_drive_mapping<'a>(facts: &V3Facts<'a>) -> Option<&'a str> {
    let ex55 = matches!(facts.product, Product::Ex55(_));
    let remote = facts.ca_host.name != facts.km_host.name;
    let through_share = facts
        .configuration_directory
        .is_some_and(|directory| directory.eq_ignore_ascii_case(facts.shared_folder));
    let share_elsewhere = unc_server(facts.shared_folder)
        .is_some_and(|server| !server.eq_ignore_ascii_case(facts.km_host.name.as_str()));
    (ex55 && remote && through_share && share_elsewhere && !facts.mapped_drive)
        .then_some(facts.shared_folder)
}

/// Runs every check of CA-01, CA-02, CA-03, CA-05, CA-06, CA-09, CA-13, KM-02, KM-03, KM-04
/// and KM-05.
pub fn check_enable_v3(facts: &V3Facts<'_>) -> V3Check {
    let mut check = V3Check::default();
    let mut problem = |error: &'static str, reason: &'static str, message: String| {
        check.problems.push(V3Problem {
            error,
            reason,
            message,
        });
    };
    let ex55 = matches!(facts.product, Product::Ex55(_));

    // Finding the CA (c1031dab).
    if facts.ca_pending {
        problem(
            CA_NOT_FOUND,
            "ca-pending",
            format!("CA {} has no certificate installed yet", facts.ca_name),
        );
    }
    if facts.km_host.os == Os::Nt4 && facts.ca_kind != CaKind::Nt4CertificateServer {
        problem(
            CA_NOT_FOUND,
            "os-mismatch",
            format!(
                "a KM server on Windows NT 4.0 can use only Certificate Server 1.0, not a Windows 2000 {} CA",
                facts.ca_kind.name()
            ),
        );
    }
    if ex55 && facts.ca_kind == CaKind::Enterprise {
        problem(
            CA_NOT_FOUND,
            "enterprise-ca",
            format!(
                "an Exchange 5.5 KM server cannot find enterprise CA {}; it works only with a stand-alone CA",
                facts.ca_name
            ),
        );
    }
    if ex55 && !facts.policy.is_exchange() {
        problem(
            CA_NOT_FOUND,
            "policy-module",
            format!(
                "CA {} runs the {} policy module; an Exchange policy module must be registered and active",
                facts.ca_name,
                facts.policy.name()
            ),
        );
    }
    if facts.ca_name.chars().count() > 15
        || !facts
            .ca_name
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' ')
    {
        problem(
            CA_NOT_FOUND,
            "ca-name",
            format!(
                "the CA name {:?} is not at most 15 plain-ASCII characters, so the KM server does not support that CA",
                facts.ca_name
            ),
        );
    }
    // The KM server finds Certificate Services by the computer's NetBIOS name, which holds at
    // most 15 characters: a longer host name is cut and names no computer.
    if facts.ca_host.name.as_str().chars().count() > MAX_CA_HOST_NAME {
        problem(
            CA_NOT_FOUND,
            "ca-host-name",
            format!(
                "the computer running Certificate Services, {}, has a name of {} characters; it must have at most {MAX_CA_HOST_NAME}, so the KM server does not find the CA",
                facts.ca_host.name,
                facts.ca_host.name.as_str().chars().count()
            ),
        );
    }
    let remote = facts.ca_host.name != facts.km_host.name;
    if ex55 && remote && !facts.km_host.has_web_enrollment_support() {
        problem(
            CA_NOT_FOUND,
            "no-web-client",
            format!(
                "the CA is on {} and Web Enrollment Support is not installed on {}",
                facts.ca_host.name, facts.km_host.name
            ),
        );
    }
    if ex55 && remote {
        match facts.configuration_directory {
            Some(directory) if directory.eq_ignore_ascii_case(facts.shared_folder) => {
                if lost_drive_mapping(facts).is_some() {
                    problem(
                        CA_NOT_FOUND,
                        "drive-mapping",
                        format!(
                            "the drive mapped to {} is gone, so the CA disappears",
                            facts.shared_folder
                        ),
                    );
                }
            }
            Some(directory) => problem(
                CA_NOT_FOUND,
                "configuration-directory",
                format!(
                    "certificate services Web client not installed: ConfigurationDirectory is {directory}, the CA's shared folder is {}",
                    facts.shared_folder
                ),
            ),
            None => problem(
                CA_NOT_FOUND,
                "configuration-directory",
                format!(
                    "certificate services Web client not installed: ConfigurationDirectory is not set (the CA's shared folder is {})",
                    facts.shared_folder
                ),
            ),
        }
    }
    if !facts.installer_writes_directory {
        problem(
            CA_NOT_FOUND,
            "install-account",
            "the CA was installed by an account without write access to the directory".to_owned(),
        );
    }

    // Reaching it across domains (c1031d9f).
    let other_domain = !facts
        .km_domain
        .name
        .eq_ignore_ascii_case(&facts.ca_domain.name);
    if other_domain || facts.km_domain.kind == DomainKind::Nt4 {
        if facts.km_domain.kind != DomainKind::W2kMixed
            && !facts.km_host.has(InstalledPart::FixQ262288)
        {
            problem(
                CROSS_DOMAIN,
                "no-fix-q262288",
                format!(
                    "{} needs fix Q262288 to reach a CA in domain {}",
                    facts.km_host.name, facts.ca_domain.name
                ),
            );
        }
        if other_domain && !facts.two_way_trust {
            problem(
                CROSS_DOMAIN,
                "no-two-way-trust",
                format!(
                    "domains {} and {} have no two-way trust",
                    facts.km_domain.name, facts.ca_domain.name
                ),
            );
        }
    }

    // Accepting the hierarchy (c1031daf).
    if let Some(root) = facts.chain.last() {
        if !facts.root_trusted {
            problem(
                HIERARCHY_INVALID,
                "untrusted-root",
                format!(
                    "root {} is not in {}'s trusted root store",
                    root.subject, facts.km_host.name
                ),
            );
        }
        for link in check_name_links(&facts.chain) {
            problem(HIERARCHY_INVALID, "name-link", link.to_string());
        }
        if facts.third_party_root {
            if let [.., signed, root] = facts.chain.as_slice() {
                let violations = third_party_violations(root, signed);
                if !violations.is_empty() {
                    let names: Vec<&str> = violations.iter().map(|v| v.name()).collect();
                    problem(
                        HIERARCHY_INVALID,
                        "third-party-root",
                        format!(
                            "third-party root {} fails: {}",
                            root.subject,
                            names.join(", ")
                        ),
                    );
                }
            }
        }
    }
    if let Some(not_after) = facts.issued_not_after {
        if not_after < facts.now.plus(model::Duration::years(2)) {
            problem(
                HIERARCHY_INVALID,
                "validity",
                format!(
                    "user certificates would be valid only until {not_after}; the KM server requires at least 2 years"
                ),
            );
        }
    }

    let deviations = facts.key_origin.deviations(facts.hash);
    if ex55 && !deviations.is_empty() {
        check.warnings.push(V3Warning {
            reason: "csp",
            message: format!(
                "the CA key should come freshly generated from the Microsoft Base Cryptographic Provider v1.0 with SHA-1 and the default length; this one has {}",
                deviations.join(", ")
            ),
        });
    }
    if facts.policy.is_outdated() {
        check.warnings.push(V3Warning {
            reason: "outdated-policy-module",
            message: "the policy module registered is the outdated build from Exchange 5.5 SP1; register Expolicyw2k.dll".to_owned(),
        });
    }
    check
}

/// The server part of a UNC path: `\\EXCH1\CertConfig` → `EXCH1`.
fn unc_server(path: &str) -> Option<&str> {
    path.strip_prefix("\\\\")?
        .split('\\')
        .next()
        .filter(|server| !server.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unc_paths_name_their_server() {
        assert_eq!(unc_server("\\\\EXCH1\\CertConfig"), Some("EXCH1"));
        assert_eq!(unc_server("C:\\CertConfig"), None);
    }
}
