//! The `tcp_requests` target: see `sipguard_fuzz::targets::tcp_requests`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| sipguard_fuzz::targets::tcp_requests::run(data));
