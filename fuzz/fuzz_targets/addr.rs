//! The `addr` target: see `sipguard_fuzz::targets::addr`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::addr::run(data));
