//! Resolving the steps of one area: the SMTP conversation itself: scripted faults and raw sessions.

use super::super::Resolver;
use super::{StepContext, StepResolver};
use crate::file::RawTable;
use crate::types::Action;

pub(super) fn smtp_fault(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::SmtpFault(resolve_fault(s.r, s.table, s.context)?))
}

pub(super) fn smtp_session(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::SmtpSession {
        input: s.table.text("input")?.value.as_bytes().to_vec(),
    })
}

/// An `smtp-fault` step: exactly one trigger, and a code or a drop.
pub(super) fn resolve_fault(
    r: &mut Resolver<'_>,
    table: &RawTable,
    context: &StepContext<'_>,
) -> Option<sink::Fault> {
    let message = table.integer("message");
    let recipient = table.text("recipient");
    let command = table.text("command");
    let given = [message.is_some(), recipient.is_some(), command.is_some()]
        .iter()
        .filter(|given| **given)
        .count();
    if given != 1 {
        r.problem_with_help(
            table.span.clone(),
            "an smtp-fault needs exactly one of `message`, `recipient` and `command`",
            "e.g. message = 1 for the next message",
        );
        return None;
    }
    let drop = table.flag("drop").unwrap_or(false);
    let code = table.integer("code");
    let effect = match (drop, &code) {
        (true, None) if message.is_some() => sink::Effect::Drop,
        (true, _) => {
            r.problem_with_help(
                table.span.clone(),
                "`drop` goes with `message` alone, without `code`",
                "a connection is dropped in the middle of a message's data",
            );
            return None;
        }
        (false, Some(code)) => match u16::try_from(code.value) {
            Ok(value) if sink::faults::FAULT_CODES.contains(&value) => sink::Effect::Reply(value),
            _ => {
                r.problem_with_help(
                    code.span.clone(),
                    format!("{} is not a scriptable reply code", code.value),
                    "use 421, 451, 452, 550 or 552",
                );
                return None;
            }
        },
        (false, None) => {
            r.problem_with_help(
                table.span.clone(),
                "an smtp-fault needs a `code` or `drop = true`",
                "e.g. code = 451",
            );
            return None;
        }
    };
    let trigger = if let Some(message) = message {
        match u32::try_from(message.value) {
            Ok(n) if n > 0 => sink::Trigger::Message(n),
            _ => {
                r.problem(message.span, "`message` counts from 1");
                return None;
            }
        }
    } else if let Some(recipient) = recipient {
        if !r.reference(&recipient, "user", context.user_names) {
            return None;
        }
        let email = context
            .users
            .iter()
            .find(|user| user.name.as_str() == recipient.value)?
            .email
            .to_string();
        sink::Trigger::Recipient(email)
    } else {
        let command = command?;
        sink::Trigger::Command(command.value.to_ascii_uppercase())
    };
    let times = match table.integer("times") {
        None => 1,
        Some(times) => match u32::try_from(times.value) {
            Ok(n) if n > 0 => n,
            _ => {
                r.problem(times.span, "`times` must be a positive whole number");
                return None;
            }
        },
    };
    Some(sink::Fault {
        trigger,
        effect,
        times,
    })
}
