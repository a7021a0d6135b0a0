//! The World: everything a scenario run holds, built fresh for each run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clients::VirtualUser;
use km::{Directory, KmServer, KmSetup, Token};
use model::{CaName, KmName, SeededRng, Timestamp, UserName, VirtualClock};
use pki::{CaSetup, CertificationAuthority, KeyPool};
use scenario::{CaRole, Scenario};
use sink::{EmbeddedSink, Limits};
use smime::Engine;

use crate::book::CertificateBook;
use crate::{RunError, RunOptions};

/// One message the run sent, for artifact names.
#[derive(Debug, Clone)]
pub(crate) struct SentMessage {
    /// The sender.
    pub(crate) from: UserName,
    /// The subject.
    pub(crate) subject: String,
    /// The sink's identifier.
    pub(crate) id: sink::MessageId,
}

/// Everything a running scenario holds.
#[derive(Debug)]
pub struct World {
    pub(crate) scenario: Scenario,
    pub(crate) seed: u64,
    pub(crate) clock: VirtualClock,
    /// Randomness for messages: boundaries, content keys, IVs, padding.
    pub(crate) rng: SeededRng,
    pub(crate) keys: KeyPool,
    pub(crate) engine: Arc<dyn Engine>,
    /// The engine every reader also judges each message with, when cross-checking.
    pub(crate) cross_check: Option<Arc<dyn Engine>>,
    pub(crate) cas: BTreeMap<CaName, CertificationAuthority>,
    pub(crate) kms: BTreeMap<KmName, KmServer>,
    pub(crate) directory: Directory,
    pub(crate) users: BTreeMap<UserName, VirtualUser>,
    pub(crate) sink: EmbeddedSink,
    /// The last token the administrator received for each user.
    pub(crate) tokens: BTreeMap<UserName, Token>,
    pub(crate) book: CertificateBook,
    pub(crate) sent: Vec<SentMessage>,
    /// Delivered messages changed in transit, by mailbox owner and sink identifier; the
    /// sink's own copy stays as it was received.
    pub(crate) altered: BTreeMap<(UserName, sink::MessageId), Vec<u8>>,
}

impl World {
    /// Installs the scenario's topology.
    pub(crate) fn build(scenario: &Scenario, options: &RunOptions) -> Result<Self, RunError> {
        let seed = options.seed.unwrap_or(scenario.seed);
        let topology = &scenario.topology;
        let keys = KeyPool::new(seed, options.key_cache.clone());
        let clock = VirtualClock::starting_at(scenario.start);
        let mut book = CertificateBook::default();

        let mut cas = BTreeMap::new();
        for spec in &topology.cas {
            let setup = CaSetup {
                name: spec.name.clone(),
                class: spec.class,
                organization: topology.organisation.clone(),
                policy: spec.policy,
                validity: spec.validity,
                lifetime: spec.lifetime,
                hash: spec.hash,
                crl_url: format!(
                    "http://{}/CertEnroll/{}.crl",
                    spec.host.as_str().to_lowercase(),
                    spec.name
                ),
            };
            let ca_error = |source: pki::PkiError| RunError::Ca {
                ca: spec.name.to_string(),
                source: Box::new(source),
            };
            let (key, _) = keys
                .key(&format!("ca:{}", spec.name), 2048)
                .map_err(|e| ca_error(e.into()))?;
            let serials = SeededRng::new(seed, &format!("ca:{}:serials", spec.name));
            let ca = match &spec.role {
                CaRole::Root => {
                    CertificationAuthority::install_root(setup, key, serials, clock.now())
                }
                CaRole::Subordinate { parent } => {
                    return Err(RunError::Unsupported(format!(
                        "CA {}: installing a subordinate under {parent} is not modelled",
                        spec.name
                    )));
                }
            }
            .map_err(ca_error)?;
            book.add(ca.certificate(), spec.name.to_string());
            cas.insert(spec.name.clone(), ca);
        }

        let mut directory = Directory::default();
        let mut users = BTreeMap::new();
        for spec in &topology.users {
            let mailbox_dn = format!(
                "/o={}/ou={}/cn=Recipients/cn={}",
                topology.organisation, spec.site, spec.name
            );
            directory.add_mailbox(spec.name.clone(), mailbox_dn, spec.email.clone());
            users.insert(
                spec.name.clone(),
                VirtualUser::new(
                    spec.name.clone(),
                    spec.email.clone(),
                    spec.persona,
                    spec.strength,
                ),
            );
        }

        let km_dir = options.work_dir.join("km");
        std::fs::create_dir_all(&km_dir)?;
        let mut kms = BTreeMap::new();
        for spec in &topology.km_servers {
            let setup = KmSetup {
                name: spec.name.clone(),
                product: spec.product,
                site: spec.site.clone(),
                organization: topology.organisation.clone(),
                startup_password: spec.startup_password.clone(),
            };
            let path = database_path(&km_dir, spec.name.as_str());
            let rng = SeededRng::new(seed, &format!("km:{}", spec.name));
            let server = KmServer::install(setup, &path, rng).map_err(|source| RunError::Km {
                km: spec.name.to_string(),
                source: Box::new(source),
            })?;
            kms.insert(spec.name.clone(), server);
        }

        let sink = EmbeddedSink::start(Limits::default())?;
        Ok(Self {
            scenario: scenario.clone(),
            seed,
            clock,
            rng: SeededRng::new(seed, "messages"),
            keys,
            engine: Arc::clone(&options.engine),
            cross_check: options.cross_check.clone(),
            cas,
            kms,
            directory,
            users,
            sink,
            tokens: BTreeMap::new(),
            book,
            sent: Vec::new(),
            altered: BTreeMap::new(),
        })
    }

    /// The seed the run used.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The KM database files, by KM server name.
    pub fn km_databases(&self) -> Vec<(KmName, PathBuf)> {
        self.kms
            .iter()
            .map(|(name, server)| (name.clone(), server.database().path().to_path_buf()))
            .collect()
    }
}

/// The database file of a KM server.
pub(crate) fn database_path(dir: &Path, km: &str) -> PathBuf {
    dir.join(format!("{km}.sqlite"))
}
