//! `kmlab inspect`: what one virtual user's client makes of a message from anywhere.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clients::{Persona, Strength};
use model::{Named, Outcome, Timestamp};
use report::Detail;
use runner::{Inspector, PKCS12_PASSWORD};
use smime_external::ExternalEngine;

use crate::run_cmd::EngineChoice;
use crate::{Exit, Format};

pub(crate) const INSPECT_EXIT_CODES: &str = "Exit codes:
  0  the client reads the message and trusts it (outcome ok)
  1  the client's verdict is a warning or an error (tampered, untrusted, no key opens it …)
  2  bad input or usage: a missing or unreadable file, an unknown user, a bad option";

/// The reader's name when no artifacts name one.
const DEFAULT_READER: &str = "reader";

#[derive(Debug, clap::Args)]
pub(crate) struct InspectArgs {
    /// The message: an .eml file as a mail client or the SMTP sink stored it.
    message: PathBuf,
    /// The user whose client reads it (with --artifacts: one of the scenario's users).
    #[arg(long = "as", value_name = "USER")]
    user: Option<String>,
    /// A scenario's artifacts folder (from `kmlab run --artifacts DIR`: DIR/<scenario>, or DIR
    /// itself if it holds one scenario); the client is the user's as the run left it.
    #[arg(long, value_name = "DIR", requires = "user")]
    artifacts: Option<PathBuf>,
    /// A trusted root certificate, PEM or DER (repeatable; a PEM bundle adds them all).
    #[arg(long, value_name = "CA.pem")]
    trust: Vec<PathBuf>,
    /// An encryption private key, PKCS #8 or PKCS #1, PEM or DER (repeatable; the nth --key
    /// goes with the nth --cert, and later pairs are newer generations).
    #[arg(long, value_name = "KEY.pem")]
    key: Vec<PathBuf>,
    /// The certificate of the --key in the same position.
    #[arg(long, value_name = "CERT.pem")]
    cert: Vec<PathBuf>,
    /// A PKCS #12 file whose encryption keys the client holds (repeatable).
    #[arg(long, value_name = "FILE")]
    p12: Vec<PathBuf>,
    /// The password of the --p12 files (default: kmlab, the password of the artifacts'
    /// files).
    #[arg(long, requires = "p12")]
    password: Option<String>,
    /// A CRL the client has fetched, PEM or DER (repeatable).
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// When validity is judged, e.g. 2001-03-01T11:00:00Z or 2001-03-01 (UTC). Default with
    /// --artifacts: the end of the run. Required without: kmlab never reads the wall clock.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// The client persona (default: the user's with --artifacts, else modern).
    #[arg(long, value_name = "PERSONA")]
    client: Option<String>,
    /// The client build's strength, 128-bit or 40-bit (default: the user's with
    /// --artifacts, else 128-bit).
    #[arg(long)]
    strength: Option<String>,
    /// The engine doing the cryptography.
    #[arg(long, value_enum, default_value_t = EngineChoice::DEFAULT)]
    engine: EngineChoice,
    /// A real S/MIME implementation doing the cryptography instead: a built-in adapter
    /// (openssl-cli, gpgsm, cmsutil) or the path of an adapter program.
    #[arg(long, value_name = "ADAPTER", conflicts_with = "engine")]
    adapter: Option<String>,
    /// How long one adapter call may take before it counts as hung.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 30.0,
        requires = "adapter"
    )]
    adapter_timeout: f64,
    /// How to print the verdict.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
}

pub(crate) fn inspect(args: &InspectArgs) -> anyhow::Result<Exit> {
    if args.format == Format::Junit {
        bail!("--format junit is for kmlab run; inspect prints human or json");
    }
    if args.key.len() != args.cert.len() {
        bail!(
            "--key and --cert go in pairs: {} keys and {} certificates given",
            args.key.len(),
            args.cert.len()
        );
    }
    let message = std::fs::read(&args.message)
        .with_context(|| format!("reading {}", args.message.display()))?;
    let at = args
        .at
        .as_deref()
        .map(|text| {
            text.parse::<Timestamp>().map_err(|_| {
                anyhow::anyhow!("--at {text}: not a time; write 2001-03-01T11:00:00Z or 2001-03-01")
            })
        })
        .transpose()?;
    let persona: Option<Persona> = named("--client", args.client.as_deref())?;
    let strength: Option<Strength> = named("--strength", args.strength.as_deref())?;

    let mut inspector = match (&args.artifacts, &args.user) {
        (Some(dir), Some(user)) => Inspector::from_artifacts(dir, user)?,
        _ => {
            let Some(at) = at else {
                bail!(
                    "--at TIME is needed without --artifacts: validity is judged at that moment, and kmlab never reads the wall clock"
                );
            };
            Inspector::empty(
                args.user.as_deref().unwrap_or(DEFAULT_READER),
                persona.unwrap_or(Persona::Modern),
                strength.unwrap_or(Strength::High),
                at,
            )
        }
    };
    if let Some(at) = at {
        inspector.at = at;
    }
    if let Some(persona) = persona {
        inspector.client.persona = persona;
    }
    if let Some(strength) = strength {
        inspector.client.strength = strength;
    }
    for path in &args.trust {
        inspector.trust(path)?;
    }
    for (cert, key) in args.cert.iter().zip(&args.key) {
        inspector.add_key(cert, key)?;
    }
    let password = args.password.as_deref().unwrap_or(PKCS12_PASSWORD);
    for path in &args.p12 {
        inspector.add_pkcs12(path, password)?;
    }
    for path in &args.crl {
        inspector.add_crls(path)?;
    }

    let engine: Arc<dyn smime::Engine> = match &args.adapter {
        Some(written) => {
            let timeout = crate::seats::adapter_timeout(args.adapter_timeout)?;
            let adapter = crate::seats::adapter_named(written, timeout)
                .map_err(|error| anyhow::anyhow!("--adapter {written}: {error}"))?;
            Arc::new(ExternalEngine::new(adapter))
        }
        None => args.engine.engine()?,
    };
    let mut inspection = inspector.inspect(
        &args.message.display().to_string(),
        &message,
        engine.as_ref(),
    );
    if args.adapter.is_some() {
        // After the message and the client, as a seated user's read step records it.
        let at = inspection.record.details.len().min(2);
        inspection
            .record
            .details
            .insert(at, Detail::text("implementation", engine.name()));
    }
    match args.format {
        Format::Json => {
            let value = serde_json::json!({
                "schema": "kmlab-inspect/1",
                "engine": engine.name(),
                "record": inspection.record,
                "verdicts": inspection.reading.verdicts(),
            });
            emit(&(serde_json::to_string_pretty(&value)? + "\n"))?;
        }
        _ => emit(&report::render_record(&inspection.record, "inspect"))?,
    }
    Ok(if inspection.record.outcome == Outcome::Ok {
        Exit::Passed
    } else {
        Exit::Failed
    })
}

/// The value of a closed vocabulary an option names, if given.
fn named<T: Named>(flag: &str, value: Option<&str>) -> anyhow::Result<Option<T>> {
    value
        .map(|name| {
            T::from_name(name)
                .ok_or_else(|| anyhow::anyhow!("{flag} {name}: unknown; known: {}", T::names()))
        })
        .transpose()
}

/// Writes to standard output; a reader that stopped reading (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(error).context("writing the verdict")
        }
        _ => Ok(()),
    }
}
