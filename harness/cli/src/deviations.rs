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
        let entries = read_entries(
            path,
            &[
                ("scenario", Kind::Text, true),
                ("step", Kind::Step, true),
                ("reason", Kind::Text, true),
            ],
        )?
        .into_iter()
        .map(|mut entry| Deviation {
            scenario: entry.text("scenario"),
            step: entry
                .steps("step")
                .and_then(|steps| steps.first().copied())
                .unwrap_or_default(),
            reason: entry.text("reason"),
        })
        .collect();
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

/// What a key of a `[[deviation]]` table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string.
    Text,
    /// One step number.
    Step,
    /// A table of scenarios, each with its step numbers (an array, or `"*"`).
    ScenarioSteps,
}

/// A key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    /// `None`: every step.
    Steps(Option<Vec<usize>>),
    /// Scenarios in file order, each with its steps (`None`: every step).
    ScenarioSteps(Vec<(String, Option<Vec<usize>>)>),
}

/// One `[[deviation]]` table, its keys checked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entry {
    values: std::collections::BTreeMap<String, Value>,
}

impl Entry {
    /// A text key's value (empty when an optional key is absent).
    pub(crate) fn text(&mut self, key: &str) -> String {
        match self.values.remove(key) {
            Some(Value::Text(text)) => text,
            _ => String::new(),
        }
    }

    /// A text key's value, if present.
    pub(crate) fn optional_text(&mut self, key: &str) -> Option<String> {
        match self.values.remove(key) {
            Some(Value::Text(text)) => Some(text),
            _ => None,
        }
    }

    /// A steps key's numbers; `None` for `"*"` (every step) or an absent key.
    pub(crate) fn steps(&mut self, key: &str) -> Option<Vec<usize>> {
        match self.values.remove(key) {
            Some(Value::Steps(steps)) => steps,
            _ => None,
        }
    }

    /// A scenario-steps key's scenarios with their steps, in file order.
    pub(crate) fn scenario_steps(&mut self, key: &str) -> Vec<(String, Option<Vec<usize>>)> {
        match self.values.remove(key) {
            Some(Value::ScenarioSteps(scenarios)) => scenarios,
            _ => Vec::new(),
        }
    }
}

/// Reads the `[[deviation]]` tables of `path`, each with exactly the keys `keys` allows
/// (`(name, kind, required)`); every problem is reported at its line and column.
pub(crate) fn read_entries(path: &Path, keys: &[(&str, Kind, bool)]) -> anyhow::Result<Vec<Entry>> {
    let source =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
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
            let mut entry = Entry::default();
            for &(key, kind, required) in keys {
                let Some((_, mut value)) = table.remove_entry(key) else {
                    if required {
                        bail!("{}: [[deviation]] needs `{key}`", at(item_span.start));
                    }
                    continue;
                };
                let span = value.span;
                let wrong = || anyhow::anyhow!("{}: `{key}` has the wrong type", at(span.start));
                let step = |value: ValueInner<'_>| match value {
                    ValueInner::Integer(n) => usize::try_from(n).ok(),
                    ValueInner::String(s) => s.parse().ok(),
                    _ => None,
                };
                // Step numbers, or `"*"` (`None`) for every step.
                let steps = |mut value: toml_span::Value<'_>, what: &str| {
                    let span = value.span;
                    match value.take() {
                        ValueInner::String(s) if s == "*" => Ok(None),
                        ValueInner::Array(items) => {
                            let mut steps = Vec::new();
                            for mut item in items {
                                let item_span = item.span;
                                match step(item.take()) {
                                    Some(n) => steps.push(n),
                                    None => bail!(
                                        "{}: {what} must hold step numbers",
                                        at(item_span.start)
                                    ),
                                }
                            }
                            Ok(Some(steps))
                        }
                        _ => bail!(
                            "{}: {what} must be a list of step numbers or \"*\"",
                            at(span.start)
                        ),
                    }
                };
                let parsed = match kind {
                    Kind::Text => match value.take() {
                        ValueInner::String(s) => Value::Text(s.into_owned()),
                        _ => return Err(wrong()),
                    },
                    Kind::Step => match step(value.take()) {
                        Some(n) => Value::Steps(Some(vec![n])),
                        None => bail!("{}: `{key}` must be a step number", at(span.start)),
                    },
                    Kind::ScenarioSteps => {
                        let ValueInner::Table(scenarios) = value.take() else {
                            bail!(
                                "{}: `{key}` must be a table of scenarios, each with its step numbers",
                                at(span.start)
                            );
                        };
                        let mut listed = Vec::new();
                        for (scenario, value) in scenarios {
                            let what = format!("`{key}.\"{}\"`", scenario.name);
                            listed.push((scenario.name.into_owned(), steps(value, &what)?));
                        }
                        Value::ScenarioSteps(listed)
                    }
                };
                entry.values.insert(key.to_owned(), parsed);
            }
            if let Some((key, _)) = table.into_iter().next() {
                bail!("{}: unknown key `{}`", at(key.span.start), key.name);
            }
            entries.push(entry);
        }
    }
    if let Some((key, _)) = top.into_iter().next() {
        bail!("{}: unknown key `{}`", at(key.span.start), key.name);
    }
    Ok(entries)
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
