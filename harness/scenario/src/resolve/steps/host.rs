//! Resolving the steps of one area: hosts: installed parts and operating system upgrades.

use model::HostName;
use pki::CaKind;

use super::super::installed_part;
use super::StepResolver;
use crate::types::{Action, CaSpec};

pub(super) fn upgrade_ca(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    Some({
        let nt4 = |spec: &CaSpec| spec.kind == CaKind::Nt4CertificateServer;
        let ca = s.ca_that("ca", nt4, |ca| {
            (
                format!("`{ca}` is not an NT 4.0 Certificate Server"),
                Some("only class = \"nt4-certificate-server\" is upgraded in place"),
            )
        })?;
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
