//! Raw SMTP sessions against the sink.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration as StdDuration;

use report::{Detail, Record};

use super::new_record;
use crate::world::World;

pub(super) fn smtp_session(world: &mut World, input: &[u8]) -> Result<Record, String> {
    let mut record = new_record(world, "smtp-client", "smtp-session");
    let stored_before = world.sink.store().len();
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
    let stored: Vec<String> = world
        .sink
        .store()
        .since(stored_before)
        .iter()
        .map(|message| {
            format!(
                "#{} for {}, {} bytes",
                message.id,
                message.recipients.join(", "),
                message.size
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

/// Arms a scripted fault on the embedded sink (SMTP-03).
pub(super) fn smtp_fault(world: &mut World, fault: &sink::Fault) -> Record {
    let mut record = new_record(world, "sink", "smtp-fault");
    let effect = match fault.effect {
        sink::Effect::Reply(code) => format!("reply {code}"),
        sink::Effect::Drop => "drop the connection in the middle of DATA".to_owned(),
    };
    let trigger = match &fault.trigger {
        sink::Trigger::Message(1) => "the next message".to_owned(),
        sink::Trigger::Message(n) => format!("message {n} from now"),
        sink::Trigger::Recipient(address) => format!("RCPT TO:<{address}>"),
        sink::Trigger::Command(verb) => format!("the command {verb}"),
    };
    let times = match fault.times {
        1 => "once".to_owned(),
        n => format!("{n} times"),
    };
    record.details.push(Detail::text(
        "fault",
        format!("{effect} for {trigger}, {times}"),
    ));
    world.sink.faults().arm(fault.clone());
    record
}
