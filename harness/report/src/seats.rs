//! Real implementations in users' seats, side by side with kmlab's own engine.
//!
//! A seated run repeats a scenario with an external implementation doing one user's (or
//! every user's) cryptography. Its transcript is compared with kmlab's, step by step, by
//! outcome, reason and the details that carry a verdict about a message
//! ([`VERDICT_DETAILS`](crate::VERDICT_DETAILS)); the table has one column for kmlab and
//! one per seating, and keeps a row for each step where they part.

use serde::Serialize;

use crate::matrix::{Cell, Column, MatrixTable, matrix_table_by, step_label};
use crate::record::Transcript;

/// The label of kmlab's own column.
pub const KMLAB_COLUMN: &str = "kmlab";

/// How one seating compared with kmlab over a scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SeatCounts {
    /// Steps compared.
    pub steps: usize,
    /// Of those, steps the seated implementation did cryptography in.
    pub through_adapter: usize,
    /// Steps with the same outcome, reason and verdicts.
    pub identical: usize,
    /// Differing steps the known-deviations file lists.
    pub known_deviations: usize,
    /// Differing steps it does not list.
    pub unexpected: usize,
}

impl SeatCounts {
    /// Adds another scenario's counts.
    pub fn add(&mut self, other: &Self) {
        self.steps += other.steps;
        self.through_adapter += other.through_adapter;
        self.identical += other.identical;
        self.known_deviations += other.known_deviations;
        self.unexpected += other.unexpected;
    }
}

/// One seating's run of a scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatResult {
    /// `bob=openssl-cli`, `*=gpgsm`.
    pub label: String,
    /// The adapter's name.
    pub adapter: String,
    /// The counts.
    pub counts: SeatCounts,
    /// Unlisted differences, listed deviations that did not happen, a run that failed.
    pub problems: Vec<String>,
    /// The seated run's transcripts: one, or one per combination of a matrix scenario.
    pub transcripts: Vec<Option<Transcript>>,
}

/// A scenario run with kmlab's engine and with each seating.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeatComparison {
    /// The side-by-side tables: one, or one per combination of a matrix scenario.
    pub tables: Vec<MatrixTable>,
    /// Every seating, in column order after kmlab's.
    pub seats: Vec<SeatResult>,
}

/// One step where a seated run differs from kmlab's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDifference {
    /// The step number (0 for the setup).
    pub step: usize,
    /// `[7] read by bob`.
    pub label: String,
    /// kmlab's cell text.
    pub kmlab: String,
    /// The seated run's cell text, with the verdict details that differ.
    pub seated: String,
    /// The seated run's outcome and reason alone: `error (unsupported)`.
    pub seated_outcome: String,
}

/// The table of steps where kmlab's transcript (the first) and each seating's differ.
pub fn seat_table(
    title: &str,
    labels: &[String],
    kmlab: Option<&Transcript>,
    seated: &[Option<&Transcript>],
) -> MatrixTable {
    let scenario = kmlab
        .or(seated.iter().flatten().next().copied())
        .map_or_else(String::new, |t| t.scenario.clone());
    let columns = std::iter::once(KMLAB_COLUMN.to_owned())
        .chain(labels.iter().cloned())
        .map(|label| Column {
            label,
            settings: Vec::new(),
        })
        .collect();
    let transcripts: Vec<Option<&Transcript>> = std::iter::once(kmlab)
        .chain(seated.iter().copied())
        .collect();
    matrix_table_by(
        &scenario,
        title,
        Vec::new(),
        columns,
        &transcripts,
        Cell::verdict,
    )
}

/// Compares a seated transcript with kmlab's, step by step: the counts (without the known
/// deviations, which the caller judges) and every step that differs. A step went through
/// the adapter when its record names the `implementation`, or it is the interoperability
/// matrix, whose messages every seated user sends and reads.
pub fn compare(kmlab: &Transcript, seated: &Transcript) -> (SeatCounts, Vec<StepDifference>) {
    let mut counts = SeatCounts::default();
    let mut differences = Vec::new();
    let length = kmlab.records.len().max(seated.records.len());
    for index in 0..length {
        let (ours, theirs) = (kmlab.records.get(index), seated.records.get(index));
        counts.steps += 1;
        if theirs.is_some_and(|record| {
            record.detail("implementation").is_some() || record.action == "interop-matrix"
        }) {
            counts.through_adapter += 1;
        }
        let (ours_cell, theirs_cell) = (ours.map(Cell::verdict), theirs.map(Cell::verdict));
        if ours_cell == theirs_cell {
            counts.identical += 1;
            continue;
        }
        let text = |cell: Option<Cell>| cell.map_or_else(|| "—".to_owned(), |cell| cell.text());
        let seated_outcome = text(theirs_cell.clone());
        let seated_text = match (&ours_cell, theirs_cell.clone()) {
            (Some(base), Some(mut cell)) => {
                cell.differs = cell.differences_from(base);
                cell.text()
            }
            (_, cell) => text(cell),
        };
        let record = theirs.or(ours);
        differences.push(StepDifference {
            step: record.map_or(0, |r| r.step),
            label: record.map_or_else(String::new, step_label),
            kmlab: text(ours_cell),
            seated: seated_text,
            seated_outcome,
        });
    }
    (counts, differences)
}
