//! The `lengths` target: see `sipguard_fuzz::targets::lengths`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::lengths::run(data));
