//! Arbitrary bytes from an IMAP client into the IMAP session (live).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmlab_tests::hostile::targets::imap_session(data));
