//! Running scenarios.
//!
//! [`run`] builds a fresh [`World`] for a scenario — virtual clock, seeded generators, key
//! pool, CAs, KM servers with their database files, the directory, an embedded SMTP sink and
//! the users' clients — then executes the steps in order. Each step yields one
//! [`report::Record`]; a step's `expect` is checked against its record. The finished world
//! can write the artifacts folder.

mod artifacts;
mod book;
mod error;
mod expect;
mod files;
mod inspect;
mod matrix;
mod reading;
mod steps;
mod world;

use std::path::PathBuf;
use std::sync::Arc;

use report::{Record, Transcript};
use scenario::{Scenario, Step};
use smime::Engine;

pub use artifacts::{
    CERTIFICATES_FILE, CERTIFICATES_SCHEMA, CLIENT_FILE, CLIENT_SCHEMA, CertificatesFile,
    ClientFile, KeyFiles, LabelledCertificate, PKCS12_PASSWORD, RewrittenFile,
};
pub use book::CertificateBook;
pub use error::{StepError, Thing};
pub use files::{
    FileError, read_certificate, read_certificates, read_crls, read_pkcs12_file, read_private_key,
};
pub use inspect::{InspectError, Inspection, Inspector};
pub use matrix::{Cell, CellFailure, MatrixRun, run_matrix};
pub use reading::describe_reading;
pub use world::World;

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// A folder the run may create files in (KM databases); it must exist and be empty.
    pub work_dir: PathBuf,
    /// Where generated keys are cached, if anywhere.
    pub key_cache: Option<PathBuf>,
    /// A seed that replaces the scenario's.
    pub seed: Option<u64>,
    /// The engine that builds and reads messages.
    pub engine: Arc<dyn Engine>,
    /// Another engine every reader also judges each message with; a difference in verdicts
    /// is recorded on the read step and listed in the transcript's disagreements.
    pub cross_check: Option<Arc<dyn Engine>>,
    /// Real implementations in users' seats: every message such a user sends or reads goes
    /// through its adapter. A seat given here for one user wins over the scenario's own seat
    /// for that user (a user's `seat` key), which wins over a seat given here for every user.
    pub seats: Vec<Seat>,
    /// How long one call of the adapter of a seat the scenario itself gives may take.
    pub adapter_timeout: std::time::Duration,
    /// A start for the virtual clock that replaces the scenario's (`kmlab serve --start now`).
    pub start: Option<model::Timestamp>,
    /// How a scenario's live users are played, and where their servers listen.
    pub live: LiveOptions,
}

/// Who plays a scenario's live users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveClients {
    /// kmlab itself, over the same protocols a real client uses (`kmlab run`): a live step
    /// fetches or submits at once and is judged as a real client's would be.
    StandIn,
    /// Real mail clients (`kmlab serve`): a live step waits for what the client does.
    Real,
}

/// Where the servers of a live scenario listen, and who plays its live users.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Who plays the live users.
    pub clients: LiveClients,
    /// The address every server binds to (loopback unless said otherwise).
    pub bind: std::net::IpAddr,
    /// The ports; 0 for any free one.
    pub ports: LivePorts,
    /// Where each live user's key files are written (default: `live/` in the work folder).
    pub keys_dir: Option<PathBuf>,
    /// Set (by a signal handler) when the run is to end: a live step stops waiting and
    /// fails as interrupted, and the remaining live steps do not wait.
    pub interrupted: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            clients: LiveClients::StandIn,
            bind: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            ports: LivePorts::default(),
            keys_dir: None,
            interrupted: None,
        }
    }
}

/// The ports of a live scenario's servers; 0 for any free one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LivePorts {
    /// SMTP (delivery and submission).
    pub smtp: u16,
    /// IMAP4rev1.
    pub imap: u16,
    /// POP3.
    pub pop3: u16,
    /// LDAPv3.
    pub ldap: u16,
}

/// What whoever plays the live users needs: the servers' addresses and each user's login and
/// key file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveReady {
    /// SMTP, for delivery and for submission with AUTH.
    pub smtp: std::net::SocketAddr,
    /// IMAP4rev1.
    pub imap: std::net::SocketAddr,
    /// POP3.
    pub pop3: std::net::SocketAddr,
    /// LDAPv3.
    pub ldap: std::net::SocketAddr,
    /// The directory's naming context.
    pub ldap_base: String,
    /// The organisation's CA certificates, PEM.
    pub ca_certificates: PathBuf,
    /// Each live user.
    pub users: Vec<LiveUser>,
}

/// One live user's login and key file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LiveUser {
    /// The scenario's name for the user.
    pub name: String,
    /// The mail address.
    pub email: String,
    /// The login for SMTP, IMAP, POP3 and LDAP.
    pub login: String,
    /// Its password.
    pub password: String,
    /// The PKCS #12 file with every key the user holds (password: the artifacts' one),
    /// written when the user enrolls and again after each recovery or renewal.
    pub pkcs12: PathBuf,
}

impl RunOptions {
    /// Options for a run in `work_dir` with `engine`: no key cache, the scenario's own seed,
    /// no cross-check, no seats, adapters given their default time.
    pub fn new(work_dir: PathBuf, engine: Arc<dyn Engine>) -> Self {
        Self {
            work_dir,
            key_cache: None,
            seed: None,
            engine,
            cross_check: None,
            seats: Vec::new(),
            adapter_timeout: smime_external::DEFAULT_TIMEOUT,
            start: None,
            live: LiveOptions::default(),
        }
    }
}

/// An external S/MIME implementation seated as one user, or as every user.
#[derive(Debug, Clone)]
pub struct Seat {
    /// Whose seat; `None` for every user.
    pub user: Option<model::UserName>,
    /// The implementation.
    pub adapter: smime_external::Adapter,
}

/// A harness failure: something kmlab itself could not do (not a step outcome).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The SMTP sink did not start.
    #[error("starting the SMTP sink: {0}")]
    Sink(#[from] sink::SinkError),
    /// A CA could not be installed.
    #[error("installing CA {ca}: {source}")]
    Ca {
        /// The CA.
        ca: String,
        /// What failed.
        source: Box<pki::PkiError>,
    },
    /// A KM server could not be installed.
    #[error("installing KM server {km}: {source}")]
    Km {
        /// The KM server.
        km: String,
        /// What failed.
        source: Box<km::KmError>,
    },
    /// A step hit a harness failure.
    #[error("step {step}: {source}")]
    Step {
        /// The step number.
        step: usize,
        /// What failed.
        source: StepError,
    },
    /// The servers for live users did not start.
    #[error("starting the servers for live users: {0}")]
    Live(String),
    /// The scenario asks for something this kmlab does not model.
    #[error("{0}")]
    Unsupported(String),
    /// Writing files failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A finished run: its transcript and the world it left behind.
#[derive(Debug)]
pub struct Run {
    /// The records.
    pub transcript: Transcript,
    /// The final state, for artifacts.
    pub world: World,
}

/// A scenario's run: one World, or, for a scenario with a `[matrix]`, one per combination of
/// its settings.
#[derive(Debug)]
pub enum ScenarioRun {
    /// A plain scenario.
    Single(Box<Run>),
    /// A matrix scenario.
    Matrix(MatrixRun),
}

impl ScenarioRun {
    /// What the scenario's snapshot holds: the transcript, or the matrix table.
    pub fn snapshot(&self) -> String {
        match self {
            Self::Single(run) => report::render_snapshot(&run.transcript),
            Self::Matrix(matrix) => report::render_markdown(&matrix.table),
        }
    }

    /// Every unmet expectation (and, for a matrix, every combination that did not run).
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Single(run) => run.transcript.unmet_expectations(),
            Self::Matrix(matrix) => matrix.problems(),
        }
    }
}

/// Runs `scenario`, under every combination of its `[matrix]` if it has one (`jobs`
/// combinations at a time).
pub fn run_scenario(
    scenario: &Arc<Scenario>,
    options: &RunOptions,
    jobs: usize,
) -> Result<ScenarioRun, RunError> {
    if scenario.matrix.is_empty() {
        run(Arc::clone(scenario), options).map(|run| ScenarioRun::Single(Box::new(run)))
    } else {
        Ok(ScenarioRun::Matrix(run_matrix(
            scenario,
            &scenario.matrix,
            options,
            jobs,
        )))
    }
}

/// Watches a run step by step, for instance to time each step (`kmlab bench` does). It sees
/// the run; it cannot change it.
pub trait Observer {
    /// Called once the servers of a live scenario listen, before the first step.
    fn live_ready(&mut self, ready: &LiveReady) {
        let _ = ready;
    }

    /// Called just before `step` runs.
    fn before(&mut self, step: &Step) {
        let _ = step;
    }

    /// Called once `step` has run and produced `record`.
    fn after(&mut self, step: &Step, record: &Record) {
        let _ = (step, record);
    }
}

/// The observer that watches nothing.
impl Observer for () {}

/// Runs `scenario` to the end.
pub fn run(scenario: Arc<Scenario>, options: &RunOptions) -> Result<Run, RunError> {
    run_observed(scenario, options, &mut ())
}

/// Runs `scenario` to the end, telling `observer` about every step.
pub fn run_observed(
    scenario: Arc<Scenario>,
    options: &RunOptions,
    observer: &mut dyn Observer,
) -> Result<Run, RunError> {
    let (mut world, mut records) = World::build(Arc::clone(&scenario), options)?;
    if let Some(ready) = world.live_ready() {
        observer.live_ready(&ready);
    }
    // A long scenario's transcript is most of what its run holds; it is kept without slack.
    records.reserve_exact(scenario.steps.len());
    for step in &scenario.steps {
        observer.before(step);
        let mut record = steps::execute(&mut world, step)?;
        if let Some(expectation) = &step.expect {
            record.expectation = Some(expect::check(expectation, &record));
        }
        record.details.shrink_to_fit();
        observer.after(step, &record);
        records.push(record);
    }
    let disagreements = records
        .iter()
        .filter_map(|record| {
            let report::DetailValue::List(verdicts) = &record.detail("cross-check")?.value else {
                return None;
            };
            Some(format!(
                "step {} (line {}) {}: the engines disagree: {}",
                record.step,
                record.line,
                record.action,
                verdicts.join(" | ")
            ))
        })
        .collect();
    let transcript = Transcript {
        scenario: scenario.id.clone(),
        title: scenario.title.clone(),
        seed: world.seed(),
        engine: options.engine.name().to_owned(),
        covers: scenario
            .covers
            .iter()
            .map(|rule| rule.id.to_owned())
            .collect(),
        records,
        disagreements,
    };
    Ok(Run { transcript, world })
}
