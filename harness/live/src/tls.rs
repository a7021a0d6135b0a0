//! TLS for STARTTLS and STLS: the sink's [`sink::TlsConfig`], which the live servers share
//! with the sink's submission so that there is one way to build a server certificate
//! configuration.

pub use sink::tls::{TlsConfig, TlsError};
