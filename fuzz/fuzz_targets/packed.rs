//! The `packed` target: see `sipguard_fuzz::packed`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::packed::run(data));
