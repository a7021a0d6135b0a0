//! Why a step could not run: a harness failure, typed by the layer it came from. A step's
//! outcome (refused, error with an identifier, a verdict) is a record, never one of these.

use std::fmt;

/// A harness failure inside one step: kmlab itself could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// Something the step names is not in the World.
    #[error("no {what} {name}")]
    Missing {
        /// What kind of thing (`user`, `CA`, `KM server`, `host`, `message`).
        what: Thing,
        /// Its name.
        name: String,
    },
    /// A CA, certificate or key operation failed.
    #[error(transparent)]
    Pki(#[from] pki::PkiError),
    /// A KM server operation failed (its database, most often).
    #[error(transparent)]
    Km(#[from] km::KmError),
    /// The engine failed at its job (not a verdict: an unusable key, a broken build).
    #[error(transparent)]
    Engine(#[from] smime::EngineError),
    /// A key could not be generated or read from the key cache.
    #[error(transparent)]
    Key(#[from] pki::KeyError),
    /// The SMTP client could not submit a message (not a refusal by the sink: that is a
    /// record).
    #[error(transparent)]
    Submit(#[from] clients::submit::SubmitError),
    /// A PKCS #12 file could not be built.
    #[error("PKCS #12: {0}")]
    Pkcs12(#[from] pki::Pkcs12Error),
    /// Encoding or decoding DER failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// What failed.
        source: std::io::Error,
    },
    /// The World is not in a state the step can act on (a KM server without a certificate
    /// after enabling advanced security, a subordinate's request without its CA).
    #[error("{0}")]
    Inconsistent(String),
}

impl StepError {
    /// A lookup of `name` that found nothing.
    pub(crate) fn missing(what: Thing, name: impl fmt::Display) -> Self {
        Self::Missing {
            what,
            name: name.to_string(),
        }
    }

    /// An IO failure while doing `context`.
    pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { context, source }
    }
}

/// The kinds of things a step looks up by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thing {
    /// A virtual user.
    User,
    /// A certification authority.
    Ca,
    /// A CA that has no certificate yet.
    InstalledCa,
    /// A KM server.
    KmServer,
    /// A KM server that is installed.
    InstalledKmServer,
    /// A host.
    Host,
    /// The host of a CA (a third-party CA has none).
    CaHost,
    /// A backup taken earlier.
    Backup,
}

impl fmt::Display for Thing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::User => "user",
            Self::Ca => "CA",
            Self::InstalledCa => "installed CA",
            Self::KmServer => "KM server",
            Self::InstalledKmServer => "installed KM server",
            Self::Host => "host",
            Self::CaHost => "host for CA",
            Self::Backup => "backup",
        })
    }
}

/// What a step function returns: its record, or the harness failure that stopped it.
pub(crate) type StepResult = Result<report::Record, StepError>;
