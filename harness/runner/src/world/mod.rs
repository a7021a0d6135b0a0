//! The World: everything a scenario run holds, built fresh for each run, as named parts —
//! the certification side ([`Pki`]), the KM servers and their directory ([`Km`]), the mail
//! system ([`Mail`]) and the users' clients ([`Clients`]) — beside the scenario, the clock and
//! the hosts.

mod clients;
mod install;
mod km;
mod mail;
mod pki;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use model::{CaName, Host, HostName, KmName, Timestamp, VirtualClock};
use report::Record;
use scenario::Scenario;

pub(crate) use self::clients::{Clients, KeyKind};
pub(crate) use self::km::{Km, database_path};
pub(crate) use self::mail::{Delivered, Mail, SPOOL, SentMessage};
pub(crate) use self::pki::Pki;
use crate::error::{StepError, Thing};
use crate::{RunError, RunOptions};

/// Everything a running scenario holds.
#[derive(Debug)]
pub struct World {
    /// The scenario being run, shared with whoever started the run.
    pub(crate) scenario: Arc<Scenario>,
    pub(crate) seed: u64,
    pub(crate) clock: VirtualClock,
    /// Hosts as they are now (parts get installed, an NT 4.0 CA host gets upgraded).
    pub(crate) hosts: BTreeMap<HostName, Host>,
    /// Where the run may create files (KM databases, backups).
    pub(crate) work_dir: PathBuf,
    /// Backups taken so far, by name.
    pub(crate) backups: BTreeMap<String, Backup>,
    /// Keys, CAs, trust stores and the names of every certificate.
    pub(crate) pki: Pki,
    /// KM servers, the directory they publish to, tokens and backups.
    pub(crate) km: Km,
    /// The SMTP sink, what was sent and how mailboxes differ from what the sink stored.
    pub(crate) mail: Mail,
    /// The users' clients and the engines they work with.
    pub(crate) clients: Clients,
}

/// A backup taken by a step.
#[derive(Debug, Clone)]
pub(crate) enum Backup {
    /// A KM database file.
    Km {
        /// Whose.
        km: KmName,
        /// The copy.
        path: PathBuf,
    },
    /// A CA database (its whole state).
    Ca {
        /// Whose.
        ca: CaName,
        /// The copy.
        state: Box<::pki::CertificationAuthority>,
    },
}

impl World {
    /// Installs the scenario's topology; what installing it recorded comes back as records.
    pub(crate) fn build(
        scenario: Arc<Scenario>,
        options: &RunOptions,
    ) -> Result<(Self, Vec<Record>), RunError> {
        let seed = options.seed.unwrap_or(scenario.seed);
        let clock = VirtualClock::starting_at(scenario.start);
        let km_dir = options.work_dir.join("km");
        std::fs::create_dir_all(&km_dir)?;
        let topology = &scenario.topology;
        let mut world = Self {
            seed,
            clock,
            hosts: topology
                .hosts
                .iter()
                .map(|host| (host.name.clone(), host.clone()))
                .collect(),
            work_dir: options.work_dir.clone(),
            backups: BTreeMap::new(),
            pki: Pki::new(&scenario, seed, options.key_cache.clone()),
            km: Km::new(&scenario),
            mail: Mail::new(seed, &options.work_dir)?,
            clients: Clients::new(&scenario, options),
            scenario: Arc::clone(&scenario),
        };
        let mut records = Vec::new();
        for spec in &scenario.topology.cas {
            records.push(world.install_ca(spec)?);
        }
        for spec in &scenario.topology.km_servers {
            records.push(world.install_km(spec, &km_dir)?);
        }
        Ok((world, records))
    }

    /// How the scenario describes the CA named `ca`.
    pub(crate) fn ca_spec(&self, ca: &CaName) -> Result<&scenario::CaSpec, StepError> {
        self.scenario
            .topology
            .ca(ca)
            .ok_or_else(|| StepError::missing(Thing::Ca, ca))
    }

    /// The seed the run used.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Every message the run's SMTP sink stored, in delivery order.
    pub fn delivered_messages(&self) -> Vec<sink::StoredMessage> {
        self.mail.sink.store().all()
    }

    /// The KM database files, by KM server name.
    pub fn km_databases(&self) -> Vec<(KmName, PathBuf)> {
        self.km
            .servers
            .iter()
            .map(|(name, server)| (name.clone(), server.database().path().to_path_buf()))
            .collect()
    }
}
