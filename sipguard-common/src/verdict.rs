//! What happened to a packet ([`PASS`], [`DROP`], [`WOULD_DROP`]) and why ([`reason`]): the
//! numbers the counters are indexed by, and the names the metrics export them under.
//!
//! The reason and the verdict are counted apart, so one reason can appear with several
//! verdicts (`default` passes or drops; every drop reason becomes `would_drop` in monitor
//! mode). Reason numbers are never reused: a dashboard keeps its meaning across versions.

/// Why a packet got its verdict. The verdict itself (pass, drop, would_drop) is counted
/// separately, so one reason can appear with several verdicts (e.g. `default`).
pub mod reason {
    /// Source is in the service's allow list (or the service is open to all).
    pub const ALLOWED: u32 = 0;
    /// No service matched; the default policy decided.
    pub const DEFAULT: u32 = 1;
    /// Not IPv4/IPv6 (ARP, LLDP, ...): always passes.
    pub const NON_IP: u32 = 2;
    /// Return traffic of the host's own connections (TCP with ACK, UDP to the local ephemeral
    /// port range, echo replies) to a port that is no service: passes even under default drop.
    pub const REPLY: u32 = 3;
    /// ICMP errors and ICMPv6 neighbour discovery / router / MLD messages the network needs.
    pub const ICMP_CONTROL: u32 = 4;
    /// A non-first IP fragment (no transport header to judge).
    pub const FRAGMENT: u32 = 5;
    /// Source is banned and the ban has not expired.
    pub const BANNED: u32 = 6;
    /// Source is in the global deny list.
    pub const DENIED: u32 = 7;
    /// Source is not in the service's allow list.
    pub const NOT_ALLOWED: u32 = 8;
    /// Truncated Ethernet or VLAN header.
    pub const MALFORMED_L2: u32 = 9;
    /// Truncated or invalid IPv4/IPv6 header or extension header chain.
    pub const MALFORMED_L3: u32 = 10;
    /// Truncated or invalid UDP/TCP/ICMP header.
    pub const MALFORMED_L4: u32 = 11;
    /// A SIP source sent more requests of a class than its service's rate and burst allow.
    pub const RATE_LIMITED: u32 = 12;
    /// A trusted source (trunk, office) was over its rate and passed anyway.
    pub const TRUSTED: u32 = 13;
    /// A SIP request whose User-Agent matches a scanner fingerprint.
    pub const SCANNER: u32 = 14;
    /// A new TCP connection to a service over its budget for all sources together.
    pub const FLOOD: u32 = 15;
    /// A first fragment to a SIP service too small to hold a request line and its first
    /// headers (`lengths::SIP_FIRST_FRAGMENT_MIN`); its later fragments follow it.
    pub const TINY_FRAGMENT: u32 = 16;
    /// To a destination outside `[global] protect`: the perimeter box's other traffic, not
    /// sipguard's business; passes untouched.
    pub const UNPROTECTED: u32 = 17;
    /// Number of reason slots reserved in the counter map (room for later reasons).
    pub const COUNT: u32 = 32;
}

/// Names of the reasons as exported in metrics; index = reason number.
pub const REASON_NAMES: [&str; 18] = [
    "allowed",
    "default",
    "non_ip",
    "reply",
    "icmp_control",
    "fragment",
    "banned",
    "denied",
    "not_allowed",
    "malformed_l2",
    "malformed_l3",
    "malformed_l4",
    "rate_limited",
    "trusted",
    "scanner",
    "flood",
    "tiny_fragment",
    "unprotected",
];

pub const PASS: u32 = 0;
pub const DROP: u32 = 1;
/// Would have been dropped, but the rule is in monitor mode: passed.
pub const WOULD_DROP: u32 = 2;
pub const COUNT: u32 = 3;

/// Names of the verdicts as exported in metrics; index = verdict number.
pub const VERDICT_NAMES: [&str; 3] = ["pass", "drop", "would_drop"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_names_cover_every_defined_reason() {
        assert_eq!(REASON_NAMES.len() as u32, reason::UNPROTECTED + 1);
        assert_eq!(REASON_NAMES[reason::NOT_ALLOWED as usize], "not_allowed");
        assert!(REASON_NAMES.len() as u32 <= reason::COUNT);
    }

    #[test]
    fn verdict_names_cover_every_verdict() {
        assert_eq!(VERDICT_NAMES.len() as u32, COUNT);
        assert_eq!(VERDICT_NAMES[WOULD_DROP as usize], "would_drop");
    }
}
