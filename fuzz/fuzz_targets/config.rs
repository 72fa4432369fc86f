//! The `config` target: see `sipguard_fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::config::run(data));
