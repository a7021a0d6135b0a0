//! `kmlab inspect` on mail kmlab did not make: messages the `openssl cms` command line signs
//! and encrypts with an exported user's keys, tampered and LF-only copies, opaque signatures,
//! PKCS #12 files OpenSSL wrote, and readers put together from loose files.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{export_artifacts, kmlab, text};
use serde_json::Value;

/// The artifacts of `km/recovery`, keys included: at the end Alice holds encryption keys of
/// generations 1 to 3 and Bob signs with generation 2, all under ContosoRoot.
fn recovery_artifacts(out: &Path) -> PathBuf {
    export_artifacts("scenarios/km/recovery.toml", out);
    out.join("km/recovery")
}

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        text(&output.stderr)
    );
}

fn inspect(args: &[&str], dir: &Path) -> (Option<i32>, String, String) {
    let mut all = vec!["inspect"];
    all.extend_from_slice(args);
    let Output {
        status,
        stdout,
        stderr,
    } = kmlab(&all, dir);
    (status.code(), text(&stdout), text(&stderr))
}

/// Bob's body, clear-signed by `openssl cms -sign` with his exported signing key and his
/// chain; `change` edits the body after signing, as a tampering relay would.
fn openssl_signed(scenario: &Path, name: &str, opaque: bool, change: Option<(&str, &str)>) {
    std::fs::write(
        scenario.join("body.txt"),
        "Alice,\nthe second-quarter figures, signed and sealed by openssl.\nBob\n",
    )
    .unwrap();
    let mut args = vec![
        "cms",
        "-sign",
        "-in",
        "body.txt",
        "-text",
        "-md",
        "sha1",
        "-signer",
        "users/bob/sign-2.crt.pem",
        "-inkey",
        "users/bob/sign-2.key.pem",
        "-certfile",
        "pki/ContosoRoot.crt.pem",
        "-from",
        "bob@contoso.example",
        "-to",
        "alice@contoso.example",
        "-subject",
        "Second quarter",
        "-out",
        name,
    ];
    if opaque {
        args.push("-nodetach");
    }
    openssl(&args, scenario);
    if let Some((from, to)) = change {
        let signed = std::fs::read_to_string(scenario.join(name)).unwrap();
        assert!(signed.contains(from));
        std::fs::write(scenario.join(name), signed.replacen(from, to, 1)).unwrap();
    }
}

/// Envelopes `signed` for Alice's generation-2 certificate (not her newest) with 128-bit RC2.
fn openssl_encrypted(scenario: &Path, signed: &str, name: &str) {
    openssl(
        &[
            "cms",
            "-encrypt",
            "-provider",
            "legacy",
            "-provider",
            "default",
            "-rc2",
            "-in",
            signed,
            "-from",
            "bob@contoso.example",
            "-to",
            "alice@contoso.example",
            "-subject",
            "Second quarter",
            "-out",
            name,
            "users/alice/enc-2.crt.pem",
        ],
        scenario,
    );
}

/// Runs `kmlab inspect`, checks its exit code and that its verdict holds every `expected`
/// text; returns the verdict.
fn expect_inspect(args: &[&str], dir: &Path, code: i32, expected: &[&str]) -> String {
    let (actual, stdout, stderr) = inspect(args, dir);
    assert_eq!(actual, Some(code), "{args:?}: {stdout}{stderr}");
    for text in expected {
        assert!(
            stdout.contains(text),
            "{text:?} not in the verdict on {args:?}:\n{stdout}"
        );
    }
    stdout
}

/// `inspect FILE --as alice --artifacts .`, then `extra`.
fn as_alice<'a>(file: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![file, "--as", "alice", "--artifacts", "."];
    args.extend_from_slice(extra);
    args
}

fn detail(json: &Value, key: &str) -> Option<String> {
    json["record"]["details"]
        .as_array()?
        .iter()
        .find(|d| d["key"] == key)
        .and_then(|d| d["value"].as_str())
        .map(str::to_owned)
}

#[test]
fn an_openssl_made_message_opens_with_the_generation_it_was_sent_to_and_its_signature_holds() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    openssl_signed(&scenario, "signed.eml", false, None);
    openssl_encrypted(&scenario, "signed.eml", "sealed.eml");

    let stdout = expect_inspect(&as_alice("sealed.eml", &[]), &scenario, 0, &[]);
    assert!(
        stdout.starts_with("[inspect] inspect by alice at 2001-09-01T09:00:00Z: ok\n"),
        "{stdout}"
    );
    for line in [
        "    client: outlook2000 (128-bit), judging at 2001-09-01T09:00:00Z",
        // OpenSSL writes LF line ends; the enveloped content is base64, which they do not touch.
        "    line-endings: LF only; read as it is, as the client reads its mailbox (MSG-02)",
        "    decrypted-with: alice enc#2",
        "    cipher: RC2-128-CBC (128-bit)",
        "    signature: verified",
        "    signer: bob sign#2",
        "    policy: valid",
        "    chain: valid",
        "      - Alice,",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "{line:?} not in\n{stdout}"
        );
    }
    // The newest key was tried first and is not a recipient; the labels are the run's.
    assert!(
        stdout.contains(
            "for alice enc#2: opened with alice enc#2 (tried first enc#3: not-a-recipient)"
        ),
        "{stdout}"
    );
    // OpenSSL stamps the wall clock as the signing time, long after the 2001 certificates
    // expired; this client judges at reading time, so the chain then is what counts.
    assert!(stdout.contains("    chain-at-signing: expired"), "{stdout}");

    let json = expect_inspect(
        &as_alice("sealed.eml", &["--format", "json"]),
        &scenario,
        0,
        &[],
    );
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["schema"], "kmlab-inspect/1");
    assert_eq!(json["record"]["outcome"], "ok");
    assert_eq!(
        detail(&json, "decrypted-with").as_deref(),
        Some("alice enc#2")
    );
    let verdicts: Vec<&str> = json["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        verdicts[0].starts_with("enveloped RC2-128-CBC: opened with enc#2"),
        "{verdicts:?}"
    );
    assert!(
        verdicts[1].ends_with("signature verified, policy valid"),
        "{verdicts:?}"
    );

    // The other engine comes to the same verdict.
    expect_inspect(
        &as_alice("sealed.eml", &["--engine", "openssl"]),
        &scenario,
        0,
        &["    decrypted-with: alice enc#2"],
    );
}

#[test]
fn a_tampered_copy_of_an_openssl_made_message_is_tampered() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    openssl_signed(
        &scenario,
        "signed.eml",
        false,
        Some(("second-quarter figures", "second-quarter figures (revised)")),
    );
    openssl_encrypted(&scenario, "signed.eml", "sealed.eml");
    let stdout = expect_inspect(
        &as_alice("sealed.eml", &[]),
        &scenario,
        1,
        &[
            "    decrypted-with: alice enc#2",
            "    signature: digest-mismatch",
        ],
    );
    assert!(
        stdout
            .starts_with("[inspect] inspect by alice at 2001-09-01T09:00:00Z: error (tampered)\n"),
        "{stdout}"
    );
    // Tampered and not encrypted: the signature layer alone gives the verdict.
    expect_inspect(
        &as_alice("signed.eml", &[]),
        &scenario,
        1,
        &[": error (tampered)"],
    );
}

#[test]
fn an_opaque_signature_from_openssl_is_read_and_checked() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    openssl_signed(&scenario, "opaque.eml", true, None);
    expect_inspect(
        &as_alice("opaque.eml", &[]),
        &scenario,
        0,
        &[
            "      - opaque-signed, SHA-1, by bob sign#2",
            "    signature: verified",
            "      - the second-quarter figures, signed and sealed by openssl.",
        ],
    );
    // An Outlook 97 client does not process S/MIME: it cannot read an opaque signature.
    expect_inspect(
        &as_alice("opaque.eml", &["--client", "outlook97"]),
        &scenario,
        1,
        &["error (client-does-not-process-smime)"],
    );
}

#[test]
fn an_lf_only_copy_of_a_delivered_message_reads_as_the_original() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    let original = scenario.join("mail/001-bob-first-quarter.eml");
    let bytes = std::fs::read(&original).unwrap();
    assert!(bytes.windows(2).any(|w| w == b"\r\n"));
    let lf: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\r').collect();
    std::fs::write(scenario.join("lf.eml"), lf).unwrap();

    let crlf_text = expect_inspect(
        &as_alice("mail/001-bob-first-quarter.eml", &[]),
        &scenario,
        0,
        &["    decrypted-with: alice enc#1"],
    );
    assert!(!crlf_text.contains("line-endings"), "{crlf_text}");
    let lf_text = expect_inspect(
        &as_alice("lf.eml", &[]),
        &scenario,
        0,
        &["    line-endings: LF only; read as it is, as the client reads its mailbox (MSG-02)"],
    );
    // Apart from the file's name and the note, the verdicts are the same, word for word.
    let verdict = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("    message:") && !l.starts_with("    line-endings:"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(verdict(&crlf_text), verdict(&lf_text));
}

#[test]
fn an_unknown_user_is_an_error_listing_the_users() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    let (code, stdout, stderr) = inspect(
        &[
            "mail/001-bob-first-quarter.eml",
            "--as",
            "carol",
            "--artifacts",
            ".",
        ],
        &scenario,
    );
    assert_eq!(code, Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("no user carol in ") && stderr.contains("its users are: alice, bob"),
        "{stderr}"
    );
    // The run's folder holds one scenario, so it names that scenario too.
    expect_inspect(
        &as_alice("km/recovery/mail/001-bob-first-quarter.eml", &[]),
        out.path(),
        0,
        &[],
    );
}

#[test]
fn bad_input_is_an_error_naming_the_file_never_a_panic() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    std::fs::write(
        scenario.join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let message = "mail/001-bob-first-quarter.eml";
    for (args, expected) in [
        (
            vec!["missing.eml", "--as", "alice", "--artifacts", "."],
            "missing.eml",
        ),
        (
            vec![message, "--trust", "bad.pem", "--at", "2001-09-01"],
            "bad.pem: bad PEM",
        ),
        (
            vec![message, "--trust", "pki/ContosoRoot.crt.pem"],
            "--at TIME is needed",
        ),
        (
            vec![
                message,
                "--at",
                "yesterday",
                "--trust",
                "pki/ContosoRoot.crt.pem",
            ],
            "--at yesterday",
        ),
        (
            vec![
                message,
                "--at",
                "2001-09-01",
                "--key",
                "users/alice/enc-1.key.pem",
                "--cert",
                "users/alice/enc-2.crt.pem",
            ],
            "does not belong to",
        ),
        (
            vec![
                message,
                "--at",
                "2001-09-01",
                "--key",
                "users/alice/enc-1.key.pem",
            ],
            "in pairs",
        ),
        (
            vec![message, "--at", "2001-09-01", "--client", "outlook3000"],
            "known: outlook97",
        ),
        (
            vec![
                message,
                "--at",
                "2001-09-01",
                "--p12",
                "users/alice/alice.p12",
                "--password",
                "wrong",
            ],
            "alice.p12: the password is wrong",
        ),
        (
            vec![message, "--as", "alice", "--artifacts", "users"],
            "no kmlab artifacts",
        ),
    ] {
        let (code, stdout, stderr) = inspect(&args, &scenario);
        assert_eq!(code, Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn without_artifacts_loose_files_make_the_reader() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    // Bob's third-quarter message, sealed for Alice's generation 2.
    let loose = [
        "mail/002-bob-third-quarter.eml",
        "--trust",
        "pki/ContosoRoot.crt.pem",
        "--key",
        "users/alice/enc-1.key.pem",
        "--cert",
        "users/alice/enc-1.crt.pem",
        "--key",
        "users/alice/enc-2.key.pem",
        "--cert",
        "users/alice/enc-2.crt.pem",
        "--at",
        "2001-09-02T12:00:00Z",
    ];
    // Bob's client signs with SHA-1, which the modern reader checks and warns about (MSG-08).
    let stdout = expect_inspect(
        &loose,
        &scenario,
        1,
        &[
            "    client: modern (128-bit)",
            "    sha1-signature: SHA-1 (1.3.14.3.2.26) no longer resists collisions",
            // The second pair is the reader's generation 2.
            "    decrypted-with: reader enc#2",
            "opened with reader enc#2",
            "    cipher: DES-EDE3-CBC (168-bit)",
            "    signature: verified",
            "    policy: valid",
            "      - bob to alice: Third quarter",
        ],
    );
    assert!(
        stdout.starts_with(
            "[inspect] inspect by reader at 2001-09-02T12:00:00Z: warning (sha1-signature)\n"
        ),
        "{stdout}"
    );

    // The same reader from other encodings: a PKCS #1 key and a certificate, both DER.
    openssl(
        &[
            "rsa",
            "-in",
            "users/alice/enc-2.key.pem",
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "enc-2.pkcs1.der",
        ],
        &scenario,
    );
    openssl(
        &[
            "x509",
            "-in",
            "users/alice/enc-2.crt.pem",
            "-outform",
            "DER",
            "-out",
            "enc-2.der",
        ],
        &scenario,
    );
    let mut encoded: Vec<&str> = loose.to_vec();
    encoded[8] = "enc-2.pkcs1.der";
    encoded[10] = "enc-2.der";
    expect_inspect(
        &encoded,
        &scenario,
        1,
        &["    decrypted-with: reader enc#2", "    policy: valid"],
    );

    // Without the root the signature still holds, but the client does not trust it.
    let mut untrusted: Vec<&str> = loose.to_vec();
    untrusted.drain(1..3);
    expect_inspect(
        &untrusted,
        &scenario,
        1,
        &[": warning (untrusted-root)", "    signature: verified"],
    );

    // Only the first key: nothing opens it.
    let mut one_key: Vec<&str> = loose.to_vec();
    one_key.drain(7..11);
    expect_inspect(&one_key, &scenario, 1, &[": error (no-key-opens)"]);

    // A client that judges at reading time, two years on, named as the run named her.
    let mut late: Vec<&str> = loose.to_vec();
    *late.last_mut().unwrap() = "2004-01-01";
    late.extend(["--client", "outlook2000", "--as", "alice"]);
    expect_inspect(
        &late,
        &scenario,
        1,
        &[": warning (expired)", "    decrypted-with: alice enc#2"],
    );
}

#[test]
fn pkcs12_files_from_kmlab_and_from_openssl_give_the_reader_its_keys() {
    let out = tempfile::tempdir().unwrap();
    let scenario = recovery_artifacts(out.path());
    openssl_signed(&scenario, "signed.eml", false, None);
    openssl_encrypted(&scenario, "signed.eml", "sealed.eml");
    // OpenSSL's own files: its default (PBES2, AES-256) and the legacy one Windows and older
    // tools wrote (3DES keys, 40-bit RC2 certificates, a SHA-1 MAC).
    openssl(
        &[
            "pkcs12",
            "-export",
            "-inkey",
            "users/alice/enc-2.key.pem",
            "-in",
            "users/alice/enc-2.crt.pem",
            "-name",
            "Alice (2001)",
            "-passout",
            "pass:s3cret",
            "-out",
            "modern.p12",
        ],
        &scenario,
    );
    openssl(
        &[
            "pkcs12",
            "-export",
            "-legacy",
            "-provider",
            "legacy",
            "-provider",
            "default",
            "-inkey",
            "users/alice/enc-2.key.pem",
            "-in",
            "users/alice/enc-2.crt.pem",
            "-certfile",
            "pki/ContosoRoot.crt.pem",
            "-passout",
            "pass:s3cret",
            "-out",
            "legacy.p12",
        ],
        &scenario,
    );
    for (file, password, label) in [
        ("users/alice/alice.p12", "kmlab", "alice enc#2"),
        ("modern.p12", "s3cret", "Alice (2001)"),
        ("legacy.p12", "s3cret", "reader enc#1"),
    ] {
        let decrypted = format!("    decrypted-with: {label}\n");
        expect_inspect(
            &[
                "sealed.eml",
                "--p12",
                file,
                "--password",
                password,
                "--trust",
                "pki/ContosoRoot.crt.pem",
                "--client",
                "outlook2000",
                "--at",
                "2001-09-02",
            ],
            &scenario,
            0,
            &[&decrypted, "    signature: verified"],
        );
    }
}

/// `kmlab inspect --format json` of the message `basic/signed-encrypted-message` delivered to
/// Bob, as Bob, from that scenario's artifacts in `scenario`.
fn inspect_delivered_as_bob(scenario: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec![
        "mail/001-alice-quarterly-figures.eml",
        "--as",
        "bob",
        "--artifacts",
        ".",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    inspect(&args, scenario)
}

/// Inspecting an exported message as the user who read it, at the moment they read it, gives
/// the read step's record word for word: one description of a reading serves both.
#[test]
fn inspecting_a_delivered_message_repeats_the_transcripts_read_record() {
    let out = tempfile::tempdir().unwrap();
    export_artifacts("scenarios/basic/signed-encrypted-message.toml", out.path());
    let scenario = out.path().join("basic/signed-encrypted-message");
    let transcript: Value =
        serde_json::from_str(&std::fs::read_to_string(scenario.join("transcript.json")).unwrap())
            .unwrap();
    let read = transcript["transcript"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "read" && r["actor"] == "bob")
        .unwrap();
    let (code, json, stderr) = inspect_delivered_as_bob(&scenario, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    let inspected: Value = serde_json::from_str(&json).unwrap();
    let verdict_details = |details: &Value, skip: &[&str]| -> Vec<Value> {
        details
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| !skip.iter().any(|key| d["key"] == *key))
            .cloned()
            .collect()
    };
    let expected = verdict_details(&read["details"], &["message", "capabilities"]);
    assert!(expected.len() >= 10, "{expected:?}");
    assert_eq!(
        verdict_details(&inspected["record"]["details"], &["message", "client"]),
        expected
    );
    assert_eq!(inspected["record"]["outcome"], read["outcome"]);
    assert_eq!(inspected["record"]["at"], read["at"]);
}

/// CA-12 from the artifacts and from --crl: the CRLs the client fetched revoke the signer.
#[test]
fn the_clients_crls_revoke_a_signer_with_artifacts_and_without() {
    let out = tempfile::tempdir().unwrap();
    export_artifacts("scenarios/ca/revocation-crl.toml", out.path());
    let scenario = out.path().join("ca/revocation-crl");
    let message = "mail/001-alice-quarterly-figures.eml";
    expect_inspect(
        &[message, "--as", "bob", "--artifacts", "."],
        &scenario,
        1,
        &[
            ": warning (revoked)",
            "    signature: verified",
            "    policy: revoked",
        ],
    );
    let loose = [
        message,
        "--trust",
        "pki/ContosoRoot.crt.pem",
        "--client",
        "outlook2000",
        "--at",
        "2001-03-05",
    ];
    // Without a CRL the client cannot tell.
    expect_inspect(
        &loose,
        &scenario,
        0,
        &["    revocation: no-crl (the client holds no CRL of the issuer)"],
    );
    let mut with_crl: Vec<&str> = loose.to_vec();
    with_crl.extend(["--crl", "pki/ContosoRoot.crl.pem"]);
    expect_inspect(&with_crl, &scenario, 1, &[": warning (revoked)"]);
    // Judged before the CRL was issued, the client holds no CRL of that time.
    *with_crl.iter_mut().find(|a| **a == "2001-03-05").unwrap() = "2001-03-02";
    expect_inspect(&with_crl, &scenario, 0, &["    revocation: no-crl"]);
}

/// `--adapter` puts a real implementation in the reader's seat: OpenSSL's command line opens
/// and verifies the delivered message with the verdicts kmlab's engine gives; a broken
/// adapter is the adapter's failure, and an unknown one a usage error.
#[test]
fn a_real_implementation_reads_as_the_user_with_kmlabs_verdicts() {
    let out = tempfile::tempdir().unwrap();
    export_artifacts("scenarios/basic/signed-encrypted-message.toml", out.path());
    let scenario = out.path().join("basic/signed-encrypted-message");
    let read_as_bob = |extra: &[&str]| inspect_delivered_as_bob(&scenario, extra);
    let (code, kmlab_json, stderr) = read_as_bob(&[]);
    assert_eq!(code, Some(0), "{stderr}");
    let (code, seated_json, stderr) = read_as_bob(&["--adapter", "openssl-cli"]);
    assert_eq!(code, Some(0), "{stderr}");
    let kmlab: Value = serde_json::from_str(&kmlab_json).unwrap();
    let seated: Value = serde_json::from_str(&seated_json).unwrap();
    assert_eq!(seated["engine"], "openssl-cli");
    assert_eq!(
        detail(&seated, "implementation").as_deref(),
        Some("openssl-cli")
    );
    let mut details = seated["record"]["details"].as_array().unwrap().clone();
    details.retain(|d| d["key"] != "implementation");
    assert_eq!(Value::Array(details), kmlab["record"]["details"]);

    let garbage = common::workspace().join("tests/fixtures/adapters/garbage");
    let (code, json, stderr) = read_as_bob(&["--adapter", garbage.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let broken: Value = serde_json::from_str(&json).unwrap();
    let failure = detail(&broken, "adapter-failure").unwrap();
    assert!(
        failure.starts_with("garbage decrypt: answered something that is not JSON"),
        "{failure}"
    );

    let (code, _, stderr) = read_as_bob(&["--adapter", "no-such-tool"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("--adapter no-such-tool: unknown adapter `no-such-tool`"),
        "{stderr}"
    );
}

#[test]
fn a_huge_body_is_shown_in_part_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut message = b"From: bob@contoso.example\r\nTo: alice@contoso.example\r\nSubject: big\r\n\
        MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
        .to_vec();
    let lines = 400_000;
    for n in 0..lines {
        message.extend_from_slice(format!("line {n:06} of a long body\r\n").as_bytes());
    }
    std::fs::write(dir.path().join("big.eml"), &message).unwrap();
    for format in ["human", "json"] {
        let (code, stdout, stderr) = inspect(
            &[
                "big.eml",
                "--at",
                "2001-09-02T12:00:00Z",
                "--format",
                format,
            ],
            dir.path(),
        );
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stdout.len() < 20_000, "{} bytes printed", stdout.len());
        assert!(stdout.contains("line 000099 of a long body"), "{stdout}");
        assert!(!stdout.contains("line 000100 of"), "{stdout}");
        let more = format!(
            "... {} more bytes ({} more lines) not shown",
            (lines - 100) * 28,
            lines - 100
        );
        assert!(stdout.contains(&more), "{more} not in {stdout}");
    }
}
