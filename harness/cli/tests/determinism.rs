//! Determinism, proven on the whole suite: every built-in scenario, run by the `kmlab` binary
//! with one job and again with four, gives the same output and the same artifacts (keys,
//! certificates, CRLs, messages, KM databases, transcripts) byte for byte. Nothing kmlab makes
//! is excluded from the comparison: nothing the default engine produces depends on the thread
//! count, the wall clock or the OS's randomness. The one exception is a message a seated
//! implementation built (a real program such as `openssl cms`, with randomness of its own): its
//! transcript record says so (`implementation`), and its bytes are not compared.
//!
//! The engines, proven on the whole suite too: the default engine (OpenSSL's arithmetic) and
//! the pure-Rust engine build every message, key file and database byte for byte alike; their
//! transcripts differ only in the line that names the engine.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{files_under, kmlab, text, workspace};

/// The identifiers of the scenario files under `dir` (`basic/signed-encrypted-message` …).
fn scenario_ids(root: &Path, dir: &Path, ids: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scenario_ids(root, &path, ids);
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            let id = path.strip_prefix(root).unwrap().with_extension("");
            ids.push(id.display().to_string());
        }
    }
}

/// The `.eml` files whose message a seated implementation built: each scenario's transcript
/// has a send record with an `implementation` detail for it.
fn built_by_seated_implementations(files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut built = Vec::new();
    for (name, bytes) in files {
        let Some(folder) = name.strip_suffix("transcript.json") else {
            continue;
        };
        let json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
        let records = json["transcript"]["records"].as_array().unwrap();
        for record in records.iter().filter(|record| record["action"] == "send") {
            let details = record["details"].as_array().unwrap();
            let detail = |key: &str| {
                details
                    .iter()
                    .find(|detail| detail["key"] == key)
                    .and_then(|detail| detail["value"].as_str())
            };
            if detail("implementation").is_none() {
                continue;
            }
            // `#000002 "Subject", 6299 bytes`: the file is `mail/002-…`.
            let number: u64 = detail("message").unwrap()[1..7].parse().unwrap();
            let prefix = format!("{folder}mail/{number:03}-");
            built.extend(
                files
                    .keys()
                    .filter(|name| name.starts_with(&prefix) && name.ends_with(".eml"))
                    .cloned(),
            );
        }
    }
    built
}

#[test]
fn every_scenario_gives_the_same_bytes_with_one_job_and_with_four() {
    let runs: Vec<(String, BTreeMap<String, Vec<u8>>)> = ["1", "4"]
        .into_iter()
        .map(|jobs| {
            let out = tempfile::tempdir().unwrap();
            let output = kmlab(
                &[
                    "run",
                    "--jobs",
                    jobs,
                    "--format",
                    "json",
                    "--artifacts",
                    out.path().to_str().unwrap(),
                    "--export-keys",
                    "scenarios",
                ],
                &workspace(),
            );
            assert_eq!(
                output.status.code(),
                Some(0),
                "--jobs {jobs}: {}",
                text(&output.stderr)
            );
            (text(&output.stdout), files_under(out.path()))
        })
        .collect();
    let (one_output, one) = &runs[0];
    let (four_output, four) = &runs[1];

    // Every scenario wrote its folder with its transcript (a matrix scenario one per
    // combination), keys and all.
    let scenarios = workspace().join("scenarios");
    let mut ids = Vec::new();
    scenario_ids(&scenarios, &scenarios, &mut ids);
    assert!(ids.len() > 40, "only {} scenarios", ids.len());
    for id in &ids {
        assert!(
            one.keys().any(
                |name| name.starts_with(&format!("{id}/")) && name.ends_with("transcript.json")
            ),
            "{id} wrote no transcript"
        );
    }
    for kind in [".key.pem", ".crt.pem", ".eml", ".sqlite", ".crl.pem"] {
        assert!(
            one.keys().any(|name| name.ends_with(kind)),
            "no {kind} file among the artifacts"
        );
    }

    assert!(
        one_output == four_output,
        "the JSON results differ between --jobs 1 and --jobs 4"
    );
    let names_one: Vec<&String> = one.keys().collect();
    let names_four: Vec<&String> = four.keys().collect();
    assert_eq!(names_one, names_four, "different files were written");
    let built_outside = built_by_seated_implementations(one);
    assert!(
        !built_outside.is_empty(),
        "no message of a seated implementation was found"
    );
    let differing: Vec<&String> = one
        .iter()
        .filter(|(name, _)| !built_outside.contains(*name))
        .filter(|(name, bytes)| four.get(*name) != Some(*bytes))
        .map(|(name, _)| name)
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} files differ between --jobs 1 and --jobs 4: {differing:#?}",
        differing.len(),
        one.len()
    );
}

/// The suite's JSON results and artifacts with `--engine ENGINE` (none: the default).
fn suite_with(engine: Option<&str>) -> (String, BTreeMap<String, Vec<u8>>) {
    let out = tempfile::tempdir().unwrap();
    let mut arguments = vec![
        "run",
        "--jobs",
        "2",
        "--format",
        "json",
        "--artifacts",
        out.path().to_str().unwrap(),
        "--export-keys",
    ];
    if let Some(engine) = engine {
        arguments.extend(["--engine", engine]);
    }
    arguments.push("scenarios");
    let output = kmlab(&arguments, &workspace());
    assert_eq!(
        output.status.code(),
        Some(0),
        "--engine {engine:?}: {}",
        text(&output.stderr)
    );
    (text(&output.stdout), files_under(out.path()))
}

/// `bytes` with the engine a transcript names replaced by `engine`.
fn naming_engine(bytes: &[u8], engine: &str) -> Vec<u8> {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    for name in ["openssl", "rustcrypto"] {
        text = text.replace(
            &format!("\"engine\": \"{name}\""),
            &format!("\"engine\": \"{engine}\""),
        );
        text = text.replace(
            &format!("\"engine\":\"{name}\""),
            &format!("\"engine\":\"{engine}\""),
        );
    }
    text.into_bytes()
}

#[test]
fn the_default_engine_builds_what_the_pure_rust_engine_builds_in_every_scenario() {
    let (default_output, default) = suite_with(None);
    let (pure_output, pure) = suite_with(Some("rustcrypto"));

    // The default is the OpenSSL engine, and the run really used it.
    let transcript = default
        .iter()
        .find(|(name, _)| name.ends_with("basic/signed-encrypted-message/transcript.json"))
        .map(|(_, bytes)| serde_json::from_slice::<serde_json::Value>(bytes).unwrap())
        .unwrap();
    assert_eq!(transcript["transcript"]["engine"], "openssl");
    let messages = default.keys().filter(|name| name.ends_with(".eml")).count();
    assert!(messages > 100, "only {messages} messages");

    assert_eq!(
        naming_engine(default_output.as_bytes(), "x"),
        naming_engine(pure_output.as_bytes(), "x"),
        "the JSON results differ between the engines beyond the engine's name"
    );
    let names_default: Vec<&String> = default.keys().collect();
    let names_pure: Vec<&String> = pure.keys().collect();
    assert_eq!(names_default, names_pure, "different files were written");
    let built_outside = built_by_seated_implementations(&default);
    let differing: Vec<&String> = default
        .iter()
        .filter(|(name, _)| !built_outside.contains(*name))
        .filter(|(name, bytes)| {
            let theirs = &pure[*name];
            if name.ends_with("transcript.json") {
                naming_engine(bytes, "x") != naming_engine(theirs, "x")
            } else {
                *bytes != theirs
            }
        })
        .map(|(name, _)| name)
        .collect();
    assert!(
        differing.is_empty(),
        "{} of {} files differ between the default engine and the pure-Rust one: {differing:#?}",
        differing.len(),
        default.len()
    );
}

#[test]
fn artifacts_hold_no_private_key_without_export_keys() {
    let out = tempfile::tempdir().unwrap();
    let output = kmlab(
        &[
            "run",
            "--artifacts",
            out.path().to_str().unwrap(),
            "scenarios/basic/signed-encrypted-message.toml",
        ],
        &workspace(),
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let files = files_under(out.path());
    assert!(files.keys().any(|name| name.ends_with(".crt.pem")));
    for (name, bytes) in &files {
        assert!(
            !name.ends_with(".key.pem"),
            "{name} written without --export-keys"
        );
        assert!(
            !bytes.windows(11).any(|window| window == b"PRIVATE KEY"),
            "{name} holds a PEM private key without --export-keys"
        );
    }
}
