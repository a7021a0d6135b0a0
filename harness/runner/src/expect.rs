//! Checking a step's `expect` against its record.

use report::{DetailValue, ExpectationCheck, Record};
use scenario::{Expectation, Unexpected};

/// Compares what was expected with what was recorded.
pub(crate) fn check(expectation: &Expectation, record: &Record) -> ExpectationCheck {
    let mut mismatches = Vec::new();
    let reason = || {
        record
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    };
    if let Some(outcome) = &expectation.outcome {
        if !outcome.covers(&record.outcome) {
            mismatches.push(format!(
                "expected outcome {outcome}, got {}{}",
                record.outcome,
                reason()
            ));
        }
    }
    if let Some(expected) = &expectation.reason {
        if record.reason.as_deref() != Some(expected) {
            mismatches.push(format!(
                "expected reason {expected}, got {}",
                record.reason.as_deref().unwrap_or("none")
            ));
        }
    }
    for (key, expected) in &expectation.details {
        match record.detail(key) {
            Some(detail) if detail.matches(expected) => {}
            Some(detail) => {
                mismatches.push(format!(
                    "expected {key} = {expected:?}, got {:?}",
                    shown(&detail.value)
                ));
            }
            None => mismatches.push(format!(
                "expected {key} = {expected:?}, but the step recorded no {key}"
            )),
        }
    }
    for unexpected in &expectation.not {
        match unexpected {
            Unexpected::Outcome(outcome) if outcome.covers(&record.outcome) => {
                mismatches.push(format!(
                    "expected an outcome other than {outcome}, got {}{}",
                    record.outcome,
                    reason()
                ));
            }
            Unexpected::Reason(unwanted) if record.reason.as_deref() == Some(unwanted) => {
                mismatches.push(format!("expected a reason other than {unwanted}, got it"));
            }
            // A detail the step did not record does not show the value either.
            Unexpected::Detail(key, unwanted) => {
                if let Some(detail) = record.detail(key).filter(|d| d.matches(unwanted)) {
                    mismatches.push(format!(
                        "expected {key} not to be or include {unwanted:?}, got {:?}",
                        shown(&detail.value)
                    ));
                }
            }
            Unexpected::Outcome(_) | Unexpected::Reason(_) => {}
        }
    }
    if mismatches.is_empty() {
        ExpectationCheck::Met
    } else {
        ExpectationCheck::Unmet(mismatches)
    }
}

/// A detail's value in one line, for a mismatch.
fn shown(value: &DetailValue) -> String {
    match value {
        DetailValue::Text(text) => text.clone(),
        DetailValue::List(items) => items.join(" | "),
    }
}

#[cfg(test)]
mod tests {
    use model::{Outcome, Timestamp};
    use report::Detail;

    use super::*;

    fn crl_record() -> Record {
        let mut record = Record::new(Timestamp::from_unix(0), "admin@CA1", "publish-crl");
        record.outcome = Outcome::Error(Some("c1031dab".to_owned()));
        record.reason = Some("ca-host-name".to_owned());
        record.details.push(Detail::list(
            "revoked",
            vec!["alice enc#1".to_owned(), "bob sign#1".to_owned()],
        ));
        record
    }

    fn unmet(expectation: &Expectation) -> Vec<String> {
        match check(expectation, &crl_record()) {
            ExpectationCheck::Met => Vec::new(),
            ExpectationCheck::Unmet(mismatches) => mismatches,
        }
    }

    #[test]
    fn a_bare_error_matches_an_error_with_an_identifier() {
        let error = |text: &str| Expectation {
            outcome: Some(text.parse().unwrap()),
            ..Expectation::default()
        };
        assert!(unmet(&error("error")).is_empty());
        assert!(unmet(&error("error c1031dab")).is_empty());
        assert_eq!(
            unmet(&error("error c1031daf")),
            ["expected outcome error c1031daf, got error c1031dab (ca-host-name)"]
        );
    }

    #[test]
    fn what_must_not_show_fails_only_when_it_shows() {
        let not = |unexpected: Vec<Unexpected>| Expectation {
            not: unexpected,
            ..Expectation::default()
        };
        // Nothing ruled out is there.
        assert!(
            unmet(&not(vec![
                Unexpected::Outcome(Outcome::Ok),
                Unexpected::Reason("ca-name".to_owned()),
                Unexpected::Detail("revoked".to_owned(), "xena enc#1".to_owned()),
                Unexpected::Detail("crl-number".to_owned(), "1".to_owned()),
            ]))
            .is_empty()
        );
        // Each one that is there is named.
        assert_eq!(
            unmet(&not(vec![
                Unexpected::Outcome(Outcome::Error(None)),
                Unexpected::Reason("ca-host-name".to_owned()),
                Unexpected::Detail("revoked".to_owned(), "bob sign#1".to_owned()),
            ])),
            [
                "expected an outcome other than error, got error c1031dab (ca-host-name)",
                "expected a reason other than ca-host-name, got it",
                "expected revoked not to be or include \"bob sign#1\", got \"alice enc#1 | bob sign#1\"",
            ]
        );
    }
}
