//! The fuzz targets' code, one module per target, shared by the libFuzzer shims in
//! `fuzz_targets/` and the replay test (`tests/replay.rs`), so a crash kept under
//! `regressions/<target>/` is replayed by a plain `cargo test` through exactly the function
//! the fuzzer ran.
//!
//! Every target must not panic on any input, and asserts what it can check of the result:
//! an error names where and what, a pure classifier agrees with a byte-by-byte reference, a
//! packing round-trips. A failed assertion is a crash to libFuzzer, like a panic.
/// The `sipguard` crate's config layer (the policy file, the log patterns) and the `parse`
/// layer under it, compiled here from their source: they name nothing else of `sipguard`
/// (`cargo xtask lint` checks the layers), and depending on `sipguard` itself would build its
/// eBPF object and the daemon's dependencies. Items only higher layers use are unused here.
/// (It names itself `crate::config`, so it keeps that name here.)
#[allow(dead_code, reason = "only the parser's entry points are fuzzed")]
#[path = "../../sipguard/src/config/mod.rs"]
pub mod config;
#[allow(dead_code, reason = "only what the config layer calls is used")]
#[path = "../../sipguard/src/parse.rs"]
pub mod parse;

pub mod targets;

/// What a target runs on one input: it panics on what it finds wrong.
pub type Target = fn(&[u8]);

/// Every target by name (the `[[bin]]` names of Cargo.toml and the folders of `corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("config", targets::config::run),
    ("log_rules", targets::log_rules::run),
    ("sip", targets::sip::run),
    ("ua", targets::ua::run),
    ("keys", targets::keys::run),
    ("packed", targets::packed::run),
    ("lengths", targets::lengths::run),
    ("addr", targets::addr::run),
    ("tcp_requests", targets::tcp_requests::run),
];

/// The first `N` bytes of `data` (zero-padded) and the rest: how targets that take a few
/// fixed fields split their input.
pub fn take<const N: usize>(data: &[u8]) -> ([u8; N], &[u8]) {
    let mut head = [0u8; N];
    let n = data.len().min(N);
    head[..n].copy_from_slice(&data[..n]);
    (head, &data[n..])
}
