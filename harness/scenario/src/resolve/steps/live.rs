//! Resolving the steps of a live user, whom a real mail client plays: fetching a message and
//! submitting one.

use model::Duration;

use super::StepResolver;
use super::mail::send_step;
use crate::types::{Action, FetchProtocol};

/// How long a real client is waited for when the step does not say.
fn default_timeout() -> Duration {
    Duration::seconds(300)
}

pub(super) fn live_fetch(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    let user = s.live_user("user");
    let protocol =
        s.r.optional_or(s.table, "protocol", "fetch protocol", FetchProtocol::Imap);
    let timeout = timeout(s);
    Some(Action::LiveFetch {
        user: user?,
        subject: s.table.text("subject")?.value.to_owned(),
        protocol: protocol?,
        timeout: timeout?,
    })
}

pub(super) fn live_send(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    let from = s.live_user("from");
    let timeout = timeout(s);
    let send = send_step(s, from)?;
    Some(Action::LiveSend {
        send,
        timeout: timeout?,
    })
}

fn timeout(s: &mut StepResolver<'_, '_>) -> Option<Duration> {
    match s.table.text("timeout") {
        Some(value) => s.r.duration(&value),
        None => Some(default_timeout()),
    }
}
