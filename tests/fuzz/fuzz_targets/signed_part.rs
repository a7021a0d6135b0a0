//! Arbitrary MIME into the multipart/signed split.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmlab_tests::hostile::targets::signed_part(data));
