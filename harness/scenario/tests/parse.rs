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
    // `enable-user` leaves the KM server to the user's site, which has one.
    let scenario::Action::EnableUser { km, users, .. } = &scenario.steps[1].action else {
        panic!()
    };
    assert!(km.is_none());
    assert_eq!(users[0].as_str(), "alice");
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

const HIERARCHY: &str = r#"
version = 1
title = "hierarchies"
[organisation]
name = "O"
mail_domain = "o.example"
[[site]]
name = "S"
[[host]]
name = "H"
os = "w2k"
domain = "D"
[[host]]
name = "OLD"
os = "nt4"
domain = "D"
"#;

#[test]
fn a_cycle_of_parents_is_refused() {
    let source = format!(
        "{HIERARCHY}[[ca]]\nname = \"A\"\nhost = \"H\"\ntype = \"subordinate\"\nparent = \"B\"\n[[ca]]\nname = \"B\"\nhost = \"H\"\ntype = \"subordinate\"\nparent = \"A\"\n"
    );
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages
            .iter()
            .all(|m| m.contains("is in a cycle of parents")),
        "{messages:#?}"
    );
    assert!(messages[0].starts_with("test.toml:21:11:"), "{messages:#?}");
}

#[test]
fn a_subordinate_without_parent_and_a_ca_without_a_host_are_located() {
    let source = format!(
        "{HIERARCHY}[[ca]]\nname = \"Orphan\"\nhost = \"H\"\ntype = \"subordinate\"\n[[ca]]\nname = \"Homeless\"\nhost = \"NOWHERE\"\n"
    );
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].contains("subordinate CA `Orphan` has no parent"),
        "{messages:#?}"
    );
    assert!(
        messages[1].starts_with("test.toml:23:9: no host named `NOWHERE`"),
        "{messages:#?}"
    );
}

#[test]
fn certificate_services_must_match_the_host_os() {
    let source = format!(
        "{HIERARCHY}[[ca]]\nname = \"W2K\"\nhost = \"OLD\"\n[[ca]]\nname = \"CS1\"\nhost = \"H\"\nclass = \"nt4-certificate-server\"\n"
    );
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].contains("a standalone CA cannot run on nt4 host `OLD`"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("a nt4-certificate-server CA cannot run on w2k host `H`"),
        "{messages:#?}"
    );
}

#[test]
fn a_km_server_cannot_attach_to_a_third_party_root_and_faults_need_one() {
    let source = format!(
        "{HIERARCHY}[[ca]]\nname = \"Ext\"\nclass = \"third-party\"\n[[ca]]\nname = \"Own\"\nhost = \"H\"\nfaults = [\"issuer-differs\"]\n[[km_server]]\nname = \"KM\"\nhost = \"H\"\nproduct = \"ex55\"\nsite = \"S\"\nca = \"Ext\"\n"
    );
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].contains("CA `Own` has faults but is not a third-party root"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("a KM server cannot be attached to a third-party root"),
        "{messages:#?}"
    );
}

#[test]
fn ca_steps_are_resolved_against_the_topology() {
    let source = format!(
        "{HIERARCHY}[[ca]]\nname = \"R\"\nhost = \"H\"\n[[user]]\nname = \"u\"\nsite = \"S\"\nclient = \"modern\"\n\
[[step]]\naction = \"revoke\"\nca = \"R\"\nuser = \"u\"\ncertificate = \"enc#0\"\n\
[[step]]\naction = \"install-ca-certificate\"\nca = \"R\"\n\
[[step]]\naction = \"configure-ca\"\nca = \"R\"\n\
[[step]]\naction = \"install-root\"\nca = \"Nope\"\nhost = \"H\"\n"
    );
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(messages[0].contains("`enc#0` does not name a certificate"));
    assert!(messages[1].contains("CA `R` is not installed through a request file"));
    assert!(messages[2].contains("configure-ca changes nothing"));
    assert!(messages[3].contains("no CA named `Nope`"));
}

#[test]
fn km_steps_naming_what_does_not_exist_are_located() {
    let source = format!(
        "{HIERARCHY}[[ca]]\nname = \"R\"\nhost = \"H\"\n[[km_server]]\nname = \"KM\"\nhost = \"H\"\nproduct = \"ex2000\"\nsite = \"S\"\nca = \"R\"\n\
[[user]]\nname = \"u\"\nsite = \"S\"\nclient = \"modern\"\n\
[[step]]\naction = \"export-keys\"\nkm_server = \"KM\"\nto = \"KM9\"\nusers = [\"u\"]\n\
[[step]]\naction = \"restore-km\"\nkm_server = \"KM\"\nfile = \"../../etc/passwd\"\n\
[[step]]\naction = \"move-user\"\nuser = \"u\"\nsite = \"Mars\"\n\
[[step]]\naction = \"set-enrollment-mode\"\nkm_server = \"KM\"\nmode = \"v2-only\"\n"
    );
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 4, "{messages:#?}");
    assert!(
        messages[0].contains("no KM server named `KM9`"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("`../../etc/passwd` is not a path inside the scenario's folder"),
        "{messages:#?}"
    );
    assert!(
        messages[2].contains("no site named `Mars`"),
        "{messages:#?}"
    );
    assert!(
        messages[3].contains("unknown enrollment mode `v2-only`"),
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

#[test]
fn names_that_would_reach_outside_the_artifacts_folder_are_located() {
    // Users, CAs and KM servers name files and folders in the artifacts and the working
    // folder; none of these may climb out of them.
    let source = scenario::skeleton("t")
        .replace("name = \"alice\"", "name = \"../../alice\"")
        .replace("name = \"ContosoRoot\"", "name = \"..\"")
        .replace("name = \"KM1\"", "name = \"KM\\\\1\"")
        .replace("name = \"EXCH1\"", "name = \"EXCH/1\"")
        .replace("name = \"Redmond\"", "name = \"Red\\u0000mond\"");
    let messages = parse(&source).unwrap_err().located_messages();
    for expected in [
        "`Red\0mond` cannot be a site name: it contains a control character",
        "`EXCH/1` cannot be a host name: it contains a path separator",
        "`..` cannot be a ca name: it names a folder (`.` or `..`)",
        "`KM\\1` cannot be a km_server name: it contains a path separator",
        "`../../alice` cannot be a user name: it contains a path separator",
    ] {
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("test.toml:") && m.contains(expected)),
            "{expected} not in {messages:#?}"
        );
    }
}

#[test]
fn restore_files_must_stay_inside_the_scenario_folder() {
    let restore = |file: &str| {
        let source = format!(
            "{HIERARCHY}[[ca]]\nname = \"R\"\nhost = \"H\"\n[[km_server]]\nname = \"KM\"\nhost = \"H\"\nproduct = \"ex2000\"\nsite = \"S\"\nca = \"R\"\n\
[[step]]\naction = \"restore-km\"\nkm_server = \"KM\"\nfile = {file:?}\n"
        );
        parse(&source).map(|_| ()).map_err(|e| e.located_messages())
    };
    for escaping in [
        "/etc/passwd",
        "../outside.sqlite",
        "fixtures/../../outside.sqlite",
        "fixtures/../..",
        "",
    ] {
        let messages = restore(escaping).unwrap_err();
        assert_eq!(messages.len(), 1, "{escaping}: {messages:#?}");
        assert!(
            messages[0].contains("is not a path inside the scenario's folder"),
            "{escaping}: {messages:#?}"
        );
    }
    for inside in ["fixtures/km.sqlite", "./km.sqlite", "a/b/c.sqlite"] {
        assert_eq!(restore(inside), Ok(()), "{inside}");
    }
}

#[test]
fn a_users_seat_is_a_built_in_adapter_kmlab_or_a_program_inside_the_scenarios_folder() {
    // The skeleton's users, one seated per case; the file sits in a folder with an adapter.
    let folder = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(folder.path().join("adapters/mine")).unwrap();
    std::fs::write(folder.path().join("adapters/mine/adapter"), "#!/bin/sh\n").unwrap();
    std::fs::write(folder.path().join("lone.py"), "").unwrap();
    let path = folder.path().join("seated.toml");
    let seated = |seat: &str| {
        let source = scenario::skeleton("t").replacen(
            "client = \"outlook2000\"",
            &format!("seat = \"{seat}\"\nclient = \"outlook2000\""),
            1,
        );
        scenario::parse("seated", &path, &source)
    };
    let alice = |scenario: &scenario::Scenario| scenario.topology.users[0].seat.clone();

    let built_in = alice(&seated("openssl-cli").unwrap()).unwrap();
    assert_eq!(built_in.name, "openssl-cli");
    assert!(built_in.built_in && built_in.program.is_file());
    assert_eq!(alice(&seated("kmlab").unwrap()), None);
    let own = alice(&seated("adapters/mine").unwrap()).unwrap();
    assert_eq!(own.name, "mine");
    assert_eq!(own.program, folder.path().join("adapters/mine/adapter"));
    assert!(!own.built_in);
    assert_eq!(alice(&seated("./lone.py").unwrap()).unwrap().name, "lone");
    // Bob has no seat of his own.
    assert_eq!(seated("gpgsm").unwrap().topology.users[1].seat, None);

    for (seat, wanted) in [
        ("no-such-tool", "unknown adapter `no-such-tool`"),
        (
            "../outside/adapter",
            "is not a path inside the scenario's folder",
        ),
        (
            "/usr/bin/openssl",
            "is not a path inside the scenario's folder",
        ),
        (
            "adapters/missing",
            "no adapter program at `adapters/missing`",
        ),
    ] {
        let messages = seated(seat).unwrap_err().located_messages();
        assert_eq!(messages.len(), 1, "{seat}: {messages:#?}");
        assert!(messages[0].contains(wanted), "{seat}: {}", messages[0]);
        // Located at the value, on the line after the user's name.
        assert!(messages[0].contains("seated.toml:"), "{}", messages[0]);
    }
    let help = seated("no-such-tool").unwrap_err().to_string();
    assert!(
        help.contains("cmsutil, gpgsm, openssl-cli, kmlab"),
        "{help}"
    );
}

#[test]
fn key_size_is_per_user_and_1024_bits_only_for_the_clients_of_the_era() {
    let legacy = scenario::skeleton("t").replacen(
        "client = \"outlook2000\"     #",
        "key_size = 1024\nclient = \"outlook2000\"     #",
        1,
    );
    let scenario = parse(&legacy).unwrap();
    assert_eq!(scenario.topology.users[0].key_size, 1024);
    assert_eq!(scenario.topology.users[1].key_size, 2048);

    let modern = legacy.replacen("client = \"outlook2000\"", "client = \"modern\"", 1);
    let messages = parse(&modern).unwrap_err().located_messages();
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert!(
        messages[0].contains("modern does not make 1024-bit keys"),
        "{}",
        messages[0]
    );

    let odd = legacy.replacen("key_size = 1024", "key_size = 1000", 1);
    let messages = parse(&odd).unwrap_err().located_messages();
    assert!(
        messages[0].contains("outlook2000 does not make 1000-bit keys"),
        "{}",
        messages[0]
    );
}

#[test]
fn an_unknown_installed_part_or_fix_is_located_with_the_known_ones() {
    let source = scenario::skeleton("t").replace(
        "installed = [\"certificate-services\", \"web-enrollment-support\"]",
        "installed = [\"certificate-services\", \"Q262289\"]",
    ) + "\n[[step]]\naction = \"install-part\"\nhost = \"EXCH1\"\npart = \"web-enrolment-support\"\n";
    let messages = parse(&source).unwrap_err().located_messages();
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert!(
        messages[0].starts_with("test.toml:27:39: unknown installed part `Q262289`"),
        "{messages:#?}"
    );
    assert!(
        messages[1].ends_with(":9: unknown installed part `web-enrolment-support`"),
        "{messages:#?}"
    );
    let rendered = parse(&source).unwrap_err().to_string();
    assert!(
        rendered.contains("expected one of: certificate-services, web-enrollment-support, Q262288"),
        "{rendered}"
    );
    let fixed = source
        .replace("Q262289", "Q262288")
        .replace("web-enrolment-support", "web-enrollment-support");
    let scenario = parse(&fixed).unwrap();
    assert!(scenario.topology.hosts[0].has(model::InstalledPart::FixQ262288));
}

#[test]
fn what_an_expectation_rules_out_is_checked_like_what_it_expects() {
    let with_expect = |expect: &str| {
        scenario::skeleton("t").replace(
            "action = \"enable-user\"\nuser = \"alice\"",
            &format!("action = \"enable-user\"\nuser = \"alice\"\nexpect = {expect}"),
        )
    };
    let scenario = parse(&with_expect(
        "{ outcome = \"!refused\", not = { token = \"AAAA\", reason = \"x\", outcome = \"error\" } }",
    ))
    .unwrap();
    let expectation = scenario.steps[1].expect.as_ref().unwrap();
    assert_eq!(expectation.outcome, None);
    assert_eq!(
        expectation.not,
        [
            scenario::Unexpected::Outcome(model::Outcome::Refused),
            scenario::Unexpected::Detail("token".to_owned(), "AAAA".to_owned()),
            scenario::Unexpected::Reason("x".to_owned()),
            scenario::Unexpected::Outcome(model::Outcome::Error(None)),
        ]
    );
    for (expect, message) in [
        ("\"!fine\"", "unknown outcome `!fine`"),
        ("{ not = \"ok\" }", "`not` must be a table, found string"),
        (
            "{ not = { tokn = \"A\" } }",
            "`tokn` is not something a `enable-user` step records",
        ),
        (
            "{ not = { not = { token = \"A\" } } }",
            "`not` cannot be nested in `not`",
        ),
        (
            "{ not = { outcome = \"!ok\" } }",
            "`!` cannot negate `!ok` inside `not`",
        ),
        (
            "{ outcome = \"error c1031dab\", not = { outcome = \"error\" } }",
            "this expectation can never hold",
        ),
        (
            "{ token = \"A\", not = { token = \"A\" } }",
            "this expectation can never hold",
        ),
    ] {
        let messages = parse(&with_expect(expect)).unwrap_err().located_messages();
        assert_eq!(messages.len(), 1, "{expect}: {messages:#?}");
        assert!(messages[0].contains(message), "{expect}: {messages:#?}");
        assert!(messages[0].starts_with("test.toml:"), "{messages:#?}");
    }
}

#[test]
fn fix_steps_name_domains_permissions_and_clients_that_exist() {
    let with_steps = |steps: &str| scenario::skeleton("t") + steps;
    let bad = with_steps(concat!(
        "\n[[step]]\naction = \"add-trust\"\ndomain = \"CONTOSO\"\nwith = \"PKI\"\n",
        "\n[[step]]\naction = \"add-trust\"\ndomain = \"CONTOSO\"\nwith = \"CONTOSO\"\n",
        "\n[[step]]\naction = \"grant-template-permission\"\nca = \"ContosoRoot\"\npermission = \"km-enroll:ExchangeUsers\"\n",
        "\n[[step]]\naction = \"change-client\"\nuser = \"alice\"\nclient = \"outlook2003\"\n",
        "\n[[step]]\naction = \"change-client\"\nuser = \"alice\"\nclient = \"modern\"\nstrength = \"40-bit\"\n",
    ));
    let messages = parse(&bad).unwrap_err().located_messages();
    assert_eq!(messages.len(), 5, "{messages:#?}");
    assert!(
        messages[0].contains("no domain named `PKI`"),
        "{messages:#?}"
    );
    assert!(
        messages[1].contains("`CONTOSO` is the same domain"),
        "{messages:#?}"
    );
    assert!(
        messages[2].contains("unknown template permission `km-enroll:ExchangeUsers`"),
        "{messages:#?}"
    );
    assert!(
        messages[3].contains("unknown client `outlook2003`"),
        "{messages:#?}"
    );
    assert!(messages[4].contains("has no 40-bit build"), "{messages:#?}");
    assert!(
        messages.iter().all(|m| m.starts_with("test.toml:")),
        "{messages:#?}"
    );
    let good = with_steps(concat!(
        "\n[[domain]]\nname = \"PKI\"\n",
        "\n[[step]]\naction = \"add-trust\"\ndomain = \"CONTOSO\"\nwith = \"PKI\"\n",
        "\n[[step]]\naction = \"grant-template-permission\"\nca = \"ContosoRoot\"\npermission = \"km-enroll:ExchangeUser\"\n",
        "\n[[step]]\naction = \"change-client\"\nuser = \"alice\"\nclient = \"outlook98\"\nstrength = \"40-bit\"\n",
    ));
    let scenario = parse(&good).unwrap();
    let kinds: Vec<&str> = scenario
        .steps
        .iter()
        .map(|s| s.action.kind().name())
        .collect();
    assert!(
        kinds.ends_with(&["add-trust", "grant-template-permission", "change-client"]),
        "{kinds:?}"
    );
}
