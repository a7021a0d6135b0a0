//! `kmlab serve`: one scenario with some users played by real mail clients. The World's
//! servers (SMTP with AUTH, IMAP, POP3, LDAP) listen on loopback; each live user's login and
//! key file are printed and, with `--ready-file`, written as JSON once everything listens; the
//! steps run, a live step waiting for the real client; the run ends when the steps end or on
//! SIGTERM / Ctrl-C (a waiting step then fails as interrupted), and is reported like
//! `kmlab run`.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use report::{Record, ScenarioResult, ScenarioStatus, SnapshotState};
use runner::{LiveClients, LiveOptions, LivePorts, LiveReady, RunOptions};
use scenario::Step;

use crate::run_cmd::{EngineChoice, default_key_cache};
use crate::{Exit, Format};

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The scenario.
    scenario: PathBuf,
    /// Users real mail clients play (besides the scenario's own `live = true` users).
    #[arg(long, value_delimiter = ',', value_name = "USER[,USER…]")]
    live: Vec<String>,
    /// The address the servers bind to.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The SMTP port (delivery and submission with AUTH); 0 for any free port.
    #[arg(long, default_value_t = 0)]
    smtp_port: u16,
    /// The IMAP port; 0 for any free port.
    #[arg(long, default_value_t = 0)]
    imap_port: u16,
    /// The POP3 port; 0 for any free port.
    #[arg(long, default_value_t = 0)]
    pop3_port: u16,
    /// The LDAP port; 0 for any free port.
    #[arg(long, default_value_t = 0)]
    ldap_port: u16,
    /// Where the live users' key files (DIR/USER/USER.p12) and the CA certificates
    /// (DIR/ca-certificates.pem) are written.
    #[arg(long, value_name = "DIR", default_value = "kmlab-live")]
    keys: PathBuf,
    /// Also write the endpoints and logins as JSON to FILE once every server listens.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// When the virtual clock starts: `now` (the real current time, so that real clients
    /// accept the certificates) or `scenario` (the scenario's start). Default: `now` when
    /// the scenario says `start = "now"`, else the scenario's.
    #[arg(long, value_enum)]
    start: Option<Start>,
    /// Write certificates, messages, KM databases and the transcript under DIR/<scenario>/.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Also write the static HTML report (DIR/index.html) and the run as JSON (DIR/run.json).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Run with this seed instead of the scenario's.
    #[arg(long)]
    seed: Option<u64>,
    /// Where generated keys are cached (default: $KMLAB_KEY_CACHE, else ~/.cache/kmlab/keys).
    #[arg(long, value_name = "DIR")]
    key_cache: Option<PathBuf>,
}

/// Where the virtual clock of a served scenario starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Start {
    /// The real current time.
    Now,
    /// The scenario's own start.
    Scenario,
}

pub(crate) fn serve(args: &ServeArgs) -> anyhow::Result<Exit> {
    let id = args.scenario.file_stem().map_or_else(
        || "scenario".to_owned(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    let source = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("reading {}", args.scenario.display()))?;
    let written = match scenario::parse(&id, &args.scenario, &source) {
        Ok(scenario) => scenario,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(Exit::BadInput);
        }
    };
    for user in &args.live {
        if written
            .topology
            .user(&model::UserName::new(user.as_str()))
            .is_none()
        {
            eprintln!(
                "kmlab serve: --live {user}: {} has no user {user}",
                args.scenario.display()
            );
            return Ok(Exit::BadInput);
        }
    }
    // `--live USER` is the setting `user.USER.live = true`: the file is checked again with it,
    // so a scripted step of a user a real client now plays is reported where it is written.
    let arguments: Vec<String> = args
        .live
        .iter()
        .map(|user| format!("user.{user}.live=true"))
        .collect();
    let settings: Vec<scenario::settings::Setting> =
        scenario::settings::parse_arguments(&arguments)
            .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?
            .into_iter()
            .flat_map(|axis| axis.values)
            .collect();
    let scenario = match scenario::parse_with(&id, &args.scenario, &source, &settings) {
        Ok(scenario) => Arc::new(scenario),
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return Ok(Exit::BadInput);
        }
    };
    if !scenario.topology.users.iter().any(|user| user.live) {
        eprintln!(
            "kmlab serve: {} has no live user; name one with --live USER or `live = true`",
            args.scenario.display()
        );
        return Ok(Exit::BadInput);
    }
    let now = match args.start {
        Some(Start::Now) => true,
        Some(Start::Scenario) => false,
        None => scenario.starts_now,
    };
    let work = crate::work::WorkFolder::create("kmlab-serve-").context("creating a work folder")?;
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, Arc::clone(&interrupted))
            .context("listening for SIGTERM and SIGINT")?;
    }
    let keys = std::path::absolute(&args.keys)
        .with_context(|| format!("finding {}", args.keys.display()))?;
    let options = RunOptions {
        key_cache: args.key_cache.clone().or_else(default_key_cache),
        seed: args.seed,
        start: now.then(wall_clock_now),
        live: LiveOptions {
            clients: LiveClients::Real,
            bind: args.bind,
            ports: LivePorts {
                smtp: args.smtp_port,
                imap: args.imap_port,
                pop3: args.pop3_port,
                ldap: args.ldap_port,
            },
            keys_dir: Some(keys),
            interrupted: Some(interrupted),
        },
        ..RunOptions::new(
            work.path().to_path_buf(),
            EngineChoice::Rustcrypto.engine()?,
        )
    };
    let mut printer = Printer {
        ready_file: args.ready_file.clone(),
        failed: None,
    };
    let run = runner::run_observed(Arc::clone(&scenario), &options, &mut printer);
    if let Some(error) = printer.failed {
        return Err(error);
    }
    let run = run.with_context(|| format!("serving {}", args.scenario.display()))?;
    if let Some(dir) = &args.artifacts {
        let written = run
            .write_artifacts(dir, true)
            .with_context(|| format!("writing artifacts to {}", dir.display()))?;
        println!("artifacts: {}", written.display());
    }
    let problems = run.transcript.unmet_expectations();
    let result = ScenarioResult {
        scenario: scenario.id.clone(),
        path: args.scenario.display().to_string(),
        status: if problems.is_empty() {
            ScenarioStatus::Passed {
                snapshot: SnapshotState::NotApplicable,
            }
        } else {
            ScenarioStatus::Failed {
                reasons: problems.clone(),
            }
        },
        transcript: Some(run.transcript),
        matrix: None,
        seats: None,
    };
    let results = [result];
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(dir.join("index.html"), report::render_html(&results)))
            .and_then(|()| std::fs::write(dir.join("run.json"), report::run_json(&results)))
            .with_context(|| format!("writing the report to {}", dir.display()))?;
        println!("report: {}", dir.join("index.html").display());
    }
    match args.format {
        Format::Json => print!("{}", report::run_json(&results)),
        Format::Junit => print!("{}", report::junit(&results)),
        Format::Human => {
            for problem in &problems {
                println!("FAIL {problem}");
            }
            println!(
                "{}: {}",
                scenario.id,
                if problems.is_empty() {
                    "passed"
                } else {
                    "failed"
                }
            );
        }
    }
    Ok(if problems.is_empty() {
        Exit::Passed
    } else {
        Exit::Failed
    })
}

/// Prints what the person (or script) driving the real clients needs, step by step.
struct Printer {
    ready_file: Option<PathBuf>,
    failed: Option<anyhow::Error>,
}

impl runner::Observer for Printer {
    fn live_ready(&mut self, ready: &LiveReady) {
        println!(
            "smtp {} (submission: AUTH PLAIN/LOGIN, STARTTLS)",
            ready.smtp
        );
        println!("imap {} (STARTTLS)", ready.imap);
        println!("pop3 {} (STLS)", ready.pop3);
        println!("ldap {} (base {})", ready.ldap, ready.ldap_base);
        println!("ca certificates {}", ready.ca_certificates.display());
        for user in &ready.users {
            println!(
                "live user {} <{}>: login {} password {}; keys {} (password {})",
                user.name,
                user.email,
                user.login,
                user.password,
                user.pkcs12.display(),
                runner::PKCS12_PASSWORD
            );
        }
        if let Some(path) = &self.ready_file {
            if let Err(error) = write_ready_file(path, ready) {
                self.failed = Some(error);
            }
        }
        println!("ready");
        // A script waits for the line above; it must not sit in a buffer.
        let _ignored = std::io::stdout().flush();
    }

    fn before(&mut self, step: &Step) {
        if let scenario::Action::LiveFetch { user, subject, .. } = &step.action {
            println!("waiting: {user} to fetch \"{subject}\"");
        }
        if let scenario::Action::LiveSend { send, .. } = &step.action {
            println!(
                "waiting: {} to send \"{}\" to {}",
                send.from,
                send.subject,
                send.to
                    .iter()
                    .map(|user| user.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let _ignored = std::io::stdout().flush();
    }

    fn after(&mut self, _step: &Step, record: &Record) {
        print!("{}", report::render_record(record, &record.label()));
        let _ignored = std::io::stdout().flush();
    }
}

/// The endpoints and logins as JSON, written whole (a temporary name, then renamed).
fn write_ready_file(path: &Path, ready: &LiveReady) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(ready).context("the ready file")?;
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .with_context(|| format!("writing {}", path.display()))
}

/// The real current time, for a clock that starts now.
#[expect(
    clippy::disallowed_methods,
    reason = "`kmlab serve --start now` starts the virtual clock at the real time, on purpose"
)]
fn wall_clock_now() -> model::Timestamp {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    model::Timestamp::from_unix(i64::try_from(seconds).unwrap_or(i64::MAX))
}
