//! The `packed` target: see `sipguard_fuzz::targets::packed`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::packed::run(data));
