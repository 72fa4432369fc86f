//! One module per fuzz target, each with `pub fn run(data: &[u8])`: what the target's
//! `fuzz_targets/<target>.rs` shim hands libFuzzer's input to.
pub mod addr;
pub mod config;
pub mod keys;
pub mod lengths;
pub mod log_rules;
pub mod packed;
pub mod sip;
pub mod tcp_requests;
pub mod ua;
