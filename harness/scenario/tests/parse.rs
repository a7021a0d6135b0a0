//! The scenario language: what it accepts and how it reports what it does not.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::Path;

fn parse(source: &str) -> Result<scenario::Scenario, scenario::Diagnostics> {
    scenario::parse("test", Path::new("test.toml"), source)
}

#[test]
fn the_skeleton_parses_and_resolves() {
    let scenario = parse(&scenario::skeleton("A \"quoted\" title")).unwrap();
    assert_eq!(scenario.title, "A \"quoted\" title");
    assert_eq!(scenario.steps.len(), 7);
    assert_eq!(
        scenario.topology.users[1].email.as_str(),
        "bob@contoso.example"
    );
    assert_eq!(scenario.covers.len(), 2);
    // `enable-user` finds the KM server through the user's site.
    let scenario::Action::EnableUser { km, .. } = &scenario.steps[1].action else {
        panic!()
    };
    assert_eq!(km.as_str(), "KM1");
}

#[test]
fn three_mistakes_are_all_reported_with_their_locations() {
    let source = scenario::skeleton("t")
        .replace(
            "covers = [\"KM-07\", \"KM-08\"]",
            "covers = [\"KM-07\", \"KM-99\"]",
        )
        .replace(
            "client = \"outlook2000\"     #",
            "colour = \"blue\"\nclient = \"outlook2000\"     #",
        )
        .replace("to = \"bob\"", "to = \"carol\"");
    let diagnostics = parse(&source).unwrap_err();
    let messages = diagnostics.located_messages();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages[0].starts_with("test.toml:6:21: unknown rule ID `KM-99`"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("unknown key `colour` in [user]"),
        "{}",
        messages[1]
    );
    assert!(
        messages[2].contains("no user named `carol`"),
        "{}",
        messages[2]
    );
    let rendered = diagnostics.to_string();
    assert!(rendered.contains("defined: alice, bob"), "{rendered}");
}

#[test]
fn wrong_types_and_missing_keys_are_located() {
    let source = "version = \"one\"\ntitle = 3\n[organisation]\nname = \"O\"\n";
    let messages = parse(source).unwrap_err().located_messages();
    assert_eq!(
        messages,
        [
            "test.toml:1:12: `version` must be a whole number, found string",
            "test.toml:2:9: `title` must be a string, found integer",
            "test.toml:3:1: missing key `mail_domain` in [organisation]",
        ]
    );
}

#[test]
fn invalid_toml_is_located() {
    let messages = parse("version = 1\ntitle = \"x\n")
        .unwrap_err()
        .located_messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].starts_with("test.toml:2:"), "{messages:?}");
}

#[test]
fn steps_are_checked_against_their_action() {
    let source = scenario::skeleton("t").replace(
        "action = \"enable-user\"\nuser = \"alice\"",
        "action = \"enable-user\"\nuser = \"alice\"\nsubject = \"x\"\nexpect = { tokn = \"A\" }",
    ) + "\n[[step]]\naction = \"teleport\"\n";
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert!(
        messages[0].contains("unknown key `subject` in [[step]] with action = \"enable-user\"")
    );
    assert!(messages[1].contains("`tokn` is not something a `enable-user` step records"));
    assert!(messages[2].contains("unknown action `teleport`"));
}

#[test]
fn impossible_hierarchies_are_refused() {
    let source = scenario::skeleton("t").replace(
        "type = \"root\"              # \"root\" or \"subordinate\" (then also `parent`)",
        "type = \"subordinate\"\nparent = \"ContosoRoot\"",
    );
    let messages = parse(&source).unwrap_err().located_messages();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("cannot be its own parent")),
        "{messages:#?}"
    );
}

#[test]
fn messaging_keys_are_checked_and_every_mistake_located() {
    let source = scenario::skeleton("t").replace(
        "client = \"outlook2000\"     #",
        "strength = \"40-bit\"\nclient = \"modern\"     #",
    ) + r#"
[[step]]
action = "smtp-fault"
message = 1
recipient = "bob"
code = 451

[[step]]
action = "smtp-fault"
command = "MAIL"
code = 250

[[step]]
action = "send"
from = "alice"
to = "bob"
subject = "s"
order = "sideways"

[[step]]
action = "alter-message"
user = "bob"
subject = "s"
change = "rot13"
"#;
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert!(
        messages[0].contains("modern has no 40-bit build"),
        "{}",
        messages[0]
    );
    assert!(messages[1].contains("exactly one of `message`, `recipient` and `command`"));
    assert!(messages[2].contains("250 is not a scriptable reply code"));
    assert!(messages[3].contains("unknown layer order `sideways`"));
    assert!(messages[4].contains("unknown transit change `rot13`"));
    assert!(messages.iter().all(|m| m.starts_with("test.toml:")));
}
