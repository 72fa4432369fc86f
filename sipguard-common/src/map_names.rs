//! The name of every map in the eBPF object: the names the daemon opens them by, and the file
//! names under the pin directory.
//!
//! The eBPF crate names a map after its static (`#[map]` takes the name from the identifier,
//! and its `name = "..."` argument takes only a literal), so each static there is spelled as
//! its constant here; the daemon's object test (`sipguard/src/dataplane/object.rs`) parses the built
//! object and fails on any map that is missing, extra, or shaped differently from what the
//! daemon expects.

// Policy, one entry (or key scope) per epoch.
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
pub const SCANNERS: &str = "SCANNERS";
pub const DESTS_V4: &str = "DESTS_V4";
pub const DESTS_V6: &str = "DESTS_V6";

// Runtime state: not per epoch, kept across reloads and restarts.
pub const STATE: &str = "STATE";
pub const BANS_V4: &str = "BANS_V4";
pub const BANS_V6: &str = "BANS_V6";
pub const AUTO_BANS_V4: &str = "AUTO_BANS_V4";
pub const AUTO_BANS_V6: &str = "AUTO_BANS_V6";
pub const AUTO_BAN_RING: &str = "AUTO_BAN_RING";
pub const BAN_NOTES: &str = "BAN_NOTES";
pub const RATES: &str = "RATES";
pub const AUTH_FAILS: &str = "AUTH_FAILS";
pub const USER_FAILS: &str = "USER_FAILS";
pub const LEARNED: &str = "LEARNED";
pub const NONCES: &str = "NONCES";
pub const SYN_BUDGET: &str = "SYN_BUDGET";
pub const FRAGS: &str = "FRAGS";

// Counters and events.
pub const COUNTERS: &str = "COUNTERS";
pub const SIP_COUNTERS: &str = "SIP_COUNTERS";
pub const BAN_COUNTERS: &str = "BAN_COUNTERS";
pub const EVENTS: &str = "EVENTS";

// Per-CPU scratch of one program run: not pinned, never opened by the daemon.
pub const FRAG_SCRATCH: &str = "FRAG_SCRATCH";
pub const UA_SCRATCH: &str = "UA_SCRATCH";
pub const EGRESS_SCRATCH: &str = "EGRESS_SCRATCH";
pub const SAMPLES: &str = "SAMPLES";

/// The maps pinned under the pin directory by name (every map but the scratch ones): what
/// survives a daemon restart.
pub const PINNED: [&str; 31] = [
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
    DESTS_V4,
    DESTS_V6,
    LEARNED,
    NONCES,
    USER_FAILS,
    AUTO_BANS_V4,
    AUTO_BANS_V6,
    AUTO_BAN_RING,
];

/// The per-CPU scratch maps (created with the programs, never pinned).
pub const SCRATCH: [&str; 4] = [FRAG_SCRATCH, UA_SCRATCH, EGRESS_SCRATCH, SAMPLES];

/// Every map of the object: [`PINNED`] then [`SCRATCH`].
pub const ALL: [&str; 35] = {
    let mut all = [""; 35];
    let mut i = 0;
    while i < PINNED.len() {
        all[i] = PINNED[i];
        i += 1;
    }
    while i < all.len() {
        all[i] = SCRATCH[i - PINNED.len()];
        i += 1;
    }
    all
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_map_name_is_listed_once() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(!a.is_empty());
            assert!(!ALL[i + 1..].contains(a), "{a} listed twice");
        }
    }
}
