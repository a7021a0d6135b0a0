//! KM server administration and enrollment steps.

use km::{KmContext, Token};
use model::{CertifiedKey, KeyGeneration, KmName, Named, UserName};
use pki::private_key_der;
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
    };
    Ok((server, context))
}

pub(super) fn enable_v3(world: &mut World, km: &KmName) -> Result<Record, String> {
    let mut record = new_record(world, format!("admin@{km}"), "enable-v3");
    let (server, mut context) = km_context_parts(world, km)?;
    let ca_line = {
        let setup = context.ca.setup();
        let info = context.ca.info();
        format!(
            "{} ({} root, {} policy module, serial {}, valid to {})",
            setup.name,
            setup.class.name(),
            setup.policy.name(),
            info.serial,
            info.not_after
        )
    };
    let info = server.enable_v3(&mut context).map_err(|e| e.to_string())?;
    let certificate = server
        .certificate()
        .cloned()
        .ok_or("no KM certificate after enable-v3")?;
    world.book.add(&certificate, km.to_string());
    record.details.push(Detail::text("ca", ca_line));
    record.details.push(Detail::text(
        "km-certificate",
        format!("{} (serial {}, subject {})", km, info.serial, info.subject),
    ));
    Ok(record)
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
    // The client asks for the certificate version it can use (CL-02: Outlook 97 holds V1).
    let version = client
        .profile()
        .certificate_versions
        .first()
        .copied()
        .unwrap_or(pki::CertificateVersion::V3);
    let (server, mut context) = km_context_parts(world, km)?;
    let enrollment = match server.enroll(
        user,
        &token,
        &signing_key.to_public_key(),
        version,
        &mut context,
    ) {
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
    let root_label = world
        .book
        .label(&enrollment.root)
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
    client.trust_root(enrollment.root);
    Ok(record)
}
