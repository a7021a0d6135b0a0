//! Arbitrary bytes from an SMTP client into the sink's session and framing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmlab_tests::hostile::targets::smtp_session(data));
