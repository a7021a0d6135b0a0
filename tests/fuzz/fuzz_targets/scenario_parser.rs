//! Arbitrary text into both levels of the scenario parser.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kmlab_tests::hostile::targets::scenario_text(data));
