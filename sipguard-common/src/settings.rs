//! The global settings of one policy epoch (`POLICY` array, index = epoch) and their flags.
//!
//! One value per epoch, read by reference from map memory by every program run: the XDP
//! program for its defaults, limits and scanner settings, the egress program for auto-ban.
//! The daemon builds it from `[global]` and `[autoban]` and writes it into the inactive epoch
//! before flipping `STATE_ACTIVE_EPOCH`.

/// Global policy of one epoch (`POLICY` array, index = epoch).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// `POLICY_*` flags.
    pub flags: u32,
    /// Service that ICMP/ICMPv6 echo requests belong to (0: none, default policy decides).
    pub icmp_echo_service: u32,
    /// Local ephemeral port range: UDP to these ports that matches no service is return
    /// traffic of the host's own sockets (DNS answers, NTP, trunk lookups).
    pub reply_port_lo: u16,
    pub reply_port_hi: u16,
    /// IPv6 sources share one rate bucket per prefix of this length (an attacker who owns a
    /// /64 must not get 2^64 buckets).
    pub rate_v6_prefix: u32,
    /// How long a source's scanner verdict is remembered before its next request is read
    /// again, in ms (0: read every request).
    pub scanner_recheck_ms: u32,
    /// A source caught with a scanner User-Agent is banned this long, in s (0: drop only).
    pub scanner_ban_s: u32,
    /// Auto-ban from the PBX's answers: a client that collects more than this many
    /// authentication failures (401/403/407 to REGISTER or INVITE) without a 2xx between
    /// them, within `autoban_window_ms`, is banned for `autoban_ban_s` with `autoban_scope`.
    pub autoban_failures: u32,
    pub autoban_window_ms: u32,
    pub autoban_ban_s: u32,
    /// `BAN_SCOPE_*`.
    pub autoban_scope: u32,
    /// Auto-ban's second signal, from the wire's other direction: a source that sends more
    /// than this many REGISTER/INVITE requests carrying credentials (Authorization or
    /// Proxy-Authorization) with no 2xx (or, for an INVITE, 18x) back from the PBX, within
    /// `autoban_window_ms`, is banned like one with too many failures (0: off).
    pub autoban_attempts: u32,
    /// Dropped packets (drop or would_drop) sent to the daemon's log as samples, per second
    /// and CPU at most (0: none); the others are counted as skipped in the next sample.
    pub drop_samples: u32,
    /// A source the PBX accepted (a 2xx, or an 18x to an INVITE, answering a request with
    /// credentials) is remembered this long, in s, and only proven evidence (answers over TCP)
    /// bans it meanwhile (0: nobody is remembered).
    pub autoban_learned_s: u32,
    /// Seed of the request digest that tells retransmissions apart (random per policy: an
    /// attacker cannot aim collisions at a hash they cannot compute).
    pub digest_seed: u32,
    /// Enumeration: a client whose failures name this many SIP users (each with a failure
    /// and no login since, within `autoban_window_ms`) is banned, however few failures each
    /// user has (0: off). One user's own failures ban at `autoban_failures`.
    pub autoban_users: u32,
}

/// The policy is written and valid.
pub const POLICY_CONFIGURED: u32 = 1 << 0;
/// Traffic matching no service is dropped (else passed).
pub const POLICY_DEFAULT_DROP: u32 = 1 << 1;
/// Global monitor mode: every drop becomes would_drop.
pub const POLICY_MONITOR: u32 = 1 << 2;
/// The deny tries hold IPv4 / IPv6 entries for this epoch (skip empty lookups).
pub const POLICY_HAS_DENY_V4: u32 = 1 << 3;
pub const POLICY_HAS_DENY_V6: u32 = 1 << 4;
/// The trusted lists hold IPv4 / IPv6 entries for this epoch.
pub const POLICY_HAS_TRUSTED: u32 = 1 << 5;
/// SIP requests are checked against the epoch's scanner User-Agent patterns.
pub const POLICY_SCANNERS: u32 = 1 << 6;
/// The egress program counts authentication failures and bans (see `Policy::autoban_*`).
pub const POLICY_AUTOBAN: u32 = 1 << 7;
/// `[global] protect` is set: packets to other destinations pass untouched.
pub const POLICY_PROTECT: u32 = 1 << 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_flags_are_distinct_bits() {
        let flags = [
            POLICY_CONFIGURED,
            POLICY_DEFAULT_DROP,
            POLICY_MONITOR,
            POLICY_HAS_DENY_V4,
            POLICY_HAS_DENY_V6,
            POLICY_HAS_TRUSTED,
            POLICY_SCANNERS,
            POLICY_AUTOBAN,
            POLICY_PROTECT,
        ];
        let all = flags.iter().fold(0, |acc, f| {
            assert_eq!(f.count_ones(), 1);
            assert_eq!(acc & f, 0);
            acc | f
        });
        assert_eq!(all, 0x1ff);
    }
}
