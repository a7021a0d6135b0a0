//! KM server administration, enrollment, recovery, modes, moves, export and import, backups,
//! restores and forklifts.

use km::{KmContext, KmServer, Refusal, Token, V3Facts, check_enable_v3};
use model::{CertifiedKey, KmName, Named, Outcome, UserName};
use pki::{CaKind, CertificateInfo, TemplatePermission, private_key_der};
use report::{Detail, Record};
use scenario::{RestoreSource, SectoolOperation, TokenChoice};
use smime::mime::{Entity, SmimeType, classify, pkcs7_mime_entity};
use smime::structure::{CmsSummary, summarize};
use smime::{CallContext, Decryption, EnvelopeRequest, Recipient};

use super::{new_record, refuse};
use crate::book::certificate_line;
use crate::error::{StepError, StepResult, Thing};
use crate::world::{Backup, KeyKind, RewrittenBy, World, database_path};

/// Records a KM refusal: `refused`, or `error <id>` when the product has an identifier for it.
fn refused(mut record: Record, refusal: &Refusal) -> Record {
    record.outcome = match refusal.error_id() {
        Some(id) => Outcome::Error(Some(id.to_owned())),
        None => Outcome::Refused,
    };
    record.reason = Some(refusal.reason().to_owned());
    if let Some(explanation) = refusal.explanation() {
        record.details.push(Detail::text("problem", explanation));
    }
    record
}

/// The KM server an administrator's action for `user` goes to (the one named, else the one
/// serving the user's site) with the action's record; or the refused record when there is no
/// such server or it cannot act.
fn admin_action(
    world: &World,
    km: Option<&KmName>,
    user: &UserName,
) -> Result<(KmName, Record), Box<Record>> {
    let Some(km) = world.km.resolve(km, user) else {
        return Err(Box::new(refuse(
            new_record(world, "admin"),
            "no-km-server-for-site",
        )));
    };
    let record = new_record(world, format!("admin@{km}"));
    match unavailable(world, &km) {
        Some(refusal) => Err(Box::new(refused(record, &refusal))),
        None => Ok((km, record)),
    }
}

/// Why a KM server cannot act at all right now, if it cannot.
fn unavailable(world: &World, km: &KmName) -> Option<Refusal> {
    if !world.km.servers.contains_key(km) {
        return Some(Refusal::NotInstalled);
    }
    world
        .km
        .servers
        .get(km)
        .is_some_and(KmServer::has_lost_ca)
        .then_some(Refusal::CaLost)
}

/// Why a KM server cannot reach its CA to issue or revoke, if it cannot: once V3 is enabled
/// through a drive mapped to the CA's shared folder, a dropped mapping makes the CA disappear
/// for enrollment, recovery, renewal and revocation as it does for enabling V3 (KM-02).
fn ca_unreachable(world: &World, km: &KmName) -> Result<Option<Refusal>, StepError> {
    let Some(server) = world.km.servers.get(km) else {
        return Ok(None);
    };
    if server.certificate().is_none() || !server.drive_mapping_dropped() {
        return Ok(None);
    }
    let facts = v3_facts(world, km)?;
    Ok(
        km::lost_drive_mapping(&facts).map(|folder| Refusal::DriveMappingDropped {
            folder: folder.to_owned(),
        }),
    )
}

fn km_context_parts<'w>(
    world: &'w mut World,
    km: &KmName,
) -> Result<(&'w mut KmServer, KmContext<'w>), StepError> {
    let ca_name = world
        .km
        .servers
        .get(km)
        .map(|server| server.hierarchy().clone())
        .ok_or_else(|| StepError::missing(Thing::InstalledKmServer, km))?;
    let root = world.pki.root_certificate(&ca_name);
    let now = world.clock.now();
    let product = world
        .km
        .servers
        .get(km)
        .map(|server| server.setup().product);
    let missing_templates: Vec<TemplatePermission> = match (
        product,
        world.pki.cas.get(&ca_name).map(|ca| ca.setup().kind),
    ) {
        (Some(km::Product::Ex2000), Some(CaKind::Enterprise)) => world
            .scenario
            .topology
            .ca(&ca_name)
            .map(|spec| {
                let granted = &world.granted_templates;
                spec.missing_template_permissions
                    .iter()
                    .copied()
                    .filter(|permission| !granted.contains(&(ca_name.clone(), *permission)))
                    .collect()
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    // Borrowed field by field: the server, its CA, the key pool and the directory at once.
    let server = world
        .km
        .servers
        .get_mut(km)
        .ok_or_else(|| StepError::missing(Thing::InstalledKmServer, km))?;
    let ca = world
        .pki
        .cas
        .get_mut(&ca_name)
        .ok_or_else(|| StepError::missing(Thing::Ca, &ca_name))?;
    let context = KmContext {
        ca,
        keys: &world.pki.keys,
        now,
        directory: &mut world.km.directory,
        root,
        missing_templates,
        key_bits: clients::DEFAULT_KEY_BITS as usize,
        first_generation: model::KeyGeneration::new(1),
    };
    Ok((server, context))
}

/// Gathers what the KM server checks before enabling advanced security.
fn v3_facts<'w>(world: &'w World, km: &KmName) -> Result<V3Facts<'w>, StepError> {
    let topology = &world.scenario.topology;
    let spec = topology
        .km_server(km)
        .ok_or_else(|| StepError::missing(Thing::KmServer, km))?;
    let server = world.km.server(km)?;
    let ca_name = server.hierarchy();
    let ca_spec = topology
        .ca(ca_name)
        .ok_or_else(|| StepError::missing(Thing::Ca, ca_name))?;
    let km_host = world
        .hosts
        .get(&spec.host)
        .ok_or_else(|| StepError::missing(Thing::Host, &spec.host))?;
    let ca_host_name = ca_spec
        .host
        .as_ref()
        .ok_or_else(|| StepError::missing(Thing::CaHost, &ca_spec.name))?;
    let ca_host = world
        .hosts
        .get(ca_host_name)
        .ok_or_else(|| StepError::missing(Thing::Host, ca_host_name))?;
    let ca = world.pki.ca(ca_name)?;
    let chain_names = world.pki.chain_names(ca_name);
    let chain: Vec<CertificateInfo> = chain_names
        .iter()
        .map_while(|name| world.pki.cas.get(name).and_then(|ca| ca.info()).cloned())
        .collect();
    let complete = chain.len() == chain_names.len();
    let root = world.pki.root_certificate(ca_name);
    let root_trusted = root.as_ref().is_some_and(|root| {
        world
            .pki
            .host_roots
            .get(&spec.host)
            .is_some_and(|store| store.contains(root))
    });
    let third_party_root = chain_names
        .last()
        .and_then(|root| world.pki.cas.get(root))
        .is_some_and(|root| root.setup().kind == CaKind::ThirdParty);
    Ok(V3Facts {
        product: spec.product,
        km_host,
        km_domain: topology.domain(&km_host.domain),
        ca_host,
        ca_domain: topology.domain(&ca_host.domain),
        two_way_trust: world.two_way_trust(&km_host.domain, &ca_host.domain),
        ca_name: ca_spec.name.as_str(),
        ca_kind: ca.setup().kind,
        ca_pending: ca.is_pending() || !complete,
        policy: ca.policy(),
        key_origin: ca_spec.key_origin,
        hash: ca_spec.hash,
        shared_folder: &ca_spec.shared_folder,
        configuration_directory: server
            .configuration_directory()
            .or(spec.configuration_directory.as_deref()),
        mapped_drive: !server.drive_mapping_dropped(),
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

pub(super) fn enable_v3(world: &mut World, km: &KmName) -> StepResult {
    let mut record = new_record(world, format!("admin@{km}"));
    if let Some(refusal) = unavailable(world, km) {
        return Ok(refused(record, &refusal));
    }
    let facts = v3_facts(world, km)?;
    let check = check_enable_v3(&facts);
    let chain: Vec<String> = facts
        .chain
        .iter()
        .map(|info| format!("{} (issuer {})", info.subject, info.issuer))
        .collect();
    record.details.push(Detail::text(
        "ca",
        format!(
            "{} ({}, {} policy module)",
            facts.ca_name,
            facts.ca_kind.name(),
            facts.policy.name()
        ),
    ));
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
    let enabled = match server.enable_v3(&mut context)? {
        Ok(enabled) => enabled,
        Err(refusal) => return Ok(refused(record, &refusal)),
    };
    let certificate = server.certificate().cloned().ok_or_else(|| {
        StepError::Inconsistent(format!("KM server {km} has no certificate after enable-v3"))
    })?;
    world.pki.book.add(&certificate, km.to_string());
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
    // KM-06: the mode configured for V3 takes effect now; before, only V1 was issued.
    let mode = world
        .scenario
        .topology
        .km_server(km)
        .map_or(km::EnrollmentMode::V1AndV3, |spec| spec.mode);
    if mode != km::EnrollmentMode::V1AndV3 {
        apply_mode(world, km, mode, &mut record)?;
    }
    if let Some(warning) = check.warnings.first() {
        record.warn(warning.reason);
    } else if enabled.revoked && record.outcome != Outcome::Warning {
        // CA-11: the Exchange policy module revokes the KM server's own certificate at once;
        // user certificates are still issued, so this is information, not an error.
        record.outcome = Outcome::Info;
        record.reason = Some("km-certificate-revoked".to_owned());
    }
    Ok(record)
}

pub(super) fn set_configuration_directory(world: &mut World, km: &KmName, path: &str) -> Record {
    let mut record = new_record(world, format!("admin@{km}"));
    // A KM server the topology could not install has no setting to change; the record
    // still says what the administrator did.
    if let Some(server) = world.km.servers.get_mut(km) {
        server.set_configuration_directory(path);
    }
    record
        .details
        .push(Detail::text("configuration-directory", path));
    record
}

pub(super) fn grant_manage_permission(world: &mut World, km: &KmName) -> Record {
    let mut record = new_record(world, format!("admin@{km}"));
    // As for the configuration directory: only an installed KM server has a CA to grant on.
    if let Some(server) = world.km.servers.get_mut(km) {
        server.grant_manage_permission();
        let ca = server.hierarchy().clone();
        record.details.push(Detail::text(
            "permission",
            format!("manage on {ca} for {km}'s administrators"),
        ));
    }
    record
}

pub(super) fn drop_drive_mapping(world: &mut World, km: &KmName) -> Record {
    let mut record = new_record(world, format!("admin@{km}"));
    // As for the configuration directory: only an installed KM server has a mapping.
    if let Some(server) = world.km.servers.get_mut(km) {
        server.drop_drive_mapping();
    }
    // The directory in force: one the administrator set, else the scenario's.
    let directory = world
        .km
        .servers
        .get(km)
        .and_then(|server| server.configuration_directory().map(str::to_owned))
        .or_else(|| {
            world
                .scenario
                .topology
                .km_server(km)
                .and_then(|spec| spec.configuration_directory.clone())
        })
        .unwrap_or_else(|| "not set".to_owned());
    record.details.push(Detail::text(
        "configuration-directory",
        format!("{directory} (no longer mapped)"),
    ));
    record
}

pub(super) fn enable_users(
    world: &mut World,
    km: Option<&KmName>,
    users: &[UserName],
    mail_token: bool,
) -> StepResult {
    let first = users
        .first()
        .ok_or_else(|| StepError::Inconsistent("enable-user names no users".to_owned()))?;
    let (km, mut record) = match admin_action(world, km, first) {
        Ok(found) => found,
        Err(refused) => return Ok(*refused),
    };
    let mut tokens = Vec::new();
    for user in users {
        let mailbox = world
            .km
            .directory
            .entry(user)
            .map(|entry| entry.mailbox_dn.clone())
            .unwrap_or_default();
        let (server, mut context) = km_context_parts(world, &km)?;
        match server.enable_user(user, &mut context)? {
            Ok(token) => {
                if users.len() == 1 {
                    record.details.push(Detail::text("user", user.to_string()));
                    record.details.push(Detail::text("mailbox", mailbox));
                    record
                        .details
                        .push(Detail::text("token", token.to_string()));
                }
                tokens.push(format!("{user}: {token}"));
                if mail_token {
                    mail_welcome(world, &km, user, &token)?;
                }
                world.km.tokens.insert(user.clone(), token);
            }
            Err(refusal) if users.len() == 1 => return Ok(refused(record, &refusal)),
            Err(refusal) => tokens.push(format!("{user}: refused ({})", refusal.reason())),
        }
    }
    if users.len() > 1 {
        record.details.push(Detail::list("tokens", tokens));
    }
    if mail_token {
        // KM-07: a token sent by mail is less secure than one handed over in person.
        record.warn("token-mailed");
        record.details.push(Detail::text("welcome-mail", "sent through the SMTP sink, which is less secure than handing the token over in person"));
    }
    Ok(record)
}

/// The KM server's welcome message carrying the token, delivered through the sink.
fn mail_welcome(
    world: &mut World,
    km: &KmName,
    user: &UserName,
    token: &Token,
) -> Result<(), StepError> {
    let client = world.clients.user(user)?;
    let from = format!("km-admin@{}", world.scenario.topology.mail_domain);
    let headers = smime::mime::MessageHeaders {
        from: from.clone(),
        to: vec![client.email.to_string()],
        subject: "Welcome to Advanced Security".to_owned(),
        date: world.now().to_rfc5322(),
        message_id: format!(
            "welcome.{user}.{}@{}",
            world.mail.sent.len() + 1,
            world.scenario.topology.mail_domain
        ),
    };
    let body = format!(
        "Your administrator on {km} has enabled advanced security for your mailbox.\n\nTemporary key: {token}\n\nIn Outlook, choose Tools > Options > Security > Get a Digital ID and enter the key.\n"
    );
    let message = smime::mime::message(&headers, &smime::mime::text_entity(&body));
    let to = [client.email.to_string()];
    let to: Vec<&str> = to.iter().map(String::as_str).collect();
    clients::submit::submit(
        world.mail.sink.address(),
        "km.kmlab.test",
        &from,
        &to,
        &message,
    )?;
    Ok(())
}

pub(super) fn enroll(
    world: &mut World,
    km: Option<&KmName>,
    user: &UserName,
    choice: TokenChoice,
) -> StepResult {
    let record = new_record(world, user.to_string());
    let client = world.clients.user(user)?;
    if !client.profile().enrolls_with_km {
        return Ok(refuse(record, "client-cannot-enroll"));
    }
    let Some(km) = world.km.resolve(km, user) else {
        return Ok(refuse(record, "no-km-server-for-site"));
    };
    if let Some(refusal) = unavailable(world, &km).or(ca_unreachable(world, &km)?) {
        return Ok(refused(record, &refusal));
    }
    let token = match choice {
        TokenChoice::Issued => match world.km.tokens.get(user) {
            Some(token) => token.clone(),
            None => return Ok(refuse(record, "no-token-issued")),
        },
        TokenChoice::Wrong => Token::typed("WRNG-TKEN-0000"),
    };
    let versions = client.profile().certificate_versions;
    // The client generates its own signing key pair; the KM server only sees the public half.
    let signing_generation = world.clients.next_generation(user, KeyKind::Signing);
    let key_bits = world.clients.key_bits(user);
    let first_generation = world.clients.next_generation(user, KeyKind::Encryption);
    let (signing_key, _) = world
        .pki
        .keys
        .key(&format!("user:{user}:sign:{signing_generation}"), key_bits)?;
    let (server, mut context) = km_context_parts(world, &km)?;
    context.key_bits = key_bits;
    context.first_generation = first_generation;
    let enrollment = match server.enroll(
        user,
        &token,
        &signing_key.to_public_key(),
        versions,
        &mut context,
    ) {
        Ok(Ok(enrollment)) => enrollment,
        Ok(Err(refusal)) => return Ok(refused(record, &refusal)),
        Err(error) => return Err(error.into()),
    };
    let signing = CertifiedKey {
        generation: signing_generation,
        certificate: enrollment.signing_certificate.clone(),
        key: private_key_der(&signing_key)?,
    };
    Ok(deliver_enrollment(world, user, record, enrollment, signing))
}

/// Puts what the KM server returned into the client and describes it.
fn deliver_enrollment(
    world: &mut World,
    user: &UserName,
    mut record: Record,
    enrollment: km::Enrollment,
    signing: CertifiedKey,
) -> Record {
    world
        .clients
        .use_generation(user, KeyKind::Signing, signing.generation);
    let generation = enrollment.encryption.generation;
    for key in enrollment.history.iter().chain([&enrollment.encryption]) {
        world
            .clients
            .use_generation(user, KeyKind::Encryption, key.generation);
    }
    world.pki.book.add(
        &enrollment.encryption.certificate,
        format!("{user} enc#{generation}"),
    );
    world.pki.book.add(
        &signing.certificate,
        format!("{user} sign#{}", signing.generation),
    );
    record
        .details
        .push(Detail::text("generation", generation.to_string()));
    record
        .details
        .push(Detail::text("version", enrollment.version.name()));
    record.details.push(Detail::text(
        "encryption-certificate",
        certificate_line(&enrollment.encryption.certificate),
    ));
    record.details.push(Detail::text(
        "signing-certificate",
        certificate_line(&signing.certificate),
    ));
    let root_label = enrollment
        .root
        .as_ref()
        .and_then(|root| world.pki.book.label(root))
        .unwrap_or("an unknown root")
        .to_owned();
    record
        .details
        .push(Detail::text("trusted-root", root_label));
    // KM-09: the directory entry keeps every encryption certificate the user has had.
    if let Some(entry) = world.km.directory.entry(user) {
        let published = entry
            .encryption_certificates
            .iter()
            .map(|c| world.pki.book.label(c).unwrap_or("unknown").to_owned())
            .collect();
        record.details.push(Detail::list("directory", published));
    }
    if enrollment.recovered {
        let mut recovered: Vec<String> = enrollment
            .history
            .iter()
            .map(|key| format!("enc#{}", key.generation))
            .collect();
        recovered.push(format!("enc#{generation} (new)"));
        record
            .details
            .push(Detail::list("recovered-history", recovered));
    }
    if let Some(client) = world.clients.users.get_mut(user) {
        for key in enrollment.history {
            client.add_encryption_key(key);
        }
        client.add_encryption_key(enrollment.encryption);
        client.encryption_keys.sort_by_key(|key| key.generation);
        client.signing_keys.push(signing);
        if let Some(root) = enrollment.root {
            client.trust_root(root);
        }
    }
    // KM-06: enrolling again (with a V3-capable client) gives security back.
    for server in world.km.servers.values_mut() {
        server.restore_v1_security(user);
    }
    record
}

pub(super) fn recover(world: &mut World, km: Option<&KmName>, user: &UserName) -> StepResult {
    let (km, mut record) = match admin_action(world, km, user) {
        Ok(found) => found,
        Err(refused) => return Ok(*refused),
    };
    let directory = world.km.directory.clone();
    let (server, mut context) = km_context_parts(world, &km)?;
    let history = server.recoverable_history(user, &directory)?;
    match server.recover(user, &mut context)? {
        Ok(token) => {
            record.details.push(Detail::text("user", user.to_string()));
            record
                .details
                .push(Detail::text("token", token.to_string()));
            record.details.push(Detail::list(
                "history",
                history
                    .iter()
                    .map(|key| format!("enc#{}", key.generation))
                    .collect(),
            ));
            world.km.tokens.insert(user.clone(), token);
            Ok(record)
        }
        Err(refusal) => Ok(refused(record, &refusal)),
    }
}

pub(super) fn lose_keys(world: &mut World, user: &UserName) -> StepResult {
    let mut record = new_record(world, user.to_string());
    let client = world.clients.user_mut(user)?;
    let (encryption, signing) = client.lose_keys();
    let mut lost: Vec<String> = encryption
        .iter()
        .map(|key| format!("enc#{}", key.generation))
        .collect();
    lost.extend(signing.iter().map(|key| format!("sign#{}", key.generation)));
    record.details.push(Detail::list("lost", lost));
    Ok(record)
}

/// A user moves to another mail client; the keys and certificates the old one held move with
/// the user, as an upgrade in place keeps the security file.
pub(super) fn change_client(
    world: &mut World,
    user: &UserName,
    persona: clients::Persona,
    strength: clients::Strength,
) -> StepResult {
    let mut record = new_record(world, user.to_string());
    let client = world.clients.user_mut(user)?;
    record.details.push(Detail::text(
        "client",
        format!(
            "{} ({}) → {} ({})",
            client.persona.name(),
            client.strength.name(),
            persona.name(),
            strength.name()
        ),
    ));
    record
        .details
        .push(Detail::text("strength", strength.name()));
    client.persona = persona;
    client.strength = strength;
    Ok(record)
}

pub(super) fn set_mode(world: &mut World, km: &KmName, mode: km::EnrollmentMode) -> StepResult {
    let record = new_record(world, format!("admin@{km}"));
    if !world.km.servers.contains_key(km) {
        return Ok(refused(record, &Refusal::NotInstalled));
    }
    let mut record = record;
    apply_mode(world, km, mode, &mut record)?;
    Ok(record)
}

/// Puts `mode` in force on `km` and records it; switching to `v3-only` warns, and every
/// enrolled V1-only user loses advanced security, mail encrypted to them included (KM-06).
fn apply_mode(
    world: &mut World,
    km: &KmName,
    mode: km::EnrollmentMode,
    record: &mut Record,
) -> Result<(), StepError> {
    let server = world
        .km
        .servers
        .get_mut(km)
        .ok_or_else(|| StepError::missing(Thing::KmServer, km))?;
    let warning = server.set_mode(mode);
    let enrolled = server.enrolled_users()?;
    record.details.push(Detail::text("mode", mode.name()));
    if let Some(warning) = warning {
        record.warn("legacy-clients-lose-security");
        record.details.push(Detail::text("warning", warning));
    }
    if mode == km::EnrollmentMode::V3Only {
        // KM-06: V1-only clients lose advanced security, including mail encrypted to them.
        let mut lost = Vec::new();
        for user in enrolled {
            let v1_only = world.clients.users.get(&user).is_some_and(|client| {
                !client
                    .profile()
                    .certificate_versions
                    .contains(&pki::CertificateVersion::V3)
            });
            if v1_only {
                lost.push(user.to_string());
                world.km.server_mut(km)?.end_v1_security(&user);
            }
        }
        record
            .details
            .push(Detail::list("lost-advanced-security", lost));
    }
    Ok(())
}

pub(super) fn renew_all(world: &mut World, km: &KmName) -> StepResult {
    let mut record = new_record(world, format!("admin@{km}"));
    if let Some(refusal) = unavailable(world, km).or(ca_unreachable(world, km)?) {
        return Ok(refused(record, &refusal));
    }
    let users = world
        .km
        .servers
        .get(km)
        .map(KmServer::enrolled_users)
        .transpose()?
        .unwrap_or_default();
    let mut renewed = Vec::new();
    let mut refused_users = Vec::new();
    for user in users {
        let Some(client) = world.clients.users.get(&user) else {
            continue;
        };
        let versions = client.profile().certificate_versions;
        let signing_generation = world.clients.next_generation(&user, KeyKind::Signing);
        let key_bits = world.clients.key_bits(&user);
        let first_generation = world.clients.next_generation(&user, KeyKind::Encryption);
        let (signing_key, _) = world
            .pki
            .keys
            .key(&format!("user:{user}:sign:{signing_generation}"), key_bits)?;
        let (server, mut context) = km_context_parts(world, km)?;
        context.key_bits = key_bits;
        context.first_generation = first_generation;
        match server.renew(&user, &signing_key.to_public_key(), versions, &mut context)? {
            Ok(enrollment) => {
                renewed.push(format!(
                    "{user}: enc#{} {}",
                    enrollment.encryption.generation,
                    enrollment.version.name()
                ));
                let signing = CertifiedKey {
                    generation: signing_generation,
                    certificate: enrollment.signing_certificate.clone(),
                    key: private_key_der(&signing_key)?,
                };
                let scratch = new_record(world, user.to_string());
                // The renewal's own record lists every user it renewed; the record each
                // delivery writes is not kept.
                drop(deliver_enrollment(
                    world, &user, scratch, enrollment, signing,
                ));
            }
            Err(refusal) => refused_users.push(refusal_line(&user, &refusal)),
        }
    }
    record.details.push(Detail::list("renewed", renewed));
    if !refused_users.is_empty() {
        record.warn("some-users-not-renewed");
        record.details.push(Detail::list("refused", refused_users));
    }
    Ok(record)
}

pub(super) fn revoke_user(world: &mut World, km: Option<&KmName>, user: &UserName) -> StepResult {
    let (km, mut record) = match admin_action(world, km, user) {
        Ok(found) => found,
        Err(refused) => return Ok(*refused),
    };
    let permission = world
        .scenario
        .topology
        .km_server(&km)
        .is_none_or(|spec| spec.ca_manage_permission)
        || world
            .km
            .servers
            .get(&km)
            .is_some_and(KmServer::has_granted_manage_permission);
    if let Some(refusal) = ca_unreachable(world, &km)? {
        return Ok(refused(record, &refusal));
    }
    let (server, mut context) = km_context_parts(world, &km)?;
    let revocation = match server.revoke_user(user, permission, &mut context)? {
        Ok(revocation) => revocation,
        Err(refusal) => return Ok(refused(record, &refusal)),
    };
    let revoked = revocation
        .revoked
        .iter()
        .map(|serial| serial_label(world, &km, serial))
        .collect();
    record.details.push(Detail::list("revoked", revoked));
    if !revocation.diverged.is_empty() {
        // OPS-01: the KM database says these are revoked, the CA does not; the KM server will
        // not revoke them again, so they stay valid.
        record.warn("km-ca-divergence");
        let labels = revocation
            .diverged
            .iter()
            .map(|serial| serial_label(world, &km, serial))
            .collect();
        record.details.push(Detail::list("diverged", labels));
    }
    if !revocation.already_at_ca.is_empty() {
        // OPS-01, the other way: the CA had revoked these while the KM database counted them
        // as active; the KM database records the revocation now and the two agree again.
        record.warn("km-ca-divergence");
        let labels = revocation
            .already_at_ca
            .iter()
            .map(|serial| {
                format!(
                    "{}: the CA had revoked it while the KM database had it active; the KM database records it now, and the two agree again",
                    serial_label(world, &km, serial)
                )
            })
            .collect();
        record
            .details
            .push(Detail::list("already-revoked-at-ca", labels));
    }
    Ok(record)
}

/// `alice: validity (the CA would issue …)`: a user an operation for many users left out, with
/// the reason word and, where it says more, the administrator's message.
fn refusal_line(user: &UserName, refusal: &Refusal) -> String {
    match refusal.explanation() {
        Some(explanation) => format!("{user}: {} ({explanation})", refusal.reason()),
        None => format!("{user}: {}", refusal.reason()),
    }
}

/// `alice enc#1 (serial …)` for a serial the KM server's CA issued.
fn serial_label(world: &World, km: &KmName, serial: &str) -> String {
    let label = world
        .km
        .servers
        .get(km)
        .and_then(|server| world.pki.cas.get(server.hierarchy()))
        .and_then(|ca| {
            ca.issued()
                .iter()
                .find(|issued| issued.serial.to_string() == serial)
        })
        .and_then(|issued| world.pki.book.label(&issued.der))
        .unwrap_or("unknown");
    format!("{label} (serial {serial})")
}

/// Encrypted messages in a user's inbox that none of the client's keys opens.
fn unreadable_messages(world: &World, user: &UserName) -> Result<Vec<String>, StepError> {
    let Some(client) = world.clients.users.get(user) else {
        return Ok(Vec::new());
    };
    let authorities = world.pki.authorities();
    let context = CallContext::new(world.clock.now(), &authorities);
    Ok(world
        .mail
        .inbox(client)?
        .into_iter()
        .filter(|(_, data)| {
            let Ok(Entity::Pkcs7 { der, .. }) = classify(data) else {
                return false;
            };
            matches!(summarize(&der), Ok(CmsSummary::Enveloped(_)))
                && !client.encryption_keys.iter().any(|key| {
                    matches!(
                        world.clients.run_engine().decrypt(
                            &der,
                            &key.certificate,
                            &key.key,
                            &context
                        ),
                        Decryption::Opened { .. }
                    )
                })
        })
        .map(|(id, data)| format!("#{id} \"{}\"", subject_of(&data)))
        .collect())
}

fn subject_of(data: &[u8]) -> String {
    mail_parser::MessageParser::new()
        .parse_headers(data)
        .and_then(|m| m.subject().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) fn move_user(world: &mut World, user: &UserName, site: &model::SiteName) -> StepResult {
    let mut record = new_record(world, format!("admin@{site}"));
    let old_site = world
        .km
        .sites
        .get(user)
        .cloned()
        .ok_or_else(|| StepError::missing(Thing::User, user))?;
    let old_km = world.km.km_for(user);
    world.km.sites.insert(user.clone(), site.clone());
    let new_km = world.km.km_for(user);
    let topology = &world.scenario.topology;
    let dn = crate::world::mailbox_dn(
        &topology.organisation,
        site,
        topology
            .user(user)
            .map_or(user.as_str(), |spec| spec.display_name.as_str()),
    );
    world.km.directory.rename_mailbox(user, dn);
    record.details.push(Detail::text(
        "from",
        format!(
            "site {old_site} (KM server {})",
            old_km.as_ref().map_or("none", KmName::as_str)
        ),
    ));
    record.details.push(Detail::text(
        "to",
        format!(
            "site {site} (KM server {})",
            new_km.as_ref().map_or("none", KmName::as_str)
        ),
    ));
    if old_km != new_km {
        // KM-12: the client's security belonged to the old KM server; pointing the mailbox at
        // another one loses the key history the client held.
        let (encryption, _) = world.clients.user_mut(user)?.lose_keys();
        let lost: Vec<String> = encryption
            .iter()
            .map(|key| format!("enc#{}", key.generation))
            .collect();
        record.details.push(Detail::list("lost", lost));
        let unreadable = unreadable_messages(world, user)?;
        if !unreadable.is_empty() {
            record.warn("key-history-lost");
        }
        record.details.push(Detail::list("unreadable", unreadable));
    }
    Ok(record)
}

pub(super) fn sectool(
    world: &mut World,
    user: &UserName,
    operation: SectoolOperation,
) -> StepResult {
    let mut record = new_record(world, user.to_string());
    let client = world.clients.user(user)?;
    let mut processed = Vec::new();
    let mut skipped = Vec::new();
    let authorities = world.pki.authorities();
    let context = CallContext::new(world.clock.now(), &authorities);
    for (id, data) in world.mail.inbox(client)? {
        let label = format!("#{id} \"{}\"", subject_of(&data));
        let (headers, entity) = split_message(&data);
        match operation {
            SectoolOperation::Decrypt => {
                let Ok(Entity::Pkcs7 { der, .. }) = classify(&data) else {
                    continue;
                };
                if !matches!(summarize(&der), Ok(CmsSummary::Enveloped(_))) {
                    continue;
                }
                let opened = client.encryption_keys.iter().rev().find_map(|key| {
                    match world.clients.run_engine().decrypt(
                        &der,
                        &key.certificate,
                        &key.key,
                        &context,
                    ) {
                        Decryption::Opened { content } => Some(content),
                        _ => None,
                    }
                });
                match opened {
                    Some(content) => {
                        let step = world.step;
                        world.mail.rewrite(
                            RewrittenBy::Sectool,
                            step,
                            user,
                            id,
                            rebuild(&headers, &content),
                        );
                        processed.push(format!("{label}: decrypted"));
                    }
                    None => skipped.push(format!("{label}: no key opens it")),
                }
            }
            SectoolOperation::Encrypt => {
                if !world
                    .mail
                    .mailbox_overrides
                    .contains_key(&(user.clone(), id))
                {
                    continue;
                }
                let Some(key) = client.current_encryption_key() else {
                    skipped.push(format!("{label}: no encryption certificate"));
                    continue;
                };
                let recipients = [Recipient {
                    certificate: key.certificate.clone(),
                    identifier: client.profile().identifier,
                }];
                let cipher = client
                    .profile()
                    .ciphers
                    .first()
                    .copied()
                    .unwrap_or(smime::Cipher::DesEde3Cbc);
                let request = EnvelopeRequest {
                    content: entity,
                    recipients: &recipients,
                    cipher,
                };
                let enveloped =
                    world
                        .clients
                        .run_engine()
                        .envelope(&request, &context, &mut world.mail.rng)?;
                let entity = pkcs7_mime_entity(&enveloped, SmimeType::EnvelopedData);
                let step = world.step;
                world.mail.rewrite(
                    RewrittenBy::Sectool,
                    step,
                    user,
                    id,
                    rebuild(&headers, &entity),
                );
                processed.push(format!("{label}: encrypted to enc#{}", key.generation));
            }
        }
    }
    record.details.push(Detail::list("processed", processed));
    if !skipped.is_empty() {
        record.details.push(Detail::list("skipped", skipped));
    }
    Ok(record)
}

/// Splits a message into its non-MIME header fields and its MIME entity (the MIME header
/// fields and the body).
fn split_message(data: &[u8]) -> (Vec<u8>, &[u8]) {
    let end = data
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .map_or(data.len(), |i| i + 2);
    let mut headers = Vec::new();
    let mut entity_start = 0;
    let mut keep = false;
    let mut line_start = 0;
    while line_start < end {
        let line_end = data[line_start..end]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(end, |i| line_start + i + 2);
        let line = &data[line_start..line_end];
        if !line.starts_with(b" ") && !line.starts_with(b"\t") {
            let name = line
                .split(|b| *b == b':')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            keep = !(name.starts_with(b"content-") || name == b"mime-version");
            if !keep && entity_start == 0 {
                entity_start = line_start;
            }
        }
        if keep {
            headers.extend_from_slice(line);
        }
        line_start = line_end;
    }
    (headers, &data[entity_start..])
}

fn rebuild(headers: &[u8], entity: &[u8]) -> Vec<u8> {
    let mut out = headers.to_vec();
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out.extend_from_slice(entity);
    out
}

pub(super) fn export_keys(
    world: &mut World,
    from: &KmName,
    to: &KmName,
    users: &[UserName],
    thumbprint: Option<&str>,
) -> StepResult {
    let mut record = new_record(world, format!("admin@{from}"));
    for km in [from, to] {
        if let Some(refusal) = unavailable(world, km) {
            return Ok(refused(record, &refusal));
        }
    }
    let target_certificate = world
        .km
        .servers
        .get(to)
        .and_then(|server| server.certificate())
        .cloned();
    let expected: Option<Vec<u8>> = thumbprint.map(|hex| {
        (0..hex.len())
            .step_by(2)
            .filter_map(|i| {
                hex.get(i..i + 2)
                    .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            })
            .collect()
    });
    let (server, mut context) = km_context_parts(world, from)?;
    let bundle = match server.export(
        users,
        target_certificate.as_ref(),
        expected.as_deref(),
        &mut context,
    )? {
        Ok(bundle) => bundle,
        Err(refusal) => return Ok(refused(record, &refusal)),
    };
    let exported: Vec<String> = bundle
        .users
        .iter()
        .map(|exported| {
            format!(
                "{}: {}",
                exported.user,
                exported
                    .keys
                    .iter()
                    .map(|(key, _)| format!("enc#{}", key.generation))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    let (target, mut context) = km_context_parts(world, to)?;
    let imported = match target.import(&bundle, &mut context)? {
        Ok(count) => count,
        Err(refusal) => return Ok(refused(record, &refusal)),
    };
    record.details.push(Detail::list("exported", exported));
    record.details.push(Detail::text(
        "imported",
        format!("{imported} keys into {to}"),
    ));
    record.details.push(Detail::text(
        "revoked",
        format!("the exported certificates were revoked at {from}'s CA"),
    ));
    Ok(record)
}

pub(super) fn reattach_ca(world: &mut World, km: &KmName, ca: &model::CaName) -> StepResult {
    let mut record = new_record(world, format!("admin@{km}"));
    let Some(server) = world.km.servers.get_mut(km) else {
        return Ok(refused(record, &Refusal::NotInstalled));
    };
    let old = server.hierarchy().clone();
    let users = server.enrolled_users()?;
    server.reattach(ca)?;
    // KM-13: the root of trust changed; every key certified under the old hierarchy is out of
    // reach, and so is every message encrypted to one.
    let mut lost = Vec::new();
    for user in &users {
        if let Some(client) = world.clients.users.get_mut(user) {
            let (encryption, _) = client.lose_keys();
            lost.extend(
                encryption
                    .iter()
                    .map(|key| format!("{user} enc#{}", key.generation)),
            );
        }
    }
    let mut unreadable = Vec::new();
    for user in &users {
        unreadable.extend(
            unreadable_messages(world, user)?
                .into_iter()
                .map(|message| format!("{user}: {message}")),
        );
    }
    record.warn("root-of-trust-changed");
    record.details.push(Detail::text(
        "hierarchy",
        format!("{old} -> {ca}; advanced security must be enabled again"),
    ));
    record.details.push(Detail::list("lost", lost));
    record.details.push(Detail::list("unreadable", unreadable));
    Ok(record)
}

pub(super) fn stop_km(world: &mut World, km: &KmName) -> Record {
    let record = new_record(world, format!("admin@{km}"));
    match world.km.servers.get_mut(km) {
        Some(server) => {
            server.stop();
            record
        }
        None => refused(record, &Refusal::NotInstalled),
    }
}

pub(super) fn start_km(world: &mut World, km: &KmName, password: Option<&str>) -> StepResult {
    let record = new_record(world, format!("admin@{km}"));
    let right = world
        .scenario
        .topology
        .km_server(km)
        .map(|spec| spec.startup_password.clone())
        .unwrap_or_default();
    let Some(server) = world.km.servers.get_mut(km) else {
        return Ok(refused(record, &Refusal::NotInstalled));
    };
    match server.start(password.unwrap_or(&right))? {
        Ok(()) => Ok(record),
        Err(refusal) => Ok(refused(record, &refusal)),
    }
}

pub(super) fn change_admin_password(world: &mut World, km: &KmName, password: &str) -> Record {
    let mut record = new_record(world, format!("admin@{km}"));
    match world.km.servers.get_mut(km) {
        Some(server) => {
            server.set_admin_password(password);
            if server.has_default_admin_password() {
                record.warn("default-admin-password");
            }
            record
        }
        None => refused(record, &Refusal::NotInstalled),
    }
}

pub(super) fn backup_km(world: &mut World, km: &KmName, name: &str) -> StepResult {
    let mut record = new_record(world, format!("admin@{km}"));
    let dir = world.work_dir.join("backups");
    std::fs::create_dir_all(&dir).map_err(StepError::io("creating the backups folder"))?;
    let path = dir.join(format!("{}.sqlite", backup_file_name(name)));
    // A copy an earlier step left under the same name goes; there may be none, and a real
    // problem with the folder shows when the backup is written.
    let _absent = std::fs::remove_file(&path);
    let Some(server) = world.km.servers.get(km) else {
        return Ok(refused(record, &Refusal::NotInstalled));
    };
    let online = server.is_running();
    match server.backup(&path)? {
        Ok(()) => {
            record.details.push(Detail::text(
                "backup",
                format!(
                    "{name} ({})",
                    if online { "online" } else { "service stopped" }
                ),
            ));
            world.backups.insert(
                name.to_owned(),
                Backup::Km {
                    km: km.clone(),
                    path,
                },
            );
            Ok(record)
        }
        Err(refusal) => Ok(refused(record, &refusal)),
    }
}

fn backup_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// OPS-01: where the KM database and its CA disagree about revocation, one line per
/// certificate, and what a later `revoke-user` does about each direction found.
fn divergence(world: &World, km: &KmName) -> Result<(Vec<String>, Vec<&'static str>), StepError> {
    let Some(server) = world.km.servers.get(km) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let Some(ca) = world.pki.cas.get(server.hierarchy()) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let km::Divergence { km_only, ca_only } = server.divergence(ca)?;
    let label = |serial: &str| serial_label(world, km, serial);
    let mut lines: Vec<String> = km_only
        .iter()
        .map(|serial| {
            format!(
                "{} is revoked in the KM database but not in the CA's",
                label(serial)
            )
        })
        .collect();
    lines.extend(ca_only.iter().map(|serial| {
        format!(
            "{} is revoked in the CA's database but active in the KM database",
            label(serial)
        )
    }));
    let mut later = Vec::new();
    if !km_only.is_empty() {
        later.push("revoked in the KM database only: a later revoke-user skips them as already revoked and reports them as diverged; the CA never revokes them, so they stay off the CRL and valid");
    }
    if !ca_only.is_empty() {
        later.push("revoked at the CA only: the CRL lists them while the KM server still counts them as its user's (a recovery hands their keys out again); a later revoke-user finds them already revoked at the CA, records them in the KM database, and the two agree again");
    }
    Ok((lines, later))
}

pub(super) fn note_divergence(
    world: &World,
    record: &mut Record,
    kms: &[KmName],
) -> Result<(), StepError> {
    let mut all = Vec::new();
    let mut later = Vec::new();
    for km in kms {
        let (lines, explained) = divergence(world, km)?;
        all.extend(lines);
        for line in explained {
            if !later.contains(&line) {
                later.push(line);
            }
        }
    }
    if !all.is_empty() {
        record.warn("km-ca-divergence");
        record.details.push(Detail::list("divergence", all));
        record.details.push(Detail::list(
            "later-revoke",
            later.into_iter().map(str::to_owned).collect(),
        ));
    }
    Ok(())
}

pub(super) fn restore_km(world: &mut World, km: &KmName, source: &RestoreSource) -> StepResult {
    let mut record = new_record(world, format!("admin@{km}"));
    let path = match source {
        RestoreSource::Backup(name) => match world.backups.get(name) {
            Some(Backup::Km { km: owner, .. }) if owner != km => {
                return Ok(refuse(record, "backup-of-another-km-server"));
            }
            Some(Backup::Km { path, .. }) => path.clone(),
            Some(Backup::Ca { .. }) => return Ok(refuse(record, "not-a-km-backup")),
            None => return Ok(refuse(record, "no-such-backup")),
        },
        RestoreSource::File(relative) => world
            .scenario
            .path
            .parent()
            .map_or_else(|| relative.clone(), |dir| dir.join(relative)),
    };
    let Some(server) = world.km.servers.get_mut(km) else {
        return Ok(refused(record, &Refusal::NotInstalled));
    };
    match server.restore(&path)? {
        Ok(()) => {
            let shown = match source {
                RestoreSource::Backup(name) => name.clone(),
                RestoreSource::File(relative) => relative.display().to_string(),
            };
            record.details.push(Detail::text("restored", shown));
            note_divergence(world, &mut record, std::slice::from_ref(km))?;
            Ok(record)
        }
        Err(refusal) => Ok(refused(record, &refusal)),
    }
}

pub(super) fn forklift(
    world: &mut World,
    km: &KmName,
    new_host: &str,
    password: Option<&str>,
) -> StepResult {
    let mut record = new_record(world, format!("admin@{km}"));
    let Some(spec) = world.scenario.topology.km_server(km).cloned() else {
        return Ok(refused(record, &Refusal::NotInstalled));
    };
    let target = database_path(
        &world.work_dir.join("km"),
        &format!("{km}-{}", backup_file_name(new_host)),
    );
    // As for backups: an earlier copy goes, and there may be none.
    let _absent = std::fs::remove_file(&target);
    let Some(server) = world.km.servers.get_mut(km) else {
        return Ok(refused(record, &Refusal::NotInstalled));
    };
    let histories = match server.forklift(
        spec.host.as_str(),
        new_host,
        password.unwrap_or(&spec.startup_password),
        target,
    )? {
        Ok(histories) => histories,
        Err(refusal) => return Ok(refused(record, &refusal)),
    };
    record.details.push(Detail::list(
        "histories",
        histories
            .iter()
            .map(|history| {
                format!(
                    "{}: {} intact",
                    history.user,
                    history
                        .generations
                        .iter()
                        .map(|g| format!("enc#{g}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect(),
    ));
    Ok(record)
}

/// Whether a user's V1 client lost advanced security (KM-06): its reading of encrypted mail
/// fails whatever keys it holds.
pub(super) fn v1_security_lost(world: &World, user: &UserName) -> bool {
    world.km.v1_security_ended(user)
}
