//! `kmlab run --seat` and seats in scenario files, as users drive them: a seated run is
//! compared with kmlab's step by step, an unlisted difference fails the run, and so does a
//! listed one that no longer happens.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::{Path, PathBuf};

use common::{bobs_deviations, kmlab, text, unsupported_adapter, workspace};

/// Bob's read of Alice's message (step 10) is the one step of this scenario that goes
/// through bob's seat; with the adapter that answers `unsupported` it becomes
/// `error (unsupported)`, and every other step stays kmlab's.
const SCENARIO: &str = "scenarios/basic/signed-encrypted-message.toml";

/// Runs the scenario with bob seated, judged against `deviations`.
fn seated_run(deviations: &str, format: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deviations.toml");
    std::fs::write(&file, deviations).unwrap();
    let seat = format!("bob={}", unsupported_adapter().display());
    let output = kmlab(
        &[
            "run",
            SCENARIO,
            "--seat",
            &seat,
            "--adapter-deviations",
            file.to_str().unwrap(),
            "--format",
            format,
        ],
        &workspace(),
    );
    (output.status.code(), text(&output.stdout))
}

#[test]
fn an_unlisted_difference_fails_the_seated_run() {
    let (code, stdout) = seated_run("", "human");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "bob=unsupported: [10] read by bob differs from kmlab's engine: kmlab ok, unsupported error (unsupported)"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("seat bob=unsupported: 13 steps compared (1 through the adapter), 12 identical, 0 known deviations, 1 unexpected"),
        "{stdout}"
    );
}

#[test]
fn a_listed_difference_passes_and_the_json_shows_both_sides() {
    let (code, stdout) = seated_run(&bobs_deviations("[10]"), "json");
    assert_eq!(code, Some(0), "{stdout}");
    let run: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let comparison = &run["scenarios"][0]["seats"];
    let seat = &comparison["seats"][0];
    assert_eq!(seat["label"], "bob=unsupported");
    assert_eq!(seat["counts"]["known_deviations"], 1);
    assert_eq!(seat["counts"]["unexpected"], 0);
    // The side-by-side table: kmlab's column and the seat's, one row for the differing step.
    let table = &comparison["tables"][0];
    let columns: Vec<&str> = table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|column| column["label"].as_str().unwrap())
        .collect();
    assert_eq!(columns, ["kmlab", "bob=unsupported"]);
    let row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["step"] == "[10] read by bob")
        .unwrap_or_else(|| panic!("{table}"));
    let cells = row["cells"].to_string();
    assert!(cells.contains("unsupported"), "{cells}");
}

#[test]
fn a_listed_difference_that_no_longer_happens_fails_as_loudly() {
    // Step 11 (alice reads her sent copy, with kmlab's engine) matches kmlab's run.
    let (code, stdout) = seated_run(&bobs_deviations("[10, 11]"), "human");
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("bob=unsupported: step 11 was listed in")
            && stdout.contains("as a known deviation (it does nothing), but it matches kmlab's engine; remove the entry"),
        "{stdout}"
    );
}

#[test]
fn bad_seats_and_deviation_files_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        "[[deviation]]\nadapter = \"gpgsm\"\nreason = \"r\"\nsteps = [1, 2]\n",
    )
    .unwrap();
    for (args, wanted) in [
        (
            vec!["run", SCENARIO, "--seat", "bob=no-such-adapter"],
            "unknown adapter `no-such-adapter`; the built-in ones are cmsutil, gpgsm, openssl-cli",
        ),
        (
            vec!["run", SCENARIO, "--seat", "nobody=openssl-cli"],
            "no scenario in this run has a user `nobody`",
        ),
        (
            vec![
                "run",
                SCENARIO,
                "--seat",
                "bob=gpgsm",
                "--adapter-timeout",
                "0",
            ],
            "--adapter-timeout must be a positive number of seconds",
        ),
        (
            vec![
                "run",
                SCENARIO,
                "--seat",
                "bob=gpgsm",
                "--adapter-deviations",
                broken.to_str().unwrap(),
            ],
            "broken.toml:4:9: `steps` must be a table of scenarios, each with its step numbers",
        ),
    ] {
        let output = kmlab(&args, &workspace());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    }
}

/// A copy of the built-in scenario in `dir` with bob's seat taken by `seat`, and the
/// unsupported adapter beside it in `dir/adapters/unsupported`.
fn scenario_seating_bob(dir: &Path, seat: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("adapters")).unwrap();
    std::fs::copy(unsupported_adapter(), dir.join("adapters/unsupported")).unwrap();
    let source = std::fs::read_to_string(workspace().join(SCENARIO)).unwrap();
    let bob = source.find("name = \"bob\"").unwrap();
    let source = format!("{}seat = \"{seat}\"\n{}", &source[..bob], &source[bob..]);
    let path = dir.join("seated.toml");
    std::fs::write(&path, source).unwrap();
    path
}

#[test]
fn a_scenario_seats_its_own_user_and_its_expectations_judge_the_seated_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario_seating_bob(dir.path(), "adapters/unsupported");
    let output = kmlab(
        &["run", path.to_str().unwrap(), "--format", "json"],
        dir.path(),
    );
    // Step 10 expects bob to open the message; the implementation in his seat cannot.
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let records = run["scenarios"][0]["transcript"]["records"]
        .as_array()
        .unwrap();
    let read = records.iter().find(|record| record["step"] == 10).unwrap();
    assert_eq!(read["outcome"], "error", "{read}");
    let details = read["details"].to_string();
    assert!(
        details.contains("\"implementation\"") && details.contains("this adapter does nothing"),
        "{details}"
    );
    let reasons = run["scenarios"][0]["reasons"].to_string();
    assert!(reasons.contains("step 10"), "{reasons}");
}

#[test]
fn a_seat_that_escapes_the_scenarios_folder_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario_seating_bob(dir.path(), "../unsupported");
    let output = kmlab(&["check", path.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("seated.toml:")
            && stderr.contains("`../unsupported` is not a path inside the scenario's folder"),
        "{stderr}"
    );
}
