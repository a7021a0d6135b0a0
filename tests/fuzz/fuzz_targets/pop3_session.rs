//! Arbitrary bytes from a POP3 client into the POP3 session (live).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmlab_tests::hostile::targets::pop3_session(data));
