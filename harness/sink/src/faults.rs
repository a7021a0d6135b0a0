//! Scripted faults (SMTP-03): the deliberately broken behaviour a scenario can ask of the sink.
//!
//! A fault names what triggers it (the Nth message, a recipient, a command) and what happens
//! (a reply code, or the connection dropped in the middle of DATA), and fires a set number of
//! times. Faults count events in the order the sink sees them, so the same scenario always
//! hits the same message; a message a fault refused is never stored.

use std::sync::{Arc, Mutex, PoisonError};

use crate::reply::Reply;

/// What sets a fault off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// The Nth message (counted from 1 at each DATA the sink accepts after the fault was
    /// armed) and, while the fault has firings left, the ones after it.
    Message(u32),
    /// A RCPT TO naming this address (compared without regard to case).
    Recipient(String),
    /// A command with this verb (`MAIL`, `RCPT`, `DATA`, `EHLO` …).
    Command(String),
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Answer with this code instead of the real reply (a message is then not stored; 421
    /// also closes the connection).
    Reply(u16),
    /// Close the connection once message data starts to arrive, without a reply.
    Drop,
}

/// The reply codes a fault may give.
pub const FAULT_CODES: &[u16] = &[421, 451, 452, 550, 552];

/// One scripted fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// What sets it off.
    pub trigger: Trigger,
    /// What it does.
    pub effect: Effect,
    /// How many times it fires.
    pub times: u32,
}

#[derive(Debug)]
struct Armed {
    fault: Fault,
    remaining: u32,
    messages_seen: u32,
}

/// The faults armed on a sink, shared by all its connections.
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    armed: Arc<Mutex<Vec<Armed>>>,
}

impl FaultPlan {
    /// Arms `fault`; it fires from the next matching event on.
    pub fn arm(&self, fault: Fault) {
        let remaining = fault.times;
        self.lock().push(Armed {
            fault,
            remaining,
            messages_seen: 0,
        });
    }

    /// Faults that have not fired as often as they were asked to.
    pub fn pending(&self) -> usize {
        self.lock().iter().filter(|a| a.remaining > 0).count()
    }

    /// The effect, if any, a command with `verb` sets off.
    pub(crate) fn on_command(&self, verb: &str) -> Option<Effect> {
        self.fire(
            |trigger, _| matches!(trigger, Trigger::Command(v) if v.eq_ignore_ascii_case(verb)),
        )
    }

    /// The effect, if any, a RCPT TO naming `address` sets off.
    pub(crate) fn on_recipient(&self, address: &str) -> Option<Effect> {
        self.fire(
            |trigger, _| matches!(trigger, Trigger::Recipient(a) if a.eq_ignore_ascii_case(address)),
        )
    }

    /// Counts one more message (DATA accepted) and returns the effect it sets off, if any.
    pub(crate) fn on_message(&self) -> Option<Effect> {
        let mut armed = self.lock();
        for entry in armed.iter_mut() {
            if matches!(entry.fault.trigger, Trigger::Message(_)) {
                entry.messages_seen += 1;
            }
        }
        drop(armed);
        self.fire(|trigger, seen| matches!(trigger, Trigger::Message(n) if seen >= *n))
    }

    fn fire(&self, hit: impl Fn(&Trigger, u32) -> bool) -> Option<Effect> {
        let mut armed = self.lock();
        let entry = armed
            .iter_mut()
            .find(|entry| entry.remaining > 0 && hit(&entry.fault.trigger, entry.messages_seen))?;
        entry.remaining -= 1;
        Some(entry.fault.effect)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Armed>> {
        self.armed.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The reply a scripted code gives.
pub(crate) fn reply(code: u16) -> Reply {
    match code {
        421 => Reply::new(
            421,
            "4.3.2",
            "service not available, closing the connection (scripted fault)",
        ),
        451 => Reply::new(451, "4.3.0", "local error in processing (scripted fault)"),
        452 => Reply::new(452, "4.3.1", "insufficient system storage (scripted fault)"),
        550 => Reply::new(550, "5.7.1", "mailbox unavailable (scripted fault)"),
        552 => Reply::new(552, "5.3.4", "exceeded storage allocation (scripted fault)"),
        other => Reply::new(
            other,
            if other < 500 { "4.0.0" } else { "5.0.0" },
            "scripted fault",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_fault_fires_on_the_nth_message_as_often_as_asked() {
        let plan = FaultPlan::default();
        plan.arm(Fault {
            trigger: Trigger::Message(2),
            effect: Effect::Reply(451),
            times: 2,
        });
        assert_eq!(plan.on_message(), None);
        assert_eq!(plan.on_message(), Some(Effect::Reply(451)));
        assert_eq!(plan.on_message(), Some(Effect::Reply(451)));
        assert_eq!(plan.on_message(), None);
        assert_eq!(plan.pending(), 0);
    }

    #[test]
    fn recipient_and_command_faults_match_without_case() {
        let plan = FaultPlan::default();
        plan.arm(Fault {
            trigger: Trigger::Recipient("Bob@x.test".into()),
            effect: Effect::Reply(550),
            times: 1,
        });
        plan.arm(Fault {
            trigger: Trigger::Command("MAIL".into()),
            effect: Effect::Reply(421),
            times: 1,
        });
        assert_eq!(plan.on_recipient("carol@x.test"), None);
        assert_eq!(plan.on_recipient("bob@X.TEST"), Some(Effect::Reply(550)));
        assert_eq!(plan.on_recipient("bob@x.test"), None);
        assert_eq!(plan.on_command("mail"), Some(Effect::Reply(421)));
        assert_eq!(plan.on_command("MAIL"), None);
    }
}
