//! What each step action does to the World, and the record it leaves. Each area of the
//! product has its own module; this one dispatches and holds what they share.

mod km;
mod mail;
mod matrix;
mod smtp;

use model::{Duration, Outcome};
use report::{Detail, Record};
use scenario::{Action, Step};

use crate::RunError;
use crate::world::World;

/// Runs one step and returns its record (without the expectation check).
pub(crate) fn execute(world: &mut World, step: &Step) -> Result<Record, RunError> {
    let harness = |message: String| RunError::Step {
        step: step.number,
        message,
    };
    let mut record = match &step.action {
        Action::Clock { advance } => clock(world, *advance),
        Action::EnableV3 { km } => km::enable_v3(world, km).map_err(harness)?,
        Action::EnableUser { km, user } => km::enable_user(world, km, user).map_err(harness)?,
        Action::Enroll { km, user, token } => {
            km::enroll(world, km, user, *token).map_err(harness)?
        }
        Action::Send(send_step) => mail::send(world, send_step).map_err(harness)?,
        Action::Read {
            user,
            subject,
            folder,
        } => mail::read(world, user, subject, *folder).map_err(harness)?,
        Action::AlterMessage {
            user,
            subject,
            change,
        } => mail::alter_message(world, user, subject, *change).map_err(harness)?,
        Action::SmtpFault(fault) => smtp::smtp_fault(world, fault),
        Action::InteropMatrix { users } => matrix::interop_matrix(world, users).map_err(harness)?,
        Action::SmtpSession { input } => smtp::smtp_session(world, input).map_err(harness)?,
    };
    record.step = step.number;
    record.line = step.line;
    Ok(record)
}

pub(super) fn new_record(world: &World, actor: impl Into<String>, action: &str) -> Record {
    Record {
        step: 0,
        line: 0,
        at: world.now(),
        actor: actor.into(),
        action: action.to_owned(),
        outcome: Outcome::Ok,
        reason: None,
        details: Vec::new(),
        expectation: None,
    }
}

pub(super) fn refuse(mut record: Record, reason: &str) -> Record {
    record.outcome = Outcome::Refused;
    record.reason = Some(reason.to_owned());
    record
}

fn clock(world: &mut World, advance: Duration) -> Record {
    world.clock.advance(advance);
    let mut record = new_record(world, "scenario", "clock");
    record
        .details
        .push(Detail::text("advanced", advance.to_string()));
    record
        .details
        .push(Detail::text("now", world.now().to_string()));
    record
}
