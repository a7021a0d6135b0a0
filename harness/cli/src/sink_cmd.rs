//! `kmlab sink`: the SMTP sink on its own.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::Exit;

#[derive(Debug, clap::Args)]
pub(crate) struct SinkArgs {
    /// Address to listen on; loopback unless you say otherwise.
    #[arg(long, default_value = "127.0.0.1:2525")]
    listen: SocketAddr,
    /// Store every message as <DIR>/<recipient>/new/<id>.eml.
    #[arg(long)]
    maildir: PathBuf,
    /// Largest message accepted, in bytes.
    #[arg(long, default_value_t = sink::Limits::default().max_message_size)]
    max_size: usize,
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
        let store = sink::Store::with_maildir(&args.maildir);
        let limits = sink::Limits {
            max_message_size: args.max_size,
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
