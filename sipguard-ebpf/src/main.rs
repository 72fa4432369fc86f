//! sipguard's XDP program: one verdict per packet, first match decides.
//!
//! 1. parse (malformed headers drop, counted per layer; non-IP passes)
//! 2. banned source (not expired) -> drop `banned`
//! 3. global deny list -> drop `denied`
//! 4. (transport, destination port) or ICMP echo -> service; none -> default policy
//!    (under default drop, return traffic of the host's own sockets still passes)
//! 5. service allow list miss -> drop `not_allowed`
//! 6. SIP requests: a source remembered as a scanner -> drop `scanner`; over its rate ->
//!    drop `rate_limited`; a User-Agent matching a scanner pattern -> drop `scanner` (and ban
//!    if the policy says so). Trusted sources pass instead, as `trusted`.
//!    A REGISTER/INVITE within its rate that carries credentials is one more unanswered
//!    attempt of its source; past the auto-ban threshold -> ban and drop `banned` (see
//!    [`attempts`]).
//! 7. pass `allowed`
//!
//! Every decision goes through [`finish`], which counts it per CPU by (service, reason,
//! verdict) and turns a drop into `would_drop` in monitor mode. Nothing is logged per packet.
#![no_std]
#![no_main]

mod attempts;
mod clock;
mod egress;
mod frag;
mod parse;
mod sample;
mod ua;

use aya_ebpf::{
    bindings::xdp_action,
    macros::{map, xdp},
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
    programs::XdpContext,
};
use parse::{Cursor, Packet, Parsed, Proto, Src, TCP_ACK};
use sipguard_common::{
    allow_scope, counter_index, epoch_scope, port_index, rate_class, rate_class_of, reason,
    service_index, sip, sip_counter_index, verdict, Ban, BanNoteKey, Counter, Event, IcmpClass,
    Policy, RateKey, ScopedV4, ScopedV6, ServicePolicy, SourceState, ALLOW_MAX_ENTRIES,
    BAN_COUNTER_ENTRIES, BAN_MAX_ENTRIES, BAN_NOTE_LEN, BAN_REASON_AUTH_ATTEMPTS,
    BAN_REASON_SCANNER, BAN_SCOPE_ALL, BAN_SCOPE_SIP, COUNTER_ENTRIES, DENY_MAX_ENTRIES, EPOCHS,
    EVENTS_BYTES, EVENT_BAN, MAX_SERVICES, POLICY_AUTOBAN, POLICY_DEFAULT_DROP, POLICY_HAS_DENY_V4,
    POLICY_HAS_DENY_V6, POLICY_HAS_TRUSTED, POLICY_MONITOR, POLICY_SCANNERS, PORT_MAP_ENTRIES,
    PROTO_SLOT_TCP, PROTO_SLOT_UDP, RATE_MAX_ENTRIES, SCOPE_BITS, SERVICE_ALLOW_ANY_V4,
    SERVICE_ALLOW_ANY_V6, SERVICE_ENABLED, SERVICE_MONITOR, SERVICE_NAME_LEN, SERVICE_NONE,
    SERVICE_SIP, SIP_COUNTER_ENTRIES, STATE_ACTIVE_EPOCH, STATE_BANS_PRESENT, STATE_ENTRIES,
    TRUSTED_MAX_ENTRIES,
};

#[map]
pub(crate) static STATE: Array<u32> = Array::pinned(STATE_ENTRIES, 0);
#[map]
pub(crate) static POLICY: Array<Policy> = Array::pinned(EPOCHS, 0);
#[map]
pub(crate) static SERVICES: Array<ServicePolicy> = Array::pinned(EPOCHS * MAX_SERVICES, 0);
#[map]
pub(crate) static PORT_SERVICE: Array<u32> = Array::pinned(PORT_MAP_ENTRIES, 0);
#[map]
static ALLOW_V4: LpmTrie<ScopedV4, u32> = LpmTrie::pinned(ALLOW_MAX_ENTRIES, 0);
#[map]
static ALLOW_V6: LpmTrie<ScopedV6, u32> = LpmTrie::pinned(ALLOW_MAX_ENTRIES, 0);
#[map]
static DENY_V4: LpmTrie<ScopedV4, u32> = LpmTrie::pinned(DENY_MAX_ENTRIES, 0);
#[map]
static DENY_V6: LpmTrie<ScopedV6, u32> = LpmTrie::pinned(DENY_MAX_ENTRIES, 0);
#[map]
pub(crate) static BANS_V4: LpmTrie<[u8; 4], Ban> = LpmTrie::pinned(BAN_MAX_ENTRIES, 0);
#[map]
pub(crate) static BANS_V6: LpmTrie<[u8; 16], Ban> = LpmTrie::pinned(BAN_MAX_ENTRIES, 0);
/// SIP sources exempt from rate limits (trunks, the office), per epoch.
#[map]
static TRUSTED_V4: LpmTrie<ScopedV4, u32> = LpmTrie::pinned(TRUSTED_MAX_ENTRIES, 0);
#[map]
static TRUSTED_V6: LpmTrie<ScopedV6, u32> = LpmTrie::pinned(TRUSTED_MAX_ENTRIES, 0);
/// Per (source, rate class): GCRA state and the remembered scanner verdict.
#[map]
static RATES: LruHashMap<RateKey, SourceState> = LruHashMap::pinned(RATE_MAX_ENTRIES, 0);
/// The admin's text per ban (`sipguard ban --reason`); the program never reads it.
#[map]
static BAN_NOTES: HashMap<BanNoteKey, [u8; BAN_NOTE_LEN]> = HashMap::pinned(BAN_MAX_ENTRIES, 0);
/// Written by the daemon for `sipguard status` and metrics; the program never reads it.
#[map]
static SERVICE_NAMES: Array<[u8; SERVICE_NAME_LEN]> = Array::pinned(EPOCHS * MAX_SERVICES, 0);
#[map]
static COUNTERS: PerCpuArray<Counter> = PerCpuArray::pinned(COUNTER_ENTRIES, 0);
/// GCRA state of each service's SYN budget, by service slot.
#[map]
static SYN_BUDGET: Array<u64> = Array::pinned(MAX_SERVICES, 0);
/// Bans the programs made, per CPU, by `BAN_REASON_*`.
#[map]
static BAN_COUNTERS: PerCpuArray<u64> = PerCpuArray::pinned(BAN_COUNTER_ENTRIES, 0);
/// Events for the daemon's log (bans).
#[map]
pub(crate) static EVENTS: RingBuf = RingBuf::pinned(EVENTS_BYTES, 0);
/// SIP services only: packets by (service, SIP class, verdict).
#[map]
static SIP_COUNTERS: PerCpuArray<Counter> = PerCpuArray::pinned(SIP_COUNTER_ENTRIES, 0);

/// No SIP class: not a UDP packet to a SIP service.
const NO_SIP_CLASS: u32 = u32::MAX;

/// The outcome of the pipeline before monitor mode and counting.
#[derive(Clone, Copy)]
pub(crate) struct Decision {
    pub(crate) service: u32,
    pub(crate) reason: u32,
    pub(crate) drop: bool,
    pub(crate) monitor: bool,
    pub(crate) sip_class: u32,
}

impl Decision {
    #[inline(always)]
    pub(crate) const fn pass(service: u32, reason: u32) -> Self {
        Self {
            service,
            reason,
            drop: false,
            monitor: false,
            sip_class: NO_SIP_CLASS,
        }
    }

    #[inline(always)]
    pub(crate) const fn drop(service: u32, reason: u32, monitor: bool) -> Self {
        Self {
            service,
            reason,
            drop: true,
            monitor,
            sip_class: NO_SIP_CLASS,
        }
    }

    #[inline(always)]
    const fn with_sip_class(mut self, class: u32) -> Self {
        self.sip_class = class;
        self
    }
}

#[xdp]
pub fn sipguard(ctx: XdpContext) -> u32 {
    let decision = try_sipguard(&ctx);
    frag::remember(&decision);
    finish(&ctx, decision)
}

/// Does nothing but pass: the benchmark runs it to measure BPF_PROG_TEST_RUN's own cost per
/// packet on the machine, so the table can show what sipguard itself adds. Never attached.
#[xdp]
pub fn sipguard_noop(_ctx: XdpContext) -> u32 {
    xdp_action::XDP_PASS
}

/// The one place every verdict passes through: applies monitor mode and counts.
#[inline(always)]
fn finish(ctx: &XdpContext, d: Decision) -> u32 {
    let (v, action) = if !d.drop {
        (verdict::PASS, xdp_action::XDP_PASS)
    } else if d.monitor {
        (verdict::WOULD_DROP, xdp_action::XDP_PASS)
    } else {
        (verdict::DROP, xdp_action::XDP_DROP)
    };
    if d.drop {
        sample::drop(ctx, &d, v);
    }
    let bytes = (ctx.data_end() - ctx.data()) as u64;
    count(&COUNTERS, counter_index(d.service, d.reason, v), bytes);
    if d.sip_class != NO_SIP_CLASS {
        count(
            &SIP_COUNTERS,
            sip_counter_index(d.service, d.sip_class, v),
            bytes,
        );
    }
    action
}

#[inline(always)]
fn count(counters: &PerCpuArray<Counter>, index: u32, bytes: u64) {
    if let Some(c) = counters.get_ptr_mut(index) {
        // Safety: per-CPU value, no concurrent writer on this CPU.
        unsafe {
            (*c).packets += 1;
            (*c).bytes += bytes;
        }
    }
}

#[inline(always)]
fn try_sipguard(ctx: &XdpContext) -> Decision {
    let epoch = match STATE.get(STATE_ACTIVE_EPOCH) {
        Some(e) => *e & 1,
        None => 0,
    };
    // By reference: the policy is read from map memory field by field, not copied.
    let policy: &Policy = match POLICY.get(epoch) {
        Some(p) => p,
        None => return Decision::pass(SERVICE_NONE, reason::DEFAULT),
    };
    let global_monitor = policy.flags & POLICY_MONITOR != 0;

    let mut cursor = Cursor::new(ctx);
    let pkt = match parse::packet(&mut cursor) {
        Ok(Parsed::Ip(pkt)) => pkt,
        Ok(Parsed::NonIp) => return Decision::pass(SERVICE_NONE, reason::NON_IP),
        Err(malformed) => return Decision::drop(SERVICE_NONE, malformed, global_monitor),
    };

    // Resolve the service first (an array read) so that ban and deny drops are counted
    // against the service they targeted; the verdict order is unchanged.
    let service = service_of(epoch, policy, &pkt);
    let service_policy = if service == SERVICE_NONE {
        None
    } else {
        SERVICES
            .get(service_index(epoch, service))
            .filter(|s| s.flags & SERVICE_ENABLED != 0)
    };
    let service = if service_policy.is_some() {
        service
    } else {
        SERVICE_NONE
    };
    // A service in monitor mode softens its own rules (allow list, default), never bans or
    // the global deny list: those only follow the global mode.
    let monitor =
        global_monitor || matches!(service_policy, Some(s) if s.flags & SERVICE_MONITOR != 0);

    // UDP to a SIP service: classify it, so every verdict on it (ban, deny, allow list, ...)
    // is also counted by SIP class; keep where its payload is for the User-Agent check.
    // All fields are always set: an Option, or a later match on the enum, leaves registers
    // uninitialised on some path, which the verifier refuses to spill.
    let (sip_class, payload) = match service_policy {
        Some(s) if pkt.l4.proto == Proto::Udp && s.flags & SERVICE_SIP != 0 => (
            sip::classify(
                &parse::payload_head(ctx, pkt.l4.payload, pkt.l4.payload_len),
                pkt.l4.payload_len,
            ),
            Payload {
                readable: policy.flags & POLICY_SCANNERS != 0,
                start: pkt.l4.payload,
                end: pkt.l4.payload + pkt.l4.payload_len,
            },
        ),
        _ => (
            NO_SIP_CLASS,
            Payload {
                readable: false,
                start: 0,
                end: 0,
            },
        ),
    };

    if bans_present() {
        let sip_service = matches!(service_policy, Some(s) if s.flags & SERVICE_SIP != 0);
        // A trusted source is never locked out, even by a ban made before it was trusted.
        if is_banned(&pkt.src, sip_service)
            && !(policy.flags & POLICY_HAS_TRUSTED != 0 && is_trusted(epoch, &pkt.src))
        {
            return Decision::drop(service, reason::BANNED, global_monitor)
                .with_sip_class(sip_class);
        }
    }
    if is_denied(epoch, policy, &pkt.src) {
        return Decision::drop(service, reason::DENIED, global_monitor).with_sip_class(sip_class);
    }

    if pkt.l4.proto == Proto::Fragment {
        return frag::later(policy);
    }
    if pkt.l4.is_icmp(IcmpClass::Control) {
        return Decision::pass(SERVICE_NONE, reason::ICMP_CONTROL);
    }
    if pkt.l4.is_icmp(IcmpClass::EchoReply) {
        return Decision::pass(SERVICE_NONE, reason::REPLY);
    }

    let Some(s) = service_policy else {
        return default_policy(policy, &pkt, monitor);
    };
    if !is_allowed(epoch, service, s, &pkt.src) {
        return Decision::drop(service, reason::NOT_ALLOWED, monitor).with_sip_class(sip_class);
    }
    // SIP requests and new SIP-over-TCP connections: a token bucket per (source, class),
    // and for UDP requests the scanner fingerprints; trusted sources are exempt from both.
    let syn = pkt.l4.is_syn();
    let rate = if syn {
        Some(rate_class::SYN)
    } else if pkt.l4.is_icmp(IcmpClass::EchoRequest) {
        Some(rate_class::ECHO)
    } else {
        rate_class_of(sip_class)
    };
    if let Some(class) = rate {
        let verdict = check_source(ctx, epoch, policy, s, &pkt.src, class, payload);
        if !matches!(verdict, SourceVerdict::Ok) {
            if policy.flags & POLICY_HAS_TRUSTED != 0 && is_trusted(epoch, &pkt.src) {
                return Decision::pass(service, reason::TRUSTED).with_sip_class(sip_class);
            }
            let why = match verdict {
                SourceVerdict::Scanner { fresh } => {
                    if fresh && !monitor && policy.scanner_ban_s != 0 {
                        ban_scanner(policy, &pkt.src);
                    }
                    reason::SCANNER
                }
                SourceVerdict::Attempts => {
                    if !monitor {
                        ban_source(
                            policy,
                            &pkt.src,
                            policy.autoban_ban_s,
                            BAN_REASON_AUTH_ATTEMPTS,
                            policy.autoban_scope,
                            policy.autoban_attempts + 1,
                        );
                    }
                    reason::BANNED
                }
                _ => reason::RATE_LIMITED,
            };
            return Decision::drop(service, why, monitor).with_sip_class(sip_class);
        }
    }
    // All sources together: a SYN flood from many addresses, each under its own limit.
    if syn && !within_budget(service, s) {
        if policy.flags & POLICY_HAS_TRUSTED != 0 && is_trusted(epoch, &pkt.src) {
            return Decision::pass(service, reason::TRUSTED);
        }
        return Decision::drop(service, reason::FLOOD, monitor);
    }
    Decision::pass(service, reason::ALLOWED).with_sip_class(sip_class)
}

/// (transport, destination port) or ICMP echo request -> service id (0: none).
#[inline(always)]
fn service_of(epoch: u32, policy: &Policy, pkt: &Packet) -> u32 {
    let l4 = &pkt.l4;
    let service = match l4.proto {
        Proto::Udp => port_service(port_index(epoch, PROTO_SLOT_UDP, l4.dport)),
        Proto::Tcp => port_service(port_index(epoch, PROTO_SLOT_TCP, l4.dport)),
        Proto::Icmp if l4.icmp == IcmpClass::EchoRequest => policy.icmp_echo_service,
        _ => SERVICE_NONE,
    };
    if service < MAX_SERVICES {
        service
    } else {
        SERVICE_NONE
    }
}

#[inline(always)]
fn port_service(index: u32) -> u32 {
    match PORT_SERVICE.get(index) {
        Some(s) => *s,
        None => SERVICE_NONE,
    }
}

/// Traffic to no service. Under default drop, return traffic of the host's own sockets
/// (TCP segments with ACK, UDP to the local ephemeral range) still passes: a stateless filter
/// must not cut the host off from DNS, updates and its trunks' answers.
#[inline(always)]
fn default_policy(policy: &Policy, pkt: &Packet, monitor: bool) -> Decision {
    if policy.flags & POLICY_DEFAULT_DROP == 0 {
        return Decision::pass(SERVICE_NONE, reason::DEFAULT);
    }
    let l4 = &pkt.l4;
    let reply = match l4.proto {
        Proto::Tcp => l4.flags & TCP_ACK != 0,
        Proto::Udp => {
            policy.reply_port_lo != 0
                && l4.dport >= policy.reply_port_lo
                && l4.dport <= policy.reply_port_hi
        }
        _ => false,
    };
    if reply {
        Decision::pass(SERVICE_NONE, reason::REPLY)
    } else {
        Decision::drop(SERVICE_NONE, reason::DEFAULT, monitor)
    }
}

#[inline(always)]
fn bans_present() -> bool {
    matches!(STATE.get(STATE_BANS_PRESENT), Some(&flag) if flag != 0)
}

/// A ban matches when its prefix covers the source, it has not expired, and its scope covers
/// the packet (all traffic, or SIP services only). Expired bans are ignored here and removed by
/// the daemon; expiry needs no daemon.
#[inline(always)]
fn is_banned(src: &Src, sip_service: bool) -> bool {
    let ban = match src {
        Src::V4(a) => BANS_V4.get(Key::new(32, *a)),
        Src::V6(a) => BANS_V6.get(Key::new(128, *a)),
    };
    let Some(ban) = ban else {
        return false;
    };
    if ban.scope == BAN_SCOPE_SIP && !sip_service {
        return false;
    }
    if ban.expires_ns != 0 {
        let now = crate::clock::now();
        if now >= ban.expires_ns {
            return false;
        }
    }
    // The bpfel target has no atomic read-modify-write in core, so this is a plain add: two
    // CPUs hitting the same ban at once may lose one count of this display-only counter.
    // aya-ebpf 0.2's LpmTrie only hands out `&V`; the value is kernel map memory, writable by
    // the program, so take its address as a raw pointer.
    // Safety: the value lives in the map while the program runs.
    let ban = core::ptr::from_ref(ban) as usize as *mut Ban;
    unsafe { (*ban).hits += 1 };
    true
}

#[inline(always)]
fn is_denied(epoch: u32, policy: &Policy, src: &Src) -> bool {
    let scope = epoch_scope(epoch);
    match src {
        Src::V4(addr) => {
            policy.flags & POLICY_HAS_DENY_V4 != 0
                && DENY_V4
                    .get(Key::new(SCOPE_BITS + 32, ScopedV4 { scope, addr: *addr }))
                    .is_some()
        }
        Src::V6(addr) => {
            policy.flags & POLICY_HAS_DENY_V6 != 0
                && DENY_V6
                    .get(Key::new(SCOPE_BITS + 128, ScopedV6 { scope, addr: *addr }))
                    .is_some()
        }
    }
}

#[inline(always)]
fn is_allowed(epoch: u32, service: u32, s: &ServicePolicy, src: &Src) -> bool {
    let scope = allow_scope(epoch, service);
    match src {
        Src::V4(addr) => {
            s.flags & SERVICE_ALLOW_ANY_V4 != 0
                || ALLOW_V4
                    .get(Key::new(SCOPE_BITS + 32, ScopedV4 { scope, addr: *addr }))
                    .is_some()
        }
        Src::V6(addr) => {
            s.flags & SERVICE_ALLOW_ANY_V6 != 0
                || ALLOW_V6
                    .get(Key::new(SCOPE_BITS + 128, ScopedV6 { scope, addr: *addr }))
                    .is_some()
        }
    }
}

/// The UDP payload to read for a User-Agent, if `readable` (and for credentials: see
/// [`attempts_verdict`]).
///
/// `readable` is its own flag: the verifier tracks the offsets exactly on each parse path,
/// and a branch on them (`end != 0`) would make it keep every path apart from there on.
#[derive(Clone, Copy)]
struct Payload {
    readable: bool,
    start: usize,
    end: usize,
}

impl Payload {
    #[inline(always)]
    fn readable(&self) -> bool {
        self.readable
    }
}

enum SourceVerdict {
    Ok,
    RateLimited,
    /// `fresh`: this packet was read and matched (not a remembered verdict).
    Scanner {
        fresh: bool,
    },
    /// A REGISTER/INVITE with credentials, one past the source's unanswered attempts: the
    /// caller bans the source (see [`attempts`]) and drops the request as `banned`.
    Attempts,
}

/// One LRU entry per (source, class) holds both the rate state and the remembered scanner
/// verdict.
///
/// Rate: GCRA; a request conforms when its source's theoretical arrival time is at most
/// `burst - 1` intervals ahead of now, and a conforming request moves it one interval on.
/// Updated in place (two CPUs racing on one source may let one extra request through; the
/// bucket stays bounded).
///
/// Scanner: `payload` is the UDP payload when the policy has patterns. A source remembered as
/// a scanner is dropped before its bucket is touched; otherwise a conforming request is read
/// when the remembered verdict is older than the policy's recheck interval. Requests over the
/// rate are dropped unread: the cheap verdict first.
#[inline(always)]
fn check_source(
    ctx: &XdpContext,
    epoch: u32,
    policy: &Policy,
    s: &ServicePolicy,
    src: &Src,
    class: u32,
    payload: Payload,
) -> SourceVerdict {
    match rate_and_fingerprint(ctx, epoch, policy, s, src, class, payload) {
        SourceVerdict::Ok => attempts_verdict(ctx, policy, src, class, payload),
        other => other,
    }
}

/// The rate and the User-Agent of [`check_source`].
#[inline(always)]
fn rate_and_fingerprint(
    ctx: &XdpContext,
    epoch: u32,
    policy: &Policy,
    s: &ServicePolicy,
    src: &Src,
    class: u32,
    payload: Payload,
) -> SourceVerdict {
    let (interval, burst) = match (
        s.rate_interval_ns.get(class as usize),
        s.rate_burst.get(class as usize),
    ) {
        (Some(&interval), Some(&burst)) => (interval as u64, burst.max(1) as u64),
        _ => (0, 1),
    };
    if interval == 0 && !payload.readable() {
        return SourceVerdict::Ok;
    }
    let key = RateKey {
        addr: rate_source(policy, src),
        class,
    };
    let now = crate::clock::now();
    let recheck = policy.scanner_recheck_ms as u64 * 1_000_000;
    let Some(state) = RATES.get_ptr_mut(&key) else {
        let scanner = payload.readable() && ua::is_scanner(ctx, epoch, payload.start, payload.end);
        let state = SourceState {
            tat: if interval == 0 { 0 } else { now + interval },
            ua_until: if payload.readable() { now + recheck } else { 0 },
            ua_scanner: scanner as u32,
            _pad: 0,
        };
        // A full LRU evicts its least recently used source: state, never policy.
        let _ = RATES.insert(&key, &state, 0);
        return if scanner {
            SourceVerdict::Scanner { fresh: true }
        } else {
            SourceVerdict::Ok
        };
    };
    // Safety: the value lives in the map while the program runs.
    let state = unsafe { &mut *state };
    let remembered = now < state.ua_until;
    if payload.readable() && remembered && state.ua_scanner != 0 {
        return SourceVerdict::Scanner { fresh: false };
    }
    if interval != 0 {
        let tolerance = interval * (burst - 1);
        if state.tat > now + tolerance {
            return SourceVerdict::RateLimited;
        }
        state.tat = if state.tat > now { state.tat } else { now } + interval;
    }
    if payload.readable() && !remembered {
        {
            let scanner = ua::is_scanner(ctx, epoch, payload.start, payload.end);
            state.ua_scanner = scanner as u32;
            state.ua_until = now + recheck;
            if scanner {
                return SourceVerdict::Scanner { fresh: true };
            }
        }
    }
    SourceVerdict::Ok
}

/// A request within its rate: one more unanswered attempt if it carries credentials.
#[inline(always)]
fn attempts_verdict(
    ctx: &XdpContext,
    policy: &Policy,
    src: &Src,
    class: u32,
    payload: Payload,
) -> SourceVerdict {
    // REGISTER and INVITE classes only come from UDP to a SIP service: the payload is set.
    if policy.flags & POLICY_AUTOBAN != 0
        && policy.autoban_attempts != 0
        && (class == rate_class::REGISTER || class == rate_class::INVITE)
        && attempts::over_limit(ctx, policy, src, payload.start, payload.end)
    {
        SourceVerdict::Attempts
    } else {
        SourceVerdict::Ok
    }
}

/// GCRA over the service's SYN budget (one state per service slot, shared by every CPU; two
/// CPUs racing may let one extra SYN through, the budget stays bounded).
#[inline(always)]
fn within_budget(service: u32, s: &ServicePolicy) -> bool {
    let interval = s.syn_budget_interval_ns as u64;
    if interval == 0 {
        return true;
    }
    let Some(tat) = SYN_BUDGET.get_ptr_mut(service) else {
        return true;
    };
    let now = crate::clock::now();
    // Safety: map memory for this program run.
    let tat = unsafe { &mut *tat };
    let tolerance = interval * (s.syn_budget_burst.max(1) as u64 - 1);
    if *tat > now + tolerance {
        return false;
    }
    *tat = if *tat > now { *tat } else { now } + interval;
    true
}

/// Bans a source caught with a scanner User-Agent for the policy's scanner ban time.
#[inline(always)]
fn ban_scanner(policy: &Policy, src: &Src) {
    ban_source(
        policy,
        src,
        policy.scanner_ban_s,
        BAN_REASON_SCANNER,
        BAN_SCOPE_ALL,
        0,
    );
}

/// Bans `src` for `seconds`: IPv4 /32, IPv6 the rate prefix (the attacker's /64 by default),
/// unless a ban in force already covers it. Overwrites an expired entry with the same prefix
/// (the daemon may not have reaped it yet). Counts the ban per reason and tells the daemon
/// through the ring buffer; a full ban map or ring buffer loses only the ban or its log line.
#[inline(always)]
pub(crate) fn ban_source(
    policy: &Policy,
    src: &Src,
    seconds: u32,
    reason: u32,
    scope: u32,
    count: u32,
) {
    let (hi, lo, prefix) = source_words(policy, src);
    let family = if matches!(src, Src::V4(_)) { 4 } else { 6 };
    // BPF calls take five arguments: the small ones go two to a word.
    sipguard_ban_source(
        hi,
        lo,
        prefix | family << 8,
        seconds as u64 | (reason as u64) << 32,
        scope as u64 | (count as u64) << 32,
    );
}

/// A source as two words for a global function (the bytes of [`rate_source`]'s key before
/// the cut, little-endian) and the prefix to cut it to: 128 for IPv4 as ::ffff:a.b.c.d, the
/// policy's rate prefix for IPv6. Words, not a key on the stack: the caller's stack plus its
/// deepest callee's must stay within 512 bytes.
#[inline(always)]
pub(crate) fn source_words(policy: &Policy, src: &Src) -> (u64, u64, u64) {
    match src {
        Src::V4(a) => (0, 0xffff_0000 | (u32::from_le_bytes(*a) as u64) << 32, 128),
        Src::V6(a) => {
            let mut hi = [0u8; 8];
            let mut lo = [0u8; 8];
            hi.copy_from_slice(&a[..8]);
            lo.copy_from_slice(&a[8..]);
            (
                u64::from_le_bytes(hi),
                u64::from_le_bytes(lo),
                policy.rate_v6_prefix.min(128) as u64,
            )
        }
    }
}

/// The key of [`source_words`]: the 16 bytes cut to `prefix` bits.
#[inline(always)]
pub(crate) fn source_key(hi: u64, lo: u64, prefix: u64) -> [u8; 16] {
    let (mut h, mut l) = (u64::from_be(hi), u64::from_be(lo));
    if prefix < 128 {
        if prefix >= 64 {
            l &= !(u64::MAX >> (prefix - 64));
        } else {
            l = 0;
            h &= !(u64::MAX >> prefix);
        }
    }
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&h.to_be().to_le_bytes());
    key[8..].copy_from_slice(&l.to_be().to_le_bytes());
    key
}

/// [`ban_source`] as a global BPF function, shared by the XDP and egress programs: the ban,
/// its event and their keys stay off the callers' stacks (the verifier adds a caller's stack
/// to its deepest callee's, 512 bytes in all). `hi`, `lo`, `prefix_family`: the source as
/// [`source_words`] gives it | 4 or 6 << 8; `seconds_reason`: seconds | reason << 32; `scope_count`:
/// scope | failures counted << 32.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_ban_source(
    hi: u64,
    lo: u64,
    prefix_family: u64,
    seconds_reason: u64,
    scope_count: u64,
) -> u64 {
    let prefix = (prefix_family & 0xff).clamp(1, 128);
    let family = (prefix_family >> 8) as u8;
    let key = source_key(hi, lo, prefix);
    let prefix = prefix as u32;
    let seconds = (seconds_reason & 0xffff_ffff) as u32;
    let reason = (seconds_reason >> 32) as u32;
    let scope = (scope_count & 0xffff_ffff) as u32;
    let count = (scope_count >> 32) as u32;
    let now = crate::clock::now();
    let ban = Ban {
        expires_ns: now + seconds as u64 * 1_000_000_000,
        created_ns: now,
        hits: 0,
        reason,
        scope,
    };
    // A source already under a ban that covers it keeps that ban: the egress program and the
    // XDP program may both catch one guesser, and the first verdict stands (its reason, its
    // expiry, one event).
    let active = |b: Option<&Ban>| matches!(b, Some(b) if b.expires_ns == 0 || now < b.expires_ns);
    let inserted = if family == 4 {
        let mut a = [0u8; 4];
        a.copy_from_slice(&key[12..]);
        if active(BANS_V4.get(Key::new(32, a))) {
            return 0;
        }
        BANS_V4.insert(&Key::new(32, a), &ban, 0).is_ok()
    } else {
        if active(BANS_V6.get(Key::new(128, key))) {
            return 0;
        }
        BANS_V6
            .insert(&Key::new(prefix.clamp(1, 128), key), &ban, 0)
            .is_ok()
    };
    if !inserted {
        return 0;
    }
    if let Some(flag) = STATE.get_ptr_mut(STATE_BANS_PRESENT) {
        // Safety: map memory.
        unsafe { *flag = 1 };
    }
    if let Some(n) = BAN_COUNTERS.get_ptr_mut(reason) {
        // Safety: per-CPU map memory.
        unsafe { *n += 1 };
    }
    let mut addr = key;
    if family == 4 {
        addr = [0; 16];
        addr[..4].copy_from_slice(&key[12..]);
    }
    let event = Event {
        kind: EVENT_BAN,
        reason,
        family,
        prefix_len: if family == 4 { 32 } else { prefix as u8 },
        count,
        addr,
        ban_s: seconds,
        ..Event::default()
    };
    let _ = EVENTS.output::<Event>(&event, 0);
    1
}

/// The rate-limited identity of a source: IPv4 as ::ffff:a.b.c.d, IPv6 cut to the policy's
/// prefix so that one /64 is one source.
#[inline(always)]
pub(crate) fn rate_source(policy: &Policy, src: &Src) -> [u8; 16] {
    let (hi, lo, prefix) = source_words(policy, src);
    source_key(hi, lo, prefix)
}

#[inline(always)]
pub(crate) fn is_trusted(epoch: u32, src: &Src) -> bool {
    let scope = epoch_scope(epoch);
    match src {
        Src::V4(addr) => TRUSTED_V4
            .get(Key::new(SCOPE_BITS + 32, ScopedV4 { scope, addr: *addr }))
            .is_some(),
        Src::V6(addr) => TRUSTED_V6
            .get(Key::new(SCOPE_BITS + 128, ScopedV6 { scope, addr: *addr }))
            .is_some(),
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
