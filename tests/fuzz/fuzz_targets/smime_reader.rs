//! Arbitrary MIME, DER and BER into the path a client's read takes. The fixture's keys are
//! made before fuzzing starts, so that generating them is not timed as an input.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: kmlab_tests::hostile::targets::smime_reader_init(),
    |data: &[u8]| kmlab_tests::hostile::targets::smime_reader(data)
);
