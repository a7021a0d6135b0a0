//! KM server administration and enrollment steps.

use km::{KmContext, Token, V3Facts, check_enable_v3};
use model::{CertifiedKey, KeyGeneration, KmName, Named, Outcome, UserName};
use pki::{CaKind, CertificateInfo, private_key_der};
use report::{Detail, Record};
use scenario::TokenChoice;

use super::{new_record, refuse};
use crate::book::certificate_line;
use crate::world::World;

fn km_context_parts<'w>(
    world: &'w mut World,
    km: &KmName,
) -> Result<(&'w mut km::KmServer, KmContext<'w>), String> {
    let spec = world
        .scenario
        .topology
        .km_server(km)
        .ok_or_else(|| format!("no KM server {km}"))?;
    let ca_name = spec.ca.clone();
    let root = world.root_certificate(&ca_name);
    let now = world.clock.now();
    let server = world
        .kms
        .get_mut(km)
        .ok_or_else(|| format!("KM server {km} is not installed"))?;
    let ca = world
        .cas
        .get_mut(&ca_name)
        .ok_or_else(|| format!("CA {ca_name} is not installed"))?;
    let context = KmContext {
        ca,
        keys: &world.keys,
        now,
        directory: &mut world.directory,
        root,
    };
    Ok((server, context))
}

/// Gathers what the KM server checks before enabling advanced security.
fn v3_facts<'w>(world: &'w World, km: &KmName) -> Result<V3Facts<'w>, String> {
    let topology = &world.scenario.topology;
    let spec = topology
        .km_server(km)
        .ok_or_else(|| format!("no KM server {km}"))?;
    let ca_spec = topology
        .ca(&spec.ca)
        .ok_or_else(|| format!("no CA {}", spec.ca))?;
    let km_host = topology
        .host(&spec.host)
        .ok_or_else(|| format!("no host {}", spec.host))?;
    let ca_host_name = ca_spec
        .host
        .as_ref()
        .ok_or_else(|| format!("CA {} has no host", ca_spec.name))?;
    let ca_host = topology
        .host(ca_host_name)
        .ok_or_else(|| format!("no host {ca_host_name}"))?;
    let ca = world
        .cas
        .get(&spec.ca)
        .ok_or_else(|| format!("CA {} is not installed", spec.ca))?;
    let chain_names = world.chain_names(&spec.ca);
    let chain: Vec<CertificateInfo> = chain_names
        .iter()
        .map_while(|name| world.cas.get(name).and_then(|ca| ca.info()).cloned())
        .collect();
    let complete = chain.len() == chain_names.len();
    let root = world.root_certificate(&spec.ca);
    let root_trusted = root.as_ref().is_some_and(|root| {
        world
            .host_roots
            .get(&spec.host)
            .is_some_and(|store| store.contains(root))
    });
    let third_party_root = chain_names
        .last()
        .and_then(|root| topology.ca(root))
        .is_some_and(|root| root.kind == CaKind::ThirdParty);
    Ok(V3Facts {
        product: spec.product,
        km_host,
        km_domain: topology.domain(&km_host.domain),
        ca_host,
        ca_domain: topology.domain(&ca_host.domain),
        two_way_trust: topology.two_way_trust(&km_host.domain, &ca_host.domain),
        ca_name: ca_spec.name.as_str(),
        ca_kind: ca_spec.kind,
        ca_pending: ca.is_pending() || !complete,
        policy: ca.policy(),
        key_origin: ca_spec.key_origin,
        hash: ca_spec.hash,
        shared_folder: &ca_spec.shared_folder,
        configuration_directory: spec.configuration_directory.as_deref(),
        mapped_drive: !world.dropped_mappings.contains(km),
        installer_writes_directory: ca_spec.installer_writes_directory,
        chain: if complete { chain } else { Vec::new() },
        root_trusted,
        third_party_root,
        issued_not_after: ca
            .issued_not_after(world.clock.now())
            .map(|(not_after, _)| not_after),
        now: world.clock.now(),
    })
}

pub(super) fn enable_v3(world: &mut World, km: &KmName) -> Result<Record, String> {
    let mut record = new_record(world, format!("admin@{km}"), "enable-v3");
    let facts = v3_facts(world, km)?;
    let check = check_enable_v3(&facts);
    let chain: Vec<String> = facts
        .chain
        .iter()
        .map(|info| format!("{} (issuer {})", info.subject, info.issuer))
        .collect();
    let ca_line = format!(
        "{} ({}, {} policy module)",
        facts.ca_name,
        facts.ca_kind.name(),
        facts.policy.name()
    );
    record.details.push(Detail::text("ca", ca_line));
    if !chain.is_empty() {
        record.details.push(Detail::list("chain", chain));
    }
    if !check.warnings.is_empty() {
        record.details.push(Detail::list(
            "warnings",
            check
                .warnings
                .iter()
                .map(|w| format!("{}: {}", w.reason, w.message))
                .collect(),
        ));
    }
    if let Some(first) = check.problems.first() {
        record.outcome = Outcome::Error(Some(first.error.to_owned()));
        record.reason = Some(first.reason.to_owned());
        record.details.push(Detail::list(
            "problems",
            check
                .problems
                .iter()
                .map(|p| format!("{} {}: {}", p.error, p.reason, p.message))
                .collect(),
        ));
        return Ok(record);
    }
    let (server, mut context) = km_context_parts(world, km)?;
    let enabled = server.enable_v3(&mut context).map_err(|e| e.to_string())?;
    let certificate = server
        .certificate()
        .cloned()
        .ok_or("no KM certificate after enable-v3")?;
    world.book.add(&certificate, km.to_string());
    let revoked = if enabled.revoked {
        ", revoked by the CA right after issue"
    } else {
        ""
    };
    record.details.push(Detail::text(
        "km-certificate",
        format!(
            "{km} (serial {}, subject {}{revoked})",
            enabled.info.serial, enabled.info.subject
        ),
    ));
    if let Some(warning) = check.warnings.first() {
        record.outcome = Outcome::Warning;
        record.reason = Some(warning.reason.to_owned());
    } else if enabled.revoked {
        // CA-11: the Exchange policy module revokes the KM server's own certificate at once;
        // user certificates are still issued, so this is information, not an error.
        record.outcome = Outcome::Info;
        record.reason = Some("km-certificate-revoked".to_owned());
    }
    Ok(record)
}

pub(super) fn drop_drive_mapping(world: &mut World, km: &KmName) -> Record {
    let mut record = new_record(world, format!("admin@{km}"), "drop-drive-mapping");
    if !world.dropped_mappings.contains(km) {
        world.dropped_mappings.push(km.clone());
    }
    let directory = world
        .scenario
        .topology
        .km_server(km)
        .and_then(|spec| spec.configuration_directory.clone())
        .unwrap_or_else(|| "not set".to_owned());
    record.details.push(Detail::text(
        "configuration-directory",
        format!("{directory} (no longer mapped)"),
    ));
    record
}

pub(super) fn enable_user(
    world: &mut World,
    km: &KmName,
    user: &UserName,
) -> Result<Record, String> {
    let mut record = new_record(world, format!("admin@{km}"), "enable-user");
    let mailbox = world
        .directory
        .entry(user)
        .map(|entry| entry.mailbox_dn.clone())
        .unwrap_or_default();
    let (server, mut context) = km_context_parts(world, km)?;
    let token = server
        .enable_user(user, &mut context)
        .map_err(|e| e.to_string())?;
    record.details.push(Detail::text("user", user.to_string()));
    record.details.push(Detail::text("mailbox", mailbox));
    record
        .details
        .push(Detail::text("token", token.to_string()));
    world.tokens.insert(user.clone(), token);
    Ok(record)
}

pub(super) fn enroll(
    world: &mut World,
    km: &KmName,
    user: &UserName,
    choice: TokenChoice,
) -> Result<Record, String> {
    let record = new_record(world, user.to_string(), "enroll");
    let client = world
        .users
        .get(user)
        .ok_or_else(|| format!("no user {user}"))?;
    if !client.profile().enrolls_with_km {
        return Ok(refuse(record, "client-cannot-enroll"));
    }
    let token = match choice {
        TokenChoice::Issued => match world.tokens.get(user) {
            Some(token) => token.clone(),
            None => return Ok(refuse(record, "no-token-issued")),
        },
        TokenChoice::Wrong => Token::typed("WRNG-TKEN-0000"),
    };
    // The client generates its own signing key pair; the KM server only sees the public half.
    let signing_generation = KeyGeneration::new(client.signing_keys.len() as u32 + 1);
    let (signing_key, _) = world
        .keys
        .key(&format!("user:{user}:sign:{signing_generation}"), 2048)
        .map_err(|e| e.to_string())?;
    let (server, mut context) = km_context_parts(world, km)?;
    let enrollment = match server.enroll(user, &token, &signing_key.to_public_key(), &mut context) {
        Ok(Ok(enrollment)) => enrollment,
        Ok(Err(refusal)) => return Ok(refuse(record, refusal.reason())),
        Err(error) => return Err(error.to_string()),
    };
    let generation = enrollment.encryption.generation;
    world.book.add(
        &enrollment.encryption.certificate,
        format!("{user} enc#{generation}"),
    );
    world.book.add(
        &enrollment.signing_certificate,
        format!("{user} sign#{signing_generation}"),
    );
    let mut record = record;
    record
        .details
        .push(Detail::text("generation", generation.to_string()));
    record.details.push(Detail::text(
        "encryption-certificate",
        certificate_line(&enrollment.encryption.certificate),
    ));
    record.details.push(Detail::text(
        "signing-certificate",
        certificate_line(&enrollment.signing_certificate),
    ));
    let root_label = enrollment
        .root
        .as_ref()
        .and_then(|root| world.book.label(root))
        .unwrap_or("an unknown root")
        .to_owned();
    record
        .details
        .push(Detail::text("trusted-root", root_label));
    let client = world
        .users
        .get_mut(user)
        .ok_or_else(|| format!("no user {user}"))?;
    client.add_encryption_key(enrollment.encryption);
    client.signing_keys.push(CertifiedKey {
        generation: signing_generation,
        certificate: enrollment.signing_certificate,
        key: private_key_der(&signing_key).map_err(|e| e.to_string())?,
    });
    if let Some(root) = enrollment.root {
        client.trust_root(root);
    }
    Ok(record)
}
