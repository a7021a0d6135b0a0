//! Resolving the steps of one area: sending, reading and changing messages, and the interoperability matrix.

use clients::SignForm;
use clients::compose::Order;
use clients::faults::{SendFault, TransitChange};
use model::UserName;
use smime::{Cipher, Digest, IdentifierKind};

use super::StepResolver;
use crate::file::Spanned;
use crate::types::{Action, Folder, SendStep};

/// A `send` step: a scripted user's message (a live user's client sends its own).
pub(super) fn send(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    let from = s.scripted_user("from", "live-send");
    send_step(s, from).map(Action::Send)
}

/// The keys of a message to send, from `from`; `live-send` shares them.
pub(super) fn send_step(s: &mut StepResolver<'_, '_>, from: Option<UserName>) -> Option<SendStep> {
    Some({
        let mut to = Vec::new();
        let mut to_ok = true;
        for name in s.table.names("to") {
            let value = Spanned {
                value: name.value.as_str(),
                span: name.span.clone(),
            };
            if s.r.reference(&value, "user", s.context.user_names) {
                to.push(UserName::new(name.value.as_str()));
            } else {
                to_ok = false;
            }
        }
        if to.is_empty() && to_ok {
            s.r.problem(
                s.table.span.clone(),
                "a message needs at least one recipient in `to`",
            );
            to_ok = false;
        }
        let sign: Option<Option<SignForm>> = s.r.optional(s.table, "sign", "signing form");
        let cipher: Option<Option<Cipher>> = s.r.optional(s.table, "cipher", "cipher");
        let digest: Option<Option<Digest>> = s.r.optional(s.table, "digest", "digest");
        let order =
            s.r.optional_or(s.table, "order", "layer order", Order::SignThenEncrypt);
        let identifier: Option<Option<IdentifierKind>> =
            s.r.optional(s.table, "identifier", "identifier kind");
        let fault: Option<Option<SendFault>> = s.r.optional(s.table, "fault", "client fault");
        let encrypt = s.table.flag("encrypt").unwrap_or(false);
        if let (Some(Some(_)), false) = (&cipher, encrypt) {
            if let Some(value) = s.table.text("cipher") {
                s.r.problem_with_help(
                    value.span,
                    "a cipher is given but the message is not encrypted",
                    "add encrypt = true",
                );
            }
        }
        let (
            Some(from),
            true,
            Some(sign),
            Some(cipher),
            Some(digest),
            Some(subject),
            Some(order),
            Some(identifier),
            Some(fault),
        ) = (
            from,
            to_ok,
            sign,
            cipher,
            digest,
            s.table.text("subject"),
            order,
            identifier,
            fault,
        )
        else {
            return None;
        };
        SendStep {
            from,
            to,
            subject: subject.value.to_owned(),
            body: s.table.text("body").map(|b| b.value.to_owned()),
            sign,
            encrypt,
            cipher,
            digest,
            order,
            identifier,
            fault,
        }
    })
}

pub(super) fn read(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let user = s.scripted_user("user", "live-fetch")?;
        let folder =
            s.r.optional_or(s.table, "folder", "folder", Folder::Inbox)?;
        Action::Read {
            user,
            subject: s.table.text("subject")?.value.to_owned(),
            folder,
        }
    })
}

pub(super) fn alter_message(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let user = s.user("user");
        let change =
            s.r.choose::<TransitChange>(&s.table.text("change")?, "transit change");
        Action::AlterMessage {
            user: user?,
            subject: s.table.text("subject")?.value.to_owned(),
            change: change?,
        }
    })
}

pub(super) fn interop_matrix(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let mut users = Vec::new();
        for name in s.table.names("users") {
            let value = Spanned {
                value: name.value.as_str(),
                span: name.span.clone(),
            };
            if s.r.reference(&value, "user", s.context.user_names) {
                users.push(UserName::new(name.value.as_str()));
            }
        }
        if s.table.names("users").is_empty() {
            users = s
                .context
                .users
                .iter()
                .map(|user| user.name.clone())
                .collect();
        }
        Action::InteropMatrix { users }
    })
}
