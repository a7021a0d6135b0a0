//! Each built-in adapter in a user's seat, against kmlab's own engine in every direction: the
//! seated user decrypts and verifies what kmlab built, and kmlab decrypts and verifies what
//! the seated implementation built (`fixtures/adapter-round-trip.toml`). The implementation's
//! verdicts must be kmlab's, step for step, including a signature broken in transit.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use std::time::Duration;

use report::{DetailValue, Record, Transcript};

fn run(seats: Vec<runner::Seat>) -> Transcript {
    run_file("tests/fixtures/adapter-round-trip.toml", seats)
}

/// Runs the scenario at `path` (relative to the workspace) with `seats`.
fn run_file(path: &str, seats: Vec<runner::Seat>) -> Transcript {
    let path = kmlab_tests::workspace_root().join(path);
    let scenario = scenario::load("adapters-test", &path).unwrap();
    let work = tempfile::tempdir().unwrap();
    let options = runner::RunOptions {
        seats,
        ..kmlab_tests::run_options(work.path())
    };
    runner::run(std::sync::Arc::new(scenario), &options)
        .unwrap()
        .transcript
}

fn text<'a>(record: &'a Record, key: &str) -> Option<&'a str> {
    match &record.detail(key)?.value {
        DetailValue::Text(text) => Some(text),
        DetailValue::List(_) => None,
    }
}

/// What a seated implementation does differently from kmlab's engine in the round trips.
struct Limits<'a> {
    /// Steps that give another outcome, with the seated run's reason.
    steps: &'a [(usize, &'a str)],
    /// The implementation names signer and recipients by issuer and serial whatever it is
    /// asked, and the send records say so.
    names_by_issuer: bool,
}

const NONE: Limits<'static> = Limits {
    steps: &[],
    names_by_issuer: false,
};

/// Runs the round trips with `adapter` in bob's seat and checks them against kmlab's run.
fn round_trips(adapter: &str, limits: &Limits<'_>) {
    let program = kmlab_tests::workspace_root()
        .join("harness/adapters")
        .join(adapter)
        .join("adapter");
    let seat = runner::Seat {
        user: Some(model::UserName::new("bob")),
        adapter: smime_external::Adapter::new(adapter, program, Duration::from_secs(60)),
    };
    let kmlab = run(Vec::new());
    let seated = run(vec![seat]);
    assert_eq!(kmlab.records.len(), seated.records.len());
    let mut reads = 0;
    for (ours, theirs) in kmlab.records.iter().zip(&seated.records) {
        let by_bob = theirs.actor == "bob";
        let what = format!(
            "{adapter}: step {} {} by {}: {:?}",
            theirs.step, theirs.action, theirs.actor, theirs.details
        );
        assert_eq!(
            text(theirs, "implementation").is_some(),
            by_bob && matches!(theirs.action.as_str(), "send" | "read"),
            "{what}"
        );
        if let Some((_, reason)) = limits.steps.iter().find(|(step, _)| *step == theirs.step) {
            assert_ne!(ours.reason.as_deref(), Some(*reason), "{what}");
            assert_eq!(theirs.reason.as_deref(), Some(*reason), "{what}");
            let said = text(theirs, reason).unwrap_or_default();
            assert!(said.contains(adapter), "{what}: the reason names the tool");
            continue;
        }
        assert_eq!(
            (&theirs.outcome, &theirs.reason),
            (&ours.outcome, &ours.reason),
            "{what}"
        );
        if theirs.action == "read" {
            reads += 1;
            for key in ["signature", "signer", "decrypted-with", "body"] {
                assert_eq!(theirs.detail(key), ours.detail(key), "{what}: {key}");
            }
        }
        if by_bob && theirs.action == "send" {
            // Bob's client asks for subject key identifiers; the record says what the
            // implementation wrote.
            let signed = text(theirs, "signed").unwrap();
            let renamed =
                signed.contains("named by issuer-and-serial (subject-key-identifier asked for)");
            assert_eq!(renamed, limits.names_by_issuer, "{what}");
            if !limits.names_by_issuer {
                assert_eq!(theirs.detail("signed"), ours.detail("signed"), "{what}");
                assert_eq!(
                    theirs.detail("recipients"),
                    ours.detail("recipients"),
                    "{what}"
                );
            }
        }
    }
    assert_eq!(
        reads + limits.steps.len(),
        7,
        "{adapter}: every read step ran"
    );
    // The last read is a clear-signed message whose body changed in transit: kmlab and the
    // seat both find it tampered, by its message digest.
    let ours = kmlab.records.last().unwrap();
    assert_eq!(ours.reason.as_deref(), Some("tampered"));
    let theirs = seated.records.last().unwrap();
    assert_eq!(
        text(theirs, "signature"),
        Some("digest-mismatch"),
        "{adapter}"
    );
    // kmlab read what the seat built: an envelope it opened, a signature it verified.
    let opened = seated
        .records
        .iter()
        .find(|r| r.actor == "alice" && r.action == "read")
        .unwrap();
    assert_eq!(
        text(opened, "decrypted-with"),
        Some("alice enc#1"),
        "{adapter}"
    );
    assert_eq!(text(opened, "signature"), Some("verified"), "{adapter}");
}

#[test]
fn openssl_cli_round_trips_with_kmlab() {
    round_trips("openssl-cli", &NONE);
}

#[test]
fn gpgsm_round_trips_with_kmlab() {
    // libksba reads neither a signer info nor a recipient info that names a certificate by
    // subject key identifier; the adapter says so rather than calling the message malformed.
    round_trips(
        "gpgsm",
        &Limits {
            steps: &[(14, "unsupported"), (16, "unsupported")],
            names_by_issuer: true,
        },
    );
}

#[test]
fn cmsutil_round_trips_with_kmlab() {
    round_trips(
        "cmsutil",
        &Limits {
            steps: &[],
            names_by_issuer: true,
        },
    );
}

/// A broken adapter in bob's seat: every send and read of bob's is an adapter failure that
/// names what happened, every other step is kmlab's, and the run finishes.
fn broken(program: &str, timeout: Duration, what: &str) {
    let seat = runner::Seat {
        user: Some(model::UserName::new("bob")),
        adapter: smime_external::Adapter::new(
            program,
            kmlab_tests::workspace_root()
                .join("tests/fixtures/adapters")
                .join(program),
            timeout,
        ),
    };
    let kmlab = run(Vec::new());
    let seated = run(vec![seat]);
    let mut failures = 0;
    for (ours, theirs) in kmlab.records.iter().zip(&seated.records) {
        let sent_or_read_by_bob = theirs.actor == "bob" && theirs.action != "enroll";
        if sent_or_read_by_bob && theirs.detail("implementation").is_some() {
            // A read of a message bob never managed to send finds nothing to read.
            if theirs.reason.as_deref() == Some("no-such-message") {
                continue;
            }
            failures += 1;
            assert_eq!(
                theirs.reason.as_deref(),
                Some("adapter-failure"),
                "{theirs:?}"
            );
            let detail = text(theirs, "adapter-failure").unwrap();
            assert!(detail.starts_with(&format!("{program} ")), "{detail}");
            assert!(detail.contains(what), "{detail}");
        } else if theirs.actor != "alice" || theirs.action != "read" {
            assert_eq!(
                (&theirs.outcome, &theirs.reason),
                (&ours.outcome, &ours.reason)
            );
        }
    }
    assert_eq!(failures, 7, "bob's two sends and five reads");
}

#[test]
fn an_adapter_answering_garbage_is_an_adapter_failure() {
    broken(
        "garbage",
        Duration::from_secs(10),
        "answered something that is not JSON",
    );
}

#[test]
fn a_hanging_adapter_is_stopped_at_its_time_limit() {
    broken(
        "hang",
        Duration::from_millis(500),
        "no answer within 0.5 s; stopped",
    );
}

/// A test adapter from `fixtures/adapters`, in `user`'s seat (`None`: every user's).
fn test_seat(user: Option<&str>, program: &str) -> runner::Seat {
    runner::Seat {
        user: user.map(model::UserName::new),
        adapter: smime_external::Adapter::new(
            program,
            kmlab_tests::workspace_root()
                .join("tests/fixtures/adapters")
                .join(program),
            Duration::from_secs(10),
        ),
    }
}

/// Who does each user's cryptography when a scenario seats a user itself (bob, with
/// openssl-cli) and the run seats others: a seat for every user leaves bob's in place, a seat
/// naming bob replaces it.
#[test]
fn a_scenarios_own_seat_stands_unless_a_seat_names_its_user() {
    const SEATED: &str = "scenarios/messaging/seated-implementation.toml";
    let implementation = |transcript: &Transcript, actor: &str| -> Vec<String> {
        transcript
            .records
            .iter()
            .filter(|r| r.actor == actor && matches!(r.action.as_str(), "send" | "read"))
            // A read of a message never sent finds nothing, before any engine is asked.
            .filter(|r| r.reason.as_deref() != Some("no-such-message"))
            .map(|r| text(r, "implementation").unwrap_or("kmlab").to_owned())
            .collect()
    };
    let as_is = run_file(SEATED, Vec::new());
    assert_eq!(implementation(&as_is, "bob"), ["openssl-cli"; 5]);
    assert_eq!(implementation(&as_is, "alice"), ["kmlab"; 5]);

    let everyone = run_file(SEATED, vec![test_seat(None, "unsupported")]);
    let bob = implementation(&everyone, "bob");
    assert!(!bob.is_empty() && bob.iter().all(|i| i == "openssl-cli"));
    let alice = implementation(&everyone, "alice");
    assert!(!alice.is_empty() && alice.iter().all(|i| i == "unsupported"));

    let bob = run_file(
        SEATED,
        vec![
            test_seat(None, "garbage"),
            test_seat(Some("bob"), "unsupported"),
        ],
    );
    let seated = implementation(&bob, "bob");
    assert!(!seated.is_empty() && seated.iter().all(|i| i == "unsupported"));
    assert!(implementation(&bob, "alice").iter().all(|i| i == "garbage"));
}
