//! Transcripts and how they are shown.
//!
//! A run produces one [`Record`] per step; the records of a scenario are its [`Transcript`].
//! This crate renders transcripts as the snapshot text (what `snapshots/` keeps), as
//! versioned JSON and, for whole runs, as JUnit XML. It only reads records: nothing here
//! runs a scenario.

pub mod explain;
mod html;
mod junit;
mod matrix;
mod record;
mod result;
mod seats;
mod snapshot;

pub use html::{render_html, render_matrix_html};
pub use junit::junit;
pub use matrix::{
    Cell, Column, MATRIX_SCHEMA, MatrixTable, Row, VERDICT_DETAILS, column_labels, matrix_json,
    matrix_table, matrix_table_by, render_markdown,
};
pub use record::{Detail, DetailValue, ExpectationCheck, Flow, Record, Transcript};
pub use result::{CellResult, MatrixResult, ScenarioResult, ScenarioStatus};
pub use seats::{
    KMLAB_COLUMN, SeatComparison, SeatCounts, SeatResult, StepDifference, compare, seat_table,
};
pub use snapshot::{
    SnapshotFile, SnapshotState, first_difference, render_marked, render_record, render_snapshot,
};

/// The identifier of the JSON transcript format, bumped on incompatible changes.
pub const TRANSCRIPT_SCHEMA: &str = "kmlab-transcript/1";

/// The transcript as pretty-printed JSON, with its schema identifier.
pub fn transcript_json(transcript: &Transcript) -> String {
    let value = serde_json::json!({
        "schema": TRANSCRIPT_SCHEMA,
        "transcript": transcript,
    });
    // Serialising plain data with string keys cannot fail.
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// A whole run as JSON: one entry per scenario.
pub fn run_json(results: &[ScenarioResult]) -> String {
    let value = serde_json::json!({
        "schema": "kmlab-run/1",
        "scenarios": results,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

/// `text` made safe inside XML and HTML text and attribute values; control characters other
/// than line breaks and tabs become character references.
pub(crate) fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = std::fmt::Write::write_fmt(&mut out, format_args!("&#x{:x};", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}
