//! Certificate revocation lists: building the CA's signed CRLs and reading any CRL back.

use der::asn1::{BitString, OctetString, Uint};
use der::{Decode, Encode};
use model::{CrlDer, Serial, Timestamp};
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::AsExtension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use crate::PkiError;
use crate::certificate::{SignatureHash, timestamp, x509_time};
use crate::chain::signed_by;
use crate::name::display_name;

/// One revoked certificate in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Its serial number.
    pub serial: Serial,
    /// When it was revoked.
    pub revoked_at: Timestamp,
}

/// Signs a version 2 CRL with a CRL number and the issuer's key identifier.
#[expect(
    clippy::too_many_arguments,
    reason = "every field of a CRL is an input"
)]
pub(crate) fn build_crl(
    issuer: &Name,
    key: &RsaPrivateKey,
    key_identifier: Option<&[u8]>,
    hash: SignatureHash,
    number: u32,
    this_update: Timestamp,
    next_update: Timestamp,
    revoked: &[RevokedEntry],
) -> Result<CrlDer, PkiError> {
    let mut entries = Vec::with_capacity(revoked.len());
    for entry in revoked {
        entries.push(RevokedCert {
            serial_number: SerialNumber::new(entry.serial.as_bytes())?,
            revocation_date: x509_time(entry.revoked_at)?,
            crl_entry_extensions: None,
        });
    }
    let mut extensions = Vec::new();
    if let Some(id) = key_identifier {
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(id)?),
            ..Default::default()
        };
        extensions.push(aki.to_extension(issuer, &extensions)?);
    }
    extensions
        .push(CrlNumber(Uint::new(&number.to_be_bytes())?).to_extension(issuer, &extensions)?);
    let tbs = TbsCertList {
        version: Version::V2,
        signature: hash.algorithm(),
        issuer: issuer.clone(),
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(extensions),
    };
    let signature = hash.sign(key, &tbs.to_der()?);
    let list = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: hash.algorithm(),
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(CrlDer::new(list.to_der()?))
}

/// What a CRL says, read from its DER.
#[derive(Debug, Clone)]
pub struct CrlInfo {
    /// The parsed list.
    pub list: CertificateList,
    /// The issuer, RFC 4514.
    pub issuer: String,
    /// The CRL number, if the extension is present.
    pub number: Option<u64>,
    /// When it was issued.
    pub this_update: Timestamp,
    /// When the next one is due.
    pub next_update: Option<Timestamp>,
    /// Every revoked serial with its revocation time.
    pub revoked: Vec<RevokedEntry>,
}

impl CrlInfo {
    /// Parses a CRL.
    pub fn parse(der: &CrlDer) -> Result<Self, PkiError> {
        let list = CertificateList::from_der(der.as_bytes())?;
        let tbs = &list.tbs_cert_list;
        let number = tbs
            .crl_extensions
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .find(|extension| extension.extn_id == <CrlNumber as const_oid::AssociatedOid>::OID)
            .and_then(|extension| CrlNumber::from_der(extension.extn_value.as_bytes()).ok())
            .and_then(|number| {
                let bytes = number.0.as_bytes();
                (bytes.len() <= 8)
                    .then(|| bytes.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b)))
            });
        let revoked = tbs
            .revoked_certificates
            .as_deref()
            .unwrap_or(&[])
            .iter()
            .map(|entry| RevokedEntry {
                serial: Serial::from_der_integer(entry.serial_number.as_bytes()),
                revoked_at: timestamp(entry.revocation_date),
            })
            .collect();
        Ok(Self {
            issuer: display_name(&tbs.issuer),
            number,
            this_update: timestamp(tbs.this_update),
            next_update: tbs.next_update.map(timestamp),
            revoked,
            list,
        })
    }

    /// Whether the CRL carries a valid signature by `key`, checked afresh.
    pub fn is_signed_by(&self, key: &RsaPublicKey) -> bool {
        let Ok(tbs) = self.list.tbs_cert_list.to_der() else {
            return false;
        };
        signed_by(
            &tbs,
            &self.list.signature_algorithm,
            &self.list.signature,
            key,
            None,
        )
    }

    /// When `serial` was revoked, if this CRL lists it.
    pub fn revocation_of(&self, serial: &Serial) -> Option<Timestamp> {
        self.revoked
            .iter()
            .find(|entry| &entry.serial == serial)
            .map(|entry| entry.revoked_at)
    }
}
