//! The scenario language, version 1.
//!
//! A scenario is a TOML file: a header (`version`, `title`, `covers`, `seed`), the topology
//! (`[organisation]`, `[[site]]`, `[[host]]`, `[[ca]]`, `[[km_server]]`, `[[user]]`) and an
//! ordered list of `[[step]]`s, each optionally with an `expect`. It is read in two levels:
//! [`file`] reads the shape with spans, [`resolve`] gives the values meaning and resolves
//! every name. All problems of both levels are reported together, each at its file, line and
//! column ([`Diagnostics`]).

pub mod actions;
mod diagnostics;
pub mod file;
mod load;
mod resolve;
mod skeleton;
mod types;

use std::path::Path;

pub use diagnostics::{Diagnostic, Diagnostics, Location, locate};
pub use load::{LOAD_KEY_SIZE, LoadShape, LoadShapeError, load_enrollment_shard, load_scenario};
pub use resolve::LANGUAGE_VERSION;
pub use skeleton::skeleton;
pub use types::{
    Action, CaInstall, CaRole, CaSpec, CertificateRef, Expectation, Folder, KmSpec, RequestPurpose,
    RestoreSource, RevokeTarget, RootStore, Scenario, SectoolOperation, SendStep, Step,
    TokenChoice, Topology, UserSpec,
};

/// Parses and resolves scenario `source`, read from `path`, giving it identifier `id`.
pub fn parse(id: &str, path: &Path, source: &str) -> Result<Scenario, Diagnostics> {
    let mut problems = Vec::new();
    let resolved = file::read(source, &mut problems)
        .and_then(|raw| resolve::resolve(&raw, id, path, source, &mut problems));
    match resolved {
        Some(scenario) if problems.is_empty() => Ok(scenario),
        _ => Err(Diagnostics::new(path, source, problems)),
    }
}

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The file has problems.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Reads and parses a scenario file.
pub fn load(id: &str, path: &Path) -> Result<Scenario, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let source = match String::from_utf8(bytes) {
        Ok(source) => source,
        Err(error) => {
            let offset = error.utf8_error().valid_up_to();
            let source = String::from_utf8_lossy(error.as_bytes()).into_owned();
            return Err(LoadError::Invalid(Diagnostics::new(
                path,
                &source,
                vec![Diagnostic::new(
                    offset..offset + 1,
                    "the file is not UTF-8 text",
                )],
            )));
        }
    };
    parse(id, path, &source).map_err(LoadError::Invalid)
}
