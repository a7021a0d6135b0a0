//! `kmlab explain`: what an error ID or reason word means, shown with the records of the
//! built-in scenario that reproduces it; `--check` runs the whole built-in suite and checks
//! that every cause it produces is explained and every explanation still reproduces.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use model::explanations::EXPLANATIONS;
use report::explain::{self, Explained, Produced};
use runner::{RunOptions, ScenarioRun};

use crate::{Exit, Format};

#[derive(Debug, clap::Args)]
pub(crate) struct ExplainArgs {
    /// An error ID (c1031daf, c1031dab, c1031d9f, c1031d92) or a reason word (untrusted-root,
    /// validity, policy-module …); without one, every known ID and reason is listed.
    id: Option<String>,
    /// How to print the explanation (human or json).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Run every built-in scenario and check that each error ID and reason word it produces
    /// is explained, and that each explanation's scenario still produces it and its fix still
    /// fixes it.
    #[arg(long, conflicts_with = "id")]
    check: bool,
    /// The folder of the scenarios the explanations name (default: kmlab's own scenarios/).
    #[arg(long, value_name = "DIR")]
    scenarios: Option<PathBuf>,
    /// Where generated keys are cached (default: $KMLAB_KEY_CACHE, else ~/.cache/kmlab/keys).
    #[arg(long, value_name = "DIR")]
    key_cache: Option<PathBuf>,
}

/// kmlab's own scenarios, beside the sources the binary was built from.
fn built_in_scenarios() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

pub(crate) fn explain(args: &ExplainArgs) -> anyhow::Result<Exit> {
    if args.format == Format::Junit {
        anyhow::bail!("--format junit is for kmlab run; explain prints human or json");
    }
    let root = args.scenarios.clone().unwrap_or_else(built_in_scenarios);
    if !root.is_dir() {
        anyhow::bail!("{}: no scenarios folder", root.display());
    }
    let key_cache = args
        .key_cache
        .clone()
        .or_else(crate::run_cmd::default_key_cache);
    if args.check {
        return check(&root, key_cache.as_deref());
    }
    let Some(query) = &args.id else {
        for explanation in EXPLANATIONS {
            println!(
                "{:<40} {:<7} {:<44} {}",
                explanation.key(),
                explanation.rule,
                explanation.scenario,
                explanation.fix.kind()
            );
        }
        return Ok(Exit::Passed);
    };
    let found = match explain::lookup(EXPLANATIONS, query) {
        Ok(found) => found,
        Err(unknown) => {
            eprintln!("kmlab: {unknown}");
            return Ok(Exit::BadInput);
        }
    };
    let mut scenarios: Vec<&str> = found
        .iter()
        .flat_map(|e| std::iter::once(e.scenario).chain(explain::fix_scenario_of(e)))
        .collect();
    scenarios.sort_unstable();
    scenarios.dedup();
    let runs: Vec<(&str, anyhow::Result<ScenarioRun>)> = scenarios
        .iter()
        .map(|id| (*id, run_built_in(&root, id, key_cache.as_deref())))
        .collect();
    let plain_run = |id: &str| {
        runs.iter()
            .find(|(run_id, _)| *run_id == id)
            .and_then(|(_, run)| run.as_ref().ok())
            .and_then(|run| transcript_of(run, None))
    };
    let explained: Vec<Explained<'_>> = found
        .iter()
        .map(|explanation| {
            let fixed = explain::fix_scenario_of(explanation).and_then(plain_run);
            let records = runs
                .iter()
                .find(|(id, _)| *id == explanation.scenario)
                .map_or_else(
                    || Err("not run".to_owned()),
                    |(_, run)| match run {
                        Err(error) => Err(format!("{error:#}")),
                        Ok(run) => match transcript_of(run, explanation.combination) {
                            Some(transcript) => explain::show(explanation, transcript, fixed),
                            None => Err(format!(
                                "{} has no combination {}",
                                explanation.scenario,
                                explanation.combination.unwrap_or("(plain run)")
                            )),
                        },
                    },
                );
            Explained {
                explanation,
                records,
            }
        })
        .collect();
    match args.format {
        Format::Json => print!("{}", explain::explained_json(query, &explained)),
        _ => print!("{}", explain::render_explained(&explained)),
    }
    Ok(if explained.iter().all(|item| item.records.is_ok()) {
        Exit::Passed
    } else {
        Exit::Failed
    })
}

/// The transcript of a plain run, or of a matrix run's combination with this label.
fn transcript_of<'r>(
    run: &'r ScenarioRun,
    combination: Option<&str>,
) -> Option<&'r report::Transcript> {
    match (run, combination) {
        (ScenarioRun::Single(run), None) => Some(&run.transcript),
        (ScenarioRun::Matrix(matrix), Some(label)) => matrix
            .cells
            .iter()
            .find(|cell| cell.label == label)
            .and_then(runner::Cell::transcript),
        _ => None,
    }
}

/// Runs the scenario `id` (its path under the scenarios folder without `.toml`).
fn run_built_in(root: &Path, id: &str, key_cache: Option<&Path>) -> anyhow::Result<ScenarioRun> {
    let path = root.join(format!("{id}.toml"));
    let scenario = scenario::load(id, &path).map_err(|error| anyhow::anyhow!("{error}"))?;
    let work =
        crate::work::WorkFolder::create("kmlab-explain-").context("creating a work folder")?;
    let engine = crate::run_cmd::EngineChoice::DEFAULT.engine()?;
    let options = RunOptions {
        key_cache: key_cache.map(Path::to_path_buf),
        ..RunOptions::new(work.path().to_path_buf(), engine)
    };
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    runner::run_scenario(&Arc::new(scenario), &options, jobs)
        .with_context(|| format!("running {}", path.display()))
}

/// Runs every scenario under `root` and checks the explanations both ways.
fn check(root: &Path, key_cache: Option<&Path>) -> anyhow::Result<Exit> {
    let files = crate::discover::scenario_files(&[root.to_path_buf()])?;
    let jobs = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(files.len());
    let next = AtomicUsize::new(0);
    let runs: Mutex<Vec<Option<anyhow::Result<ScenarioRun>>>> =
        Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = files.get(index) else { break };
                    let run = run_built_in(root, &file.id, key_cache);
                    runs.lock().unwrap_or_else(PoisonError::into_inner)[index] = Some(run);
                }
            });
        }
    });
    let runs: Vec<anyhow::Result<ScenarioRun>> = runs
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect();
    let mut problems = Vec::new();
    let mut produced = Vec::new();
    for (file, run) in files.iter().zip(&runs) {
        match run {
            Err(error) => problems.push(format!("{}: {error:#}", file.id)),
            Ok(ScenarioRun::Single(run)) => produced.push(Produced {
                scenario: &file.id,
                combination: None,
                transcript: &run.transcript,
            }),
            Ok(ScenarioRun::Matrix(matrix)) => {
                for cell in &matrix.cells {
                    match cell.transcript() {
                        Some(transcript) => produced.push(Produced {
                            scenario: &file.id,
                            combination: Some(&cell.label),
                            transcript,
                        }),
                        None => problems.push(format!(
                            "{} (combination {}) did not run",
                            file.id, cell.label
                        )),
                    }
                }
            }
        }
    }
    problems.extend(explain::check(EXPLANATIONS, &produced));
    let causes = explain::produced_causes(&produced);
    for problem in &problems {
        println!("{problem}");
    }
    println!(
        "{} scenarios produce {} error IDs and reasons; {} explanations; {} problems",
        files.len(),
        causes.len(),
        EXPLANATIONS.len(),
        problems.len()
    );
    Ok(if problems.is_empty() {
        Exit::Passed
    } else {
        Exit::Failed
    })
}
