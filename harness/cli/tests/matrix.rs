//! `kmlab matrix`, matrix scenarios in `kmlab run`, and the report and JUnit output for them.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use common::{kmlab, text, workspace};
use serde_json::Value;

const ROLLOUT: &str = "scenarios/km/v3-rollout.toml";

/// The cell text of `row` in the column whose settings are `settings`.
fn cell(row: &Value, columns: &[Value], settings: &[(&str, &str)]) -> String {
    let index = columns
        .iter()
        .position(|column| {
            settings.iter().all(|(key, value)| {
                column["settings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|pair| pair[0] == *key && pair[1] == *value)
            })
        })
        .unwrap();
    let cell = &row["cells"][index];
    match cell["reason"].as_str() {
        Some(reason) => format!("{} ({reason})", cell["outcome"].as_str().unwrap()),
        None => cell["outcome"].as_str().unwrap().to_owned(),
    }
}

#[test]
fn validity_changes_only_enable_v3_and_the_mode_only_the_legacy_users_read() {
    let output = kmlab(
        &[
            "matrix",
            ROLLOUT,
            "--vary",
            "ca.ExchCA.validity_units=1,2",
            "--vary",
            "km.KM1.mode=v1-and-v3,v3-only",
            "--format",
            "json",
        ],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["schema"], "kmlab-matrix/1");
    let table = &json["matrix"];
    let columns = table["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 4);
    let differing: Vec<&Value> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["kind"] == "differs")
        .collect();
    let steps: Vec<&str> = differing
        .iter()
        .map(|row| row["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["[6] enable-v3 by admin@KM1", "[7] read by victor"]);

    let (enable, read) = (differing[0], differing[1]);
    let units = "ca.ExchCA.validity_units";
    let mode = "km.KM1.mode";
    for m in ["v1-and-v3", "v3-only"] {
        // One year of validity is refused whatever the mode (KM-05) ...
        assert_eq!(
            cell(enable, columns, &[(units, "1"), (mode, m)]),
            "error c1031daf (validity)"
        );
        // ... and two years are accepted.
        assert_ne!(
            cell(enable, columns, &[(units, "2"), (mode, m)]),
            "error c1031daf (validity)"
        );
    }
    // With V3 enabled, the mode decides whether the Outlook 97 user still opens his mail.
    assert_eq!(
        cell(read, columns, &[(units, "2"), (mode, "v1-and-v3")]),
        "ok"
    );
    assert_eq!(
        cell(read, columns, &[(units, "2"), (mode, "v3-only")]),
        "error (advanced-security-lost)"
    );
    // Every combination's transcript comes with the table.
    let cells = json["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 4);
    assert!(cells.iter().all(|c| c["transcript"]["records"].is_array()));
}

#[test]
fn wrong_settings_are_reported_with_what_would_be_right() {
    let output = kmlab(
        &[
            "matrix",
            ROLLOUT,
            "--vary",
            "km.KM9.mode=v3-only",
            "--vary",
            "km.KM1.mode=v4-only",
            "--vary",
            "ca.ExchCA.colour=red",
            "--vary",
            "user.victor.client=outlook96",
        ],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    for expected in [
        "--vary km.KM9.mode=v3-only: the scenario has no km named `KM9` (its km names: KM1)",
        "--vary km.KM1.mode=v4-only: unknown enrollment mode `v4-only` (expected one of: v1-and-v3, v3-only, v1-only)",
        "--vary ca.ExchCA.colour=red: a ca has no setting `colour` (ca settings: host,",
        "--vary user.victor.client=outlook96:",
    ] {
        assert!(stderr.contains(expected), "{expected}\nnot in\n{stderr}");
    }
    assert!(
        stderr.contains("outlook97"),
        "the valid personas are listed: {stderr}"
    );
    let malformed = kmlab(&["matrix", ROLLOUT, "--vary", "mode"], &workspace());
    assert_eq!(malformed.status.code(), Some(2));
    assert!(text(&malformed.stderr).contains("expected KEY=VALUE"));
}

#[test]
fn a_wrong_value_in_a_scenario_matrix_is_located_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(workspace().join(ROLLOUT))
        .unwrap()
        .replace("\"v3-only\"]", "\"v5-only\"]");
    let path = dir.path().join("bad-matrix.toml");
    std::fs::write(&path, &source).unwrap();
    let output = kmlab(&["check", path.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let line = source
        .lines()
        .position(|line| line.contains("v5-only"))
        .unwrap()
        + 1;
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("bad-matrix.toml:{line}:")),
        "line {line} not in {stderr}"
    );
    assert!(stderr.contains("unknown enrollment mode `v5-only`"));
}

#[test]
fn a_matrix_scenario_gives_one_junit_case_per_combination_and_a_report() {
    let report = tempfile::tempdir().unwrap();
    let output = kmlab(
        &[
            "run",
            "--format",
            "junit",
            "--report",
            report.path().to_str().unwrap(),
            ROLLOUT,
        ],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let xml = text(&output.stdout);
    assert!(xml.contains("tests=\"5\" failures=\"0\""), "{xml}");
    assert!(xml.contains(
        "name=\"km/v3-rollout [validity_units=2, mode=v3-only]\" file=\"scenarios/km/v3-rollout.toml\""
    ));
    let page = std::fs::read_to_string(report.path().join("index.html")).unwrap();
    assert!(page.contains("<table class=\"matrix\">"));
    assert!(page.contains("error (advanced-security-lost)"));
    let run: Value =
        serde_json::from_str(&std::fs::read_to_string(report.path().join("run.json")).unwrap())
            .unwrap();
    assert_eq!(
        run["scenarios"][0]["matrix"]["cells"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[test]
fn markdown_and_html_tables_show_the_same_rows() {
    let args = |format: &'static str| {
        [
            "matrix",
            ROLLOUT,
            "--vary",
            "km.KM1.mode=v1-and-v3,v3-only",
            "--format",
            format,
        ]
    };
    let markdown = text(&kmlab(&args("markdown"), &workspace()).stdout);
    let html = text(&kmlab(&args("html"), &workspace()).stdout);
    // The file's own validity axis stays; the mode axis is replaced by the same values.
    assert!(
        markdown.contains("4 combinations; 2 steps differ"),
        "{markdown}"
    );
    assert!(markdown.contains("| [7] read by victor |"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<td>[7] read by victor</td>"));
}
