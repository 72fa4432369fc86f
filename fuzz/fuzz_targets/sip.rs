//! The `sip` target: see `sipguard_fuzz::targets::sip`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::sip::run(data));
