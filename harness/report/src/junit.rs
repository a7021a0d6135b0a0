//! JUnit XML for CI systems: one test case per scenario.

use std::fmt::Write as _;

use crate::record::{ScenarioResult, ScenarioStatus};

/// The results as a JUnit XML document.
pub fn junit(results: &[ScenarioResult]) -> String {
    let failures = results.iter().filter(|result| !result.passed()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kmlab\" tests=\"{}\" failures=\"{failures}\">",
        results.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"kmlab.scenarios\" tests=\"{}\" failures=\"{failures}\">",
        results.len()
    );
    for result in results {
        let _ = write!(
            out,
            "    <testcase classname=\"kmlab.scenarios\" name=\"{}\" file=\"{}\"",
            escape(&result.scenario),
            escape(&result.path)
        );
        let failure = match &result.status {
            ScenarioStatus::Passed { .. } => None,
            ScenarioStatus::Failed { reasons } => Some(("scenario failed", reasons.join("\n"))),
            ScenarioStatus::Invalid { problems } => Some(("invalid scenario", problems.join("\n"))),
            ScenarioStatus::HarnessError { error } => Some(("harness error", error.clone())),
        };
        match failure {
            None => out.push_str(" />\n"),
            Some((kind, text)) => {
                let first = text.lines().next().unwrap_or(kind);
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"{kind}\">{}</failure>\n    </testcase>",
                    escape(first),
                    escape(&text)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {
                let _ = write!(out, "&#x{:x};", c as u32);
            }
            c => out.push(c),
        }
    }
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
            },
            ScenarioResult {
                scenario: "b".into(),
                path: "scenarios/b.toml".into(),
                status: ScenarioStatus::Failed {
                    reasons: vec!["expected <ok> & got \"refused\"".into()],
                },
                transcript: None,
            },
        ];
        let xml = junit(&results);
        assert!(xml.contains("tests=\"2\" failures=\"1\""));
        assert!(xml.contains("expected &lt;ok&gt; &amp; got &quot;refused&quot;"));
        assert!(xml.contains("name=\"a\" file=\"scenarios/a.toml\" />"));
    }
}
