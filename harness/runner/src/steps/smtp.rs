//! Raw SMTP sessions against the sink.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration as StdDuration;

use report::{Detail, Record};

use super::new_record;
use crate::world::World;

pub(super) fn smtp_session(world: &mut World, input: &[u8]) -> Result<Record, String> {
    let mut record = new_record(world, "smtp-client", "smtp-session");
    let stored_before = world.sink.store().all().len();
    let mut stream = TcpStream::connect(world.sink.address()).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(StdDuration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream.write_all(input).map_err(|e| e.to_string())?;
    // Half-closing tells the sink the client is done; it answers what it got and hangs up.
    stream
        .shutdown(std::net::Shutdown::Write)
        .map_err(|e| e.to_string())?;
    let mut replies = Vec::new();
    stream
        .read_to_end(&mut replies)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&replies);
    record.details.push(Detail::list(
        "replies",
        text.lines().map(str::to_owned).collect(),
    ));
    let stored: Vec<String> = world.sink.store().all()[stored_before..]
        .iter()
        .map(|message| {
            format!(
                "#{} for {}, {} bytes",
                message.id,
                message.envelope.recipients.join(", "),
                message.envelope.data.len()
            )
        })
        .collect();
    record
        .details
        .push(Detail::text("stored", stored.len().to_string()));
    if !stored.is_empty() {
        record.details.push(Detail::list("stored-messages", stored));
    }
    Ok(record)
}
