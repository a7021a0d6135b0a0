//! What the binary's integration tests share: where the workspace is and how to run kmlab.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of these helpers"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub(crate) fn kmlab(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kmlab"))
        .args(args)
        .current_dir(dir)
        .env("KMLAB_KEY_CACHE", workspace().join("target/kmlab-keys"))
        .output()
        .unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `scenarios` (a file or folder under the workspace) and writes its artifacts, private
/// keys included, under `out`; the run must pass.
pub(crate) fn export_artifacts(scenarios: &str, out: &Path) {
    let run = kmlab(
        &[
            "run",
            scenarios,
            "--artifacts",
            out.to_str().unwrap(),
            "--export-keys",
        ],
        &workspace(),
    );
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stdout));
}

/// A test adapter that answers every request `unsupported` (`tests/fixtures/adapters`).
pub(crate) fn unsupported_adapter() -> PathBuf {
    workspace().join("tests/fixtures/adapters/unsupported")
}

/// A known-deviations file for `unsupported_adapter` in bob's seat, listing `steps` (a TOML
/// array) of `basic/signed-encrypted-message`.
pub(crate) fn bobs_deviations(steps: &str) -> String {
    format!(
        "[[deviation]]\nadapter = \"unsupported\"\nseat = \"bob\"\nreason = \"it does nothing\"\n\
         [deviation.steps]\n\"basic/signed-encrypted-message\" = {steps}\n"
    )
}

/// Every file under `root`, by its path relative to `root`, with its bytes.
pub(crate) fn files_under(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let name = path.strip_prefix(root).unwrap().display().to_string();
                found.insert(name, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// `kmlab sink` on a free loopback port; killed (SIGKILL) when dropped.
pub(crate) struct Sink {
    child: Child,
    pub(crate) port: u16,
}

impl Sink {
    /// Starts `kmlab sink --maildir MAILDIR` with `extra` options, on a free port.
    pub(crate) fn start(maildir: &Path, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kmlab"))
            .args(["sink", "--listen", "127.0.0.1:0", "--maildir"])
            .arg(maildir)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Self { child, port }
    }

    /// Kills the sink (SIGKILL) and waits for it.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The sink process's resident memory, in KiB.
    pub(crate) fn resident_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.kill();
    }
}
