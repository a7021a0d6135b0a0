//! Installing the scenario's topology: each CA and KM server in file order, each leaving a
//! `[setup]` record (CA-05, CA-08, CA-10, KM-01, KM-16).

use std::path::Path;

use km::{KmServer, KmSetup};
use model::{CaName, Duration, HostName, KmName, Named, Os, Outcome, SeededRng, SiteName};
use pki::{CaKind, CaSetup, CertificationAuthority};
use report::{Detail, Record};
use scenario::{CaInstall, CaRole, CaSpec, KmSpec};

use super::{Live, World, database_path};
use crate::RunError;
use crate::book::certificate_line;

impl World {
    /// Installs a KM server, applying the product's placement rules (KM-01) and noting the
    /// default administrator password (KM-16).
    pub(super) fn install_km(&mut self, spec: &KmSpec, km_dir: &Path) -> Result<Record, RunError> {
        let mut record = self.setup_record(format!("admin@{}", spec.host), "install-km");
        record.details.push(Detail::text(
            "km-server",
            format!(
                "{} ({} on {}, site {}, CA {})",
                spec.name,
                spec.product.describe(),
                spec.host,
                spec.site,
                spec.ca
            ),
        ));
        // KM-01: the product's placement rules, against the KM servers installed before.
        let earlier: Vec<(KmName, SiteName)> = self
            .scenario
            .topology
            .km_servers
            .iter()
            .take_while(|other| other.name != spec.name)
            .filter(|other| self.km.servers.contains_key(&other.name))
            .map(|other| (other.name.clone(), other.site.clone()))
            .collect();
        let host_os = self.hosts.get(&spec.host).map(|host| host.os);
        let placement = km::placement::check(spec.product, &spec.site, host_os, &earlier);
        if let Some(refusal) = placement.refusal {
            record.outcome = Outcome::Error(None);
            record.reason = Some(refusal.reason.to_owned());
            record
                .details
                .push(Detail::text("problem", refusal.message));
            return Ok(record);
        }
        let setup = KmSetup {
            name: spec.name.clone(),
            product: spec.product,
            site: spec.site.clone(),
            organization: self.scenario.topology.organisation.clone(),
            startup_password: spec.startup_password.clone(),
            ca: spec.ca.clone(),
            max_dn_length: spec.max_dn_length,
        };
        let path = database_path(km_dir, spec.name.as_str());
        let rng = SeededRng::new(self.seed, &format!("km:{}", spec.name));
        let server = KmServer::install(setup, &path, rng).map_err(|source| RunError::Km {
            km: spec.name.to_string(),
            source: Box::new(source),
        })?;
        record
            .details
            .push(Detail::text("database", format!("km/{}.sqlite", spec.name)));
        if let Some(warning) = placement.warning {
            record.warn(warning.reason);
            record
                .details
                .push(Detail::text("placement", warning.message));
        }
        if server.has_default_admin_password() {
            if record.outcome == Outcome::Ok {
                record.warn("default-admin-password");
            }
            record.details.push(Detail::text(
                "admin-password",
                "still the default \"password\"; change it",
            ));
        }
        self.km.servers.insert(spec.name.clone(), server);
        Ok(record)
    }

    /// Installs one CA and records how it went (CA-05, CA-08, CA-10).
    pub(super) fn install_ca(&mut self, spec: &CaSpec) -> Result<Record, RunError> {
        let actor = spec.host.as_ref().map_or_else(
            || format!("{} (third party)", spec.name),
            |host| format!("admin@{host}"),
        );
        let mut record = self.setup_record(actor, "install-ca");
        record.details.push(Detail::text("ca", ca_summary(spec)));
        let setup = self.ca_setup(spec);
        let (key, _) = self
            .pki
            .keys
            .key(&format!("ca:{}", spec.name), 2048)
            .map_err(|e| ca_error(spec)(e.into()))?;
        let serials = SeededRng::new(self.seed, &format!("ca:{}:serials", spec.name));
        let now = self.clock.now();
        let ca = match &spec.role {
            CaRole::Root => CertificationAuthority::install_root(setup, key, serials, now)
                .map_err(ca_error(spec))?,
            CaRole::Subordinate { parent } => {
                let ca = CertificationAuthority::install_pending(setup, key, serials)
                    .map_err(ca_error(spec))?;
                self.certify_subordinate(spec, parent, ca, &mut record)?
            }
        };
        if let Some(certificate) = ca.certificate() {
            self.pki.book.add(certificate, spec.name.to_string());
            record
                .details
                .push(Detail::text("certificate", certificate_line(certificate)));
        }
        if spec.policy.is_outdated() {
            record.warn("outdated-policy-module");
            record.details.push(Detail::text(
                "policy-module",
                "the Exchange 5.5 SP1 build of Expolicy.dll is outdated; register Expolicyw2k.dll",
            ));
        }
        self.pki.cas.insert(spec.name.clone(), ca);
        self.trust_own_chain(spec);
        if let Some(warning) = self.root_lifetime_warning(spec) {
            if record.outcome == Outcome::Ok {
                record.warn("root-lifetime");
            }
            record.details.push(Detail::text("root-lifetime", warning));
        }
        Ok(record)
    }

    /// What a CA is set up with: the scenario's choices, the organisation name (a third party
    /// has its own) and the CRL URL on its host.
    fn ca_setup(&self, spec: &CaSpec) -> CaSetup {
        CaSetup {
            name: spec.name.clone(),
            kind: spec.kind,
            organization: match &spec.organisation {
                Some(organisation) => organisation.clone(),
                None if spec.kind == CaKind::ThirdParty => format!("{} Trust Services", spec.name),
                None => self.scenario.topology.organisation.clone(),
            },
            policy: spec.policy,
            validity: spec.validity,
            lifetime: spec.lifetime,
            hash: spec.hash,
            crl_url: format!(
                "http://{}/CertEnroll/{}.crl",
                spec.host.as_ref().map_or_else(
                    || format!("crl.{}.example", spec.name.as_str().to_lowercase()),
                    |h| h.as_str().to_lowercase()
                ),
                spec.name
            ),
            publishes_cdp: spec.publishes_cdp,
            crl_period: spec.crl_period,
            subordinate_validity: spec.subordinate_validity,
            faults: spec.faults.clone(),
        }
    }

    /// A pending subordinate CA gets its certificate from `parent` when installed online and
    /// the parent has one; otherwise it stays pending, which `record` says.
    fn certify_subordinate(
        &mut self,
        spec: &CaSpec,
        parent: &CaName,
        mut ca: CertificationAuthority,
        record: &mut Record,
    ) -> Result<CertificationAuthority, RunError> {
        let now = self.clock.now();
        match (spec.install, self.pki.cas.get_mut(parent)) {
            (CaInstall::RequestFile, _) => {
                record.outcome = Outcome::Info;
                record.reason = Some("pending".into());
                record.details.push(Detail::text("state", format!("pending: the request file waits for {parent} to sign it (install-ca-certificate installs the result)")));
            }
            (CaInstall::Online, Some(parent_ca)) if !parent_ca.is_pending() => {
                let (der, cut) = parent_ca
                    .sign_subordinate(&ca.subordinate_request(), now)
                    .map_err(|e| RunError::Unsupported(format!("CA {}: {e}", spec.name)))?;
                ca.install_certificate(der).map_err(ca_error(spec))?;
                if cut {
                    record.warn("root-expires-first");
                    record.details.push(Detail::text(
                        "lifetime",
                        format!(
                            "cut to {parent}'s expiry: a CA never issues beyond its own certificate"
                        ),
                    ));
                }
            }
            (CaInstall::Online, _) => {
                record.warn("parent-pending");
                record.details.push(Detail::text(
                    "state",
                    format!("pending: parent {parent} has no certificate yet"),
                ));
            }
        }
        Ok(ca)
    }

    /// A CA's host trusts the root of the CA's chain once the CA is installed; an enterprise
    /// root is published to the directory, so every Windows 2000 host trusts it.
    pub(crate) fn trust_own_chain(&mut self, spec: &CaSpec) {
        let Some(root) = self.pki.root_certificate(&spec.name) else {
            return;
        };
        if spec.kind == CaKind::Enterprise && spec.role == CaRole::Root {
            let w2k_hosts: Vec<HostName> = self
                .scenario
                .topology
                .hosts
                .iter()
                .filter(|host| host.os == Os::W2k)
                .map(|host| host.name.clone())
                .collect();
            for host in w2k_hosts {
                self.pki.trust_root_on_host(&host, root.clone());
            }
        } else if let Some(host) = &spec.host {
            if spec.install == CaInstall::Online || spec.role == CaRole::Root {
                self.pki.trust_root_on_host(host, root);
            }
        }
    }

    /// CA-08: a root with subordinates should last at least 3 years.
    fn root_lifetime_warning(&self, spec: &CaSpec) -> Option<String> {
        let CaRole::Subordinate { .. } = spec.role else {
            return None;
        };
        let chain = self.pki.chain_names(&spec.name);
        let root_name = chain.last()?;
        let root = self.pki.cas.get(root_name)?.info()?;
        (root.not_before.plus(Duration::years(3)) > root.not_after).then(|| {
            format!("root {root_name} signs subordinates but is valid only until {}; a root with subordinates should last at least 3 years", root.not_after)
        })
    }

    /// Opens the run to live users' clients (LIVE-01 … LIVE-04): a login per live user, SMTP
    /// submission with AUTH on the sink, and the IMAP, POP3 and LDAP servers, with STARTTLS
    /// under a certificate for `localhost` from the organisation's first root CA.
    pub(super) fn open_to_live_clients(
        &mut self,
        options: &crate::RunOptions,
    ) -> Result<Record, RunError> {
        let mut record = self.setup_record("admin".to_owned(), "serve-live-users");
        let accounts = Live::accounts(&self.scenario, self.seed);
        let tls = self.live_tls_certificate(&mut record)?;
        let submission = sink::Submission {
            credentials: accounts
                .values()
                .map(|account| (account.login.clone(), account.password.clone()))
                .collect(),
            tls: tls.clone(),
            require_auth: false,
        };
        let store = self.mail.sink.store().clone();
        let address = std::net::SocketAddr::new(options.live.bind, options.live.ports.smtp);
        self.mail.sink =
            sink::EmbeddedSink::start_at(address, sink::Limits::default(), store, submission)?;
        let live = Live::start(
            &self.scenario,
            &options.live,
            &self.work_dir,
            self.mail.sink.store(),
            accounts,
            tls,
        )?;
        record.details.push(Detail::text(
            "servers",
            "SMTP with AUTH PLAIN/LOGIN, IMAP4rev1 and POP3 (each with STARTTLS), LDAPv3",
        ));
        record.details.push(Detail::list(
            "live-users",
            live.accounts
                .iter()
                .map(|(user, account)| format!("{user} (login {})", account.login))
                .collect(),
        ));
        self.live = Some(live);
        Ok(record)
    }

    /// A server certificate for `localhost` from the organisation's first installed root CA,
    /// for STARTTLS; none (and no STARTTLS) when the organisation has no root yet.
    fn live_tls_certificate(
        &mut self,
        record: &mut Record,
    ) -> Result<Option<sink::TlsConfig>, RunError> {
        let Some(ca_name) = self
            .scenario
            .topology
            .cas
            .iter()
            .filter(|spec| spec.role == CaRole::Root && spec.kind != CaKind::ThirdParty)
            .map(|spec| spec.name.clone())
            .find(|name| self.pki.installed_certificate(name).is_some())
        else {
            record
                .details
                .push(Detail::text("tls", "none: the organisation has no root CA"));
            return Ok(None);
        };
        let failed = |what: &str, error: &dyn std::fmt::Display| {
            RunError::Live(format!("the certificate for STARTTLS: {what}: {error}"))
        };
        let (key, _) = self
            .pki
            .keys
            .key("live:tls", 2048)
            .map_err(|e| failed("its key", &e))?;
        let subject = pki::build_name(&[
            pki::NameAttribute::Organization(&self.scenario.topology.organisation),
            pki::NameAttribute::CommonName("localhost"),
        ])
        .map_err(|e| failed("its name", &e))?;
        let request = pki::CertificateRequest {
            subject,
            email: None,
            public_key: key.to_public_key(),
            purpose: pki::CertificatePurpose::TlsServer,
            version: pki::CertificateVersion::V3,
        };
        let now = self.clock.now();
        let authority = self
            .pki
            .cas
            .get_mut(&ca_name)
            .ok_or_else(|| RunError::Live(format!("no CA {ca_name}")))?;
        let hosts = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        let issued = authority
            .issue_server_certificate(&request, hosts, now)
            .map_err(|e| failed("issuing it", &e))?;
        self.pki
            .book
            .add(&issued.der, "server certificate for live clients");
        record
            .details
            .push(Detail::text("tls", certificate_line(&issued.der)));
        let mut chain = vec![issued.der.clone()];
        chain.extend(self.pki.issuer_chain(&issued.der));
        let key = pki::private_key_der(&key).map_err(|e| failed("its key", &e))?;
        let tls = sink::TlsConfig::new(&chain, &key).map_err(|e| failed("TLS", &e))?;
        Ok(Some(tls))
    }

    fn setup_record(&self, actor: String, action: &str) -> Record {
        Record::new(self.clock.now(), actor, action)
    }
}

/// The `ca` detail of an install: name, kind, role, where, policy module.
fn ca_summary(spec: &CaSpec) -> String {
    let host = spec
        .host
        .as_ref()
        .map_or("outside the organisation".to_owned(), |host| {
            format!("on {host}")
        });
    let role = match &spec.role {
        CaRole::Root => "root".to_owned(),
        CaRole::Subordinate { parent } => format!("subordinate of {parent}"),
    };
    format!(
        "{} ({} {role} {host}, {} policy module)",
        spec.name,
        spec.kind.name(),
        spec.policy.name()
    )
}

/// How a PKI failure while installing `spec` becomes a run error.
fn ca_error(spec: &CaSpec) -> impl Fn(pki::PkiError) -> RunError + '_ {
    |source| RunError::Ca {
        ca: spec.name.to_string(),
        source: Box::new(source),
    }
}
