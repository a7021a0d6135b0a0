//! JUnit XML for CI systems: one test case per scenario, and for a matrix scenario one more
//! per combination of its settings.

use std::fmt::Write as _;

use crate::escape_markup as escape;
use crate::result::{ScenarioResult, ScenarioStatus};

/// One test case: its name, file, and the failure kind and text if it failed.
struct Case<'a> {
    classname: &'a str,
    name: String,
    file: &'a str,
    failure: Option<(&'static str, String)>,
}

fn cases(results: &[ScenarioResult]) -> Vec<Case<'_>> {
    let mut cases = Vec::new();
    for result in results {
        let failure = match &result.status {
            ScenarioStatus::Passed { .. } => None,
            ScenarioStatus::Failed { reasons } => Some(("scenario failed", reasons.join("\n"))),
            ScenarioStatus::Invalid { problems } => Some(("invalid scenario", problems.join("\n"))),
            ScenarioStatus::HarnessError { error } => Some(("harness error", error.clone())),
        };
        cases.push(Case {
            classname: "kmlab.scenarios",
            name: result.scenario.clone(),
            file: &result.path,
            failure,
        });
        for cell in result.matrix.iter().flat_map(|matrix| &matrix.cells) {
            cases.push(Case {
                classname: "kmlab.matrix",
                name: format!("{} [{}]", result.scenario, cell.label),
                file: &result.path,
                failure: (!cell.problems.is_empty())
                    .then(|| ("combination failed", cell.problems.join("\n"))),
            });
        }
    }
    cases
}

/// The results as a JUnit XML document.
pub fn junit(results: &[ScenarioResult]) -> String {
    let cases = cases(results);
    let failures = cases.iter().filter(|case| case.failure.is_some()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kmlab\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"kmlab.scenarios\" tests=\"{}\" failures=\"{failures}\">",
        cases.len()
    );
    for case in &cases {
        let _ = write!(
            out,
            "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\"",
            case.classname,
            escape(&case.name),
            escape(case.file)
        );
        match &case.failure {
            None => out.push_str(" />\n"),
            Some((kind, text)) => {
                let first = text.lines().next().unwrap_or(kind);
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>",
                    escape(first),
                    escape(text)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::SnapshotState;

    #[test]
    fn failures_are_counted_and_escaped() {
        let results = vec![
            ScenarioResult {
                scenario: "a".into(),
                path: "scenarios/a.toml".into(),
                status: ScenarioStatus::Passed {
                    snapshot: SnapshotState::Matched,
                },
                transcript: None,
                matrix: None,
                seats: None,
            },
            ScenarioResult {
                scenario: "b".into(),
                path: "scenarios/b.toml".into(),
                status: ScenarioStatus::Failed {
                    reasons: vec!["expected <ok> & got \"refused\"".into()],
                },
                transcript: None,
                matrix: None,
                seats: None,
            },
        ];
        let xml = junit(&results);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("expected &lt;ok&gt; &amp; got &quot;refused&quot;"));
        assert!(xml.contains("name=\"a\" file=\"scenarios/a.toml\" />"));
    }
}
