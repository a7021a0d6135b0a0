//! Reading what other implementations write (MSG-08, MSG-09, MSG-02): messages the OpenSSL
//! command line, NSS's cmsutil, GnuPG's gpgsm and Python's `cryptography` build with the keys
//! a scenario exports (`kmlab run --artifacts DIR --export-keys`), judged by both engines and
//! by the reader `kmlab inspect` uses, as today's client and as Outlook 2000. Every algorithm
//! reads, or is named as unsupported with its OID; tampering is caught whatever the algorithm.
//!
//! The matrix of tool × algorithm × verdict is printed by
//! `cargo test -p kmlab-tests --test foreign -- --nocapture`.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use clients::Persona;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use der::asn1::OctetString;
use der::{Decode, Encode};
use model::{CertificateDer, CertifiedKey, Named, Outcome, PrivateKeyDer, Timestamp};
use runner::Inspector;
use smime::mime::{MessageHeaders, SmimeType, message, pkcs7_mime_entity};
use smime::{
    CallContext, CmsDer, Decryption, Digest, Engine, IdentifierKind, SignRequest, SignatureStatus,
    SignerCredentials,
};
use smime_external::{Adapter, ExternalEngine, built_in_program};
use smime_openssl::OpensslEngine;
use smime_rustcrypto::RustCryptoEngine;
use tempfile::TempDir;

/// The exported artifacts of `scenarios/basic`, made once per test process.
struct Exported {
    _dir: TempDir,
    /// The scenario's folder of artifacts.
    scenario: PathBuf,
    /// Where the messages are built.
    work: PathBuf,
    /// Alice's signing certificate and key, as files.
    alice_sign: (PathBuf, PathBuf),
    /// Alice's signing certificate and key, in memory.
    alice_signer: SignerCredentials,
    /// Bob's encryption certificate, as a file, and his key pair.
    bob_enc_file: PathBuf,
    bob_enc: CertifiedKey,
    alice_address: String,
    bob_address: String,
    /// When the run ended: the moment every reader judges at.
    at: Timestamp,
}

fn exported() -> &'static Exported {
    static EXPORTED: OnceLock<Exported> = OnceLock::new();
    EXPORTED.get_or_init(|| {
        let root = kmlab_tests::workspace_root();
        let path = root.join("scenarios/basic/signed-encrypted-message.toml");
        let scenario = scenario::load("basic/signed-encrypted-message", &path).unwrap();
        // Under the target folder: a process-wide value is never dropped, so never removed.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let run_work = tempfile::tempdir().unwrap();
        let options = kmlab_tests::run_options(run_work.path());
        let run = runner::run(std::sync::Arc::new(scenario), &options).unwrap();
        let scenario = run
            .write_artifacts(&dir.path().join("artifacts"), true)
            .unwrap();
        let alice = Inspector::from_artifacts(&scenario, "alice").unwrap();
        let bob = Inspector::from_artifacts(&scenario, "bob").unwrap();
        let users = scenario.join("users");
        // The newest signing key Alice's client holds, as the export wrote it.
        let generation = (1..100)
            .rev()
            .find(|generation| {
                users
                    .join(format!("alice/sign-{generation}.key.pem"))
                    .is_file()
            })
            .expect("alice's signing key was exported");
        let alice_sign = (
            users.join(format!("alice/sign-{generation}.crt.pem")),
            users.join(format!("alice/sign-{generation}.key.pem")),
        );
        let pem = |path: &Path| {
            der::pem::decode_vec(&std::fs::read(path).unwrap())
                .unwrap()
                .1
        };
        let bob_enc = bob.client.encryption_keys.last().unwrap().clone();
        let bob_enc_file = users.join(format!("bob/enc-{}.crt.pem", bob_enc.generation));
        assert!(bob_enc_file.is_file());
        let alice_signer = SignerCredentials {
            certificate: CertificateDer::new(pem(&alice_sign.0)),
            key: PrivateKeyDer::new(pem(&alice_sign.1)),
            chain: alice.client.trusted_roots.clone(),
        };
        Exported {
            scenario,
            work,
            alice_sign,
            alice_signer,
            bob_enc_file,
            bob_enc,
            alice_address: alice.client.email.to_string(),
            bob_address: bob.client.email.to_string(),
            at: bob.at,
            _dir: dir,
        }
    })
}

const BODY: &str = "Content-Type: text/plain; charset=us-ascii\r\n\r\nThe second-quarter figures, from another implementation.\r\n";

/// Runs a tool under `faketime` at the moment the run ended, so that the signing times it
/// writes fall inside the certificates' validity as the readers judge it; its standard
/// output, or a panic with what it said.
fn run_tool(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    run_tool_at(exported().at, program, args, dir)
}

/// [`run_tool`] at the moment `at`.
fn run_tool_at(at: Timestamp, program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let at = format!("@{}", at.unix());
    let output = Command::new("faketime")
        .arg(at)
        .arg(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// `openssl cms` with `args`, the body as input; the DER it wrote.
fn openssl_cms(name: &str, args: &[&str]) -> Vec<u8> {
    let keys = exported();
    let input = keys.work.join("body.txt");
    std::fs::write(&input, BODY).unwrap();
    let out = keys.work.join(format!("{name}.der"));
    let mut all = vec!["cms"];
    all.extend_from_slice(args);
    all.extend_from_slice(&[
        "-binary",
        "-in",
        input.to_str().unwrap(),
        "-outform",
        "DER",
        "-out",
        out.to_str().unwrap(),
    ]);
    run_tool("openssl", &all, &keys.work);
    std::fs::read(out).unwrap()
}

fn openssl_signed(name: &str, extra: &[&str]) -> Vec<u8> {
    let keys = exported();
    let (certificate, key) = (
        keys.alice_sign.0.to_str().unwrap(),
        keys.alice_sign.1.to_str().unwrap(),
    );
    let mut args = vec!["-sign", "-nodetach", "-signer", certificate, "-inkey", key];
    args.extend_from_slice(extra);
    openssl_cms(name, &args)
}

fn openssl_enveloped(name: &str, extra: &[&str]) -> Vec<u8> {
    let keys = exported();
    // A -keyopt applies to the -recip before it.
    let mut args = vec!["-encrypt", "-recip", keys.bob_enc_file.to_str().unwrap()];
    args.extend_from_slice(extra);
    openssl_cms(name, &args)
}

/// `openssl cms -encrypt` to Bob with `cipher` (`-aes256` …) and RSA-OAEP, over `hash` and
/// with MGF1 over `mgf1` where given (OpenSSL's defaults, SHA-1, where not).
fn oaep_enveloped(name: &str, cipher: &str, hash: Option<&str>, mgf1: Option<&str>) -> Vec<u8> {
    let hash = hash.map(|hash| format!("rsa_oaep_md:{hash}"));
    let mgf1 = mgf1.map(|hash| format!("rsa_mgf1_md:{hash}"));
    let mut args = vec![cipher, "-keyopt", "rsa_padding_mode:oaep"];
    for option in [&hash, &mgf1].into_iter().flatten() {
        args.extend_from_slice(&["-keyopt", option]);
    }
    openssl_enveloped(name, &args)
}

/// A signature built by an adapter program (NSS's cmsutil, gpgsm) from Alice's keys.
fn adapter_signed(adapter: &str, digest: Digest) -> Vec<u8> {
    let keys = exported();
    let program = built_in_program(adapter).unwrap();
    let engine = ExternalEngine::new(Adapter::new(adapter, program, Duration::from_secs(120)));
    let request = SignRequest {
        content: BODY.as_bytes(),
        signer: &keys.alice_signer,
        digest,
        identifier: IdentifierKind::IssuerAndSerial,
        signing_time: keys.at,
        detached: false,
        capabilities: &[],
    };
    let context = CallContext::new(keys.at, &keys.alice_signer.chain);
    let mut rng = model::SeededRng::new(1, "foreign");
    engine
        .sign(&request, &context, &mut rng)
        .unwrap_or_else(|e| panic!("{adapter} signs with {digest}: {e}"))
        .into_bytes()
}

/// A signature built by Python's `cryptography`; `pss` for RSA-PSS.
fn python_signed(name: &str, hash: &str, pss: bool) -> Vec<u8> {
    let keys = exported();
    let out = keys.work.join(format!("{name}.der"));
    let padding = if pss {
        "padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size)"
    } else {
        "padding.PKCS1v15()"
    };
    let script = format!(
        "from cryptography import x509\n\
from cryptography.hazmat.primitives import hashes, serialization\n\
from cryptography.hazmat.primitives.asymmetric import padding\n\
from cryptography.hazmat.primitives.serialization import pkcs7\n\
cert = x509.load_pem_x509_certificate(open({cert:?}, 'rb').read())\n\
key = serialization.load_pem_private_key(open({key:?}, 'rb').read(), None)\n\
h = hashes.{hash}()\n\
der = pkcs7.PKCS7SignatureBuilder().set_data({body:?}.encode()).add_signer(cert, key, h, rsa_padding={padding}).sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])\n\
open({out:?}, 'wb').write(der)\n",
        cert = keys.alice_sign.0.to_str().unwrap(),
        key = keys.alice_sign.1.to_str().unwrap(),
        body = BODY,
        out = out.to_str().unwrap(),
    );
    run_tool("python3", &["-c", &script], &keys.work);
    std::fs::read(out).unwrap()
}

/// One engine's verdict in the matrix's words.
fn engine_verdict(engine: &dyn Engine, der: &[u8]) -> String {
    let keys = exported();
    let der = smime::ber::to_der(der);
    let context = CallContext::new(keys.at, &[]);
    match smime::structure::summarize(&der) {
        Ok(smime::structure::CmsSummary::Signed(_)) => {
            let check = engine.verify(&der, None, &context);
            let signer = match &check.signer {
                Some(signer) if *signer == keys.alice_signer.certificate => "alice",
                Some(_) => "someone else",
                None => "no signer",
            };
            match check.status.detail() {
                Some(detail) => format!("{} ({detail}), {signer}", check.status.reason()),
                None => format!("{}, {signer}", check.status.reason()),
            }
        }
        Ok(smime::structure::CmsSummary::Enveloped(_)) => {
            match engine.decrypt(&der, &keys.bob_enc.certificate, &keys.bob_enc.key, &context) {
                Decryption::Opened { content } if content == BODY.as_bytes() => "opened".to_owned(),
                Decryption::Opened { .. } => "opened to other content".to_owned(),
                other => match other.detail() {
                    Some(detail) => format!("{} ({detail})", other.reason()),
                    None => other.reason().to_owned(),
                },
            }
        }
        Ok(other) => format!("{other:?}"),
        Err(detail) => format!("malformed ({detail})"),
    }
}

/// What Bob's client, as `persona`, makes of the message in a file: the reader `kmlab
/// inspect` runs, with the RustCrypto and the OpenSSL engine; both must agree.
fn inspected(der: &[u8], persona: Persona) -> String {
    inspected_with_details(der, persona).0
}

/// [`inspected`], and the record's details as the transcript writes them (`key: value`).
fn inspected_with_details(der: &[u8], persona: Persona) -> (String, Vec<String>) {
    let keys = exported();
    let mut inspector = Inspector::from_artifacts(&keys.scenario, "bob").unwrap();
    inspector.client.persona = persona;
    let enveloped = matches!(
        smime::structure::summarize(&smime::ber::to_der(der)),
        Ok(smime::structure::CmsSummary::Enveloped(_))
    );
    let smime_type = if enveloped {
        SmimeType::EnvelopedData
    } else {
        SmimeType::SignedData
    };
    let headers = MessageHeaders {
        from: keys.alice_address.clone(),
        to: vec![keys.bob_address.clone()],
        subject: "from another implementation".into(),
        date: "Thu, 1 Mar 2001 09:00:00 +0000".into(),
        message_id: "foreign@example".into(),
    };
    let raw = message(
        &headers,
        &pkcs7_mime_entity(&CmsDer::new(der.to_vec()), smime_type),
    );
    let said = |engine: &dyn Engine| {
        let record = inspector.inspect("foreign.eml", &raw, engine).record;
        let outcome = match record.outcome {
            Outcome::Ok => "ok",
            Outcome::Warning => "warning",
            Outcome::Error(_) => "error",
            Outcome::Info | Outcome::Refused => "other",
        };
        let details = record
            .details
            .iter()
            .map(|detail| format!("{detail:?}"))
            .collect::<Vec<_>>();
        let said = match record.reason {
            Some(reason) => format!("{outcome} ({reason})"),
            None => outcome.to_owned(),
        };
        (said, details)
    };
    let default = said(&RustCryptoEngine);
    let openssl = said(&openssl_engine());
    assert_eq!(
        default, openssl,
        "the engines' readers disagree ({persona:?})"
    );
    default
}

fn openssl_engine() -> OpensslEngine {
    OpensslEngine::new().unwrap()
}

/// One row of the matrix.
struct Row {
    tool: &'static str,
    algorithm: &'static str,
    message: Vec<u8>,
    /// Both engines' verdict (they must agree), and what the modern and the Outlook 2000
    /// reader make of it.
    engines: &'static str,
    modern: &'static str,
    outlook2000: &'static str,
}

fn rows() -> Vec<Row> {
    let row = |tool, algorithm, message, engines, modern, outlook2000| Row {
        tool,
        algorithm,
        message,
        engines,
        modern,
        outlook2000,
    };
    const SHA224: &str =
        "unsupported (unsupported digest 2.16.840.1.101.3.4.2.4 (SHA-224) in SignerInfo), alice";
    vec![
        row(
            "openssl cms",
            "SHA-256, RSA PKCS #1 v1.5",
            openssl_signed("sha256", &["-md", "sha256"]),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "openssl cms",
            "SHA-384, RSA PKCS #1 v1.5",
            openssl_signed("sha384", &["-md", "sha384"]),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "openssl cms",
            "SHA-512, RSA PKCS #1 v1.5",
            openssl_signed("sha512", &["-md", "sha512"]),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "openssl cms",
            "SHA-1, RSA PKCS #1 v1.5",
            openssl_signed("sha1", &["-md", "sha1"]),
            "verified, alice",
            "warning (sha1-signature)",
            "ok",
        ),
        row(
            "openssl cms",
            "SHA-256, RSA-PSS",
            openssl_signed(
                "pss256",
                &["-md", "sha256", "-keyopt", "rsa_padding_mode:pss"],
            ),
            "verified, alice",
            "ok",
            "error (signature-scheme-not-supported)",
        ),
        row(
            "openssl cms",
            "SHA-512, RSA-PSS",
            openssl_signed(
                "pss512",
                &["-md", "sha512", "-keyopt", "rsa_padding_mode:pss"],
            ),
            "verified, alice",
            "ok",
            "error (signature-scheme-not-supported)",
        ),
        row(
            "openssl cms",
            "SHA-1, RSA-PSS",
            openssl_signed("pss1", &["-md", "sha1", "-keyopt", "rsa_padding_mode:pss"]),
            "verified, alice",
            "warning (sha1-signature)",
            "error (signature-scheme-not-supported)",
        ),
        row(
            "openssl cms",
            "SHA-224 (unsupported)",
            openssl_signed("sha224", &["-md", "sha224"]),
            SHA224,
            "error (unsupported)",
            "error (unsupported)",
        ),
        row(
            "openssl cms",
            "AES-128-CBC, RSA PKCS #1 v1.5",
            openssl_enveloped("aes128", &["-aes128"]),
            "opened",
            "ok",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "AES-256-CBC, RSA-OAEP SHA-1",
            oaep_enveloped("oaep1", "-aes256", None, None),
            "opened",
            "ok",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "AES-256-CBC, RSA-OAEP SHA-256",
            oaep_enveloped("oaep256", "-aes256", Some("sha256"), None),
            "opened",
            "ok",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "DES-EDE3-CBC, RSA-OAEP SHA-512",
            oaep_enveloped("oaep512", "-des3", Some("sha512"), None),
            "opened",
            "ok",
            "error (key-transport-not-supported)",
        ),
        row(
            "openssl cms",
            "AES-128-CBC, RSA-OAEP SHA-224 (unsupported)",
            oaep_enveloped("oaep224", "-aes128", Some("sha224"), None),
            "unsupported (unsupported OAEP hash 2.16.840.1.101.3.4.2.4 (SHA-224) in RSAES-OAEP-params)",
            "error (unsupported)",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "AES-128-CBC, RSA-OAEP SHA-256, MGF1 SHA-1",
            oaep_enveloped("oaepmgf", "-aes128", Some("sha256"), Some("sha1")),
            "opened",
            "ok",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "AES-128-GCM",
            openssl_enveloped("gcm128", &["-aes-128-gcm"]),
            "opened",
            "ok",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "AES-256-GCM",
            openssl_enveloped("gcm256", &["-aes-256-gcm"]),
            "opened",
            "ok",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "AES-256-GCM, RSA-OAEP SHA-256",
            oaep_enveloped("gcmoaep", "-aes-256-gcm", Some("sha256"), None),
            "opened",
            "ok",
            "cipher-not-supported",
        ),
        row(
            "openssl cms",
            "DES-CBC (unsupported)",
            openssl_enveloped(
                "des",
                &["-des", "-provider", "legacy", "-provider", "default"],
            ),
            "unsupported-cipher (1.3.14.3.2.7 (DES-CBC))",
            "error (cipher-not-supported)",
            "error (cipher-not-supported)",
        ),
        row(
            "openssl cms",
            "AES-192-CBC (unsupported)",
            openssl_enveloped("aes192", &["-aes192"]),
            "unsupported-cipher (2.16.840.1.101.3.4.1.22 (AES-192-CBC))",
            "error (cipher-not-supported)",
            "error (cipher-not-supported)",
        ),
        row(
            "NSS cmsutil",
            "SHA-384, RSA PKCS #1 v1.5",
            adapter_signed("cmsutil", Digest::Sha384),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "NSS cmsutil",
            "SHA-512, RSA PKCS #1 v1.5",
            adapter_signed("cmsutil", Digest::Sha512),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "gpgsm",
            "SHA-384, RSA PKCS #1 v1.5",
            adapter_signed("gpgsm", Digest::Sha384),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "gpgsm",
            "SHA-512, RSA PKCS #1 v1.5",
            adapter_signed("gpgsm", Digest::Sha512),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "Python cryptography",
            "SHA-384, RSA PKCS #1 v1.5",
            python_signed("py384", "SHA384", false),
            "verified, alice",
            "ok",
            "warning (digest-not-supported)",
        ),
        row(
            "Python cryptography",
            "SHA-512, RSA-PSS",
            python_signed("pypss", "SHA512", true),
            "verified, alice",
            "ok",
            "error (signature-scheme-not-supported)",
        ),
    ]
}

#[test]
fn every_foreign_algorithm_reads_or_is_named_as_unsupported_in_both_engines_and_inspect() {
    let rows = rows();
    let mut table = vec![
        "| tool | algorithm | rustcrypto | openssl | inspect (modern) | inspect (outlook2000) |"
            .to_owned(),
        "| --- | --- | --- | --- | --- | --- |".to_owned(),
    ];
    let mut wrong = Vec::new();
    for row in &rows {
        let rustcrypto = engine_verdict(&RustCryptoEngine, &row.message);
        let openssl = engine_verdict(&openssl_engine(), &row.message);
        let modern = inspected(&row.message, Persona::Modern);
        let outlook = inspected(&row.message, Persona::Outlook2000);
        table.push(format!(
            "| {} | {} | {rustcrypto} | {openssl} | {modern} | {outlook} |",
            row.tool, row.algorithm
        ));
        let expected_outlook = if row.outlook2000 == "cipher-not-supported" {
            "error (cipher-not-supported)"
        } else {
            row.outlook2000
        };
        for (who, got, expected) in [
            ("rustcrypto", &rustcrypto, row.engines),
            ("openssl", &openssl, row.engines),
            ("modern", &modern, row.modern),
            ("outlook2000", &outlook, expected_outlook),
        ] {
            if got != expected {
                wrong.push(format!(
                    "{} {} by {who}: {got:?}, expected {expected:?}",
                    row.tool, row.algorithm
                ));
            }
        }
    }
    print_matrix(&table);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[expect(clippy::print_stdout, reason = "the matrix is what this test reports")]
fn print_matrix(table: &[String]) {
    println!("{}", table.join("\n"));
}

/// Every era profile that processes S/MIME refuses an RSA-PSS signature and an RSA-OAEP
/// recipient info for its key, naming the algorithm and its OID, in both engines; the modern
/// profile reads both (MSG-08).
#[test]
fn era_profiles_refuse_rsa_pss_and_rsa_oaep_naming_the_algorithm() {
    let pss = openssl_signed(
        "era-pss",
        &["-md", "sha1", "-keyopt", "rsa_padding_mode:pss"],
    );
    let oaep = oaep_enveloped("era-oaep", "-des3", None, None);
    let pkcs1 = openssl_signed("era-pkcs1", &["-md", "sha1"]);
    for persona in [
        Persona::Outlook98,
        Persona::Outlook2000,
        Persona::OutlookExpress5,
    ] {
        let (said, details) = inspected_with_details(&pss, persona);
        assert_eq!(
            said, "error (signature-scheme-not-supported)",
            "{persona:?}"
        );
        let named = details
            .iter()
            .find(|detail| detail.contains("1.2.840.113549.1.1.10 (RSASSA-PSS)"));
        assert!(
            named.is_some_and(|detail| detail.contains(persona.name())),
            "{persona:?}: {details:?}"
        );

        let (said, details) = inspected_with_details(&oaep, persona);
        assert_eq!(said, "error (key-transport-not-supported)", "{persona:?}");
        assert!(
            details
                .iter()
                .any(|detail| detail.contains("1.2.840.113549.1.1.7 (RSAES-OAEP)")),
            "{persona:?}: {details:?}"
        );
        // The same signer with PKCS #1 v1.5 is one the era's clients verify.
        assert_eq!(inspected(&pkcs1, persona), "ok", "{persona:?}");
    }
    // Modern verifies RSA-PSS; what it says of this one is about SHA-1 alone.
    assert_eq!(inspected(&pss, Persona::Modern), "warning (sha1-signature)");
    assert_eq!(inspected(&oaep, Persona::Modern), "ok");
}

/// Re-encodes signed-data after `edit`.
fn edit_signed(der: &[u8], edit: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let der = smime::ber::to_der(der);
    let info = ContentInfo::from_der(&der).unwrap();
    let mut signed: SignedData = info.content.decode_as().unwrap();
    edit(&mut signed);
    ContentInfo {
        content_type: info.content_type,
        content: der::Any::encode_from(&signed).unwrap(),
    }
    .to_der()
    .unwrap()
}

/// The message with the last bit of its first signer's signature flipped.
fn flip_signature(message: &[u8]) -> Vec<u8> {
    edit_signed(message, |signed| {
        let mut infos = signed.signer_infos.0.clone().into_vec();
        infos[0].signature = OctetString::new(flip_last(infos[0].signature.as_bytes())).unwrap();
        signed.signer_infos.0 = infos.try_into().unwrap();
    })
}

fn flip_last(bytes: &[u8]) -> Vec<u8> {
    let mut changed = bytes.to_vec();
    if let Some(last) = changed.last_mut() {
        *last ^= 0x01;
    }
    changed
}

#[test]
fn tampering_with_a_foreign_signature_is_caught_whatever_its_algorithm() {
    let keys = exported();
    let stranger = Inspector::from_artifacts(&keys.scenario, "bob")
        .unwrap()
        .client
        .encryption_keys
        .last()
        .unwrap()
        .certificate
        .clone();
    let messages = [
        ("SHA-384", openssl_signed("t384", &["-md", "sha384"])),
        ("SHA-512", openssl_signed("t512", &["-md", "sha512"])),
        (
            "RSA-PSS",
            openssl_signed(
                "tpss",
                &["-md", "sha256", "-keyopt", "rsa_padding_mode:pss"],
            ),
        ),
        ("NSS SHA-384", adapter_signed("cmsutil", Digest::Sha384)),
    ];
    for (name, message) in messages {
        let content = edit_signed(&message, |signed| {
            let any = signed.encap_content_info.econtent.as_mut().unwrap();
            let octets = any.decode_as::<OctetString>().unwrap();
            let changed = flip_last(octets.as_bytes());
            *any = der::Any::encode_from(&OctetString::new(changed).unwrap()).unwrap();
        });
        let signature = flip_signature(&message);
        // Another certificate put in the signer's place, and the signer info made to name it:
        // the signature no longer verifies with the key it names.
        let swapped = edit_signed(&message, |signed| {
            let other = x509_cert::Certificate::from_der(stranger.as_bytes()).unwrap();
            let id = cms::cert::IssuerAndSerialNumber {
                issuer: other.tbs_certificate.issuer.clone(),
                serial_number: other.tbs_certificate.serial_number.clone(),
            };
            let set =
                der::asn1::SetOfVec::try_from(vec![cms::cert::CertificateChoices::Certificate(
                    other,
                )])
                .unwrap();
            signed.certificates = Some(set.into());
            let mut infos = signed.signer_infos.0.clone().into_vec();
            infos[0].sid = SignerIdentifier::IssuerAndSerialNumber(id);
            signed.signer_infos.0 = infos.try_into().unwrap();
        });
        for (change, tampered, expected) in [
            (
                "a byte of the content",
                content,
                SignatureStatus::DigestMismatch,
            ),
            (
                "a byte of the signature",
                signature,
                SignatureStatus::SignatureInvalid,
            ),
            (
                "the signer certificate swapped",
                swapped,
                SignatureStatus::SignatureInvalid,
            ),
        ] {
            for engine in [&RustCryptoEngine as &dyn Engine, &openssl_engine()] {
                let check = engine.verify(&tampered, None, &CallContext::new(keys.at, &[]));
                assert_eq!(
                    check.status,
                    expected,
                    "{name}, {change}, {}",
                    engine.name()
                );
            }
            for persona in [Persona::Modern, Persona::Outlook2000] {
                let said = inspected(&tampered, persona);
                assert_eq!(said, "error (tampered)", "{name}, {change}, {persona:?}");
            }
        }
    }
}

/// Authenticated-enveloped-data whose tag or content changed: the key unwraps the content
/// key, the tag fails, and every engine and every reader says `content-altered`, never a wrong
/// key and never the content.
#[test]
fn tampering_with_gcm_content_or_its_tag_is_content_altered() {
    let keys = exported();
    let message = smime::ber::to_der(&openssl_enveloped("tgcm", &["-aes-128-gcm"])).into_owned();
    assert_eq!(engine_verdict(&RustCryptoEngine, &message), "opened");
    // The tag is the last OCTET STRING of the structure, so the last byte is the tag's; the
    // content sits just before the tag's header (0x04 0x10).
    let tag = flip_last(&message);
    let tag_at = message.len() - 18;
    assert_eq!(message[tag_at..tag_at + 2], [0x04, 0x10]);
    let mut content = message.clone();
    content[tag_at - 1] ^= 0x01;
    for (change, tampered) in [("tag", tag), ("content", content)] {
        for engine in [&RustCryptoEngine as &dyn Engine, &openssl_engine()] {
            let result = engine.decrypt(
                &tampered,
                &keys.bob_enc.certificate,
                &keys.bob_enc.key,
                &CallContext::new(keys.at, &[]),
            );
            assert_eq!(
                result,
                Decryption::ContentAltered {
                    detail: smime::judge::TAG_MISMATCH.into()
                },
                "{change}, {}",
                engine.name()
            );
        }
        let (said, details) = inspected_with_details(&tampered, Persona::Modern);
        assert_eq!(said, "error (content-altered)", "{change}");
        assert!(
            details
                .iter()
                .any(|detail| detail.contains("authentication tag does not match")),
            "{change}: {details:?}"
        );
    }
    // A wrong key is still a wrong key: Alice's signing key is no key of Bob's certificate.
    for engine in [&RustCryptoEngine as &dyn Engine, &openssl_engine()] {
        let result = engine.decrypt(
            &message,
            &keys.bob_enc.certificate,
            &keys.alice_signer.key,
            &CallContext::new(keys.at, &[]),
        );
        assert!(
            matches!(result, Decryption::KeyDoesNotOpen { .. }),
            "wrong key, {}: {result:?}",
            engine.name()
        );
    }
}

#[test]
fn an_lf_only_clear_signed_layer_inside_an_envelope_follows_the_readers_profile() {
    let keys = exported();
    let input = keys.work.join("lf-body.txt");
    std::fs::write(&input, BODY).unwrap();
    let signed = keys.work.join("lf-signed.eml");
    run_tool(
        "openssl",
        &[
            "cms",
            "-sign",
            "-signer",
            keys.alice_sign.0.to_str().unwrap(),
            "-inkey",
            keys.alice_sign.1.to_str().unwrap(),
            "-md",
            "sha256",
            "-in",
            input.to_str().unwrap(),
            "-out",
            signed.to_str().unwrap(),
        ],
        &keys.work,
    );
    // The clear-signed message as a store that lost its CRs keeps it, then sealed as it is.
    let lf: Vec<u8> = std::fs::read(&signed)
        .unwrap()
        .into_iter()
        .filter(|byte| *byte != b'\r')
        .collect();
    std::fs::write(&signed, &lf).unwrap();
    let envelope = keys.work.join("lf-enveloped.der");
    run_tool(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-des3",
            "-in",
            signed.to_str().unwrap(),
            "-outform",
            "DER",
            "-out",
            envelope.to_str().unwrap(),
            keys.bob_enc_file.to_str().unwrap(),
        ],
        &keys.work,
    );
    let der = std::fs::read(envelope).unwrap();
    assert_eq!(inspected(&der, Persona::Modern), "ok");
    assert_eq!(inspected(&der, Persona::Outlook2000), "error (tampered)");
}

/// Thunderbird exports keys with NSS's `pk12util -o`, which writes BER: indefinite lengths
/// and segmented strings. The PFX format allows it, and kmlab reads it.
#[test]
fn a_pkcs12_file_nss_wrote_reads_and_its_key_opens_mail() {
    let keys = exported();
    let db_dir = keys.work.join("nssdb-p12");
    std::fs::create_dir_all(&db_dir).unwrap();
    let db = format!("sql:{}", db_dir.display());
    run_tool(
        "certutil",
        &["-N", "-d", &db, "--empty-password"],
        &keys.work,
    );
    let ours = keys.scenario.join("users/bob/bob.p12");
    run_tool(
        "pk12util",
        &["-i", ours.to_str().unwrap(), "-d", &db, "-W", "kmlab"],
        &keys.work,
    );
    // The certificates with keys are the user's ("u,u,u"); export the newest encryption one.
    let listing = String::from_utf8(run_tool("certutil", &["-L", "-d", &db], &keys.work)).unwrap();
    let nicknames: Vec<&str> = listing
        .lines()
        .filter(|line| line.trim_end().ends_with("u,u,u"))
        .map(|line| line.trim_end().trim_end_matches("u,u,u").trim_end())
        .collect();
    assert!(!nicknames.is_empty(), "{listing}");
    let exported_file = keys.work.join("nss.p12");
    let mut read_any = false;
    for nickname in nicknames {
        run_tool(
            "pk12util",
            &[
                "-o",
                exported_file.to_str().unwrap(),
                "-n",
                nickname,
                "-d",
                &db,
                "-W",
                "s3cret",
            ],
            &keys.work,
        );
        let bytes = std::fs::read(&exported_file).unwrap();
        // A SEQUENCE of indefinite length: this is BER, not DER.
        assert_eq!(bytes[..2], [0x30, 0x80], "{nickname}");
        let contents =
            pki::read_pkcs12(&bytes, "s3cret").unwrap_or_else(|e| panic!("{nickname}: {e}"));
        assert_eq!(contents.keys.len(), 1, "{nickname}");
        if contents.keys[0].certificate == keys.bob_enc.certificate {
            read_any = true;
            let mut inspector =
                Inspector::empty("bob", Persona::Modern, clients::Strength::High, keys.at);
            inspector.add_pkcs12(&exported_file, "s3cret").unwrap();
            let sealed = openssl_enveloped("p12", &["-aes-256-gcm"]);
            let raw = message(
                &MessageHeaders {
                    from: keys.alice_address.clone(),
                    to: vec![keys.bob_address.clone()],
                    subject: "sealed for the NSS export".into(),
                    date: "Thu, 1 Mar 2001 09:00:00 +0000".into(),
                    message_id: "p12@example".into(),
                },
                &pkcs7_mime_entity(&CmsDer::new(sealed), SmimeType::EnvelopedData),
            );
            let inspection = inspector.inspect("p12.eml", &raw, &RustCryptoEngine);
            assert_eq!(
                inspection.record.outcome,
                Outcome::Ok,
                "{:?}",
                inspection.record
            );
        }
    }
    assert!(read_any, "no exported file held Bob's encryption key");
}

/// Keys beyond RSA, as other tools write them: a test root (RSA) certifies P-256, P-384,
/// P-521 and Ed25519 keys for Alice's address. `openssl cms` signs with the EC keys; no tool on the
/// machine signs CMS with Ed25519 (OpenSSL 3.0 has no default digest for it, Python's
/// `cryptography` takes RSA and EC keys only), so that message is OpenSSL's P-256 one made
/// an Ed25519 signer's as RFC 8419 says. Both engines verify each and name the signer,
/// tampering is caught, the modern profile reads them as valid once it trusts the root,
/// Thunderbird verifies ECDSA but not Ed25519, and the era profiles refuse them by name
/// (MSG-08, MSG-09).
#[test]
fn ecdsa_and_ed25519_signatures_verify_in_both_engines_and_era_profiles_refuse_them() {
    let keys = exported();
    let dir = keys.work.join("beyond-rsa");
    std::fs::create_dir_all(&dir).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    // Certificates made the day before the messages are signed and read.
    let day_before = Timestamp::from_unix(keys.at.unix() - 86_400);
    let make = |args: &[&str]| run_tool_at(day_before, "openssl", args, &dir);
    let (root_key, root_cert) = (path("root.key"), path("root.crt"));
    make(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        &root_key,
        "-out",
        &root_cert,
        "-subj",
        "/CN=Other Root",
        "-days",
        "3650",
    ]);
    let extensions = path("leaf.ext");
    std::fs::write(
        &extensions,
        format!(
            "keyUsage = critical, digitalSignature, nonRepudiation\nsubjectAltName = email:{}\n",
            keys.alice_address
        ),
    )
    .unwrap();
    let pem = |file: &str| {
        der::pem::decode_vec(&std::fs::read(file).unwrap())
            .unwrap()
            .1
    };
    let root = CertificateDer::new(pem(&root_cert));
    // A key of `kind` and its certificate from the test root: the files' paths.
    let issue = |kind: &str, genpkey: &[&str]| {
        let (key, csr, cert) = (
            path(&format!("{kind}.key")),
            path(&format!("{kind}.csr")),
            path(&format!("{kind}.crt")),
        );
        let mut args = vec!["genpkey"];
        args.extend_from_slice(genpkey);
        args.extend_from_slice(&["-out", &key]);
        make(&args);
        let subject = format!("/CN=alice/emailAddress={}", keys.alice_address);
        make(&["req", "-new", "-key", &key, "-out", &csr, "-subj", &subject]);
        make(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &root_cert,
            "-CAkey",
            &root_key,
            "-set_serial",
            "7",
            "-days",
            "365",
            "-extfile",
            &extensions,
            "-out",
            &cert,
        ]);
        (key, cert)
    };
    let mut messages = Vec::new();
    for (kind, curve, digest) in [
        ("p256", "P-256", "sha256"),
        ("p384", "P-384", "sha384"),
        ("p521", "P-521", "sha512"),
    ] {
        let (key, cert) = issue(
            kind,
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
            ],
        );
        let signed = openssl_cms(
            &format!("beyond-rsa-{kind}"),
            &[
                "-sign",
                "-nodetach",
                "-signer",
                &cert,
                "-inkey",
                &key,
                "-md",
                digest,
            ],
        );
        messages.push((
            kind,
            signed,
            pem(&cert),
            "1.2.840.10045.2.1 (id-ecPublicKey)",
        ));
    }
    let (ed_key, ed_cert) = issue("ed25519", &["-algorithm", "ED25519"]);
    let ed_cert = pem(&ed_cert);
    // PKCS #8 for Ed25519 ends with the 32-byte private key (RFC 8410 §7).
    let ed_private = pem(&ed_key);
    let seed: [u8; 32] = ed_private[ed_private.len() - 32..].try_into().unwrap();
    let ed_signer = ed25519_dalek::SigningKey::from_bytes(&seed);
    let ed_signed = edit_signed(&messages[0].1, |signed| {
        use sha2::Digest as _;
        let certificate = x509_cert::Certificate::from_der(&ed_cert).unwrap();
        let sha512 = spki::AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc5912::ID_SHA_512,
            parameters: None,
        };
        signed.digest_algorithms = vec![sha512.clone()].try_into().unwrap();
        let mut infos = signed.signer_infos.0.clone().into_vec();
        let info = &mut infos[0];
        info.sid = SignerIdentifier::IssuerAndSerialNumber(cms::cert::IssuerAndSerialNumber {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        });
        info.digest_alg = sha512;
        info.signature_algorithm = spki::AlgorithmIdentifierOwned {
            oid: const_oid::db::rfc8410::ID_ED_25519,
            parameters: None,
        };
        let digest = sha2::Sha512::digest(BODY.as_bytes());
        let mut attributes = info.signed_attrs.clone().unwrap().into_vec();
        for attribute in &mut attributes {
            if attribute.oid == const_oid::db::rfc5911::ID_MESSAGE_DIGEST {
                attribute.values = vec![
                    der::Any::encode_from(&OctetString::new(digest.to_vec()).unwrap()).unwrap(),
                ]
                .try_into()
                .unwrap();
            }
        }
        let attributes: x509_cert::attr::Attributes = attributes.try_into().unwrap();
        use ed25519_dalek::Signer as _;
        let signature = ed_signer.sign(&attributes.to_der().unwrap());
        info.signature = OctetString::new(signature.to_bytes().to_vec()).unwrap();
        info.signed_attrs = Some(attributes);
        signed.signer_infos.0 = infos.try_into().unwrap();
        signed.certificates = Some(
            der::asn1::SetOfVec::try_from(vec![cms::cert::CertificateChoices::Certificate(
                certificate,
            )])
            .unwrap()
            .into(),
        );
    });
    messages.push(("ed25519", ed_signed, ed_cert, "1.3.101.112 (Ed25519)"));

    let context = CallContext::new(keys.at, &[]);
    for (kind, signed, certificate, oid) in messages {
        let certificate = CertificateDer::new(certificate);
        let verdict = |engine: &dyn Engine, message: &[u8]| {
            let check = engine.verify(message, None, &context);
            assert_eq!(check.signer.as_ref(), Some(&certificate), "{kind}: signer");
            check.status
        };
        let tampered_content = {
            let body = b"second-quarter";
            let at = signed.windows(body.len()).position(|w| w == body).unwrap();
            let mut changed = signed.clone();
            changed[at] ^= 0x20;
            changed
        };
        let tampered_signature = flip_signature(&signed);
        for engine in [&RustCryptoEngine as &dyn Engine, &openssl_engine()] {
            assert_eq!(
                verdict(engine, &signed),
                SignatureStatus::Verified,
                "{kind} {}",
                engine.name()
            );
            assert_eq!(
                verdict(engine, &tampered_content),
                SignatureStatus::DigestMismatch,
                "{kind} {}",
                engine.name()
            );
            assert_eq!(
                verdict(engine, &tampered_signature),
                SignatureStatus::SignatureInvalid,
                "{kind} {}",
                engine.name()
            );
        }
        let raw = message(
            &MessageHeaders {
                from: keys.alice_address.clone(),
                to: vec![keys.bob_address.clone()],
                subject: format!("signed with {kind}"),
                date: "Thu, 1 Mar 2001 09:00:00 +0000".into(),
                message_id: format!("{kind}@example"),
            },
            &pkcs7_mime_entity(&CmsDer::new(signed.clone()), SmimeType::SignedData),
        );
        for persona in [
            Persona::Modern,
            Persona::Thunderbird,
            Persona::Outlook2000,
            Persona::Outlook98,
        ] {
            let mut inspector = Inspector::from_artifacts(&keys.scenario, "bob").unwrap();
            inspector.client.persona = persona;
            inspector.client.trust_root(root.clone());
            for engine in [&RustCryptoEngine as &dyn Engine, &openssl_engine()] {
                let record = inspector.inspect("beyond-rsa.eml", &raw, engine).record;
                if persona == Persona::Thunderbird && kind != "ed25519" {
                    // NSS verifies ECDSA; what else Thunderbird flags (the Date header) is its
                    // own test's.
                    assert_ne!(
                        record.reason.as_deref(),
                        Some("signature-scheme-not-supported"),
                        "{kind} {persona:?}: {record:?}"
                    );
                } else if persona == Persona::Modern {
                    assert_eq!(
                        record.outcome,
                        Outcome::Ok,
                        "{kind} {persona:?}: {record:?}"
                    );
                } else {
                    assert_eq!(
                        record.reason.as_deref(),
                        Some("signature-scheme-not-supported"),
                        "{kind} {persona:?}: {record:?}"
                    );
                    let details = format!("{:?}", record.details);
                    assert!(details.contains(oid), "{kind} {persona:?}: {details}");
                }
            }
        }
    }
}
