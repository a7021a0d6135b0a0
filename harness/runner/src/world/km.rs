//! The World's KM side: the KM servers, the directory they publish to, where each user's
//! mailbox lives now and the tokens administrators hold.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use km::{Directory, KmServer, Token};
use model::{KmName, SiteName, UserName};
use scenario::Scenario;

use crate::error::{StepError, Thing};

/// KM servers and the directory.
#[derive(Debug)]
pub(crate) struct Km {
    pub(crate) servers: BTreeMap<KmName, KmServer>,
    pub(crate) directory: Directory,
    /// Each user's current site (users move, KM-12).
    pub(crate) sites: BTreeMap<UserName, SiteName>,
    /// The last token the administrator received for each user.
    pub(crate) tokens: BTreeMap<UserName, Token>,
}

impl Km {
    pub(super) fn new(scenario: &Scenario) -> Self {
        let topology = &scenario.topology;
        let mut directory = Directory::default();
        for spec in &topology.users {
            let mailbox_dn = mailbox_dn(&topology.organisation, &spec.site, &spec.display_name);
            directory.add_mailbox(spec.name.clone(), mailbox_dn, spec.email.clone());
        }
        Self {
            servers: BTreeMap::new(),
            directory,
            sites: topology
                .users
                .iter()
                .map(|user| (user.name.clone(), user.site.clone()))
                .collect(),
            tokens: BTreeMap::new(),
        }
    }

    /// The installed KM server named `km`.
    pub(crate) fn server(&self, km: &KmName) -> Result<&KmServer, StepError> {
        self.servers
            .get(km)
            .ok_or_else(|| StepError::missing(Thing::InstalledKmServer, km))
    }

    /// The installed KM server named `km`, to change.
    pub(crate) fn server_mut(&mut self, km: &KmName) -> Result<&mut KmServer, StepError> {
        self.servers
            .get_mut(km)
            .ok_or_else(|| StepError::missing(Thing::InstalledKmServer, km))
    }

    /// The KM server serving `user`'s current site, if one is installed there.
    pub(crate) fn km_for(&self, user: &UserName) -> Option<KmName> {
        let site = self.sites.get(user)?;
        self.servers
            .iter()
            .find(|(_, server)| &server.setup().site == site)
            .map(|(name, _)| name.clone())
    }

    /// The KM server a step acts on: the one named, else the one serving the user's site.
    pub(crate) fn resolve(&self, km: Option<&KmName>, user: &UserName) -> Option<KmName> {
        km.cloned().or_else(|| self.km_for(user))
    }

    /// The KM servers attached to `ca`.
    pub(crate) fn attached_to(&self, ca: &model::CaName) -> Vec<KmName> {
        self.servers
            .iter()
            .filter(|(_, server)| server.hierarchy() == ca)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Whether a user's V1 client lost advanced security (KM-06) on any KM server.
    pub(crate) fn v1_security_ended(&self, user: &UserName) -> bool {
        self.servers
            .values()
            .any(|server| server.v1_security_ended(user))
    }
}

/// The database file of a KM server.
pub(crate) fn database_path(dir: &Path, km: &str) -> PathBuf {
    dir.join(format!("{km}.sqlite"))
}

/// The distinguished name of the mailbox of the user called `display_name` in `site`.
pub(crate) fn mailbox_dn(organisation: &str, site: &SiteName, display_name: &str) -> String {
    format!("/o={organisation}/ou={site}/cn=Recipients/cn={display_name}")
}
