//! The `keys` target: see `sipguard_fuzz::keys`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::keys::run(data));
