//! Raw SMTP sessions against the sink.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration as StdDuration;

use report::{Detail, Record};

use super::new_record;
use crate::error::{StepError, StepResult};
use crate::world::World;

pub(super) fn smtp_session(world: &mut World, input: &[u8]) -> StepResult {
    let mut record = new_record(world, "smtp-client");
    let stored_before = world.mail.sink.store().len();
    let replies = converse(world.mail.sink.address(), input)
        .map_err(StepError::io("talking to the SMTP sink"))?;
    let text = String::from_utf8_lossy(&replies);
    record.details.push(Detail::list(
        "replies",
        text.lines().map(str::to_owned).collect(),
    ));
    let stored: Vec<String> = world
        .mail
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
    let mut record = new_record(world, "sink");
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
    world.mail.sink.faults().arm(fault.clone());
    record
}

/// Sends `input` to the sink at `address`, half-closes the connection (the client is done;
/// the sink answers what it got and hangs up) and reads every reply.
fn converse(address: std::net::SocketAddr, input: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(StdDuration::from_secs(30)))?;
    stream.write_all(input)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut replies = Vec::new();
    stream.read_to_end(&mut replies)?;
    Ok(replies)
}
