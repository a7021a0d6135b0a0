//! Certification authority administration: settings and restarts, subordinate installation,
//! direct requests, revocation and CRLs, trusted roots and trust lists.

use model::{CaName, CertificateDer, CertifiedKey, KmName, Named, Outcome, Serial, UserName};
use pki::{
    CertificateInfo, CertificatePurpose, CertificateRequest, CertificateVersion, CrlInfo,
    NameAttribute, ValiditySetting, build_name, private_key_der,
};
use pki::{PolicyModule, ValidityPeriod};
use report::{Detail, Record};
use scenario::{RequestPurpose, RevokeTarget, RootStore};

use super::{TrustListChange, new_record, refuse};
use crate::book::certificate_line;
use crate::error::{StepError, StepResult, Thing};
use crate::world::{Backup, KeyKind, World};

/// Changes a CA's registry settings or policy module; they are in force after a restart.
pub(super) fn configure(
    world: &mut World,
    ca: &CaName,
    period: Option<ValidityPeriod>,
    units: Option<u32>,
    policy: Option<PolicyModule>,
) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    let authority = world.pki.ca_mut(ca)?;
    let current = authority.validity();
    let validity = (period.is_some() || units.is_some()).then(|| ValiditySetting {
        period: period.unwrap_or(current.period),
        units: units.unwrap_or(current.units),
    });
    authority.configure(validity, policy);
    record
        .details
        .push(Detail::list("pending", pending_lines(authority)));
    record
        .details
        .push(Detail::text("in-force", in_force(authority)));
    Ok(record)
}

/// Restarts certificate services: pending settings come into force.
pub(super) fn restart(world: &mut World, ca: &CaName) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    let authority = world.pki.ca_mut(ca)?;
    let (validity, policy) = authority.restart();
    let mut applied = Vec::new();
    if let Some(validity) = validity {
        applied.push(format!("validity {validity}"));
    }
    if let Some(policy) = policy {
        applied.push(format!("policy module {}", policy.name()));
    }
    record.details.push(Detail::list("applied", applied));
    record
        .details
        .push(Detail::text("in-force", in_force(authority)));
    Ok(record)
}

/// Publishes a CA's next CRL.
pub(super) fn publish_crl(world: &mut World, ca: &CaName) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    let now = world.now();
    let crl = match world.pki.ca_mut(ca)?.publish_crl(now) {
        Ok(crl) => crl,
        Err(error) => return Ok(refuse(record, error.reason())),
    };
    let info = CrlInfo::parse(&crl)?;
    describe_crl(world, &info, &mut record);
    Ok(record)
}

/// A client downloads a CA's newest CRL.
pub(super) fn fetch_crl(world: &mut World, user: &UserName, ca: &CaName) -> StepResult {
    let mut record = new_record(world, user.to_string());
    let Some(crl) = world
        .pki
        .cas
        .get(ca)
        .and_then(|authority| authority.latest_crl())
        .cloned()
    else {
        return Ok(refuse(record, "no-crl-published"));
    };
    let info = CrlInfo::parse(&crl)?;
    describe_crl(world, &info, &mut record);
    world.clients.user_mut(user)?.add_crl(crl);
    Ok(record)
}

/// Adds a root to a host's or a client's trusted root store.
pub(super) fn install_root(world: &mut World, ca: &CaName, store: &RootStore) -> StepResult {
    let actor = match store {
        RootStore::Host(host) => format!("admin@{host}"),
        RootStore::User(user) => user.to_string(),
    };
    let mut record = new_record(world, actor);
    let Some(root) = world.pki.installed_certificate(ca) else {
        return Ok(refuse(record, "ca-pending"));
    };
    let where_ = match store {
        RootStore::Host(host) => {
            world.pki.trust_root_on_host(host, root);
            format!("host {host}")
        }
        RootStore::User(user) => {
            world.clients.user_mut(user)?.trust_root(root);
            format!("client of {user}")
        }
    };
    record.details.push(Detail::text("store", where_));
    record.details.push(Detail::text("root", ca.to_string()));
    Ok(record)
}

/// Adds a CA to the organisation's certificate trust list, or removes it, and signs the list
/// again with the root of the KM server's hierarchy (KM-15).
pub(super) fn change_trust_list(
    world: &mut World,
    ca: &CaName,
    km: &KmName,
    change: TrustListChange,
) -> StepResult {
    let adding = change == TrustListChange::Add;
    let mut record = new_record(world, format!("admin@{km}"));
    let Some(certificate) = world.pki.installed_certificate(ca) else {
        return Ok(refuse(record, "ca-pending"));
    };
    let changed = if adding {
        world.pki.trust_list.add(certificate)
    } else {
        world.pki.trust_list.remove(&certificate)
    };
    if !changed {
        let reason = if adding {
            "already-listed"
        } else {
            "not-listed"
        };
        return Ok(refuse(record, reason));
    }
    let spec = world
        .scenario
        .topology
        .km_server(km)
        .ok_or_else(|| StepError::missing(Thing::KmServer, km))?;
    let signer_name = world
        .pki
        .chain_names(&spec.ca)
        .pop()
        .ok_or_else(|| StepError::missing(Thing::Ca, &spec.ca))?;
    let signer = world.pki.ca(&signer_name)?;
    let signed = match world.pki.trust_list.sign(signer, world.clock.now()) {
        Ok(signed) => signed,
        Err(pki::PkiError::Pending(_)) => return Ok(refuse(record, "ca-pending")),
        Err(error) => return Err(error.into()),
    };
    world.pki.signed_trust_list = Some(signed);
    record.details.push(Detail::text(
        "sequence",
        world.pki.trust_list.sequence.to_string(),
    ));
    let trusted = world
        .pki
        .trust_list
        .certificates
        .iter()
        .map(|c| world.pki.book.label(c).unwrap_or("unknown").to_owned())
        .collect();
    record.details.push(Detail::list("trusted", trusted));
    record
        .details
        .push(Detail::text("signed-by", signer_name.to_string()));
    Ok(record)
}

fn pending_lines(authority: &pki::CertificationAuthority) -> Vec<String> {
    let (validity, policy) = authority.pending_settings();
    let mut lines = Vec::new();
    if let Some(validity) = validity {
        lines.push(format!("validity {validity} (after restart)"));
    }
    if let Some(policy) = policy {
        lines.push(format!("policy module {} (after restart)", policy.name()));
    }
    lines
}

fn in_force(authority: &pki::CertificationAuthority) -> String {
    format!(
        "validity {}, policy module {}",
        authority.validity(),
        authority.policy().name()
    )
}

pub(super) fn install_ca_certificate(
    world: &mut World,
    ca: &model::CaName,
    supply_root: bool,
) -> StepResult {
    let spec = world.ca_spec(ca)?.clone();
    let actor = spec
        .host
        .as_ref()
        .map_or_else(|| "admin".to_owned(), |host| format!("admin@{host}"));
    let mut record = new_record(world, actor);
    let scenario::CaRole::Subordinate { parent } = &spec.role else {
        return Ok(refuse(record, "not-a-subordinate"));
    };
    let request = {
        let authority = world.pki.ca(ca)?;
        if !authority.is_pending() {
            return Ok(refuse(record, "not-pending"));
        }
        authority.subordinate_request()
    };
    let Some(root) = world.pki.root_certificate(parent) else {
        return Ok(refuse(record, "parent-pending"));
    };
    let host = spec.host.clone();
    let root_present = host.as_ref().is_none_or(|host| {
        world
            .pki
            .host_roots
            .get(host)
            .is_some_and(|store| store.contains(&root))
    });
    if !root_present && !supply_root {
        // CA-10: the signed certificate cannot be installed without its root.
        record.outcome = Outcome::Error(None);
        record.reason = Some("root-certificate-missing".into());
        record.details.push(Detail::text("root", format!("the root above {parent} is not in the host's trusted root store; supply it in the same step")));
        return Ok(record);
    }
    let now = world.now();
    let parent_ca = world.pki.ca_mut(parent)?;
    let (certificate, cut) = match parent_ca.sign_subordinate(&request, now) {
        Ok(signed) => signed,
        Err(error) => return Ok(refuse(record, error.reason())),
    };
    world
        .pki
        .ca_mut(ca)?
        .install_certificate(certificate.clone())?;
    world.pki.book.add(&certificate, ca.to_string());
    if let Some(host) = &host {
        world.pki.trust_root_on_host(host, root.clone());
    }
    record
        .details
        .push(Detail::text("certificate", certificate_line(&certificate)));
    record.details.push(Detail::text(
        "root",
        world.pki.book.label(&root).unwrap_or("unknown").to_owned(),
    ));
    if cut {
        record.warn("root-expires-first");
    }
    Ok(record)
}

pub(super) fn request_certificate(
    world: &mut World,
    ca: &model::CaName,
    user: Option<&model::UserName>,
    purpose: RequestPurpose,
    version: CertificateVersion,
) -> StepResult {
    let actor = user.map_or_else(|| format!("admin@{ca}"), ToString::to_string);
    let mut record = new_record(world, actor);
    world.pki.direct_requests += 1;
    let (request, key) = direct_request(world, user, purpose, version)?;
    let now = world.now();
    let authority = world.pki.ca_mut(ca)?;
    let issued = match authority.issue(&request, now) {
        Ok(issued) => issued,
        Err(pki::IssueError::Pki(error)) => return Err(error.into()),
        Err(refused) => {
            let mut refused_record = refuse(record, refused.reason());
            refused_record
                .details
                .push(Detail::text("purpose", purpose.name()));
            return Ok(refused_record);
        }
    };
    record
        .details
        .push(Detail::text("certificate", certificate_line(&issued.der)));
    record
        .details
        .push(Detail::text("serial", issued.serial.to_string()));
    record.details.push(Detail::text("version", version.name()));
    if version == CertificateVersion::V3 {
        let info = CertificateInfo::parse(&issued.der)?;
        let cdp = info
            .crl_distribution_points
            .first()
            .cloned()
            .unwrap_or_else(|| "none".to_owned());
        record.details.push(Detail::text("cdp", cdp));
    }
    match user {
        Some(user) => hand_over(world, ca, user, purpose, &issued.der, &key)?,
        None => world.pki.book.add(
            &issued.der,
            format!("server certificate #{}", world.pki.direct_requests),
        ),
    }
    Ok(record)
}
/// What a direct request asks for: a user's (or, without a user, the mail server's) subject
/// and a fresh key of the user's size.
fn direct_request(
    world: &mut World,
    user: Option<&model::UserName>,
    purpose: RequestPurpose,
    version: CertificateVersion,
) -> Result<(CertificateRequest, pki::RsaPrivateKey), StepError> {
    let topology = &world.scenario.topology;
    let (subject, email, role) = match user {
        Some(user) => {
            let client = world.clients.user(user)?;
            let spec = topology
                .user(user)
                .ok_or_else(|| StepError::missing(Thing::User, user))?;
            let subject = build_name(&[
                NameAttribute::Organization(&topology.organisation),
                NameAttribute::OrganizationalUnit(spec.site.as_str()),
                NameAttribute::CommonName(user.as_str()),
                NameAttribute::Email(client.email.as_str()),
            ])?;
            (
                subject,
                Some(client.email.to_string()),
                format!("user:{user}:direct:{}", world.pki.direct_requests),
            )
        }
        None => {
            let host = format!("mail.{}", topology.mail_domain);
            let subject = build_name(&[
                NameAttribute::Organization(&topology.organisation),
                NameAttribute::CommonName(&host),
            ])?;
            (
                subject,
                None,
                format!("server:{}", world.pki.direct_requests),
            )
        }
    };
    let key_bits = user.map_or(clients::DEFAULT_KEY_BITS as usize, |user| {
        world.clients.key_bits(user)
    });
    let (key, _) = world.pki.keys.key(&role, key_bits)?;
    let certificate_purpose = match purpose {
        RequestPurpose::SmimeEncryption => CertificatePurpose::SmimeEncryption,
        RequestPurpose::SmimeSigning => CertificatePurpose::SmimeSigning,
        RequestPurpose::TlsServer => CertificatePurpose::TlsServer,
    };
    let request = CertificateRequest {
        subject,
        email,
        public_key: key.to_public_key(),
        purpose: certificate_purpose,
        version,
    };
    Ok((request, key))
}

/// Hands a directly issued certificate to the user who asked: the client keeps the only copy
/// of the key (KM-11), trusts the CA's root, and an encryption certificate is published.
fn hand_over(
    world: &mut World,
    ca: &CaName,
    user: &model::UserName,
    purpose: RequestPurpose,
    issued: &CertificateDer,
    key: &pki::RsaPrivateKey,
) -> Result<(), StepError> {
    // Taken straight from the CA: the client holds the only copy of the key (KM-11).
    let kind = if purpose == RequestPurpose::SmimeSigning {
        KeyKind::Signing
    } else {
        KeyKind::Encryption
    };
    let generation = world.clients.next_generation(user, kind);
    world.clients.use_generation(user, kind, generation);
    let client = world.clients.user_mut(user)?;
    let private = private_key_der(key)?;
    let (label, certified) = if purpose == RequestPurpose::SmimeSigning {
        client.signing_keys.push(CertifiedKey {
            generation,
            certificate: issued.clone(),
            key: private,
        });
        (format!("{user} sign#{generation}"), None)
    } else {
        let certified = CertifiedKey {
            generation,
            certificate: issued.clone(),
            key: private,
        };
        client.add_encryption_key(certified.clone());
        (format!("{user} enc#{generation}"), Some(certified))
    };
    if let Some(root) = world.pki.root_certificate(ca) {
        if let Some(client) = world.clients.users.get_mut(user) {
            client.trust_root(root);
        }
    }
    if certified.is_some() {
        world
            .km
            .directory
            .publish_encryption_certificate(user, issued.clone());
    }
    world.pki.book.add(issued, label);
    Ok(())
}

pub(super) fn revoke(world: &mut World, ca: &model::CaName, target: &RevokeTarget) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    let certificate = match target {
        RevokeTarget::User { user, certificate } => {
            let client = world.clients.user(user)?;
            let keys = if certificate.encryption {
                &client.encryption_keys
            } else {
                &client.signing_keys
            };
            match keys
                .iter()
                .find(|key| key.generation == certificate.generation)
            {
                Some(key) => key.certificate.clone(),
                None => return Ok(refuse(record, "no-such-certificate")),
            }
        }
        RevokeTarget::KmServer(km) => {
            match world
                .km
                .servers
                .get(km)
                .and_then(|server| server.certificate())
            {
                Some(certificate) => certificate.clone(),
                None => return Ok(refuse(record, "no-such-certificate")),
            }
        }
    };
    let serial = CertificateInfo::parse(&certificate)?.serial;
    let now = world.now();
    let authority = world.pki.ca_mut(ca)?;
    if let Err(error) = authority.revoke(&serial, now) {
        return Ok(refuse(
            record,
            match error {
                pki::RevokeError::NotIssued => "not-issued-by-this-ca",
                pki::RevokeError::AlreadyRevoked => "already-revoked",
            },
        ));
    }
    record.details.push(Detail::text(
        "certificate",
        world
            .pki
            .book
            .label(&certificate)
            .unwrap_or("unknown")
            .to_owned(),
    ));
    record
        .details
        .push(Detail::text("serial", serial.to_string()));
    Ok(record)
}

fn describe_crl(world: &World, info: &CrlInfo, record: &mut Record) {
    record.details.push(Detail::text(
        "crl-number",
        info.number.map_or("none".to_owned(), |n| n.to_string()),
    ));
    record
        .details
        .push(Detail::text("issuer", info.issuer.clone()));
    record
        .details
        .push(Detail::text("this-update", info.this_update.to_string()));
    if let Some(next) = info.next_update {
        record
            .details
            .push(Detail::text("next-update", next.to_string()));
    }
    let revoked = info
        .revoked
        .iter()
        .map(|entry| revoked_line(world, &entry.serial, entry.revoked_at))
        .collect();
    record.details.push(Detail::list("revoked", revoked));
}

fn revoked_line(world: &World, serial: &Serial, at: model::Timestamp) -> String {
    let label = world
        .pki
        .cas
        .values()
        .flat_map(|ca| ca.issued())
        .find(|issued| &issued.serial == serial)
        .and_then(|issued| world.pki.book.label(&issued.der))
        .unwrap_or("unknown");
    format!("{label} (serial {serial}, revoked {at})")
}

/// Takes a copy of a CA's whole state under a name.
pub(super) fn backup_ca(world: &mut World, ca: &model::CaName, name: &str) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    let state = world.pki.ca(ca)?.clone();
    record.details.push(Detail::text("backup", name));
    world.backups.insert(
        name.to_owned(),
        Backup::Ca {
            ca: ca.clone(),
            state: Box::new(state),
        },
    );
    Ok(record)
}

/// Puts a CA back as a backup left it, and reports where the KM databases attached to it
/// now disagree with it (OPS-01).
pub(super) fn restore_ca(world: &mut World, ca: &model::CaName, from: &str) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    let state = match world.backups.get(from) {
        Some(Backup::Ca { ca: owner, state }) if owner == ca => state.clone(),
        Some(_) => return Ok(refuse(record, "not-a-backup-of-this-ca")),
        None => return Ok(refuse(record, "no-such-backup")),
    };
    world.pki.cas.insert(ca.clone(), *state);
    record.details.push(Detail::text("restored", from));
    let attached = world.km.attached_to(ca);
    super::km::note_divergence(world, &mut record, &attached)?;
    Ok(record)
}

/// Grants a certificate-template permission on an enterprise CA (KM-17); the KM server's
/// next request no longer lacks it.
pub(super) fn grant_template_permission(
    world: &mut World,
    ca: &CaName,
    permission: ::pki::TemplatePermission,
) -> StepResult {
    let mut record = new_record(world, format!("admin@{ca}"));
    if !world.pki.cas.contains_key(ca) {
        return Err(StepError::missing(Thing::Ca, ca));
    }
    let grant = (ca.clone(), permission);
    if !world.granted_templates.contains(&grant) {
        world.granted_templates.push(grant);
    }
    record
        .details
        .push(Detail::text("permission", permission.name()));
    Ok(record)
}
