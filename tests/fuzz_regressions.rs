//! Inputs that once broke kmlab under the fuzz targets (`tests/fuzz`), kept in
//! `tests/fuzz/regressions/<target>/` and run through the same target functions on stable.
//! Each test is named after what the input broke.
#![allow(clippy::unwrap_used, reason = "tests stop at the first surprise")]

use kmlab_tests::hostile::targets;

fn input(target: &str, name: &str) -> Vec<u8> {
    let path = kmlab_tests::workspace_root()
        .join("tests/fuzz/regressions")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A command line longer than the limit and ended by a bare LF was answered `500 5.5.2` when it
/// arrived in one read and `500 5.5.6` when it arrived in pieces: the sink's reply depended on
/// how TCP cut the stream. Length is now judged first, however the line ends.
#[test]
fn an_over_long_command_ended_by_a_bare_lf_gets_one_reply_however_it_arrives() {
    targets::smtp_session(&input("smtp_session", "over-long-command-ended-by-bare-lf"));
}

/// The sink echoed an EHLO domain into its reply byte for byte, NULs and control characters
/// included. A domain must now be printable ASCII (501 otherwise), and no reply carries a
/// control character whatever a client sends.
#[test]
fn a_nul_in_the_ehlo_domain_never_reaches_a_reply() {
    targets::smtp_session(&input("smtp_session", "nul-in-ehlo-domain-echoed-in-reply"));
}

/// Every committed input, whichever test names it, still passes its target.
#[test]
fn every_regression_input_passes_its_target() {
    let root = kmlab_tests::workspace_root().join("tests/fuzz/regressions");
    let mut count = 0;
    for target in std::fs::read_dir(&root).unwrap() {
        let target = target.unwrap().path();
        let run: fn(&[u8]) = match target.file_name().unwrap().to_str().unwrap() {
            "smtp_session" => targets::smtp_session,
            "scenario_parser" => targets::scenario_text,
            "smime_reader" => targets::smime_reader,
            "signed_part" => targets::signed_part,
            "imap_session" => targets::imap_session,
            "pop3_session" => targets::pop3_session,
            "ldap_session" => targets::ldap_session,
            other => panic!("no fuzz target named {other}"),
        };
        for file in std::fs::read_dir(&target).unwrap() {
            run(&std::fs::read(file.unwrap().path()).unwrap());
            count += 1;
        }
    }
    assert!(count > 0, "no regression inputs under {}", root.display());
}

/// The live servers' targets hold on whole, ordinary sessions (their fuzzers' seeds), and on
/// a flood of rubbish that must close each session.
#[test]
fn the_live_session_targets_hold_on_ordinary_sessions_and_floods() {
    targets::imap_session(
        b"a LOGIN alice secret\r\nb SELECT INBOX\r\nc FETCH 1:* (FLAGS BODY[] BODYSTRUCTURE ENVELOPE)\r\nd UID SEARCH UNSEEN\r\ne STORE 1 +FLAGS (\\Deleted)\r\nf APPEND Sent {5}\r\nhi\r\n\r\ng EXPUNGE\r\nh IDLE\r\nDONE\r\ni LOGOUT\r\n",
    );
    targets::imap_session(&b"x FROB\r\n".repeat(30));
    targets::pop3_session(
        b"CAPA\r\nUSER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 1 0\r\nDELE 1\r\nRSET\r\nQUIT\r\n",
    );
    targets::pop3_session(&b"FROB\r\n".repeat(30));
    targets::ldap_session(b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x03\x04\x00\x80\x00");
    targets::ldap_session(b"GET / HTTP/1.0\r\n\r\n");
}
