//! The outcome of a step: the first thing every transcript record says.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// What came of a step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It worked.
    Ok,
    /// It worked, and there is something worth knowing (not a problem).
    Info,
    /// It worked, but the product would warn.
    Warning,
    /// It was refused, as the product refuses (a wrong token, a denied request).
    Refused,
    /// It failed, with the product's error identifier if it has one (`c1031daf`).
    Error(Option<String>),
}

impl Outcome {
    /// Whether this outcome, written in an expectation, covers `recorded`: the same outcome,
    /// or a bare `error` for an error with any identifier (`error` covers `error c1031dab`).
    pub fn covers(&self, recorded: &Self) -> bool {
        self == recorded || (*self == Self::Error(None) && matches!(recorded, Self::Error(_)))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Info => f.write_str("info"),
            Self::Warning => f.write_str("warning"),
            Self::Refused => f.write_str("refused"),
            Self::Error(None) => f.write_str("error"),
            Self::Error(Some(id)) => write!(f, "error {id}"),
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Why an outcome string was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected ok, info, warning, refused, error, or error followed by an identifier")]
pub struct OutcomeParseError;

impl FromStr for Outcome {
    type Err = OutcomeParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["ok"] => Ok(Self::Ok),
            ["info"] => Ok(Self::Info),
            ["warning"] => Ok(Self::Warning),
            ["refused"] => Ok(Self::Refused),
            ["error"] => Ok(Self::Error(None)),
            ["error", id] => Ok(Self::Error(Some((*id).to_owned()))),
            _ => Err(OutcomeParseError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_text() {
        for text in [
            "ok",
            "info",
            "warning",
            "refused",
            "error",
            "error c1031daf",
        ] {
            assert_eq!(text.parse::<Outcome>().unwrap().to_string(), text);
        }
        assert!("fine".parse::<Outcome>().is_err());
    }

    #[test]
    fn a_bare_error_covers_every_error_and_nothing_else() {
        let error: Outcome = "error".parse().unwrap();
        let c1031dab: Outcome = "error c1031dab".parse().unwrap();
        assert!(error.covers(&c1031dab));
        assert!(error.covers(&Outcome::Error(None)));
        assert!(!error.covers(&Outcome::Refused));
        assert!(c1031dab.covers(&c1031dab));
        assert!(!c1031dab.covers(&Outcome::Error(None)));
        assert!(!c1031dab.covers(&"error c1031daf".parse().unwrap()));
        assert!(Outcome::Ok.covers(&Outcome::Ok));
        assert!(!Outcome::Ok.covers(&Outcome::Info));
    }
}
