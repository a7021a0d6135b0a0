//! Host administration: installing parts (Certificate Services, Web Enrollment Support,
//! fixes), two-way trusts between domains (KM-03) and upgrading an NT 4.0 CA host to Windows
//! 2000 (OPS-03).

use model::{Named, Outcome};
use report::{Detail, Record};

use super::new_record;
use crate::error::{StepError, StepResult, Thing};
use crate::world::World;

/// Converts an NT 4.0 CA to a Windows 2000 stand-alone CA in place (OPS-03).
pub(super) fn upgrade_ca(world: &mut World, ca: &model::CaName) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    let spec = world.ca_spec(ca)?.clone();
    let host_name = spec
        .host
        .clone()
        .ok_or_else(|| StepError::missing(Thing::CaHost, ca))?;
    let in_hierarchy = world.scenario.topology.cas.iter().any(
        |other| matches!(&other.role, scenario::CaRole::Subordinate { parent } if parent == ca),
    ) || spec.role != scenario::CaRole::Root;
    let attached = world.km.attached_to(ca);
    let on_km_host = attached.iter().any(|km| {
        world
            .scenario
            .topology
            .km_server(km)
            .is_some_and(|spec| spec.host == host_name)
    });
    if in_hierarchy || !on_km_host {
        // OPS-03: only a CA outside any hierarchy, on the KM host, is converted in place.
        record.outcome = Outcome::Error(None);
        record.reason = Some("cannot-convert".into());
        record.details.push(Detail::text(
            "converted",
            if in_hierarchy {
                "no: the CA is part of a hierarchy"
            } else {
                "no: the CA is not on the KM server's host"
            },
        ));
        return Ok(record);
    }
    let web_enrollment = world
        .hosts
        .get(&host_name)
        .is_some_and(model::Host::has_web_enrollment_support);
    if let Some(host) = world.hosts.get_mut(&host_name) {
        host.os = model::Os::W2k;
    }
    world.pki.ca_mut(ca)?.upgrade_to_w2k();
    record.details.push(Detail::text(
        "converted",
        format!("{ca} is now a Windows 2000 stand-alone CA on {host_name}; its database was kept"),
    ));
    if !web_enrollment {
        record.warn("km-lost-ca");
        record.details.push(Detail::list("km-servers", attached.iter().map(|km| format!("{km} lost its CA: Web Enrollment Support was not installed before the upgrade")).collect()));
        for km in &attached {
            world.km.server_mut(km)?.lose_ca();
        }
    } else {
        record.details.push(Detail::list(
            "km-servers",
            attached
                .iter()
                .map(|km| format!("{km} keeps its CA"))
                .collect(),
        ));
    }
    Ok(record)
}

/// Installs a part on a host.
pub(super) fn install_part(
    world: &mut World,
    host: &model::HostName,
    part: &model::InstalledPart,
) -> StepResult {
    let mut record = new_record(world, format!("admin@{host}"));
    let entry = world
        .hosts
        .get_mut(host)
        .ok_or_else(|| StepError::missing(Thing::Host, host))?;
    if !entry.installed.contains(part) {
        entry.installed.push(*part);
    }
    record.details.push(Detail::text("installed", part.name()));
    Ok(record)
}

/// Sets up a two-way trust between two domains (KM-03).
pub(super) fn add_trust(world: &mut World, domain: &str, with: &str) -> Record {
    let mut record = new_record(world, format!("admin@{domain}"));
    if !world.two_way_trust(domain, with) {
        world
            .added_trusts
            .push((domain.to_owned(), with.to_owned()));
    }
    record.details.push(Detail::text(
        "trust",
        format!("{domain} ↔ {with}, both ways"),
    ));
    record
}
