//! The `ua` target: see `sipguard_fuzz::ua`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::ua::run(data));
