//! The `log_rules` target: see `sipguard_fuzz::targets::log_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::log_rules::run(data));
