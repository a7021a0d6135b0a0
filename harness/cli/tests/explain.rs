//! `kmlab explain`: every error ID and reason word the built-in scenarios produce is
//! explained, every explanation still reproduces, and the records it shows are the ones the
//! scenario records (its snapshot, which the suite checks, holds them verbatim).
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::Path;

use common::{kmlab, text, workspace};

#[test]
fn every_cause_the_suite_produces_is_explained_and_every_explanation_reproduces() {
    let output = kmlab(&["explain", "--check"], &workspace());
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    let summary = stdout.lines().last().unwrap();
    assert!(summary.ends_with("; 0 problems"), "{summary}");
    let produced: usize = summary
        .split(" produce ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(produced >= 70, "{summary}");
}

/// `kmlab explain --check` over the scenarios folder `scenarios`, run in `dir`.
fn check_folder(scenarios: &Path, dir: &Path) -> std::process::Output {
    kmlab(
        &[
            "explain",
            "--check",
            "--scenarios",
            scenarios.to_str().unwrap(),
        ],
        dir,
    )
}

fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_scenario_that_stops_producing_an_explained_cause_fails_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    copy_folder(&workspace().join("scenarios"), &scenarios);
    // Two years from the start: the explained c1031daf (validity) never happens.
    let path = scenarios.join("ca/validity-restart.toml");
    let source = std::fs::read_to_string(&path)
        .unwrap()
        .replace("lifetime = \"5y\"", "lifetime = \"5y\"\nvalidity_units = 2");
    std::fs::write(&path, source).unwrap();
    let output = check_folder(&scenarios, dir.path());
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}{}",
        text(&output.stderr)
    );
    assert!(
        stdout.contains("ca/validity-restart no longer produces `c1031daf validity` before step 2"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("; 1 problems"), "{stdout}");
}

#[test]
fn a_fix_scenario_that_no_longer_fixes_and_a_fix_with_nothing_after_it_fail_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let scenarios = dir.path().join("scenarios");
    copy_folder(&workspace().join("scenarios"), &scenarios);
    // The fix scenario's KM server back on SP2: it is refused as in the scenario it fixes.
    let fix = scenarios.join("km/sites-and-products-fix.toml");
    let source = std::fs::read_to_string(&fix).unwrap().replace(
        "service_pack = \"sp3\"\nsite = \"London\"",
        "service_pack = \"sp2\"\nsite = \"London\"",
    );
    std::fs::write(&fix, source).unwrap();
    // The retry after the two-way trust is gone: the fix shows nothing.
    let cross = scenarios.join("km/cross-domain.toml");
    let source = std::fs::read_to_string(&cross).unwrap();
    let cut = source.rfind("\n[[step]]\naction = \"enable-v3\"").unwrap();
    std::fs::write(&cross, &source[..cut]).unwrap();
    let output = check_folder(&scenarios, dir.path());
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "km/sites-and-products-fix still produces `needs-sp3` at step setup, after its fix"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "km/cross-domain has no enable-v3 by admin@KM1 after step 7, the fix of `c1031d9f no-two-way-trust`, to show it fixed"
        ),
        "{stdout}"
    );
}

#[test]
fn the_records_shown_are_the_scenarios_own() {
    for query in [
        "c1031daf",
        "c1031dab",
        "c1031d9f",
        "c1031d92",
        "untrusted-root",
        "validity",
        "policy-module",
        "no-key-opens",
    ] {
        let output = kmlab(&["explain", query, "--format", "json"], &workspace());
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["schema"], "kmlab-explain/1");
        let causes = json["causes"].as_array().unwrap();
        let wanted: Vec<&model::explanations::Explanation> = model::explanations::EXPLANATIONS
            .iter()
            .filter(|e| e.id == Some(query) || e.reason == query)
            .collect();
        assert_eq!(causes.len(), wanted.len(), "{query}");
        for (cause, explanation) in causes.iter().zip(&wanted) {
            assert_eq!(cause["reason"], explanation.reason);
            assert_eq!(cause["rule"], explanation.rule);
            assert!(cause["problem"].is_null(), "{cause}");
            let snapshot = std::fs::read_to_string(
                workspace().join(format!("snapshots/{}.snap", explanation.scenario)),
            )
            .unwrap();
            let mut shown = vec![&cause["before"]];
            shown.extend(cause["fix"].as_array().unwrap());
            if !cause["after"].is_null() {
                shown.push(&cause["after"]);
            }
            let before = cause["before"]["lines"][0].as_str().unwrap();
            assert!(
                before.contains(&format!("({})", explanation.reason))
                    || cause["before"]["lines"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|line| line
                            .as_str()
                            .unwrap()
                            .contains(&format!(" {}: ", explanation.reason))),
                "{before}"
            );
            for record in shown {
                let block: Vec<&str> = record["lines"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|line| line.as_str().unwrap())
                    .collect();
                let block = block.join("\n") + "\n";
                assert!(
                    snapshot.contains(&block),
                    "{query}: not in snapshots/{}.snap:\n{block}",
                    explanation.scenario
                );
            }
        }
    }
}

#[test]
fn the_human_form_shows_before_the_fix_and_after() {
    let output = kmlab(&["explain", "policy-module"], &workspace());
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("c1031dab policy-module — rule CA-03: "),
        "{stdout}"
    );
    for expected in [
        "  reproduced by: scenarios/ca/policy-modules.toml, step 2 (line ",
        "  fix: steps 3, 5: ",
        "  before the fix:\n    [2] enable-v3 by admin@KM1 at 2001-03-01T09:00:00Z: error c1031dab (policy-module)\n",
        "  the fix:\n    [3] configure-ca by admin@ContosoRoot",
        "    [5] restart-ca by admin@ContosoRoot",
        "  after the fix:\n    [6] enable-v3 by admin@KM1 at 2001-03-01T09:00:00Z: warning (csp)\n",
    ] {
        assert!(stdout.contains(expected), "{expected} not in\n{stdout}");
    }
}

#[test]
fn an_unknown_word_names_the_nearest_and_the_known_ones() {
    let output = kmlab(&["explain", "untrusted-rot"], &workspace());
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(
            "kmlab: no explanation for `untrusted-rot`; did you mean `untrusted-root`?\nknown error IDs: c1031d92, c1031d9f, c1031dab, c1031daf\nknown reasons: "
        ),
        "{stderr}"
    );
    assert!(text(&output.stdout).is_empty());

    let listed = kmlab(&["explain"], &workspace());
    assert_eq!(listed.status.code(), Some(0));
    let stdout = text(&listed.stdout);
    assert_eq!(
        stdout.lines().count(),
        model::explanations::EXPLANATIONS.len(),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("c1031daf validity "))
    );
    for line in stdout.lines() {
        let kind = line.split_whitespace().last().unwrap();
        assert!(
            ["steps", "scenario", "verdict", "lost"].contains(&kind),
            "{line}"
        );
    }
}
