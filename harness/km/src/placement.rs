//! Where a KM server may be installed (KM-01): Exchange 5.5 before SP1 allows one KM server per
//! organisation, Exchange 5.5 one per site and, on Windows 2000, only from SP3 on; Exchange 2000
//! installs a second one in an administrative group but recommends against it. The rules decide
//! from data alone, so the runner only records what they say.

use model::{KmName, Named, Os, SiteName};

use crate::product::{Product, ServicePack};

/// A rule a placement breaks: a stable reason word and what the administrator is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementIssue {
    /// The reason word (`one-km-per-site`).
    pub reason: &'static str,
    /// The product's complaint in words.
    pub message: String,
}

/// What the placement rules say about installing a KM server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Placement {
    /// Why setup refuses to install it, if it does.
    pub refusal: Option<PlacementIssue>,
    /// What setup warns about while installing it anyway. Never set together with a refusal:
    /// only Exchange 2000 warns, and it refuses nothing.
    pub warning: Option<PlacementIssue>,
}

/// Checks installing a KM server of `product` for `site` on a host running `host_os` (`None`
/// when the topology has no such host), given the KM servers `earlier` installed in the
/// organisation, each with its site (or administrative group), in the order they were
/// installed.
pub fn check(
    product: Product,
    site: &SiteName,
    host_os: Option<Os>,
    earlier: &[(KmName, SiteName)],
) -> Placement {
    let site_taken = earlier.iter().any(|(_, other)| other == site);
    let refusal = match product {
        Product::Ex55(ServicePack::None) if !earlier.is_empty() => Some(PlacementIssue {
            reason: "one-km-per-organisation",
            message: format!(
                "Exchange 5.5 before SP1 allows one KM server per organisation; {} is already installed",
                earlier[0].0
            ),
        }),
        Product::Ex55(_) if site_taken => Some(PlacementIssue {
            reason: "one-km-per-site",
            message: format!("site {site} already has a KM server"),
        }),
        Product::Ex55(service_pack)
            if host_os == Some(Os::W2k) && service_pack < ServicePack::Sp3 =>
        {
            Some(PlacementIssue {
                reason: "needs-sp3",
                message: format!(
                    "an Exchange 5.5 KM server on Windows 2000 needs SP3; this is {}",
                    service_pack.name()
                ),
            })
        }
        _ => None,
    };
    let warning = (product == Product::Ex2000 && site_taken).then(|| PlacementIssue {
        reason: "second-km-in-group",
        message: format!(
            "administrative group {site} already has a KM server; one per group is recommended"
        ),
    });
    Placement { refusal, warning }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(name: &str) -> SiteName {
        SiteName::new(name)
    }

    fn earlier(servers: &[(&str, &str)]) -> Vec<(KmName, SiteName)> {
        servers
            .iter()
            .map(|(km, site)| (KmName::new(*km), SiteName::new(*site)))
            .collect()
    }

    fn refusal(placement: &Placement) -> Option<(&'static str, &str)> {
        placement
            .refusal
            .as_ref()
            .map(|issue| (issue.reason, issue.message.as_str()))
    }

    #[test]
    fn the_first_km_server_is_placed_anywhere() {
        for product in [
            Product::Ex55(ServicePack::None),
            Product::Ex55(ServicePack::Sp3),
            Product::Ex2000,
        ] {
            assert_eq!(
                check(product, &site("Redmond"), Some(Os::Nt4), &[]),
                Placement::default()
            );
        }
    }

    #[test]
    fn exchange_55_before_sp1_allows_one_km_server_per_organisation() {
        let placement = check(
            Product::Ex55(ServicePack::None),
            &site("Paris"),
            Some(Os::Nt4),
            &earlier(&[("KM1", "Redmond"), ("KM2", "Tokyo")]),
        );
        assert_eq!(
            refusal(&placement),
            Some((
                "one-km-per-organisation",
                "Exchange 5.5 before SP1 allows one KM server per organisation; KM1 is already installed"
            ))
        );
        assert_eq!(placement.warning, None);
    }

    #[test]
    fn exchange_55_allows_one_km_server_per_site() {
        let others = earlier(&[("KM1", "Redmond")]);
        let placement = check(
            Product::Ex55(ServicePack::Sp1),
            &site("Redmond"),
            Some(Os::Nt4),
            &others,
        );
        assert_eq!(
            refusal(&placement),
            Some(("one-km-per-site", "site Redmond already has a KM server"))
        );
        let elsewhere = check(
            Product::Ex55(ServicePack::Sp1),
            &site("Paris"),
            Some(Os::Nt4),
            &others,
        );
        assert_eq!(elsewhere, Placement::default());
    }

    #[test]
    fn the_site_rule_comes_before_the_service_pack_rule() {
        let placement = check(
            Product::Ex55(ServicePack::Sp2),
            &site("Redmond"),
            Some(Os::W2k),
            &earlier(&[("KM1", "Redmond")]),
        );
        assert_eq!(
            placement.refusal.map(|issue| issue.reason),
            Some("one-km-per-site")
        );
    }

    #[test]
    fn exchange_55_on_windows_2000_needs_sp3() {
        for service_pack in [ServicePack::None, ServicePack::Sp1, ServicePack::Sp2] {
            let placement = check(
                Product::Ex55(service_pack),
                &site("Redmond"),
                Some(Os::W2k),
                &[],
            );
            let message = format!(
                "an Exchange 5.5 KM server on Windows 2000 needs SP3; this is {}",
                service_pack.name()
            );
            assert_eq!(refusal(&placement), Some(("needs-sp3", message.as_str())));
        }
        for service_pack in [ServicePack::Sp3, ServicePack::Sp4] {
            let placement = check(
                Product::Ex55(service_pack),
                &site("Redmond"),
                Some(Os::W2k),
                &[],
            );
            assert_eq!(placement, Placement::default());
        }
        // On NT 4.0, or on a host the topology does not know, the service pack does not matter.
        for host_os in [Some(Os::Nt4), None] {
            let placement = check(
                Product::Ex55(ServicePack::Sp1),
                &site("Redmond"),
                host_os,
                &[],
            );
            assert_eq!(placement, Placement::default());
        }
    }

    #[test]
    fn exchange_2000_warns_of_a_second_km_server_in_a_group() {
        let others = earlier(&[("KM1", "First Administrative Group")]);
        let placement = check(
            Product::Ex2000,
            &site("First Administrative Group"),
            Some(Os::W2k),
            &others,
        );
        assert_eq!(placement.refusal, None);
        assert_eq!(
            placement.warning,
            Some(PlacementIssue {
                reason: "second-km-in-group",
                message: "administrative group First Administrative Group already has a KM server; one per group is recommended".to_owned(),
            })
        );
        let elsewhere = check(Product::Ex2000, &site("Second"), Some(Os::W2k), &others);
        assert_eq!(elsewhere, Placement::default());
    }
}
