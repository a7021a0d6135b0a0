//! Speed without changed results: the key cache, generated load scenarios and `kmlab bench`.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{files_under, text, workspace};

const FIRST: &str = "scenarios/basic/signed-encrypted-message.toml";

/// Runs kmlab in `dir` with `key_cache` as the key cache (and nothing from the environment).
fn kmlab_with_cache(args: &[&str], dir: &Path, key_cache: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kmlab"))
        .args(args)
        .current_dir(dir)
        .env("KMLAB_KEY_CACHE", key_cache)
        .output()
        .unwrap()
}

fn cache_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

#[test]
fn a_cold_and_a_warm_key_cache_give_identical_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("keys");
    let scenario = workspace().join(FIRST);
    let mut artifacts = Vec::new();
    for round in ["cold", "warm"] {
        let out = dir.path().join(round);
        let output = kmlab_with_cache(
            &[
                "run",
                "--artifacts",
                out.to_str().unwrap(),
                "--export-keys",
                scenario.to_str().unwrap(),
            ],
            &workspace(),
            &cache,
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
        artifacts.push((files_under(&out), cache_entries(&cache)));
    }
    let (cold, generated) = &artifacts[0];
    let (warm, after_warm) = &artifacts[1];
    // The cold run generated every key into the empty cache; the warm one generated none.
    assert!(*generated >= 6, "{generated} keys cached");
    assert_eq!(after_warm, generated);
    assert!(cold.keys().any(|path| path.ends_with("/enc-1.key.pem")));
    assert!(cold.keys().any(|path| path.ends_with(".eml")));
    assert_eq!(
        cold.keys().collect::<Vec<_>>(),
        warm.keys().collect::<Vec<_>>()
    );
    for (path, bytes) in cold {
        assert!(warm[path] == *bytes, "{path} differs");
    }
}

#[test]
fn gen_load_writes_a_scenario_that_runs_with_1024_bit_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("keys");
    let output = kmlab_with_cache(
        &["gen-load", "3", "4", "--seed", "9", "-o", "load.toml"],
        dir.path(),
        &cache,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let again = kmlab_with_cache(&["gen-load", "3", "4", "--seed", "9"], dir.path(), &cache);
    assert_eq!(
        text(&again.stdout),
        std::fs::read_to_string(dir.path().join("load.toml")).unwrap()
    );
    let output = kmlab_with_cache(
        &[
            "run",
            "--artifacts",
            "out",
            "--export-keys",
            "--format",
            "json",
            "load.toml",
        ],
        dir.path(),
        &cache,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let records = report["scenarios"][0]["transcript"]["records"]
        .as_array()
        .unwrap();
    // Three enrollments, then four sends each followed by a read that must succeed.
    let count = |action: &str| {
        records
            .iter()
            .filter(|record| record["action"] == action && record["outcome"] == "ok")
            .count()
    };
    assert_eq!((count("enroll"), count("send"), count("read")), (3, 4, 4));
    let mail = std::fs::read_dir(dir.path().join("out/load/mail"))
        .unwrap()
        .count();
    assert_eq!(mail, 4);
    for key in ["enc-1.key.pem", "sign-1.key.pem"] {
        let key = dir.path().join("out/load/users/u000001").join(key);
        let described = Command::new("openssl")
            .args(["pkey", "-noout", "-text", "-in"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            text(&described.stdout).contains("Private-Key: (1024 bit"),
            "{}: {}",
            key.display(),
            text(&described.stdout)
        );
    }

    let output = kmlab_with_cache(&["gen-load", "1", "4"], dir.path(), &cache);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("at least 2 users"));
}

/// The Python that has aiosmtpd, as ci/install-bench-deps.sh installs it.
fn bench_python() -> PathBuf {
    std::env::var_os("KMLAB_BENCH_PYTHON").map_or_else(
        || workspace().join("target/bench-venv/bin/python"),
        PathBuf::from,
    )
}

#[test]
fn bench_measures_every_figure_and_writes_the_report() {
    let python = bench_python();
    assert!(
        python.exists(),
        "{} is missing: run ci/install-bench-deps.sh",
        python.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("BENCHMARKS.md");
    let output = kmlab_with_cache(
        &[
            "bench",
            "--runs",
            "2",
            "--messages",
            "3",
            "--sink-messages",
            "30",
            "--connections",
            "2",
            "--python",
            python.to_str().unwrap(),
            "--scenarios",
            "scenarios/basic",
            "--cold-runs",
            "1",
            "--scale-users",
            "20",
            "--scale-messages",
            "10",
            "--key-cache",
            dir.path().join("keys").to_str().unwrap(),
            "--write",
            report.to_str().unwrap(),
        ],
        &workspace(),
        &dir.path().join("keys"),
    );
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        text(&output.stderr)
    );
    for (figure, goal) in [
        ("P1 pipeline overhead: ", "goal ≤ 1.15: "),
        (
            "P2 sink throughput: ",
            "goal kmlab in-memory ÷ smtp-sink ≥ 1× ",
        ),
        ("P3 suite time: ", "goal cold ≤ 60 s: "),
        ("P4 scale: ", "goal ≤ 1 GiB: "),
        ("P6 against openssl cms: ", "goal ≥ 20× faster: "),
    ] {
        assert!(stdout.contains(figure), "{figure} missing from {stdout}");
        assert!(stdout.contains(goal), "{goal} missing from {stdout}");
    }
    for load in [
        "20 users, 10 messages, 1024-bit keys: ",
        // The small load (a tenth) again, with 2048-bit keys.
        "2 users, 1 messages, 2048-bit keys: ",
        "engine call with a 1024-bit key, openssl: ",
        "engine call with a 2048-bit key, openssl: ",
        "over one kept-open connection instead",
    ] {
        assert!(stdout.contains(load), "{load} missing from {stdout}");
    }
    let written = std::fs::read_to_string(&report).unwrap();
    for row in [
        "| P1 pipeline overhead |",
        "| P2 sink throughput |",
        "| P3 suite time |",
        "| P4 scale |",
        "| P6 against openssl cms |",
        "## Machine",
        "## Method",
    ] {
        assert!(written.contains(row), "{row} missing from {written}");
    }
}

#[test]
fn bench_refuses_nonsense_without_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let output = kmlab_with_cache(
        &["bench", "--runs", "0", "--no-write"],
        dir.path(),
        &dir.path().join("keys"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--runs must be at least 1"));
    let output = kmlab_with_cache(
        &["bench", "--only", "p9"],
        dir.path(),
        &dir.path().join("keys"),
    );
    assert_eq!(output.status.code(), Some(2));
}
