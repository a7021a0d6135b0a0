//! Matrix tables: one scenario under every combination of settings, and where the
//! combinations' outcomes part.
//!
//! Steps are compared by outcome and reason, the verdict a reader acts on; details such as
//! serial numbers and validity dates follow from the settings and are left to each cell's
//! transcript. A row is kept for each step whose outcome differs between combinations; runs
//! of steps on which every combination agrees are folded into one line.

use std::fmt::Write as _;

use serde::Serialize;

use crate::record::{DetailValue, Record, Transcript};

/// One combination of settings: a column of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// A short label: the settings' values, keyed by as little of each path as tells the
    /// axes apart.
    pub label: String,
    /// Every setting of the combination, `(path, value)`, in axis order.
    pub settings: Vec<(String, String)>,
}

/// What one combination did at one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// `ok`, `warning`, `error c1031daf` …
    pub outcome: String,
    /// The reason word, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The verdict details compared besides the outcome (empty for a settings matrix, which
    /// compares outcomes only), `(key, value)`.
    #[serde(skip)]
    pub facts: Vec<(String, String)>,
    /// The verdict details in which this cell differs from the table's first column.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub differs: Vec<String>,
}

/// The details of a step that carry a verdict about a message: what was signed and
/// encrypted, for whom and how, which key opened it, what the signature and the reader's
/// policy say, the content reached. Comparing implementations compares these along with the
/// outcome; a detail whose key starts with `matrix ` (the interoperability table) counts too.
pub const VERDICT_DETAILS: &[&str] = &[
    "signed",
    "cipher",
    "recipients",
    "layers",
    "decrypted-with",
    "signature",
    "signer",
    "digest",
    "policy",
    "chain",
    "chain-at-signing",
    "body",
];

impl Cell {
    /// A record's outcome and reason.
    pub fn of(record: &Record) -> Self {
        Self {
            outcome: record.outcome.to_string(),
            reason: record.reason.clone(),
            facts: Vec::new(),
            differs: Vec::new(),
        }
    }

    /// A record's outcome and reason with its verdict details ([`VERDICT_DETAILS`]).
    pub fn verdict(record: &Record) -> Self {
        let facts = record
            .details
            .iter()
            .filter(|detail| {
                VERDICT_DETAILS.contains(&detail.key.as_str()) || detail.key.starts_with("matrix ")
            })
            .map(|detail| {
                let value = match &detail.value {
                    DetailValue::Text(text) => text.clone(),
                    DetailValue::List(items) => items.join("; "),
                };
                (detail.key.clone(), value)
            })
            .collect();
        Self {
            facts,
            ..Self::of(record)
        }
    }

    /// `outcome (reason)`, then any verdict details that differ from the first column.
    pub fn text(&self) -> String {
        let mut text = match &self.reason {
            Some(reason) => format!("{} ({reason})", self.outcome),
            None => self.outcome.clone(),
        };
        if !self.differs.is_empty() {
            text.push_str(&format!(" [{}]", self.differs.join("; ")));
        }
        text
    }

    /// The verdict details in which this cell differs from `other`, as `key: value`.
    pub fn differences_from(&self, other: &Self) -> Vec<String> {
        let value = |cell: &Self, key: &str| {
            cell.facts
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let mut keys: Vec<&str> = Vec::new();
        for (key, _) in self.facts.iter().chain(&other.facts) {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
        keys.into_iter()
            .filter(|key| value(self, key) != value(other, key))
            .map(|key| format!("{key}: {}", value(self, key).unwrap_or_else(|| "—".into())))
            .collect()
    }
}

/// A row of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Row {
    /// A step whose outcome differs between combinations: one cell per column (none where
    /// that combination did not run or has no such step).
    Differs {
        /// `[6] enable-v3 by admin@KM1`.
        step: String,
        /// The scenario file's line of the step (0 for the setup).
        line: usize,
        /// One cell per column.
        cells: Vec<Option<Cell>>,
    },
    /// Consecutive steps on which every combination agrees.
    Same {
        /// The first step's label.
        first: String,
        /// The last step's label.
        last: String,
        /// How many steps.
        count: usize,
    },
}

/// Where one scenario's outcomes differ across combinations of settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixTable {
    /// The scenario identifier.
    pub scenario: String,
    /// Its title.
    pub title: String,
    /// The settings varied, in axis order, each with its values.
    pub axes: Vec<(String, Vec<String>)>,
    /// One column per combination.
    pub columns: Vec<Column>,
    /// The rows, in step order.
    pub rows: Vec<Row>,
}

impl MatrixTable {
    /// The steps that differ.
    pub fn differing(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|row| matches!(row, Row::Differs { .. }))
    }
}

/// Short column labels: each value prefixed by the shortest tail of its path that no other
/// axis shares.
pub fn column_labels(axes: &[String], combinations: &[Vec<String>]) -> Vec<String> {
    let names: Vec<String> = axes
        .iter()
        .map(|axis| {
            let parts: Vec<&str> = axis.split('.').collect();
            (1..=parts.len())
                .map(|take| parts[parts.len() - take..].join("."))
                .find(|tail| {
                    axes.iter()
                        .filter(|other| *other == axis || other.ends_with(&format!(".{tail}")))
                        .count()
                        == 1
                })
                .unwrap_or_else(|| axis.clone())
        })
        .collect();
    combinations
        .iter()
        .map(|values| {
            names
                .iter()
                .zip(values)
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
}

/// Builds the table from each column's transcript (`None` where the combination could not
/// run), comparing steps by outcome and reason.
pub fn matrix_table(
    scenario: &str,
    title: &str,
    axes: Vec<(String, Vec<String>)>,
    columns: Vec<Column>,
    transcripts: &[Option<&Transcript>],
) -> MatrixTable {
    matrix_table_by(scenario, title, axes, columns, transcripts, Cell::of)
}

/// Builds the table comparing steps by what `cell` makes of each record.
pub fn matrix_table_by(
    scenario: &str,
    title: &str,
    axes: Vec<(String, Vec<String>)>,
    columns: Vec<Column>,
    transcripts: &[Option<&Transcript>],
    cell: impl Fn(&Record) -> Cell,
) -> MatrixTable {
    let length = transcripts
        .iter()
        .flatten()
        .map(|transcript| transcript.records.len())
        .max()
        .unwrap_or(0);
    let mut rows = Vec::new();
    let mut same: Option<(String, String, usize)> = None;
    for index in 0..length {
        let records: Vec<Option<&Record>> = transcripts
            .iter()
            .map(|transcript| transcript.and_then(|t| t.records.get(index)))
            .collect();
        let Some(first) = records.iter().flatten().next() else {
            continue;
        };
        let label = step_label(first);
        let mut cells: Vec<Option<Cell>> = records.iter().map(|r| r.map(&cell)).collect();
        let agree = cells.iter().all(|cell| cell.is_some() && *cell == cells[0]);
        if agree {
            same = Some(match same.take() {
                Some((start, _, count)) => (start, label, count + 1),
                None => (label.clone(), label, 1),
            });
        } else {
            if let Some((first, last, count)) = same.take() {
                rows.push(Row::Same { first, last, count });
            }
            if let Some(Some(base)) = cells.first().cloned() {
                for other in cells.iter_mut().skip(1).flatten() {
                    other.differs = other.differences_from(&base);
                }
            }
            rows.push(Row::Differs {
                step: label,
                line: first.line,
                cells,
            });
        }
    }
    if let Some((first, last, count)) = same {
        rows.push(Row::Same { first, last, count });
    }
    MatrixTable {
        scenario: scenario.to_owned(),
        title: title.to_owned(),
        axes,
        columns,
        rows,
    }
}

pub(crate) fn step_label(record: &Record) -> String {
    format!("[{}] {} by {}", record.label(), record.action, record.actor)
}

/// The table as Markdown: what `kmlab matrix` prints and a matrix scenario's snapshot holds.
pub fn render_markdown(table: &MatrixTable) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "matrix: {}", table.scenario);
    let _ = writeln!(out, "title: {}", table.title);
    for (key, values) in &table.axes {
        let _ = writeln!(out, "vary: {key} = {}", values.join(", "));
    }
    let differing = table.differing().count();
    let _ = writeln!(
        out,
        "{} combinations; {differing} step{} differ{}",
        table.columns.len(),
        if differing == 1 { "" } else { "s" },
        if differing == 1 { "s" } else { "" }
    );
    out.push('\n');
    let _ = write!(out, "| step |");
    for column in &table.columns {
        let _ = write!(out, " {} |", cell_markdown(&column.label));
    }
    out.push('\n');
    out.push_str("|---|");
    out.push_str(&"---|".repeat(table.columns.len()));
    out.push('\n');
    for row in &table.rows {
        match row {
            Row::Differs { step, cells, .. } => {
                let _ = write!(out, "| {} |", cell_markdown(step));
                for cell in cells {
                    let text = cell.as_ref().map_or_else(|| "—".to_owned(), Cell::text);
                    let _ = write!(out, " {} |", cell_markdown(&text));
                }
                out.push('\n');
            }
            Row::Same { first, last, count } => {
                let span = if count == &1 {
                    first.clone()
                } else {
                    format!("{first} … {last}")
                };
                let _ = write!(
                    out,
                    "| {} |",
                    cell_markdown(&format!(
                        "{count} step{} alike: {span}",
                        if *count == 1 { "" } else { "s" }
                    ))
                );
                out.push_str(&" ≡ |".repeat(table.columns.len()));
                out.push('\n');
            }
        }
    }
    out
}

fn cell_markdown(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The identifier of the matrix JSON format, bumped on incompatible changes.
pub const MATRIX_SCHEMA: &str = "kmlab-matrix/1";

/// The table as versioned JSON.
pub fn matrix_json(table: &MatrixTable) -> String {
    let value = serde_json::json!({
        "schema": MATRIX_SCHEMA,
        "matrix": table,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use model::{Outcome, Timestamp};

    use super::*;

    fn transcript(outcomes: &[(Outcome, Option<&str>)]) -> Transcript {
        Transcript {
            scenario: "s".into(),
            title: "t".into(),
            seed: 1,
            engine: "rustcrypto".into(),
            covers: Vec::new(),
            records: outcomes
                .iter()
                .enumerate()
                .map(|(index, (outcome, reason))| Record {
                    step: index + 1,
                    line: 10 + index,
                    at: Timestamp::from_unix(0),
                    actor: "alice".into(),
                    action: "read".into(),
                    outcome: outcome.clone(),
                    reason: reason.map(str::to_owned),
                    details: Vec::new(),
                    expectation: None,
                    flow: None,
                })
                .collect(),
            disagreements: Vec::new(),
        }
    }

    #[test]
    fn only_differing_steps_get_rows_and_agreeing_runs_fold() {
        let a = transcript(&[
            (Outcome::Ok, None),
            (Outcome::Ok, None),
            (Outcome::Ok, None),
            (Outcome::Warning, Some("w")),
        ]);
        let b = transcript(&[
            (Outcome::Ok, None),
            (Outcome::Ok, None),
            (Outcome::Ok, None),
            (Outcome::Error(None), Some("e")),
        ]);
        let columns = vec![
            Column {
                label: "x=1".into(),
                settings: vec![("x".into(), "1".into())],
            },
            Column {
                label: "x=2".into(),
                settings: vec![("x".into(), "2".into())],
            },
        ];
        let table = matrix_table(
            "s",
            "t",
            vec![("x".into(), vec!["1".into(), "2".into()])],
            columns,
            &[Some(&a), Some(&b)],
        );
        assert_eq!(table.rows.len(), 2);
        assert!(matches!(&table.rows[0], Row::Same { count: 3, .. }));
        let Row::Differs { step, cells, .. } = &table.rows[1] else {
            panic!("{:?}", table.rows[1]);
        };
        assert_eq!(step, "[4] read by alice");
        assert_eq!(
            cells[0].as_ref().map(Cell::text).as_deref(),
            Some("warning (w)")
        );
        assert_eq!(
            cells[1].as_ref().map(Cell::text).as_deref(),
            Some("error (e)")
        );
        let markdown = render_markdown(&table);
        assert!(markdown.contains("| [4] read by alice | warning (w) | error (e) |"));
        assert!(markdown.contains("3 steps alike"));
    }

    #[test]
    fn a_combination_that_did_not_run_differs_everywhere() {
        let a = transcript(&[(Outcome::Ok, None)]);
        let columns = vec![
            Column {
                label: "a".into(),
                settings: Vec::new(),
            },
            Column {
                label: "b".into(),
                settings: Vec::new(),
            },
        ];
        let table = matrix_table("s", "t", Vec::new(), columns, &[Some(&a), None]);
        assert!(matches!(&table.rows[0], Row::Differs { cells, .. } if cells[1].is_none()));
    }

    #[test]
    fn labels_use_the_shortest_distinct_tail() {
        let axes = vec![
            "ca.ExchCA.validity_units".to_owned(),
            "km.KM1.mode".to_owned(),
            "km.KM2.mode".to_owned(),
        ];
        let labels = column_labels(
            &axes,
            &[vec!["1".into(), "v3-only".into(), "v1-and-v3".into()]],
        );
        assert_eq!(
            labels,
            ["validity_units=1, KM1.mode=v3-only, KM2.mode=v1-and-v3"]
        );
    }
}
