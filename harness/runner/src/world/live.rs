//! The World's live side, present when a scenario has live users: the IMAP, POP3 and LDAP
//! servers real mail clients (or, under `kmlab run`, kmlab's stand-in) talk to, the login
//! of each live user, the directory as the servers show it, and the key files each live user
//! imports (LIVE-01 … LIVE-05).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use model::{CertificateDer, SeededRng, UserName};
use rand_core::RngCore;
use scenario::Scenario;

use crate::error::StepError;
use crate::{LiveClients, LiveOptions, LiveReady, LiveUser, RunError};

/// A live user's login to the mail servers and the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Account {
    pub(crate) login: String,
    pub(crate) password: String,
}

/// The servers and what they serve.
#[derive(Debug)]
pub(crate) struct Live {
    servers: live::LiveServers,
    directory: live::Directory,
    /// The directory's naming context, `o=<organisation>`.
    base: String,
    /// What the clients did: logins, fetches, appends.
    pub(crate) events: Arc<live::EventLog>,
    pub(crate) accounts: BTreeMap<UserName, Account>,
    /// Who plays the live users.
    pub(crate) clients: LiveClients,
    /// Where each live user's key files go.
    keys_dir: PathBuf,
    /// The key labels each live user's last handed-over file held.
    handed: BTreeMap<UserName, Vec<String>>,
    /// Set when the run is to end (SIGTERM, Ctrl-C under `kmlab serve`).
    interrupted: Option<Arc<AtomicBool>>,
    /// How many of the servers' events a live step has already accounted for: each fetch a
    /// client makes counts for one step only.
    accounted: AtomicUsize,
}

/// How waiting for a real client ended.
#[derive(Debug)]
pub(crate) enum Waited<T> {
    /// It did what was waited for.
    Done(T),
    /// The step's time ran out.
    TimedOut,
    /// The run was told to end.
    Interrupted,
}

impl Live {
    /// Logins for the scenario's live users, their passwords drawn from the seed.
    pub(super) fn accounts(scenario: &Scenario, seed: u64) -> BTreeMap<UserName, Account> {
        scenario
            .topology
            .users
            .iter()
            .filter(|user| user.live)
            .map(|user| {
                let mut rng = SeededRng::new(seed, &format!("live:{}:password", user.name));
                let mut bytes = [0u8; 6];
                rng.fill_bytes(&mut bytes);
                let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let account = Account {
                    login: user.name.to_string(),
                    password,
                };
                (user.name.clone(), account)
            })
            .collect()
    }

    /// Starts the servers over `store` (the embedded sink's) for `accounts`.
    pub(super) fn start(
        scenario: &Scenario,
        options: &LiveOptions,
        work_dir: &Path,
        store: &sink::Store,
        accounts: BTreeMap<UserName, Account>,
        tls: Option<sink::TlsConfig>,
    ) -> Result<Self, RunError> {
        let events = Arc::new(live::EventLog::new());
        let logins = live::Accounts::new();
        for user in &scenario.topology.users {
            if let Some(account) = accounts.get(&user.name) {
                logins.add(&account.login, &account.password, user.email.as_str());
            }
        }
        let mailboxes = live::Mailboxes {
            store: store.mail().clone(),
            accounts: logins,
            observer: Arc::clone(&events) as Arc<dyn live::Observer>,
        };
        let base = format!("o={}", scenario.topology.organisation);
        let directory = live::Directory::new(live::DirectorySnapshot::empty(base.clone()));
        let config = live::LiveConfig {
            bind: options.bind,
            imap_port: options.ports.imap,
            pop3_port: options.ports.pop3,
            ldap_port: options.ports.ldap,
            tls,
            limits: live::Limits::default(),
        };
        let servers = live::LiveServers::start(config, mailboxes, directory.clone())
            .map_err(|error| RunError::Live(error.to_string()))?;
        let keys_dir = options
            .keys_dir
            .clone()
            .unwrap_or_else(|| work_dir.join("live"));
        Ok(Self {
            servers,
            directory,
            base,
            events,
            accounts,
            clients: options.clients,
            keys_dir,
            handed: BTreeMap::new(),
            interrupted: options.interrupted.clone(),
            accounted: AtomicUsize::new(0),
        })
    }

    /// Where the servers listen and how each live user logs in, for whoever plays them.
    pub(crate) fn ready(&self, smtp: SocketAddr, scenario: &Scenario) -> LiveReady {
        LiveReady {
            smtp,
            imap: self.servers.imap_address(),
            pop3: self.servers.pop3_address(),
            ldap: self.servers.ldap_address(),
            ldap_base: self.base.clone(),
            ca_certificates: self.keys_dir.join(CA_FILE),
            users: scenario
                .topology
                .users
                .iter()
                .filter_map(|user| {
                    let account = self.accounts.get(&user.name)?;
                    Some(LiveUser {
                        name: user.name.to_string(),
                        email: user.email.to_string(),
                        login: account.login.clone(),
                        password: account.password.clone(),
                        pkcs12: self.pkcs12_path(&user.name),
                    })
                })
                .collect(),
        }
    }

    /// The login of live user `user`.
    pub(crate) fn account(&self, user: &UserName) -> Result<&Account, StepError> {
        self.accounts
            .get(user)
            .ok_or_else(|| StepError::Inconsistent(format!("{user} is not a live user")))
    }

    /// Waits, in real time, until `found` finds what a client did, looking every quarter
    /// second; gives up after `timeout` or when the run is interrupted.
    #[expect(
        clippy::disallowed_methods,
        reason = "a live step waits for a real client in wall-clock time; no result depends on when"
    )]
    pub(crate) fn wait<T>(
        &self,
        timeout: std::time::Duration,
        mut found: impl FnMut() -> Option<T>,
    ) -> Waited<T> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(done) = found() {
                return Waited::Done(done);
            }
            if self
                .interrupted
                .as_ref()
                .is_some_and(|flag| flag.load(Ordering::Relaxed))
            {
                return Waited::Interrupted;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Waited::TimedOut;
            }
            std::thread::sleep((deadline - now).min(std::time::Duration::from_millis(250)));
        }
    }

    /// The first event not yet accounted for that `wanted` accepts, which is then accounted
    /// for with every event before it.
    pub(crate) fn next_event<T>(
        &self,
        mut wanted: impl FnMut(&live::Event) -> Option<T>,
    ) -> Option<T> {
        let from = self.accounted.load(Ordering::Relaxed);
        let events = self.events.events();
        let (index, found) = events
            .iter()
            .enumerate()
            .skip(from)
            .find_map(|(index, event)| Some((index, wanted(event)?)))?;
        self.accounted.store(index + 1, Ordering::Relaxed);
        Some(found)
    }

    /// The IMAP server's address.
    pub(crate) fn imap_address(&self) -> SocketAddr {
        self.servers.imap_address()
    }

    /// The POP3 server's address.
    pub(crate) fn pop3_address(&self) -> SocketAddr {
        self.servers.pop3_address()
    }

    /// Shows the directory as it stands now (LIVE-04): one entry per user with a mailbox,
    /// under its current site, with every encryption certificate it holds, newest first.
    pub(crate) fn publish_directory(&self, entries: Vec<live::DirectoryEntry>) {
        self.directory.replace(live::DirectorySnapshot {
            base: self.base.clone(),
            entries,
        });
    }

    /// Where `user`'s PKCS #12 file is written.
    pub(crate) fn pkcs12_path(&self, user: &UserName) -> PathBuf {
        self.keys_dir
            .join(user.as_str())
            .join(format!("{user}.p12"))
    }

    /// Writes `user`'s keys (every encryption generation and the signing key) as a PKCS #12
    /// file, and the organisation's CA certificates as PEM, when the keys differ from the
    /// last ones handed over (LIVE-01); returns the keys' labels when it wrote.
    pub(crate) fn hand_over(
        &mut self,
        user: &UserName,
        labels: Vec<String>,
        pkcs12: &[u8],
        authorities: &[CertificateDer],
    ) -> Result<Option<Vec<String>>, StepError> {
        if self.handed.get(user) == Some(&labels) {
            return Ok(None);
        }
        let path = self.pkcs12_path(user);
        let io = StepError::io;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("creating a live user's key folder"))?;
        }
        write_whole(&path, pkcs12).map_err(io("writing a live user's PKCS #12 file"))?;
        let mut pem = String::new();
        for certificate in authorities {
            pem.push_str(&pem_text(certificate)?);
        }
        write_whole(&self.keys_dir.join(CA_FILE), pem.as_bytes())
            .map_err(io("writing the CA certificates for live users"))?;
        self.handed.insert(user.clone(), labels.clone());
        Ok(Some(labels))
    }
}

/// The file of the organisation's CA certificates, beside the live users' folders.
pub(crate) const CA_FILE: &str = "ca-certificates.pem";

/// Writes `bytes` to a temporary name beside `path` and renames it into place, so that a
/// client importing the file never reads half of it.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

fn pem_text(certificate: &CertificateDer) -> Result<String, StepError> {
    use der::pem::LineEnding;
    der::pem::encode_string("CERTIFICATE", LineEnding::LF, certificate.as_ref())
        .map_err(|error| StepError::Der(error.into()))
}
