//! Killing the KM server in the middle of a write or a backup never loses a key it reported
//! as escrowed, and never leaves a backup that looks whole but is not.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const MAILBOX: &str = "/o=Contoso/ou=Redmond/cn=Recipients/cn=alice";
const ROUNDS: u32 = 50;

/// Starts the writer and kills it once it has reported `lines` lines; returns what it
/// reported.
fn run_and_kill(args: &[&std::ffi::OsStr], lines: usize) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_km-writer"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut reported = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..lines {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        reported.push(line.trim().to_owned());
    }
    // SIGKILL: no destructor, no flush, no chance to finish the transaction under way.
    child.kill().unwrap();
    child.wait().unwrap();
    reported
}

#[test]
fn killing_a_write_never_loses_a_reported_escrow() {
    for round in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("km.sqlite");
        // Vary where the kill lands: after 1 to 50 reported escrows.
        let lines = 1 + (round as usize * 7) % 50;
        let reported = run_and_kill(&[std::ffi::OsStr::new("write"), path.as_os_str()], lines);
        assert!(
            !reported.is_empty(),
            "round {round}: the writer reported nothing"
        );
        let last: u32 = reported
            .last()
            .unwrap()
            .strip_prefix("escrowed ")
            .unwrap()
            .parse()
            .unwrap();

        let database = km::Database::open(&path).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(database.integrity_check().unwrap(), "ok", "round {round}");
        let generations: Vec<u32> = database
            .escrowed_keys(MAILBOX)
            .unwrap()
            .iter()
            .map(|key| key.generation)
            .collect();
        for generation in 1..=last {
            assert!(
                generations.contains(&generation),
                "round {round}: escrowed key {generation} was reported and is gone"
            );
        }
        // Writes the writer finished but had not been read yet are there too, without gaps.
        let max = generations.iter().copied().max().unwrap_or(0);
        assert_eq!(
            generations.len() as u32,
            max,
            "round {round}: a gap in {generations:?}"
        );
    }
}

#[test]
fn killing_a_backup_leaves_the_database_whole_and_every_backup_whole_or_refused() {
    for round in 0..ROUNDS / 5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("km.sqlite");
        let backups = dir.path().join("backups");
        std::fs::create_dir_all(&backups).unwrap();
        let lines = 2 + round as usize % 4;
        let reported = run_and_kill(
            &[
                std::ffi::OsStr::new("backup"),
                path.as_os_str(),
                backups.as_os_str(),
            ],
            lines,
        );
        assert_eq!(
            reported.first().map(String::as_str),
            Some("filled"),
            "round {round}"
        );

        let database = km::Database::open(&path).unwrap();
        assert_eq!(
            database.escrowed_keys(MAILBOX).unwrap().len(),
            200,
            "round {round}: the source lost keys"
        );
        for entry in std::fs::read_dir(&backups).unwrap() {
            let file = entry.unwrap().path();
            if file.extension().is_none_or(|ext| ext != "sqlite") {
                continue;
            }
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let number: u32 = name
                .trim_start_matches("backup-")
                .trim_end_matches(".sqlite")
                .parse()
                .unwrap();
            let reported_done = reported.contains(&format!("backed-up {number}"));
            match km::Database::open(&file) {
                // A backup that opens is complete.
                Ok(backup) => assert_eq!(
                    backup.escrowed_keys(MAILBOX).unwrap().len(),
                    200,
                    "round {round}: {name} is partial"
                ),
                // One that does not is the backup the kill interrupted, and it is refused.
                Err(error) => assert!(
                    !reported_done,
                    "round {round}: {name} was reported done but is refused: {error}"
                ),
            }
        }
    }
}
