//! A certification authority: its settings, its key and certificate, what it issued and
//! revoked, and the CRLs it published.

use model::{CaName, CertificateDer, CrlDer, Duration, Named, SeededRng, Serial, Timestamp, named};
use rand_core::RngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::name::Name;

use crate::PkiError;
use crate::certificate::{
    CertificateInfo, CertificatePurpose, CertificateTemplate, CertificateVersion, Issuer,
    SignatureHash, issue_certificate,
};
use crate::crl::{RevokedEntry, build_crl};
use crate::name::{NameAttribute, build_name};

/// What kind of certification authority this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaKind {
    /// A Windows 2000 stand-alone CA, the only kind a 5.5 KM server can use.
    Standalone,
    /// A Windows 2000 enterprise CA (needs Active Directory).
    Enterprise,
    /// Microsoft Certificate Server 1.0 on Windows NT 4.0.
    Nt4CertificateServer,
    /// A root run by someone else (a commercial CA), outside the organisation.
    ThirdParty,
}

named!(CaKind {
    Standalone => "standalone",
    Enterprise => "enterprise",
    Nt4CertificateServer => "nt4-certificate-server",
    ThirdParty => "third-party",
});

/// The policy module that decides what the CA issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyModule {
    /// "Enterprise and Stand-alone Policy Module", the Windows 2000 default.
    Standard,
    /// Expolicy.dll, the Exchange 5.5 module.
    LegacyExchange,
    /// The outdated build of Expolicy.dll that shipped with Exchange 5.5 SP1.
    LegacyExchangeSp1,
    /// Expolicyw2k.dll, the updated Exchange module.
    ExchangeW2k,
}

named!(PolicyModule {
    Standard => "standard",
    LegacyExchange => "legacy-exchange",
    LegacyExchangeSp1 => "legacy-exchange-sp1",
    ExchangeW2k => "exchange-w2k",
});

impl PolicyModule {
    /// Whether this module adds the CA's CRL distribution point to issued certificates
    /// (CA-05: the legacy Exchange module does not).
    pub fn adds_crl_distribution_point(self) -> bool {
        !matches!(self, Self::LegacyExchange | Self::LegacyExchangeSp1)
    }

    /// Whether this is one of the Exchange modules a 5.5 KM server needs (CA-03), which make
    /// the CA issue only e-mail certificates (CA-04).
    pub fn is_exchange(self) -> bool {
        !matches!(self, Self::Standard)
    }

    /// Whether registering this module deserves a warning (CA-05: the SP1 build is outdated).
    pub fn is_outdated(self) -> bool {
        matches!(self, Self::LegacyExchangeSp1)
    }
}

/// The unit of `validity_period`, as the CA's registry setting `ValidityPeriod` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidityPeriod {
    /// Years.
    Years,
    /// Months.
    Months,
    /// Weeks.
    Weeks,
    /// Days.
    Days,
}

named!(ValidityPeriod { Years => "years", Months => "months", Weeks => "weeks", Days => "days" });

/// How long issued certificates last: `units` of `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ValiditySetting {
    /// The unit.
    pub period: ValidityPeriod,
    /// How many units.
    pub units: u32,
}

impl ValiditySetting {
    /// The Windows 2000 default: one year.
    pub const DEFAULT: Self = Self {
        period: ValidityPeriod::Years,
        units: 1,
    };

    /// The setting as a calendar duration.
    pub fn duration(self) -> Duration {
        match self.period {
            ValidityPeriod::Years => Duration::years(self.units),
            ValidityPeriod::Months => Duration::months(self.units),
            ValidityPeriod::Weeks => Duration::days(self.units.saturating_mul(7)),
            ValidityPeriod::Days => Duration::days(self.units),
        }
    }
}

impl std::fmt::Display for ValiditySetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = match self.period {
            ValidityPeriod::Years => "year",
            ValidityPeriod::Months => "month",
            ValidityPeriod::Weeks => "week",
            ValidityPeriod::Days => "day",
        };
        let plural = if self.units == 1 { "" } else { "s" };
        write!(f, "{} {unit}{plural}", self.units)
    }
}

/// A deliberately broken property of a third-party root, for reproducing what the KM server
/// rejects (CA-09). Everything wrong on purpose in a CA is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaFault {
    /// The root's issuer name differs from its subject name.
    IssuerDiffers,
    /// The CA's certificate is not an RFC 5280 CA certificate (version 1, no basic
    /// constraints): a root signs itself so, a subordinate asks its parent for one.
    NotWellFormed,
}

named!(CaFault { IssuerDiffers => "issuer-differs", NotWellFormed => "not-well-formed" });

/// The cryptographic service provider a CA's key pair came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Csp {
    /// Microsoft Base Cryptographic Provider v1.0, what the KM server expects.
    MicrosoftBase,
    /// Microsoft Enhanced Cryptographic Provider v1.0.
    MicrosoftEnhanced,
    /// Microsoft Strong Cryptographic Provider.
    MicrosoftStrong,
    /// A smart card or hardware provider.
    Hardware,
}

named!(Csp {
    MicrosoftBase => "microsoft-base-v1",
    MicrosoftEnhanced => "microsoft-enhanced-v1",
    MicrosoftStrong => "microsoft-strong",
    Hardware => "hardware",
});

/// Where a CA's key pair came from, as far as the KM server cares (CA-03). kmlab always
/// generates a 2048-bit key so that artifacts open in today's tools; these facts only decide
/// what the KM server warns about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyOrigin {
    /// The provider.
    pub csp: Csp,
    /// A key length chosen instead of the provider's default.
    pub key_length: Option<u32>,
    /// Whether an existing key pair was reused instead of generating a fresh one.
    pub reused: bool,
}

impl KeyOrigin {
    /// The Base provider with its default length, freshly generated.
    pub const DEFAULT: Self = Self {
        csp: Csp::MicrosoftBase,
        key_length: None,
        reused: false,
    };

    /// What differs from what the KM server expects, if anything.
    pub fn deviations(self, hash: SignatureHash) -> Vec<String> {
        let mut out = Vec::new();
        if self.csp != Csp::MicrosoftBase {
            out.push(format!("provider {}", self.csp.name()));
        }
        if let Some(bits) = self.key_length {
            out.push(format!("key length {bits} instead of the provider default"));
        }
        if self.reused {
            out.push("a reused key pair".to_owned());
        }
        if hash != SignatureHash::Sha1 {
            out.push(format!("hash {} instead of sha1", model::Named::name(hash)));
        }
        out
    }
}

/// A certificate-template permission an Exchange 2000 KM server needs on an enterprise CA
/// (KM-17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplatePermission {
    /// Authenticated Users may read the MachineEnrollmentAgent template.
    AuthenticatedUsersReadMachineEnrollmentAgent,
    /// The KM servers group may enroll on MachineEnrollmentAgent.
    KmEnrollMachineEnrollmentAgent,
    /// The KM servers group may enroll on ExchangeUser.
    KmEnrollExchangeUser,
    /// The KM servers group may enroll on ExchangeUserSignature.
    KmEnrollExchangeUserSignature,
}

named!(TemplatePermission {
    AuthenticatedUsersReadMachineEnrollmentAgent => "authenticated-users-read:MachineEnrollmentAgent",
    KmEnrollMachineEnrollmentAgent => "km-enroll:MachineEnrollmentAgent",
    KmEnrollExchangeUser => "km-enroll:ExchangeUser",
    KmEnrollExchangeUserSignature => "km-enroll:ExchangeUserSignature",
});

/// What a scenario says about a CA when it is installed.
#[derive(Debug, Clone)]
pub struct CaSetup {
    /// The CA's common name.
    pub name: CaName,
    /// What kind of CA it is.
    pub kind: CaKind,
    /// The organisation, put in the CA's subject.
    pub organization: String,
    /// The active policy module.
    pub policy: PolicyModule,
    /// The validity setting for issued certificates.
    pub validity: ValiditySetting,
    /// How long the CA's own certificate lasts.
    pub lifetime: Duration,
    /// The signature hash for everything the CA signs.
    pub hash: SignatureHash,
    /// The CRL distribution point URL the CA publishes.
    pub crl_url: String,
    /// Whether the CA puts a CRL distribution point in what it issues at all.
    pub publishes_cdp: bool,
    /// How long after a CRL its next one is due.
    pub crl_period: Duration,
    /// How long the CA signs a subordinate CA's certificate for.
    pub subordinate_validity: Duration,
    /// Deliberate defects.
    pub faults: Vec<CaFault>,
}

/// A certificate request as the CA receives it.
#[derive(Debug, Clone)]
pub struct CertificateRequest {
    /// The requested subject name.
    pub subject: Name,
    /// The subject's e-mail address.
    pub email: Option<String>,
    /// The public key to certify.
    pub public_key: RsaPublicKey,
    /// What the certificate is for.
    pub purpose: CertificatePurpose,
    /// The requested X.509 version.
    pub version: CertificateVersion,
}

/// One certificate the CA issued, as its database keeps it.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate.
    pub der: CertificateDer,
    /// Its serial number.
    pub serial: Serial,
    /// Its subject, RFC 4514.
    pub subject: String,
    /// What it is for.
    pub purpose: CertificatePurpose,
    /// Its end of validity.
    pub not_after: Timestamp,
    /// Whether the requested lifetime was cut at the CA's own expiry (CA-08).
    pub cut_at_ca_expiry: bool,
    /// When it was revoked, if it was.
    pub revoked_at: Option<Timestamp>,
}

/// Why the CA did not issue.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// The policy module denied the request; the reason word says why.
    #[error("request denied: {0}")]
    Denied(&'static str),
    /// The CA is a subordinate whose certificate is not installed yet (CA-10).
    #[error("the CA is pending: its certificate has not been installed")]
    Pending,
    /// Building the certificate failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
}

impl IssueError {
    /// A stable reason word for transcripts.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Denied(reason) => reason,
            Self::Pending => "ca-pending",
            Self::Pki(_) => "issuance-failed",
        }
    }
}

/// Why a revocation did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RevokeError {
    /// The CA never issued this serial.
    #[error("the CA did not issue this certificate")]
    NotIssued,
    /// It is already revoked.
    #[error("the certificate is already revoked")]
    AlreadyRevoked,
}

/// A subordinate's request to its parent: its name and public key.
#[derive(Debug, Clone)]
pub struct SubordinateRequest {
    /// The subordinate's subject name.
    pub subject: Name,
    /// Its public key.
    pub public_key: RsaPublicKey,
    /// The lifetime it asks for.
    pub lifetime: Duration,
    /// The certificate version it asks for: version 1 (no extensions, so no basic constraints)
    /// for a subordinate with the `not-well-formed` fault, as a third-party CA of the era might
    /// have been certified; version 3 otherwise.
    pub version: CertificateVersion,
}

/// A certification authority with its key, certificate and database.
#[derive(Debug, Clone)]
pub struct CertificationAuthority {
    setup: CaSetup,
    key: RsaPrivateKey,
    subject: Name,
    certificate: Option<(CertificateDer, CertificateInfo)>,
    /// Settings changed but not yet in force: they apply at the next restart (OPS-04).
    configured_validity: ValiditySetting,
    configured_policy: PolicyModule,
    serials: SerialSource,
    issued: Vec<IssuedCertificate>,
    crl_number: u32,
    crls: Vec<CrlDer>,
}

impl CertificationAuthority {
    fn new(setup: CaSetup, key: RsaPrivateKey, serials: SeededRng) -> Result<Self, PkiError> {
        let subject = build_name(&[
            NameAttribute::Organization(&setup.organization),
            NameAttribute::CommonName(setup.name.as_str()),
        ])?;
        Ok(Self {
            configured_validity: setup.validity,
            configured_policy: setup.policy,
            setup,
            key,
            subject,
            certificate: None,
            serials: SerialSource {
                rng: serials,
                next_request_id: 1,
            },
            issued: Vec::new(),
            crl_number: 0,
            crls: Vec::new(),
        })
    }

    /// Installs a root CA: it signs its own certificate, valid from `now` for its lifetime.
    pub fn install_root(
        setup: CaSetup,
        key: RsaPrivateKey,
        serials: SeededRng,
        now: Timestamp,
    ) -> Result<Self, PkiError> {
        let mut ca = Self::new(setup, key, serials)?;
        let not_well_formed = ca.setup.faults.contains(&CaFault::NotWellFormed);
        let issuer_name = if ca.setup.faults.contains(&CaFault::IssuerDiffers) {
            build_name(&[
                NameAttribute::Organization(&ca.setup.organization),
                NameAttribute::CommonName(&format!("{} Issuing Authority", ca.setup.name)),
            ])?
        } else {
            ca.subject.clone()
        };
        let template = CertificateTemplate {
            host_names: Vec::new(),
            version: if not_well_formed {
                CertificateVersion::V1
            } else {
                CertificateVersion::V3
            },
            purpose: CertificatePurpose::Authority,
            serial: ca.serials.next(),
            subject: ca.subject.clone(),
            email: None,
            not_before: now,
            not_after: now.plus(ca.setup.lifetime),
            crl_distribution_point: None,
            hash: ca.setup.hash,
        };
        let issuer = Issuer {
            name: &issuer_name,
            key: &ca.key,
            key_identifier: None,
        };
        let der = issue_certificate(&template, &ca.key.to_public_key(), issuer)?;
        let info = CertificateInfo::parse(&der)?;
        ca.certificate = Some((der, info));
        Ok(ca)
    }

    /// Installs a subordinate that has generated its key and request but has no certificate
    /// yet: it stays pending and issues nothing until [`Self::install_certificate`] (CA-10).
    pub fn install_pending(
        setup: CaSetup,
        key: RsaPrivateKey,
        serials: SeededRng,
    ) -> Result<Self, PkiError> {
        Self::new(setup, key, serials)
    }

    /// The request file a pending subordinate hands to its parent.
    pub fn subordinate_request(&self) -> SubordinateRequest {
        SubordinateRequest {
            subject: self.subject.clone(),
            public_key: self.key.to_public_key(),
            lifetime: self.setup.lifetime,
            version: if self.setup.faults.contains(&CaFault::NotWellFormed) {
                CertificateVersion::V1
            } else {
                CertificateVersion::V3
            },
        }
    }

    /// The parent signs a subordinate's request: valid from `now` for the shorter of what
    /// was asked and what this CA signs subordinates for, never beyond this CA's own expiry.
    /// Returns the certificate and whether its lifetime was cut at this CA's expiry (CA-08).
    pub fn sign_subordinate(
        &mut self,
        request: &SubordinateRequest,
        now: Timestamp,
    ) -> Result<(CertificateDer, bool), IssueError> {
        let Some((_, info)) = &self.certificate else {
            return Err(IssueError::Pending);
        };
        let own_not_after = info.not_after;
        let asked = now.plus(request.lifetime);
        let allowed = now.plus(self.setup.subordinate_validity);
        let wanted = asked.min(allowed);
        let cut = wanted > own_not_after;
        let not_after = wanted.min(own_not_after);
        let template = CertificateTemplate {
            host_names: Vec::new(),
            version: request.version,
            purpose: CertificatePurpose::Authority,
            serial: self.serials.next(),
            subject: request.subject.clone(),
            email: None,
            not_before: now,
            not_after,
            crl_distribution_point: self.cdp_for(request.version),
            hash: self.setup.hash,
        };
        let der = self.sign(&template, &request.public_key)?;
        self.record(&template, &der, CertificatePurpose::Authority, cut);
        Ok((der, cut))
    }

    /// Installs the certificate the parent signed; the CA becomes active.
    pub fn install_certificate(&mut self, der: CertificateDer) -> Result<(), PkiError> {
        let info = CertificateInfo::parse(&der)?;
        self.certificate = Some((der, info));
        Ok(())
    }

    /// Upgrades Certificate Server 1.0 in place to Windows 2000 certificate services; the
    /// database is converted and the CA becomes a stand-alone CA (OPS-03).
    pub fn upgrade_to_w2k(&mut self) {
        self.setup.kind = CaKind::Standalone;
    }

    /// The CA's name.
    pub fn name(&self) -> &CaName {
        &self.setup.name
    }

    /// The CA's setup as installed.
    pub fn setup(&self) -> &CaSetup {
        &self.setup
    }

    /// The CA's subject name.
    pub fn subject(&self) -> &Name {
        &self.subject
    }

    /// Whether the CA waits for its certificate.
    pub fn is_pending(&self) -> bool {
        self.certificate.is_none()
    }

    /// The CA's own certificate, once it has one.
    pub fn certificate(&self) -> Option<&CertificateDer> {
        self.certificate.as_ref().map(|(der, _)| der)
    }

    /// The CA's own certificate, parsed.
    pub fn info(&self) -> Option<&CertificateInfo> {
        self.certificate.as_ref().map(|(_, info)| info)
    }

    /// The validity setting in force.
    pub fn validity(&self) -> ValiditySetting {
        self.setup.validity
    }

    /// The policy module in force.
    pub fn policy(&self) -> PolicyModule {
        self.setup.policy
    }

    /// Changes registry-like settings; they take effect at the next restart (CA-07, OPS-04).
    pub fn configure(&mut self, validity: Option<ValiditySetting>, policy: Option<PolicyModule>) {
        if let Some(validity) = validity {
            self.configured_validity = validity;
        }
        if let Some(policy) = policy {
            self.configured_policy = policy;
        }
    }

    /// Settings configured but not yet in force.
    pub fn pending_settings(&self) -> (Option<ValiditySetting>, Option<PolicyModule>) {
        (
            (self.configured_validity != self.setup.validity).then_some(self.configured_validity),
            (self.configured_policy != self.setup.policy).then_some(self.configured_policy),
        )
    }

    /// Restarts the service: configured settings come into force. Returns what changed.
    pub fn restart(&mut self) -> (Option<ValiditySetting>, Option<PolicyModule>) {
        let changed = self.pending_settings();
        self.setup.validity = self.configured_validity;
        self.setup.policy = self.configured_policy;
        changed
    }

    /// When a certificate issued at `now` would expire: the validity setting in force, cut at
    /// the CA's own expiry. `None` while the CA is pending.
    pub fn issued_not_after(&self, now: Timestamp) -> Option<(Timestamp, bool)> {
        let own = self.info()?.not_after;
        let wanted = now.plus(self.setup.validity.duration());
        Some((wanted.min(own), wanted > own))
    }

    /// Everything the CA issued, in order.
    pub fn issued(&self) -> &[IssuedCertificate] {
        &self.issued
    }

    /// Issues a certificate for `request` at `now`.
    pub fn issue(
        &mut self,
        request: &CertificateRequest,
        now: Timestamp,
    ) -> Result<IssuedCertificate, IssueError> {
        if self.setup.policy.is_exchange()
            && !request.purpose.is_email()
            && request.purpose != CertificatePurpose::KmServer
            && self.issued_not_after(now).is_some()
        {
            return Err(IssueError::Denied("exclusive-policy-module"));
        }
        self.issue_for(request, Vec::new(), self.setup.hash, now)
    }

    /// Issues a TLS certificate for one of the organisation's own servers, naming
    /// `host_names` in subjectAltName: the administrator installs it from the CA's own
    /// console, so the policy module, which judges requests, does not see it. It is signed
    /// with SHA-256 whatever the CA's hash: today's TLS clients refuse SHA-1 signatures, and
    /// this certificate is the harness's plumbing, not part of what a scenario tests.
    pub fn issue_server_certificate(
        &mut self,
        request: &CertificateRequest,
        host_names: Vec<String>,
        now: Timestamp,
    ) -> Result<IssuedCertificate, IssueError> {
        self.issue_for(request, host_names, SignatureHash::Sha256, now)
    }

    fn issue_for(
        &mut self,
        request: &CertificateRequest,
        host_names: Vec<String>,
        hash: SignatureHash,
        now: Timestamp,
    ) -> Result<IssuedCertificate, IssueError> {
        let Some((not_after, cut_at_ca_expiry)) = self.issued_not_after(now) else {
            return Err(IssueError::Pending);
        };
        if self.info().is_some_and(|info| now > info.not_after) {
            return Err(IssueError::Denied("ca-expired"));
        }
        let template = CertificateTemplate {
            host_names,
            version: request.version,
            purpose: request.purpose,
            serial: self.serials.next(),
            subject: request.subject.clone(),
            email: match request.version {
                CertificateVersion::V3 => request.email.clone(),
                CertificateVersion::V1 => None,
            },
            not_before: now,
            not_after,
            crl_distribution_point: self.cdp_for(request.version),
            hash,
        };
        let der = self.sign(&template, &request.public_key)?;
        Ok(self.record(&template, &der, request.purpose, cut_at_ca_expiry))
    }

    fn cdp_for(&self, version: CertificateVersion) -> Option<String> {
        (version == CertificateVersion::V3
            && self.setup.publishes_cdp
            && self.setup.policy.adds_crl_distribution_point())
        .then(|| self.setup.crl_url.clone())
    }

    fn sign(
        &self,
        template: &CertificateTemplate,
        public_key: &RsaPublicKey,
    ) -> Result<CertificateDer, PkiError> {
        let key_identifier = self
            .info()
            .and_then(|info| info.subject_key_identifier.clone());
        let issuer = Issuer {
            name: &self.subject,
            key: &self.key,
            key_identifier: key_identifier.as_deref(),
        };
        issue_certificate(template, public_key, issuer)
    }

    fn record(
        &mut self,
        template: &CertificateTemplate,
        der: &CertificateDer,
        purpose: CertificatePurpose,
        cut_at_ca_expiry: bool,
    ) -> IssuedCertificate {
        let issued = IssuedCertificate {
            der: der.clone(),
            serial: template.serial.clone(),
            subject: crate::name::display_name(&template.subject),
            purpose,
            not_after: template.not_after,
            cut_at_ca_expiry,
            revoked_at: None,
        };
        self.issued.push(issued.clone());
        issued
    }

    /// Marks an issued certificate revoked in the CA database (CA-12).
    pub fn revoke(&mut self, serial: &Serial, at: Timestamp) -> Result<(), RevokeError> {
        let entry = self
            .issued
            .iter_mut()
            .find(|issued| &issued.serial == serial)
            .ok_or(RevokeError::NotIssued)?;
        if entry.revoked_at.is_some() {
            return Err(RevokeError::AlreadyRevoked);
        }
        entry.revoked_at = Some(at);
        Ok(())
    }

    /// Whether the CA database lists `serial` as revoked.
    pub fn is_revoked(&self, serial: &Serial) -> bool {
        self.issued
            .iter()
            .any(|issued| &issued.serial == serial && issued.revoked_at.is_some())
    }

    /// Publishes a CRL of everything revoked so far, numbered one higher than the last.
    pub fn publish_crl(&mut self, now: Timestamp) -> Result<CrlDer, IssueError> {
        let Some((_, info)) = &self.certificate else {
            return Err(IssueError::Pending);
        };
        let key_identifier = info.subject_key_identifier.clone();
        self.crl_number += 1;
        let revoked: Vec<RevokedEntry> = self
            .issued
            .iter()
            .filter_map(|issued| {
                issued.revoked_at.map(|at| RevokedEntry {
                    serial: issued.serial.clone(),
                    revoked_at: at,
                })
            })
            .collect();
        let crl = build_crl(
            &self.subject,
            &self.key,
            key_identifier.as_deref(),
            self.setup.hash,
            self.crl_number,
            now,
            now.plus(self.setup.crl_period),
            &revoked,
        )?;
        self.crls.push(crl.clone());
        Ok(crl)
    }

    /// The newest CRL, if one was published.
    pub fn latest_crl(&self) -> Option<&CrlDer> {
        self.crls.last()
    }

    /// The CA's private key, for signing what only the CA signs (certificate trust lists).
    pub(crate) fn key(&self) -> &RsaPrivateKey {
        &self.key
    }
}

/// Draws serial numbers the way Windows 2000 certificate services shaped them: four seeded
/// random bytes, two zero bytes and the request number, so the request order stays visible.
#[derive(Debug, Clone)]
struct SerialSource {
    rng: SeededRng,
    next_request_id: u32,
}

impl SerialSource {
    fn next(&mut self) -> Serial {
        let mut bytes = [0u8; 10];
        self.rng.fill_bytes(&mut bytes[..4]);
        bytes[0] = (bytes[0] & 0x7f) | 0x10;
        bytes[6..].copy_from_slice(&self.next_request_id.to_be_bytes());
        self.next_request_id += 1;
        Serial::from_be_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crl::CrlInfo;
    use crate::ctl::{TrustList, TrustListInfo};
    use crate::{KeyPool, SignatureMemo, verify_chain};

    fn setup(name: &str, policy: PolicyModule) -> CaSetup {
        CaSetup {
            name: CaName::new(name),
            kind: CaKind::Standalone,
            organization: "Contoso".into(),
            policy,
            validity: ValiditySetting::DEFAULT,
            lifetime: Duration::years(5),
            hash: SignatureHash::Sha1,
            crl_url: format!("http://ca/{name}.crl"),
            publishes_cdp: true,
            crl_period: Duration::days(7),
            subordinate_validity: Duration::years(3),
            faults: Vec::new(),
        }
    }

    fn root(name: &str, policy: PolicyModule) -> CertificationAuthority {
        let key = KeyPool::new(23, None).key(name, 1024).unwrap().0;
        CertificationAuthority::install_root(
            setup(name, policy),
            key,
            SeededRng::new(23, name),
            Timestamp::DEFAULT_START,
        )
        .unwrap()
    }

    fn request(purpose: CertificatePurpose) -> CertificateRequest {
        CertificateRequest {
            subject: build_name(&[NameAttribute::CommonName("alice")]).unwrap(),
            email: Some("alice@contoso.example".into()),
            public_key: KeyPool::new(23, None)
                .key("alice", 1024)
                .unwrap()
                .0
                .to_public_key(),
            purpose,
            version: CertificateVersion::V3,
        }
    }

    #[test]
    fn an_exchange_policy_module_makes_the_ca_exclusive() {
        let now = Timestamp::DEFAULT_START;
        let mut standard = root("Std", PolicyModule::Standard);
        assert!(
            standard
                .issue(&request(CertificatePurpose::TlsServer), now)
                .is_ok()
        );
        let mut exchange = root("Exch", PolicyModule::ExchangeW2k);
        assert!(matches!(
            exchange.issue(&request(CertificatePurpose::TlsServer), now),
            Err(IssueError::Denied("exclusive-policy-module"))
        ));
        assert!(
            exchange
                .issue(&request(CertificatePurpose::SmimeEncryption), now)
                .is_ok()
        );
        assert!(
            exchange
                .issue(&request(CertificatePurpose::KmServer), now)
                .is_ok()
        );
    }

    #[test]
    fn settings_take_effect_only_after_a_restart() {
        let now = Timestamp::DEFAULT_START;
        let mut ca = root("Root", PolicyModule::ExchangeW2k);
        ca.configure(
            Some(ValiditySetting {
                period: ValidityPeriod::Years,
                units: 2,
            }),
            None,
        );
        let before = ca
            .issue(&request(CertificatePurpose::SmimeSigning), now)
            .unwrap();
        assert_eq!(before.not_after, now.plus(Duration::years(1)));
        assert_eq!(ca.restart().0.map(|v| v.units), Some(2));
        let after = ca
            .issue(&request(CertificatePurpose::SmimeSigning), now)
            .unwrap();
        assert_eq!(after.not_after, now.plus(Duration::years(2)));
    }

    #[test]
    fn issued_lifetime_is_cut_at_the_ca_expiry() {
        let mut ca = root("Root", PolicyModule::ExchangeW2k);
        let late = Timestamp::DEFAULT_START
            .plus(Duration::years(4))
            .plus(Duration::months(6));
        let issued = ca
            .issue(&request(CertificatePurpose::SmimeSigning), late)
            .unwrap();
        assert!(issued.cut_at_ca_expiry);
        assert_eq!(Some(issued.not_after), ca.info().map(|info| info.not_after));
    }

    #[test]
    fn a_signature_memo_remembers_verdicts_without_changing_them() {
        let now = Timestamp::DEFAULT_START;
        let mut ca = root("Root", PolicyModule::Standard);
        let issued = ca
            .issue(&request(CertificatePurpose::SmimeSigning), now)
            .unwrap();
        let roots = [ca.certificate().unwrap().clone()];
        let memo = SignatureMemo::new();
        let shared = memo.clone();
        let first = verify_chain(&issued.der, &[], &roots, now, &memo);
        assert!(first.is_valid());
        let remembered = memo.len();
        assert!(remembered > 0);
        // A clone is the same memo: the second chain is answered from it.
        assert_eq!(verify_chain(&issued.der, &[], &roots, now, &shared), first);
        assert_eq!(memo.len(), remembered);
        // Another owner's memo starts empty and reaches the same verdict.
        let fresh = SignatureMemo::new();
        assert!(fresh.is_empty());
        assert_eq!(verify_chain(&issued.der, &[], &roots, now, &fresh), first);
        // An untrusted root is the same verdict with or without remembered answers.
        let untrusted = verify_chain(&issued.der, &roots, &[], now, &memo);
        assert_eq!(
            untrusted,
            verify_chain(&issued.der, &roots, &[], now, &SignatureMemo::new())
        );
        assert!(!untrusted.is_valid());
    }

    #[test]
    fn a_pending_subordinate_issues_nothing_until_installed() {
        let now = Timestamp::DEFAULT_START;
        let mut parent = root("Root", PolicyModule::Standard);
        let key = KeyPool::new(23, None).key("sub", 1024).unwrap().0;
        let mut sub = CertificationAuthority::install_pending(
            setup("Sub", PolicyModule::ExchangeW2k),
            key,
            SeededRng::new(23, "sub"),
        )
        .unwrap();
        assert!(matches!(
            sub.issue(&request(CertificatePurpose::SmimeSigning), now),
            Err(IssueError::Pending)
        ));
        let (certificate, cut) = parent
            .sign_subordinate(&sub.subordinate_request(), now)
            .unwrap();
        assert!(!cut);
        sub.install_certificate(certificate.clone()).unwrap();
        let issued = sub
            .issue(&request(CertificatePurpose::SmimeSigning), now)
            .unwrap();
        let roots = [parent.certificate().unwrap().clone()];
        assert!(
            verify_chain(
                &issued.der,
                &[certificate],
                &roots,
                now,
                &SignatureMemo::new()
            )
            .is_valid()
        );
    }

    #[test]
    fn crls_list_revocations_and_verify() {
        let now = Timestamp::DEFAULT_START;
        let mut ca = root("Root", PolicyModule::ExchangeW2k);
        let issued = ca
            .issue(&request(CertificatePurpose::SmimeSigning), now)
            .unwrap();
        ca.revoke(&issued.serial, now).unwrap();
        assert_eq!(
            ca.revoke(&issued.serial, now),
            Err(RevokeError::AlreadyRevoked)
        );
        let first = CrlInfo::parse(&ca.publish_crl(now).unwrap()).unwrap();
        let second = CrlInfo::parse(&ca.publish_crl(now.plus(Duration::days(1))).unwrap()).unwrap();
        assert_eq!((first.number, second.number), (Some(1), Some(2)));
        assert_eq!(second.revocation_of(&issued.serial), Some(now));
        let key = ca.info().unwrap().public_key().unwrap();
        assert!(second.is_signed_by(&key));
        let other = root("Other", PolicyModule::Standard)
            .info()
            .unwrap()
            .public_key()
            .unwrap();
        assert!(!second.is_signed_by(&other));
    }

    #[test]
    fn trust_lists_are_signed_by_the_root_and_checked() {
        let ca = root("Root", PolicyModule::ExchangeW2k);
        let foreign = root("Foreign", PolicyModule::Standard);
        let mut list = TrustList::default();
        assert!(list.add(foreign.certificate().unwrap().clone()));
        let signed = list.sign(&ca, Timestamp::DEFAULT_START).unwrap();
        let info = TrustListInfo::verify(&signed, ca.certificate().unwrap()).unwrap();
        assert_eq!(info.sequence, 1);
        assert!(info.trusts(foreign.certificate().unwrap()));
        assert!(!info.trusts(ca.certificate().unwrap()));
        // Anyone else's signature is refused.
        assert!(TrustListInfo::verify(&signed, foreign.certificate().unwrap()).is_err());
    }
}
