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
            other => panic!("no fuzz target named {other}"),
        };
        for file in std::fs::read_dir(&target).unwrap() {
            run(&std::fs::read(file.unwrap().path()).unwrap());
            count += 1;
        }
    }
    assert!(count > 0, "no regression inputs under {}", root.display());
}
