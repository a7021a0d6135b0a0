//! Everything the CA scenarios export is real PKI: the `openssl` command line parses every
//! certificate, chains every user certificate to its root for the right S/MIME purpose, and
//! verifies every CRL and finds the revoked serials in it.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn openssl(args: &[&str]) -> (bool, String) {
    let output = Command::new("openssl").args(args).output().unwrap();
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files(&path, suffix));
            } else if path.to_string_lossy().ends_with(suffix) {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

fn field(text: &str, prefix: &str) -> String {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(prefix))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn exported_certificates_and_crls_pass_openssl() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_kmlab"))
        .args(["run", "scenarios/ca", "--artifacts"])
        .arg(out.path())
        .current_dir(workspace())
        .env("KMLAB_KEY_CACHE", workspace().join("target/kmlab-keys"))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );

    let mut scenarios = 0;
    let mut checked_users = 0;
    let mut v1 = 0;
    let mut crls = 0;
    for scenario in std::fs::read_dir(out.path().join("ca")).unwrap() {
        let scenario = scenario.unwrap().path();
        scenarios += 1;
        // Roots (subject = issuer) are trust anchors; the other CA certificates are candidates.
        let mut roots = String::new();
        let mut intermediates = String::new();
        for ca in files(&scenario.join("pki"), ".crt.pem") {
            let (ok, text) = openssl(&[
                "x509",
                "-noout",
                "-subject",
                "-issuer",
                "-nameopt",
                "RFC2253",
                "-in",
                ca.to_str().unwrap(),
            ]);
            assert!(ok, "{}: {text}", ca.display());
            let pem = std::fs::read_to_string(&ca).unwrap();
            if field(&text, "subject=") == field(&text, "issuer=") {
                roots.push_str(&pem);
            } else {
                intermediates.push_str(&pem);
            }
        }
        let roots_file = scenario.join("roots.pem");
        let intermediates_file = scenario.join("intermediates.pem");
        std::fs::write(&roots_file, &roots).unwrap();
        std::fs::write(&intermediates_file, &intermediates).unwrap();

        // The users' own certificates; their clients' trusted roots (trust/) are CA
        // certificates, checked above.
        let own = |path: &PathBuf| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("enc-") || name.starts_with("sign-")
        };
        for certificate in files(&scenario.join("users"), ".crt.pem")
            .into_iter()
            .filter(own)
        {
            let path = certificate.to_str().unwrap();
            let (ok, text) = openssl(&["x509", "-noout", "-text", "-in", path]);
            assert!(ok, "{path}: {text}");
            if text.contains("Version: 1 (0x0)") {
                v1 += 1;
                assert!(
                    !text.contains("X509v3 extensions"),
                    "{path}: a v1 certificate has extensions"
                );
            }
            let purpose = if certificate
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("enc-")
            {
                "smimeencrypt"
            } else {
                "smimesign"
            };
            let mut args = vec![
                "verify",
                "-no_check_time",
                "-purpose",
                purpose,
                "-CAfile",
                roots_file.to_str().unwrap(),
            ];
            if !intermediates.is_empty() {
                args.extend(["-untrusted", intermediates_file.to_str().unwrap()]);
            }
            args.push(path);
            let (ok, text) = openssl(&args);
            assert!(ok && text.contains(": OK"), "openssl verify {path}: {text}");
            checked_users += 1;
        }

        for crl in files(&scenario.join("pki"), ".crl.pem") {
            let issuer = crl.to_string_lossy().replace(".crl.pem", ".crt.pem");
            let (ok, text) = openssl(&[
                "crl",
                "-noout",
                "-text",
                "-CAfile",
                &issuer,
                "-in",
                crl.to_str().unwrap(),
            ]);
            assert!(
                ok && text.contains("verify OK"),
                "{}: {text}",
                crl.display()
            );
            // Every serial the transcript says the last CRL revoked is in openssl's listing.
            let transcript = std::fs::read_to_string(scenario.join("transcript.json")).unwrap();
            let last_publish = transcript.rfind("\"action\": \"publish-crl\"").unwrap();
            let revoked: Vec<&str> = transcript[last_publish..]
                .split("(serial ")
                .skip(1)
                .map(|rest| rest.split(',').next().unwrap())
                .take_while(|serial| serial.bytes().all(|b| b.is_ascii_hexdigit()))
                .collect();
            assert!(!revoked.is_empty());
            for serial in revoked {
                assert!(
                    text.contains(&format!("Serial Number: {}", serial.to_uppercase())),
                    "{serial} not in {text}"
                );
            }
            crls += 1;
        }
    }
    assert!(scenarios >= 15, "only {scenarios} CA scenarios exported");
    assert!(
        checked_users >= 8,
        "only {checked_users} user certificates checked"
    );
    assert!(v1 >= 1, "no v1 certificate was exported");
    assert!(crls >= 1, "no CRL was exported");
}
