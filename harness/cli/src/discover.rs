//! Finding scenario files and naming them.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

/// A scenario file and its identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScenarioFile {
    /// The path as given or found.
    pub(crate) path: PathBuf,
    /// The path under the nearest `scenarios` folder without `.toml`, or the file stem.
    pub(crate) id: String,
    /// The path under the folder it was found in (`km/recovery.toml` for `scenarios`), or
    /// the file name for a file given by itself: where `--snapshots DIR` keeps its snapshot.
    pub(crate) relative: PathBuf,
}

/// Every `.toml` under the given files and folders, sorted, each once.
pub(crate) fn scenario_files(paths: &[PathBuf]) -> anyhow::Result<Vec<ScenarioFile>> {
    let mut found: Vec<(PathBuf, PathBuf)> = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside = Vec::new();
            walk(path, &mut inside).with_context(|| format!("reading {}", path.display()))?;
            found.extend(inside.into_iter().map(|file| {
                let relative = file.strip_prefix(path).unwrap_or(&file).to_path_buf();
                (file, relative)
            }));
        } else if path.is_file() {
            let relative = path.file_name().map_or_else(|| path.clone(), PathBuf::from);
            found.push((path.clone(), relative));
        } else {
            bail!("{}: no such file or folder", path.display());
        }
    }
    found.sort();
    found.dedup_by(|a, b| a.0 == b.0);
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
        .map(|(path, relative)| ScenarioFile {
            id: scenario_id(&path),
            path,
            relative,
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

/// `scenarios/basic/first-message.toml` → `basic/first-message`. The identifier names the
/// scenario's artifacts folder, so `.` and `..` are resolved first: `scenarios/../x.toml` is
/// `x`, never `../x`.
pub(crate) fn scenario_id(path: &Path) -> String {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut parts: Vec<String> = Vec::new();
    for component in absolute.with_extension("").components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    match parts.iter().rposition(|part| part == "scenarios") {
        Some(index) if index + 1 < parts.len() => parts[index + 1..].join("/"),
        _ => parts.pop().unwrap_or_else(|| "scenario".to_owned()),
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

    #[test]
    fn identifiers_never_climb_out_of_the_artifacts_folder() {
        assert_eq!(
            scenario_id(Path::new("/x/scenarios/../../etc/scenarios/../three.toml")),
            "three"
        );
        assert_eq!(
            scenario_id(Path::new("/x/scenarios/./a/../b/four.toml")),
            "b/four"
        );
        assert_eq!(scenario_id(Path::new("/x/scenarios/..")), "x");
        for path in ["../../a.toml", "scenarios/../../../b.toml", "/.."] {
            let id = scenario_id(Path::new(path));
            assert!(
                id.split('/')
                    .all(|part| model::file_name_problem(part).is_none()),
                "{path} gave {id}"
            );
        }
    }
}
