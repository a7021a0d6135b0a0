//! Resolving the steps of one area: hosts: installed parts and operating system upgrades.

use model::HostName;
use pki::CaKind;

use super::super::installed_part;
use super::StepResolver;
use crate::types::Action;

pub(super) fn upgrade_ca(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let name = s.table.text("ca")?;
        let ca = s.ca("ca")?;
        if s.context
            .cas
            .iter()
            .any(|spec| spec.name == ca && spec.kind != CaKind::Nt4CertificateServer)
        {
            s.r.problem_with_help(
                name.span,
                format!("`{ca}` is not an NT 4.0 Certificate Server"),
                "only class = \"nt4-certificate-server\" is upgraded in place",
            );
            return None;
        }
        Action::UpgradeCa { ca }
    })
}

pub(super) fn install_part(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let host = s.table.text("host")?;
        s.r.reference(&host, "host", s.context.host_names)
            .then_some(())?;
        let part = s.table.text("part")?;
        Action::InstallPart {
            host: HostName::new(host.value),
            part: installed_part(s.r, &part)?,
        }
    })
}
