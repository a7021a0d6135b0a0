//! Resolving the steps of one area: CA administration, direct requests, revocation and CRLs, trusted roots and trust lists, CA backups.

use model::{HostName, KmName};
use pki::CertificateVersion;

use super::super::{certificate_ref, positive};
use super::StepResolver;
use crate::actions::ActionKind;
use crate::types::{Action, CaInstall, CaRole, RequestPurpose, RevokeTarget, RootStore};

pub(super) fn backup_ca(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::BackupCa {
        ca: s.ca("ca")?,
        name: s.table.text("name")?.value.to_owned(),
    })
}

pub(super) fn restore_ca(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::RestoreCa {
        ca: s.ca("ca")?,
        from: s.table.text("from")?.value.to_owned(),
    })
}

pub(super) fn configure_ca(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let ca = s.ca("ca")?;
        let period =
            s.r.optional(s.table, "validity_period", "validity period")?;
        let units = match s.table.integer("validity_units") {
            None => None,
            Some(_) => Some(positive(s.r, s.table, "validity_units", 1)?),
        };
        let policy = s.r.optional(s.table, "policy_module", "policy module")?;
        if period.is_none() && units.is_none() && policy.is_none() {
            s.r.problem_with_help(
                s.span.clone(),
                "configure-ca changes nothing",
                "set validity_period, validity_units or policy_module",
            );
            return None;
        }
        Action::ConfigureCa {
            ca,
            period,
            units,
            policy,
        }
    })
}

pub(super) fn restart_ca(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::RestartCa { ca: s.ca("ca")? })
}

pub(super) fn install_ca_certificate(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let name = s.table.text("ca")?;
        let ca = s.ca("ca")?;
        let spec = s.context.cas.iter().find(|spec| spec.name == ca)?;
        if spec.install != CaInstall::RequestFile {
            s.r.problem_with_help(
                name.span,
                format!("CA `{ca}` is not installed through a request file"),
                "set install = \"request-file\" on the subordinate",
            );
            return None;
        }
        Action::InstallCaCertificate {
            ca,
            supply_root: s.table.flag("supply_root").unwrap_or(false),
        }
    })
}

pub(super) fn request_certificate(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let ca = s.ca("ca")?;
        let user = match s.table.text("user") {
            Some(_) => Some(s.user("user")?),
            None => None,
        };
        let purpose = s.r.optional_or(
            s.table,
            "purpose",
            "purpose",
            RequestPurpose::SmimeEncryption,
        )?;
        let version = s.r.optional_or(
            s.table,
            "version",
            "certificate version",
            CertificateVersion::V3,
        )?;
        if user.is_none() && purpose != RequestPurpose::TlsServer {
            s.r.problem_with_help(
                s.span.clone(),
                "an e-mail certificate is requested by a user",
                "add user = \"…\"",
            );
            return None;
        }
        Action::RequestCertificate {
            ca,
            user,
            purpose,
            version,
        }
    })
}

pub(super) fn revoke(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let ca = s.ca("ca")?;
        let target = match (
            s.table.text("km_server"),
            s.table.text("user"),
            s.table.text("certificate"),
        ) {
            (Some(km), None, None) => {
                s.r.reference(&km, "KM server", s.context.km_names)
                    .then_some(())?;
                RevokeTarget::KmServer(KmName::new(km.value))
            }
            (None, Some(_), Some(certificate)) => {
                let user = s.user("user")?;
                RevokeTarget::User {
                    user,
                    certificate: certificate_ref(s.r, &certificate)?,
                }
            }
            _ => {
                s.r.problem_with_help(
                    s.span.clone(),
                    "revoke needs either km_server, or user and certificate",
                    "e.g. user = \"alice\" and certificate = \"enc#1\"",
                );
                return None;
            }
        };
        Action::Revoke { ca, target }
    })
}

pub(super) fn publish_crl(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::PublishCrl { ca: s.ca("ca")? })
}

pub(super) fn fetch_crl(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some(Action::FetchCrl {
        user: s.user("user")?,
        ca: s.ca("ca")?,
    })
}

pub(super) fn install_root(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let ca = s.ca_that(
            "ca",
            |spec| spec.role == CaRole::Root,
            |ca| (format!("`{ca}` is not a root CA"), None),
        )?;
        let store = match (s.table.text("host"), s.table.text("user")) {
            (Some(host), None) => {
                s.r.reference(&host, "host", s.context.host_names)
                    .then_some(())?;
                RootStore::Host(HostName::new(host.value))
            }
            (None, Some(_)) => RootStore::User(s.user("user")?),
            _ => {
                s.r.problem(s.span.clone(), "install-root needs either host or user");
                return None;
            }
        };
        Action::InstallRoot { ca, store }
    })
}

pub(super) fn trust_list(s: &mut StepResolver<'_, '_>, kind: ActionKind) -> Option<Action> {
    Some({
        let ca = s.ca("ca")?;
        let km = s.table.text("km_server")?;
        s.r.reference(&km, "KM server", s.context.km_names)
            .then_some(())?;
        let km = KmName::new(km.value);
        if kind == ActionKind::CtlAdd {
            Action::CtlAdd { ca, km }
        } else {
            Action::CtlRemove { ca, km }
        }
    })
}

pub(super) fn grant_template_permission(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    let ca = s.ca("ca")?;
    let permission =
        s.r.choose(&s.table.text("permission")?, "template permission")?;
    Some(Action::GrantTemplatePermission { ca, permission })
}
