//! The `kmlab` command.
//!
//! This is the only crate that reads environment variables, uses `anyhow`, prints, and maps
//! outcomes to exit codes: 0 when everything passed, 1 when a scenario failed or its snapshot
//! differs, 2 for bad input or usage.
#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a command line prints its results"
)]

mod bench_cmd;
mod deviations;
mod discover;
mod explain_cmd;
mod inspect_cmd;
mod matrix_cmd;
mod partition;
mod rules_cmd;
mod run_cmd;
mod seats;
mod serve_cmd;
mod sink_cmd;
mod work;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "Exit codes:
  0  every scenario passed (or the command succeeded)
  1  a scenario failed: an expectation was not met or a snapshot differs
  2  bad input or usage: an invalid scenario file, a missing path, a bad option";

/// kmlab: a test harness for S/MIME mail clients and the Exchange KM server / Windows 2000 CA
/// infrastructure behind them.
#[derive(Debug, Parser)]
#[command(name = "kmlab", version, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run scenarios (default: the scenarios/ folder) and compare their snapshots.
    #[command(after_help = EXIT_CODES)]
    Run(run_cmd::RunArgs),
    /// Run one scenario under every combination of settings and show where outcomes differ.
    #[command(after_help = EXIT_CODES)]
    Matrix(matrix_cmd::MatrixArgs),
    /// Run scenarios and write a static HTML report (DIR/index.html) with message-flow
    /// diagrams, transcripts and matrix tables; the same as `kmlab run --report DIR`.
    #[command(after_help = EXIT_CODES)]
    Report {
        /// Where the report goes.
        dir: PathBuf,
        #[command(flatten)]
        run: run_cmd::RunArgs,
    },
    /// Validate scenario files without running them.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// Scenario files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print the behaviour catalogue; with --coverage, which scenarios cover each rule.
    #[command(after_help = EXIT_CODES)]
    Rules(rules_cmd::RulesArgs),
    /// What an error ID (c1031daf …) or reason word (untrusted-root, validity …) means: every
    /// known cause with its rule, the scenario that reproduces it, the step that fixes it and
    /// the scenario's records before and after the fix.
    #[command(after_help = EXIT_CODES)]
    Explain(explain_cmd::ExplainArgs),
    /// Write a commented skeleton scenario.
    #[command(after_help = EXIT_CODES)]
    New {
        /// The scenario's name; written to NAME.toml unless it already ends in .toml.
        name: String,
    },
    /// Run one scenario with some users played by real mail clients: SMTP with AUTH, IMAP,
    /// POP3 and LDAP on loopback, each live user's login and keys printed, the steps waiting
    /// for what the clients do.
    #[command(after_help = EXIT_CODES)]
    Serve(serve_cmd::ServeArgs),
    /// Run the SMTP sink on its own, storing what real clients send.
    #[command(after_help = EXIT_CODES)]
    Sink(sink_cmd::SinkArgs),
    /// What a virtual user's client makes of a message: the engine's verdict and the
    /// client's, layer by layer, as a transcript record.
    #[command(after_help = inspect_cmd::INSPECT_EXIT_CODES)]
    Inspect(inspect_cmd::InspectArgs),
    /// Write a load scenario: USERS users exchanging MESSAGES signed, encrypted messages.
    #[command(after_help = EXIT_CODES)]
    GenLoad(GenLoadArgs),
    /// Measure P1–P6 (pipeline overhead, sink throughput, suite time, scale, diagnostics,
    /// against openssl cms) against their goals and rewrite BENCHMARKS.md.
    #[command(after_help = EXIT_CODES)]
    Bench(bench_cmd::BenchArgs),
    /// Run one load scenario and print its seconds, messages and peak memory (for bench).
    #[command(hide = true)]
    BenchLoad(bench_cmd::BenchLoadArgs),
}

#[derive(Debug, clap::Args)]
struct GenLoadArgs {
    /// How many users (at least 2).
    users: u32,
    /// How many messages; each is sent and then read by its recipient.
    messages: u64,
    /// The scenario's seed; it also picks who writes to whom.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Every user's RSA key size in bits.
    #[arg(long, default_value_t = scenario::LOAD_KEY_SIZE)]
    key_size: u32,
    /// Where to write the scenario (default: standard output).
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Output formats shared by several commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Lines for people.
    Human,
    /// Versioned JSON.
    Json,
    /// JUnit XML (run only).
    Junit,
}

/// A reader that stops early (`kmlab run | head`) closes the pipe under kmlab's output, and
/// printing to it fails. Other command-line tools then end quietly, killed by SIGPIPE (which
/// a shell reports as 141); kmlab does the same instead of reporting a panic.
fn quiet_on_broken_pipe() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

/// Documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Passed = 0,
    Failed = 1,
    BadInput = 2,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                Exit::BadInput.into()
            } else {
                Exit::Passed.into()
            };
        }
    };
    let result = match cli.command {
        Command::Run(args) => run_cmd::run(&args),
        Command::Matrix(args) => matrix_cmd::matrix(&args),
        Command::Report { dir, run } => run_cmd::run(&run.with_report(dir)),
        Command::Check { paths } => check(&paths),
        Command::Rules(args) => rules_cmd::rules(&args),
        Command::Explain(args) => explain_cmd::explain(&args),
        Command::New { name } => new(&name),
        Command::Serve(args) => serve_cmd::serve(&args),
        Command::Sink(args) => sink_cmd::sink(&args),
        Command::Inspect(args) => inspect_cmd::inspect(&args),
        Command::GenLoad(args) => gen_load(&args),
        Command::Bench(args) => bench_cmd::bench(&args),
        Command::BenchLoad(args) => bench_cmd::bench_load(&args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(error) => {
            eprintln!("kmlab: {error:#}");
            Exit::BadInput.into()
        }
    }
}

fn check(paths: &[PathBuf]) -> anyhow::Result<Exit> {
    let files = discover::scenario_files(paths)?;
    let mut invalid = 0;
    for file in &files {
        match scenario::load(&file.id, &file.path) {
            Ok(scenario) => println!(
                "ok       {} ({} steps)",
                file.path.display(),
                scenario.steps.len()
            ),
            Err(error) => {
                invalid += 1;
                eprintln!("{error}\n");
                println!("invalid  {}", file.path.display());
            }
        }
    }
    println!("{} checked, {} invalid", files.len(), invalid);
    Ok(if invalid == 0 {
        Exit::Passed
    } else {
        Exit::BadInput
    })
}

fn gen_load(args: &GenLoadArgs) -> anyhow::Result<Exit> {
    let shape = scenario::LoadShape {
        users: args.users,
        messages: args.messages,
        seed: args.seed,
        key_size: args.key_size,
    };
    let text = match scenario::load_scenario(shape) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("kmlab: {error}");
            return Ok(Exit::BadInput);
        }
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(Exit::Passed)
}

fn new(name: &str) -> anyhow::Result<Exit> {
    let path = if name.ends_with(".toml") {
        PathBuf::from(name)
    } else {
        PathBuf::from(format!("{name}.toml"))
    };
    let title = path.file_stem().map_or_else(
        || name.to_owned(),
        |stem| stem.to_string_lossy().replace(['-', '_'], " "),
    );
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)?;
    }
    // create_new: an existing file is never overwritten.
    let mut file = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            eprintln!(
                "kmlab: {} already exists; choose another name",
                path.display()
            );
            return Ok(Exit::BadInput);
        }
        Err(error) => return Err(error.into()),
    };
    std::io::Write::write_all(&mut file, scenario::skeleton(&title).as_bytes())?;
    println!("wrote {}", path.display());
    Ok(Exit::Passed)
}
