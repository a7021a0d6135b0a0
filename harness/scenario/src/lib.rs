//! The scenario language, version 1.
//!
//! A scenario is a TOML file: a header (`version`, `title`, `covers`, `seed`), the topology
//! (`[organisation]`, `[[site]]`, `[[host]]`, `[[ca]]`, `[[km_server]]`, `[[user]]`) and an
//! ordered list of `[[step]]`s, each optionally with an `expect`. It is read in two levels:
//! [`file`] reads the shape with spans, [`resolve`] gives the values meaning and resolves
//! every name. All problems of both levels are reported together, each at its file, line and
//! column ([`Diagnostics`]).

pub mod actions;
mod axis;
mod diagnostics;
pub mod file;
mod load;
mod resolve;
pub mod settings;
mod skeleton;
mod types;

use std::path::Path;

use settings::{Axis, Setting};

pub use diagnostics::{Diagnostic, Diagnostics, Location, locate};
pub use load::{LOAD_KEY_SIZE, LoadShape, LoadShapeError, load_enrollment_shard, load_scenario};
pub use resolve::LANGUAGE_VERSION;
pub use skeleton::skeleton;
pub use types::{
    Action, CaInstall, CaRole, CaSpec, CertificateRef, Expectation, FetchProtocol, Folder, KmSpec,
    RequestPurpose, RestoreSource, RevokeTarget, RootStore, Scenario, SeatSpec, SectoolOperation,
    SendStep, Step, TokenChoice, Topology, Unexpected, UserSpec,
};

/// Parses and resolves scenario `source`, read from `path`, giving it identifier `id`. Every
/// value of the file's own `[matrix]` is checked too, each reported where it is written.
pub fn parse(id: &str, path: &Path, source: &str) -> Result<Scenario, Diagnostics> {
    let mut problems = Vec::new();
    let resolved = file::read(source, &mut problems).and_then(|raw| {
        let scenario = resolve::resolve(&raw, id, path, source, &mut problems)?;
        for setting in raw.matrix.iter().flat_map(|axis| &axis.values) {
            problems.extend(setting_problems(&raw, id, path, source, setting));
        }
        Some(scenario)
    });
    match resolved {
        Some(scenario) if problems.is_empty() => Ok(scenario),
        _ => Err(Diagnostics::new(path, source, problems)),
    }
}

/// Parses `source` with `settings` in place of the file's values: one cell of a matrix.
pub fn parse_with(
    id: &str,
    path: &Path,
    source: &str,
    settings: &[Setting],
) -> Result<Scenario, Diagnostics> {
    let mut problems = Vec::new();
    let resolved = file::read(source, &mut problems).and_then(|mut raw| {
        settings::apply(&mut raw, settings, &mut problems);
        resolve::resolve(&raw, id, path, source, &mut problems)
    });
    match resolved {
        Some(scenario) if problems.is_empty() => Ok(Scenario {
            settings: settings.to_vec(),
            ..scenario
        }),
        _ => Err(Diagnostics::new(path, source, problems)),
    }
}

/// Checks every value of command-line `axes` against the scenario in `source`, which must
/// itself be valid: one message per problem, each naming its `--vary` value.
pub fn check_arguments(id: &str, path: &Path, source: &str, axes: &[Axis]) -> Vec<String> {
    let mut ignored = Vec::new();
    let Some(raw) = file::read(source, &mut ignored) else {
        return Vec::new();
    };
    let mut messages = Vec::new();
    for setting in axes.iter().flat_map(|axis| &axis.values) {
        for problem in setting_problems(&raw, id, path, source, setting) {
            let mut message = format!(
                "--vary {}={}: {}",
                setting.key, setting.value, problem.message
            );
            if let Some(help) = &problem.help {
                message.push_str(&format!(" ({help})"));
            }
            messages.push(message);
        }
    }
    messages
}

/// The problems that `setting` alone causes, found by applying it to a copy of `raw` and
/// keeping what is reported at the setting's own place.
fn setting_problems(
    raw: &file::RawScenario,
    id: &str,
    path: &Path,
    source: &str,
    setting: &Setting,
) -> Vec<Diagnostic> {
    let mut raw = raw.clone();
    let mut problems = Vec::new();
    settings::apply(&mut raw, std::slice::from_ref(setting), &mut problems);
    resolve::resolve(&raw, id, path, source, &mut problems);
    let spans = [
        settings::span_of(&setting.origin),
        settings::key_span_of(&setting.origin),
    ];
    problems.retain(|problem| spans.contains(&problem.span));
    // A setting applied to many tables (policy.*) is reported once.
    problems.dedup();
    problems
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
