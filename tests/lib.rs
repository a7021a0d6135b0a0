//! The one checking function every scenario file goes through, shared by the scenario suite
//! and the tests that prove the suite can fail.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    // This crate sits in `<root>/tests`.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where tests cache generated keys: inside the target folder, shared by every test run.
pub fn key_cache() -> PathBuf {
    workspace_root().join("target").join("kmlab-keys")
}

/// The pure-Rust engine's name, which the scenario suite runs with.
const PURE_RUST: &str = "rustcrypto";
/// The name of `kmlab run`'s default engine, which snapshots name.
const DEFAULT_ENGINE: &str = "openssl";

/// Options for a run in `work` with the pure-Rust engine and the shared key cache.
pub fn run_options(work: &Path) -> runner::RunOptions {
    runner::RunOptions {
        key_cache: Some(key_cache()),
        ..runner::RunOptions::new(
            work.to_path_buf(),
            Arc::new(smime_rustcrypto::RustCryptoEngine),
        )
    }
}

/// The path of `path` under its `scenarios` folder without `.toml`, and the project root
/// (the parent of that folder).
pub fn scenario_id(path: &Path) -> (String, PathBuf) {
    let parts: Vec<_> = path.iter().collect();
    match parts.iter().rposition(|part| *part == "scenarios") {
        Some(index) => {
            let id = parts[index + 1..]
                .iter()
                .map(|p| p.to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let root: PathBuf = parts[..index].iter().collect();
            (id.trim_end_matches(".toml").to_owned(), root)
        }
        None => (
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            PathBuf::from("."),
        ),
    }
}

/// Runs one scenario file and asserts that every expectation held and that its snapshot
/// (`<root>/snapshots/<id>.snap`) matches. Panics on failure, as a test does.
pub fn check_scenario(path: &Path) {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let (id, root) = scenario_id(&path);
    let scenario = match scenario::load(&id, &path) {
        Ok(scenario) => scenario,
        Err(error) => panic!("{error}"),
    };
    let work = tempfile::tempdir().expect("a temporary folder for the run");
    let options = run_options(work.path());
    let run = runner::run_scenario(&std::sync::Arc::new(scenario), &options, 2)
        .unwrap_or_else(|error| panic!("{id}: harness error: {error}"));
    let unmet = run.problems();
    assert!(
        unmet.is_empty(),
        "{id}: expectations not met:\n{}",
        unmet.join("\n")
    );

    let snapshot_path = root.join("snapshots").join(&id).with_extension("snap");
    let folder = snapshot_path
        .parent()
        .map_or_else(|| root.join("snapshots"), Path::to_path_buf);
    let name = snapshot_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let input_file = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(folder);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_input_file(input_file);
    settings.set_omit_expression(false);
    settings.bind(|| {
        // The suite runs the pure-Rust engine; snapshots name the default engine (OpenSSL's),
        // which builds the same bytes, as `kmlab run --engine rustcrypto` compares them.
        let transcript = run.snapshot().replacen(
            &format!("\nengine: {PURE_RUST}\n"),
            &format!("\nengine: {DEFAULT_ENGINE}\n"),
            1,
        );
        insta::assert_snapshot!(name, transcript);
    });
}

/// Peak memory of this process, for tests that must show a hostile input costs bounded
/// memory. Linux only: it reads `/proc/self/status` and resets the peak through
/// `/proc/self/clear_refs`.
pub mod memory {
    use std::sync::{Mutex, PoisonError};

    /// Measurements reset a process-wide peak, so they take turns.
    static TURN: Mutex<()> = Mutex::new(());

    fn status_kib(field: &str) -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Runs `work` and returns its result with how far the process's peak resident memory
    /// rose above the resident memory at the start, in bytes.
    pub fn peak_growth<T>(work: impl FnOnce() -> T) -> (T, u64) {
        let _turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
        std::fs::write("/proc/self/clear_refs", "5").expect("resetting the peak RSS (Linux 4.0+)");
        let before = status_kib("VmRSS:").expect("VmRSS in /proc/self/status");
        let result = work();
        let peak = status_kib("VmHWM:").expect("VmHWM in /proc/self/status");
        (result, peak.saturating_sub(before) * 1024)
    }
}

pub mod hostile;
