//! The organisation's directory: the part of each mailbox entry that S/MIME cares about.

use std::collections::BTreeMap;

use model::{CertificateDer, MailAddress, UserName};

/// One mailbox's directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    /// The mailbox distinguished name, e.g. `/o=Contoso/ou=Redmond/cn=Recipients/cn=alice`.
    pub mailbox_dn: String,
    /// The SMTP address.
    pub email: MailAddress,
    /// Every encryption certificate the user has had, oldest first (multi-valued, KM-09).
    pub encryption_certificates: Vec<CertificateDer>,
}

/// The directory every client looks recipients up in.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    entries: BTreeMap<UserName, DirectoryEntry>,
}

impl Directory {
    /// Adds or replaces a mailbox entry (without certificates).
    pub fn add_mailbox(&mut self, user: UserName, mailbox_dn: String, email: MailAddress) {
        self.entries.insert(
            user,
            DirectoryEntry {
                mailbox_dn,
                email,
                encryption_certificates: Vec::new(),
            },
        );
    }

    /// Gives a mailbox a new distinguished name (a site move), keeping its certificates.
    pub fn rename_mailbox(&mut self, user: &UserName, mailbox_dn: String) {
        if let Some(entry) = self.entries.get_mut(user) {
            entry.mailbox_dn = mailbox_dn;
        }
    }

    /// The entry for `user`.
    pub fn entry(&self, user: &UserName) -> Option<&DirectoryEntry> {
        self.entries.get(user)
    }

    /// Publishes a new encryption certificate next to the earlier ones.
    pub fn publish_encryption_certificate(&mut self, user: &UserName, certificate: CertificateDer) {
        if let Some(entry) = self.entries.get_mut(user) {
            if !entry.encryption_certificates.contains(&certificate) {
                entry.encryption_certificates.push(certificate);
            }
        }
    }

    /// The newest published encryption certificate, the one senders encrypt to.
    pub fn current_encryption_certificate(&self, user: &UserName) -> Option<&CertificateDer> {
        self.entries.get(user)?.encryption_certificates.last()
    }

    /// The user whose entry has this address.
    pub fn user_by_email(&self, email: &str) -> Option<&UserName> {
        self.entries
            .iter()
            .find(|(_, entry)| entry.email.as_str().eq_ignore_ascii_case(email))
            .map(|(user, _)| user)
    }
}
