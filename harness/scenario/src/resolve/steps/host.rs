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

pub(super) fn add_trust(s: &mut StepResolver<'_, '_>) -> Option<Action> {
    let domain = s.table.text("domain")?;
    let with = s.table.text("with")?;
    let known = s.r.reference(&domain, "domain", s.context.domain_names)
        & s.r.reference(&with, "domain", s.context.domain_names);
    if known && domain.value.eq_ignore_ascii_case(with.value) {
        s.r.problem_with_help(
            with.span.clone(),
            format!("`{}` is the same domain", with.value),
            "a trust joins two different domains",
        );
        return None;
    }
    known.then(|| Action::AddTrust {
        domain: domain.value.to_owned(),
        with: with.value.to_owned(),
    })
}
