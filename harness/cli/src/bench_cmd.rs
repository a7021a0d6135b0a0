//! `kmlab bench`: the performance figures P1–P6, each with its goal and whether it
//! holds, and `BENCHMARKS.md` rewritten from what was measured (`--only` picks figures).
//!
//! - **P1** pipeline overhead: a generated two-user scenario's messages through the whole
//!   path (compose, sign, encrypt, lettre to the sink, fetch, parse, decrypt, verify, judge)
//!   against the same engine calls replayed alone plus the same bytes delivered alone by the
//!   same client to the same kind of sink, one connection per message as a send step makes.
//!   The calls are recorded by wrapping the engine in an untimed run; determinism makes the
//!   timed runs make the same calls. Beside it, each engine's sign and decrypt per call.
//! - **P2** sink throughput: Postfix's `smtp-source` delivering to kmlab's sink (Maildir and
//!   in-memory stores), Postfix's `smtp-sink` (storing and discarding) and Python's aiosmtpd,
//!   at 1 and 8 sessions, new and kept-open connections; and P1's messages delivered by
//!   lettre to kmlab's embedded sink and to aiosmtpd.
//! - **P3** the `scenarios/` suite as `kmlab run` runs it, with an empty and with a warm key
//!   cache.
//! - **P4** scale: `kmlab gen-load` scenarios at two sizes, each run in a process of its own
//!   (so that its peak resident memory is its own), with a warm key cache.
//! - **P5** diagnostics: a scenario file with 2,000 to 20,000 problems checked and reported
//!   (as `kmlab check` and `kmlab run` report them), which must take time linear in their number.
//! - **P6** against what a user would write instead: a shell script calling `openssl cms` to
//!   sign, encrypt, decrypt and verify each of P1's messages with P1's keys, against P1's
//!   whole path per message.
//!
//! This is the only timing code in kmlab: it alone reads the monotonic clock.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use lettre::address::Envelope as LettreEnvelope;
use lettre::transport::smtp::client::SmtpConnection;
use lettre::transport::smtp::extension::ClientId;
use model::{CertificateDer, PrivateKeyDer, SeededRng, Timestamp};
use rand_core::CryptoRngCore;
use scenario::LoadShape;
use smime::{
    CallContext, Capability, Cipher, CmsDer, Decryption, Digest, Engine, EngineError,
    EnvelopeRequest, IdentifierKind, Recipient, SignRequest, SignatureCheck, SignerCredentials,
};

use crate::Exit;
use crate::run_cmd::EngineChoice;

/// The aiosmtpd receiver P2 compares against.
const AIOSMTPD_SINK: &str = include_str!("../bench/aiosmtpd_sink.py");

/// The seed of every scenario the bench generates.
const BENCH_SEED: u64 = 1;

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Which figures to measure (default: all), e.g. `--only P1,P6`.
    #[arg(long, value_delimiter = ',', value_enum, ignore_case = true)]
    only: Vec<Figure>,
    /// Repetitions of P1, P2 and P3's warm suite; the median is reported with the spread.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Messages through the whole path in P1.
    #[arg(long, default_value_t = 200)]
    messages: u64,
    /// Messages each server receives in P2 (P1's messages, over and over).
    #[arg(long, default_value_t = 2000)]
    sink_messages: usize,
    /// Connections delivering at once in P2, each kept open for its share of the messages.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// The Python with aiosmtpd for P2 (default: target/bench-venv/bin/python, as
    /// ci/install-bench-deps.sh makes it, else $KMLAB_BENCH_PYTHON).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// The suite P3 runs.
    #[arg(long, default_value = "scenarios", value_name = "DIR")]
    scenarios: PathBuf,
    /// Runs of P3's suite with an empty key cache (each generates every key).
    #[arg(long, default_value_t = 3)]
    cold_runs: usize,
    /// P4's large load: this many users ...
    #[arg(long, default_value_t = 10_000)]
    scale_users: u32,
    /// ... exchanging this many messages; the small load is a tenth of both.
    #[arg(long, default_value_t = 100_000)]
    scale_messages: u64,
    /// Runs of each P4 load.
    #[arg(long, default_value_t = 1)]
    scale_runs: usize,
    /// Leave out P4's small load with 2048-bit keys (reported beside the 1024-bit ones; its
    /// keys take minutes to generate the first time).
    #[arg(long)]
    scale_skip_large_keys: bool,
    /// Scenarios run at once in P3 and while warming P4's keys (default: the number of cores).
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    /// Where warm keys are kept between bench runs (default: $KMLAB_KEY_CACHE, else
    /// ~/.cache/kmlab/keys); P3's cold runs always start from an empty folder.
    #[arg(long, value_name = "DIR")]
    key_cache: Option<PathBuf>,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md", value_name = "FILE")]
    write: PathBuf,
    /// Print the figures only; leave the report file alone.
    #[arg(long, conflicts_with = "write")]
    no_write: bool,
}

/// The figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Figure {
    P1,
    P2,
    P3,
    P4,
    P5,
    P6,
}

/// Arguments of the process P4 runs each load in.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchLoadArgs {
    /// The load scenario.
    scenario: PathBuf,
    /// The key cache.
    #[arg(long, value_name = "DIR")]
    key_cache: PathBuf,
}

/// Several measurements of one quantity.
#[derive(Debug, Clone)]
struct Sample(Vec<f64>);

impl Sample {
    fn median(&self) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    fn min(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }

    fn max(&self) -> f64 {
        self.0.iter().copied().fold(f64::NEG_INFINITY, f64::max)
    }

    /// `median (n runs: min–max)` with `format` for each number.
    fn describe(&self, format: impl Fn(f64) -> String) -> String {
        if self.0.len() < 2 {
            return format(self.median());
        }
        format!(
            "{} (median of {}: {}–{})",
            format(self.median()),
            self.0.len(),
            format(self.min()),
            format(self.max())
        )
    }
}

/// One goal and whether the measurement meets it.
#[derive(Debug, Clone)]
struct Verdict {
    goal: String,
    holds: bool,
}

impl Verdict {
    fn new(goal: impl Into<String>, holds: bool) -> Self {
        Self {
            goal: goal.into(),
            holds,
        }
    }

    fn word(&self) -> &'static str {
        if self.holds { "holds" } else { "MISSED" }
    }
}

/// What one figure measured: a headline, its goals, and the detail behind it.
#[derive(Debug, Clone)]
struct Outcome {
    figure: &'static str,
    title: &'static str,
    headline: String,
    verdicts: Vec<Verdict>,
    /// A Markdown table behind the headline, if the figure has one.
    table: Vec<String>,
    details: Vec<String>,
}

impl Outcome {
    fn print(&self) {
        println!("{} {}: {}", self.figure, self.title, self.headline);
        for row in &self.table {
            println!("   {row}");
        }
        for verdict in &self.verdicts {
            println!("   goal {}: {}", verdict.goal, verdict.word());
        }
        for detail in &self.details {
            println!("   {detail}");
        }
    }
}

/// The stopwatch every measurement uses.
#[expect(
    clippy::disallowed_methods,
    reason = "the benchmark measures wall time; nothing it times feeds a scenario's result"
)]
fn stopwatch() -> Instant {
    Instant::now()
}

/// The seconds since `start`, read on the same stopwatch.
#[expect(
    clippy::disallowed_methods,
    reason = "the benchmark measures wall time; nothing it times feeds a scenario's result"
)]
fn seconds_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

pub(crate) fn bench(args: &BenchArgs) -> anyhow::Result<Exit> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let figures: Vec<Figure> = if args.only.is_empty() {
        vec![
            Figure::P1,
            Figure::P2,
            Figure::P3,
            Figure::P4,
            Figure::P5,
            Figure::P6,
        ]
    } else {
        let mut only = args.only.clone();
        only.sort();
        only.dedup();
        only
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let keys = args
        .key_cache
        .clone()
        .or_else(crate::run_cmd::default_key_cache)
        .context("no key cache folder: give --key-cache")?;
    std::fs::create_dir_all(&keys)
        .with_context(|| format!("creating the key cache {}", keys.display()))?;
    let machine = Machine::describe(jobs);
    println!("kmlab bench on {}", machine.summary());

    let mut outcomes = Vec::new();
    let mut pipeline_run = None;
    if [Figure::P1, Figure::P2, Figure::P6]
        .iter()
        .any(|figure| figures.contains(figure))
    {
        let run = pipeline(args, &keys)?;
        if figures.contains(&Figure::P1) {
            run.outcome.print();
            outcomes.push(run.outcome.clone());
        }
        pipeline_run = Some(run);
    }
    let messages = pipeline_run
        .as_ref()
        .map(|run| run.delivered.clone())
        .unwrap_or_default();
    if figures.contains(&Figure::P2) {
        let outcome = sink_throughput(args, &messages)?;
        outcome.print();
        outcomes.push(outcome);
    }
    if figures.contains(&Figure::P3) {
        let outcome = suite(args, jobs)?;
        outcome.print();
        outcomes.push(outcome);
    }
    if figures.contains(&Figure::P4) {
        let outcome = scale(args, jobs, &keys)?;
        outcome.print();
        outcomes.push(outcome);
    }
    if figures.contains(&Figure::P5) {
        let outcome = diagnostics(args)?;
        outcome.print();
        outcomes.push(outcome);
    }
    if let (true, Some(run)) = (figures.contains(&Figure::P6), &pipeline_run) {
        let outcome = against_openssl_cli(run)?;
        outcome.print();
        outcomes.push(outcome);
    }
    if !args.no_write {
        std::fs::write(&args.write, report(&outcomes, &machine))
            .with_context(|| format!("writing {}", args.write.display()))?;
        println!("wrote {}", args.write.display());
    }
    Ok(Exit::Passed)
}

// ---------------------------------------------------------------------------------------------
// P1: the whole path against the crypto alone.

/// The [`CallContext`] of a recorded call, owned.
#[derive(Debug, Clone)]
struct RecordedContext {
    at: Timestamp,
    authorities: Vec<CertificateDer>,
}

impl RecordedContext {
    fn of(context: &CallContext<'_>) -> Self {
        Self {
            at: context.at,
            authorities: context.authorities.to_vec(),
        }
    }

    fn context(&self) -> CallContext<'_> {
        CallContext::new(self.at, &self.authorities)
    }
}

/// One engine call, with everything it was given.
#[derive(Debug, Clone)]
enum Call {
    Sign {
        content: Vec<u8>,
        signer: SignerCredentials,
        digest: Digest,
        identifier: IdentifierKind,
        signing_time: Timestamp,
        detached: bool,
        capabilities: Vec<Capability>,
        context: RecordedContext,
    },
    Envelope {
        content: Vec<u8>,
        recipients: Vec<Recipient>,
        cipher: Cipher,
        context: RecordedContext,
    },
    Decrypt {
        message: Vec<u8>,
        certificate: CertificateDer,
        key: PrivateKeyDer,
        context: RecordedContext,
    },
    Verify {
        message: Vec<u8>,
        detached_content: Option<Vec<u8>>,
        context: RecordedContext,
    },
}

/// An engine that notes every call it passes on.
#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn Engine>,
    calls: Mutex<Vec<Call>>,
}

impl Recorder {
    fn note(&self, call: Call) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(call);
    }
}

impl Engine for Recorder {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn is_deterministic(&self) -> bool {
        self.inner.is_deterministic()
    }

    fn sign(
        &self,
        request: &SignRequest<'_>,
        context: &CallContext<'_>,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        self.note(Call::Sign {
            content: request.content.to_vec(),
            signer: request.signer.clone(),
            digest: request.digest,
            identifier: request.identifier,
            signing_time: request.signing_time,
            detached: request.detached,
            capabilities: request.capabilities.to_vec(),
            context: RecordedContext::of(context),
        });
        self.inner.sign(request, context, rng)
    }

    fn envelope(
        &self,
        request: &EnvelopeRequest<'_>,
        context: &CallContext<'_>,
        rng: &mut dyn CryptoRngCore,
    ) -> Result<CmsDer, EngineError> {
        self.note(Call::Envelope {
            content: request.content.to_vec(),
            recipients: request.recipients.to_vec(),
            cipher: request.cipher,
            context: RecordedContext::of(context),
        });
        self.inner.envelope(request, context, rng)
    }

    fn decrypt(
        &self,
        message: &[u8],
        certificate: &CertificateDer,
        key: &PrivateKeyDer,
        context: &CallContext<'_>,
    ) -> Decryption {
        self.note(Call::Decrypt {
            message: message.to_vec(),
            certificate: certificate.clone(),
            key: key.clone(),
            context: RecordedContext::of(context),
        });
        self.inner.decrypt(message, certificate, key, context)
    }

    fn verify(
        &self,
        message: &[u8],
        detached_content: Option<&[u8]>,
        context: &CallContext<'_>,
    ) -> SignatureCheck {
        self.note(Call::Verify {
            message: message.to_vec(),
            detached_content: detached_content.map(<[u8]>::to_vec),
            context: RecordedContext::of(context),
        });
        self.inner.verify(message, detached_content, context)
    }
}

/// Makes every recorded call again, straight on the engine.
fn replay(engine: &dyn Engine, calls: &[Call]) -> anyhow::Result<()> {
    let mut rng = SeededRng::new(BENCH_SEED, "bench-replay");
    for call in calls {
        match call {
            Call::Sign {
                content,
                signer,
                digest,
                identifier,
                signing_time,
                detached,
                capabilities,
                context,
            } => {
                let request = SignRequest {
                    content,
                    signer,
                    digest: *digest,
                    identifier: *identifier,
                    signing_time: *signing_time,
                    detached: *detached,
                    capabilities,
                };
                std::hint::black_box(engine.sign(&request, &context.context(), &mut rng)?);
            }
            Call::Envelope {
                content,
                recipients,
                cipher,
                context,
            } => {
                let request = EnvelopeRequest {
                    content,
                    recipients,
                    cipher: *cipher,
                };
                std::hint::black_box(engine.envelope(&request, &context.context(), &mut rng)?);
            }
            Call::Decrypt {
                message,
                certificate,
                key,
                context,
            } => {
                let _ = std::hint::black_box(engine.decrypt(
                    message,
                    certificate,
                    key,
                    &context.context(),
                ));
            }
            Call::Verify {
                message,
                detached_content,
                context,
            } => {
                let _ = std::hint::black_box(engine.verify(
                    message,
                    detached_content.as_deref(),
                    &context.context(),
                ));
            }
        }
    }
    Ok(())
}

/// Runs a scenario in this process; a run whose expectations fail is an error, since then it
/// did not do the work being measured.
fn run_scenario(
    scenario: &Arc<scenario::Scenario>,
    engine: Arc<dyn Engine>,
    keys: &Path,
    observer: &mut dyn runner::Observer,
) -> anyhow::Result<runner::Run> {
    let work = crate::work::WorkFolder::create("kmlab-bench-")?;
    let options = runner::RunOptions {
        key_cache: Some(keys.to_path_buf()),
        ..runner::RunOptions::new(work.path().to_path_buf(), engine)
    };
    let run = runner::run_observed(Arc::clone(scenario), &options, observer)
        .map_err(|error| anyhow::anyhow!("running {}: {error}", scenario.id))?;
    let unmet = run.transcript.unmet_expectations();
    if !unmet.is_empty() {
        bail!(
            "{} did not run as expected: {}",
            scenario.id,
            unmet.join("; ")
        );
    }
    Ok(run)
}

/// Adds up the time spent in the steps that carry messages (`send` and `read`).
#[derive(Debug, Default)]
struct MessageSteps {
    started: Option<Instant>,
    seconds: f64,
}

impl runner::Observer for MessageSteps {
    fn before(&mut self, step: &scenario::Step) {
        self.started = matches!(
            step.action,
            scenario::Action::Send(_) | scenario::Action::Read { .. }
        )
        .then(stopwatch);
    }

    fn after(&mut self, _: &scenario::Step, _: &report::Record) {
        if let Some(started) = self.started.take() {
            self.seconds += seconds_since(started);
        }
    }
}

fn generated(id: &str, shape: LoadShape) -> anyhow::Result<scenario::Scenario> {
    let text = scenario::load_scenario(shape)?;
    scenario::parse(id, Path::new(&format!("{id}.toml")), &text)
        .map_err(|diagnostics| anyhow::anyhow!("the generated scenario is invalid: {diagnostics}"))
}

/// What P1 measured, for P6 to compare against and P2 to deliver again.
struct Pipeline {
    outcome: Outcome,
    delivered: Vec<sink::StoredMessage>,
    calls: Vec<Call>,
    /// The whole path per message, in seconds (median).
    per_message: f64,
}

/// P1; also returns the messages the sink received (for P2) and the engine calls (for P6).
fn pipeline(args: &BenchArgs, keys: &Path) -> anyhow::Result<Pipeline> {
    let shape = LoadShape::new(2, args.messages, BENCH_SEED);
    let full = Arc::new(generated("bench-pipeline", shape)?);
    let engine = EngineChoice::DEFAULT.engine()?;

    // Untimed: fills the key cache and notes every engine call the messages cause.
    let recorder = Arc::new(Recorder {
        inner: Arc::clone(&engine),
        calls: Mutex::new(Vec::new()),
    });
    let recorded = run_scenario(
        &full,
        Arc::clone(&recorder) as Arc<dyn Engine>,
        keys,
        &mut (),
    )?;
    let delivered = recorded.world.delivered_messages();
    drop(recorded);
    let calls = std::mem::take(
        &mut *recorder
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    let outgoing = submissions_of(&delivered)?;

    let mut path = Vec::new();
    let mut crypto = Vec::new();
    let mut delivery = Vec::new();
    let mut kept_open = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..args.runs {
        let mut steps = MessageSteps::default();
        run_scenario(&full, Arc::clone(&engine), keys, &mut steps)?;
        let start = stopwatch();
        replay(engine.as_ref(), &calls)?;
        let alone = seconds_since(start);
        let delivering = deliver_alone(&outgoing)?;
        kept_open.push(deliver_to_spool(&outgoing, true)?);
        path.push(steps.seconds);
        crypto.push(alone);
        delivery.push(delivering);
        ratios.push(steps.seconds / (alone + delivering));
    }
    let (path, crypto, delivery, kept_open, ratios) = (
        Sample(path),
        Sample(crypto),
        Sample(delivery),
        Sample(kept_open),
        Sample(ratios),
    );
    let ratio = ratios.median();
    let messages = args.messages.max(1) as f64;
    let per_message = |s: f64| format!("{:.2} ms", s * 1000.0 / messages);
    let counts = CallCounts::of(&calls);
    let mut operations = per_operation(&calls, scenario::LOAD_KEY_SIZE)?;
    operations.extend(per_operation(
        &recorded_calls(LARGE_KEY_SIZE, keys)?,
        LARGE_KEY_SIZE,
    )?);
    let mut details = vec![
        format!(
            "{} messages, each sent clear-signed and encrypted and read by its recipient (2 Outlook 2000 users, {}-bit keys), default engine ({})",
            args.messages,
            scenario::LOAD_KEY_SIZE,
            engine.name()
        ),
        format!(
            "whole path {} per message; engine calls alone {} per message; delivery alone {} per message",
            path.describe(per_message),
            crypto.describe(per_message),
            delivery.describe(per_message)
        ),
        format!(
            "engine calls alone are the engine's {} signs, {} envelopes, {} decryptions and {} verifications, replayed; delivery alone is the same {} messages' bytes submitted again by clients::submit (lettre, a new connection per message, as a send step does) to a fresh embedded sink with a spool file, as a run's",
            counts.sign,
            counts.envelope,
            counts.decrypt,
            counts.verify,
            outgoing.len()
        ),
        format!(
            "the same messages over one kept-open connection instead (as a client keeping its connection across consecutive sends would): {} per message",
            kept_open.describe(per_message)
        ),
    ];
    details.extend(operations);
    let outcome = Outcome {
        figure: "P1",
        title: "pipeline overhead",
        headline: format!(
            "{} (whole path ÷ (engine calls alone + delivery alone))",
            ratios.describe(|r| format!("{r:.3}"))
        ),
        verdicts: vec![Verdict::new("≤ 1.15", ratio <= 1.15)],
        table: Vec::new(),
        details,
    };
    Ok(Pipeline {
        outcome,
        delivered,
        calls,
        per_message: path.median() / messages,
    })
}

/// A delivered message as its sender submitted it: envelope and bytes.
struct Outgoing {
    from: String,
    to: Vec<String>,
    body: Vec<u8>,
}

fn submissions_of(messages: &[sink::StoredMessage]) -> anyhow::Result<Vec<Outgoing>> {
    messages
        .iter()
        .map(|message| {
            let data = message.data()?;
            // The sink keeps the CRLF before the final dot, which the client adds itself.
            let body = data.strip_suffix(b"\r\n").unwrap_or(&data).to_vec();
            Ok(Outgoing {
                from: message.from.clone(),
                to: message.recipients.clone(),
                body,
            })
        })
        .collect()
}

/// The seconds it takes the send steps' client to deliver `messages` again, one connection
/// each, to an embedded sink storing into a spool file as a run's does.
fn deliver_alone(messages: &[Outgoing]) -> anyhow::Result<f64> {
    deliver_to_spool(messages, false)
}

/// [`deliver_alone`], or with `kept_open` every message over one connection (lettre's
/// `SmtpConnection`: EHLO once, then MAIL, RCPT and DATA per message, one command at a time),
/// what a client keeping its connection across consecutive sends would spend.
fn deliver_to_spool(messages: &[Outgoing], kept_open: bool) -> anyhow::Result<f64> {
    // Locked, as every kmlab-bench- folder must be: a concurrent kmlab sweeps unlocked ones.
    let work = crate::work::WorkFolder::create("kmlab-bench-")?;
    let sink = sink::EmbeddedSink::start_with(
        sink::Limits::default(),
        sink::Store::spooled(&work.path().join("sink.spool"))?,
    )?;
    let start = stopwatch();
    if kept_open {
        let hello = ClientId::Domain("client.kmlab.test".to_owned());
        let mut connection = SmtpConnection::connect(
            sink.address(),
            Some(Duration::from_secs(60)),
            &hello,
            None,
            None,
        )?;
        for message in messages {
            let parse = |address: &str| {
                address
                    .parse::<lettre::Address>()
                    .with_context(|| format!("address {address}"))
            };
            let to = message
                .to
                .iter()
                .map(|address| parse(address))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let envelope = LettreEnvelope::new(Some(parse(&message.from)?), to)?;
            connection.send(&envelope, &message.body)?;
        }
        connection.quit()?;
    }
    for message in messages.iter().filter(|_| !kept_open) {
        let to: Vec<&str> = message.to.iter().map(String::as_str).collect();
        let attempts = clients::submit::submit_with_retries(
            sink.address(),
            "client.kmlab.test",
            None,
            &message.from,
            &to,
            &message.body,
            0,
        );
        if !attempts.iter().any(|attempt| attempt.delivered) {
            bail!(
                "delivering again failed: {:?}",
                attempts.last().map(|a| &a.outcome)
            );
        }
    }
    let seconds = seconds_since(start);
    if sink.store().len() != messages.len() {
        bail!(
            "the sink stored {} of {} messages",
            sink.store().len(),
            messages.len()
        );
    }
    Ok(seconds)
}

/// The key size of the `modern` users, measured beside the load scenarios' 1024 bits.
const LARGE_KEY_SIZE: u32 = 2048;

/// The engine calls of one message between two users with `key_size`-bit keys.
fn recorded_calls(key_size: u32, keys: &Path) -> anyhow::Result<Vec<Call>> {
    let shape = LoadShape {
        key_size,
        ..LoadShape::new(2, 1, BENCH_SEED)
    };
    let scenario = Arc::new(generated(&format!("bench-calls-{key_size}"), shape)?);
    let recorder = Arc::new(Recorder {
        inner: EngineChoice::DEFAULT.engine()?,
        calls: Mutex::new(Vec::new()),
    });
    run_scenario(
        &scenario,
        Arc::clone(&recorder) as Arc<dyn Engine>,
        keys,
        &mut (),
    )?;
    Ok(std::mem::take(
        &mut *recorder
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    ))
}

/// Per-operation times of a private-key operation in each engine: the first recorded sign and
/// decryption, repeated on one engine (which keeps the keys it has parsed, as in a run).
fn per_operation(calls: &[Call], key_size: u32) -> anyhow::Result<Vec<String>> {
    const REPEATS: usize = 200;
    let sign = calls.iter().find(|call| matches!(call, Call::Sign { .. }));
    let decrypt = calls
        .iter()
        .find(|call| matches!(call, Call::Decrypt { .. }));
    let (Some(sign), Some(decrypt)) = (sign, decrypt) else {
        return Ok(Vec::new());
    };
    let mut lines = Vec::new();
    for choice in [EngineChoice::Openssl, EngineChoice::Rustcrypto] {
        let engine = choice.engine()?;
        let mut times = Vec::new();
        for call in [sign, decrypt] {
            let repeated = vec![call.clone(); REPEATS];
            replay(engine.as_ref(), &repeated[..1])?;
            let start = stopwatch();
            replay(engine.as_ref(), &repeated)?;
            times.push(seconds_since(start) * 1000.0 / REPEATS as f64);
        }
        lines.push(format!(
            "engine call with a {key_size}-bit key, {}: sign {:.3} ms, decrypt {:.3} ms (each the whole call: parsing the message, the RSA private-key operation, hashing or the content cipher; mean of {REPEATS})",
            choice.name(),
            times[0],
            times[1]
        ));
    }
    Ok(lines)
}

// ---------------------------------------------------------------------------------------------
// P6: kmlab's whole path against a shell script calling `openssl cms` for each message.

/// The script a user would write instead of kmlab: sign, encrypt, decrypt and verify each
/// message with `openssl cms`, one process per operation.
const OPENSSL_SCRIPT: &str = r#"#!/bin/sh
# usage: script DIR CIPHER; DIR holds signer.crt, signer.key, the recipients' certificates
# rcpt-*.crt, reader.crt, reader.key and the messages in msg/.
set -e
cd "$1"
for message in msg/*; do
    openssl cms -sign -in "$message" -signer signer.crt -inkey signer.key -md sha1 -out signed.eml
    openssl cms -encrypt -in signed.eml "$2" -out encrypted.eml rcpt-*.crt
    openssl cms -decrypt -in encrypted.eml -recip reader.crt -inkey reader.key -out decrypted.eml
    openssl cms -verify -in decrypted.eml -noverify -out /dev/null 2>/dev/null
done
"#;

fn openssl_cipher_flag(cipher: Cipher) -> &'static str {
    match cipher {
        Cipher::Rc2Cbc40 => "-rc2-40",
        Cipher::Rc2Cbc64 => "-rc2-64",
        Cipher::Rc2Cbc128 => "-rc2-128",
        Cipher::DesEde3Cbc => "-des3",
        Cipher::Aes128Cbc => "-aes128",
        Cipher::Aes256Cbc => "-aes256",
        Cipher::Aes128Gcm => "-aes-128-gcm",
        Cipher::Aes256Gcm => "-aes-256-gcm",
    }
}

fn against_openssl_cli(pipeline: &Pipeline) -> anyhow::Result<Outcome> {
    let work = crate::work::WorkFolder::create("kmlab-bench-p6-")?;
    let dir = work.path();
    let mut contents = Vec::new();
    let mut signer = None;
    let mut envelope = None;
    let mut reader = None;
    for call in &pipeline.calls {
        match call {
            Call::Sign {
                content, signer: s, ..
            } => {
                contents.push(content.clone());
                signer.get_or_insert(s);
            }
            Call::Envelope {
                recipients, cipher, ..
            } => {
                envelope.get_or_insert((recipients, *cipher));
            }
            Call::Decrypt {
                certificate, key, ..
            } => {
                reader.get_or_insert((certificate, key));
            }
            Call::Verify { .. } => {}
        }
    }
    let (Some(signer), Some((recipients, cipher)), Some((reader_certificate, reader_key))) =
        (signer, envelope, reader)
    else {
        bail!("P1's run made no sign, envelope or decryption to repeat with openssl cms");
    };
    // openssl reads DER certificates and PKCS #8 keys as well as PEM.
    std::fs::write(dir.join("signer.crt"), signer.certificate.as_bytes())?;
    std::fs::write(dir.join("signer.key"), signer.key.as_bytes())?;
    for (index, recipient) in recipients.iter().enumerate() {
        std::fs::write(
            dir.join(format!("rcpt-{index}.crt")),
            recipient.certificate.as_bytes(),
        )?;
    }
    std::fs::write(dir.join("reader.crt"), reader_certificate.as_bytes())?;
    std::fs::write(dir.join("reader.key"), reader_key.as_bytes())?;
    std::fs::create_dir(dir.join("msg"))?;
    for (index, content) in contents.iter().enumerate() {
        std::fs::write(dir.join("msg").join(format!("{index:06}.txt")), content)?;
    }
    let script = dir.join("openssl-cms.sh");
    std::fs::write(&script, OPENSSL_SCRIPT)?;
    let start = stopwatch();
    let status = Command::new("sh")
        .arg(&script)
        .arg(dir)
        .arg(openssl_cipher_flag(cipher))
        .stdin(Stdio::null())
        .status()
        .context("running sh")?;
    let seconds = seconds_since(start);
    if !status.success() {
        bail!("the openssl cms script failed ({status})");
    }
    let script_per_message = seconds / contents.len().max(1) as f64;
    let ratio = script_per_message / pipeline.per_message;
    let size = contents.iter().map(Vec::len).sum::<usize>() / contents.len().max(1);
    Ok(Outcome {
        figure: "P6",
        title: "against openssl cms",
        headline: format!(
            "kmlab's whole path {:.2} ms per message, a shell script calling openssl cms {:.2} ms: {ratio:.1}× faster",
            pipeline.per_message * 1000.0,
            script_per_message * 1000.0
        ),
        verdicts: vec![Verdict::new("≥ 20× faster", ratio >= 20.0)],
        table: Vec::new(),
        details: vec![
            format!(
                "P1's {} messages (MIME entities of {size} bytes on average), keys and cipher ({cipher}); the script signs (SHA-1), encrypts to the same {} recipients, decrypts as the reader and verifies each message (the signature and digest only, -noverify: kmlab's path judges the chain as well), one openssl process per operation",
                contents.len(),
                recipients.len()
            ),
            "kmlab's whole path is P1's median, SMTP delivery and fetching included; the script is run once after it, on the same machine".to_owned(),
        ],
    })
}

#[derive(Debug, Default)]
struct CallCounts {
    sign: usize,
    envelope: usize,
    decrypt: usize,
    verify: usize,
}

impl CallCounts {
    fn of(calls: &[Call]) -> Self {
        let mut counts = Self::default();
        for call in calls {
            match call {
                Call::Sign { .. } => counts.sign += 1,
                Call::Envelope { .. } => counts.envelope += 1,
                Call::Decrypt { .. } => counts.decrypt += 1,
                Call::Verify { .. } => counts.verify += 1,
            }
        }
        counts
    }
}

// ---------------------------------------------------------------------------------------------
// P2: kmlab's sink against aiosmtpd.

/// A message as a client submits it.
struct Submission {
    envelope: LettreEnvelope,
    body: Vec<u8>,
}

fn submissions(messages: &[sink::StoredMessage]) -> anyhow::Result<Vec<Submission>> {
    messages
        .iter()
        .map(|message| {
            let parse = |address: &str| {
                address
                    .parse::<lettre::Address>()
                    .with_context(|| format!("address {address}"))
            };
            let from = Some(parse(&message.from)?);
            let to = message
                .recipients
                .iter()
                .map(|address| parse(address))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let data = message.data()?;
            // lettre ends DATA with CRLF.CRLF itself, as clients::submit relies on.
            let body = data.strip_suffix(b"\r\n").unwrap_or(&data).to_vec();
            Ok(Submission {
                envelope: LettreEnvelope::new(from, to)?,
                body,
            })
        })
        .collect()
}

/// Delivers `total` messages (cycling through `messages`) to `server` over `connections`
/// connections at once, each kept open for its share; returns the seconds it took.
fn deliver(
    server: SocketAddr,
    messages: &[Submission],
    total: usize,
    connections: usize,
) -> anyhow::Result<f64> {
    let connections = connections.clamp(1, total.max(1));
    let hello = ClientId::Domain("bench.kmlab.test".to_owned());
    let start = stopwatch();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let workers: Vec<_> = (0..connections)
            .map(|worker| {
                let hello = &hello;
                scope.spawn(move || -> anyhow::Result<()> {
                    let mut connection = SmtpConnection::connect(
                        server,
                        Some(Duration::from_secs(60)),
                        hello,
                        None,
                        None,
                    )?;
                    for index in (worker..total).step_by(connections) {
                        let message = &messages[index % messages.len()];
                        connection.send(&message.envelope, &message.body)?;
                    }
                    connection.quit()?;
                    Ok(())
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a delivering thread panicked"))??;
        }
        Ok(())
    })?;
    Ok(seconds_since(start))
}

/// aiosmtpd running in a Python process of its own.
struct Aiosmtpd {
    child: std::process::Child,
    address: SocketAddr,
    output: BufReader<std::process::ChildStdout>,
    _script: tempfile::TempDir,
}

impl Aiosmtpd {
    fn start(python: &Path) -> anyhow::Result<Self> {
        let script = tempfile::tempdir()?;
        let path = script.path().join("aiosmtpd_sink.py");
        std::fs::write(&path, AIOSMTPD_SINK)?;
        let mut child = Command::new(python)
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", python.display()))?;
        let stdout = child.stdout.take().context("aiosmtpd's output")?;
        let mut output = BufReader::new(stdout);
        let mut line = String::new();
        output.read_line(&mut line)?;
        let port: u16 = line
            .strip_prefix("PORT ")
            .and_then(|port| port.trim().parse().ok())
            .with_context(|| {
                format!(
                    "{} did not start aiosmtpd (said {line:?}); run ci/install-bench-deps.sh",
                    python.display()
                )
            })?;
        Ok(Self {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            output,
            _script: script,
        })
    }

    /// Stops it; returns how many messages it stored.
    fn stop(mut self) -> anyhow::Result<usize> {
        drop(self.child.stdin.take());
        let mut line = String::new();
        self.output.read_line(&mut line)?;
        self.child.wait()?;
        line.strip_prefix("STORED ")
            .and_then(|count| count.trim().parse().ok())
            .with_context(|| format!("aiosmtpd ended saying {line:?}"))
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        // Only reached with the process still running when a measurement failed.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn python(args: &BenchArgs) -> PathBuf {
    args.python
        .clone()
        .or_else(|| std::env::var_os("KMLAB_BENCH_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/bench-venv/bin/python"))
}

/// Postfix's SMTP test client and server, as Debian's postfix package installs them.
const SMTP_SOURCE: &str = "/usr/sbin/smtp-source";
const SMTP_SINK: &str = "/usr/sbin/smtp-sink";

/// The payload smtp-source sends in every P2 message, in bytes (headers come on top).
const P2_MESSAGE_BYTES: usize = 6000;

/// The receivers P2 drives with smtp-source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    /// `kmlab sink --maildir`, in a process of its own.
    KmlabMaildir,
    /// `kmlab sink --maildir --fsync`: every `250` means the message is on disk.
    KmlabMaildirFsync,
    /// kmlab's sink with its in-memory store, on a multi-threaded runtime in this process.
    KmlabMemory,
    /// `smtp-sink -d`, writing a file per message.
    SmtpSinkStoring,
    /// `smtp-sink`, discarding.
    SmtpSinkDiscarding,
    /// aiosmtpd, keeping messages in memory.
    Aiosmtpd,
}

impl Receiver {
    const ALL: [Receiver; 6] = [
        Receiver::KmlabMaildir,
        Receiver::KmlabMaildirFsync,
        Receiver::KmlabMemory,
        Receiver::SmtpSinkStoring,
        Receiver::SmtpSinkDiscarding,
        Receiver::Aiosmtpd,
    ];

    fn label(self) -> &'static str {
        match self {
            Receiver::KmlabMaildir => "kmlab Maildir",
            Receiver::KmlabMaildirFsync => "kmlab Maildir --fsync",
            Receiver::KmlabMemory => "kmlab in-memory",
            Receiver::SmtpSinkStoring => "smtp-sink -d",
            Receiver::SmtpSinkDiscarding => "smtp-sink",
            Receiver::Aiosmtpd => "aiosmtpd",
        }
    }
}

/// How smtp-source delivers: this many sessions at once, a new connection per message or one
/// kept open.
#[derive(Debug, Clone, Copy)]
struct Load {
    sessions: usize,
    kept_open: bool,
}

const LOADS: [Load; 4] = [
    Load {
        sessions: 1,
        kept_open: false,
    },
    Load {
        sessions: 1,
        kept_open: true,
    },
    Load {
        sessions: 8,
        kept_open: false,
    },
    Load {
        sessions: 8,
        kept_open: true,
    },
];

/// A receiver running for one measurement.
enum Running {
    Process {
        child: std::process::Child,
        address: SocketAddr,
        /// Where it stores, and the folder to count files in.
        folder: Option<(tempfile::TempDir, PathBuf)>,
    },
    Memory {
        runtime: tokio::runtime::Runtime,
        address: SocketAddr,
        store: sink::Store,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<Result<(), sink::SinkError>>,
    },
    Aiosmtpd(Aiosmtpd),
}

impl Running {
    fn start(receiver: Receiver, python: &Path) -> anyhow::Result<Self> {
        match receiver {
            Receiver::KmlabMaildir | Receiver::KmlabMaildirFsync => {
                let dir = tempfile::tempdir()?;
                let exe = std::env::current_exe().context("finding the kmlab binary")?;
                let fsync = (receiver == Receiver::KmlabMaildirFsync).then_some("--fsync");
                let mut child = Command::new(exe)
                    .args(["sink", "--listen", "127.0.0.1:0", "--maildir"])
                    .arg(dir.path())
                    .args(fsync)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .spawn()
                    .context("starting kmlab sink")?;
                let mut line = String::new();
                BufReader::new(child.stdout.take().context("kmlab sink's output")?)
                    .read_line(&mut line)?;
                let address = line
                    .split_whitespace()
                    .nth(4)
                    .map(|word| word.trim_end_matches(','))
                    .and_then(|word| word.parse().ok())
                    .with_context(|| format!("kmlab sink said {line:?}"))?;
                let folder = dir.path().join("bob@x.test").join("new");
                Ok(Running::Process {
                    child,
                    address,
                    folder: Some((dir, folder)),
                })
            }
            Receiver::KmlabMemory => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()?;
                let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
                let address = listener.local_addr()?;
                let store = sink::Store::in_memory();
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let task = runtime.spawn(sink::serve(
                    listener,
                    store.clone(),
                    sink::Limits::default(),
                    sink::FaultPlan::default(),
                    async {
                        let _ = stopped.await;
                    },
                ));
                Ok(Running::Memory {
                    runtime,
                    address,
                    store,
                    stop,
                    task,
                })
            }
            Receiver::SmtpSinkStoring | Receiver::SmtpSinkDiscarding => {
                let port = free_port()?;
                let mut command = Command::new(SMTP_SINK);
                // smtp-sink refuses to run as root without a user to switch to.
                command.args(["-u", "nobody"]);
                let folder = if receiver == Receiver::SmtpSinkStoring {
                    let dir = tempfile::tempdir()?;
                    let dumps = dir.path().join("dumps");
                    std::fs::create_dir(&dumps)?;
                    open_to_everyone(&dumps)?;
                    command.arg("-d").arg(dumps.join("m."));
                    Some((dir, dumps))
                } else {
                    None
                };
                let child = command
                    .arg(format!("127.0.0.1:{port}"))
                    .arg("256")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .with_context(|| {
                        format!("starting {SMTP_SINK}; run ci/install-bench-deps.sh")
                    })?;
                let address = SocketAddr::from(([127, 0, 0, 1], port));
                wait_for_listener(address)?;
                Ok(Running::Process {
                    child,
                    address,
                    folder,
                })
            }
            Receiver::Aiosmtpd => Ok(Running::Aiosmtpd(Aiosmtpd::start(python)?)),
        }
    }

    fn address(&self) -> SocketAddr {
        match self {
            Running::Process { address, .. } | Running::Memory { address, .. } => *address,
            Running::Aiosmtpd(peer) => peer.address,
        }
    }

    /// Stops the receiver; returns how many messages it stored, if it can tell.
    fn stop(self) -> anyhow::Result<Option<usize>> {
        match self {
            Running::Process {
                mut child, folder, ..
            } => {
                let _ = child.kill();
                let _ = child.wait();
                match folder {
                    Some((_dir, folder)) => Ok(Some(std::fs::read_dir(&folder)?.count())),
                    None => Ok(None),
                }
            }
            Running::Memory {
                runtime,
                store,
                stop,
                task,
                ..
            } => {
                let _ = stop.send(());
                runtime.block_on(task)??;
                Ok(Some(store.len()))
            }
            Running::Aiosmtpd(peer) => Ok(Some(peer.stop()?)),
        }
    }
}

/// A loopback port nothing listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// smtp-sink writes its dumps as the unprivileged user it switched to.
fn open_to_everyone(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
    Ok(())
}

/// Waits (a bounded while) until something accepts connections at `address`.
fn wait_for_listener(address: SocketAddr) -> anyhow::Result<()> {
    for _ in 0..500 {
        if std::net::TcpStream::connect(address).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("nothing listens on {address}")
}

/// smtp-source delivering `total` messages to `address`; returns messages per second.
fn smtp_source(address: SocketAddr, load: Load, total: usize) -> anyhow::Result<f64> {
    let mut command = Command::new(SMTP_SOURCE);
    command
        .arg("-s")
        .arg(load.sessions.to_string())
        .arg("-m")
        .arg(total.to_string())
        .arg("-l")
        .arg(P2_MESSAGE_BYTES.to_string())
        .args(["-f", "alice@x.test", "-t", "bob@x.test"]);
    if load.kept_open {
        command.arg("-d");
    }
    command
        .arg(address.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let start = stopwatch();
    let output = command
        .output()
        .with_context(|| format!("running {SMTP_SOURCE}; run ci/install-bench-deps.sh"))?;
    let took = seconds_since(start);
    if !output.status.success() {
        bail!(
            "smtp-source failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(total as f64 / took)
}

fn sink_throughput(args: &BenchArgs, messages: &[sink::StoredMessage]) -> anyhow::Result<Outcome> {
    let total = args.sink_messages.max(1);
    let python = python(args);
    // rates[load][receiver]: one rate per run.
    let mut rates: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); Receiver::ALL.len()]; LOADS.len()];
    for _ in 0..args.runs {
        for (load_index, load) in LOADS.iter().enumerate() {
            // Every receiver in turn within a run, so that whatever else the machine does
            // falls on all of them alike.
            for (receiver_index, receiver) in Receiver::ALL.iter().enumerate() {
                let running = Running::start(*receiver, &python)?;
                let rate = smtp_source(running.address(), *load, total)?;
                if let Some(stored) = running.stop()?
                    && stored != total
                {
                    bail!("{} stored {stored} of {total} messages", receiver.label());
                }
                rates[load_index][receiver_index].push(rate);
            }
        }
    }
    let median = |load: usize, receiver: Receiver| -> f64 {
        let index = Receiver::ALL
            .iter()
            .position(|r| *r == receiver)
            .unwrap_or(0);
        Sample(rates[load][index].clone()).median()
    };
    let ratio_pairs: [(Receiver, Receiver); 5] = [
        (Receiver::KmlabMaildir, Receiver::SmtpSinkStoring),
        (Receiver::KmlabMaildirFsync, Receiver::SmtpSinkStoring),
        (Receiver::KmlabMemory, Receiver::SmtpSinkDiscarding),
        (Receiver::KmlabMemory, Receiver::Aiosmtpd),
        (Receiver::KmlabMaildir, Receiver::Aiosmtpd),
    ];
    let mut header = "| sessions | connection |".to_owned();
    for receiver in Receiver::ALL {
        let _ = write!(header, " {} msg/s |", receiver.label());
    }
    for (ours, theirs) in ratio_pairs {
        let _ = write!(header, " {} ÷ {} |", ours.label(), theirs.label());
    }
    let columns = 2 + Receiver::ALL.len() + ratio_pairs.len();
    let mut table = vec![header, format!("|{}", "---|".repeat(columns))];
    let mut verdicts = Vec::new();
    for (load_index, load) in LOADS.iter().enumerate() {
        let mode = if load.kept_open {
            "kept open"
        } else {
            "new per message"
        };
        let mut row = format!("| {} | {mode} |", load.sessions);
        for receiver in Receiver::ALL {
            let _ = write!(row, " {:.0} |", median(load_index, receiver));
        }
        for (ours, theirs) in ratio_pairs {
            let _ = write!(
                row,
                " {:.2}× |",
                median(load_index, ours) / median(load_index, theirs)
            );
        }
        table.push(row);
        if load.sessions == 8 {
            let maildir = median(load_index, Receiver::KmlabMaildir)
                / median(load_index, Receiver::SmtpSinkStoring);
            verdicts.push(Verdict::new(
                format!("kmlab Maildir ÷ smtp-sink -d ≥ 2× (8 sessions, {mode}): {maildir:.2}×"),
                maildir >= 2.0,
            ));
            let memory = median(load_index, Receiver::KmlabMemory)
                / median(load_index, Receiver::SmtpSinkDiscarding);
            verdicts.push(Verdict::new(
                format!("kmlab in-memory ÷ smtp-sink ≥ 1× (8 sessions, {mode}): {memory:.2}×"),
                memory >= 1.0,
            ));
        }
    }
    let at_eight = |receiver: Receiver, theirs: Receiver| -> String {
        LOADS
            .iter()
            .enumerate()
            .filter(|(_, load)| load.sessions == 8)
            .map(|(index, _)| format!("{:.2}×", median(index, receiver) / median(index, theirs)))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    let mut details = vec![format!(
        "Postfix's smtp-source delivering {total} messages of {P2_MESSAGE_BYTES} bytes (plus its headers) from one address to one recipient, at 1 and 8 sessions, with a new connection per message and with connections kept open (-d); loopback; median of {} runs",
        args.runs
    )];
    if !messages.is_empty() {
        details.push(lettre_throughput(args, messages)?);
    }
    Ok(Outcome {
        figure: "P2",
        title: "sink throughput",
        headline: format!(
            "at 8 sessions (new connections / kept open): kmlab Maildir ÷ smtp-sink -d {}; kmlab in-memory ÷ smtp-sink {}",
            at_eight(Receiver::KmlabMaildir, Receiver::SmtpSinkStoring),
            at_eight(Receiver::KmlabMemory, Receiver::SmtpSinkDiscarding)
        ),
        verdicts,
        table,
        details,
    })
}

/// The lettre line of P2: P1's messages delivered by lettre to kmlab's embedded sink and to
/// aiosmtpd; the ratio's description.
fn lettre_throughput(args: &BenchArgs, messages: &[sink::StoredMessage]) -> anyhow::Result<String> {
    let submissions = submissions(messages)?;
    if submissions.is_empty() {
        bail!("P2 needs messages: give --messages 1 or more");
    }
    let total = args.sink_messages.max(1);
    let python = python(args);
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..args.runs {
        let sink = sink::EmbeddedSink::start(sink::Limits::default())?;
        let took = deliver(sink.address(), &submissions, total, args.connections)?;
        let stored = sink.store().len();
        if stored != total {
            bail!("kmlab's sink stored {stored} of {total} messages");
        }
        drop(sink);
        let peer = Aiosmtpd::start(&python)?;
        let peer_took = deliver(peer.address, &submissions, total, args.connections)?;
        let stored = peer.stop()?;
        if stored != total {
            bail!("aiosmtpd stored {stored} of {total} messages");
        }
        let (rate, peer_rate) = (total as f64 / took, total as f64 / peer_took);
        ours.push(rate);
        theirs.push(peer_rate);
        ratios.push(rate / peer_rate);
    }
    let (ours, theirs, ratios) = (Sample(ours), Sample(theirs), Sample(ratios));
    let average =
        messages.iter().map(|message| message.size).sum::<usize>() / messages.len().max(1);
    Ok(format!(
        "lettre (P1's {total} S/MIME messages of {average} bytes on average, {} kept-open connections): kmlab's embedded sink {} ÷ aiosmtpd {} = {}",
        args.connections.clamp(1, total),
        ours.describe(|r| format!("{r:.0} msg/s")),
        theirs.describe(|r| format!("{r:.0} msg/s")),
        ratios.describe(|r| format!("{r:.1}×"))
    ))
}

// ---------------------------------------------------------------------------------------------
// P3: the suite, cold and warm.

/// Runs this kmlab in a process of its own; its output when it fails.
fn kmlab(arguments: &[&std::ffi::OsStr]) -> anyhow::Result<f64> {
    let exe = std::env::current_exe().context("finding the kmlab binary")?;
    let start = stopwatch();
    let output = Command::new(&exe)
        .args(arguments)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {}", exe.display()))?;
    let took = seconds_since(start);
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = text.lines().rev().take(5).collect();
        bail!(
            "kmlab {} failed ({}): {}{}",
            arguments
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" / "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(took)
}

fn suite(args: &BenchArgs, jobs: usize) -> anyhow::Result<Outcome> {
    let files = crate::discover::scenario_files(std::slice::from_ref(&args.scenarios))?;
    // A work folder, locked: the runs it starts sweep unlocked kmlab-bench- folders away.
    let cache = crate::work::WorkFolder::create("kmlab-bench-keys-")?;
    let jobs_text = jobs.to_string();
    let run = |keys: &Path| {
        kmlab(&[
            "run".as_ref(),
            "--jobs".as_ref(),
            jobs_text.as_ref(),
            "--key-cache".as_ref(),
            keys.as_os_str(),
            args.scenarios.as_os_str(),
        ])
    };
    let mut cold = Vec::new();
    for round in 0..args.cold_runs {
        let keys = cache.path().join(format!("cold-{round}"));
        cold.push(run(&keys)?);
    }
    // The warm runs use what the last cold run generated (or fill a cache first).
    let warm_keys = cache
        .path()
        .join(format!("cold-{}", args.cold_runs.saturating_sub(1)));
    if args.cold_runs == 0 {
        run(&warm_keys)?;
    }
    let warm = Sample(
        (0..args.runs)
            .map(|_| run(&warm_keys))
            .collect::<anyhow::Result<_>>()?,
    );
    let keys_made = std::fs::read_dir(&warm_keys).map_or(0, Iterator::count);
    let cold = Sample(cold);
    let secs = |s: f64| format!("{s:.2} s");
    let mut verdicts = vec![Verdict::new("warm ≤ 5 s", warm.median() <= 5.0)];
    let mut headline = format!("warm {}", warm.describe(secs));
    if !cold.0.is_empty() {
        verdicts.push(Verdict::new("cold ≤ 60 s", cold.median() <= 60.0));
        headline.push_str(&format!("; cold {}", cold.describe(secs)));
    }
    Ok(Outcome {
        figure: "P3",
        title: "suite time",
        headline,
        verdicts,
        table: Vec::new(),
        details: vec![format!(
            "`kmlab run --jobs {jobs}` over {} ({} scenario files, snapshots compared); cold starts from an empty key cache and generates {keys_made} keys",
            args.scenarios.display(),
            files.len()
        )],
    })
}

// ---------------------------------------------------------------------------------------------
// P4: scale.

/// What one load run measured.
#[derive(Debug, Clone, Copy)]
struct LoadRun {
    seconds: f64,
    messages: u64,
    peak_kib: u64,
}

/// `kmlab bench-load`: runs one load scenario in this process and prints
/// `seconds messages peak-KiB`.
pub(crate) fn bench_load(args: &BenchLoadArgs) -> anyhow::Result<Exit> {
    let start = stopwatch();
    let id = args.scenario.file_stem().map_or_else(
        || "load".to_owned(),
        |stem| stem.to_string_lossy().into_owned(),
    );
    let scenario = Arc::new(scenario::load(&id, &args.scenario)?);
    let run = run_scenario(
        &scenario,
        EngineChoice::DEFAULT.engine()?,
        &args.key_cache,
        &mut (),
    )?;
    let messages = run.world.delivered_messages().len();
    drop(run);
    let took = seconds_since(start);
    let peak = peak_resident_kib().context("reading VmHWM from /proc/self/status")?;
    println!("{took:.3} {messages} {peak}");
    Ok(Exit::Passed)
}

/// The process's peak resident set (Linux's VmHWM), in KiB.
fn peak_resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn scale(args: &BenchArgs, jobs: usize, keys: &Path) -> anyhow::Result<Outcome> {
    let big = LoadShape::new(args.scale_users, args.scale_messages, BENCH_SEED);
    let small = LoadShape::new(
        (big.users / 10).max(2),
        (big.messages / 10).max(1),
        BENCH_SEED,
    );
    // 2048-bit keys at the small load's size: the large load would first generate 20,000
    // 2048-bit keys, most of an hour on two cores.
    let large_keys = LoadShape {
        key_size: LARGE_KEY_SIZE,
        ..small
    };
    let mut shapes = vec![small, big];
    if !args.scale_skip_large_keys {
        shapes.push(large_keys);
    }
    // A work folder, locked: the runs it starts sweep unlocked kmlab-bench- folders away.
    let folder = crate::work::WorkFolder::create("kmlab-bench-load-")?;
    let mut measured = Vec::new();
    let mut details = Vec::new();
    for shape in shapes {
        let warm_up = warm_load_keys(shape, jobs, keys, folder.path())?;
        let file = folder.path().join(format!(
            "load-{}-{}-{}.toml",
            shape.users, shape.messages, shape.key_size
        ));
        std::fs::write(&file, scenario::load_scenario(shape)?)?;
        let mut runs = Vec::new();
        for _ in 0..args.scale_runs.max(1) {
            runs.push(load_run(&file, keys)?);
        }
        let wall = Sample(runs.iter().map(|run| run.seconds).collect());
        let rate = Sample(
            runs.iter()
                .map(|run| run.messages as f64 / run.seconds)
                .collect(),
        );
        let peak = Sample(
            runs.iter()
                .map(|run| run.peak_kib as f64 / 1024.0)
                .collect(),
        );
        details.push(format!(
            "{} users, {} messages, {}-bit keys: {}, {}, peak RSS {} (keys warmed beforehand in {warm_up:.0} s)",
            shape.users,
            shape.messages,
            shape.key_size,
            wall.describe(|s| format!("{s:.1} s")),
            rate.describe(|r| format!("{r:.0} msg/s")),
            peak.describe(|m| format!("{m:.0} MiB"))
        ));
        measured.push((wall, peak));
    }
    let mut measured = measured.into_iter();
    let (Some((small_wall, small_peak)), Some((big_wall, big_peak))) =
        (measured.next(), measured.next())
    else {
        bail!("two loads were measured");
    };
    let large = measured.next();
    let growth = big_wall.median() / small_wall.median();
    let peak = big_peak.median().max(small_peak.median());
    details.push(format!(
        "the goals are for {}-bit keys (the load scenarios' key_size); the {LARGE_KEY_SIZE}-bit load (the default for modern users) is reported beside them; each message is sent clear-signed and encrypted, then read by its recipient",
        scenario::LOAD_KEY_SIZE
    ));
    let large_words = large.map_or_else(String::new, |(wall, peak)| {
        format!(
            "; with {LARGE_KEY_SIZE}-bit keys {:.1} s, peak {:.0} MiB",
            wall.median(),
            peak.median()
        )
    });
    Ok(Outcome {
        figure: "P4",
        title: "scale",
        headline: format!(
            "{} users / {} messages in {:.1} s, peak {:.0} MiB; 10× the work took {growth:.2}× the time{large_words}",
            big.users,
            big.messages,
            big_wall.median(),
            big_peak.median()
        ),
        verdicts: vec![
            Verdict::new("≤ 120 s warm", big_wall.median() <= 120.0),
            Verdict::new("≤ 1 GiB", peak <= 1024.0),
            Verdict::new("10× the work in ≤ 11× the time", growth <= 11.0),
        ],
        table: Vec::new(),
        details,
    })
}

/// Fills the key cache for a load by running its enrollment in shards side by side; returns
/// the seconds it took.
fn warm_load_keys(
    shape: LoadShape,
    jobs: usize,
    keys: &Path,
    folder: &Path,
) -> anyhow::Result<f64> {
    let shards = u32::try_from(jobs).unwrap_or(1).max(1);
    let shard_folder = folder.join(format!("warm-{}-{}", shape.users, shape.key_size));
    std::fs::create_dir_all(&shard_folder)?;
    for shard in 0..shards {
        std::fs::write(
            shard_folder.join(format!("shard-{shard}.toml")),
            scenario::load_enrollment_shard(shape, shard, shards)?,
        )?;
    }
    let jobs = jobs.to_string();
    kmlab(&[
        "run".as_ref(),
        "--jobs".as_ref(),
        jobs.as_ref(),
        "--key-cache".as_ref(),
        keys.as_os_str(),
        shard_folder.as_os_str(),
    ])
}

fn load_run(file: &Path, keys: &Path) -> anyhow::Result<LoadRun> {
    let exe = std::env::current_exe().context("finding the kmlab binary")?;
    let output = Command::new(&exe)
        .arg("bench-load")
        .arg(file)
        .arg("--key-cache")
        .arg(keys)
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "the load run failed ({}): {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        [seconds, messages, peak] => Ok(LoadRun {
            seconds: seconds.parse()?,
            messages: messages.parse()?,
            peak_kib: peak.parse()?,
        }),
        _ => bail!("the load run printed {text:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The machine and the report.

/// What the figures were measured on.
#[derive(Debug)]
struct Machine {
    cpu: String,
    cores: usize,
    memory: String,
    kernel: String,
    jobs: usize,
}

impl Machine {
    fn describe(jobs: usize) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or_else(
                || "unknown CPU".to_owned(),
                |(_, name)| name.trim().to_owned(),
            );
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|text| {
                let kib: u64 = text
                    .lines()
                    .find_map(|line| line.strip_prefix("MemTotal:"))?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .ok()?;
                Some(format!("{:.0} GiB", kib as f64 / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown memory".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(
            |_| std::env::consts::OS.to_owned(),
            |r| format!("Linux {}", r.trim()),
        );
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            memory,
            kernel,
            jobs,
        }
    }

    fn build(&self) -> &'static str {
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} cores ({}), {}, {}, {}, {} jobs",
            self.cores,
            self.cpu,
            self.memory,
            self.kernel,
            self.build(),
            self.jobs
        )
    }
}

const METHOD: &str = "\
- **P1 pipeline overhead.** A generated scenario (`kmlab gen-load 2 N`: two Outlook 2000
  users, 1024-bit keys) sends N clear-signed, encrypted messages, each read by its recipient:
  compose, sign, encrypt, lettre to the embedded sink, fetch, parse, decrypt, verify, judge
  the chain, all with the default engine. The time spent in its `send` and `read` steps (the
  runner tells the bench when each step starts and ends) is the whole path. One untimed run
  records every call the messages make on the S/MIME engine and keeps the messages the sink
  received. In the same run of the bench, replaying those calls straight on the engine is the
  engine alone, and submitting the same bytes again with the send step's client
  (`clients::submit`: lettre, a new connection per message) to a fresh embedded sink storing
  into a spool file is the delivery alone. The ratio is taken per run, whole path ÷ (engine
  alone + delivery alone): what the harness adds around the two. Beside it, each engine's
  sign and decrypt call, repeated on one recorded call, per call, with 1024-bit keys and with
  2048-bit keys (a two-user load scenario's one message); the engine keeps the keys it has
  parsed, as in a run.
- **P2 sink throughput.** Postfix's `smtp-source` (one real client for every receiver)
  delivers `--sink-messages` messages of 6000 bytes to each of: `kmlab sink --maildir` (a
  process of its own), the same with `--fsync` (file and folder synced before each `250`),
  kmlab's sink with its in-memory store (`sink::serve` on a
  multi-threaded runtime), Postfix's `smtp-sink -d` (a file per message) and `smtp-sink`
  (discarding), and Python's aiosmtpd (in memory; the script is
  `harness/cli/bench/aiosmtpd_sink.py`); at 1 and 8 sessions, with a new connection per
  message and with connections kept open. `ci/install-bench-deps.sh` installs Postfix and
  aiosmtpd. Messages per second, median per cell, and every ratio. A second line keeps the
  older figure: P1's messages delivered by lettre (`SmtpConnection`, kept-open connections) to
  kmlab's embedded sink and to aiosmtpd.
- **P3 suite time.** `kmlab run` over `scenarios/` in a process of its own, snapshots
  compared, once per cold run with an empty key cache (every key generated) and then with
  that cache warm.
- **P4 scale.** `kmlab gen-load USERS MESSAGES` scenarios at two sizes (the second ten times
  the first), each run in a process of its own (`kmlab bench-load`) after its keys were
  generated into the cache by running its enrollment in shards side by side; wall time
  (parse and run), messages per second, and peak resident memory (VmHWM). The goals are for
  1024-bit keys; the small load is run again with 2048-bit keys (`--key-size 2048`, the
  modern profile's default) and reported beside them, with no goal of its own (at the large
  load's size its 20,000 keys would take most of an hour to generate the first time;
  `--scale-skip-large-keys` leaves it out).
- **P5 diagnostics.** A scenario whose `[organisation]` table holds N unknown keys, for N of
  2,000, 4,000, 8,000, 16,000 and 20,000: parsed, every problem located (`located_messages`,
  what a run's JSON holds) and the report rendered (what `kmlab check` prints), in this
  process. The goal is linear time: the time per problem at 20,000 at most twice that at 2,000
  (quadratic work would make it ten times).
- **P6 against openssl cms.** A shell script a user might write instead of kmlab: for each of
  P1's messages (the MIME entities its sends signed), `openssl cms -sign` with the sender's
  key (SHA-1), `-encrypt` to the same recipients with the same cipher, `-decrypt` with the
  reader's key and `-verify` (signature and digest, `-noverify` for the chain), one process
  per operation, keys and certificates as P1 used them. Its time per message against P1's
  whole path per message (median), measured in the same bench run.

Each figure is the median of its runs, with the lowest and highest in brackets.";

// ---------------------------------------------------------------------------------------------
// P5: reporting many problems.

/// The sizes P5 measures, in problems.
const DIAGNOSTIC_SIZES: [usize; 5] = [2_000, 4_000, 8_000, 16_000, 20_000];

/// A scenario with `problems` unknown keys in its `[organisation]` table.
fn scenario_with_problems(problems: usize) -> String {
    let mut text = String::from(
        "version = 1\ntitle = \"many problems\"\ncovers = []\n\n[organisation]\n\
         name = \"Contoso\"\nmail_domain = \"contoso.example\"\n",
    );
    for index in 0..problems {
        let _ = writeln!(text, "unknown_key_{index} = \"a value\"");
    }
    text
}

fn diagnostics(args: &BenchArgs) -> anyhow::Result<Outcome> {
    let path = Path::new("many-problems.toml");
    let mut table = vec![
        "| problems | seconds | µs per problem | printed bytes |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    let mut per_problem = Vec::new();
    for problems in DIAGNOSTIC_SIZES {
        let text = scenario_with_problems(problems);
        let mut seconds = Vec::new();
        let mut printed = 0;
        for _ in 0..args.runs {
            let start = stopwatch();
            let Err(diagnostics) = scenario::parse("many-problems", path, &text) else {
                bail!("a scenario with {problems} unknown keys was accepted");
            };
            let located = diagnostics.located_messages();
            let rendered = diagnostics.to_string();
            seconds.push(seconds_since(start));
            if located.len() < problems {
                bail!("{problems} unknown keys gave {} problems", located.len());
            }
            printed = rendered.len();
        }
        let sample = Sample(seconds);
        per_problem.push(sample.median() / problems as f64);
        table.push(format!(
            "| {problems} | {} | {:.1} | {printed} |",
            sample.describe(|s| format!("{s:.3}")),
            sample.median() / problems as f64 * 1e6
        ));
    }
    let growth = per_problem.last().copied().unwrap_or(f64::NAN)
        / per_problem.first().copied().unwrap_or(f64::NAN);
    Ok(Outcome {
        figure: "P5",
        title: "diagnostics",
        headline: format!("time per problem at 20,000 problems is {growth:.2}× that at 2,000"),
        verdicts: vec![Verdict::new("≤ 2× (linear)", growth <= 2.0)],
        table,
        details: Vec::new(),
    })
}

fn report(outcomes: &[Outcome], machine: &Machine) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        out,
        "# Benchmarks\n\n\
         Written by `kmlab bench` from what it measured; do not edit by hand. Run it again \
         (`cargo run --release -- bench`, after `ci/install-bench-deps.sh`) to bring the \
         figures up to date.\n"
    );
    let _ = writeln!(out, "## Machine\n\n{}\n", machine.summary());
    let _ = writeln!(out, "## Figures\n");
    let _ = writeln!(out, "| figure | measured | goal | verdict |");
    let _ = writeln!(out, "|---|---|---|---|");
    for outcome in outcomes {
        for (index, verdict) in outcome.verdicts.iter().enumerate() {
            let measured = if index == 0 {
                outcome.headline.as_str()
            } else {
                "″"
            };
            let _ = writeln!(
                out,
                "| {} {} | {} | {} | {} |",
                outcome.figure,
                outcome.title,
                measured.replace('|', "\\|"),
                verdict.goal,
                verdict.word()
            );
        }
    }
    let _ = writeln!(out);
    for outcome in outcomes {
        let _ = writeln!(out, "### {} {}\n", outcome.figure, outcome.title);
        let _ = writeln!(out, "{}\n", outcome.headline);
        if !outcome.table.is_empty() {
            let _ = writeln!(out, "{}\n", outcome.table.join("\n"));
        }
        for detail in &outcome.details {
            let _ = writeln!(out, "- {detail}");
        }
        let _ = writeln!(out);
    }
    let command: Vec<String> = std::env::args().skip(1).collect();
    let _ = writeln!(
        out,
        "## Method\n\n{METHOD}\n\nThis report came from `kmlab {}`.",
        command.join(" ")
    );
    out
}
