//! Records and transcripts: what one scenario run recorded, step by step.

use model::{Outcome, Timestamp};
use serde::Serialize;

/// A value in a record's details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum DetailValue {
    /// One line of text.
    Text(String),
    /// Several items, shown as a list.
    List(Vec<String>),
}

/// One named fact about a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Detail {
    /// The name, in kebab case (`decrypted-with`).
    pub key: String,
    /// The value.
    pub value: DetailValue,
}

impl Detail {
    /// A one-line detail.
    pub fn text(key: &str, value: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: DetailValue::Text(value.into()),
        }
    }

    /// A list detail.
    pub fn list(key: &str, items: Vec<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: DetailValue::List(items),
        }
    }

    /// Whether `expected` matches: the text, or one item of a list (`(none)` for an empty
    /// list), equals it or begins with it and a space, so that `xena` matches
    /// `xena sign#1 (serial …)` but not `xenakis enc#1`.
    pub fn matches(&self, expected: &str) -> bool {
        let begins = |value: &str| {
            value == expected
                || value
                    .strip_prefix(expected)
                    .is_some_and(|rest| rest.starts_with(' '))
        };
        match &self.value {
            DetailValue::Text(text) => begins(text),
            // An empty list is shown as "(none)" and matched as such.
            DetailValue::List(items) if items.is_empty() => expected == "(none)",
            DetailValue::List(items) => items.iter().any(|item| begins(item)),
        }
    }
}

/// Whether a step's expectation held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "result", content = "mismatches")]
pub enum ExpectationCheck {
    /// Everything expected was recorded.
    Met,
    /// What differed, one line each.
    Unmet(Vec<String>),
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// The step's number, from 1; 0 for what installing the topology recorded.
    pub step: usize,
    /// The line of the step in the scenario file.
    pub line: usize,
    /// The virtual time when it ran.
    pub at: Timestamp,
    /// Who acted: `alice`, `admin@KM1`, `smtp-client`.
    pub actor: String,
    /// The action.
    pub action: String,
    /// What came of it.
    pub outcome: Outcome,
    /// Why, as a stable word, when there is more to say than the outcome.
    pub reason: Option<String>,
    /// Named facts, in a fixed order per action.
    pub details: Vec<Detail>,
    /// The result of the step's `expect`, if it had one.
    pub expectation: Option<ExpectationCheck>,
    /// Between whom the step passed, for message-flow diagrams; `None` for a step that
    /// involves no one but its actor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<Flow>,
}

/// The two parties of a step: users by name, KM servers, CAs, hosts, `admin` and `sink`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// Where it starts.
    pub from: String,
    /// Where it ends.
    pub to: String,
}

impl Flow {
    /// A flow from `from` to `to`.
    pub fn new(from: impl Into<String>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
        }
    }
}

impl Record {
    /// A record of `actor` doing `action` at `at`: outcome ok, no details yet. The runner
    /// numbers it when its step is done.
    pub fn new(at: Timestamp, actor: impl Into<String>, action: &str) -> Self {
        Self {
            step: 0,
            line: 0,
            at,
            actor: actor.into(),
            action: action.to_owned(),
            outcome: Outcome::Ok,
            reason: None,
            details: Vec::new(),
            expectation: None,
            flow: None,
        }
    }

    /// Makes the record a warning for `reason`.
    pub fn warn(&mut self, reason: impl Into<String>) {
        self.outcome = Outcome::Warning;
        self.reason = Some(reason.into());
    }

    /// `setup` for what installing the topology recorded, else the step number.
    pub fn label(&self) -> String {
        if self.step == 0 {
            "setup".to_owned()
        } else {
            self.step.to_string()
        }
    }

    /// The detail named `key`.
    pub fn detail(&self, key: &str) -> Option<&Detail> {
        self.details.iter().find(|detail| detail.key == key)
    }
}

/// Everything one scenario run recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transcript {
    /// The scenario identifier (its path under `scenarios/` without `.toml`).
    pub scenario: String,
    /// Its title.
    pub title: String,
    /// The seed it ran with.
    pub seed: u64,
    /// The engine that built messages.
    pub engine: String,
    /// The rule IDs it covers.
    pub covers: Vec<String>,
    /// One record per step.
    pub records: Vec<Record>,
    /// Steps whose cross-checking engine judged a message differently (empty when the run
    /// did not cross-check or the engines agreed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<String>,
}

impl Transcript {
    /// Every unmet expectation, as `step N (line L): …`.
    pub fn unmet_expectations(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|record| match &record.expectation {
                Some(ExpectationCheck::Unmet(mismatches)) => Some(
                    mismatches
                        .iter()
                        .map(|m| {
                            format!(
                                "step {} (line {}) {}: {m}",
                                record.step, record.line, record.action
                            )
                        })
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expected_detail_matches_the_value_or_its_first_words() {
        let revoked = Detail::list(
            "revoked",
            vec![
                "KM1 (serial 5202ffc0000000000002, revoked 2001-03-01T09:00:00Z)".to_owned(),
                "alice enc#10 (serial 7a634eb1000000000004)".to_owned(),
            ],
        );
        assert!(revoked.matches("KM1"));
        assert!(revoked.matches("alice enc#10"));
        assert!(!revoked.matches("alice enc#1"));
        assert!(!revoked.matches("alic"));
        assert!(!revoked.matches("(none)"));
        assert!(Detail::list("revoked", Vec::new()).matches("(none)"));
        let generation = Detail::text("generation", "12");
        assert!(generation.matches("12"));
        assert!(!generation.matches("1"));
    }
}
