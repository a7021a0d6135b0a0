//! `kmlab run` killed (SIGKILL) at any moment: the artifacts folder is whole or absent, never
//! a partial folder under the real name, and the killed run's work folder (KM databases, the
//! sink's spool) is removed by the next run.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::{files_under, kmlab, text, workspace};

/// `kmlab run --artifacts OUT SCENARIO` with `tmp` as its temporary directory.
fn start_run(scenario: &Path, out: &Path, tmp: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kmlab"))
        .args(["run", "--artifacts"])
        .arg(out)
        .arg(scenario)
        .env("TMPDIR", tmp)
        .env("KMLAB_KEY_CACHE", workspace().join("target/kmlab-keys"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The names in `dir` that start with `prefix`.
fn named(dir: &Path, prefix: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
                .filter(|name| name.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `ready` holds or the run ends; kills it if it still runs. Whether `ready`
/// held.
fn kill_when(child: &mut Child, ready: impl Fn() -> bool) -> bool {
    loop {
        if ready() {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

#[test]
fn a_killed_run_leaves_no_partial_artifacts_and_its_work_folder_goes_with_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("load.toml");
    let generated = kmlab(
        &["gen-load", "6", "40", "-o", scenario.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(
        generated.status.code(),
        Some(0),
        "{}",
        text(&generated.stderr)
    );
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();

    // The whole result, from a run nobody interrupts.
    let reference_out = dir.path().join("reference");
    let status = start_run(&scenario, &reference_out, &tmp).wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let reference = files_under(&reference_out.join("load"));
    assert!(
        reference.contains_key("transcript.json"),
        "{:?}",
        reference.keys()
    );
    assert!(
        named(&tmp, "kmlab-run-").is_empty(),
        "a finished run kept its work folder"
    );

    // Killed in the middle of the run, once its work folder exists: the folder stays behind.
    let out = dir.path().join("out");
    let mut killed_mid_run = 0;
    for _ in 0..3 {
        let mut child = start_run(&scenario, &out, &tmp);
        let before = named(&tmp, "kmlab-run-").len();
        if kill_when(&mut child, || named(&tmp, "kmlab-run-").len() > before) {
            killed_mid_run += 1;
        }
    }
    assert!(
        killed_mid_run > 0,
        "every run ended before it could be killed"
    );
    let left = named(&tmp, "kmlab-run-");
    assert!(!left.is_empty(), "a killed run removed its own work folder");

    // Killed while it writes the artifacts: nothing under the real name, or the whole result.
    let mut killed_mid_write = 0;
    for attempt in 0..6 {
        let mut child = start_run(&scenario, &out, &tmp);
        if kill_when(&mut child, || !named(&out, ".load.partial-").is_empty()) {
            killed_mid_write += 1;
        }
        let folder = out.join("load");
        if folder.exists() {
            let found = files_under(&folder);
            assert_eq!(
                found.keys().collect::<Vec<_>>(),
                reference.keys().collect::<Vec<_>>(),
                "attempt {attempt}: the artifacts folder is not whole"
            );
            assert!(found == reference, "attempt {attempt}: a file differs");
        }
    }
    assert!(
        killed_mid_write > 0,
        "no kill landed while the artifacts were being written"
    );

    // The next run finishes: the whole result, no hidden leftovers beside it, and no work
    // folder of any killed run.
    let status = start_run(&scenario, &out, &tmp).wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(files_under(&out.join("load")) == reference);
    assert_eq!(named(&out, "."), Vec::<String>::new());
    assert_eq!(named(&tmp, "kmlab-run-"), Vec::<String>::new());
}
