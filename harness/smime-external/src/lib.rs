//! An S/MIME engine that is an external program: a real implementation in a virtual user's
//! seat.
//!
//! kmlab runs the program once per operation (sign, encrypt, decrypt, verify), writes one
//! JSON request to its standard input and reads one JSON response from its standard output:
//! the `kmlab-adapter/1` protocol, documented in `harness/adapters/README.md`. Certificates
//! and keys travel as PEM files in a scratch folder made for the call; message bytes travel
//! both as files and inline in base64.
//!
//! What a message says about itself is read by kmlab ([`smime::judge`]): a key that the
//! message does not name is never offered to the program, and a signature check's signer,
//! signing time and capabilities come from the message. The key work and the signature
//! mathematics are the program's.
//!
//! A program that cannot be started, exits with a failure status, outlives its time limit or
//! answers anything but a response of the protocol has failed at its own job: that is an
//! [`smime::EngineError::AdapterFailure`] or an `AdapterFailure` verdict naming the program
//! and what happened, never a kmlab harness error. An `unsupported` answer with a reason is a
//! valid answer. External programs use their own randomness, so this engine is not
//! deterministic.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use model::{CertificateDer, Named, PrivateKeyDer};
use rand_core::CryptoRngCore;
use serde_json::{Map, Value, json};
use smime::structure::{CmsSummary, summarize};
use smime::{
    CallContext, CmsDer, Decryption, Digest, Engine, EngineError, EnvelopeRequest, SignRequest,
    SignatureCheck, SignatureStatus,
};

/// The protocol's identifier, sent in every request and accepted in responses.
pub const PROTOCOL: &str = "kmlab-adapter/1";

/// How long one call may take unless the adapter is given another limit.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of an adapter's output a failure report quotes.
const QUOTE: usize = 160;

/// The folder of the built-in adapters, each `<name>/adapter`: the source tree's
/// `harness/adapters`, or `harness/adapters` under the current folder where kmlab runs away
/// from its source tree.
pub fn built_in_dir() -> PathBuf {
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters");
    match std::fs::canonicalize(&source_tree) {
        Ok(dir) if dir.is_dir() => dir,
        _ => PathBuf::from("harness/adapters"),
    }
}

/// The names of the built-in adapters, sorted.
pub fn built_in_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(built_in_dir())
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| entry.path().join("adapter").is_file())
                .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The program of the built-in adapter called `name`, if there is one.
pub fn built_in_program(name: &str) -> Option<PathBuf> {
    let plain = !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.');
    let program = built_in_dir().join(name).join("adapter");
    (plain && program.is_file()).then_some(program)
}

/// The adapter program at `path` (the file, or a folder's `adapter`) and the name reports give
/// it: the folder's name for a program called `adapter`, else the file's name without its
/// extension.
pub fn program_at(path: &Path) -> Option<(String, PathBuf)> {
    let program = if path.is_dir() {
        path.join("adapter")
    } else {
        path.to_path_buf()
    };
    if !program.is_file() {
        return None;
    }
    let named = if program.file_name().is_some_and(|file| file == "adapter") {
        program.parent().and_then(Path::file_name)
    } else {
        program.file_stem()
    };
    let name = named.map_or_else(
        || program.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    Some((name, program))
}

/// An adapter program and how kmlab calls it.
#[derive(Debug, Clone)]
pub struct Adapter {
    name: String,
    program: PathBuf,
    timeout: Duration,
}

impl Adapter {
    /// An adapter called `name` in reports, run as `program`, each call limited to
    /// `timeout`.
    pub fn new(name: &str, program: PathBuf, timeout: Duration) -> Self {
        Self {
            name: name.to_owned(),
            program,
            timeout,
        }
    }

    /// The name reports use (`openssl-cli`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program run for each call.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

/// An [`Engine`] whose every operation is a call of an adapter program. It holds no state
/// between calls: each call tells the adapter the [`CallContext`]'s time (`at`) and CA
/// certificates (`authorities`).
#[derive(Debug)]
pub struct ExternalEngine {
    adapter: Adapter,
}

impl ExternalEngine {
    /// An engine calling `adapter`.
    pub fn new(adapter: Adapter) -> Self {
        Self { adapter }
    }

    /// The adapter.
    pub fn adapter(&self) -> &Adapter {
        &self.adapter
    }

    fn failure(&self, operation: &str, what: impl std::fmt::Display) -> String {
        format!("{} {operation}: {what}", self.adapter.name)
    }

    /// Runs one call: the request is `fields` plus the protocol's common fields, taken from
    /// `context`.
    fn call(
        &self,
        operation: &'static str,
        context: &CallContext<'_>,
        scratch: &Path,
        fields: Map<String, Value>,
    ) -> Result<Answer, String> {
        let mut request = Map::new();
        request.insert("protocol".into(), json!(PROTOCOL));
        request.insert("operation".into(), json!(operation));
        request.insert("at".into(), json!(context.at.to_string()));
        request.insert("at_unix".into(), json!(context.at.unix()));
        // The adapter's own folder, apart from the request's files, so that nothing it
        // writes can overwrite them.
        let workdir = scratch.join("work");
        std::fs::create_dir_all(&workdir)
            .map_err(|e| self.failure(operation, format!("no work folder: {e}")))?;
        request.insert("workdir".into(), json!(workdir.display().to_string()));
        let paths = context
            .authorities
            .iter()
            .enumerate()
            .map(|(index, der)| write_certificate(scratch, &format!("authority-{index}"), der))
            .collect::<std::io::Result<Vec<String>>>()
            .map_err(|e| self.failure(operation, format!("writing the request files: {e}")))?;
        request.insert("authorities".into(), json!(paths));
        request.extend(fields);
        let input = Value::Object(request).to_string().into_bytes();
        let output = run(&self.adapter, &workdir, input).map_err(|e| self.failure(operation, e))?;
        Answer::parse(&output).map_err(|e| self.failure(operation, e))
    }

    /// Runs one call in a scratch folder of its own: `request` writes the request's files
    /// there and gives the request's own fields.
    fn call_with_files(
        &self,
        operation: &'static str,
        context: &CallContext<'_>,
        request: impl FnOnce(&Path) -> std::io::Result<Map<String, Value>>,
    ) -> Result<Answer, String> {
        let scratch = tempfile::Builder::new()
            .prefix("kmlab-adapter-")
            .tempdir()
            .map_err(|e| self.failure(operation, format!("no scratch folder: {e}")))?;
        let fields = request(scratch.path())
            .map_err(|e| self.failure(operation, format!("writing the request files: {e}")))?;
        self.call(operation, context, scratch.path(), fields)
    }
}

impl Engine for ExternalEngine {
    fn name(&self) -> &str {
        &self.adapter.name
    }

    fn is_deterministic(&self) -> bool {
        false
    }

    fn sign(
        &self,
        request: &SignRequest<'_>,
        context: &CallContext<'_>,
        _rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        let operation = "sign";
        // The protocol's `at` for a signature is the signing time the signature will carry.
        let context = CallContext::new(request.signing_time, context.authorities);
        let answer = self.call_with_files(operation, &context, |dir| {
            let chain: Vec<String> = request
                .signer
                .chain
                .iter()
                .enumerate()
                .map(|(index, der)| write_certificate(dir, &format!("chain-{index}"), der))
                .collect::<Result<_, _>>()?;
            let capabilities: Vec<String> = request
                .capabilities
                .iter()
                .map(|smime::Capability::Cipher(cipher)| cipher_name(*cipher))
                .collect();
            Ok(object(json!({
                "content_file": write_file(dir, "content", request.content)?,
                "content": BASE64.encode(request.content),
                "detached": request.detached,
                "form": if request.detached { "clear" } else { "opaque" },
                "digest": digest_name(request.digest),
                "identifier": request.identifier.name(),
                "capabilities": capabilities,
                "signer": {
                    "certificate": write_certificate(dir, "signer", &request.signer.certificate)?,
                    "key": write_key(dir, "signer", &request.signer.key)?,
                    "chain": chain,
                },
            })))
        });
        self.built(operation, answer, "signed-data", |summary| {
            matches!(summary, CmsSummary::Signed(_))
        })
    }

    fn envelope(
        &self,
        request: &EnvelopeRequest<'_>,
        context: &CallContext<'_>,
        _rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        let operation = "encrypt";
        let answer = self.call_with_files(operation, context, |dir| {
            let recipients: Vec<Value> = request
                .recipients
                .iter()
                .enumerate()
                .map(|(index, recipient)| {
                    let name = format!("recipient-{index}");
                    Ok(json!({
                        "certificate": write_certificate(dir, &name, &recipient.certificate)?,
                        "identifier": recipient.identifier.name(),
                    }))
                })
                .collect::<std::io::Result<_>>()?;
            Ok(object(json!({
                "content_file": write_file(dir, "content", request.content)?,
                "content": BASE64.encode(request.content),
                "cipher": cipher_name(request.cipher),
                "recipients": recipients,
            })))
        });
        self.built(operation, answer, "enveloped-data", |summary| {
            matches!(summary, CmsSummary::Enveloped(_))
        })
    }

    fn decrypt(
        &self,
        message: &[u8],
        certificate: &CertificateDer,
        key: &PrivateKeyDer,
        context: &CallContext<'_>,
    ) -> Decryption {
        smime::judge::open_enveloped(message, certificate, || {
            let operation = "decrypt";
            let answer = self.call_with_files(operation, context, |dir| {
                Ok(object(json!({
                    "message_file": write_file(dir, "message.der", message)?,
                    "message": BASE64.encode(message),
                    "certificate": write_certificate(dir, "recipient", certificate)?,
                    "key": write_key(dir, "recipient", key)?,
                })))
            });
            let answer = match answer {
                Ok(answer) => answer,
                Err(detail) => return Decryption::AdapterFailure { detail },
            };
            let reason = answer.reason_or(&answer.status);
            match answer.status.as_str() {
                "opened" => match answer.content {
                    Some(content) => Decryption::Opened { content },
                    None => Decryption::AdapterFailure {
                        detail: self.failure(operation, "answered `opened` without `content`"),
                    },
                },
                "not-a-recipient" => Decryption::NotARecipient,
                "key-does-not-open" => Decryption::KeyDoesNotOpen { detail: reason },
                "content-altered" => Decryption::ContentAltered { detail: reason },
                "unsupported-cipher" => Decryption::UnsupportedCipher { algorithm: reason },
                "malformed" => Decryption::Malformed { detail: reason },
                "unsupported" => Decryption::Unsupported { detail: reason },
                other => Decryption::AdapterFailure {
                    detail: self.failure(operation, format!("unknown status `{other}`")),
                },
            }
        })
    }

    fn verify(
        &self,
        message: &[u8],
        detached_content: Option<&[u8]>,
        context: &CallContext<'_>,
    ) -> SignatureCheck {
        smime::judge::check_signed(message, detached_content, || {
            let operation = "verify";
            let answer = self.call_with_files(operation, context, |dir| {
                let content_file = detached_content
                    .map(|content| write_file(dir, "content", content))
                    .transpose()?;
                Ok(object(json!({
                    "message_file": write_file(dir, "message.der", message)?,
                    "message": BASE64.encode(message),
                    "content_file": content_file,
                    "content": detached_content.map(|c| BASE64.encode(c)),
                    "detached": detached_content.is_some(),
                })))
            });
            let answer = match answer {
                Ok(answer) => answer,
                Err(detail) => return (SignatureStatus::AdapterFailure { detail }, None),
            };
            let reason = answer.reason_or(&answer.status);
            let status = match answer.status.as_str() {
                "verified" => SignatureStatus::Verified,
                "digest-mismatch" => SignatureStatus::DigestMismatch,
                "signature-invalid" => SignatureStatus::SignatureInvalid,
                "signer-not-found" => SignatureStatus::SignerNotFound,
                "malformed" => SignatureStatus::Malformed { detail: reason },
                "unsupported" => SignatureStatus::Unsupported { detail: reason },
                other => SignatureStatus::AdapterFailure {
                    detail: self.failure(operation, format!("unknown status `{other}`")),
                },
            };
            (status, answer.content)
        })
    }
}

impl ExternalEngine {
    /// The CMS a sign or encrypt call built, checked to be the kind asked for; a call that
    /// failed is the adapter's failure.
    fn built(
        &self,
        operation: &str,
        answer: Result<Answer, String>,
        kind: &str,
        is_kind: impl Fn(&CmsSummary) -> bool,
    ) -> Result<CmsDer, EngineError> {
        let answer = answer.map_err(|detail| EngineError::AdapterFailure { detail })?;
        let failed = |what: String| EngineError::AdapterFailure {
            detail: self.failure(operation, what),
        };
        match answer.status.as_str() {
            "ok" => {
                let Some(der) = answer.cms else {
                    return Err(failed("answered `ok` without `cms`".into()));
                };
                match summarize(&smime::ber::to_der(&der)) {
                    Ok(summary) if is_kind(&summary) => Ok(CmsDer::new(der)),
                    Ok(_) => Err(failed(format!("`cms` is not {kind}"))),
                    Err(detail) => Err(failed(format!("`cms` is not CMS: {detail}"))),
                }
            }
            "unsupported" => Err(EngineError::Unsupported {
                engine: self.adapter.name.clone(),
                detail: answer.reason_or("no reason given"),
            }),
            other => Err(failed(format!("unknown status `{other}`"))),
        }
    }
}

/// A response of the protocol.
#[derive(Debug)]
struct Answer {
    status: String,
    reason: Option<String>,
    cms: Option<Vec<u8>>,
    content: Option<Vec<u8>>,
}

impl Answer {
    fn parse(output: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(output).map_err(|e| {
            if output.iter().all(u8::is_ascii_whitespace) {
                "answered nothing".to_owned()
            } else {
                format!(
                    "answered something that is not JSON ({e}): {}",
                    quote(output)
                )
            }
        })?;
        let Value::Object(mut fields) = value else {
            return Err(format!(
                "answered JSON that is not an object: {}",
                quote(output)
            ));
        };
        match fields.remove("protocol") {
            None => {}
            Some(Value::String(protocol)) if protocol == PROTOCOL => {}
            Some(other) => return Err(format!("speaks protocol {other}, not {PROTOCOL}")),
        }
        let status = match fields.remove("status") {
            Some(Value::String(status)) => status,
            Some(other) => return Err(format!("`status` is not a string: {other}")),
            None => return Err(format!("answered without `status`: {}", quote(output))),
        };
        let reason = match fields.remove("reason") {
            None | Some(Value::Null) => None,
            Some(Value::String(reason)) => Some(reason),
            Some(other) => return Err(format!("`reason` is not a string: {other}")),
        };
        let bytes = |fields: &mut Map<String, Value>, key: &str| match fields.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => BASE64
                .decode(text.trim())
                .map(Some)
                .map_err(|e| format!("`{key}` is not base64: {e}")),
            Some(other) => Err(format!("`{key}` is not a string: {other}")),
        };
        let cms = bytes(&mut fields, "cms")?;
        let content = bytes(&mut fields, "content")?;
        Ok(Self {
            status,
            reason,
            cms,
            content,
        })
    }

    fn reason_or(&self, fallback: &str) -> String {
        self.reason.clone().unwrap_or_else(|| fallback.to_owned())
    }
}

/// Runs the adapter with `input` on its standard input; its standard output if it exited
/// successfully within its time limit.
fn run(adapter: &Adapter, scratch: &Path, input: Vec<u8>) -> Result<Vec<u8>, String> {
    let mut command = Command::new(&adapter.program);
    command
        .current_dir(scratch)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a hung adapter is stopped with everything it started.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", adapter.program.display()))?;
    // Writing and reading happen on their own threads: an adapter that never reads its input
    // or floods its output must not block kmlab past the time limit.
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            // An adapter may exit without reading its request; that is its business.
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = collect(child.stdout.take());
    let stderr = collect(child.stderr.take());
    let status = match wait(&mut child, adapter.timeout) {
        Some(status) => status,
        None => {
            stop(&mut child);
            return Err(format!(
                "no answer within {}; stopped",
                seconds(adapter.timeout)
            ));
        }
    };
    // The adapter has exited; its output is complete unless something it started still
    // holds the pipe open.
    let grace = Duration::from_secs(2);
    let stdout = stdout.recv_timeout(grace).unwrap_or_default();
    let stderr = stderr.recv_timeout(grace).unwrap_or_default();
    if !status.success() {
        let said = String::from_utf8_lossy(&stderr);
        let last = said.lines().rev().find(|line| !line.trim().is_empty());
        return Err(match last {
            Some(line) => format!("exited with {status}: {}", quote(line.trim().as_bytes())),
            None => format!("exited with {status}"),
        });
    }
    Ok(stdout)
}

/// Reads a pipe to its end on a thread; the bytes arrive on the channel.
fn collect(pipe: Option<impl std::io::Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (sender, receiver) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            let _ = sender.send(bytes);
        });
    } else {
        let _ = sender.send(Vec::new());
    }
    receiver
}

/// Waits for the child to exit, at most `limit`.
#[expect(
    clippy::disallowed_methods,
    reason = "an adapter's time limit is wall-clock time; no result depends on it"
)]
fn wait(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = std::time::Instant::now() + limit;
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(_) => return None,
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Stops a child and everything in its process group.
fn stop(child: &mut Child) {
    // The group's id is the child's process id (it was started as a group leader).
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}

fn seconds(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis % 1000 == 0 {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    let mut quoted: String = text.chars().take(QUOTE).collect();
    if text.chars().count() > QUOTE {
        quoted.push('…');
    }
    format!("{quoted:?}")
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The protocol's name for a digest: `sha1`, `sha256`, `sha384`, `sha512`.
pub fn digest_name(digest: Digest) -> &'static str {
    match digest {
        Digest::Sha1 => "sha1",
        Digest::Sha256 => "sha256",
        Digest::Sha384 => "sha384",
        Digest::Sha512 => "sha512",
    }
}

/// The protocol's name for a cipher: `aes-128-cbc`, `des-ede3-cbc`, `rc2-40-cbc` …
pub fn cipher_name(cipher: smime::Cipher) -> String {
    cipher.name().to_ascii_lowercase()
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, bytes)?;
    Ok(path.display().to_string())
}

fn write_certificate(dir: &Path, name: &str, der: &CertificateDer) -> std::io::Result<String> {
    write_file(
        dir,
        &format!("{name}.crt.pem"),
        pem("CERTIFICATE", der.as_bytes()).as_bytes(),
    )
}

fn write_key(dir: &Path, name: &str, der: &PrivateKeyDer) -> std::io::Result<String> {
    write_file(
        dir,
        &format!("{name}.key.pem"),
        pem("PRIVATE KEY", der.as_bytes()).as_bytes(),
    )
}

/// DER as PEM, 64 characters a line.
fn pem(label: &str, der: &[u8]) -> String {
    let encoded = BASE64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
