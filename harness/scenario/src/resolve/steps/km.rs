//! Resolving the steps of one area: KM server administration, enrollment, recovery, modes, moves, export and import, backups and forklifts.

use model::{KmName, SiteName};

use super::super::scenario_relative;
use super::StepResolver;
use crate::types::{Action, RestoreSource, TokenChoice};

pub(super) fn enable_v3(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let km = s.table.text("km_server")?;
        s.r.reference(&km, "KM server", s.context.km_names)
            .then_some(())?;
        Action::EnableV3 {
            km: KmName::new(km.value),
        }
    })
}

pub(super) fn enable_user(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let users = s.users("user")?;
        let mut km_choice = None;
        for user in &users {
            km_choice = Some(s.km_for(user)?);
        }
        Action::EnableUser {
            km: km_choice.flatten(),
            users,
            mail_token: s.table.flag("mail_token").unwrap_or(false),
        }
    })
}

pub(super) fn enroll(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let user = s.user("user")?;
        let token =
            s.r.optional_or(s.table, "token", "token choice", TokenChoice::Issued)?;
        Action::Enroll {
            km: s.km_for(&user)?,
            user,
            token,
        }
    })
}

pub(super) fn recover(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let user = s.user("user")?;
        Action::Recover {
            km: s.km_for(&user)?,
            user,
        }
    })
}

pub(super) fn revoke_user(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let user = s.user("user")?;
        Action::RevokeUser {
            km: s.km_for(&user)?,
            user,
        }
    })
}

pub(super) fn lose_keys(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::LoseKeys {
        user: s.user("user")?,
    })
}

pub(super) fn change_client(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    let user = s.user("user")?;
    let client = s.table.text("client")?;
    let persona: clients::Persona = s.r.choose(&client, "client")?;
    let strength =
        s.r.optional_or(s.table, "strength", "strength", clients::Strength::High)?;
    let profile = persona.profile();
    if profile.smime_encryption && profile.sending_ciphers(strength).is_empty() {
        let at = s
            .table
            .text("strength")
            .map_or(client.span, |value| value.span);
        s.r.problem_with_help(
            at,
            format!(
                "{} has no {} build",
                profile.name,
                model::Named::name(strength)
            ),
            "its ciphers are all stronger than 40 bits; remove `strength`",
        );
        return None;
    }
    Some(Action::ChangeClient {
        user,
        persona,
        strength,
    })
}

pub(super) fn set_enrollment_mode(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let km = s.km("km_server")?;
        let mode = s.r.choose(&s.table.text("mode")?, "enrollment mode")?;
        Action::SetEnrollmentMode { km, mode }
    })
}

pub(super) fn renew_all(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::RenewAll {
        km: s.km("km_server")?,
    })
}

pub(super) fn move_user(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let user = s.user("user")?;
        let site = s.table.text("site")?;
        s.r.reference(&site, "site", s.context.site_names)
            .then_some(())?;
        Action::MoveUser {
            user,
            site: SiteName::new(site.value),
        }
    })
}

pub(super) fn sectool(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let user = s.user("user")?;
        let operation =
            s.r.choose(&s.table.text("operation")?, "sectool operation")?;
        Action::Sectool { user, operation }
    })
}

pub(super) fn export_keys(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let from = s.km("km_server")?;
        let to = s.km("to")?;
        let users = s.users("users")?;
        Action::ExportKeys {
            from,
            to,
            users,
            thumbprint: s.table.text("thumbprint").map(|t| t.value.to_owned()),
        }
    })
}

pub(super) fn reattach_ca(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::ReattachCa {
        km: s.km("km_server")?,
        ca: s.ca("ca")?,
    })
}

pub(super) fn stop_km(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::StopKm {
        km: s.km("km_server")?,
    })
}

pub(super) fn set_configuration_directory(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::SetConfigurationDirectory {
        km: s.km("km_server")?,
        path: s.table.text("path")?.value.to_owned(),
    })
}

pub(super) fn grant_manage_permission(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::GrantManagePermission {
        km: s.km("km_server")?,
    })
}

pub(super) fn start_km(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::StartKm {
        km: s.km("km_server")?,
        startup_password: s.table.text("startup_password").map(|p| p.value.to_owned()),
    })
}

pub(super) fn change_admin_password(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::ChangeAdminPassword {
        km: s.km("km_server")?,
        password: s.table.text("password")?.value.to_owned(),
    })
}

pub(super) fn backup_km(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::BackupKm {
        km: s.km("km_server")?,
        name: s.table.text("name")?.value.to_owned(),
    })
}

pub(super) fn restore_km(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let km = s.km("km_server")?;
        let source = match (s.table.text("from"), s.table.text("file")) {
            (Some(from), None) => RestoreSource::Backup(from.value.to_owned()),
            (None, Some(file)) => {
                RestoreSource::File(scenario_relative(s.r, &file, "fixtures/backup.sqlite")?)
            }
            _ => {
                s.r.problem(
                    s.span.clone(),
                    "restore-km needs either `from` (a backup name) or `file`",
                );
                return None;
            }
        };
        Action::RestoreKm { km, source }
    })
}

pub(super) fn forklift(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::Forklift {
        km: s.km("km_server")?,
        new_host: s.table.text("new_host")?.value.to_owned(),
        startup_password: s.table.text("startup_password").map(|p| p.value.to_owned()),
    })
}

pub(super) fn drop_drive_mapping(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let km = s.table.text("km_server")?;
        s.r.reference(&km, "KM server", s.context.km_names)
            .then_some(())?;
        Action::DropDriveMapping {
            km: KmName::new(km.value),
        }
    })
}
