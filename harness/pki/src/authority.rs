//! A certification authority: its settings, its key and certificate, and what it issued.

use model::{CaName, CertificateDer, Duration, SeededRng, Serial, Timestamp, named};
use rand_core::RngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::name::Name;

use crate::PkiError;
use crate::certificate::{
    CertificateInfo, CertificatePurpose, CertificateTemplate, CertificateVersion, Issuer,
    SignatureHash, issue_certificate,
};
use crate::name::{NameAttribute, build_name};

/// Enterprise CAs publish to the directory and issue by template; stand-alone ones do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CaClass {
    /// A stand-alone CA, the only kind a 5.5 KM server can use.
    Standalone,
    /// An enterprise CA (needs Active Directory).
    Enterprise,
}

named!(CaClass { Standalone => "standalone", Enterprise => "enterprise" });

/// The policy module that decides what the CA issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyModule {
    /// "Enterprise and Stand-alone Policy Module", the Windows 2000 default.
    Standard,
    /// Expolicy.dll, the Exchange 5.5 module.
    LegacyExchange,
    /// Expolicyw2k.dll, the updated Exchange module.
    ExchangeW2k,
}

named!(PolicyModule {
    Standard => "standard",
    LegacyExchange => "legacy-exchange",
    ExchangeW2k => "exchange-w2k",
});

impl PolicyModule {
    /// Whether this module adds the CA's CRL distribution point to issued certificates.
    pub fn adds_crl_distribution_point(self) -> bool {
        !matches!(self, Self::LegacyExchange)
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

/// What a scenario says about a CA when it is installed.
#[derive(Debug, Clone)]
pub struct CaSetup {
    /// The CA's common name.
    pub name: CaName,
    /// Stand-alone or enterprise.
    pub class: CaClass,
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
    /// Its end of validity.
    pub not_after: Timestamp,
    /// Whether the requested lifetime was cut at the CA's own expiry.
    pub cut_at_ca_expiry: bool,
}

/// A certification authority with its key, certificate and database of issued certificates.
#[derive(Debug)]
pub struct CertificationAuthority {
    setup: CaSetup,
    key: RsaPrivateKey,
    certificate: CertificateDer,
    info: CertificateInfo,
    key_identifier: Vec<u8>,
    serials: SerialSource,
    issued: Vec<IssuedCertificate>,
}

impl CertificationAuthority {
    /// Installs a root CA: signs its own certificate, valid from `now` for its lifetime.
    pub fn install_root(
        setup: CaSetup,
        key: RsaPrivateKey,
        serials: SeededRng,
        now: Timestamp,
    ) -> Result<Self, PkiError> {
        let mut serials = SerialSource {
            rng: serials,
            next_request_id: 1,
        };
        let subject = build_name(&[
            NameAttribute::Organization(&setup.organization),
            NameAttribute::CommonName(setup.name.as_str()),
        ])?;
        let template = CertificateTemplate {
            version: CertificateVersion::V3,
            purpose: CertificatePurpose::Authority,
            serial: serials.next(),
            subject: subject.clone(),
            email: None,
            not_before: now,
            not_after: now.plus(setup.lifetime),
            crl_distribution_point: None,
            hash: setup.hash,
        };
        let issuer = Issuer {
            name: &subject,
            key: &key,
            key_identifier: None,
        };
        let certificate = issue_certificate(&template, &key.to_public_key(), issuer)?;
        let info = CertificateInfo::parse(&certificate)?;
        let key_identifier = info.subject_key_identifier.clone().unwrap_or_default();
        Ok(Self {
            setup,
            key,
            certificate,
            info,
            key_identifier,
            serials,
            issued: Vec::new(),
        })
    }

    /// The CA's name.
    pub fn name(&self) -> &CaName {
        &self.setup.name
    }

    /// The CA's setup.
    pub fn setup(&self) -> &CaSetup {
        &self.setup
    }

    /// The CA's own certificate.
    pub fn certificate(&self) -> &CertificateDer {
        &self.certificate
    }

    /// The CA's own certificate, parsed.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// Everything the CA issued, in order.
    pub fn issued(&self) -> &[IssuedCertificate] {
        &self.issued
    }

    /// Issues a certificate for `request` at `now`, valid for the active validity setting but
    /// never beyond the CA's own certificate.
    pub fn issue(
        &mut self,
        request: &CertificateRequest,
        now: Timestamp,
    ) -> Result<IssuedCertificate, PkiError> {
        let wanted = now.plus(self.setup.validity.duration());
        let cut_at_ca_expiry = wanted > self.info.not_after;
        let not_after = if cut_at_ca_expiry {
            self.info.not_after
        } else {
            wanted
        };
        let adds_cdp = request.version == CertificateVersion::V3
            && self.setup.policy.adds_crl_distribution_point();
        let template = CertificateTemplate {
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
            crl_distribution_point: adds_cdp.then(|| self.setup.crl_url.clone()),
            hash: self.setup.hash,
        };
        let issuer = Issuer {
            name: &self.info.certificate.tbs_certificate.subject,
            key: &self.key,
            key_identifier: Some(&self.key_identifier),
        };
        let der = issue_certificate(&template, &request.public_key, issuer)?;
        let issued = IssuedCertificate {
            serial: template.serial,
            subject: crate::name::display_name(&template.subject),
            not_after,
            cut_at_ca_expiry,
            der,
        };
        self.issued.push(issued.clone());
        Ok(issued)
    }
}

/// Draws serial numbers the way Windows 2000 certificate services shaped them: four seeded
/// random bytes, two zero bytes and the request number, so the request order stays visible.
#[derive(Debug)]
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
