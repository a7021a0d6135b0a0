//! The `kmlab` command as users and CI drive it: exit codes, located errors, artifacts that
//! real tools accept.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::process::Command;

use common::{kmlab, text, workspace};

/// The 1-based line of the `[[step]]` header above the first line of `path` containing
/// `needle`.
fn step_line_of(path: &std::path::Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let found = lines.iter().position(|line| line.contains(needle)).unwrap();
    lines[..found]
        .iter()
        .rposition(|line| line.trim() == "[[step]]")
        .unwrap()
        + 1
}

const FIRST: &str = "scenarios/basic/signed-encrypted-message.toml";

#[test]
fn the_built_in_scenarios_pass() {
    let output = kmlab(&["run", FIRST, "scenarios/sink"], &workspace());
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    assert!(
        text(&output.stdout).contains("PASS     basic/signed-encrypted-message (")
            && text(&output.stdout).contains(" steps, snapshot matches)")
    );
}

#[test]
fn an_expectation_that_does_not_hold_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(workspace().join(FIRST))
        .unwrap()
        .replace(
            "expect = { outcome = \"refused\", reason = \"token-wrong\" }",
            "expect = \"ok\"",
        );
    let path = dir.path().join("wrong-expectation.toml");
    std::fs::write(&path, source).unwrap();
    let output = kmlab(&["run", path.to_str().unwrap()], dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stdout));
    // The step and line are those of the mistyped-token enrollment in the scenario file.
    let stdout = text(&output.stdout);
    let line = step_line_of(&workspace().join(FIRST), "token = \"wrong\"");
    let expected =
        format!("step 3 (line {line}) enroll: expected outcome ok, got refused (token-wrong)");
    assert!(stdout.contains(&expected), "{expected} not in {stdout}");
}

#[test]
fn a_changed_snapshot_exits_1_and_update_accepts_it() {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(project.path().join("scenarios")).unwrap();
    std::fs::copy(
        workspace().join(FIRST),
        project.path().join("scenarios/first.toml"),
    )
    .unwrap();
    let missing = kmlab(&["run"], project.path());
    assert_eq!(
        missing.status.code(),
        Some(1),
        "a missing snapshot fails: {}",
        text(&missing.stdout)
    );
    assert!(text(&missing.stdout).contains("no snapshot at"));
    let update = kmlab(&["run", "--update"], project.path());
    assert_eq!(update.status.code(), Some(0), "{}", text(&update.stdout));
    let snapshot = project.path().join("snapshots/first.snap");
    let edited = std::fs::read_to_string(&snapshot)
        .unwrap()
        .replace("token-used", "token-reused");
    std::fs::write(&snapshot, edited).unwrap();
    let changed = kmlab(&["run"], project.path());
    assert_eq!(changed.status.code(), Some(1));
    assert!(
        text(&changed.stdout).contains(
            "snapshot has \"[5] enroll by alice at 2001-03-01T09:00:00Z: refused (token-reused)\""
        ),
        "{}",
        text(&changed.stdout)
    );
}

#[test]
fn three_mistakes_exit_2_with_three_located_messages() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(workspace().join(FIRST))
        .unwrap()
        .replace("\"SMTP-01\"]", "\"SMTP-99\"]")
        .replace(
            "client = \"outlook2000\"\n\n[[user]]",
            "client = \"outlook2001\"\n\n[[user]]",
        )
        .replace("user = \"bob\"\nsubject", "user = \"carol\"\nsubject");
    let path = dir.path().join("mistakes.toml");
    std::fs::write(&path, &source).unwrap();
    for command in ["check", "run"] {
        let output = kmlab(&[command, "mistakes.toml"], dir.path());
        assert_eq!(output.status.code(), Some(2), "{command}");
        let stderr = text(&output.stderr);
        let located: Vec<&str> = stderr
            .lines()
            .filter(|line| line.starts_with("  --> mistakes.toml:"))
            .collect();
        let expected: Vec<String> = ["SMTP-99", "outlook2001", "carol"]
            .iter()
            .map(|needle| {
                let offset = source.find(needle).unwrap();
                let line = source[..offset].matches('\n').count() + 1;
                let column = offset - source[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
                format!("  --> mistakes.toml:{line}:{column}")
            })
            .collect();
        assert_eq!(located, expected, "{stderr}");
        assert!(stderr.contains("unknown rule ID `SMTP-99`"));
        assert!(stderr.contains("unknown client `outlook2001`"));
        assert!(stderr.contains("no user named `carol`"));
    }
}

#[test]
fn artifacts_verify_and_decrypt_with_the_openssl_command_line() {
    let out = tempfile::tempdir().unwrap();
    let output = kmlab(
        &[
            "run",
            FIRST,
            "--artifacts",
            out.path().to_str().unwrap(),
            "--export-keys",
        ],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let root = out.path().join("basic/signed-encrypted-message");
    let message = root.join("mail/001-alice-quarterly-figures.eml");
    let inner = out.path().join("inner.eml");
    let decrypt = Command::new("openssl")
        .args([
            "cms",
            "-decrypt",
            "-provider",
            "legacy",
            "-provider",
            "default",
            "-in",
        ])
        .arg(&message)
        .arg("-recip")
        .arg(root.join("users/bob/enc-1.crt.pem"))
        .arg("-inkey")
        .arg(root.join("users/bob/enc-1.key.pem"))
        .arg("-out")
        .arg(&inner)
        .output()
        .unwrap();
    assert!(
        decrypt.status.success(),
        "openssl cms -decrypt: {}",
        text(&decrypt.stderr)
    );
    let body = out.path().join("body.txt");
    // The certificates were valid in 2001; judge them at the message's own time.
    let verify = Command::new("openssl")
        .args(["cms", "-verify", "-attime", "983444400", "-in"])
        .arg(&inner)
        .arg("-CAfile")
        .arg(root.join("pki/ContosoRoot.crt.pem"))
        .arg("-out")
        .arg(&body)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "openssl cms -verify: {}",
        text(&verify.stderr)
    );
    assert!(text(&verify.stderr).contains("Verification successful"));
    assert!(
        std::fs::read_to_string(&body)
            .unwrap()
            .contains("the Q1 figures are final")
    );
    // Alice's key is a recipient too, but Carol's would not be; a key that is not a
    // recipient's does not open it.
    let wrong = Command::new("openssl")
        .args([
            "cms",
            "-decrypt",
            "-provider",
            "legacy",
            "-provider",
            "default",
            "-in",
        ])
        .arg(&message)
        .arg("-inkey")
        .arg(root.join("users/bob/sign-1.key.pem"))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    for certificate in [
        "pki/ContosoRoot.crt.pem",
        "users/alice/enc-1.crt.pem",
        "users/bob/sign-1.crt.pem",
    ] {
        let parsed = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(root.join(certificate))
            .output()
            .unwrap();
        assert!(parsed.status.success(), "{certificate}");
    }
}

#[test]
fn keys_are_written_only_when_asked() {
    let out = tempfile::tempdir().unwrap();
    let output = kmlab(
        &["run", FIRST, "--artifacts", out.path().to_str().unwrap()],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(0));
    let bob = out.path().join("basic/signed-encrypted-message/users/bob");
    assert!(bob.join("enc-1.crt.pem").is_file());
    assert!(!bob.join("enc-1.key.pem").exists());
    assert!(!bob.join("bob.p12").exists());
    // The client state still says which key files there would be.
    let client = std::fs::read_to_string(bob.join("client.json")).unwrap();
    assert!(
        client.contains("\"certificate\": \"enc-1.crt.pem\""),
        "{client}"
    );
    assert!(client.contains("\"key\": null"), "{client}");
    assert!(!client.contains(".key.pem"), "{client}");
}

#[test]
fn rules_coverage_lists_each_rule_with_its_scenarios() {
    let output = kmlab(&["rules", "--coverage", "--format", "json"], &workspace());
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("\"schema\": \"kmlab-rules/1\""));
    assert!(stdout.contains("\"id\": \"SMTP-02\""));
    assert!(stdout.contains("\"sink/smtp-framing\""));
    let human = text(&kmlab(&["rules", "--coverage"], &workspace()).stdout);
    assert!(
        human.lines().last().unwrap().ends_with("rules covered"),
        "{human}"
    );
}

#[test]
fn new_writes_a_skeleton_that_checks_runs_green_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let created = kmlab(&["new", "site-move"], dir.path());
    assert_eq!(created.status.code(), Some(0));
    let path = dir.path().join("site-move.toml");
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("title = \"site move\"")
    );
    assert_eq!(
        kmlab(&["check", "site-move.toml"], dir.path())
            .status
            .code(),
        Some(0)
    );
    // What `kmlab new` writes runs green as written.
    let run = kmlab(&["run", "site-move.toml"], dir.path());
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
    std::fs::write(&path, "my own work").unwrap();
    assert_eq!(
        kmlab(&["new", "site-move"], dir.path()).status.code(),
        Some(2)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "my own work");
}

/// `kmlab rules | head -1`: the reader goes away after one line; kmlab ends quietly with
/// SIGPIPE's status, as other command-line tools do, not with a panic and a backtrace.
#[test]
fn a_reader_that_stops_early_ends_kmlab_quietly() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kmlab"))
        .arg("rules")
        .current_dir(workspace())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(output.status.code(), Some(141));
}

#[test]
fn help_documents_the_exit_codes() {
    let help = text(&kmlab(&["run", "--help"], &workspace()).stdout);
    assert!(help.contains("1  a scenario failed"), "{help}");
    let help = text(&kmlab(&["inspect", "--help"], &workspace()).stdout);
    assert!(
        help.contains("1  the client's verdict is a warning or an error"),
        "{help}"
    );
    assert!(help.contains("--at <TIME>"), "{help}");
    let usage = kmlab(&["run", "--no-such-flag"], &workspace());
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn json_and_junit_reports_are_produced() {
    let json = text(&kmlab(&["run", "scenarios/sink", "--format", "json"], &workspace()).stdout);
    assert!(json.contains("\"schema\": \"kmlab-run/1\""));
    assert!(json.contains("\"status\": \"passed\""));
    let junit = text(
        &kmlab(
            &["run", "scenarios/sink", "--format", "junit"],
            &workspace(),
        )
        .stdout,
    );
    assert!(junit.contains("<testcase classname=\"kmlab.scenarios\" name=\"sink/smtp-framing\""));
}

#[test]
fn openssl_builds_the_same_transcript_and_a_stale_known_deviation_fails() {
    let built = kmlab(
        &["run", "--engine", "openssl", "--cross-check", FIRST],
        &workspace(),
    );
    assert_eq!(built.status.code(), Some(0), "{}", text(&built.stdout));
    assert!(text(&built.stdout).contains("snapshot matches"));
    let dir = tempfile::tempdir().unwrap();
    let known = dir.path().join("known.toml");
    std::fs::write(
        &known,
        "[[deviation]]\nscenario = \"basic/signed-encrypted-message\"\nstep = 10\nreason = \"once disagreed\"\n",
    )
    .unwrap();
    let stale = kmlab(
        &[
            "run",
            "--cross-check",
            "--known-deviations",
            known.to_str().unwrap(),
            FIRST,
        ],
        &workspace(),
    );
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale.stdout));
    assert!(
        text(&stale.stdout).contains("step 10 was listed")
            && text(&stale.stdout).contains("but the engines agree"),
        "{}",
        text(&stale.stdout)
    );
}

#[test]
fn the_exported_km_database_passes_sqlite_integrity_check() {
    let out = tempfile::tempdir().unwrap();
    let output = kmlab(
        &[
            "run",
            "scenarios/km/recovery.toml",
            "--artifacts",
            out.path().to_str().unwrap(),
        ],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let database = out.path().join("km/recovery/km/KM1.sqlite");
    let check = Command::new("sqlite3")
        .arg(&database)
        .arg("PRAGMA integrity_check")
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert_eq!(text(&check.stdout).trim(), "ok");
    let keys = Command::new("sqlite3")
        .arg(&database)
        .arg("SELECT count(*) FROM escrowed_keys")
        .output()
        .unwrap();
    assert!(text(&keys.stdout).trim().parse::<u32>().unwrap() >= 4);
}
