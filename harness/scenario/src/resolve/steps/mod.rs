//! Level two for steps: each action's keys resolved into an [`Action`], by one resolver
//! module per area of the product (`ca`, `host`, `km`, `mail`, `smtp`), the same areas as the
//! runner's step modules. [`resolve_step`] matches every [`ActionKind`], so the compiler
//! checks that each one has its resolver.

mod ca;
mod host;
mod km;
mod live;
mod mail;
mod smtp;

use std::ops::Range;

use model::{CaName, KmName, Outcome, UserName};

use super::{Names, Resolver};
use crate::actions::ActionKind;
use crate::file::{RawExpect, RawStep, RawTable, Spanned};
use crate::types::{Action, CaSpec, Expectation, KmSpec, Step, Unexpected, UserSpec};

pub(super) struct StepContext<'a> {
    pub(super) km_names: &'a Names,
    pub(super) site_names: &'a Names,
    pub(super) moving_users: &'a [String],
    pub(super) user_names: &'a Names,
    pub(super) ca_names: &'a Names,
    pub(super) host_names: &'a Names,
    pub(super) domain_names: &'a Names,
    pub(super) km_servers: &'a [KmSpec],
    pub(super) users: &'a [UserSpec],
    pub(super) cas: &'a [CaSpec],
}

/// One step being resolved: the resolver that collects problems, the step's table and the
/// names it may refer to.
pub(super) struct StepResolver<'r, 'a> {
    pub(super) r: &'r mut Resolver<'a>,
    pub(super) table: &'r RawTable,
    pub(super) span: Range<usize>,
    pub(super) context: &'r StepContext<'r>,
}

impl StepResolver<'_, '_> {
    /// The user a key names.
    pub(super) fn user(&mut self, key: &str) -> Option<UserName> {
        let value = self.table.text(key)?;
        self.r
            .reference(&value, "user", self.context.user_names)
            .then(|| UserName::new(value.value))
    }

    /// The CA a key names.
    pub(super) fn ca(&mut self, key: &str) -> Option<CaName> {
        let value = self.table.text(key)?;
        self.r
            .reference(&value, "CA", self.context.ca_names)
            .then(|| CaName::new(value.value))
    }

    /// The CA a key names, which must be one `fits` accepts; else the problem `problem`
    /// words (with its help, if any), at the key's value.
    pub(super) fn ca_that(
        &mut self,
        key: &str,
        fits: impl Fn(&CaSpec) -> bool,
        problem: impl FnOnce(&CaName) -> (String, Option<&'static str>),
    ) -> Option<CaName> {
        let value = self.table.text(key)?;
        let ca = self.ca(key)?;
        if self
            .context
            .cas
            .iter()
            .any(|spec| spec.name == ca && !fits(spec))
        {
            match problem(&ca) {
                (message, Some(help)) => self.r.problem_with_help(value.span, message, help),
                (message, None) => self.r.problem(value.span, message),
            }
            return None;
        }
        Some(ca)
    }

    /// The KM server a step names; without one, the runner asks the user's current site's,
    /// which must exist at least for the home site of a user who never moves.
    pub(super) fn km_for(&mut self, user: &UserName) -> Option<Option<KmName>> {
        if let Some(value) = self.table.text("km_server") {
            return self
                .r
                .reference(&value, "KM server", self.context.km_names)
                .then(|| Some(KmName::new(value.value)));
        }
        let site = &self
            .context
            .users
            .iter()
            .find(|spec| &spec.name == user)?
            .site;
        if !self.context.km_servers.iter().any(|km| &km.site == site)
            && !self
                .context
                .moving_users
                .iter()
                .any(|moving| moving == user.as_str())
        {
            self.r.problem_with_help(
                self.span.clone(),
                format!("no KM server serves site `{site}` of user `{user}`"),
                "name one with km_server = \"…\"",
            );
            return None;
        }
        Some(None)
    }

    /// The KM server a key names.
    pub(super) fn km(&mut self, key: &str) -> Option<KmName> {
        let value = self.table.text(key)?;
        self.r
            .reference(&value, "KM server", self.context.km_names)
            .then(|| KmName::new(value.value))
    }

    /// The user a key names, who must be a scripted one: what this step does, a live user's
    /// real client does itself, through the step `instead`.
    pub(super) fn scripted_user(&mut self, key: &str, instead: &str) -> Option<UserName> {
        self.user_who_is(key, false, |user| {
            (
                format!("`{user}` is a live user: a real mail client does this for them"),
                format!("use `{instead}`, which waits for the client"),
            )
        })
    }

    /// The user a key names, who must be a live one.
    pub(super) fn live_user(&mut self, key: &str) -> Option<UserName> {
        self.user_who_is(key, true, |user| {
            (
                format!("`{user}` is not a live user"),
                "add `live = true` to the user, or use the scripted step".to_owned(),
            )
        })
    }

    /// The user a key names, if it is live exactly when `live` says; else the problem
    /// `problem` words, at the key's value.
    fn user_who_is(
        &mut self,
        key: &str,
        live: bool,
        problem: impl FnOnce(&UserName) -> (String, String),
    ) -> Option<UserName> {
        let user = self.user(key)?;
        if self.is_live(&user) != live {
            let span = self
                .table
                .text(key)
                .map_or(self.span.clone(), |value| value.span);
            let (message, help) = problem(&user);
            self.r.problem_with_help(span, message, help);
            return None;
        }
        Some(user)
    }

    fn is_live(&self, user: &UserName) -> bool {
        self.context
            .users
            .iter()
            .any(|spec| &spec.name == user && spec.live)
    }

    /// The users a key names (one or a list), all of them known.
    pub(super) fn users(&mut self, key: &str) -> Option<Vec<UserName>> {
        let mut found = Vec::new();
        let mut ok = true;
        for name in self.table.names(key) {
            let value = Spanned {
                value: name.value.as_str(),
                span: name.span.clone(),
            };
            if self.r.reference(&value, "user", self.context.user_names) {
                found.push(UserName::new(name.value.as_str()));
            } else {
                ok = false;
            }
        }
        (ok && !found.is_empty()).then_some(found)
    }
}

pub(super) fn resolve_step(
    r: &mut Resolver<'_>,
    raw: &RawStep,
    number: usize,
    context: &StepContext<'_>,
) -> Option<Step> {
    let spec = raw.action.as_ref()?;
    let line = r.lines.line(raw.span.start);
    let mut s = StepResolver {
        r,
        table: &raw.table,
        span: raw.span.clone(),
        context,
    };
    let action = match spec.value.kind {
        ActionKind::Clock => clock(&mut s),
        ActionKind::EnableV3 => km::enable_v3(&mut s),
        ActionKind::EnableUser => km::enable_user(&mut s),
        ActionKind::Enroll => km::enroll(&mut s),
        ActionKind::Recover => km::recover(&mut s),
        ActionKind::RevokeUser => km::revoke_user(&mut s),
        ActionKind::LoseKeys => km::lose_keys(&mut s),
        ActionKind::SetEnrollmentMode => km::set_enrollment_mode(&mut s),
        ActionKind::RenewAll => km::renew_all(&mut s),
        ActionKind::MoveUser => km::move_user(&mut s),
        ActionKind::Sectool => km::sectool(&mut s),
        ActionKind::ExportKeys => km::export_keys(&mut s),
        ActionKind::ReattachCa => km::reattach_ca(&mut s),
        ActionKind::StopKm => km::stop_km(&mut s),
        ActionKind::SetConfigurationDirectory => km::set_configuration_directory(&mut s),
        ActionKind::GrantManagePermission => km::grant_manage_permission(&mut s),
        ActionKind::GrantTemplatePermission => ca::grant_template_permission(&mut s),
        ActionKind::ChangeClient => km::change_client(&mut s),
        ActionKind::StartKm => km::start_km(&mut s),
        ActionKind::ChangeAdminPassword => km::change_admin_password(&mut s),
        ActionKind::BackupKm => km::backup_km(&mut s),
        ActionKind::BackupCa => ca::backup_ca(&mut s),
        ActionKind::RestoreKm => km::restore_km(&mut s),
        ActionKind::RestoreCa => ca::restore_ca(&mut s),
        ActionKind::Forklift => km::forklift(&mut s),
        ActionKind::UpgradeCa => host::upgrade_ca(&mut s),
        ActionKind::InstallPart => host::install_part(&mut s),
        ActionKind::AddTrust => host::add_trust(&mut s),
        ActionKind::Send => mail::send(&mut s),
        ActionKind::Read => mail::read(&mut s),
        ActionKind::AlterMessage => mail::alter_message(&mut s),
        ActionKind::SmtpFault => smtp::smtp_fault(&mut s),
        ActionKind::InteropMatrix => mail::interop_matrix(&mut s),
        ActionKind::SmtpSession => smtp::smtp_session(&mut s),
        ActionKind::LiveFetch => live::live_fetch(&mut s),
        ActionKind::LiveSend => live::live_send(&mut s),
        ActionKind::ConfigureCa => ca::configure_ca(&mut s),
        ActionKind::RestartCa => ca::restart_ca(&mut s),
        ActionKind::InstallCaCertificate => ca::install_ca_certificate(&mut s),
        ActionKind::RequestCertificate => ca::request_certificate(&mut s),
        ActionKind::Revoke => ca::revoke(&mut s),
        ActionKind::PublishCrl => ca::publish_crl(&mut s),
        ActionKind::FetchCrl => ca::fetch_crl(&mut s),
        ActionKind::InstallRoot => ca::install_root(&mut s),
        ActionKind::CtlAdd => ca::trust_list(&mut s, ActionKind::CtlAdd),
        ActionKind::CtlRemove => ca::trust_list(&mut s, ActionKind::CtlRemove),
        ActionKind::DropDriveMapping => km::drop_drive_mapping(&mut s),
    }?;
    let r = s.r;
    let expect = raw
        .expect
        .as_ref()
        .map(|raw_expect| expectation(r, raw_expect));
    Some(Step {
        number,
        line,
        action,
        expect,
    })
}

/// An `expect` resolved: outcomes parsed (`!` before one negates it), `not` turned into what
/// the record must not show, and an expectation that contradicts itself reported.
fn expectation(r: &mut Resolver<'_>, raw: &RawExpect) -> Expectation {
    let mut outcome = None;
    let mut not = Vec::new();
    if let Some(written) = &raw.outcome {
        match written.value.strip_prefix('!') {
            Some(negated) => {
                if let Some(parsed) = parse_outcome(r, written, negated) {
                    not.push((written.span.clone(), Unexpected::Outcome(parsed)));
                }
            }
            None => outcome = parse_outcome(r, written, &written.value),
        }
    }
    for (key, value) in &raw.not {
        let unexpected = match key.value.as_str() {
            "outcome" => {
                if value.value.starts_with('!') {
                    r.problem_with_help(
                        value.span.clone(),
                        format!("`!` cannot negate `{}` inside `not`", value.value),
                        "write the outcome the record must not have, e.g. not = { outcome = \"ok\" }",
                    );
                    continue;
                }
                match parse_outcome(r, value, &value.value) {
                    Some(parsed) => Unexpected::Outcome(parsed),
                    None => continue,
                }
            }
            "reason" => Unexpected::Reason(value.value.clone()),
            detail => Unexpected::Detail(detail.to_owned(), value.value.clone()),
        };
        not.push((value.span.clone(), unexpected));
    }
    let expectation = Expectation {
        outcome,
        reason: raw.reason.as_ref().map(|reason| reason.value.clone()),
        details: raw
            .details
            .iter()
            .map(|(key, value)| (key.value.clone(), value.value.clone()))
            .collect(),
        not: Vec::new(),
    };
    for (span, unexpected) in &not {
        let contradiction = match unexpected {
            Unexpected::Outcome(negated) => expectation
                .outcome
                .as_ref()
                .is_some_and(|expected| negated.covers(expected)),
            Unexpected::Reason(reason) => expectation.reason.as_ref() == Some(reason),
            Unexpected::Detail(key, value) => expectation
                .details
                .iter()
                .any(|(expected_key, expected)| expected_key == key && expected == value),
        };
        if contradiction {
            r.problem_with_help(
                span.clone(),
                "this expectation can never hold: the record is expected to show what `not` rules out",
                "drop one of the two",
            );
        }
    }
    Expectation {
        not: not.into_iter().map(|(_, unexpected)| unexpected).collect(),
        ..expectation
    }
}

/// `text` (the written outcome, or what follows its `!`) as an outcome, or a report at
/// `written`'s place.
fn parse_outcome(r: &mut Resolver<'_>, written: &Spanned<String>, text: &str) -> Option<Outcome> {
    match text.parse::<Outcome>() {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            r.problem_with_help(
                written.span.clone(),
                format!("unknown outcome `{}`: {error}", written.value),
                "`error` matches every error, `error c1031daf` that one; `!` before an outcome means any other, e.g. \"!ok\"",
            );
            None
        }
    }
}

/// A `clock` step.
fn clock(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::Clock {
        advance: s.r.duration(&s.table.text("advance")?)?,
    })
}
