//! `kmlab run`: scenarios in parallel, each in its own World, results in a stable order.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use report::{
    CellResult, MatrixResult, ScenarioResult, ScenarioStatus, SeatComparison, SeatCounts,
    SeatResult, SnapshotFile, SnapshotState, render_snapshot,
};
use runner::{RunOptions, ScenarioRun};
use smime::Engine;

use crate::deviations::KnownDeviations;
use crate::discover::{ScenarioFile, scenario_files};
use crate::partition::Partition;
use crate::seats::{AdapterDeviations, Seating};
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
    pub(crate) fn engine(self) -> anyhow::Result<Arc<dyn Engine>> {
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

/// The file of known engine deviations `--cross-check` reads unless told otherwise: one in the
/// current folder, else kmlab's own beside the engine trait.
const KNOWN_DEVIATIONS: &str = "known-deviations.toml";

fn built_in_engine_deviations() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../smime/known-deviations.toml")
}

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
    /// The known-deviations file (default: known-deviations.toml in the current folder if
    /// there is one, else kmlab's own, harness/smime/known-deviations.toml).
    #[arg(long, value_name = "FILE", requires = "cross_check")]
    known_deviations: Option<PathBuf>,
    /// Also write a static HTML report (DIR/index.html) and the run as JSON (DIR/run.json).
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,
    /// Run each scenario again with a real S/MIME implementation in a user's seat (USER a
    /// user's name, or * for every user; ADAPTER a built-in adapter — openssl-cli, gpgsm,
    /// cmsutil — or the path of an adapter program) and compare it with kmlab's engine step
    /// by step. May be given several times: one seated run each.
    #[arg(long, value_name = "USER=ADAPTER", conflicts_with = "cross_check")]
    seat: Vec<String>,
    /// How long one adapter call may take before it counts as hung (for --seat and for the
    /// seats scenarios give their users).
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    adapter_timeout: f64,
    /// The adapters' known-deviations file (default: harness/adapters/known-deviations.toml).
    #[arg(long, value_name = "FILE", requires = "seat")]
    adapter_deviations: Option<PathBuf>,
    /// Run only part K of N of the scenarios, so that N CI machines share a suite:
    /// hash:K/N by a hash of each scenario's path (a scenario keeps its part as the suite
    /// grows), count:K/N (or K/N) by position in the sorted list (parts of equal size).
    #[arg(long, value_name = "hash:K/N")]
    partition: Option<Partition>,
    /// Keep snapshots under DIR, at each scenario's path under the folder it was found in
    /// (`kmlab run ci/smime --snapshots ci/smime-snapshots`: ci/smime/a/b.toml has
    /// ci/smime-snapshots/a/b.snap). Without it a scenario under a `scenarios` folder has its
    /// snapshot at the same path under the `snapshots` folder beside it, and any other has none.
    #[arg(long, value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// Print the transcript of each failing scenario under its failure line (a failing
    /// scenario writes no snapshot, even with --update).
    #[arg(long)]
    show_transcript: bool,
}

impl RunArgs {
    /// These arguments with the HTML report written to `dir`.
    pub(crate) fn with_report(mut self, dir: PathBuf) -> Self {
        self.report = Some(dir);
        self
    }
}

pub(crate) fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    let suite = scenario_files(&args.paths)?;
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
        None if args.cross_check && built_in_engine_deviations().is_file() => {
            KnownDeviations::load(&built_in_engine_deviations())?
        }
        None => KnownDeviations::default(),
    };
    let adapter_timeout = crate::seats::adapter_timeout(args.adapter_timeout)?;
    // Seats are checked against the whole suite: a part may lack the user another part has.
    let seatings = seatings(args, adapter_timeout, &suite)?;
    let suite_size = suite.len();
    let files = match &args.partition {
        Some(partition) => partition.select(suite),
        None => suite,
    };
    if let (Some(partition), Format::Human) = (&args.partition, args.format) {
        println!(
            "partition {partition}: {} of {suite_size} scenarios",
            files.len()
        );
    }
    let adapter_deviations = if seatings.is_empty() {
        AdapterDeviations::default()
    } else {
        let path = args
            .adapter_deviations
            .clone()
            .unwrap_or_else(|| smime_external::built_in_dir().join("known-deviations.toml"));
        AdapterDeviations::load(&path)?
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let setup = Setup {
        jobs,
        adapter_timeout,
        key_cache,
        engine,
        cross_check,
        known,
        seatings,
        adapter_deviations,
    };

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
        Format::Human => {
            let snapshots = args
                .snapshots
                .as_ref()
                .map(|dir| format!(" --snapshots {}", dir.display()))
                .unwrap_or_default();
            print_human(&results, args.show_transcript, &snapshots);
            print_seat_totals(&results);
        }
        Format::Json => print!("{}", report::run_json(&results)),
        Format::Junit => print!("{}", report::junit(&results)),
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(dir.join("index.html"), report::render_html(&results)))
            .and_then(|()| std::fs::write(dir.join("run.json"), report::run_json(&results)))
            .with_context(|| format!("writing the report to {}", dir.display()))?;
        if args.format == Format::Human {
            println!("report: {}", dir.join("index.html").display());
        }
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

/// The `--seat` options, each checked: a known adapter, and a user some scenario of the run
/// has.
fn seatings(
    args: &RunArgs,
    timeout: std::time::Duration,
    files: &[ScenarioFile],
) -> anyhow::Result<Vec<Seating>> {
    if args.seat.is_empty() {
        return Ok(Vec::new());
    }
    let seatings = args
        .seat
        .iter()
        .map(|spec| Seating::parse(spec, timeout))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let named: Vec<&Seating> = seatings.iter().filter(|s| s.user != "*").collect();
    if !named.is_empty() {
        let users: Vec<String> = files
            .iter()
            .filter_map(|file| scenario::load(&file.id, &file.path).ok())
            .flat_map(|scenario| {
                scenario
                    .topology
                    .users
                    .iter()
                    .map(|user| user.name.to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        for seating in named {
            if !users.contains(&seating.user) {
                anyhow::bail!(
                    "--seat {}: no scenario in this run has a user `{}`",
                    seating.label(),
                    seating.user
                );
            }
        }
    }
    Ok(seatings)
}

/// Each seating's counts over the whole run.
fn print_seat_totals(results: &[ScenarioResult]) {
    let mut totals: Vec<(String, SeatCounts)> = Vec::new();
    for seat in results
        .iter()
        .filter_map(|result| result.seats.as_ref())
        .flat_map(|comparison| &comparison.seats)
    {
        match totals.iter_mut().find(|(label, _)| *label == seat.label) {
            Some((_, counts)) => counts.add(&seat.counts),
            None => totals.push((seat.label.clone(), seat.counts.clone())),
        }
    }
    for (label, counts) in totals {
        println!(
            "seat {label}: {} steps compared ({} through the adapter), {} identical, {} known deviations, {} unexpected",
            counts.steps,
            counts.through_adapter,
            counts.identical,
            counts.known_deviations,
            counts.unexpected
        );
    }
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
    jobs: usize,
    adapter_timeout: std::time::Duration,
    key_cache: Option<PathBuf>,
    engine: Arc<dyn Engine>,
    cross_check: Option<Arc<dyn Engine>>,
    known: KnownDeviations,
    seatings: Vec<Seating>,
    adapter_deviations: AdapterDeviations,
}

fn run_one(file: &ScenarioFile, args: &RunArgs, setup: &Setup) -> ScenarioResult {
    let mut result = ScenarioResult {
        scenario: file.id.clone(),
        path: file.path.display().to_string(),
        status: ScenarioStatus::Passed {
            snapshot: SnapshotState::NotApplicable,
        },
        transcript: None,
        matrix: None,
        seats: None,
    };
    let scenario = match scenario::load(&file.id, &file.path) {
        Ok(scenario) => Arc::new(scenario),
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
    let work = match crate::work::WorkFolder::create("kmlab-run-") {
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
        seats: Vec::new(),
        adapter_timeout: setup.adapter_timeout,
        ..RunOptions::new(work.path().to_path_buf(), Arc::clone(&setup.engine))
    };
    let run = match runner::run_scenario(&scenario, &options, setup.jobs) {
        Ok(run) => run,
        Err(error) => {
            result.status = ScenarioStatus::HarnessError {
                error: error.to_string(),
            };
            return result;
        }
    };
    let runs: Vec<&runner::Run> = match &run {
        ScenarioRun::Single(run) => vec![run],
        ScenarioRun::Matrix(matrix) => matrix
            .cells
            .iter()
            .filter_map(|cell| cell.result.as_ref().ok())
            .collect(),
    };
    if let Some(dir) = &args.artifacts {
        for cell in &runs {
            if let Err(error) = cell.write_artifacts(dir, args.export_keys) {
                result.status = ScenarioStatus::HarnessError {
                    error: format!("writing artifacts: {error}"),
                };
                return result;
            }
        }
    }
    let mut reasons = run.problems();
    if setup.cross_check.is_some() {
        for cell in &runs {
            reasons.extend(
                setup
                    .known
                    .judge(&cell.transcript.scenario, &cell.transcript.disagreements),
            );
        }
    }
    if !setup.seatings.is_empty() {
        let comparison = seated_runs(&scenario, &run, &options, setup, &mut reasons);
        result.seats = Some(comparison);
    }
    let snapshot = if args.seed.is_some() {
        // A different seed gives different serials and tokens; the snapshot is for the
        // scenario's own seed.
        Ok(SnapshotState::NotApplicable)
    } else if let (ScenarioRun::Single(single), false) = (&run, setup.engine.is_deterministic()) {
        // Snapshots record what the default engine builds. Another engine's messages must
        // give the same transcript, engine line aside: the records hold structure and
        // verdicts, never the random bytes that differ between engines.
        let default_engine = smime_rustcrypto::RustCryptoEngine.name();
        let mut as_default = single.transcript.clone();
        as_default.engine = default_engine.to_owned();
        compare_snapshot(file, args, &render_snapshot(&as_default), false)
    } else {
        compare_snapshot(
            file,
            args,
            &run.snapshot(),
            args.update && reasons.is_empty() && setup.engine.is_deterministic(),
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
    match run {
        ScenarioRun::Single(run) => result.transcript = Some(run.transcript),
        ScenarioRun::Matrix(matrix) => result.matrix = Some(matrix_result(matrix)),
    }
    result
}

/// Runs the scenario once per seating and compares each with kmlab's run, step by step;
/// every difference the adapters' known-deviations file does not list, and every listed one
/// that did not happen, is added to `reasons`.
fn seated_runs(
    scenario: &Arc<scenario::Scenario>,
    kmlab: &ScenarioRun,
    options: &RunOptions,
    setup: &Setup,
    reasons: &mut Vec<String>,
) -> SeatComparison {
    // kmlab's transcripts, one per combination of a matrix scenario, with their titles.
    let (ours, titles): (Vec<Option<&report::Transcript>>, Vec<String>) = match kmlab {
        ScenarioRun::Single(run) => (vec![Some(&run.transcript)], vec![scenario.title.clone()]),
        ScenarioRun::Matrix(matrix) => matrix
            .cells
            .iter()
            .enumerate()
            .map(|(index, cell)| {
                (
                    cell.transcript(),
                    format!("combination {}: {}", index + 1, cell.label),
                )
            })
            .unzip(),
    };
    let mut seats = Vec::new();
    for (index, seating) in setup.seatings.iter().enumerate() {
        let options = RunOptions {
            work_dir: options.work_dir.join(format!("seat-{}", index + 1)),
            cross_check: None,
            seats: vec![seating.seat()],
            ..options.clone()
        };
        let mut problems = Vec::new();
        let transcripts: Vec<Option<report::Transcript>> =
            match std::fs::create_dir_all(&options.work_dir)
                .map_err(runner::RunError::from)
                .and_then(|()| runner::run_scenario(scenario, &options, setup.jobs))
            {
                Ok(ScenarioRun::Single(run)) => vec![Some(run.transcript)],
                Ok(ScenarioRun::Matrix(matrix)) => matrix
                    .cells
                    .into_iter()
                    .map(|cell| cell.result.ok().map(|run| run.transcript))
                    .collect(),
                Err(error) => {
                    problems.push(format!("{}: harness error: {error}", seating.label()));
                    Vec::new()
                }
            };
        let mut counts = SeatCounts::default();
        let mut differences = Vec::new();
        for (index, kmlab) in ours.iter().enumerate() {
            let (Some(kmlab), Some(Some(seated))) = (kmlab, transcripts.get(index)) else {
                continue;
            };
            let (cell_counts, cell_differences) = report::compare(kmlab, seated);
            counts.add(&cell_counts);
            differences.extend(cell_differences);
        }
        let (known, failures) = setup
            .adapter_deviations
            .judge(seating, &scenario.id, &differences);
        counts.known_deviations = known;
        counts.unexpected = differences.len() - known;
        problems.extend(failures);
        reasons.extend(problems.iter().cloned());
        seats.push(SeatResult {
            label: seating.label(),
            adapter: seating.adapter.name().to_owned(),
            counts,
            problems,
            transcripts,
        });
    }
    let labels: Vec<String> = seats.iter().map(|seat| seat.label.clone()).collect();
    let tables = ours
        .iter()
        .zip(&titles)
        .enumerate()
        .map(|(index, (kmlab, title))| {
            let seated: Vec<Option<&report::Transcript>> = seats
                .iter()
                .map(|seat| seat.transcripts.get(index).and_then(Option::as_ref))
                .collect();
            report::seat_table(title, &labels, *kmlab, &seated)
        })
        .collect();
    SeatComparison { tables, seats }
}

/// A matrix run as the report keeps it.
pub(crate) fn matrix_result(matrix: runner::MatrixRun) -> MatrixResult {
    let cells = matrix
        .cells
        .into_iter()
        .map(|cell| CellResult {
            problems: cell.problems(),
            label: cell.label,
            settings: cell
                .settings
                .iter()
                .map(|setting| (setting.key.clone(), setting.value.clone()))
                .collect(),
            transcript: cell.result.ok().map(|run| run.transcript),
        })
        .collect();
    MatrixResult {
        table: matrix.table,
        cells,
    }
}

/// Compares (or with `update`, writes) the scenario's snapshot.
fn compare_snapshot(
    file: &ScenarioFile,
    args: &RunArgs,
    contents: &str,
    update: bool,
) -> Result<SnapshotState, String> {
    let scenario_path = file.path.as_path();
    let (input_file, location) = if let Some(dir) = &args.snapshots {
        (
            scenario_path.display().to_string(),
            dir.join(&file.relative).with_extension("snap"),
        )
    } else {
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
        (input_file, location)
    };
    let rerun = args
        .snapshots
        .as_ref()
        .map(|dir| format!(" --snapshots {}", dir.display()))
        .unwrap_or_default();
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
            "snapshot {} differs ({}); run `kmlab run --update {}{rerun}` if the change is intended",
            location.display(),
            report::first_difference(&snapshot.contents, contents).unwrap_or_default(),
            scenario_path.display()
        )),
        None => Err(format!(
            "no snapshot at {}; run `kmlab run --update {}{rerun}` to record one",
            location.display(),
            scenario_path.display()
        )),
    }
}

/// `snapshots` is the `--snapshots DIR` option of the run, for the command a failure line
/// suggests.
fn print_human(results: &[ScenarioResult], show_transcript: bool, snapshots: &str) {
    let mut passed = 0;
    for result in results {
        match &result.status {
            ScenarioStatus::Passed { snapshot } => {
                passed += 1;
                let note = match snapshot {
                    SnapshotState::Matched => "snapshot matches",
                    SnapshotState::Written => "snapshot written",
                    SnapshotState::NotApplicable => "no snapshot",
                };
                let size = match (&result.transcript, &result.matrix) {
                    (_, Some(matrix)) => format!(
                        "matrix of {} combinations, {} differing steps",
                        matrix.cells.len(),
                        matrix.table.differing().count()
                    ),
                    (Some(transcript), None) => format!("{} steps", transcript.records.len()),
                    (None, None) => "no steps".to_owned(),
                };
                println!("PASS     {} ({size}, {note})", result.scenario);
            }
            ScenarioStatus::Failed { reasons } => {
                let transcript = failing_transcript(result);
                match (&transcript, show_transcript) {
                    (None, _) => println!("FAIL     {}", result.scenario),
                    (Some(_), true) => println!("FAIL     {} (transcript below)", result.scenario),
                    (Some(_), false) => println!(
                        "FAIL     {} (its transcript: kmlab run --show-transcript{snapshots} {})",
                        result.scenario, result.path
                    ),
                }
                for reason in reasons {
                    println!("         {reason}");
                }
                if let (Some(transcript), true) = (transcript, show_transcript) {
                    for line in transcript.lines() {
                        if line.is_empty() {
                            println!("    |");
                        } else {
                            println!("    | {line}");
                        }
                    }
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

/// What a failing scenario recorded, as its snapshot would show it, each unmet expectation
/// marked under its record; for a matrix scenario, every combination that failed.
fn failing_transcript(result: &ScenarioResult) -> Option<String> {
    if let Some(transcript) = &result.transcript {
        return Some(report::render_marked(transcript));
    }
    let matrix = result.matrix.as_ref()?;
    let mut out = String::new();
    for cell in &matrix.cells {
        if cell.problems.is_empty() {
            continue;
        }
        out.push_str(&format!("combination {}:\n", cell.label));
        match &cell.transcript {
            Some(transcript) => out.push_str(&report::render_marked(transcript)),
            None => out.push_str("(it did not run)\n"),
        }
    }
    (!out.is_empty()).then_some(out)
}
