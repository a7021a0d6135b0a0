//! `kmlab sink`: the SMTP sink on its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::Exit;

#[derive(Debug, clap::Args)]
pub(crate) struct SinkArgs {
    /// Address to listen on; loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:2525")]
    listen: SocketAddr,
    /// Store every message in Maildir folders: <DIR>/<recipient>/ (INBOX: tmp/, new/, cur/)
    /// and <DIR>/<recipient>/.Sent/, UIDs in each folder's kmlab-uidlist; a restart continues
    /// what is there.
    #[arg(long)]
    maildir: PathBuf,
    /// Answer 250 only once the message is on disk: the file and its folder are synced.
    #[arg(long)]
    fsync: bool,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = sink::Limits::default().max_message_size)]
    max_size: usize,
    /// Seconds a client may send nothing before it is disconnected.
    #[arg(long, value_name = "SECONDS", default_value_t = sink::Limits::default().idle_timeout.as_secs())]
    idle_timeout: u64,
    /// Seconds a client may take to complete its next command, however slowly it sends it.
    #[arg(long, value_name = "SECONDS", default_value_t = sink::Limits::default().command_timeout.as_secs())]
    command_timeout: u64,
    /// Seconds a whole DATA section may take.
    #[arg(long, value_name = "SECONDS", default_value_t = sink::Limits::default().data_timeout.as_secs())]
    data_timeout: u64,
    /// Most clients served at once; more are answered 421.
    #[arg(long, default_value_t = sink::Limits::default().max_connections)]
    max_connections: usize,
    /// Most connections from one client address at once; more are answered
    /// "421 4.7.0 too many connections from your address".
    #[arg(long, default_value_t = sink::Limits::default().max_connections_per_client)]
    max_connections_per_client: usize,
}

/// The wall clock, for Maildir names and the dates of delivered messages: the one place
/// `kmlab sink` reads it, since a sink for real clients stands outside any scenario.
#[derive(Debug)]
struct WallClock;

impl sink::Clock for WallClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the standalone sink dates real mail; no scenario result depends on it"
    )]
    fn now(&self) -> Duration {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
    }
}

pub(crate) fn sink(args: &SinkArgs) -> anyhow::Result<Exit> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        println!(
            "kmlab sink listening on {}, storing in {}",
            listener.local_addr()?,
            args.maildir.display()
        );
        std::fs::create_dir_all(&args.maildir)
            .with_context(|| format!("creating {}", args.maildir.display()))?;
        let store = sink::Store::maildir(
            &args.maildir,
            sink::MaildirOptions {
                fsync: args.fsync,
                clock: std::sync::Arc::new(WallClock),
                ..sink::MaildirOptions::default()
            },
        );
        let limits = sink::Limits {
            max_message_size: args.max_size,
            idle_timeout: Duration::from_secs(args.idle_timeout),
            command_timeout: Duration::from_secs(args.command_timeout),
            data_timeout: Duration::from_secs(args.data_timeout),
            max_connections: args.max_connections.max(1),
            max_connections_per_client: args.max_connections_per_client.max(1),
            ..sink::Limits::default()
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        sink::serve(
            listener,
            store,
            limits,
            sink::FaultPlan::default(),
            shutdown,
        )
        .await?;
        anyhow::Ok(Exit::Passed)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Command {
        #[command(flatten)]
        sink: super::SinkArgs,
    }

    #[test]
    fn the_sink_listens_on_loopback_with_the_library_limits_unless_told_otherwise() {
        let args = Command::try_parse_from(["kmlab-sink", "--maildir", "mail"])
            .unwrap()
            .sink;
        assert!(args.listen.ip().is_loopback(), "{}", args.listen);
        let limits = sink::Limits::default();
        assert_eq!(args.idle_timeout, limits.idle_timeout.as_secs());
        assert_eq!(args.command_timeout, limits.command_timeout.as_secs());
        assert_eq!(args.data_timeout, limits.data_timeout.as_secs());
        assert_eq!(args.max_connections, limits.max_connections);
        assert_eq!(
            args.max_connections_per_client,
            limits.max_connections_per_client
        );
        assert!(!args.fsync);
        let told = Command::try_parse_from([
            "kmlab-sink",
            "--maildir",
            "mail",
            "--listen",
            "0.0.0.0:2525",
            "--command-timeout",
            "7",
        ])
        .unwrap()
        .sink;
        assert!(told.listen.ip().is_unspecified());
        assert_eq!(told.command_timeout, 7);
    }
}
