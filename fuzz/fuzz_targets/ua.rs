//! The `ua` target: see `sipguard_fuzz::targets::ua`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::ua::run(data));
