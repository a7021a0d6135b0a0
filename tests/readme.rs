//! The scenario language's documentation runs: every TOML example in `scenarios/README.md`
//! parses, and every step kind has one.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::Path;

use kmlab_tests::workspace_root;

/// The first line of the example topology the step examples run in.
const EXAMPLES_TOPOLOGY: &str = "# The topology the examples run in.";

fn toml_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```toml") => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "an unclosed ```toml block");
    blocks
}

#[test]
fn every_example_in_the_scenario_readme_parses() {
    let path = workspace_root().join("scenarios/README.md");
    let markdown = std::fs::read_to_string(&path).unwrap();
    let blocks = toml_blocks(&markdown);
    let topology = blocks
        .iter()
        .find(|block| block.starts_with(EXAMPLES_TOPOLOGY))
        .expect("the README has the examples' topology");
    let mut checked = 0;
    for block in &blocks {
        // A block with its own header is a whole scenario; the rest run in the topology.
        let source = if block.contains("[organisation]") {
            block.clone()
        } else {
            format!("{topology}\n{block}")
        };
        if let Err(problems) = scenario::parse("readme-example", Path::new("README.md"), &source) {
            panic!("this example in scenarios/README.md does not parse:\n{block}\n{problems}");
        }
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} examples");

    for action in scenario::actions::ACTIONS {
        let written = format!("action = \"{}\"", action.name);
        assert!(
            blocks.iter().any(|block| block.contains(&written)),
            "scenarios/README.md has no example of `{}`",
            action.name
        );
    }
    assert!(blocks.iter().any(|block| block.contains("[matrix]")));
}

#[test]
fn a_broken_example_would_be_caught() {
    let blocks =
        toml_blocks("text\n```toml\n[[step]]\naction = \"clock\"\nadvance = \"soon\"\n```\n");
    assert_eq!(blocks.len(), 1);
    let topology =
        "version = 1\ntitle = \"t\"\n[organisation]\nname = \"C\"\nmail_domain = \"c.example\"\n";
    let source = format!("{topology}\n{}", blocks[0]);
    assert!(scenario::parse("x", Path::new("x.toml"), &source).is_err());
}

/// The README's "kmlab in your CI" recipe: its install command names the package of the
/// `kmlab` binary, and every `kmlab` command of it (the CI job's steps included) is run as
/// written by `harness/cli/tests/ci_recipe.rs`, which has the binary.
#[test]
fn the_ci_recipe_installs_kmlab_and_its_commands_are_run() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let start = readme
        .find("\n## kmlab in your CI\n")
        .expect("the README has a section \"kmlab in your CI\"");
    let section = &readme[start + 1..];
    let section = &section[..section[3..]
        .find("\n## ")
        .map_or(section.len(), |end| end + 3)];

    let install = section
        .lines()
        .find(|line| line.starts_with("cargo install "))
        .expect("an install command");
    assert_eq!(install, "cargo install --locked --path harness/cli");
    let manifest =
        std::fs::read_to_string(workspace_root().join("harness/cli/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("[[bin]]\nname = \"kmlab\"\n"),
        "{manifest}"
    );
    assert!(workspace_root().join("Cargo.lock").is_file());

    let commands: Vec<&str> = section
        .lines()
        .filter(|line| line.starts_with("kmlab "))
        .collect();
    for needed in [
        "--snapshots ",
        "--format junit",
        "--key-cache ",
        "--seat ",
        "--partition ",
    ] {
        assert!(
            commands.iter().any(|command| command.contains(needed)),
            "the recipe has no command with {needed}"
        );
    }
    let runner =
        std::fs::read_to_string(workspace_root().join("harness/cli/tests/ci_recipe.rs")).unwrap();
    assert!(runner.contains("readme_section(\"kmlab in your CI\")"));
}
