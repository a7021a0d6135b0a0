//! A KM database under load, for the crash tests: it escrows keys (or takes backups) one after
//! another and reports each on standard output only once it is done, until it is killed.
//!
//! `km-writer write DB` escrows generation after generation for one mailbox;
//! `km-writer backup DB DIR` fills DB once, then backs it up into DIR again and again.

use std::io::Write;
use std::path::Path;

use km::{Database, EscrowedKey};
use model::Timestamp;

const MAILBOX: &str = "/o=Contoso/ou=Redmond/cn=Recipients/cn=alice";
/// Bounds the child's life if nobody kills it.
const MAX_ROUNDS: u32 = 100_000;

fn escrowed(generation: u32) -> EscrowedKey {
    EscrowedKey {
        generation,
        version: "v3".into(),
        hierarchy: "ContosoRoot".into(),
        serial: format!("{generation:020x}"),
        certificate: vec![0x30; 900],
        wrapped_key: vec![generation as u8; 1232],
        wrap_iv: vec![7; 16],
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, path) = match args.as_slice() {
        [_, mode, path, ..] => (mode.as_str(), Path::new(path)),
        _ => return Err("usage: km-writer write DB | km-writer backup DB DIR".into()),
    };
    let database = if path.exists() {
        Database::open(path)?
    } else {
        Database::create(path, "KM1")?
    };
    database.enable_user(
        MAILBOX,
        "alice",
        "alice@contoso.example",
        Timestamp::DEFAULT_START,
    )?;
    let mut out = std::io::stdout().lock();
    match mode {
        "write" => {
            for generation in 1..=MAX_ROUNDS {
                database.escrow(MAILBOX, &escrowed(generation), Timestamp::DEFAULT_START)?;
                database.set_user_state(MAILBOX, "enrolled")?;
                writeln!(out, "escrowed {generation}")?;
                out.flush()?;
            }
        }
        "backup" => {
            let dir = Path::new(args.get(3).ok_or("backup needs a folder")?);
            for generation in 1..=200 {
                database.escrow(MAILBOX, &escrowed(generation), Timestamp::DEFAULT_START)?;
            }
            writeln!(out, "filled")?;
            out.flush()?;
            for round in 1..=MAX_ROUNDS {
                database.backup_to(&dir.join(format!("backup-{round}.sqlite")))?;
                writeln!(out, "backed-up {round}")?;
                out.flush()?;
            }
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    Ok(())
}
