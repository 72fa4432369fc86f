//! The XDP object, built from `sipguard-ebpf` by `build.rs` and embedded in the binary.

/// The eBPF ELF object (program `sipguard`, maps named as in `sipguard-ebpf`).
pub static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sipguard-xdp"));

/// Name of the XDP program in [`OBJECT`].
pub const PROGRAM: &str = "sipguard";
/// Name of the TC egress program (auto-ban from the PBX's answers) in [`OBJECT`].
pub const EGRESS_PROGRAM: &str = "sipguard_egress";
/// A program that only passes, for calibrating BPF_PROG_TEST_RUN's own cost (benchmark).
pub const NOOP_PROGRAM: &str = "sipguard_noop";

/// Map names in [`OBJECT`] (also the file names under the pin directory).
pub mod map {
    pub const STATE: &str = "STATE";
    pub const POLICY: &str = "POLICY";
    pub const SERVICES: &str = "SERVICES";
    pub const SERVICE_NAMES: &str = "SERVICE_NAMES";
    pub const PORT_SERVICE: &str = "PORT_SERVICE";
    pub const ALLOW_V4: &str = "ALLOW_V4";
    pub const ALLOW_V6: &str = "ALLOW_V6";
    pub const DENY_V4: &str = "DENY_V4";
    pub const DENY_V6: &str = "DENY_V6";
    pub const TRUSTED_V4: &str = "TRUSTED_V4";
    pub const TRUSTED_V6: &str = "TRUSTED_V6";
    pub const RATES: &str = "RATES";
    pub const BANS_V4: &str = "BANS_V4";
    pub const BANS_V6: &str = "BANS_V6";
    pub const COUNTERS: &str = "COUNTERS";
    pub const SIP_COUNTERS: &str = "SIP_COUNTERS";
    pub const SCANNERS: &str = "SCANNERS";
    pub const BAN_NOTES: &str = "BAN_NOTES";
    pub const BAN_COUNTERS: &str = "BAN_COUNTERS";
    pub const EVENTS: &str = "EVENTS";
    pub const AUTH_FAILS: &str = "AUTH_FAILS";
    pub const SYN_BUDGET: &str = "SYN_BUDGET";
    pub const FRAGS: &str = "FRAGS";

    /// Every map of the object.
    pub const ALL: [&str; 23] = [
        STATE,
        POLICY,
        SERVICES,
        SERVICE_NAMES,
        PORT_SERVICE,
        ALLOW_V4,
        ALLOW_V6,
        DENY_V4,
        DENY_V6,
        TRUSTED_V4,
        TRUSTED_V6,
        RATES,
        BANS_V4,
        BANS_V6,
        COUNTERS,
        SIP_COUNTERS,
        SCANNERS,
        BAN_NOTES,
        BAN_COUNTERS,
        EVENTS,
        AUTH_FAILS,
        SYN_BUDGET,
        FRAGS,
    ];
}

/// Read-only globals in [`OBJECT`] that the loader sets before loading (the verifier prunes
/// by their values: see `sipguard-ebpf/src/clock.rs`).
pub mod global {
    /// u32, 1 where the kernel has `bpf_ktime_get_coarse_ns`.
    pub const COARSE_CLOCK: &str = "SIPGUARD_COARSE_CLOCK";
}
