//! The interoperability matrix: every participant sends to every other in each form its
//! client allows, and each recipient's client reads it. The record is the table of verdicts,
//! one row per sender and form, so a change in any client's behaviour shows as a cell.

use clients::compose::Order;
use clients::{Profile, SignForm};
use model::{Outcome, UserName};
use report::{Detail, DetailValue, Record};
use scenario::{Folder, SendStep};

use super::{mail, new_record};
use crate::error::{StepError, StepResult};
use crate::world::World;

/// One way of sending a message.
#[derive(Debug, Clone, Copy)]
struct Form {
    name: &'static str,
    sign: SignForm,
    encrypt: bool,
    order: Order,
}

const FORMS: &[Form] = &[
    Form {
        name: "plain",
        sign: SignForm::None,
        encrypt: false,
        order: Order::SignThenEncrypt,
    },
    Form {
        name: "clear-signed",
        sign: SignForm::Clear,
        encrypt: false,
        order: Order::SignThenEncrypt,
    },
    Form {
        name: "opaque-signed",
        sign: SignForm::Opaque,
        encrypt: false,
        order: Order::SignThenEncrypt,
    },
    Form {
        name: "encrypted",
        sign: SignForm::None,
        encrypt: true,
        order: Order::SignThenEncrypt,
    },
    Form {
        name: "signed-then-encrypted",
        sign: SignForm::Clear,
        encrypt: true,
        order: Order::SignThenEncrypt,
    },
    Form {
        name: "encrypted-then-signed",
        sign: SignForm::Clear,
        encrypt: true,
        order: Order::EncryptThenSign,
    },
];

impl Form {
    fn allowed_by(self, profile: &Profile) -> bool {
        profile.sign_forms.contains(&self.sign) && (!self.encrypt || profile.smime_encryption)
    }
}

pub(super) fn interop_matrix(world: &mut World, users: &[UserName]) -> StepResult {
    let mut record = new_record(world, "scenario");
    record.details.push(Detail::list(
        "forms",
        FORMS.iter().map(|form| form.name.to_owned()).collect(),
    ));
    let mut messages = 0;
    let mut tables = Vec::new();
    for form in FORMS {
        let mut rows = Vec::new();
        for from in users {
            let profile = world.clients.user(from)?.profile();
            let mut cells = Vec::new();
            if !form.allowed_by(profile) {
                rows.push(format!(
                    "{from} ({}): the client does not offer this form",
                    profile.name
                ));
                continue;
            }
            for to in users.iter().filter(|to| *to != from) {
                messages += 1;
                cells.push(format!("{to}: {}", exchange(world, *form, from, to)?));
            }
            rows.push(format!("{from} ({}) -> {}", profile.name, cells.join("; ")));
        }
        tables.push(Detail::list(&format!("matrix {}", form.name), rows));
    }
    record
        .details
        .push(Detail::text("messages", messages.to_string()));
    record.details.extend(tables);
    Ok(record)
}

/// Sends one message in `form` and has its recipient read it; the cell's text.
fn exchange(
    world: &mut World,
    form: Form,
    from: &UserName,
    to: &UserName,
) -> Result<String, StepError> {
    let subject = format!("matrix {} {from} to {to}", form.name);
    let step = SendStep {
        from: from.clone(),
        to: vec![to.clone()],
        subject: subject.clone(),
        body: None,
        sign: Some(form.sign),
        encrypt: form.encrypt,
        cipher: None,
        digest: None,
        order: form.order,
        identifier: None,
        fault: None,
    };
    let sent = mail::send(world, &step)?;
    if sent.outcome == Outcome::Refused {
        return Ok(format!("not sent ({})", reason(&sent)));
    }
    if sent.detail("message").is_none() {
        return Ok(format!("not delivered ({})", reason(&sent)));
    }
    let mut cell = String::new();
    if let Some(cipher) = text(&sent, "cipher") {
        cell.push_str(&format!("{cipher}, "));
    } else if sent.reason.as_deref() == Some("sent-unencrypted") {
        cell.push_str("sent in clear, ");
    }
    let read = mail::read(world, to, &subject, Folder::Inbox)?;
    cell.push_str(&read.outcome.to_string());
    if let Some(reason) = &read.reason {
        cell.push_str(&format!(" {reason}"));
    }
    Ok(cell)
}

fn reason(record: &Record) -> String {
    record
        .reason
        .clone()
        .unwrap_or_else(|| record.outcome.to_string())
}

fn text(record: &Record, key: &str) -> Option<String> {
    match &record.detail(key)?.value {
        DetailValue::Text(text) => Some(text.split(' ').next().unwrap_or(text.as_str()).to_owned()),
        DetailValue::List(_) => None,
    }
}
