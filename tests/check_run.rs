//! `kmlab check` and `kmlab run` agree: every value of the scenario language that `check`
//! accepts runs without a harness error, and every value `run` cannot carry out is refused by
//! `check` with a located problem. For each field whose value reaches a certificate, a CRL or
//! the virtual clock, the test writes values a hostile user might (non-ASCII text, extreme
//! times and spans, empty and oversized strings) into a real scenario and does both.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::path::Path;
use std::sync::Arc;

use kmlab_tests::{run_options, workspace_root};

/// The scenario every value is written into.
const BASE: &str = "scenarios/basic/signed-encrypted-message.toml";

/// A field, and how to put a value into the scenario's text.
struct Field {
    name: &'static str,
    set: fn(&str, &str) -> String,
    values: Vec<String>,
}

fn field(name: &'static str, set: fn(&str, &str) -> String, values: &[&str]) -> Field {
    Field {
        name,
        set,
        values: values.iter().map(|value| (*value).to_owned()).collect(),
    }
}

/// TOML's basic string for `value`.
fn quoted(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn fields() -> Vec<Field> {
    let long = "a".repeat(300);
    let text_values: Vec<&str> = vec!["ålïcé", "al ice", "al@ice", "Ærø-Ünïcødé", "\u{7f}x", ""];
    let mut user_names = text_values.clone();
    user_names.push(&long);
    vec![
        field(
            "user name",
            |text, value| {
                let value = quoted(value);
                text.replace("name = \"alice\"", &format!("name = {value}"))
                    .replace("user = \"alice\"", &format!("user = {value}"))
                    .replace("from = \"alice\"", &format!("from = {value}"))
                    .replace("to = \"alice\"", &format!("to = {value}"))
            },
            &user_names,
        ),
        field(
            "user email",
            |text, value| {
                text.replacen(
                    "name = \"alice\"\n",
                    &format!("name = \"alice\"\nemail = {}\n", quoted(value)),
                    1,
                )
            },
            &[
                "ålice@contoso.example",
                "alice@cöntoso.example",
                "alice@xn--cntoso-wxa.example",
                "al\u{1}ice@contoso.example",
                "@",
            ],
        ),
        field(
            "user display_name",
            |text, value| {
                text.replacen(
                    "name = \"alice\"\n",
                    &format!("name = \"alice\"\ndisplay_name = {}\n", quoted(value)),
                    1,
                )
            },
            &["Ålice Ünïcode", "", "\u{7}"],
        ),
        field(
            "mail_domain",
            |text, value| {
                text.replace(
                    "mail_domain = \"contoso.example\"",
                    &format!("mail_domain = {}", quoted(value)),
                )
            },
            &[
                "cöntoso.example",
                "xn--cntoso-wxa.example",
                "contoso",
                "",
                "con toso",
            ],
        ),
        field(
            "organisation name",
            |text, value| {
                text.replacen(
                    "name = \"Contoso\"",
                    &format!("name = {}", quoted(value)),
                    1,
                )
            },
            &["Cöntoso", "Con,toso", "", &"C".repeat(300)],
        ),
        field(
            "site name",
            |text, value| text.replace("\"Redmond\"", &quoted(value)),
            &["Rédmond", "Red mond", ""],
        ),
        field(
            "host name",
            |text, value| text.replace("\"EXCH1\"", &quoted(value)),
            &["EXCHÉ", "EXCH-1", "exch1.contoso.example"],
        ),
        field(
            "CA name",
            |text, value| text.replace("\"ContosoRoot\"", &quoted(value)),
            &[
                "CöntosoRoot",
                "Contoso Root",
                "ContosoRootWithAVeryLongName",
                "Con\"toso",
            ],
        ),
        field(
            "start",
            |text, value| {
                text.replacen(
                    "seed = 20010301",
                    &format!("seed = 20010301\nstart = {}", quoted(value)),
                    1,
                )
            },
            &[
                "1900-01-01T00:00:00Z",
                "1969-12-31T23:59:59Z",
                "1970-01-01T00:00:00Z",
                "2049-12-31T23:00:00Z",
                "2050-01-01T00:00:00Z",
                "9990-01-01T00:00:00Z",
                "9994-12-31T00:00:00Z",
                "9999-01-01T00:00:00Z",
            ],
        ),
        field(
            "CA lifetime",
            |text, value| {
                text.replace(
                    "lifetime = \"5y\"",
                    &format!("lifetime = {}", quoted(value)),
                )
            },
            &["1d", "7998y", "7999y", "9000y", "4294967295y"],
        ),
        field(
            "CA validity_units",
            |text, value| text.replace("validity_units = 2", &format!("validity_units = {value}")),
            &["1", "2000000", "4294967295"],
        ),
        field(
            "clock advance",
            |text, value| {
                format!(
                    "{text}\n[[step]]\naction = \"clock\"\nadvance = {}\n",
                    quoted(value)
                )
            },
            &["1d", "7990y", "8000y", "4294967295y"],
        ),
        field(
            "startup_password",
            |text, value| {
                text.replacen(
                    "ca = \"ContosoRoot\"\n",
                    &format!(
                        "ca = \"ContosoRoot\"\nstartup_password = {}\n",
                        quoted(value)
                    ),
                    1,
                )
            },
            &["pässwörd", ""],
        ),
    ]
}

#[test]
fn check_accepts_only_values_run_can_carry_out() {
    let base = std::fs::read_to_string(workspace_root().join(BASE)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.toml");
    let mut accepted = 0;
    let mut refused = 0;
    for field in fields() {
        for value in &field.values {
            let text = (field.set)(&base, value);
            assert_ne!(text, base, "{}: the value was not written", field.name);
            let what = format!("{} = {value:?}", field.name);
            match scenario::parse("hostile", &path, &text) {
                Err(diagnostics) => {
                    refused += 1;
                    for message in diagnostics.located_messages() {
                        let location = message
                            .strip_prefix(&format!("{}:", path.display()))
                            .and_then(|rest| rest.split(": ").next())
                            .unwrap_or_default();
                        let numbers: Vec<&str> = location.split(':').collect();
                        assert!(
                            numbers.len() == 2
                                && numbers
                                    .iter()
                                    .all(|n| n.parse::<usize>().is_ok_and(|n| n > 0)),
                            "{what}: `{message}` has no file:line:col"
                        );
                    }
                }
                Ok(parsed) => {
                    accepted += 1;
                    let work = tempfile::tempdir().unwrap();
                    let result = runner::run(Arc::new(parsed), &run_options(work.path()));
                    if let Err(error) = result {
                        panic!("{what}: check accepted it, run failed: {error}");
                    }
                }
            }
        }
    }
    // Both sides were exercised.
    assert!(
        accepted >= 10 && refused >= 10,
        "{accepted} accepted, {refused} refused"
    );
}

#[test]
fn the_values_run_once_failed_on_are_refused_where_they_are_written() {
    let base = std::fs::read_to_string(workspace_root().join(BASE)).unwrap();
    let path = Path::new("hostile.toml");
    for (field, value, message) in [
        ("user name", "ålïcé", "user name `ålïcé` is not ASCII"),
        (
            "mail_domain",
            "cöntoso.example",
            "mail domain `cöntoso.example` is not ASCII",
        ),
        (
            "user email",
            "ålice@contoso.example",
            "e-mail address `ålice@contoso.example` is not ASCII",
        ),
        ("host name", "EXCHÉ", "host name `EXCHÉ` is not ASCII"),
        (
            "start",
            "1900-01-01T00:00:00Z",
            "`1900-01-01T00:00:00Z` is before 1970-01-01T00:00:00Z",
        ),
        (
            "start",
            "9999-01-01T00:00:00Z",
            "ContosoRoot's lifetime would end at",
        ),
        (
            "CA lifetime",
            "9000y",
            "ContosoRoot's lifetime would end at",
        ),
        (
            "clock advance",
            "8000y",
            "this step moves the clock past 9999-12-31T23:59:59Z",
        ),
    ] {
        let spec = fields().into_iter().find(|f| f.name == field).unwrap();
        let text = (spec.set)(&base, value);
        let messages = scenario::parse("hostile", path, &text)
            .map(|_| ())
            .unwrap_err()
            .located_messages();
        let found = messages.iter().find(|m| m.contains(message));
        let Some(found) = found else {
            panic!("{field} = {value:?}: `{message}` not in {messages:?}");
        };
        // Located at the value as written (or, for a span, the key that sets it).
        let line: usize = found.split(':').nth(1).unwrap().parse().unwrap();
        let written = text.lines().nth(line - 1).unwrap();
        assert!(
            written.contains(value) || written.contains("lifetime"),
            "{field} = {value:?}: `{found}` points at `{written}`"
        );
    }
}
