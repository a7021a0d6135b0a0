//! The KM server products and their service packs: the vocabulary the placement rules, the
//! preconditions of advanced security and the server itself all speak.

use model::{Named, named};

/// An Exchange 5.5 service pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServicePack {
    /// The release to manufacturing.
    None,
    /// Service Pack 1.
    Sp1,
    /// Service Pack 2.
    Sp2,
    /// Service Pack 3.
    Sp3,
    /// Service Pack 4.
    Sp4,
}

named!(ServicePack { None => "none", Sp1 => "sp1", Sp2 => "sp2", Sp3 => "sp3", Sp4 => "sp4" });

/// Which KM server product this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// Exchange Server 5.5 Key Management Server, with its service pack.
    Ex55(ServicePack),
    /// Exchange 2000 Key Management Service.
    Ex2000,
}

impl Product {
    /// `ex55 sp3` or `ex2000`, for transcripts.
    pub fn describe(self) -> String {
        match self {
            Self::Ex55(sp) => format!("ex55 {}", sp.name()),
            Self::Ex2000 => "ex2000".to_owned(),
        }
    }
}
