//! Arbitrary bytes from an LDAP client into the directory's session (live).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmlab_tests::hostile::targets::ldap_session(data));
