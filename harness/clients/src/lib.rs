//! Virtual users and the mail programs they run.
//!
//! A [`Persona`] is a client profile (Outlook 97 … a modern client) whose limits are one row
//! of [`PROFILES`]. A [`VirtualUser`] holds what that client holds: its key history, its
//! signing key, its trusted roots. Users decide what they can send ([`send`]), compose S/MIME
//! ([`compose`]), submit it over real SMTP ([`submit`]) and read what arrives ([`read`]),
//! judging every layer in two levels: what the cryptography says and what the client's trust
//! policy says.

pub mod compose;
mod detail;
pub mod faults;
pub mod fetch;
mod persona;
pub mod policy;
pub mod read;
pub mod send;
pub mod submit;
mod user;

pub use detail::RecordDetail;
pub use persona::{
    DEFAULT_KEY_BITS, Fallback, PROFILES, Persona, Profile, SignForm, Strength, ValidityTime,
};
pub use user::{SigningKey, VirtualUser};
