//! The vocabulary every other kmlab crate speaks.
//!
//! This crate holds the identifier newtypes (`UserName`, `CaName`, `Serial`, …), the DER
//! newtypes certificates and keys travel in, the injected virtual clock and seeded random
//! number generator, the catalogue of behaviour rules and the explanation of every reason
//! word. It depends on nothing else in the workspace and does no IO.

pub mod ber;
mod der;
pub mod explanations;
mod ids;
mod named;
mod outcome;
pub mod rules;
mod seed;
mod time;
mod topology;

pub use der::{CertificateDer, CertifiedKey, CrlDer, CtlDer, PrivateKeyDer};
pub use ids::{
    CaName, HostName, KeyGeneration, KmName, MailAddress, Serial, SiteName, UserName,
    file_name_problem,
};
pub use named::Named;
pub use outcome::{Outcome, OutcomeParseError};
pub use seed::{SeededRng, derive_seed};
pub use time::{Duration, DurationParseError, Timestamp, TimestampParseError, VirtualClock};
pub use topology::{Domain, DomainKind, Host, InstalledPart, Os};
