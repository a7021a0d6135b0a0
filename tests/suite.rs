//! The suite itself: it finds its scenarios, it can fail, and runs are reproducible.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kmlab_tests::{check_scenario, workspace_root};

fn scenario_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scenario_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            found.push(path);
        }
    }
}

#[test]
fn the_suite_finds_scenarios_and_each_has_a_snapshot() {
    let root = workspace_root();
    let mut files = Vec::new();
    scenario_files(&root.join("scenarios"), &mut files);
    assert!(
        files.len() >= 2,
        "expected scenario files under scenarios/, found {}",
        files.len()
    );
    for file in files {
        let relative = file
            .strip_prefix(root.join("scenarios"))
            .unwrap()
            .with_extension("snap");
        let snapshot = root.join("snapshots").join(relative);
        assert!(
            snapshot.is_file(),
            "{} has no snapshot at {}",
            file.display(),
            snapshot.display()
        );
    }
}

/// Copies a scenario into a fresh project layout so its snapshot can be tampered with.
fn project_with(scenario: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let project = tempfile::tempdir().unwrap();
    let scenario_path = project.path().join("scenarios").join("copy.toml");
    let snapshot_path = project.path().join("snapshots").join("copy.snap");
    std::fs::create_dir_all(scenario_path.parent().unwrap()).unwrap();
    std::fs::create_dir_all(snapshot_path.parent().unwrap()).unwrap();
    std::fs::copy(
        workspace_root().join("scenarios").join(scenario),
        &scenario_path,
    )
    .unwrap();
    let original = workspace_root()
        .join("snapshots")
        .join(scenario)
        .with_extension("snap");
    let text = std::fs::read_to_string(original)
        .unwrap()
        .replace("basic/signed-encrypted-message", "copy");
    std::fs::write(&snapshot_path, text).unwrap();
    (project, scenario_path, snapshot_path)
}

#[test]
fn an_edited_snapshot_fails_the_scenario_test() {
    let (_project, scenario, snapshot) = project_with("basic/signed-encrypted-message.toml");
    // The unedited copy passes, so the failure below comes from the edit alone.
    check_scenario(&scenario);
    let text = std::fs::read_to_string(&snapshot)
        .unwrap()
        .replace("decrypted-with: bob enc#1", "decrypted-with: bob enc#2");
    std::fs::write(&snapshot, text).unwrap();
    let outcome = std::panic::catch_unwind(|| check_scenario(&scenario));
    assert!(
        outcome.is_err(),
        "a changed snapshot must fail the scenario test"
    );
}

#[test]
fn an_unmet_expectation_fails_the_scenario_test() {
    let (_project, scenario, _) = project_with("basic/signed-encrypted-message.toml");
    let text = std::fs::read_to_string(&scenario).unwrap().replace(
        "decrypted-with = \"bob enc#1\"",
        "decrypted-with = \"bob enc#7\"",
    );
    std::fs::write(&scenario, text).unwrap();
    let outcome = std::panic::catch_unwind(|| check_scenario(&scenario));
    assert!(
        outcome.is_err(),
        "an unmet expectation must fail the scenario test"
    );
}

fn artifacts_of_one_run(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let path = workspace_root().join("scenarios/basic/signed-encrypted-message.toml");
    let scenario = scenario::load("basic/signed-encrypted-message", &path).unwrap();
    let work = tempfile::tempdir().unwrap();
    let options = kmlab_tests::run_options(work.path());
    let run = runner::run(std::sync::Arc::new(scenario), &options).unwrap();
    let written = run.write_artifacts(dir, true).unwrap();
    let mut files = Vec::new();
    collect(&written, &written, &mut files);
    files.sort();
    files
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.push((
                path.strip_prefix(root).unwrap().to_path_buf(),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
}

#[test]
fn the_same_scenario_twice_gives_byte_identical_artifacts() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let a = artifacts_of_one_run(first.path());
    let b = artifacts_of_one_run(second.path());
    let names: Vec<_> = a
        .iter()
        .map(|(name, _)| name.display().to_string())
        .collect();
    for expected in [
        "transcript.json",
        "pki/ContosoRoot.crt.pem",
        "users/bob/enc-1.key.pem",
        "users/bob/bob.p12",
        "users/bob/client.json",
        "users/bob/trust/root-1.crt.pem",
        "certificates.json",
        "km/KM1.sqlite",
        "mail/001-alice-quarterly-figures.eml",
    ] {
        assert!(
            names.iter().any(|name| name == expected),
            "{expected} missing from {names:?}"
        );
    }
    assert_eq!(a.len(), b.len());
    for ((name_a, bytes_a), (name_b, bytes_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(
            bytes_a == bytes_b,
            "{} differs between two runs",
            name_a.display()
        );
    }
}

/// An engine that builds and decrypts like the default one but finds every signature invalid:
/// a stand-in for an engine that disagrees.
#[derive(Debug)]
struct Contrary;

impl smime::Engine for Contrary {
    fn name(&self) -> &str {
        "contrary"
    }

    fn is_deterministic(&self) -> bool {
        true
    }

    fn sign(
        &self,
        request: &smime::SignRequest<'_>,
        context: &smime::CallContext<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<smime::CmsDer, smime::EngineError> {
        smime_rustcrypto::RustCryptoEngine.sign(request, context, rng)
    }

    fn envelope(
        &self,
        request: &smime::EnvelopeRequest<'_>,
        context: &smime::CallContext<'_>,
        rng: &mut dyn rand_core::CryptoRngCore,
    ) -> Result<smime::CmsDer, smime::EngineError> {
        smime_rustcrypto::RustCryptoEngine.envelope(request, context, rng)
    }

    fn decrypt(
        &self,
        message: &[u8],
        certificate: &model::CertificateDer,
        key: &model::PrivateKeyDer,
        context: &smime::CallContext<'_>,
    ) -> smime::Decryption {
        smime_rustcrypto::RustCryptoEngine.decrypt(message, certificate, key, context)
    }

    fn verify(
        &self,
        message: &[u8],
        detached: Option<&[u8]>,
        context: &smime::CallContext<'_>,
    ) -> smime::SignatureCheck {
        let mut check = smime_rustcrypto::RustCryptoEngine.verify(message, detached, context);
        check.status = smime::SignatureStatus::SignatureInvalid;
        check
    }
}

#[test]
fn a_cross_check_disagreement_is_listed_with_both_verdicts_and_leaves_the_snapshot_alone() {
    let path = workspace_root().join("scenarios/basic/signed-encrypted-message.toml");
    let scenario = scenario::load("basic/signed-encrypted-message", &path).unwrap();
    let work = tempfile::tempdir().unwrap();
    let options = runner::RunOptions {
        cross_check: Some(Arc::new(Contrary)),
        ..kmlab_tests::run_options(work.path())
    };
    let run = runner::run(std::sync::Arc::new(scenario), &options).unwrap();
    // Both reads of the signed message disagree.
    assert_eq!(
        run.transcript.disagreements.len(),
        2,
        "{:?}",
        run.transcript.disagreements
    );
    let first = &run.transcript.disagreements[0];
    assert!(
        first.starts_with("step 10 (line ") && first.contains(") read: the engines disagree"),
        "{first}"
    );
    assert!(first.contains("rustcrypto: clear-signed"), "{first}");
    assert!(first.contains("signature verified"), "{first}");
    assert!(first.contains("contrary: clear-signed"), "{first}");
    assert!(first.contains("signature signature-invalid"), "{first}");
    let snapshot = report::render_snapshot(&run.transcript);
    assert!(!snapshot.contains("contrary"));
}

/// KM-08: the KM database holds every encryption key, wrapped under keys derived from the
/// startup password with the database's salt (a plain hash of the password opens none), and no
/// signing key at all.
#[test]
fn the_km_database_escrows_encryption_keys_and_never_signing_keys() {
    let out = tempfile::tempdir().unwrap();
    let path = workspace_root().join("scenarios/km/recovery.toml");
    let scenario = scenario::load("km/recovery", &path).unwrap();
    let work = tempfile::tempdir().unwrap();
    let options = kmlab_tests::run_options(work.path());
    let run = runner::run(std::sync::Arc::new(scenario), &options).unwrap();
    let root = run.write_artifacts(out.path(), true).unwrap();
    let database_file = root.join("km/KM1.sqlite");
    let bytes = std::fs::read(&database_file).unwrap();
    let database = km::Database::open(&database_file).unwrap();
    assert_eq!(database.integrity_check().unwrap(), "ok");
    let escrow = km::EscrowKeys::for_database(&database, "startup").unwrap();
    let wrong = km::EscrowKeys::for_database(&database, "wrong").unwrap();

    let mut escrowed_count = 0;
    for user in ["alice", "bob"] {
        let dn = format!("/o=Contoso/ou=Redmond/cn=Recipients/cn={user}");
        let escrowed = database.escrowed_keys(&dn).unwrap();
        assert!(!escrowed.is_empty(), "{user} has no escrowed key");
        for key in &escrowed {
            escrowed_count += 1;
            let pem = std::fs::read_to_string(
                root.join(format!("users/{user}/enc-{}.key.pem", key.generation)),
            )
            .unwrap();
            let client_key = pem_body(&pem);
            let unwrapped = escrow
                .unwrap(key)
                .expect("wrapped under the startup password");
            assert_eq!(
                unwrapped.as_slice(),
                client_key.as_slice(),
                "{user} enc#{}",
                key.generation
            );
            assert!(
                !contains(&bytes, &client_key),
                "an encryption key is stored unwrapped"
            );
            assert_eq!(wrong.unwrap(key), None);
            assert_no_plain_hash_opens(out.path(), key, "startup", &client_key);
        }
        // Every signing key the client ever had: neither its PKCS #8 form nor its modulus is
        // anywhere in the file.
        for entry in std::fs::read_dir(root.join("users").join(user)).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with("sign-") && name.ends_with(".key.pem") {
                let key = pem_body(
                    &std::fs::read_to_string(root.join("users").join(user).join(&name)).unwrap(),
                );
                assert!(
                    !contains(&bytes, &key),
                    "{user} {name} is in the KM database"
                );
                // The 256-byte modulus sits at a fixed place in a 2048-bit PKCS #8 key.
                assert!(
                    !contains(&bytes, &key[38..38 + 64]),
                    "{user} {name}'s modulus is in the KM database"
                );
            }
        }
    }
    assert!(
        escrowed_count >= 4,
        "alice and bob each have several generations"
    );
}

/// `openssl enc -d` with a key that is a plain SHA-256 of the password (whole, or its first 16
/// bytes as the older format used, with and without its label), over the stored bytes with and
/// without the tag, never gives back the private key.
fn assert_no_plain_hash_opens(dir: &Path, key: &km::EscrowedKey, password: &str, expected: &[u8]) {
    use sha2::Digest;
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let plain = sha2::Sha256::digest(password.as_bytes());
    let labelled = sha2::Sha256::new()
        .chain_update(b"kmlab km escrow wrap v1\0")
        .chain_update(password.as_bytes())
        .finalize();
    let input = dir.join("wrapped.bin");
    let data = &key.wrapped_key;
    for bytes in [&data[..], &data[..data.len().saturating_sub(32)]] {
        std::fs::write(&input, bytes).unwrap();
        for (cipher, secret) in [
            ("-aes-128-cbc", &plain[..16]),
            ("-aes-128-cbc", &labelled[..16]),
            ("-aes-256-cbc", &plain[..]),
            ("-aes-256-cbc", &labelled[..]),
        ] {
            let output = std::process::Command::new("openssl")
                .args([
                    "enc",
                    "-d",
                    cipher,
                    "-K",
                    &hex(secret),
                    "-iv",
                    &hex(&key.wrap_iv),
                    "-in",
                ])
                .arg(&input)
                .output()
                .unwrap();
            assert!(
                !output.status.success() || output.stdout != expected,
                "generation {} opens with {cipher} under a plain hash of the password",
                key.generation
            );
        }
    }
}

/// The DER inside a PEM file.
fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect();
    base64_decode(&body)
}

fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buffer = 0u32;
    let mut bits = 0;
    for byte in text.bytes().filter(|b| *b != b'=') {
        let value = ALPHABET.iter().position(|a| *a == byte).unwrap() as u32;
        buffer = buffer << 6 | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
