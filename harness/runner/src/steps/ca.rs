//! Certification authority administration: settings and restarts, subordinate installation,
//! direct requests, revocation and CRLs, trusted roots and trust lists.

use model::{CaName, CertificateDer, CertifiedKey, Named, Outcome, Serial};
use pki::{
    CertificateInfo, CertificatePurpose, CertificateRequest, CertificateVersion, CrlInfo,
    NameAttribute, ValiditySetting, build_name, private_key_der,
};
use report::{Detail, Record};
use scenario::{Action, RequestPurpose, RevokeTarget, RootStore};

use super::{new_record, refuse};
use crate::book::certificate_line;
use crate::world::World;

/// Runs a CA action.
pub(super) fn execute(world: &mut World, action: &Action) -> Result<Record, String> {
    match action {
        Action::ConfigureCa {
            ca,
            period,
            units,
            policy,
        } => {
            let mut record = new_record(world, format!("admin@{ca}"), "configure-ca");
            let authority = world.cas.get_mut(ca).ok_or_else(|| format!("no CA {ca}"))?;
            let current = authority.validity();
            let validity = (period.is_some() || units.is_some()).then(|| ValiditySetting {
                period: period.unwrap_or(current.period),
                units: units.unwrap_or(current.units),
            });
            authority.configure(validity, *policy);
            record
                .details
                .push(Detail::list("pending", pending_lines(authority)));
            record
                .details
                .push(Detail::text("in-force", in_force(authority)));
            Ok(record)
        }
        Action::RestartCa { ca } => {
            let mut record = new_record(world, format!("admin@{ca}"), "restart-ca");
            let authority = world.cas.get_mut(ca).ok_or_else(|| format!("no CA {ca}"))?;
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
        Action::InstallCaCertificate { ca, supply_root } => {
            install_ca_certificate(world, ca, *supply_root)
        }
        Action::RequestCertificate {
            ca,
            user,
            purpose,
            version,
        } => request_certificate(world, ca, user.as_ref(), *purpose, *version),
        Action::Revoke { ca, target } => revoke(world, ca, target),
        Action::PublishCrl { ca } => {
            let mut record = new_record(world, format!("admin@{ca}"), "publish-crl");
            let now = world.now();
            let authority = world.cas.get_mut(ca).ok_or_else(|| format!("no CA {ca}"))?;
            let crl = match authority.publish_crl(now) {
                Ok(crl) => crl,
                Err(error) => return Ok(refuse(record, error.reason())),
            };
            let info = CrlInfo::parse(&crl).map_err(|e| e.to_string())?;
            describe_crl(world, &info, &mut record);
            Ok(record)
        }
        Action::FetchCrl { user, ca } => {
            let mut record = new_record(world, user.to_string(), "fetch-crl");
            let Some(crl) = world
                .cas
                .get(ca)
                .and_then(|authority| authority.latest_crl())
                .cloned()
            else {
                return Ok(refuse(record, "no-crl-published"));
            };
            let info = CrlInfo::parse(&crl).map_err(|e| e.to_string())?;
            describe_crl(world, &info, &mut record);
            let client = world
                .users
                .get_mut(user)
                .ok_or_else(|| format!("no user {user}"))?;
            client.add_crl(crl);
            Ok(record)
        }
        Action::InstallRoot { ca, store } => {
            let actor = match store {
                RootStore::Host(host) => format!("admin@{host}"),
                RootStore::User(user) => user.to_string(),
            };
            let mut record = new_record(world, actor, "install-root");
            let Some(root) = installed_certificate(world, ca) else {
                return Ok(refuse(record, "ca-pending"));
            };
            let where_ = match store {
                RootStore::Host(host) => {
                    world.trust_root_on_host(host, root);
                    format!("host {host}")
                }
                RootStore::User(user) => {
                    world
                        .users
                        .get_mut(user)
                        .ok_or_else(|| format!("no user {user}"))?
                        .trust_root(root);
                    format!("client of {user}")
                }
            };
            record.details.push(Detail::text("store", where_));
            record.details.push(Detail::text("root", ca.to_string()));
            Ok(record)
        }
        Action::CtlAdd { ca, km } | Action::CtlRemove { ca, km } => {
            let adding = matches!(action, Action::CtlAdd { .. });
            let name = if adding { "ctl-add" } else { "ctl-remove" };
            let mut record = new_record(world, format!("admin@{km}"), name);
            let Some(certificate) = installed_certificate(world, ca) else {
                return Ok(refuse(record, "ca-pending"));
            };
            let changed = if adding {
                world.trust_list.add(certificate)
            } else {
                world.trust_list.remove(&certificate)
            };
            if !changed {
                return Ok(refuse(
                    record,
                    if adding {
                        "already-listed"
                    } else {
                        "not-listed"
                    },
                ));
            }
            let signer_name = world
                .scenario
                .topology
                .km_server(km)
                .map(|spec| world.chain_names(&spec.ca))
                .and_then(|mut chain| chain.pop())
                .ok_or_else(|| format!("no hierarchy for {km}"))?;
            let signer = world
                .cas
                .get(&signer_name)
                .ok_or_else(|| format!("no CA {signer_name}"))?;
            let now = world.now();
            let signed = match world.trust_list.sign(signer, now) {
                Ok(signed) => signed,
                Err(pki::PkiError::Pending(_)) => return Ok(refuse(record, "ca-pending")),
                Err(error) => return Err(error.to_string()),
            };
            world.signed_trust_list = Some(signed);
            record.details.push(Detail::text(
                "sequence",
                world.trust_list.sequence.to_string(),
            ));
            let trusted = world
                .trust_list
                .certificates
                .iter()
                .map(|c| world.book.label(c).unwrap_or("unknown").to_owned())
                .collect();
            record.details.push(Detail::list("trusted", trusted));
            record
                .details
                .push(Detail::text("signed-by", signer_name.to_string()));
            Ok(record)
        }
        other => Err(format!("{} is not a CA action", other.name())),
    }
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

fn install_ca_certificate(
    world: &mut World,
    ca: &model::CaName,
    supply_root: bool,
) -> Result<Record, String> {
    let spec = world
        .scenario
        .topology
        .ca(ca)
        .cloned()
        .ok_or_else(|| format!("no CA {ca}"))?;
    let actor = spec
        .host
        .as_ref()
        .map_or_else(|| "admin".to_owned(), |host| format!("admin@{host}"));
    let mut record = new_record(world, actor, "install-ca-certificate");
    let scenario::CaRole::Subordinate { parent } = &spec.role else {
        return Ok(refuse(record, "not-a-subordinate"));
    };
    let request = {
        let authority = world.cas.get(ca).ok_or_else(|| format!("no CA {ca}"))?;
        if !authority.is_pending() {
            return Ok(refuse(record, "not-pending"));
        }
        authority.subordinate_request()
    };
    let Some(root) = world.root_certificate(parent) else {
        return Ok(refuse(record, "parent-pending"));
    };
    let host = spec.host.clone();
    let root_present = host.as_ref().is_none_or(|host| {
        world
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
    let parent_ca = world
        .cas
        .get_mut(parent)
        .ok_or_else(|| format!("no CA {parent}"))?;
    let (certificate, cut) = match parent_ca.sign_subordinate(&request, now) {
        Ok(signed) => signed,
        Err(error) => return Ok(refuse(record, error.reason())),
    };
    world
        .cas
        .get_mut(ca)
        .ok_or_else(|| format!("no CA {ca}"))?
        .install_certificate(certificate.clone())
        .map_err(|e| e.to_string())?;
    world.book.add(&certificate, ca.to_string());
    if let Some(host) = &host {
        world.trust_root_on_host(host, root.clone());
    }
    record
        .details
        .push(Detail::text("certificate", certificate_line(&certificate)));
    record.details.push(Detail::text(
        "root",
        world.book.label(&root).unwrap_or("unknown").to_owned(),
    ));
    if cut {
        record.warn("root-expires-first");
    }
    Ok(record)
}

fn request_certificate(
    world: &mut World,
    ca: &model::CaName,
    user: Option<&model::UserName>,
    purpose: RequestPurpose,
    version: CertificateVersion,
) -> Result<Record, String> {
    let actor = user.map_or_else(|| format!("admin@{ca}"), ToString::to_string);
    let mut record = new_record(world, actor, "request-certificate");
    world.direct_requests += 1;
    let topology = &world.scenario.topology;
    let (subject, email, role) = match user {
        Some(user) => {
            let client = world
                .users
                .get(user)
                .ok_or_else(|| format!("no user {user}"))?;
            let spec = topology
                .user(user)
                .ok_or_else(|| format!("no user {user}"))?;
            let subject = build_name(&[
                NameAttribute::Organization(&topology.organisation),
                NameAttribute::OrganizationalUnit(spec.site.as_str()),
                NameAttribute::CommonName(user.as_str()),
                NameAttribute::Email(client.email.as_str()),
            ])
            .map_err(|e| e.to_string())?;
            (
                subject,
                Some(client.email.to_string()),
                format!("user:{user}:direct:{}", world.direct_requests),
            )
        }
        None => {
            let host = format!("mail.{}", topology.mail_domain);
            let subject = build_name(&[
                NameAttribute::Organization(&topology.organisation),
                NameAttribute::CommonName(&host),
            ])
            .map_err(|e| e.to_string())?;
            (subject, None, format!("server:{}", world.direct_requests))
        }
    };
    let key_bits = user.map_or(clients::DEFAULT_KEY_BITS as usize, |user| {
        world.key_bits(user)
    });
    let (key, _) = world.keys.key(&role, key_bits).map_err(|e| e.to_string())?;
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
    let now = world.now();
    let authority = world.cas.get_mut(ca).ok_or_else(|| format!("no CA {ca}"))?;
    let issued = match authority.issue(&request, now) {
        Ok(issued) => issued,
        Err(pki::IssueError::Pki(error)) => return Err(error.to_string()),
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
        let info = CertificateInfo::parse(&issued.der).map_err(|e| e.to_string())?;
        let cdp = info
            .crl_distribution_points
            .first()
            .cloned()
            .unwrap_or_else(|| "none".to_owned());
        record.details.push(Detail::text("cdp", cdp));
    }
    if let Some(user) = user {
        // Taken straight from the CA: the client holds the only copy of the key (KM-11).
        let kind = if purpose == RequestPurpose::SmimeSigning {
            "sign"
        } else {
            "enc"
        };
        let generation = world.next_generation(user, kind);
        world.use_generation(user, kind, generation);
        let client = world
            .users
            .get_mut(user)
            .ok_or_else(|| format!("no user {user}"))?;
        let private = private_key_der(&key).map_err(|e| e.to_string())?;
        let (label, certified) = if purpose == RequestPurpose::SmimeSigning {
            client.signing_keys.push(CertifiedKey {
                generation,
                certificate: issued.der.clone(),
                key: private,
            });
            (format!("{user} sign#{generation}"), None)
        } else {
            let certified = CertifiedKey {
                generation,
                certificate: issued.der.clone(),
                key: private,
            };
            client.add_encryption_key(certified.clone());
            (format!("{user} enc#{generation}"), Some(certified))
        };
        if let Some(root) = world.root_certificate(ca) {
            if let Some(client) = world.users.get_mut(user) {
                client.trust_root(root);
            }
        }
        if certified.is_some() {
            world
                .directory
                .publish_encryption_certificate(user, issued.der.clone());
        }
        world.book.add(&issued.der, label);
    } else {
        world.book.add(
            &issued.der,
            format!("server certificate #{}", world.direct_requests),
        );
    }
    Ok(record)
}

fn revoke(world: &mut World, ca: &model::CaName, target: &RevokeTarget) -> Result<Record, String> {
    let mut record = new_record(world, format!("admin@{ca}"), "revoke");
    let certificate = match target {
        RevokeTarget::User { user, certificate } => {
            let client = world
                .users
                .get(user)
                .ok_or_else(|| format!("no user {user}"))?;
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
            match world.kms.get(km).and_then(|server| server.certificate()) {
                Some(certificate) => certificate.clone(),
                None => return Ok(refuse(record, "no-such-certificate")),
            }
        }
    };
    let serial = CertificateInfo::parse(&certificate)
        .map_err(|e| e.to_string())?
        .serial;
    let now = world.now();
    let authority = world.cas.get_mut(ca).ok_or_else(|| format!("no CA {ca}"))?;
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
        .cas
        .values()
        .flat_map(|ca| ca.issued())
        .find(|issued| &issued.serial == serial)
        .and_then(|issued| world.book.label(&issued.der))
        .unwrap_or("unknown");
    format!("{label} (serial {serial}, revoked {at})")
}

/// The certificate of an installed CA; `None` while it is pending (or unknown).
fn installed_certificate(world: &World, ca: &CaName) -> Option<CertificateDer> {
    world.cas.get(ca)?.certificate().cloned()
}
