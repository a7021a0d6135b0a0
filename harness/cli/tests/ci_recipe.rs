//! What a project needs to run kmlab in its own CI: the README's "kmlab in your CI" commands
//! run as written, a folder's snapshots kept in a folder of its own, `--partition` and
//! `--show-transcript`.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{kmlab, text, workspace};

/// The README's section `title`, up to the next section.
fn readme_section(title: &str) -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let start = readme.find(&format!("\n## {title}\n")).unwrap();
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |end| end + 3);
    rest[..end].to_owned()
}

/// The lines of the section's fenced blocks of `language`.
fn block_lines(section: &str, language: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in section.lines() {
        if line.trim_end() == format!("```{language}") {
            inside = true;
        } else if line.trim_end() == "```" {
            inside = false;
        } else if inside {
            lines.push(line.to_owned());
        }
    }
    lines
}

/// `kmlab …  # comment` → `kmlab …`.
fn without_comment(line: &str) -> &str {
    line.split("  #").next().unwrap().trim()
}

#[test]
fn the_readme_ci_recipe_runs_as_written() {
    let section = readme_section("kmlab in your CI");
    let commands: Vec<String> = block_lines(&section, "sh")
        .iter()
        .map(|line| without_comment(line).to_owned())
        .filter(|line| line.starts_with("kmlab "))
        .collect();
    assert!(commands.len() >= 6, "{commands:?}");
    // The CI job's steps are commands the recipe lists, so running the recipe runs them.
    for line in block_lines(&section, "yaml") {
        if let Some(command) = line.trim().strip_prefix("- run: ") {
            assert!(
                commands.iter().any(|c| c == command),
                "{command} is not in the recipe"
            );
        }
    }

    let project = tempfile::tempdir().unwrap();
    let bin = project.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kmlab"), bin.join("kmlab")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for command in &commands {
        let output = Command::new("sh")
            .args(["-c", command])
            .current_dir(project.path())
            .env("PATH", &path)
            .env_remove("KMLAB_KEY_CACHE")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{command}\n{}{}",
            text(&output.stdout),
            text(&output.stderr)
        );
    }
    let root = project.path();
    assert!(root.join("ci/smime/first-exchange.toml").is_file());
    let snapshot =
        std::fs::read_to_string(root.join("ci/smime-snapshots/first-exchange.snap")).unwrap();
    assert!(
        snapshot.contains("input_file: ci/smime/first-exchange.toml\n"),
        "{snapshot}"
    );
    let junit = std::fs::read_to_string(root.join("kmlab-junit.xml")).unwrap();
    assert!(
        junit.contains("<testcase classname=\"kmlab.scenarios\" name=\"first-exchange\""),
        "{junit}"
    );
    assert!(junit.contains("failures=\"0\""), "{junit}");
    let keys = std::fs::read_dir(root.join(".kmlab-keys")).unwrap().count();
    assert!(keys > 0, "the key cache stayed empty");

    // The install command names kmlab's binary package, by path and (for git) by name.
    let manifest = std::fs::read_to_string(workspace().join("harness/cli/Cargo.toml")).unwrap();
    assert!(manifest.contains("[package]\nname = \"cli\"\n"));
    assert!(manifest.contains("[[bin]]\nname = \"kmlab\"\n"));
    assert!(
        workspace().join("Cargo.lock").is_file(),
        "--locked needs the lock file"
    );
    assert!(section.contains("cargo install --locked --path harness/cli\n"));
    assert!(section.contains("`cargo install --locked --git URL cli`"));
}

/// A project folder (not named `scenarios`) with one copy of a built-in scenario.
fn project_with(scenario: &str) -> tempfile::TempDir {
    let project = tempfile::tempdir().unwrap();
    let folder = project.path().join("ci/smime/km");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        workspace().join(format!("scenarios/{scenario}.toml")),
        folder.join("case.toml"),
    )
    .unwrap();
    project
}

#[test]
fn a_folder_of_scenarios_keeps_its_snapshots_in_a_folder_of_its_own() {
    let project = project_with("ca/validity-restart");
    let dir = project.path();
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "ci/smime", "--snapshots", "ci/snaps"];
        args.extend_from_slice(extra);
        kmlab(&args, dir)
    };
    // Nothing recorded yet: the run fails and says how to record it.
    let missing = run(&[]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stdout).contains(
            "no snapshot at ci/snaps/km/case.snap; run `kmlab run --update ci/smime/km/case.toml --snapshots ci/snaps` to record one"
        ),
        "{}",
        text(&missing.stdout)
    );
    assert_eq!(run(&["--update"]).status.code(), Some(0));
    let written = std::fs::read_to_string(dir.join("ci/snaps/km/case.snap")).unwrap();
    // The same text as the built-in scenario's snapshot, but for its name and input file.
    let built_in =
        std::fs::read_to_string(workspace().join("snapshots/ca/validity-restart.snap")).unwrap();
    let body = |snapshot: &str| {
        snapshot
            .split_once("\n---\n")
            .unwrap()
            .1
            .lines()
            .skip(1)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&written), body(&built_in));
    let matched = run(&[]);
    assert_eq!(matched.status.code(), Some(0), "{}", text(&matched.stdout));
    assert!(text(&matched.stdout).contains("snapshot matches"));

    // A changed snapshot fails, naming the file and the command that accepts it.
    let changed = written.replace("raised", "lowered");
    std::fs::write(dir.join("ci/snaps/km/case.snap"), &changed).unwrap();
    let differs = run(&[]);
    assert_eq!(differs.status.code(), Some(1));
    assert!(
        text(&differs.stdout).contains("snapshot ci/snaps/km/case.snap differs"),
        "{}",
        text(&differs.stdout)
    );

    // Without --snapshots a folder not named `scenarios` has no snapshots at all.
    let none = kmlab(&["run", "ci/smime"], dir);
    assert_eq!(none.status.code(), Some(0));
    assert!(
        text(&none.stdout).contains("no snapshot)"),
        "{}",
        text(&none.stdout)
    );
}

#[test]
fn a_failing_scenario_shows_its_transcript_on_request() {
    let project = project_with("ca/validity-restart");
    let dir = project.path();
    let path = dir.join("ci/smime/km/case.toml");
    let source = std::fs::read_to_string(&path).unwrap().replace(
        "expect = { outcome = \"info\", reason = \"km-certificate-revoked\" }",
        "expect = \"ok\"",
    );
    std::fs::write(&path, source).unwrap();

    let plain = kmlab(&["run", "ci/smime"], dir);
    assert_eq!(plain.status.code(), Some(1));
    let stdout = text(&plain.stdout);
    assert!(
        stdout.starts_with(
            "FAIL     case (its transcript: kmlab run --show-transcript ci/smime/km/case.toml)\n"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("    | "), "{stdout}");

    let shown = kmlab(&["run", "ci/smime", "--show-transcript"], dir);
    assert_eq!(shown.status.code(), Some(1));
    let stdout = text(&shown.stdout);
    assert!(
        stdout.starts_with("FAIL     case (transcript below)\n"),
        "{stdout}"
    );
    for expected in [
        "    | scenario: case\n",
        "    | [1] enable-v3 by admin@KM1 at 2001-03-01T09:00:00Z: error c1031daf (validity)\n",
        "    | [5] enable-v3 by admin@KM1 at 2001-03-01T09:00:00Z: info (km-certificate-revoked)\n",
        "    |     ✗ expected outcome ok, got info (km-certificate-revoked)\n",
    ] {
        assert!(stdout.contains(expected), "{expected} not in\n{stdout}");
    }
    // Only the step whose expectation failed is marked.
    assert_eq!(stdout.matches('✗').count(), 1, "{stdout}");
    // A passing scenario prints no transcript.
    let passing = kmlab(
        &[
            "run",
            "--show-transcript",
            "scenarios/basic/signed-encrypted-message.toml",
        ],
        &workspace(),
    );
    assert_eq!(passing.status.code(), Some(0));
    assert!(!text(&passing.stdout).contains("    | "));
}

fn scenarios_of(output: &std::process::Output) -> Vec<String> {
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    json["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["scenario"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_parts_of_a_partition_cover_the_suite_once() {
    let mut all: BTreeSet<String> = BTreeSet::new();
    fn walk(dir: &Path, root: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, found);
            } else if path.extension().is_some_and(|e| e == "toml") {
                let id = path.strip_prefix(root).unwrap().with_extension("");
                found.insert(id.display().to_string());
            }
        }
    }
    let root = workspace().join("scenarios");
    walk(&root, &root, &mut all);

    let mut seen: Vec<String> = Vec::new();
    for part in 1..=3 {
        let spec = format!("hash:{part}/3");
        let output = kmlab(
            &["run", "--partition", &spec, "--format", "json"],
            &workspace(),
        );
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        let ids = scenarios_of(&output);
        assert!(!ids.is_empty(), "{spec} is empty");
        seen.extend(ids);
    }
    let distinct: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct.len(), seen.len(), "a scenario ran in two parts");
    assert_eq!(distinct, all);

    // The human form says which part it is.
    let human = kmlab(
        &["run", "scenarios/sink", "--partition", "count:2/2"],
        &workspace(),
    );
    assert_eq!(human.status.code(), Some(0));
    assert!(
        text(&human.stdout).starts_with("partition count:2/2: 1 of 3 scenarios\n"),
        "{}",
        text(&human.stdout)
    );

    for (value, why) in [
        ("0/3", "parts are numbered 1 to 3"),
        ("4/3", "parts are numbered 1 to 3"),
        ("x", "no K/N"),
    ] {
        let output = kmlab(&["run", "--partition", value], &workspace());
        assert_eq!(output.status.code(), Some(2), "{value}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(&format!("`{value}`: {why}; expected count:K/N or hash:K/N")),
            "{stderr}"
        );
    }
}
