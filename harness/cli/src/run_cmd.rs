//! `kmlab run`: scenarios in parallel, each in its own World, results in a stable order.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use indicatif::{ProgressBar, ProgressStyle};
use report::{ScenarioResult, ScenarioStatus, SnapshotFile, SnapshotState, render_snapshot};
use runner::RunOptions;
use smime::Engine;

use crate::deviations::KnownDeviations;
use crate::discover::{ScenarioFile, scenario_files};
use crate::{Exit, Format};

/// The S/MIME engines a run can build with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EngineChoice {
    /// The pure-Rust engine: deterministic from the seed (the default).
    Rustcrypto,
    /// OpenSSL: its own random bytes, so its messages are compared by structure.
    Openssl,
}

impl EngineChoice {
    fn engine(self) -> anyhow::Result<Arc<dyn Engine>> {
        Ok(match self {
            Self::Rustcrypto => Arc::new(smime_rustcrypto::RustCryptoEngine),
            Self::Openssl => Arc::new(smime_openssl::OpensslEngine::new()?),
        })
    }

    fn other(self) -> Self {
        match self {
            Self::Rustcrypto => Self::Openssl,
            Self::Openssl => Self::Rustcrypto,
        }
    }
}

/// The file of known engine deviations `--cross-check` reads unless told otherwise.
const KNOWN_DEVIATIONS: &str = "known-deviations.toml";

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Scenario files or folders.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
    /// How to print the results.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Write certificates, messages, KM databases and transcripts under DIR/<scenario>/.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// Also write private keys into the artifacts.
    #[arg(long, requires = "artifacts")]
    export_keys: bool,
    /// Run with this seed instead of each scenario's own.
    #[arg(long)]
    seed: Option<u64>,
    /// Accept the results as the new snapshots.
    #[arg(long)]
    update: bool,
    /// How many scenarios run at once (default: the number of cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Where generated keys are cached (default: $KMLAB_KEY_CACHE, else ~/.cache/kmlab/keys).
    #[arg(long, value_name = "DIR", conflicts_with = "no_key_cache")]
    key_cache: Option<PathBuf>,
    /// Generate every key afresh.
    #[arg(long)]
    no_key_cache: bool,
    /// The engine that builds (and reads) messages.
    #[arg(long, value_enum, default_value_t = EngineChoice::Rustcrypto)]
    engine: EngineChoice,
    /// Have every reader also judge each message with the other engine; any disagreement
    /// fails the scenario unless the known-deviations file lists it.
    #[arg(long)]
    cross_check: bool,
    /// The known-deviations file (default: known-deviations.toml in the current folder, if
    /// there is one).
    #[arg(long, value_name = "FILE", requires = "cross_check")]
    known_deviations: Option<PathBuf>,
}

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    let files = scenario_files(&args.paths)?;
    let key_cache = if args.no_key_cache {
        None
    } else {
        args.key_cache.clone().or_else(default_key_cache)
    };
    let engine = args.engine.engine()?;
    let cross_check = if args.cross_check {
        Some(args.engine.other().engine()?)
    } else {
        None
    };
    let known = match &args.known_deviations {
        Some(path) => KnownDeviations::load(path)?,
        None if args.cross_check && Path::new(KNOWN_DEVIATIONS).is_file() => {
            KnownDeviations::load(Path::new(KNOWN_DEVIATIONS))?
        }
        None => KnownDeviations::default(),
    };
    let setup = Setup {
        key_cache,
        engine,
        cross_check,
        known,
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);

    let progress = progress_bar(files.len(), args.format);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<ScenarioResult>>> = Mutex::new(vec![None; files.len()]);
    std::thread::scope(|scope| {
        for _ in 0..jobs.min(files.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(index) else { break };
                    let result = run_one(file, args, &setup);
                    if let Some(progress) = &progress {
                        progress.set_message(file.id.clone());
                        progress.inc(1);
                    }
                    results.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(result);
                }
            });
        }
    });
    if let Some(progress) = progress {
        progress.finish_and_clear();
    }
    let results: Vec<ScenarioResult> = results
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect();

    match args.format {
        Format::Human => print_human(&results),
        Format::Json => print!("{}", report::run_json(&results)),
        Format::Junit => print!("{}", report::junit(&results)),
    }
    let invalid = results.iter().any(|r| {
        matches!(
            r.status,
            ScenarioStatus::Invalid { .. } | ScenarioStatus::HarnessError { .. }
        )
    });
    Ok(if invalid {
        Exit::BadInput
    } else if results.iter().all(ScenarioResult::passed) {
        Exit::Passed
    } else {
        Exit::Failed
    })
}

pub(crate) fn default_key_cache() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("KMLAB_KEY_CACHE") {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("kmlab").join("keys"))
}

fn progress_bar(total: usize, format: Format) -> Option<ProgressBar> {
    // A bar only where someone watches; CI logs get plain lines.
    if format != Format::Human || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    Some(bar)
}

/// What every scenario of a run shares.
struct Setup {
    key_cache: Option<PathBuf>,
    engine: Arc<dyn Engine>,
    cross_check: Option<Arc<dyn Engine>>,
    known: KnownDeviations,
}

fn run_one(file: &ScenarioFile, args: &RunArgs, setup: &Setup) -> ScenarioResult {
    let mut result = ScenarioResult {
        scenario: file.id.clone(),
        path: file.path.display().to_string(),
        status: ScenarioStatus::Passed {
            snapshot: SnapshotState::NotApplicable,
        },
        transcript: None,
    };
    let scenario = match scenario::load(&file.id, &file.path) {
        Ok(scenario) => scenario,
        Err(scenario::LoadError::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}\n");
            result.status = ScenarioStatus::Invalid {
                problems: diagnostics.located_messages(),
            };
            return result;
        }
        Err(error) => {
            result.status = ScenarioStatus::Invalid {
                problems: vec![error.to_string()],
            };
            return result;
        }
    };
    let work = match tempfile::Builder::new().prefix("kmlab-run-").tempdir() {
        Ok(work) => work,
        Err(error) => {
            result.status = ScenarioStatus::HarnessError {
                error: format!("creating a work folder: {error}"),
            };
            return result;
        }
    };
    let options = RunOptions {
        work_dir: work.path().to_path_buf(),
        key_cache: setup.key_cache.clone(),
        seed: args.seed,
        engine: Arc::clone(&setup.engine),
        cross_check: setup.cross_check.clone(),
    };
    let run = match runner::run(&scenario, &options) {
        Ok(run) => run,
        Err(error) => {
            result.status = ScenarioStatus::HarnessError {
                error: error.to_string(),
            };
            return result;
        }
    };
    if let Some(dir) = &args.artifacts {
        if let Err(error) = run.write_artifacts(dir, args.export_keys) {
            result.status = ScenarioStatus::HarnessError {
                error: format!("writing artifacts: {error}"),
            };
            return result;
        }
    }
    let mut reasons = run.transcript.unmet_expectations();
    if setup.cross_check.is_some() {
        reasons.extend(
            setup
                .known
                .judge(&run.transcript.scenario, &run.transcript.disagreements),
        );
    }
    let snapshot = if args.seed.is_some() {
        // A different seed gives different serials and tokens; the snapshot is for the
        // scenario's own seed.
        Ok(SnapshotState::NotApplicable)
    } else if !setup.engine.is_deterministic() {
        // Snapshots record what the default engine builds. Another engine's messages must
        // give the same transcript, engine line aside: the records hold structure and
        // verdicts, never the random bytes that differ between engines.
        let default_engine = smime_rustcrypto::RustCryptoEngine.name();
        let mut as_default = run.transcript.clone();
        as_default.engine = default_engine.to_owned();
        compare_snapshot(&file.path, &render_snapshot(&as_default), false)
    } else {
        compare_snapshot(
            &file.path,
            &render_snapshot(&run.transcript),
            args.update && reasons.is_empty(),
        )
    };
    match snapshot {
        Ok(state) if reasons.is_empty() => {
            result.status = ScenarioStatus::Passed { snapshot: state }
        }
        Ok(_) => result.status = ScenarioStatus::Failed { reasons },
        Err(difference) => {
            reasons.push(difference);
            result.status = ScenarioStatus::Failed { reasons };
        }
    }
    result.transcript = Some(run.transcript);
    result
}

/// Compares (or with `update`, writes) the scenario's snapshot.
fn compare_snapshot(
    scenario_path: &Path,
    contents: &str,
    update: bool,
) -> Result<SnapshotState, String> {
    let Some((root, location)) = SnapshotFile::location(scenario_path) else {
        return Ok(SnapshotState::NotApplicable);
    };
    let input_file = std::path::absolute(scenario_path)
        .ok()
        .and_then(|absolute| {
            absolute
                .strip_prefix(&root)
                .ok()
                .map(|relative| relative.display().to_string())
        })
        .unwrap_or_else(|| scenario_path.display().to_string());
    let existing = std::fs::read_to_string(&location)
        .ok()
        .and_then(|text| SnapshotFile::parse(&text));
    match existing {
        Some(snapshot) if snapshot.matches(contents) => Ok(SnapshotState::Matched),
        _ if update => {
            let file = SnapshotFile {
                input_file,
                contents: contents.to_owned(),
            };
            let written = location
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&location, file.to_text()));
            written
                .map(|()| SnapshotState::Written)
                .map_err(|e| format!("writing {}: {e}", location.display()))
        }
        Some(snapshot) => Err(format!(
            "snapshot {} differs ({}); run `kmlab run --update {}` if the change is intended",
            location.display(),
            report::first_difference(&snapshot.contents, contents).unwrap_or_default(),
            scenario_path.display()
        )),
        None => Err(format!(
            "no snapshot at {}; run `kmlab run --update {}` to record one",
            location.display(),
            scenario_path.display()
        )),
    }
}

fn print_human(results: &[ScenarioResult]) {
    let mut passed = 0;
    for result in results {
        match &result.status {
            ScenarioStatus::Passed { snapshot } => {
                passed += 1;
                let steps = result.transcript.as_ref().map_or(0, |t| t.records.len());
                let note = match snapshot {
                    SnapshotState::Matched => "snapshot matches",
                    SnapshotState::Written => "snapshot written",
                    SnapshotState::NotApplicable => "no snapshot",
                };
                println!("PASS     {} ({steps} steps, {note})", result.scenario);
            }
            ScenarioStatus::Failed { reasons } => {
                println!("FAIL     {}", result.scenario);
                for reason in reasons {
                    println!("         {reason}");
                }
            }
            ScenarioStatus::Invalid { problems } => {
                println!("INVALID  {} ({} problems)", result.scenario, problems.len());
            }
            ScenarioStatus::HarnessError { error } => {
                println!("ERROR    {}: {error}", result.scenario);
            }
        }
    }
    println!(
        "{passed} passed, {} failed, {} scenarios",
        results.len() - passed,
        results.len()
    );
}
