//! The artifacts' JSON files keep their documented formats: every scenario's
//! `transcript.json` validates against `harness/report/transcript.schema.json` (checked by
//! Python's `jsonschema`, an independent validator), and every `client.json` and
//! `certificates.json` reads back into the types that document them, unknown fields refused.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{export_artifacts, text, workspace};

fn files_named(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_named(&path, name, found);
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
}

/// Validates each file against the schema; returns Python's report and whether all held.
fn validate(schema: &Path, files: &[PathBuf]) -> (bool, String) {
    const SCRIPT: &str = r#"
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
bad = 0
for path in sys.argv[2:]:
    for error in validator.iter_errors(json.load(open(path))):
        bad += 1
        print(f"{path}: {'/'.join(map(str, error.absolute_path))}: {error.message}")
print(f"{len(sys.argv) - 2} checked, {bad} errors")
sys.exit(1 if bad else 0)
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(schema)
        .args(files)
        .output()
        .unwrap();
    (
        output.status.success(),
        format!("{}{}", text(&output.stdout), text(&output.stderr)),
    )
}

#[test]
fn every_artifact_json_file_keeps_its_documented_format() {
    let out = tempfile::tempdir().unwrap();
    export_artifacts("scenarios", out.path());
    let schema = workspace().join("harness/report/transcript.schema.json");

    let mut transcripts = Vec::new();
    files_named(out.path(), "transcript.json", &mut transcripts);
    assert!(
        transcripts.len() >= 40,
        "only {} transcripts",
        transcripts.len()
    );
    let (valid, report) = validate(&schema, &transcripts);
    assert!(valid, "{report}");

    // The validator does catch a record that leaves out a documented field.
    let broken = out.path().join("broken.json");
    let mut transcript: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&transcripts[0]).unwrap()).unwrap();
    transcript["transcript"]["records"][0]
        .as_object_mut()
        .unwrap()
        .remove("outcome");
    std::fs::write(&broken, transcript.to_string()).unwrap();
    let (valid, report) = validate(&schema, &[broken]);
    assert!(
        !valid && report.contains("'outcome' is a required property"),
        "{report}"
    );

    let mut clients = Vec::new();
    files_named(out.path(), runner::CLIENT_FILE, &mut clients);
    assert!(clients.len() >= 70, "only {} client files", clients.len());
    for path in &clients {
        let client: runner::ClientFile =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(client.schema, runner::CLIENT_SCHEMA);
        let folder = path.parent().unwrap();
        assert_eq!(folder.file_name().unwrap().to_string_lossy(), client.user);
        // Every file it names is there.
        let named = client
            .encryption_keys
            .iter()
            .chain(&client.signing_keys)
            .chain(&client.lost_encryption_keys)
            .chain(&client.lost_signing_keys)
            .flat_map(|key| std::iter::once(&key.certificate).chain(&key.key))
            .chain(&client.trusted_roots)
            .chain(&client.trust_list)
            .chain(&client.crls)
            .chain(client.rewritten_mail.iter().map(|copy| &copy.file));
        for file in named {
            assert!(folder.join(file).is_file(), "{}: {file}", path.display());
        }
    }
    let mut books = Vec::new();
    files_named(out.path(), runner::CERTIFICATES_FILE, &mut books);
    assert_eq!(books.len(), transcripts.len());
    for path in &books {
        let book: runner::CertificatesFile =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(book.schema, runner::CERTIFICATES_SCHEMA);
        // A user's key label names one certificate for the whole run.
        let mut labels = std::collections::BTreeSet::new();
        for entry in book
            .certificates
            .iter()
            .filter(|entry| entry.label.contains(" enc#") || entry.label.contains(" sign#"))
        {
            assert!(
                labels.insert(&entry.label),
                "{}: two certificates labelled {}",
                path.display(),
                entry.label
            );
        }
    }
}

/// After a 5.5 site move the new KM server's keys continue each user's numbering, and the
/// artifacts hold every key a user ever held and every mailbox copy sectool wrote: OpenSSL
/// opens the copy sectool encrypted with the key the transcript names, and not with the lost
/// one.
#[test]
fn a_site_move_exports_every_key_ever_held_and_every_rewritten_copy() {
    let out = tempfile::tempdir().unwrap();
    export_artifacts("scenarios/km/site-move-55.toml", out.path());
    let carol = out.path().join("km/site-move-55/users/carol");
    let client: runner::ClientFile =
        serde_json::from_str(&std::fs::read_to_string(carol.join(runner::CLIENT_FILE)).unwrap())
            .unwrap();
    let generations =
        |keys: &[runner::KeyFiles]| keys.iter().map(|k| k.generation).collect::<Vec<_>>();
    assert_eq!(generations(&client.encryption_keys), [2]);
    assert_eq!(generations(&client.lost_encryption_keys), [1]);
    assert_eq!(
        client
            .rewritten_mail
            .iter()
            .map(|copy| (copy.step, copy.file.as_str()))
            .collect::<Vec<_>>(),
        [
            (13, "mailbox/001-bob-budget.step-13.eml"),
            (17, "mailbox/001-bob-budget.step-17.eml")
        ]
    );
    let open_with = |generation: u32| {
        Command::new("openssl")
            .args(["cms", "-decrypt", "-in"])
            .arg(carol.join("mailbox/001-bob-budget.step-17.eml"))
            .arg("-recip")
            .arg(carol.join(format!("enc-{generation}.crt.pem")))
            .arg("-inkey")
            .arg(carol.join(format!("enc-{generation}.key.pem")))
            .output()
            .unwrap()
    };
    let opened = open_with(2);
    assert!(opened.status.success(), "{}", text(&opened.stderr));
    assert!(
        text(&opened.stdout).contains("multipart/signed"),
        "{}",
        text(&opened.stdout)
    );
    assert!(!open_with(1).status.success());
    // The copy sectool decrypted is plain MIME, readable by anything.
    let decrypted =
        std::fs::read_to_string(carol.join("mailbox/001-bob-budget.step-13.eml")).unwrap();
    assert!(decrypted.contains("multipart/signed"), "{decrypted}");
    let alice = out.path().join("km/site-move-55/users/alice");
    assert_ne!(
        std::fs::read(alice.join("enc-1.crt.pem")).unwrap(),
        std::fs::read(alice.join("enc-2.crt.pem")).unwrap()
    );
}

#[test]
fn the_schema_file_names_the_format_the_code_writes() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace().join("harness/report/transcript.schema.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(schema["$id"], report::TRANSCRIPT_SCHEMA);
    assert_eq!(
        schema["properties"]["schema"]["const"],
        report::TRANSCRIPT_SCHEMA
    );
}
