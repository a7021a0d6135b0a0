//! The known-deviations file: engine disagreements that are understood, each with its reason.
//!
//! A cross-checked run fails on any disagreement between the engines unless this file lists
//! it, and fails just as loudly when a listed disagreement no longer happens, so the list
//! cannot go stale.
//!
//! ```toml
//! [[deviation]]
//! scenario = "messaging/some-scenario"
//! step = 12
//! reason = "why the engines judge this message differently"
//! ```

use std::path::{Path, PathBuf};

use anyhow::bail;
use toml_span::value::ValueInner;

/// One listed deviation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deviation {
    pub(crate) scenario: String,
    pub(crate) step: usize,
    pub(crate) reason: String,
}

/// The listed deviations and the file they came from.
#[derive(Debug, Clone, Default)]
pub(crate) struct KnownDeviations {
    pub(crate) path: Option<PathBuf>,
    pub(crate) entries: Vec<Deviation>,
}

impl KnownDeviations {
    /// Reads `path`; every problem is reported at its line and column.
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let source = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let at = |offset: usize| {
            let location = scenario::locate(&source, offset);
            format!("{}:{}:{}", path.display(), location.line, location.column)
        };
        let mut root = match toml_span::parse(&source) {
            Ok(root) => root,
            Err(error) => bail!("{}: not valid TOML: {}", at(error.span.start), error.kind),
        };
        let root_span = root.span;
        let ValueInner::Table(mut top) = root.take() else {
            bail!("{}: expected a table", at(root_span.start));
        };
        let mut entries = Vec::new();
        if let Some((_, mut list)) = top.remove_entry("deviation") {
            let list_span = list.span;
            let ValueInner::Array(items) = list.take() else {
                bail!(
                    "{}: `deviation` must be an array of tables",
                    at(list_span.start)
                );
            };
            for mut item in items {
                let item_span = item.span;
                let ValueInner::Table(mut table) = item.take() else {
                    bail!(
                        "{}: each [[deviation]] must be a table",
                        at(item_span.start)
                    );
                };
                let mut text = |key: &str| -> anyhow::Result<String> {
                    match table.remove_entry(key).map(|(_, mut v)| (v.span, v.take())) {
                        Some((_, ValueInner::String(s))) => Ok(s.into_owned()),
                        Some((_, ValueInner::Integer(n))) => Ok(n.to_string()),
                        Some((span, _)) => bail!("{}: `{key}` has the wrong type", at(span.start)),
                        None => bail!("{}: [[deviation]] needs `{key}`", at(item_span.start)),
                    }
                };
                let scenario = text("scenario")?;
                let step = text("step")?;
                let reason = text("reason")?;
                let Ok(step) = step.parse() else {
                    bail!("{}: `step` must be a step number", at(item_span.start));
                };
                if let Some((key, _)) = table.into_iter().next() {
                    bail!("{}: unknown key `{}`", at(key.span.start), key.name);
                }
                entries.push(Deviation {
                    scenario,
                    step,
                    reason,
                });
            }
        }
        if let Some((key, _)) = top.into_iter().next() {
            bail!("{}: unknown key `{}`", at(key.span.start), key.name);
        }
        Ok(Self {
            path: Some(path.to_path_buf()),
            entries,
        })
    }

    /// The failures a cross-checked scenario's disagreements add up to: every unlisted
    /// disagreement, and every listed one that did not happen.
    pub(crate) fn judge(&self, scenario: &str, disagreements: &[String]) -> Vec<String> {
        let file = self
            .path
            .as_ref()
            .map_or("the known-deviations file".to_owned(), |p| {
                p.display().to_string()
            });
        let step_of = |line: &str| -> Option<usize> {
            line.strip_prefix("step ")?.split(' ').next()?.parse().ok()
        };
        let listed = |step: usize| {
            self.entries
                .iter()
                .find(|entry| entry.scenario == scenario && entry.step == step)
        };
        let mut failures: Vec<String> = disagreements
            .iter()
            .filter(|line| step_of(line).and_then(listed).is_none())
            .map(|line| format!("cross-check: {line}"))
            .collect();
        for entry in self
            .entries
            .iter()
            .filter(|entry| entry.scenario == scenario)
        {
            let happened = disagreements
                .iter()
                .any(|line| step_of(line) == Some(entry.step));
            if !happened {
                failures.push(format!(
                    "cross-check: step {} was listed in {file} as a known deviation ({}), but the engines agree; remove the entry",
                    entry.step, entry.reason
                ));
            }
        }
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_disagreements_and_unexpected_agreements_both_fail() {
        let known = KnownDeviations {
            path: None,
            entries: vec![Deviation {
                scenario: "a".into(),
                step: 3,
                reason: "known".into(),
            }],
        };
        let listed = ["step 3 (line 9) read: the engines disagree: x".to_owned()];
        assert!(known.judge("a", &listed).is_empty());
        let unlisted = ["step 4 (line 12) read: the engines disagree: y".to_owned()];
        let failures = known.judge("a", &unlisted);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].contains("step 4"));
        assert!(failures[1].contains("but the engines agree"));
        assert!(known.judge("b", &[]).is_empty());
    }

    #[test]
    fn a_bad_file_is_reported_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("known.toml");
        std::fs::write(
            &path,
            "[[deviation]]\nscenario = \"a\"\nstep = 1\nreason = \"r\"\ncolour = 1\n",
        )
        .unwrap();
        let error = KnownDeviations::load(&path).unwrap_err().to_string();
        assert!(
            error.ends_with("known.toml:5:1: unknown key `colour`"),
            "{error}"
        );
    }
}
