//! What each step action does to the World, and the record it leaves. Each area of the
//! product has its own module; this one dispatches and holds what they share.

mod ca;
mod host;
mod km;
mod live;
mod live_handover;
mod mail;
mod matrix;
mod smtp;

use model::{Duration, Outcome};
use report::{Detail, Flow, Record};
use scenario::{Action, Step};

use crate::RunError;
use crate::error::StepResult;
use crate::world::World;

/// Runs one step and returns its record (without the expectation check). Every action has
/// its arm, so the compiler checks that each one is handled.
pub(crate) fn execute(world: &mut World, step: &Step) -> Result<Record, RunError> {
    world.step = step.number;
    let mut record = dispatch(world, &step.action).map_err(|source| RunError::Step {
        step: step.number,
        source,
    })?;
    // The action's name comes from the vocabulary, the one place it is written.
    step.action.name().clone_into(&mut record.action);
    if world.live.is_some() {
        live_handover::after_step(world, &mut record).map_err(|source| RunError::Step {
            step: step.number,
            source,
        })?;
    }
    record.step = step.number;
    record.line = step.line;
    record.flow = flow(world, &step.action);
    Ok(record)
}

fn dispatch(world: &mut World, action: &Action) -> StepResult {
    match action {
        Action::Clock { advance } => Ok(clock(world, *advance)),
        // KM administration, enrollment and recovery.
        Action::EnableV3 { km } => km::enable_v3(world, km),
        Action::EnableUser {
            km,
            users,
            mail_token,
        } => km::enable_users(world, km.as_ref(), users, *mail_token),
        Action::Enroll { km, user, token } => km::enroll(world, km.as_ref(), user, *token),
        Action::Recover { km, user } => km::recover(world, km.as_ref(), user),
        Action::LoseKeys { user } => km::lose_keys(world, user),
        Action::ChangeClient {
            user,
            persona,
            strength,
        } => km::change_client(world, user, *persona, *strength),
        Action::SetEnrollmentMode { km, mode } => km::set_mode(world, km, *mode),
        Action::RenewAll { km } => km::renew_all(world, km),
        Action::RevokeUser { km, user } => km::revoke_user(world, km.as_ref(), user),
        Action::MoveUser { user, site } => km::move_user(world, user, site),
        Action::Sectool { user, operation } => km::sectool(world, user, *operation),
        Action::ExportKeys {
            from,
            to,
            users,
            thumbprint,
        } => km::export_keys(world, from, to, users, thumbprint.as_deref()),
        Action::ReattachCa { km, ca } => km::reattach_ca(world, km, ca),
        Action::StopKm { km } => Ok(km::stop_km(world, km)),
        Action::StartKm {
            km,
            startup_password,
        } => km::start_km(world, km, startup_password.as_deref()),
        Action::ChangeAdminPassword { km, password } => {
            Ok(km::change_admin_password(world, km, password))
        }
        Action::BackupKm { km, name } => km::backup_km(world, km, name),
        Action::RestoreKm { km, source } => km::restore_km(world, km, source),
        Action::Forklift {
            km,
            new_host,
            startup_password,
        } => km::forklift(world, km, new_host, startup_password.as_deref()),
        Action::DropDriveMapping { km } => Ok(km::drop_drive_mapping(world, km)),
        Action::SetConfigurationDirectory { km, path } => {
            Ok(km::set_configuration_directory(world, km, path))
        }
        Action::GrantManagePermission { km } => Ok(km::grant_manage_permission(world, km)),
        // CA administration, CRLs and trust.
        Action::ConfigureCa {
            ca,
            period,
            units,
            policy,
        } => ca::configure(world, ca, *period, *units, *policy),
        Action::RestartCa { ca } => ca::restart(world, ca),
        Action::InstallCaCertificate { ca, supply_root } => {
            ca::install_ca_certificate(world, ca, *supply_root)
        }
        Action::RequestCertificate {
            ca,
            user,
            purpose,
            version,
        } => ca::request_certificate(world, ca, user.as_ref(), *purpose, *version),
        Action::Revoke { ca, target } => ca::revoke(world, ca, target),
        Action::PublishCrl { ca } => ca::publish_crl(world, ca),
        Action::FetchCrl { user, ca } => ca::fetch_crl(world, user, ca),
        Action::InstallRoot { ca, store } => ca::install_root(world, ca, store),
        Action::CtlAdd { ca, km } => ca::change_trust_list(world, ca, km, TrustListChange::Add),
        Action::CtlRemove { ca, km } => {
            ca::change_trust_list(world, ca, km, TrustListChange::Remove)
        }
        Action::BackupCa { ca, name } => ca::backup_ca(world, ca, name),
        Action::RestoreCa { ca, from } => ca::restore_ca(world, ca, from),
        Action::GrantTemplatePermission { ca, permission } => {
            ca::grant_template_permission(world, ca, *permission)
        }
        // Hosts.
        Action::UpgradeCa { ca } => host::upgrade_ca(world, ca),
        Action::InstallPart { host, part } => host::install_part(world, host, part),
        Action::AddTrust { domain, with } => Ok(host::add_trust(world, domain, with)),
        // Mail.
        Action::Send(send_step) => mail::send(world, send_step),
        Action::Read {
            user,
            subject,
            folder,
        } => mail::read(world, user, subject, *folder),
        Action::AlterMessage {
            user,
            subject,
            change,
        } => mail::alter_message(world, user, subject, *change),
        Action::InteropMatrix { users } => matrix::interop_matrix(world, users),
        // The SMTP conversation itself.
        Action::SmtpFault(fault) => Ok(smtp::smtp_fault(world, fault)),
        Action::SmtpSession { input } => smtp::smtp_session(world, input),
        // What a live user's real client does.
        Action::LiveFetch {
            user,
            subject,
            protocol,
            timeout,
        } => live::live_fetch(world, user, subject, *protocol, *timeout),
        Action::LiveSend { send, timeout } => live::live_send(world, send, *timeout),
    }
}

/// Whether a trust-list step adds or removes a CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TrustListChange {
    Add,
    Remove,
}

/// A step's record, by `actor`, at the moment the step runs; [`execute`] names the action.
pub(super) fn new_record(world: &World, actor: impl Into<String>) -> Record {
    Record::new(world.now(), actor, "")
}

/// Between whom a step passes, for the report's message-flow diagram.
fn flow(world: &World, action: &Action) -> Option<Flow> {
    let admin = "admin";
    let sink = "sink";
    let km_of = |km: &Option<model::KmName>, user: &model::UserName| {
        km.clone()
            .or_else(|| world.km.km_for(user))
            .map_or_else(|| "KM".to_owned(), |km| km.to_string())
    };
    Some(match action {
        Action::Clock { .. } => return None,
        Action::EnableV3 { km }
        | Action::SetEnrollmentMode { km, .. }
        | Action::RenewAll { km }
        | Action::StopKm { km }
        | Action::StartKm { km, .. }
        | Action::ChangeAdminPassword { km, .. }
        | Action::BackupKm { km, .. }
        | Action::RestoreKm { km, .. }
        | Action::Forklift { km, .. }
        | Action::DropDriveMapping { km }
        | Action::SetConfigurationDirectory { km, .. }
        | Action::GrantManagePermission { km }
        | Action::CtlAdd { km, .. }
        | Action::CtlRemove { km, .. }
        | Action::ReattachCa { km, .. } => Flow::new(admin, km.as_str()),
        Action::EnableUser { km, users, .. } => Flow::new(
            admin,
            users.first().map_or("KM".to_owned(), |u| km_of(km, u)),
        ),
        Action::Recover { km, user } | Action::RevokeUser { km, user } => {
            Flow::new(admin, km_of(km, user))
        }
        Action::Enroll { km, user, .. } => Flow::new(user.as_str(), km_of(km, user)),
        Action::ExportKeys { from, to, .. } => Flow::new(from.as_str(), to.as_str()),
        Action::Send(send) => Flow::new(send.from.as_str(), sink),
        Action::Read { user, .. } | Action::AlterMessage { user, .. } => {
            Flow::new(sink, user.as_str())
        }
        Action::SmtpFault(_) => Flow::new(admin, sink),
        Action::SmtpSession { .. } => Flow::new("smtp-client", sink),
        Action::LiveFetch { user, .. } => Flow::new(sink, user.as_str()),
        Action::LiveSend { send, .. } => Flow::new(send.from.as_str(), sink),
        Action::InteropMatrix { .. } => Flow::new(sink, sink),
        Action::ConfigureCa { ca, .. }
        | Action::RestartCa { ca }
        | Action::InstallCaCertificate { ca, .. }
        | Action::Revoke { ca, .. }
        | Action::PublishCrl { ca }
        | Action::BackupCa { ca, .. }
        | Action::RestoreCa { ca, .. }
        | Action::UpgradeCa { ca }
        | Action::GrantTemplatePermission { ca, .. } => Flow::new(admin, ca.as_str()),
        Action::RequestCertificate { ca, user, .. } => Flow::new(
            user.as_ref().map_or(admin, |user| user.as_str()),
            ca.as_str(),
        ),
        Action::FetchCrl { user, ca } => Flow::new(ca.as_str(), user.as_str()),
        Action::InstallRoot { ca, store } => match store {
            scenario::RootStore::User(user) => Flow::new(ca.as_str(), user.as_str()),
            scenario::RootStore::Host(host) => Flow::new(ca.as_str(), host.as_str()),
        },
        Action::LoseKeys { user }
        | Action::MoveUser { user, .. }
        | Action::ChangeClient { user, .. } => Flow::new(user.as_str(), user.as_str()),
        Action::Sectool { user, .. } => Flow::new(admin, user.as_str()),
        Action::InstallPart { host, .. } => Flow::new(admin, host.as_str()),
        Action::AddTrust { domain, with } => Flow::new(domain.as_str(), with.as_str()),
    })
}

pub(super) fn refuse(mut record: Record, reason: &str) -> Record {
    record.outcome = Outcome::Refused;
    record.reason = Some(reason.to_owned());
    record
}

fn clock(world: &mut World, advance: Duration) -> Record {
    world.clock.advance(advance);
    world.mail.date_deliveries(world.clock.now());
    let mut record = new_record(world, "scenario");
    record
        .details
        .push(Detail::text("advanced", advance.to_string()));
    record
        .details
        .push(Detail::text("now", world.now().to_string()));
    record
}
