//! The World: everything a scenario run holds, built fresh for each run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clients::VirtualUser;
use km::{Directory, KmServer, KmSetup, Product, ServicePack, Token};
use model::{
    CaName, CertificateDer, CtlDer, Duration, Host, HostName, KmName, Named, Os, Outcome,
    SeededRng, SiteName, Timestamp, UserName, VirtualClock,
};
use pki::{CaKind, CaSetup, CertificationAuthority, KeyPool, TrustList, TrustListInfo};
use report::{Detail, Record};
use scenario::{CaInstall, CaRole, CaSpec, KmSpec, Scenario};
use sink::{EmbeddedSink, Limits};
use smime::Engine;
use smime_external::ExternalEngine;

use crate::book::{CertificateBook, certificate_line};
use crate::{RunError, RunOptions};

/// A mailbox as its client sees it: each message's sink identifier and bytes.
pub(crate) type Inbox = Vec<Delivered>;

/// One delivered message as a client sees it: its number and its bytes.
pub(crate) type Delivered = (sink::MessageId, Arc<[u8]>);

/// One message the run sent, for artifact names.
#[derive(Debug, Clone)]
pub(crate) struct SentMessage {
    /// The sender.
    pub(crate) from: UserName,
    /// The subject.
    pub(crate) subject: String,
    /// The sink's identifier.
    pub(crate) id: sink::MessageId,
    /// The message as the client composed it, kept only when the sink stored other bytes;
    /// otherwise the sender's sent copy is the sink's.
    pub(crate) composed: Option<Arc<[u8]>>,
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
    /// Users whose seat a real implementation takes, with its engine.
    pub(crate) seated: BTreeMap<UserName, Arc<ExternalEngine>>,
    pub(crate) cas: BTreeMap<CaName, CertificationAuthority>,
    pub(crate) kms: BTreeMap<KmName, KmServer>,
    pub(crate) directory: Directory,
    pub(crate) users: BTreeMap<UserName, VirtualUser>,
    /// Each host's trusted root store (CA-13).
    pub(crate) host_roots: BTreeMap<HostName, Vec<CertificateDer>>,
    /// KM hosts whose drive mapping to the CA's shared folder was dropped (KM-02).
    pub(crate) dropped_mappings: Vec<KmName>,
    /// The organisation's certificate trust list and its newest signed form (KM-15).
    pub(crate) trust_list: TrustList,
    pub(crate) signed_trust_list: Option<CtlDer>,
    pub(crate) sink: EmbeddedSink,
    /// The last token the administrator received for each user.
    pub(crate) tokens: BTreeMap<UserName, Token>,
    pub(crate) book: CertificateBook,
    pub(crate) sent: Vec<SentMessage>,
    /// Keys handed out for certificates requested straight from a CA, counted per owner.
    pub(crate) direct_requests: u32,
    /// Hosts as they are now (parts get installed, an NT 4.0 CA host gets upgraded).
    pub(crate) hosts: BTreeMap<HostName, Host>,
    /// Each user's current site (users move, KM-12).
    pub(crate) user_sites: BTreeMap<UserName, SiteName>,
    /// Backups taken so far, by name.
    pub(crate) backups: BTreeMap<String, Backup>,
    /// Messages a user's mailbox holds in another form than the sink stored (after sectool).
    pub(crate) mailbox_overrides: BTreeMap<(UserName, sink::MessageId), Vec<u8>>,
    /// KM servers that lost their CA (an upgrade without Web Enrollment Support, OPS-03).
    pub(crate) lost_ca: Vec<KmName>,
    /// Where the run may create files (KM databases, backups).
    pub(crate) work_dir: PathBuf,
    /// Users of V1-only clients whose advanced security ended with `v3-only` (KM-06).
    pub(crate) v1_disabled: BTreeSet<UserName>,
    /// ConfigurationDirectory settings changed by steps (KM-02).
    pub(crate) configuration_directories: BTreeMap<KmName, String>,
    /// How many signing keys each user's clients have generated, and how many encryption
    /// keys came straight from a CA: generations keep counting after a client loses its keys.
    pub(crate) generations: BTreeMap<(UserName, &'static str), u32>,
    /// Delivered messages changed in transit, by mailbox owner and sink identifier; the
    /// sink's own copy stays as it was received.
    pub(crate) altered: BTreeMap<(UserName, sink::MessageId), Vec<u8>>,
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
        state: Box<CertificationAuthority>,
    },
}

impl World {
    /// Installs the scenario's topology; what installing it recorded comes back as records.
    pub(crate) fn build(
        scenario: &Scenario,
        options: &RunOptions,
    ) -> Result<(Self, Vec<Record>), RunError> {
        let seed = options.seed.unwrap_or(scenario.seed);
        let topology = &scenario.topology;
        let keys = KeyPool::new(seed, options.key_cache.clone());
        let clock = VirtualClock::starting_at(scenario.start);

        let mut directory = Directory::default();
        let mut users = BTreeMap::new();
        for spec in &topology.users {
            let mailbox_dn = format!(
                "/o={}/ou={}/cn=Recipients/cn={}",
                topology.organisation, spec.site, spec.display_name
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
        let mut seated = BTreeMap::new();
        for spec in &topology.users {
            let named = options
                .seats
                .iter()
                .find(|seat| seat.user.as_ref() == Some(&spec.name))
                .map(|seat| seat.adapter.clone());
            let own = spec.seat.as_ref().map(|seat| {
                smime_external::Adapter::new(
                    &seat.name,
                    seat.program.clone(),
                    options.adapter_timeout,
                )
            });
            let everyone = options
                .seats
                .iter()
                .find(|seat| seat.user.is_none())
                .map(|seat| seat.adapter.clone());
            if let Some(adapter) = named.or(own).or(everyone) {
                let engine = ExternalEngine::new(adapter);
                seated.insert(spec.name.clone(), Arc::new(engine));
            }
        }
        let km_dir = options.work_dir.join("km");
        std::fs::create_dir_all(&km_dir)?;
        let kms = BTreeMap::new();

        let mut world = Self {
            // Everything but the steps, which the run reads from the caller's scenario.
            scenario: Scenario {
                id: scenario.id.clone(),
                path: scenario.path.clone(),
                title: scenario.title.clone(),
                description: scenario.description.clone(),
                covers: scenario.covers.clone(),
                seed: scenario.seed,
                start: scenario.start,
                topology: scenario.topology.clone(),
                steps: Vec::new(),
                matrix: Vec::new(),
                settings: scenario.settings.clone(),
                source: String::new(),
            },
            seed,
            clock,
            rng: SeededRng::new(seed, "messages"),
            keys,
            engine: Arc::clone(&options.engine),
            cross_check: options.cross_check.clone(),
            seated,
            cas: BTreeMap::new(),
            kms,
            directory,
            users,
            host_roots: topology
                .hosts
                .iter()
                .map(|host| (host.name.clone(), Vec::new()))
                .collect(),
            dropped_mappings: Vec::new(),
            trust_list: TrustList::default(),
            signed_trust_list: None,
            // Message bytes go to a spool file in the work folder: a run's memory does not
            // grow with its mail.
            sink: EmbeddedSink::start_with(
                Limits::default(),
                sink::Store::spooled(&options.work_dir.join("sink.spool"))?,
            )?,
            tokens: BTreeMap::new(),
            book: CertificateBook::default(),
            sent: Vec::new(),
            direct_requests: 0,
            hosts: topology
                .hosts
                .iter()
                .map(|host| (host.name.clone(), host.clone()))
                .collect(),
            user_sites: topology
                .users
                .iter()
                .map(|user| (user.name.clone(), user.site.clone()))
                .collect(),
            backups: BTreeMap::new(),
            mailbox_overrides: BTreeMap::new(),
            lost_ca: Vec::new(),
            work_dir: options.work_dir.clone(),
            v1_disabled: BTreeSet::new(),
            configuration_directories: BTreeMap::new(),
            generations: BTreeMap::new(),
            altered: BTreeMap::new(),
        };
        let mut records = Vec::new();
        for spec in &topology.cas {
            records.push(world.install_ca(spec)?);
        }
        for spec in &topology.km_servers {
            records.push(world.install_km(spec, &km_dir)?);
        }
        Ok((world, records))
    }

    /// Installs a KM server, applying the product's placement rules (KM-01) and noting the
    /// default administrator password (KM-16).
    fn install_km(&mut self, spec: &KmSpec, km_dir: &Path) -> Result<Record, RunError> {
        let mut record = self.setup_record(format!("admin@{}", spec.host), "install-km");
        record.details.push(Detail::text(
            "km-server",
            format!(
                "{} ({} on {}, site {}, CA {})",
                spec.name,
                spec.product.describe(),
                spec.host,
                spec.site,
                spec.ca
            ),
        ));
        let earlier: Vec<&KmSpec> = self
            .scenario
            .topology
            .km_servers
            .iter()
            .take_while(|other| other.name != spec.name)
            .filter(|other| self.kms.contains_key(&other.name))
            .collect();
        let host_os = self.hosts.get(&spec.host).map(|host| host.os);
        let failure = match spec.product {
            Product::Ex55(ServicePack::None) if !earlier.is_empty() => Some((
                "one-km-per-organisation",
                format!(
                    "Exchange 5.5 before SP1 allows one KM server per organisation; {} is already installed",
                    earlier[0].name
                ),
            )),
            Product::Ex55(_) if earlier.iter().any(|other| other.site == spec.site) => Some((
                "one-km-per-site",
                format!("site {} already has a KM server", spec.site),
            )),
            Product::Ex55(sp) if host_os == Some(Os::W2k) && sp < ServicePack::Sp3 => Some((
                "needs-sp3",
                format!(
                    "an Exchange 5.5 KM server on Windows 2000 needs SP3; this is {}",
                    sp.name()
                ),
            )),
            _ => None,
        };
        if let Some((reason, message)) = failure {
            record.outcome = Outcome::Error(None);
            record.reason = Some(reason.to_owned());
            record.details.push(Detail::text("problem", message));
            return Ok(record);
        }
        let setup = KmSetup {
            name: spec.name.clone(),
            product: spec.product,
            site: spec.site.clone(),
            organization: self.scenario.topology.organisation.clone(),
            startup_password: spec.startup_password.clone(),
            ca: spec.ca.clone(),
            max_dn_length: spec.max_dn_length,
        };
        let path = database_path(km_dir, spec.name.as_str());
        let rng = SeededRng::new(self.seed, &format!("km:{}", spec.name));
        let server = KmServer::install(setup, &path, rng).map_err(|source| RunError::Km {
            km: spec.name.to_string(),
            source: Box::new(source),
        })?;
        record
            .details
            .push(Detail::text("database", format!("km/{}.sqlite", spec.name)));
        if spec.product == Product::Ex2000 && earlier.iter().any(|other| other.site == spec.site) {
            record.warn("second-km-in-group");
            record.details.push(Detail::text(
                "placement",
                format!(
                    "administrative group {} already has a KM server; one per group is recommended",
                    spec.site
                ),
            ));
        }
        if server.has_default_admin_password() {
            if record.outcome == Outcome::Ok {
                record.warn("default-admin-password");
            }
            record.details.push(Detail::text(
                "admin-password",
                "still the default \"password\"; change it",
            ));
        }
        self.kms.insert(spec.name.clone(), server);
        Ok(record)
    }

    /// The next generation of a user's `kind` of key (`sign`, `enc`), counted over the whole
    /// run so that a client which lost its keys never reuses a number. Nothing is counted
    /// until [`Self::use_generation`] says the key was really issued.
    pub(crate) fn next_generation(
        &self,
        user: &UserName,
        kind: &'static str,
    ) -> model::KeyGeneration {
        let held = self.users.get(user).map_or(0, |client| {
            let keys = if kind == "sign" {
                &client.signing_keys
            } else {
                &client.encryption_keys
            };
            keys.iter()
                .map(|key| key.generation.get())
                .max()
                .unwrap_or(0)
        });
        let counted = self
            .generations
            .get(&(user.clone(), kind))
            .copied()
            .unwrap_or(0);
        model::KeyGeneration::new(counted.max(held) + 1)
    }

    /// Records that generation `generation` of a user's `kind` of key was issued.
    pub(crate) fn use_generation(
        &mut self,
        user: &UserName,
        kind: &'static str,
        generation: model::KeyGeneration,
    ) {
        let counter = self.generations.entry((user.clone(), kind)).or_insert(0);
        *counter = (*counter).max(generation.get());
    }

    /// The size in bits of `user`'s RSA keys, as the scenario sets it.
    pub(crate) fn key_bits(&self, user: &UserName) -> usize {
        let bits = self
            .scenario
            .topology
            .user(user)
            .map_or(clients::DEFAULT_KEY_BITS, |spec| spec.key_size);
        bits as usize
    }

    /// The KM server serving `user`'s current site, if one is installed there.
    pub(crate) fn km_for(&self, user: &UserName) -> Option<KmName> {
        let site = self.user_sites.get(user)?;
        self.kms
            .iter()
            .find(|(_, server)| &server.setup().site == site)
            .map(|(name, _)| name.clone())
    }

    /// The CA certificates the organisation's signed trust list vouches for, as `client` sees
    /// them: only a list whose signature checks against one of the client's trusted roots
    /// counts (KM-15).
    pub(crate) fn trust_list_for(&self, client: &VirtualUser) -> Vec<CertificateDer> {
        let Some(signed) = &self.signed_trust_list else {
            return Vec::new();
        };
        let Some(info) = client
            .trusted_roots
            .iter()
            .find_map(|root| TrustListInfo::verify(signed, root).ok())
        else {
            return Vec::new();
        };
        self.trust_list
            .certificates
            .iter()
            .filter(|certificate| info.trusts(certificate))
            .cloned()
            .collect()
    }

    /// A user's inbox as their client sees it: what the sink delivered, with any message the
    /// security tool rewrote in its rewritten form.
    pub(crate) fn inbox(&self, user: &UserName) -> Result<Inbox, String> {
        let Some(client) = self.users.get(user) else {
            return Ok(Vec::new());
        };
        self.sink
            .store()
            .mailbox(client.email.as_str())
            .iter()
            .map(|stored| Ok((stored.id, self.as_seen_by(user, stored)?)))
            .collect()
    }

    /// A user's inbox as [`World::inbox`] gives it, newest first, each message's bytes read
    /// only when the iteration reaches it: finding a recent message reads no older one.
    pub(crate) fn inbox_newest_first<'w>(
        &'w self,
        user: &'w UserName,
    ) -> impl Iterator<Item = Result<Delivered, String>> + 'w {
        let stored = self.users.get(user).map_or_else(Vec::new, |client| {
            self.sink.store().mailbox(client.email.as_str())
        });
        stored
            .into_iter()
            .rev()
            .map(move |stored| Ok((stored.id, self.as_seen_by(user, &stored)?)))
    }

    /// A delivered message as `user`'s client sees it: as stored, or as the security tool
    /// rewrote it.
    fn as_seen_by(
        &self,
        user: &UserName,
        stored: &sink::StoredMessage,
    ) -> Result<Arc<[u8]>, String> {
        match self.mailbox_overrides.get(&(user.clone(), stored.id)) {
            Some(rewritten) => Ok(Arc::from(rewritten.as_slice())),
            None => stored.data().map_err(|e| spool_error(&e)),
        }
    }

    /// Installs one CA and records how it went (CA-05, CA-08, CA-10).
    fn install_ca(&mut self, spec: &CaSpec) -> Result<Record, RunError> {
        let ca_error = |source: pki::PkiError| RunError::Ca {
            ca: spec.name.to_string(),
            source: Box::new(source),
        };
        let actor = spec.host.as_ref().map_or_else(
            || format!("{} (third party)", spec.name),
            |host| format!("admin@{host}"),
        );
        let mut record = self.setup_record(actor, "install-ca");
        let host = spec
            .host
            .as_ref()
            .map_or("outside the organisation".to_owned(), |host| {
                format!("on {host}")
            });
        let role = match &spec.role {
            CaRole::Root => "root".to_owned(),
            CaRole::Subordinate { parent } => format!("subordinate of {parent}"),
        };
        record.details.push(Detail::text(
            "ca",
            format!(
                "{} ({} {role} {host}, {} policy module)",
                spec.name,
                spec.kind.name(),
                spec.policy.name()
            ),
        ));
        let setup = CaSetup {
            name: spec.name.clone(),
            kind: spec.kind,
            organization: match &spec.organisation {
                Some(organisation) => organisation.clone(),
                None if spec.kind == CaKind::ThirdParty => format!("{} Trust Services", spec.name),
                None => self.scenario.topology.organisation.clone(),
            },
            policy: spec.policy,
            validity: spec.validity,
            lifetime: spec.lifetime,
            hash: spec.hash,
            crl_url: format!(
                "http://{}/CertEnroll/{}.crl",
                spec.host.as_ref().map_or_else(
                    || format!("crl.{}.example", spec.name.as_str().to_lowercase()),
                    |h| h.as_str().to_lowercase()
                ),
                spec.name
            ),
            publishes_cdp: spec.publishes_cdp,
            crl_period: spec.crl_period,
            subordinate_validity: spec.subordinate_validity,
            faults: spec.faults.clone(),
        };
        let (key, _) = self
            .keys
            .key(&format!("ca:{}", spec.name), 2048)
            .map_err(|e| ca_error(e.into()))?;
        let serials = SeededRng::new(self.seed, &format!("ca:{}:serials", spec.name));
        let now = self.clock.now();
        let ca = match &spec.role {
            CaRole::Root => {
                CertificationAuthority::install_root(setup, key, serials, now).map_err(ca_error)?
            }
            CaRole::Subordinate { parent } => {
                let mut ca = CertificationAuthority::install_pending(setup, key, serials)
                    .map_err(ca_error)?;
                match (spec.install, self.cas.get_mut(parent)) {
                    (CaInstall::RequestFile, _) => {
                        record.outcome = Outcome::Info;
                        record.reason = Some("pending".into());
                        record.details.push(Detail::text("state", format!("pending: the request file waits for {parent} to sign it (install-ca-certificate installs the result)")));
                    }
                    (CaInstall::Online, Some(parent_ca)) if !parent_ca.is_pending() => {
                        let (der, cut) = parent_ca
                            .sign_subordinate(&ca.subordinate_request(), now)
                            .map_err(|e| RunError::Unsupported(format!("CA {}: {e}", spec.name)))?;
                        ca.install_certificate(der).map_err(ca_error)?;
                        if cut {
                            record.warn("root-expires-first");
                            record.details.push(Detail::text("lifetime", format!("cut to {parent}'s expiry: a CA never issues beyond its own certificate")));
                        }
                    }
                    (CaInstall::Online, _) => {
                        record.warn("parent-pending");
                        record.details.push(Detail::text(
                            "state",
                            format!("pending: parent {parent} has no certificate yet"),
                        ));
                    }
                }
                ca
            }
        };
        if let Some(certificate) = ca.certificate() {
            self.book.add(certificate, spec.name.to_string());
            record
                .details
                .push(Detail::text("certificate", certificate_line(certificate)));
        }
        if spec.policy.is_outdated() {
            record.warn("outdated-policy-module");
            record.details.push(Detail::text(
                "policy-module",
                "the Exchange 5.5 SP1 build of Expolicy.dll is outdated; register Expolicyw2k.dll",
            ));
        }
        self.cas.insert(spec.name.clone(), ca);
        self.trust_own_chain(spec);
        if let Some(warning) = self.root_lifetime_warning(spec) {
            if record.outcome == Outcome::Ok {
                record.warn("root-lifetime");
            }
            record.details.push(Detail::text("root-lifetime", warning));
        }
        Ok(record)
    }

    /// A CA's host trusts the root of the CA's chain once the CA is installed; an enterprise
    /// root is published to the directory, so every Windows 2000 host trusts it.
    pub(crate) fn trust_own_chain(&mut self, spec: &CaSpec) {
        let Some(root) = self.root_certificate(&spec.name) else {
            return;
        };
        if spec.kind == CaKind::Enterprise && spec.role == CaRole::Root {
            let w2k_hosts: Vec<HostName> = self
                .scenario
                .topology
                .hosts
                .iter()
                .filter(|host| host.os == Os::W2k)
                .map(|host| host.name.clone())
                .collect();
            for host in w2k_hosts {
                self.trust_root_on_host(&host, root.clone());
            }
        } else if let Some(host) = &spec.host {
            if spec.install == CaInstall::Online || spec.role == CaRole::Root {
                self.trust_root_on_host(host, root);
            }
        }
    }

    pub(crate) fn trust_root_on_host(&mut self, host: &HostName, root: CertificateDer) {
        let store = self.host_roots.entry(host.clone()).or_default();
        if !store.contains(&root) {
            store.push(root);
        }
    }

    /// CA-08: a root with subordinates should last at least 3 years.
    fn root_lifetime_warning(&self, spec: &CaSpec) -> Option<String> {
        let CaRole::Subordinate { .. } = spec.role else {
            return None;
        };
        let chain = self.chain_names(&spec.name);
        let root_name = chain.last()?;
        let root = self.cas.get(root_name)?.info()?;
        (root.not_before.plus(Duration::years(3)) > root.not_after).then(|| {
            format!("root {root_name} signs subordinates but is valid only until {}; a root with subordinates should last at least 3 years", root.not_after)
        })
    }

    /// The CA names from `ca` up to its root.
    pub(crate) fn chain_names(&self, ca: &CaName) -> Vec<CaName> {
        let mut chain = vec![ca.clone()];
        let mut current = ca.clone();
        while let Some(scenario::CaRole::Subordinate { parent }) =
            self.scenario.topology.ca(&current).map(|spec| &spec.role)
        {
            if chain.contains(parent) {
                break;
            }
            chain.push(parent.clone());
            current = parent.clone();
        }
        chain
    }

    /// The CA certificates above `certificate`, nearest first, up to and including the root:
    /// what a client puts in a signed message so that readers can build the chain.
    pub(crate) fn issuer_chain(&self, certificate: &CertificateDer) -> Vec<CertificateDer> {
        let mut chain: Vec<CertificateDer> = Vec::new();
        let mut current = pki::CertificateInfo::parse(certificate).ok();
        while let Some(info) = current.take() {
            let issuer = &info.certificate.tbs_certificate.issuer;
            if info.certificate.tbs_certificate.subject == *issuer && !chain.is_empty() {
                break;
            }
            let next = self
                .cas
                .values()
                .filter_map(|ca| Some((ca.certificate()?, ca.info()?)))
                .find(|(der, ca_info)| {
                    &ca_info.certificate.tbs_certificate.subject == issuer
                        && !chain.contains(der)
                        && *der != certificate
                });
            if let Some((der, ca_info)) = next {
                chain.push(der.clone());
                current = Some(ca_info.clone());
            }
        }
        chain
    }

    /// The certificate of the root above `ca`, once it has one.
    pub(crate) fn root_certificate(&self, ca: &CaName) -> Option<CertificateDer> {
        let root = self.chain_names(ca).pop()?;
        self.cas.get(&root)?.certificate().cloned()
    }

    fn setup_record(&self, actor: String, action: &str) -> Record {
        Record::new(self.clock.now(), actor, action)
    }

    /// The seed the run used.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The virtual time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The engine `user`'s client does its cryptography with: the implementation seated as
    /// that user, else the run's engine.
    pub(crate) fn engine_for(&self, user: &UserName) -> Arc<dyn Engine> {
        match self.seated.get(user) {
            Some(engine) => Arc::clone(engine) as Arc<dyn Engine>,
            None => Arc::clone(&self.engine),
        }
    }

    /// Every CA certificate the world holds: the authorities engines are told of, for a seated
    /// implementation that will not use a certificate whose chain it cannot build.
    pub(crate) fn authorities(&self) -> Vec<CertificateDer> {
        self.cas
            .values()
            .filter_map(|ca| ca.certificate().cloned())
            .collect()
    }

    /// The name of the implementation seated as `user`, if one is.
    pub(crate) fn seated_name(&self, user: &UserName) -> Option<&str> {
        self.seated.get(user).map(|engine| engine.name())
    }

    /// Every message the run's SMTP sink stored, in delivery order.
    pub fn delivered_messages(&self) -> Vec<sink::StoredMessage> {
        self.sink.store().all()
    }

    /// The KM database files, by KM server name.
    pub fn km_databases(&self) -> Vec<(KmName, PathBuf)> {
        self.kms
            .iter()
            .map(|(name, server)| (name.clone(), server.database().path().to_path_buf()))
            .collect()
    }
}

/// A failure to read a message back from the sink's spool file.
pub(crate) fn spool_error(error: &std::io::Error) -> String {
    format!("reading a message from the sink's spool: {error}")
}

/// The database file of a KM server.
pub(crate) fn database_path(dir: &Path, km: &str) -> PathBuf {
    dir.join(format!("{km}.sqlite"))
}
