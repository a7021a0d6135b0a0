//! Each user's PKCS #12 file opens in real tools: `openssl pkcs12` takes out every key and
//! certificate, paired by localKeyID and friendly name, byte for byte the exported PEM files;
//! NSS's `pk12util` (what Thunderbird and Firefox are built on) imports it into a fresh
//! database, where `certutil` lists each certificate under its name and each key beside it.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{export_artifacts, text};

/// Alice at the end of `km/recovery`: encryption keys of generations 1 to 3 and signing key 3.
fn alice_folder(out: &Path) -> PathBuf {
    export_artifacts("scenarios/km/recovery.toml", out);
    out.join("km/recovery/users/alice")
}

fn run(program: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (ci/install-deps.sh installs it)"))
}

/// One bag from `openssl pkcs12 -info -nodes`: its friendly name, localKeyID and PEM block.
#[derive(Debug)]
struct Bag {
    name: String,
    local_key_id: Option<String>,
    pem: String,
}

fn bags(listing: &str) -> Vec<Bag> {
    listing
        .split("Bag Attributes")
        .skip(1)
        .filter_map(|bag| {
            let field = |prefix: &str| {
                bag.lines()
                    .find_map(|line| line.trim().strip_prefix(prefix))
                    .map(|value| value.trim().to_owned())
            };
            let start = bag.find("-----BEGIN ")?;
            let end_marker = bag[start..].find("-----END ")? + start;
            let end = bag[end_marker..].find("-----\n")? + end_marker + 6;
            Some(Bag {
                name: field("friendlyName:").unwrap_or_default(),
                local_key_id: field("localKeyID:"),
                pem: bag[start..end].to_owned(),
            })
        })
        .collect()
}

fn public_key(pem: &str, kind: &str, dir: &Path) -> String {
    let file = dir.join("part.pem");
    std::fs::write(&file, pem).unwrap();
    let args: &[&str] = if kind == "key" {
        &["pkey", "-pubout", "-in", "part.pem"]
    } else {
        &["x509", "-pubkey", "-noout", "-in", "part.pem"]
    };
    let output = run("openssl", args, dir);
    assert!(output.status.success(), "{}", text(&output.stderr));
    text(&output.stdout)
}

#[test]
fn openssl_takes_every_key_and_certificate_out_of_a_users_pkcs12() {
    let out = tempfile::tempdir().unwrap();
    let alice = alice_folder(out.path());
    let info = run(
        "openssl",
        &[
            "pkcs12",
            "-info",
            "-nodes",
            "-in",
            "alice.p12",
            "-passin",
            "pass:kmlab",
        ],
        &alice,
    );
    assert!(info.status.success(), "{}", text(&info.stderr));
    let stderr = text(&info.stderr);
    assert!(stderr.contains("MAC: sha256"), "{stderr}");
    assert!(stderr.contains("PBES2, PBKDF2, AES-256-CBC"), "{stderr}");
    let bags = bags(&text(&info.stdout));
    let keys: Vec<&Bag> = bags
        .iter()
        .filter(|b| b.pem.contains("PRIVATE KEY"))
        .collect();
    let certificates: Vec<&Bag> = bags
        .iter()
        .filter(|b| b.pem.contains("CERTIFICATE"))
        .collect();
    let mut names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        ["alice enc#1", "alice enc#2", "alice enc#3", "alice sign#3"]
    );
    for key in &keys {
        // The key and its certificate share a localKeyID and a name, and are one key pair.
        let id = key.local_key_id.as_ref().unwrap();
        let certificate = certificates
            .iter()
            .find(|c| c.local_key_id.as_ref() == Some(id))
            .unwrap_or_else(|| panic!("no certificate with {}'s localKeyID", key.name));
        assert_eq!(certificate.name, key.name);
        assert_eq!(
            public_key(&key.pem, "key", out.path()),
            public_key(&certificate.pem, "certificate", out.path()),
            "{}",
            key.name
        );
        // Byte for byte the key and certificate the artifacts hold as PEM.
        let stem = key.name.trim_start_matches("alice ").replace('#', "-");
        let exported_key = std::fs::read_to_string(alice.join(format!("{stem}.key.pem"))).unwrap();
        let exported_certificate =
            std::fs::read_to_string(alice.join(format!("{stem}.crt.pem"))).unwrap();
        assert_eq!(key.pem, exported_key, "{}", key.name);
        assert_eq!(certificate.pem, exported_certificate, "{}", key.name);
    }
    // The chain travels too, without a key.
    let root = certificates
        .iter()
        .find(|c| c.name == "ContosoRoot")
        .unwrap();
    assert!(root.local_key_id.is_none());
    let exported_root =
        std::fs::read_to_string(alice.join("../../pki/ContosoRoot.crt.pem")).unwrap();
    assert_eq!(root.pem, exported_root);
    assert_eq!(certificates.len(), keys.len() + 1);

    let wrong = run(
        "openssl",
        &[
            "pkcs12",
            "-info",
            "-nodes",
            "-in",
            "alice.p12",
            "-passin",
            "pass:wrong",
        ],
        &alice,
    );
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("Mac verify error"),
        "{}",
        text(&wrong.stderr)
    );
}

#[test]
fn nss_pk12util_imports_a_users_pkcs12_with_names_and_keys() {
    let out = tempfile::tempdir().unwrap();
    let alice = alice_folder(out.path());
    let database = out.path().join("nssdb");
    std::fs::create_dir(&database).unwrap();
    let db = format!("sql:{}", database.display());
    let created = run(
        "certutil",
        &["-N", "--empty-password", "-d", &db],
        out.path(),
    );
    assert!(created.status.success(), "{}", text(&created.stderr));

    let wrong = run(
        "pk12util",
        &["-i", "alice.p12", "-d", &db, "-W", "wrong"],
        &alice,
    );
    assert!(!wrong.status.success());
    assert!(
        text(&wrong.stderr).contains("SEC_ERROR_BAD_PASSWORD"),
        "{}",
        text(&wrong.stderr)
    );

    let import = run(
        "pk12util",
        &["-i", "alice.p12", "-d", &db, "-W", "kmlab"],
        &alice,
    );
    assert!(
        import.status.success() && text(&import.stdout).contains("PKCS12 IMPORT SUCCESSFUL"),
        "{}{}",
        text(&import.stdout),
        text(&import.stderr)
    );
    let listed = text(&run("certutil", &["-L", "-d", &db], out.path()).stdout);
    for name in ["alice enc#1", "alice enc#2", "alice enc#3", "alice sign#3"] {
        // u,u,u: NSS holds the private key of a user certificate.
        assert!(
            listed
                .lines()
                .any(|line| line.starts_with(name) && line.trim_end().ends_with("u,u,u")),
            "{name} not listed with its key:\n{listed}"
        );
    }
    assert!(
        listed.lines().any(|line| line.starts_with("ContosoRoot")),
        "{listed}"
    );
    let keys = run("certutil", &["-K", "-d", &db], out.path());
    let keys = text(&keys.stdout);
    let rsa_keys: Vec<&str> = keys.lines().filter(|line| line.contains(" rsa ")).collect();
    assert_eq!(rsa_keys.len(), 4, "{keys}");
    for name in ["alice enc#1", "alice enc#2", "alice enc#3", "alice sign#3"] {
        assert!(
            rsa_keys.iter().any(|line| line.ends_with(name)),
            "{name}: {keys}"
        );
    }
}
