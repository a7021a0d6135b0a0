//! Finding scenario files and naming them.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// A scenario file and its identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScenarioFile {
    /// The path as given or found.
    pub(crate) path: PathBuf,
    /// The path under the nearest `scenarios` folder without `.toml`, or the file stem.
    pub(crate) id: String,
}

/// Every `.toml` under the given files and folders, sorted, each once.
pub(crate) fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<ScenarioFile>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, &mut found).with_context(|| format!("reading {}", path.display()))?;
        } else if path.is_file() {
            found.push(path.clone());
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    found.sort();
    found.dedup();
    if found.is_empty() {
        bail!(
            "no scenario files (*.toml) in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(found
        .into_iter()
        .map(|path| ScenarioFile {
            id: scenario_id(&path),
            path,
        })
        .collect())
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.extension().is_some_and(|ext| ext == "toml") {
            found.push(path);
        }
    }
    Ok(())
}

/// `scenarios/basic/first-message.toml` → `basic/first-message`.
pub(crate) fn scenario_id(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let without_extension = absolute.with_extension("");
    let parts: Vec<String> = without_extension
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    match parts.iter().rposition(|part| part == "scenarios") {
        Some(index) if index + 1 < parts.len() => parts[index + 1..].join("/"),
        _ => path.file_stem().map_or_else(
            || "scenario".to_owned(),
            |stem| stem.to_string_lossy().into_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_come_from_the_path_under_scenarios() {
        assert_eq!(
            scenario_id(Path::new("/x/scenarios/basic/one.toml")),
            "basic/one"
        );
        assert_eq!(scenario_id(Path::new("/tmp/two.toml")), "two");
    }
}
