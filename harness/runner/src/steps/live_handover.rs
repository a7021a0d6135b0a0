//! After every step of a live scenario: the directory the LDAP server shows is brought up to
//! date (LIVE-04), and a live user whose keys changed gets them again as a PKCS #12 file
//! (LIVE-01), which the step's record says.

use report::{Detail, Record};

use crate::error::StepError;
use crate::world::World;

pub(super) fn after_step(world: &mut World, record: &mut Record) -> Result<(), StepError> {
    publish_directory(world);
    hand_over_keys(world, record)
}

fn publish_directory(world: &World) {
    let Some(live) = &world.live else {
        return;
    };
    let entries = world
        .scenario
        .topology
        .users
        .iter()
        .filter_map(|user| {
            let entry = world.km.directory.entry(&user.name)?;
            let site = world.km.sites.get(&user.name).unwrap_or(&user.site);
            Some(live::DirectoryEntry {
                uid: user.name.to_string(),
                common_name: user.display_name.clone(),
                mail: entry.email.to_string(),
                site: site.to_string(),
                certificates: entry
                    .encryption_certificates
                    .iter()
                    .rev()
                    .cloned()
                    .collect(),
            })
        })
        .collect();
    live.publish_directory(entries);
}

fn hand_over_keys(world: &mut World, record: &mut Record) -> Result<(), StepError> {
    let live_users: Vec<_> = world
        .scenario
        .topology
        .users
        .iter()
        .filter(|user| user.live)
        .map(|user| user.name.clone())
        .collect();
    let authorities = world.pki.authorities();
    for name in live_users {
        let user = world.clients.user(&name)?;
        let labels: Vec<String> = user
            .encryption_keys
            .iter()
            .chain(user.signing_key())
            .map(|key| {
                world
                    .pki
                    .book
                    .label(&key.certificate)
                    .unwrap_or("unlabelled key")
                    .to_owned()
            })
            .collect();
        if labels.is_empty() {
            continue;
        }
        let Some(pkcs12) = world.pkcs12_of(user)? else {
            continue;
        };
        let Some(live) = world.live.as_mut() else {
            return Ok(());
        };
        if let Some(handed) = live.hand_over(&name, labels, &pkcs12, &authorities)? {
            record.details.push(Detail::text(
                "keys-handed-over",
                format!("{name}/{name}.p12: {}", handed.join(", ")),
            ));
        }
    }
    Ok(())
}
