//! Arbitrary MIME, DER and BER into the path a client's read takes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmlab_tests::hostile::targets::smime_reader(data));
