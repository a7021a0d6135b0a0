//! Per-scenario results of a run: the status, the transcript and, for matrix scenarios and
//! seated runs, the tables built from transcripts. They sit above the renderers' tables, which
//! in turn only read records.

use serde::Serialize;

use crate::matrix::MatrixTable;
use crate::record::Transcript;
use crate::seats::SeatComparison;
use crate::snapshot::SnapshotState;

/// How a scenario fared in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum ScenarioStatus {
    /// Every expectation met and the snapshot matched (or none was compared).
    Passed {
        /// Whether a snapshot was compared.
        snapshot: SnapshotState,
    },
    /// Something did not hold; each line says what.
    Failed {
        /// The reasons.
        reasons: Vec<String>,
    },
    /// The scenario file is invalid; the located problems.
    Invalid {
        /// The located messages.
        problems: Vec<String>,
    },
    /// The harness itself failed while running it.
    HarnessError {
        /// What failed.
        error: String,
    },
}

/// One scenario's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScenarioResult {
    /// The scenario identifier.
    pub scenario: String,
    /// The file.
    pub path: String,
    /// The status.
    #[serde(flatten)]
    pub status: ScenarioStatus,
    /// The transcript, if it ran (a plain scenario).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Transcript>,
    /// For a matrix scenario: the table and every combination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<MatrixResult>,
    /// For a run with real implementations seated: kmlab's outcomes and each seating's side
    /// by side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seats: Option<SeatComparison>,
}

/// A matrix scenario's combinations and the table comparing them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixResult {
    /// Where the combinations' outcomes differ.
    pub table: MatrixTable,
    /// Every combination, in column order.
    pub cells: Vec<CellResult>,
}

/// One combination of a matrix scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellResult {
    /// The column label.
    pub label: String,
    /// Its settings, `(path, value)`.
    pub settings: Vec<(String, String)>,
    /// Unmet expectations, or why it did not run; empty when it passed.
    pub problems: Vec<String>,
    /// The transcript, if it ran.
    pub transcript: Option<Transcript>,
}

impl ScenarioResult {
    /// Whether the scenario passed.
    pub fn passed(&self) -> bool {
        matches!(self.status, ScenarioStatus::Passed { .. })
    }
}
