//! The World: everything a scenario run holds, built fresh for each run, as named parts —
//! the certification side ([`Pki`]), the KM servers and their directory ([`Km`]), the mail
//! system ([`Mail`]) and the users' clients ([`Clients`]) — beside the scenario, the clock and
//! the hosts.

mod clients;
mod install;
mod km;
mod live;
mod mail;
mod pki;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ::clients::VirtualUser;
use ::pki::{Pkcs12Certificate, Pkcs12Key, build_pkcs12};
use model::{
    CaName, CertificateDer, CertifiedKey, Host, HostName, KmName, SeededRng, Timestamp,
    VirtualClock,
};
use report::Record;
use scenario::Scenario;

pub(crate) use self::clients::{Clients, KeyKind};
pub(crate) use self::km::{Km, database_path, mailbox_dn};
pub(crate) use self::live::{Live, Waited};
pub(crate) use self::mail::{Delivered, Mail, RewrittenBy, SPOOL, SentMessage};
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
    /// The servers real mail clients talk to, when the scenario has live users.
    pub(crate) live: Option<Live>,
    /// The number of the step running, 0 while the topology is installed.
    pub(crate) step: usize,
    /// Two-way trusts set up by steps, beside those the topology declares.
    pub(crate) added_trusts: Vec<(String, String)>,
    /// Certificate-template permissions granted by steps on each CA (KM-17).
    pub(crate) granted_templates: Vec<(CaName, ::pki::TemplatePermission)>,
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
        let clock = VirtualClock::starting_at(options.start.unwrap_or(scenario.start));
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
            live: None,
            step: 0,
            added_trusts: Vec::new(),
            granted_templates: Vec::new(),
            scenario: Arc::clone(&scenario),
        };
        world.mail.date_deliveries(world.clock.now());
        let mut records = Vec::new();
        for spec in &scenario.topology.cas {
            records.push(world.install_ca(spec)?);
        }
        for spec in &scenario.topology.km_servers {
            records.push(world.install_km(spec, &km_dir)?);
        }
        if scenario.topology.users.iter().any(|user| user.live) {
            records.push(world.open_to_live_clients(options)?);
        }
        Ok((world, records))
    }

    /// Whether two domains have a two-way trust, declared or set up since (KM-03).
    pub(crate) fn two_way_trust(&self, a: &str, b: &str) -> bool {
        self.scenario.topology.two_way_trust(a, b)
            || self.added_trusts.iter().any(|(x, y)| {
                (x.eq_ignore_ascii_case(a) && y.eq_ignore_ascii_case(b))
                    || (x.eq_ignore_ascii_case(b) && y.eq_ignore_ascii_case(a))
            })
    }

    /// How the scenario describes the CA named `ca`.
    pub(crate) fn ca_spec(&self, ca: &CaName) -> Result<&scenario::CaSpec, StepError> {
        self.scenario
            .topology
            .ca(ca)
            .ok_or_else(|| StepError::missing(Thing::Ca, ca))
    }

    /// Where the servers of a live scenario listen and how its live users log in.
    pub(crate) fn live_ready(&self) -> Option<crate::LiveReady> {
        let live = self.live.as_ref()?;
        Some(live.ready(self.mail.sink.address(), &self.scenario))
    }

    /// Every key `user` holds (each encryption generation and the signing key) with the
    /// chains above them, as a PKCS #12 file under the artifacts' password, built
    /// deterministically from the seed; none when the user holds no key.
    pub(crate) fn pkcs12_of(&self, user: &VirtualUser) -> Result<Option<Vec<u8>>, StepError> {
        let world = self;
        let keys: Vec<&CertifiedKey> = user
            .encryption_keys
            .iter()
            .chain(user.signing_key())
            .collect();
        if keys.is_empty() {
            return Ok(None);
        }
        let label =
            |certificate: &CertificateDer| world.pki.book.label(certificate).map(str::to_owned);
        let mut chain: Vec<CertificateDer> = Vec::new();
        for key in &keys {
            for certificate in world.pki.issuer_chain(&key.certificate) {
                if !chain.contains(&certificate) {
                    chain.push(certificate);
                }
            }
        }
        let keys: Vec<Pkcs12Key> = keys
            .into_iter()
            .map(|key| Pkcs12Key {
                name: label(&key.certificate),
                certificate: key.certificate.clone(),
                key: key.key.clone(),
            })
            .collect();
        let chain: Vec<Pkcs12Certificate> = chain
            .into_iter()
            .map(|certificate| Pkcs12Certificate {
                name: label(&certificate),
                certificate,
            })
            .collect();
        let mut rng = SeededRng::new(world.seed, &format!("pkcs12:{}", user.name));
        Ok(Some(build_pkcs12(
            &keys,
            &chain,
            crate::PKCS12_PASSWORD,
            &mut rng,
        )?))
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
