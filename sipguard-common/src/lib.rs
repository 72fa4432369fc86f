//! Types and constants shared by the sipguard XDP program (`sipguard-ebpf`) and the daemon.
//!
//! Everything here is `#[repr(C)]` with explicit padding (never `packed`), so the kernel and
//! user space agree on every byte. The `user` feature adds `aya::Pod` impls.
//!
//! # Map layout
//! A policy lives in one of two *epochs* (slots). The daemon writes a complete new policy into
//! the inactive epoch, then flips [`STATE_ACTIVE_EPOCH`] with a single array write, so no packet
//! is ever judged by a half-written policy. Keys of every policy map therefore carry the epoch.
#![no_std]

#[cfg(test)]
extern crate std;

pub mod sip;
pub mod ua;

/// Number of policy slots (double buffering).
pub const EPOCHS: u32 = 2;
/// Service ids are 1..MAX_SERVICES; 0 means "no service matched".
pub const MAX_SERVICES: u32 = 32;
pub const SERVICE_NONE: u32 = 0;

/// Transport slots of the port -> service table.
pub const PROTO_SLOT_UDP: u32 = 0;
pub const PROTO_SLOT_TCP: u32 = 1;
pub const PROTO_SLOTS: u32 = 2;
pub const PORTS: u32 = 65536;
/// Entries of the `PORT_SERVICE` array: epoch x transport x port.
pub const PORT_MAP_ENTRIES: u32 = EPOCHS * PROTO_SLOTS * PORTS;

/// Capacity of the LPM tries. Allow/deny lists are written only by the daemon and are never
/// evicted; the capacity is per map, shared by both epochs.
pub const ALLOW_MAX_ENTRIES: u32 = 65536;
pub const DENY_MAX_ENTRIES: u32 = 262144;
pub const BAN_MAX_ENTRIES: u32 = 65536;

/// Index of the active epoch in the `STATE` array: its low bit; the value counts the policies
/// applied (the programs read `& 1`).
pub const STATE_ACTIVE_EPOCH: u32 = 0;
/// Index of the map layout version in the `STATE` array, written by the daemon that created
/// the pinned maps. A daemon refuses to adopt pinned maps of another layout.
pub const STATE_LAYOUT: u32 = 1;
/// Index of the "bans may exist" flag in the `STATE` array. The ban tries are searched only
/// when it is non-zero: a trie lookup costs ~10 ns even when the trie is empty. Whoever
/// inserts a ban sets the flag *after* the insert; whoever clears it (when every ban is gone)
/// clears it first and re-checks the tries afterwards, setting it again if a ban appeared.
pub const STATE_BANS_PRESENT: u32 = 2;
pub const STATE_ENTRIES: u32 = 3;
/// Bump whenever a map's key, value or size changes.
pub const LAYOUT_VERSION: u32 = 11;

/// Service names (`SERVICE_NAMES` array, index = [`service_index`]), NUL-padded; read by
/// `sipguard status` and the metrics exporter, never by the XDP program.
pub const SERVICE_NAME_LEN: usize = 32;

/// Index into the `PORT_SERVICE` array.
#[inline(always)]
pub const fn port_index(epoch: u32, proto_slot: u32, port: u16) -> u32 {
    (epoch * PROTO_SLOTS + proto_slot) * PORTS + port as u32
}

/// Index into the `SERVICES` array.
#[inline(always)]
pub const fn service_index(epoch: u32, service: u32) -> u32 {
    epoch * MAX_SERVICES + service
}

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
    /// Number of reason slots reserved in the counter map (room for later reasons).
    pub const COUNT: u32 = 32;
}

/// Names of the reasons as exported in metrics; index = reason number.
pub const REASON_NAMES: [&str; 16] = [
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
];

/// What happened to a packet.
pub mod verdict {
    pub const PASS: u32 = 0;
    pub const DROP: u32 = 1;
    /// Would have been dropped, but the rule is in monitor mode: passed.
    pub const WOULD_DROP: u32 = 2;
    pub const COUNT: u32 = 3;
}
pub const VERDICT_NAMES: [&str; 3] = ["pass", "drop", "would_drop"];

/// Entries of the per-CPU `COUNTERS` array: service x reason x verdict.
pub const COUNTER_ENTRIES: u32 = MAX_SERVICES * reason::COUNT * verdict::COUNT;

/// Index into the `COUNTERS` array.
#[inline(always)]
pub const fn counter_index(service: u32, reason: u32, verdict: u32) -> u32 {
    (service * reason::COUNT + reason) * verdict::COUNT + verdict
}

/// Per-CPU packet and byte counter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

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
}

/// The policy is written and valid.
pub const POLICY_CONFIGURED: u32 = 1 << 0;
/// Traffic matching no service is dropped (else passed).
pub const POLICY_DEFAULT_DROP: u32 = 1 << 1;
/// Global monitor mode: every drop becomes would_drop.
pub const POLICY_MONITOR: u32 = 1 << 2;
/// The trusted lists hold IPv4 / IPv6 entries for this epoch.
pub const POLICY_HAS_TRUSTED: u32 = 1 << 5;
/// SIP requests are checked against the epoch's scanner User-Agent patterns.
pub const POLICY_SCANNERS: u32 = 1 << 6;
/// The egress program counts authentication failures and bans (see `Policy::autoban_*`).
pub const POLICY_AUTOBAN: u32 = 1 << 7;

/// Value of the `AUTH_FAILS` LRU map (key: the client, IPv4 as ::ffff:a.b.c.d, IPv6 cut to
/// the rate prefix).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuthFailures {
    /// Failures since `window_start_ns` with no 2xx in between (the egress program).
    pub count: u32,
    /// Requests with credentials since `pending_start_ns` with no 2xx (INVITE: or 18x) back
    /// (the XDP program counts them, the egress program clears them).
    pub pending: u32,
    pub window_start_ns: u64,
    pub pending_start_ns: u64,
}

/// Datagrams whose first fragment's verdict is kept for their later fragments.
pub const FRAG_MAX_ENTRIES: u32 = 16384;

/// Clients tracked for auto-ban.
pub const AUTH_FAILS_MAX_ENTRIES: u32 = 65536;

/// An event the programs send the daemon through the `EVENTS` ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// `EVENT_*`.
    pub kind: u32,
    /// `BAN_REASON_*` for a ban, `reason::*` for a drop sample.
    pub reason: u32,
    /// 4 or 6 (0: a drop sample of a packet without an IP source, e.g. malformed).
    pub family: u8,
    /// The banned prefix; a drop sample's source is a whole address.
    pub prefix_len: u8,
    /// Drop sample: IPPROTO_* of the transport (0: none, a later fragment).
    pub protocol: u8,
    /// Drop sample: `verdict::DROP` or `verdict::WOULD_DROP`.
    pub verdict: u8,
    /// Ban: failures counted. Drop sample: drops not sampled on this CPU since its last one.
    pub count: u32,
    pub addr: [u8; 16],
    /// Ban: its length in seconds.
    pub ban_s: u32,
    /// Drop sample: the service slot and destination port.
    pub service: u16,
    pub dport: u16,
}

/// A program banned a source.
pub const EVENT_BAN: u32 = 1;
/// A sample of the dropped packets.
pub const EVENT_DROP: u32 = 2;
/// Bytes of the ring buffer.
pub const EVENTS_BYTES: u32 = 64 * 1024;
/// Slots of the per-CPU ban counter, by `BAN_REASON_*`.
pub const BAN_COUNTER_ENTRIES: u32 = 8;
/// The deny tries hold IPv4 / IPv6 entries for this epoch (skip empty lookups).
pub const POLICY_HAS_DENY_V4: u32 = 1 << 3;
pub const POLICY_HAS_DENY_V6: u32 = 1 << 4;

/// Per-service policy of one epoch (`SERVICES` array, index = [`service_index`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServicePolicy {
    /// `SERVICE_*` flags.
    pub flags: u32,
    /// Per rate class ([`rate_class`]): nanoseconds between requests at the sustained rate
    /// (0: no limit), as in GCRA's emission interval.
    pub rate_interval_ns: [u32; rate_class::COUNT as usize],
    /// Per rate class: requests a source may send at once before the rate applies.
    pub rate_burst: [u32; rate_class::COUNT as usize],
    /// New TCP connections to the service from all sources together (GCRA; 0: no budget).
    pub syn_budget_interval_ns: u32,
    pub syn_budget_burst: u32,
}

/// Rate-limit classes of SIP requests: every class has its own bucket per source.
pub mod rate_class {
    pub const REGISTER: u32 = 0;
    pub const INVITE: u32 = 1;
    /// OPTIONS, other requests and garbage.
    pub const OTHER: u32 = 2;
    /// New TCP connections (SYN without ACK) to a SIP service.
    pub const SYN: u32 = 3;
    /// ICMP/ICMPv6 echo requests.
    pub const ECHO: u32 = 4;
    pub const COUNT: u32 = 5;
}

/// The rate class of a SIP class, or `None` for keep-alives and responses (not limited:
/// they answer the host's own traffic).
#[inline(always)]
pub const fn rate_class_of(sip_class: u32) -> Option<u32> {
    match sip_class {
        sip::class::REGISTER => Some(rate_class::REGISTER),
        sip::class::INVITE => Some(rate_class::INVITE),
        sip::class::OPTIONS | sip::class::OTHER_REQUEST | sip::class::GARBAGE => {
            Some(rate_class::OTHER)
        }
        _ => None,
    }
}

/// Key of the `RATES` LRU map: a source (IPv4 as ::ffff:a.b.c.d, IPv6 cut to the policy's
/// prefix) and a rate class. The value is a [`SourceState`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RateKey {
    pub addr: [u8; 16],
    pub class: u32,
}

/// Value of the `RATES` map: what sipguard remembers of one (source, class).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceState {
    /// GCRA theoretical arrival time, coarse ns (0 while the class has no rate limit).
    pub tat: u64,
    /// The scanner verdict below holds until this time, coarse ns.
    pub ua_until: u64,
    /// 1: the source's last request read carried a scanner User-Agent.
    pub ua_scanner: u32,
    pub _pad: u32,
}

/// Sources tracked for rate limiting. LRU: a spoofed-source flood churns it, but allow
/// lists, bans and trusted lists live in other maps that traffic cannot evict.
pub const RATE_MAX_ENTRIES: u32 = 131072;
/// Capacity of the trusted-source tries (both epochs).
pub const TRUSTED_MAX_ENTRIES: u32 = 8192;

pub const SERVICE_ENABLED: u32 = 1 << 0;
/// Every IPv4 / IPv6 source may use the service (no allow-list lookup).
pub const SERVICE_ALLOW_ANY_V4: u32 = 1 << 1;
pub const SERVICE_ALLOW_ANY_V6: u32 = 1 << 2;
/// The service is in monitor mode: its drops become would_drop.
pub const SERVICE_MONITOR: u32 = 1 << 3;
/// The service speaks SIP: UDP payloads are classified ([`sip::classify`]) and counted by
/// class; requests and new TCP connections are rate-limited per source.
pub const SERVICE_SIP: u32 = 1 << 4;

/// Entries of the per-CPU `SIP_COUNTERS` array: service x SIP class x verdict.
pub const SIP_COUNTER_ENTRIES: u32 = MAX_SERVICES * sip::class::COUNT * verdict::COUNT;

/// Index into the `SIP_COUNTERS` array.
#[inline(always)]
pub const fn sip_counter_index(service: u32, class: u32, verdict: u32) -> u32 {
    (service * sip::class::COUNT + class) * verdict::COUNT + verdict
}

/// LPM trie key data for an IPv4 source scoped to an epoch or a service.
///
/// The LPM prefix length covers the 32 scope bits plus the address prefix, so one trie holds
/// the allow lists of every service of both epochs. `scope` is stored big-endian so that the
/// bit order matches the trie's byte-wise matching (it is always matched in full anyway).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopedV4 {
    pub scope: [u8; 4],
    pub addr: [u8; 4],
}

/// LPM trie key data for an IPv6 source scoped to an epoch or a service.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScopedV6 {
    pub scope: [u8; 4],
    pub addr: [u8; 16],
}

/// Bits of the scope part of a scoped LPM key.
pub const SCOPE_BITS: u32 = 32;

/// Scope of an allow-list entry: the service slot of one epoch.
#[inline(always)]
pub const fn allow_scope(epoch: u32, service: u32) -> [u8; 4] {
    service_index(epoch, service).to_be_bytes()
}

/// Scope of a deny-list or trusted-list entry: the epoch.
#[inline(always)]
pub const fn epoch_scope(epoch: u32) -> [u8; 4] {
    epoch.to_be_bytes()
}

/// A ban (`BANS_V4` / `BANS_V6` LPM tries keyed by source prefix). Bans are runtime state,
/// not policy: they are not per epoch, survive reloads and daemon restarts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ban {
    /// Nanoseconds on the programs' clock at which the ban ends; 0 = never. The clock is
    /// CLOCK_MONOTONIC_COARSE (`bpf_ktime_get_coarse_ns`, jiffy resolution, the cheap one)
    /// where the kernel has it (5.11), else CLOCK_MONOTONIC; bans are measured in seconds.
    pub expires_ns: u64,
    /// Nanoseconds on the same clock at which the ban was set.
    pub created_ns: u64,
    /// Packets dropped because of this ban (updated atomically by the XDP program).
    pub hits: u64,
    /// `BAN_REASON_*`.
    pub reason: u32,
    /// `BAN_SCOPE_*`.
    pub scope: u32,
}

pub const BAN_REASON_MANUAL: u32 = 0;
/// Set by the XDP program on a scanner User-Agent when the policy bans scanners.
pub const BAN_REASON_SCANNER: u32 = 1;
/// Set by the egress program: too many authentication failures answered by the PBX.
pub const BAN_REASON_AUTH_FAILURES: u32 = 2;
/// Set by the daemon from a log file (`[[logwatch]]`).
pub const BAN_REASON_LOG: u32 = 3;
/// Set by the XDP program: too many requests carrying credentials that the PBX never
/// accepted (`Policy::autoban_attempts`).
pub const BAN_REASON_AUTH_ATTEMPTS: u32 = 4;
/// Names of the ban reasons, index = reason.
pub const BAN_REASON_NAMES: [&str; 5] =
    ["manual", "scanner", "auth_failures", "log", "auth_attempts"];
/// The ban covers every packet of the source.
pub const BAN_SCOPE_ALL: u32 = 0;
/// The ban covers the source's packets to SIP services only (sources behind carrier-grade NAT
/// shared with honest users keep their web and RTP).
pub const BAN_SCOPE_SIP: u32 = 1;

/// Key of the `BAN_NOTES` map (user space only): the admin's text for a ban.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BanNoteKey {
    /// 4 or 6.
    pub family: u8,
    pub prefix_len: u8,
    pub _pad: [u8; 2],
    pub addr: [u8; 16],
}

pub const BAN_NOTE_LEN: usize = 64;

/// ICMP message classes as the filter sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IcmpClass {
    /// Echo request: judged by the ICMP service's allow list.
    EchoRequest,
    /// Echo reply: answer to the host's own ping.
    EchoReply,
    /// Errors and neighbour discovery: the network needs them, never dropped.
    Control,
    /// Anything else (timestamp, redirect, information request...): default policy.
    Other,
}

/// Classifies an ICMPv4 type.
#[inline(always)]
pub const fn classify_icmp4(icmp_type: u8) -> IcmpClass {
    match icmp_type {
        8 => IcmpClass::EchoRequest,
        0 => IcmpClass::EchoReply,
        // destination unreachable (incl. fragmentation needed), time exceeded, parameter problem
        3 | 11 | 12 => IcmpClass::Control,
        _ => IcmpClass::Other,
    }
}

/// Classifies an ICMPv6 type.
#[inline(always)]
pub const fn classify_icmp6(icmp_type: u8) -> IcmpClass {
    match icmp_type {
        128 => IcmpClass::EchoRequest,
        129 => IcmpClass::EchoReply,
        // destination unreachable, packet too big, time exceeded, parameter problem
        1..=4 => IcmpClass::Control,
        // MLD query/report/done, router solicitation/advertisement, neighbour
        // solicitation/advertisement, redirect, MLDv2 report
        130..=137 | 143 => IcmpClass::Control,
        _ => IcmpClass::Other,
    }
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    unsafe impl aya::Pod for Counter {}
    unsafe impl aya::Pod for Policy {}
    unsafe impl aya::Pod for ServicePolicy {}
    unsafe impl aya::Pod for ScopedV4 {}
    unsafe impl aya::Pod for ScopedV6 {}
    unsafe impl aya::Pod for Ban {}
    unsafe impl aya::Pod for RateKey {}
    unsafe impl aya::Pod for SourceState {}
    unsafe impl aya::Pod for BanNoteKey {}
    unsafe impl aya::Pod for AuthFailures {}
    unsafe impl aya::Pod for Event {}
    unsafe impl aya::Pod for ua::Scanners {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn struct_sizes_have_no_implicit_padding() {
        assert_eq!(size_of::<Counter>(), 16);
        assert_eq!(size_of::<Policy>(), 48);
        assert_eq!(size_of::<AuthFailures>(), 24);
        assert_eq!(size_of::<Event>(), 40);
        assert_eq!(size_of::<SourceState>(), 24);
        assert_eq!(size_of::<BanNoteKey>(), 20);
        assert_eq!(size_of::<ua::UaPattern>(), 40);
        assert_eq!(size_of::<ua::Scanners>(), 8 + 4 * 1024 + 32 * 40);
        assert_eq!(size_of::<ServicePolicy>(), 52);
        assert_eq!(size_of::<RateKey>(), 20);
        assert_eq!(size_of::<ScopedV4>(), 8);
        assert_eq!(size_of::<ScopedV6>(), 20);
        assert_eq!(size_of::<Ban>(), 32);
    }

    #[test]
    fn counter_indexes_are_unique_and_in_range() {
        let last = counter_index(MAX_SERVICES - 1, reason::COUNT - 1, verdict::COUNT - 1);
        assert_eq!(last, COUNTER_ENTRIES - 1);
        assert_ne!(counter_index(1, 0, 0), counter_index(0, 1, 0));
        assert_ne!(counter_index(0, 1, 0), counter_index(0, 0, 1));
    }

    #[test]
    fn sip_counter_indexes_are_unique_and_in_range() {
        let last = sip_counter_index(MAX_SERVICES - 1, sip::class::COUNT - 1, verdict::COUNT - 1);
        assert_eq!(last, SIP_COUNTER_ENTRIES - 1);
        assert_eq!(sip::CLASS_NAMES.len() as u32, sip::class::GARBAGE + 1);
    }

    #[test]
    fn port_indexes_cover_both_epochs_and_transports() {
        assert_eq!(port_index(0, PROTO_SLOT_UDP, 0), 0);
        assert_eq!(port_index(0, PROTO_SLOT_TCP, 0), PORTS);
        assert_eq!(port_index(1, PROTO_SLOT_UDP, 0), 2 * PORTS);
        assert_eq!(port_index(1, PROTO_SLOT_TCP, 65535), PORT_MAP_ENTRIES - 1);
    }

    #[test]
    fn reason_names_cover_every_defined_reason() {
        assert_eq!(REASON_NAMES.len() as u32, reason::FLOOD + 1);
        assert_eq!(REASON_NAMES[reason::NOT_ALLOWED as usize], "not_allowed");
    }

    #[test]
    fn icmp_echo_and_errors_are_told_apart() {
        assert_eq!(classify_icmp4(8), IcmpClass::EchoRequest);
        assert_eq!(classify_icmp4(3), IcmpClass::Control);
        assert_eq!(classify_icmp4(13), IcmpClass::Other);
        assert_eq!(classify_icmp6(128), IcmpClass::EchoRequest);
        assert_eq!(classify_icmp6(2), IcmpClass::Control); // packet too big
        assert_eq!(classify_icmp6(135), IcmpClass::Control); // neighbour solicitation
        assert_eq!(classify_icmp6(139), IcmpClass::Other); // node information query
    }
}
