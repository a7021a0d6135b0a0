//! The snapshot text of a transcript, and the snapshot files that keep it.
//!
//! Snapshot files use insta's format (a `---` header, then the text), so the test suite
//! asserts them with insta and `kmlab run` compares them itself.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::record::{DetailValue, ExpectationCheck, Record, Transcript};

/// Whether a snapshot was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotState {
    /// It matched.
    Matched,
    /// It was written (`--update`).
    Written,
    /// The scenario is outside a `scenarios/` folder, so there is no snapshot to compare.
    NotApplicable,
}

/// The snapshot text: the header lines, then each record with its details.
pub fn render_snapshot(transcript: &Transcript) -> String {
    render_transcript(transcript, false)
}

/// The snapshot text with each unmet expectation marked `✗` under its record: what a failing
/// scenario recorded, for people (`kmlab run --show-transcript`).
pub fn render_marked(transcript: &Transcript) -> String {
    render_transcript(transcript, true)
}

fn render_transcript(transcript: &Transcript, marked: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "scenario: {}", transcript.scenario);
    let _ = writeln!(out, "title: {}", transcript.title);
    let _ = writeln!(out, "seed: {}", transcript.seed);
    let _ = writeln!(out, "engine: {}", transcript.engine);
    let _ = writeln!(out, "covers: {}", transcript.covers.join(", "));
    for record in &transcript.records {
        out.push('\n');
        out.push_str(&render_record(record, &record.label()));
        if let (true, Some(ExpectationCheck::Unmet(mismatches))) = (marked, &record.expectation) {
            for mismatch in mismatches {
                let _ = writeln!(out, "    ✗ {mismatch}");
            }
        }
    }
    out
}

/// One record as snapshots show it: `[label] action by actor at time: outcome (reason)`, then
/// its details, one per line.
pub fn render_record(record: &Record, label: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "[{label}] {} by {} at {}: {}",
        record.action, record.actor, record.at, record.outcome
    );
    if let Some(reason) = &record.reason {
        let _ = write!(out, " ({reason})");
    }
    out.push('\n');
    // A cross-check's verdicts belong to the run that asked for them, not to the
    // scenario's expected behaviour; disagreements fail the run on their own.
    for detail in record.details.iter().filter(|d| d.key != "cross-check") {
        match &detail.value {
            DetailValue::Text(text) => {
                let _ = writeln!(out, "    {}: {}", detail.key, text.trim_end());
            }
            DetailValue::List(items) if items.is_empty() => {
                let _ = writeln!(out, "    {}: (none)", detail.key);
            }
            DetailValue::List(items) => {
                let _ = writeln!(out, "    {}:", detail.key);
                for item in items {
                    let _ = writeln!(out, "      - {}", item.trim_end());
                }
            }
        }
    }
    out
}

/// A snapshot file in insta's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// The scenario file, relative to the project root.
    pub input_file: String,
    /// The snapshot text.
    pub contents: String,
}

impl SnapshotFile {
    /// Where the snapshot of `scenario_path` lives: `<root>/snapshots/<path under scenarios>.snap`,
    /// where `<root>` is the parent of the nearest `scenarios` folder above the file.
    pub fn location(scenario_path: &Path) -> Option<(PathBuf, PathBuf)> {
        let absolute = std::path::absolute(scenario_path).ok()?;
        let mut relative = Vec::new();
        let mut current = absolute.as_path();
        while let Some(parent) = current.parent() {
            relative.push(current.file_name()?.to_os_string());
            if parent.file_name().is_some_and(|name| name == "scenarios") {
                let root = parent.parent()?.to_path_buf();
                let mut snapshot = root.join("snapshots");
                for part in relative.iter().rev() {
                    snapshot.push(part);
                }
                snapshot.set_extension("snap");
                return Some((root, snapshot));
            }
            current = parent;
        }
        None
    }

    /// Parses a snapshot file; the contents are everything after the second `---` line.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("---\n")?;
        let end = rest.find("\n---\n")?;
        let header = &rest[..end];
        let contents = &rest[end + 5..];
        let input_file = header
            .lines()
            .find_map(|line| line.strip_prefix("input_file: "))
            .unwrap_or_default()
            .to_owned();
        Some(Self {
            input_file,
            contents: contents.to_owned(),
        })
    }

    /// The file text, as insta writes it.
    pub fn to_text(&self) -> String {
        format!(
            "---\nsource: tests/scenarios.rs\nexpression: transcript\ninput_file: {}\n---\n{}",
            self.input_file,
            self.contents.trim_end_matches('\n').to_owned() + "\n"
        )
    }

    /// Whether `contents` equals this snapshot, ignoring trailing line breaks as insta does.
    pub fn matches(&self, contents: &str) -> bool {
        self.contents.trim_end() == contents.trim_end()
    }
}

/// The first line where two snapshot texts differ, as `line N: -old / +new`.
pub fn first_difference(expected: &str, actual: &str) -> Option<String> {
    let mut expected_lines = expected.trim_end().lines();
    let mut actual_lines = actual.trim_end().lines();
    let mut number = 1;
    loop {
        match (expected_lines.next(), actual_lines.next()) {
            (None, None) => return None,
            (left, right) if left == right => number += 1,
            (left, right) => {
                return Some(format!(
                    "line {number}: snapshot has {:?}, run gave {:?}",
                    left.unwrap_or("<end>"),
                    right.unwrap_or("<end>")
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_files_round_trip() {
        let file = SnapshotFile {
            input_file: "scenarios/a.toml".into(),
            contents: "x: 1\n".into(),
        };
        let parsed = SnapshotFile::parse(&file.to_text()).unwrap();
        assert_eq!(parsed.input_file, "scenarios/a.toml");
        assert!(parsed.matches("x: 1"));
        assert!(!parsed.matches("x: 2"));
    }

    #[test]
    fn locates_the_snapshot_beside_the_scenarios_folder() {
        let (root, snapshot) =
            SnapshotFile::location(Path::new("/p/scenarios/basic/one.toml")).unwrap();
        assert_eq!(root, Path::new("/p"));
        assert_eq!(snapshot, Path::new("/p/snapshots/basic/one.snap"));
        assert!(SnapshotFile::location(Path::new("/tmp/one.toml")).is_none());
    }

    #[test]
    fn reports_the_first_differing_line() {
        assert_eq!(first_difference("a\nb\n", "a\nb"), None);
        assert_eq!(
            first_difference("a\nb\n", "a\nc\n").as_deref(),
            Some("line 2: snapshot has \"b\", run gave \"c\"")
        );
    }
}
