//! The World's certification side: the key pool, the CAs, each host's trusted roots, the
//! organisation's trust list and the names of every certificate the run issued.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clients::VirtualUser;
use model::{CaName, CertificateDer, CtlDer, HostName};
use pki::{CertificationAuthority, KeyPool, SignatureMemo, TrustList, TrustListInfo};
use scenario::{CaRole, Scenario};

use crate::book::CertificateBook;
use crate::error::{StepError, Thing};

/// Keys, CAs and trust.
#[derive(Debug)]
pub(crate) struct Pki {
    scenario: Arc<Scenario>,
    pub(crate) keys: KeyPool,
    pub(crate) cas: BTreeMap<CaName, CertificationAuthority>,
    /// Each host's trusted root store (CA-13).
    pub(crate) host_roots: BTreeMap<HostName, Vec<CertificateDer>>,
    /// The organisation's certificate trust list and its newest signed form (KM-15).
    pub(crate) trust_list: TrustList,
    pub(crate) signed_trust_list: Option<CtlDer>,
    pub(crate) book: CertificateBook,
    /// Keys handed out for certificates requested straight from a CA, counted per owner.
    pub(crate) direct_requests: u32,
    /// Signature verdicts on certificate chains, remembered for the run: every signed
    /// message makes its readers check the same certificates again.
    pub(crate) signatures: SignatureMemo,
}

impl Pki {
    pub(super) fn new(scenario: &Arc<Scenario>, seed: u64, key_cache: Option<PathBuf>) -> Self {
        Self {
            scenario: Arc::clone(scenario),
            keys: KeyPool::new(seed, key_cache),
            cas: BTreeMap::new(),
            host_roots: scenario
                .topology
                .hosts
                .iter()
                .map(|host| (host.name.clone(), Vec::new()))
                .collect(),
            trust_list: TrustList::default(),
            signed_trust_list: None,
            book: CertificateBook::default(),
            direct_requests: 0,
            signatures: SignatureMemo::new(),
        }
    }

    /// The CA named `ca`.
    pub(crate) fn ca(&self, ca: &CaName) -> Result<&CertificationAuthority, StepError> {
        self.cas
            .get(ca)
            .ok_or_else(|| StepError::missing(Thing::Ca, ca))
    }

    /// The CA named `ca`, to change.
    pub(crate) fn ca_mut(&mut self, ca: &CaName) -> Result<&mut CertificationAuthority, StepError> {
        self.cas
            .get_mut(ca)
            .ok_or_else(|| StepError::missing(Thing::Ca, ca))
    }

    /// A CA's own certificate, once it has one.
    pub(crate) fn installed_certificate(&self, ca: &CaName) -> Option<CertificateDer> {
        self.cas.get(ca)?.certificate().cloned()
    }

    pub(crate) fn trust_root_on_host(&mut self, host: &HostName, root: CertificateDer) {
        let store = self.host_roots.entry(host.clone()).or_default();
        if !store.contains(&root) {
            store.push(root);
        }
    }

    /// The CA names from `ca` up to its root.
    pub(crate) fn chain_names(&self, ca: &CaName) -> Vec<CaName> {
        let mut chain = vec![ca.clone()];
        let mut current = ca.clone();
        while let Some(CaRole::Subordinate { parent }) =
            self.scenario.topology.ca(&current).map(|spec| &spec.role)
        {
            if chain.contains(parent) {
                break;
            }
            chain.push(parent.clone());
            current = parent.clone();
        }
        chain
    }

    /// The CA certificates above `certificate`, nearest first, up to and including the root:
    /// what a client puts in a signed message so that readers can build the chain.
    pub(crate) fn issuer_chain(&self, certificate: &CertificateDer) -> Vec<CertificateDer> {
        let mut chain: Vec<CertificateDer> = Vec::new();
        let mut current = pki::CertificateInfo::parse(certificate).ok();
        while let Some(info) = current.take() {
            let issuer = &info.certificate.tbs_certificate.issuer;
            if info.certificate.tbs_certificate.subject == *issuer && !chain.is_empty() {
                break;
            }
            let next = self
                .cas
                .values()
                .filter_map(|ca| Some((ca.certificate()?, ca.info()?)))
                .find(|(der, ca_info)| {
                    &ca_info.certificate.tbs_certificate.subject == issuer
                        && !chain.contains(der)
                        && *der != certificate
                });
            if let Some((der, ca_info)) = next {
                chain.push(der.clone());
                current = Some(ca_info.clone());
            }
        }
        chain
    }

    /// The certificate of the root above `ca`, once it has one.
    pub(crate) fn root_certificate(&self, ca: &CaName) -> Option<CertificateDer> {
        let root = self.chain_names(ca).pop()?;
        self.cas.get(&root)?.certificate().cloned()
    }

    /// Every CA certificate the World holds: what an implementation in a user's seat is told
    /// it may trust.
    pub(crate) fn authorities(&self) -> Vec<CertificateDer> {
        self.cas
            .values()
            .filter_map(|ca| ca.certificate().cloned())
            .collect()
    }

    /// The CA certificates the organisation's signed trust list vouches for, as `client` sees
    /// them: only a list whose signature checks against one of the client's trusted roots
    /// counts (KM-15).
    pub(crate) fn trust_list_for(&self, client: &VirtualUser) -> Vec<CertificateDer> {
        let Some(signed) = &self.signed_trust_list else {
            return Vec::new();
        };
        let Some(info) = client
            .trusted_roots
            .iter()
            .find_map(|root| TrustListInfo::verify(signed, root).ok())
        else {
            return Vec::new();
        };
        self.trust_list
            .certificates
            .iter()
            .filter(|certificate| info.trusts(certificate))
            .cloned()
            .collect()
    }
}
