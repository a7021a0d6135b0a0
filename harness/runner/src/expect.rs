//! Checking a step's `expect` against its record.

use report::{DetailValue, ExpectationCheck, Record};
use scenario::Expectation;

/// Compares what was expected with what was recorded.
pub(crate) fn check(expectation: &Expectation, record: &Record) -> ExpectationCheck {
    let mut mismatches = Vec::new();
    if let Some(outcome) = &expectation.outcome {
        if *outcome != record.outcome {
            let reason = record
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            mismatches.push(format!(
                "expected outcome {outcome}, got {}{reason}",
                record.outcome
            ));
        }
    }
    if let Some(reason) = &expectation.reason {
        if record.reason.as_deref() != Some(reason) {
            mismatches.push(format!(
                "expected reason {reason}, got {}",
                record.reason.as_deref().unwrap_or("none")
            ));
        }
    }
    for (key, expected) in &expectation.details {
        match record.detail(key) {
            Some(detail) if detail.matches(expected) => {}
            Some(detail) => {
                let got = match &detail.value {
                    DetailValue::Text(text) => text.clone(),
                    DetailValue::List(items) => items.join(" | "),
                };
                mismatches.push(format!("expected {key} = {expected:?}, got {got:?}"));
            }
            None => mismatches.push(format!(
                "expected {key} = {expected:?}, but the step recorded no {key}"
            )),
        }
    }
    if mismatches.is_empty() {
        ExpectationCheck::Met
    } else {
        ExpectationCheck::Unmet(mismatches)
    }
}
