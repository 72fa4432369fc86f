//! The `keys` target: see `sipguard_fuzz::targets::keys`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::keys::run(data));
