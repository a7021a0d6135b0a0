//! `kmlab matrix`: one scenario under every combination of settings, and the steps whose
//! outcome differs between them.

use std::path::PathBuf;

use anyhow::Context as _;
use runner::RunOptions;
use scenario::settings::{Axis, parse_arguments};

use crate::Exit;
use crate::discover::scenario_files;
use crate::run_cmd::{EngineChoice, default_key_cache};

/// How `kmlab matrix` prints its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum MatrixFormat {
    /// A Markdown table (also what a matrix scenario's snapshot holds).
    Markdown,
    /// Versioned JSON: the table and every combination's transcript.
    Json,
    /// A self-contained HTML page.
    Html,
}

#[derive(Debug, clap::Args)]
pub(crate) struct MatrixArgs {
    /// The scenario file.
    scenario: PathBuf,
    /// A setting and the values it takes: KEY=V1,V2,… where KEY is SECTION.NAME.KEY
    /// (e.g. ca.ExchCA.validity_units, km.KM1.mode, user.carol.client) or policy.strength.
    /// Repeatable; replaces the scenario's own [matrix] entry for the same key.
    #[arg(long = "vary", value_name = "KEY=VALUES")]
    vary: Vec<String>,
    /// How to print the table.
    #[arg(long, value_enum, default_value_t = MatrixFormat::Markdown)]
    format: MatrixFormat,
    /// Write each combination's artifacts under DIR/<scenario>/<settings>/.
    #[arg(long, value_name = "DIR")]
    artifacts: Option<PathBuf>,
    /// How many combinations run at once (default: the number of cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Run with this seed instead of the scenario's own.
    #[arg(long)]
    seed: Option<u64>,
    /// Where generated keys are cached (default: $KMLAB_KEY_CACHE, else ~/.cache/kmlab/keys).
    #[arg(long, value_name = "DIR")]
    key_cache: Option<PathBuf>,
    /// The engine that builds and reads messages.
    #[arg(long, value_enum, default_value_t = EngineChoice::Rustcrypto)]
    engine: EngineChoice,
}

pub(crate) fn matrix(args: &MatrixArgs) -> anyhow::Result<Exit> {
    let files = scenario_files(std::slice::from_ref(&args.scenario))?;
    let [file] = files.as_slice() else {
        anyhow::bail!(
            "{}: kmlab matrix takes one scenario file, found {}",
            args.scenario.display(),
            files.len()
        );
    };
    let scenario = match scenario::load(&file.id, &file.path) {
        Ok(scenario) => scenario,
        Err(scenario::LoadError::Invalid(diagnostics)) => {
            eprintln!("{diagnostics}");
            return Ok(Exit::BadInput);
        }
        Err(error) => return Err(error.into()),
    };
    let arguments = match parse_arguments(&args.vary) {
        Ok(axes) => axes,
        Err(problems) => return Ok(bad_settings(&problems)),
    };
    let mut duplicates: Vec<&str> = arguments.iter().map(|axis| axis.key.as_str()).collect();
    duplicates.sort_unstable();
    if let Some(pair) = duplicates.windows(2).find(|pair| pair[0] == pair[1]) {
        return Ok(bad_settings(&[format!(
            "--vary {}: given twice; list every value in one --vary",
            pair[0]
        )]));
    }
    let problems = scenario::check_arguments(&file.id, &file.path, &scenario.source, &arguments);
    if !problems.is_empty() {
        return Ok(bad_settings(&problems));
    }
    let axes = merge(&scenario.matrix, arguments);
    if axes.is_empty() {
        eprintln!(
            "kmlab: {} has no [matrix]; say what to vary with --vary KEY=V1,V2",
            file.path.display()
        );
        return Ok(Exit::BadInput);
    }

    let work =
        crate::work::WorkFolder::create("kmlab-matrix-").context("creating a work folder")?;
    let options = RunOptions {
        key_cache: args.key_cache.clone().or_else(default_key_cache),
        seed: args.seed,
        ..RunOptions::new(work.path().to_path_buf(), args.engine.engine()?)
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let run = runner::run_matrix(&scenario, &axes, &options, jobs);
    if let Some(dir) = &args.artifacts {
        for cell in &run.cells {
            if let Ok(cell_run) = &cell.result {
                cell_run
                    .write_artifacts(dir, false)
                    .with_context(|| format!("writing artifacts to {}", dir.display()))?;
            }
        }
    }
    let problems = run.problems();
    match args.format {
        MatrixFormat::Markdown => print!("{}", report::render_markdown(&run.table)),
        MatrixFormat::Html => print!("{}", report::render_matrix_html(&run.table)),
        MatrixFormat::Json => {
            let result = crate::run_cmd::matrix_result(run);
            let value = serde_json::json!({
                "schema": report::MATRIX_SCHEMA,
                "matrix": result.table,
                "cells": result.cells,
            });
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
    }
    for problem in &problems {
        eprintln!("{problem}");
    }
    Ok(if problems.is_empty() {
        Exit::Passed
    } else {
        Exit::Failed
    })
}

/// The scenario's own axes with the command line's put in: an axis for a key the file
/// varies replaces the file's, new keys come after.
fn merge(file: &[Axis], arguments: Vec<Axis>) -> Vec<Axis> {
    let mut axes: Vec<Axis> = file
        .iter()
        .map(|axis| {
            arguments
                .iter()
                .find(|argument| argument.key == axis.key)
                .unwrap_or(axis)
                .clone()
        })
        .collect();
    for argument in arguments {
        if !axes.iter().any(|axis| axis.key == argument.key) {
            axes.push(argument);
        }
    }
    axes
}

fn bad_settings(problems: &[String]) -> Exit {
    for problem in problems {
        eprintln!("error: {problem}");
    }
    Exit::BadInput
}
