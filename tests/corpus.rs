//! The malformed-input corpus (`tests/corpus/malformed/`): every file is read by Bob's client
//! and must get the verdict and reason its manifest entry names, with memory bounded; the
//! OpenSSL engine must read every file too. The files are generated
//! (`kmlab_tests::hostile::corpus`) and committed; the generator must still make exactly
//! them. `KMLAB_REGENERATE_CORPUS=1 cargo test -p kmlab-tests --test corpus` rewrites them.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::PathBuf;

use clients::{Persona, Strength};
use kmlab_tests::hostile::{Fixture, Verdict, corpus, verdict};
use kmlab_tests::memory::peak_growth;
use model::Named;

fn corpus_dir() -> PathBuf {
    kmlab_tests::workspace_root().join("tests/corpus/malformed")
}

/// The names of the committed corpus files, sorted.
fn committed_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".eml"))
        .collect();
    names.sort();
    names
}

/// One manifest entry.
#[derive(Debug)]
struct Expected {
    name: String,
    client: Persona,
    verdict: String,
    reason: String,
    detail: Option<String>,
    reading: Vec<String>,
    /// OpenSSL's verdict and reason where they differ from kmlab's own engine, with why.
    openssl: Option<(String, String)>,
}

impl Expected {
    /// Whether `got` is this entry's verdict, reason and detail.
    fn matches(&self, got: &Verdict) -> bool {
        got.verdict == self.verdict
            && got.reason == self.reason
            && self.detail.as_ref().is_none_or(|detail| {
                got.detail
                    .as_ref()
                    .is_some_and(|got| got.contains(detail.as_str()))
            })
    }
}

fn manifest() -> Vec<Expected> {
    let text = std::fs::read_to_string(corpus_dir().join("manifest.toml")).unwrap();
    let root = toml_span::parse(&text).unwrap();
    let entries = root.pointer("/file").and_then(|v| v.as_array()).unwrap();
    entries
        .iter()
        .map(|entry| {
            let optional = |key: &str| {
                entry
                    .pointer(&format!("/{key}"))
                    .map(|v| v.as_str().unwrap().to_owned())
            };
            let text = |key: &str| {
                optional(key).unwrap_or_else(|| panic!("manifest entry without `{key}`: {entry:?}"))
            };
            assert!(!text("what").is_empty());
            let openssl = optional("openssl_verdict").map(|verdict| {
                assert!(!text("openssl_why").is_empty());
                (verdict, text("openssl_reason"))
            });
            let client = optional("client").map_or(Persona::Modern, |name| {
                *<Persona as Named>::ALL
                    .iter()
                    .find(|persona| persona.name() == name)
                    .unwrap_or_else(|| panic!("unknown client {name}"))
            });
            Expected {
                name: text("name"),
                client,
                verdict: text("verdict"),
                reason: text("reason"),
                detail: optional("detail"),
                openssl,
                reading: entry
                    .pointer("/reading")
                    .and_then(|v| v.as_array())
                    .unwrap()
                    .iter()
                    .map(|line| line.as_str().unwrap().to_owned())
                    .collect(),
            }
        })
        .collect()
}

#[test]
fn the_committed_corpus_is_what_the_generator_makes() {
    let dir = corpus_dir();
    let files = corpus::files();
    if std::env::var_os("KMLAB_REGENERATE_CORPUS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "eml") {
                std::fs::remove_file(path).unwrap();
            }
        }
        for file in &files {
            std::fs::write(dir.join(file.name), &file.bytes).unwrap();
        }
    }
    let committed = committed_files();
    let generated: Vec<&str> = files.iter().map(|file| file.name).collect();
    assert_eq!(
        committed, generated,
        "the corpus folder and the generator disagree on the files; regenerate with \
         KMLAB_REGENERATE_CORPUS=1"
    );
    for file in &files {
        assert!(
            std::fs::read(dir.join(file.name)).unwrap() == file.bytes,
            "{} is not what the generator makes; regenerate with KMLAB_REGENERATE_CORPUS=1",
            file.name
        );
    }
}

#[test]
fn every_corpus_file_gets_its_verdict_and_reason_in_bounded_memory() {
    let dir = corpus_dir();
    let expected = manifest();
    let mut names: Vec<&str> = expected.iter().map(|entry| entry.name.as_str()).collect();
    names.sort_unstable();
    let files = committed_files();
    assert!(files.len() >= 40, "only {} corpus files", files.len());
    assert_eq!(
        files, names,
        "every file has one manifest entry and no entry lacks its file"
    );
    let fixture = Fixture::get();
    let engine = smime_rustcrypto::RustCryptoEngine;
    let mut wrong = Vec::new();
    for entry in &expected {
        let bytes = std::fs::read(dir.join(&entry.name)).unwrap();
        let reader = fixture.reader_as(entry.client, Strength::High, &engine);
        let (reading, growth) = peak_growth(|| clients::read::read(&bytes, &reader));
        let got = verdict(&reading);
        let lines = reading.verdicts();
        if !entry.matches(&got) || lines != entry.reading {
            wrong.push(format!(
                "{}: expected {} ({}, {:?}) {:#?}\n  got {got:?} {lines:#?}",
                entry.name, entry.verdict, entry.reason, entry.detail, entry.reading
            ));
        }
        // No file is bigger than a few hundred kilobytes; reading one must not cost more than
        // a few megabytes, whatever it claims about its own size or depth.
        assert!(
            growth < 32 << 20,
            "{} made memory grow by {growth} bytes",
            entry.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_openssl_engine_reads_every_corpus_file_too() {
    let fixture = Fixture::get();
    let engine = smime_openssl::OpensslEngine::new().unwrap();
    let mut wrong = Vec::new();
    for entry in manifest() {
        let bytes = std::fs::read(corpus_dir().join(&entry.name)).unwrap();
        let reader = fixture.reader_as(entry.client, Strength::High, &engine);
        let got = verdict(&clients::read::read(&bytes, &reader));
        // Where OpenSSL judges differently the manifest says so and why; a difference that
        // goes away fails as loudly as a new one.
        let (want_verdict, want_reason) = entry
            .openssl
            .clone()
            .unwrap_or((entry.verdict.clone(), entry.reason.clone()));
        if got.verdict != want_verdict || got.reason != want_reason {
            wrong.push(format!(
                "{}: expected {want_verdict} ({want_reason}) from OpenSSL, got {got:?}",
                entry.name
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_clear_signed_50_mib_attachment_is_read_in_bounded_memory() {
    const SIZE: usize = 50 << 20;
    let message = corpus::big_attachment_message(SIZE);
    let fixture = Fixture::get();
    let engine = smime_rustcrypto::RustCryptoEngine;
    let (reading, growth) = peak_growth(|| clients::read::read(&message, &fixture.reader(&engine)));
    let got = verdict(&reading);
    assert_eq!(
        (got.verdict, got.reason.as_str()),
        ("readable", "multipart/mixed"),
        "{:#?}",
        reading.verdicts()
    );
    // The message (base64, about 68 MiB) is already in memory; reading it takes a few more
    // copies of it (the decoded attachment, the signed part), bounded by its size.
    let limit = 4 * message.len() as u64;
    assert!(
        growth < limit,
        "reading a {} byte message grew memory by {growth} bytes",
        message.len()
    );
}
