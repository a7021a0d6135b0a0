//! The OpenSSL command line as a real peer: every message the built-in scenarios exported is
//! taken apart with `openssl cms`, and OpenSSL must agree with kmlab's verdict on which key
//! decrypts it, the content cipher, the digest and whether the signature holds.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{export_artifacts, text};
use serde_json::Value;

/// What kmlab's transcript says a reader made of a message.
#[derive(Debug)]
struct Verdict {
    scenario: PathBuf,
    message: PathBuf,
    reader: String,
    reason: Option<String>,
    decrypted_with: Option<String>,
    cipher: Option<String>,
    signature: Option<String>,
    digest: Option<String>,
    /// The generations the reader tried, as its layers line names them (`enc#2: …`).
    tried: Vec<String>,
}

#[derive(Debug, Default)]
struct Tally {
    messages: usize,
    sent_copies: usize,
    decryptions: usize,
    refusals: usize,
    ciphers: usize,
    signatures: usize,
    digests: usize,
}

fn detail(record: &Value, key: &str) -> Option<String> {
    record["details"]
        .as_array()?
        .iter()
        .find(|d| d["key"] == key)
        .and_then(|d| d["value"].as_str())
        .map(str::to_owned)
}

fn transcripts(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            transcripts(&path, found);
        } else if path.file_name().is_some_and(|n| n == "transcript.json") {
            found.push(path);
        }
    }
}

/// Every inbox reading of a message as the sink stored it (not changed in transit).
fn verdicts(out: &Path) -> Vec<Verdict> {
    let mut files = Vec::new();
    transcripts(out, &mut files);
    let mut verdicts = Vec::new();
    for file in files {
        let scenario = file.parent().unwrap().to_path_buf();
        let transcript: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        for record in transcript["transcript"]["records"].as_array().unwrap() {
            // The exported .eml is what the sink stored; a copy changed in transit or
            // rewritten in the mailbox is not what the reader read.
            let rewritten = detail(record, "message")
                .is_some_and(|m| m.to_string().contains("sectool rewrote"));
            if record["action"] != "read"
                || detail(record, "changed-in-transit").is_some()
                || rewritten
            {
                continue;
            }
            let Some(label) = detail(record, "message") else {
                continue;
            };
            let Some(number) = label
                .strip_prefix("inbox #")
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let prefix = format!("{number:03}-");
            let message = std::fs::read_dir(scenario.join("mail"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| {
                    p.file_name()
                        .unwrap()
                        .to_string_lossy()
                        .starts_with(&prefix)
                })
                .unwrap();
            verdicts.push(Verdict {
                scenario: scenario.clone(),
                message,
                reader: record["actor"].as_str().unwrap().to_owned(),
                reason: record["reason"].as_str().map(str::to_owned),
                decrypted_with: detail(record, "decrypted-with"),
                cipher: detail(record, "cipher"),
                signature: detail(record, "signature"),
                digest: detail(record, "digest"),
                tried: tried_generations(record),
            });
        }
    }
    verdicts
}

/// `enc#N` for every key a read record says the client tried.
fn tried_generations(record: &Value) -> Vec<String> {
    let layers = record["details"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["key"] == "layers")
        .and_then(|d| d["value"].as_array().cloned())
        .unwrap_or_default();
    let mut tried = Vec::new();
    for line in layers.iter().filter_map(Value::as_str) {
        // "… for alice enc#1, bob enc#2: no key opened it (enc#1: not-a-recipient, …)"
        let Some((_, attempts)) = line.split_once("no key opened it (") else {
            continue;
        };
        for part in attempts.split("enc#").skip(1) {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            if part[digits.len()..].starts_with(':') && !tried.contains(&digits) {
                tried.push(digits);
            }
        }
    }
    tried
}

/// `openssl cms` with these arguments, words and paths alike.
fn cms(args: &[&dyn AsRef<OsStr>]) -> std::process::Output {
    Command::new("openssl")
        .arg("cms")
        .args(args)
        .output()
        .unwrap()
}

/// OpenSSL's printout of a message's CMS structure, if it has one.
fn structure(message: &Path) -> Option<String> {
    let print = cms(&[&"-cmsout", &"-print", &"-in", &message]);
    print.status.success().then(|| text(&print.stdout))
}

/// Whether `key` (with `certificate`, if given) decrypts `message` into `out`.
fn decrypts(message: &Path, key: &Path, certificate: Option<&Path>, out: &Path) -> bool {
    // The legacy provider brings RC2.
    let mut args: Vec<&dyn AsRef<OsStr>> = vec![
        &"-decrypt",
        &"-provider",
        &"legacy",
        &"-provider",
        &"default",
        &"-in",
        &message,
        &"-inkey",
        &key,
        &"-out",
        &out,
    ];
    match &certificate {
        Some(certificate) => args.extend([&"-recip" as &dyn AsRef<OsStr>, certificate]),
        // Without a certificate OpenSSL tries the key on every recipient and, against the
        // million-message attack, carries on with a random content key when none fits, which
        // now and then "decrypts" to garbage with valid padding; -debug_decrypt makes it say
        // that no recipient fits instead.
        None => args.push(&"-debug_decrypt"),
    }
    cms(&args).status.success()
}

/// `openssl cms -verify` of the signature's mathematics only (the chain is the client's
/// policy, judged apart), writing the signed content to `out`.
fn verifies(message: &Path, out: &Path) -> std::process::Output {
    cms(&[&"-verify", &"-noverify", &"-in", &message, &"-out", &out])
}

/// The printout from `marker` on, and the name of the first algorithm in it.
fn algorithm_after<'a>(print: &'a str, marker: &str) -> (&'a str, &'a str) {
    let after = &print[print.find(marker).unwrap()..];
    let algorithm = after
        .lines()
        .find_map(|l| l.trim().strip_prefix("algorithm: "))
        .and_then(|a| a.split(' ').next())
        .unwrap();
    (after, algorithm)
}

/// The content cipher OpenSSL reads from an envelope's printout, in kmlab's names.
fn cipher_in(print: &str) -> String {
    let (after, algorithm) = algorithm_after(print, "contentEncryptionAlgorithm");
    match algorithm {
        "aes-128-cbc" => "AES-128-CBC".into(),
        "aes-256-cbc" => "AES-256-CBC".into(),
        "des-ede3-cbc" => "DES-EDE3-CBC".into(),
        "rc2-cbc" => {
            // RFC 2268's parameter version: 160 is 40 bits, 120 is 64, 58 is 128.
            let version = after
                .lines()
                .find_map(|l| l.split("INTEGER").nth(1))
                .unwrap()
                .trim()
                .trim_start_matches(':')
                .to_owned();
            match version.as_str() {
                "A0" => "RC2-40-CBC".into(),
                "78" => "RC2-64-CBC".into(),
                "3A" => "RC2-128-CBC".into(),
                other => format!("RC2 version {other}"),
            }
        }
        other => other.to_owned(),
    }
}

fn digest_in(print: &str) -> String {
    match algorithm_after(print, "digestAlgorithms").1 {
        "sha1" => "SHA-1".into(),
        "sha256" => "SHA-256".into(),
        other => other.to_owned(),
    }
}

/// The key files of a label such as `bob enc#2`.
fn key_files(scenario: &Path, label: &str) -> (PathBuf, PathBuf) {
    let (user, generation) = label.rsplit_once(" enc#").unwrap();
    let folder = scenario.join("users").join(user);
    (
        folder.join(format!("enc-{generation}.crt.pem")),
        folder.join(format!("enc-{generation}.key.pem")),
    )
}

fn check(verdict: &Verdict, work: &Path, tally: &mut Tally) {
    let context = format!("{} read by {}", verdict.message.display(), verdict.reader);
    let mut current = verdict.message.clone();
    for depth in 0..4 {
        let Some(print) = structure(&current) else {
            return;
        };
        let next = work.join(format!("layer-{depth}.eml"));
        if print.contains("envelopedData") {
            if let Some(expected) = &verdict.cipher {
                assert!(
                    expected.starts_with(&cipher_in(&print)),
                    "{context}: cipher {expected}"
                );
                tally.ciphers += 1;
            }
            match &verdict.decrypted_with {
                Some(label) => {
                    let (certificate, key) = key_files(&verdict.scenario, label);
                    if !key.exists() {
                        // The client lost this key later in the scenario; the artifacts hold
                        // only what the client holds at the end.
                        return;
                    }
                    let opened = decrypts(&current, &key, Some(&certificate), &next);
                    assert!(opened, "{context}: {label} must open it");
                    tally.decryptions += 1;
                }
                None => {
                    if verdict.reason.as_deref() == Some("no-key-opens") {
                        // Every key the reader holds must fail with OpenSSL too.
                        // The keys the client tried then, as the record names them; the
                        // artifacts hold the client's keys at the end, which may be more.
                        let folder = verdict.scenario.join("users").join(&verdict.reader);
                        for generation in &verdict.tried {
                            let key = folder.join(format!("enc-{generation}.key.pem"));
                            if !key.exists() {
                                continue;
                            }
                            let opened = decrypts(&current, &key, None, &work.join("refused.eml"));
                            assert!(!opened, "{context}: enc#{generation} must not open it");
                        }
                        tally.refusals += 1;
                    }
                    return;
                }
            }
        } else if print.contains("signedData") {
            if let Some(expected) = &verdict.digest {
                assert_eq!(&digest_in(&print), expected, "{context}: digest");
                tally.digests += 1;
            }
            let verify = verifies(&current, &next);
            let Some(status) = &verdict.signature else {
                return;
            };
            if status.starts_with("not-checked") {
                return;
            }
            // A signature the client ignores (Thunderbird's around an envelope) is no verdict
            // to compare; the layers inside it are.
            if status == "ignored" {
                if !verify.status.success() {
                    return;
                }
                current = next;
                continue;
            }
            assert_eq!(
                verify.status.success(),
                status == "verified",
                "{context}: kmlab says {status}, openssl says {}",
                text(&verify.stderr)
            );
            tally.signatures += 1;
            if !verify.status.success() {
                return;
            }
        } else {
            return;
        }
        current = next;
    }
}

fn holds_encryption_keys(folder: &Path) -> bool {
    std::fs::read_dir(folder).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.starts_with("enc-") && name.ends_with(".key.pem")
        })
    })
}

/// MSG-04 for every exported message, the matrix's included: one of the sender's encryption
/// keys opens every envelope and every signature holds, as kmlab's sender reads its sent copy.
fn check_sent_copy(scenario: &Path, message: &Path, work: &Path) -> bool {
    let name = message.file_name().unwrap().to_string_lossy().into_owned();
    let users = scenario.join("users");
    let sender = std::fs::read_dir(&users)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|user| name[4..].starts_with(&format!("{user}-")))
                // Every user has a folder (client.json); a sender without keys has no envelope
                // key to check with, as before it had no folder.
                .filter(|user| holds_encryption_keys(&users.join(user)))
                .max_by_key(String::len)
        })
        .ok()
        .flatten();
    let mut current = message.to_path_buf();
    let mut checked = false;
    for depth in 0..4 {
        let Some(print) = structure(&current) else {
            break;
        };
        let next = work.join(format!("sent-{depth}.eml"));
        let ok = if print.contains("envelopedData") {
            let Some(sender) = &sender else { break };
            // The key the message was sent under, newest first: a sender renewed since still
            // holds the older key too.
            (1..10)
                .rev()
                .map(|g| users.join(sender).join(format!("enc-{g}.key.pem")))
                .filter(|key| key.is_file())
                .any(|key| decrypts(&current, &key, None, &next))
        } else if print.contains("signedData") {
            verifies(&current, &next).status.success()
        } else {
            break;
        };
        assert!(
            ok,
            "{}: the sender's copy does not open or verify",
            message.display()
        );
        checked = true;
        current = next;
    }
    checked
}

#[test]
fn openssl_agrees_with_every_verdict_on_every_exported_message() {
    let out = tempfile::tempdir().unwrap();
    export_artifacts("scenarios", out.path());
    let verdicts = verdicts(out.path());
    let mut tally = Tally::default();
    for (index, verdict) in verdicts.iter().enumerate() {
        let work = out.path().join(format!("work-{index}"));
        std::fs::create_dir_all(&work).unwrap();
        check(verdict, &work, &mut tally);
        tally.messages += 1;
    }
    let mut files = Vec::new();
    transcripts(out.path(), &mut files);
    for file in &files {
        let scenario = file.parent().unwrap();
        let Ok(mail) = std::fs::read_dir(scenario.join("mail")) else {
            continue;
        };
        for message in mail {
            let message = message.unwrap().path();
            let work = out.path().join("sent-work");
            std::fs::create_dir_all(&work).unwrap();
            if check_sent_copy(scenario, &message, &work) {
                tally.sent_copies += 1;
            }
        }
    }
    eprintln!("openssl agreed on {tally:?}");
    // Every form and verdict the scenarios produce is among them; these floors keep the test
    // from passing by checking nothing.
    assert!(tally.messages >= 30, "{tally:?}");
    assert!(tally.decryptions >= 10 && tally.ciphers >= 10, "{tally:?}");
    assert!(tally.signatures >= 20 && tally.digests >= 20, "{tally:?}");
    assert!(tally.refusals >= 1, "{tally:?}");
    assert!(tally.sent_copies >= 80, "{tally:?}");
}
