//! One scenario under every combination of settings, each combination in its own World, run
//! in parallel; and the table of where their outcomes differ.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use report::{Column, MatrixTable, Transcript, column_labels, matrix_table};
use scenario::settings::{Axis, Setting, combinations};
use scenario::{Diagnostics, Scenario};

use crate::{Run, RunError, RunOptions, run};

/// Why a combination did not run.
#[derive(Debug, thiserror::Error)]
pub enum CellFailure {
    /// With these settings the scenario is invalid.
    #[error("{0}")]
    Invalid(Diagnostics),
    /// The harness failed.
    #[error("harness error: {0}")]
    Harness(#[from] RunError),
}

/// One combination and what it gave.
#[derive(Debug)]
pub struct Cell {
    /// The settings, in axis order.
    pub settings: Vec<Setting>,
    /// The column label.
    pub label: String,
    /// The run, or why there is none.
    pub result: Result<Run, CellFailure>,
}

/// Every combination of a matrix and the table comparing them.
#[derive(Debug)]
pub struct MatrixRun {
    /// The cells, first axis varying slowest.
    pub cells: Vec<Cell>,
    /// Where their outcomes differ.
    pub table: MatrixTable,
}

impl MatrixRun {
    /// Every unmet expectation and every cell that did not run, each prefixed with its
    /// cell's label. A matrix scenario's expectations must hold under every combination.
    pub fn problems(&self) -> Vec<String> {
        self.cells
            .iter()
            .flat_map(|cell| cell.problems().into_iter())
            .collect()
    }
}

impl Cell {
    /// This cell's unmet expectations, or why it did not run, prefixed with its label.
    pub fn problems(&self) -> Vec<String> {
        match &self.result {
            Ok(run) => run
                .transcript
                .unmet_expectations()
                .into_iter()
                .map(|problem| format!("[{}] {problem}", self.label))
                .collect(),
            Err(CellFailure::Invalid(diagnostics)) => diagnostics
                .located_messages()
                .into_iter()
                .map(|problem| format!("[{}] {problem}", self.label))
                .collect(),
            Err(failure) => vec![format!("[{}] {failure}", self.label)],
        }
    }

    /// The transcript, if the cell ran.
    pub fn transcript(&self) -> Option<&Transcript> {
        self.result.as_ref().ok().map(|run| &run.transcript)
    }
}

/// Runs `scenario` under every combination of `axes`, `jobs` at a time. Each cell is read
/// again from the scenario's text with its settings, and gets its own folder under the
/// options' work folder.
pub fn run_matrix(
    scenario: &Scenario,
    axes: &[Axis],
    options: &RunOptions,
    jobs: usize,
) -> MatrixRun {
    let combinations = combinations(axes);
    let keys: Vec<String> = axes.iter().map(|axis| axis.key.clone()).collect();
    let values: Vec<Vec<String>> = combinations
        .iter()
        .map(|settings| settings.iter().map(|s| s.value.clone()).collect())
        .collect();
    let labels = column_labels(&keys, &values);

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Run, CellFailure>>>> =
        Mutex::new((0..combinations.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, combinations.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(settings) = combinations.get(index) else {
                        break;
                    };
                    let result = run_cell(scenario, settings, options, index);
                    if let Ok(mut results) = results.lock() {
                        results[index] = Some(result);
                    }
                }
            });
        }
    });
    let results = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);

    let cells: Vec<Cell> = combinations
        .into_iter()
        .zip(labels)
        .zip(results)
        .map(|((settings, label), result)| Cell {
            settings,
            label,
            result: result.unwrap_or_else(|| {
                Err(CellFailure::Harness(RunError::Unsupported(
                    "the combination was not run".to_owned(),
                )))
            }),
        })
        .collect();
    let columns = cells
        .iter()
        .map(|cell| Column {
            label: cell.label.clone(),
            settings: cell
                .settings
                .iter()
                .map(|s| (s.key.clone(), s.value.clone()))
                .collect(),
        })
        .collect();
    let transcripts: Vec<Option<&Transcript>> = cells.iter().map(Cell::transcript).collect();
    let table = matrix_table(
        &scenario.id,
        &scenario.title,
        axes.iter()
            .map(|axis| {
                (
                    axis.key.clone(),
                    axis.values.iter().map(|s| s.value.clone()).collect(),
                )
            })
            .collect(),
        columns,
        &transcripts,
    );
    MatrixRun { cells, table }
}

fn run_cell(
    scenario: &Scenario,
    settings: &[Setting],
    options: &RunOptions,
    index: usize,
) -> Result<Run, CellFailure> {
    let cell = scenario::parse_with(&scenario.id, &scenario.path, &scenario.source, settings)
        .map_err(CellFailure::Invalid)?;
    let work_dir = options.work_dir.join(format!("cell-{}", index + 1));
    std::fs::create_dir_all(&work_dir).map_err(RunError::from)?;
    let options = RunOptions {
        work_dir,
        ..options.clone()
    };
    Ok(run(Arc::new(cell), &options)?)
}
