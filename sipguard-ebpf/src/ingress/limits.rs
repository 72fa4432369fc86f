//! The per-source and per-service limits of an allowed packet: a token bucket (GCRA) per
//! (source, rate class) for SIP requests, new TCP connections and echo requests; the scanner
//! User-Agent check and the credential-attempt count of SIP requests within their rate; and
//! each service's SYN budget for all sources together. Trusted sources pass every limit as
//! `trusted`.

use aya_ebpf::programs::XdpContext;
use sipguard_common::{
    rate_class, rate_class_of, reason, IcmpClass, Policy, RateKey, ServicePolicy, SourceState,
    BAN_REASON_AUTH_ATTEMPTS, BAN_SCOPE_SIP, POLICY_AUTOBAN, POLICY_HAS_TRUSTED,
};

use super::{
    attempts,
    decision::Decision,
    target::{Payload, Target},
};
use crate::{
    ban, clock, learned,
    maps::{RATES, SYN_BUDGET},
    parse::{Packet, Src},
    source, ua,
};

/// Step: SIP requests, new connections and echo requests over their source's limits: a
/// remembered scanner or a scanner User-Agent -> drop `scanner` (and a ban if the policy
/// says so); over the rate -> drop `rate_limited`; one credential attempt past the auto-ban
/// threshold -> ban and drop `banned`. A trusted source passes as `trusted` instead.
#[inline(always)]
pub(crate) fn per_source(
    ctx: &XdpContext,
    epoch: u32,
    policy: &Policy,
    s: &ServicePolicy,
    pkt: &Packet,
    t: &Target,
) -> Option<Decision> {
    let class = if pkt.l4.is_syn() {
        rate_class::SYN
    } else if pkt.l4.is_icmp(IcmpClass::EchoRequest) {
        rate_class::ECHO
    } else {
        rate_class_of(t.sip_class)?
    };
    let verdict = check_source(ctx, epoch, policy, s, &pkt.src, class, t.payload);
    if matches!(verdict, SourceVerdict::Ok) {
        return None;
    }
    if policy.flags & POLICY_HAS_TRUSTED != 0 && source::is_trusted(epoch, &pkt.src) {
        return Some(Decision::pass(t.service, reason::TRUSTED).with_sip_class(t.sip_class));
    }
    let why = match verdict {
        SourceVerdict::Scanner { fresh } => {
            if fresh && !t.monitor && policy.scanner_ban_s != 0 {
                ban::ban_scanner(policy, &pkt.src);
            }
            reason::SCANNER
        }
        SourceVerdict::Attempts => {
            // Requests with credentials prove nothing about their source (a forger writes
            // them as easily, UDP or a blind TCP segment): a ban from SIP at most.
            // A source the PBX accepted lately is not banned on them: its request is over
            // its budget of unanswered ones, and dropped as such.
            let spared = !t.monitor
                && ban::ban_source(
                    policy,
                    &pkt.src,
                    policy.autoban_ban_s,
                    BAN_REASON_AUTH_ATTEMPTS,
                    BAN_SCOPE_SIP,
                    policy.autoban_attempts + 1,
                    false,
                ) == ban::SPARED;
            if spared {
                reason::RATE_LIMITED
            } else {
                reason::BANNED
            }
        }
        _ => reason::RATE_LIMITED,
    };
    Some(Decision::drop(t.service, why, t.monitor).with_sip_class(t.sip_class))
}

/// Step: a new TCP connection over the service's SYN budget for all sources together ->
/// drop `flood` (a trusted source passes as `trusted`).
#[inline(always)]
pub(crate) fn syn_budget(
    epoch: u32,
    policy: &Policy,
    s: &ServicePolicy,
    pkt: &Packet,
    t: &Target,
) -> Option<Decision> {
    if !pkt.l4.is_syn() || within_budget(t.service, s) {
        return None;
    }
    if policy.flags & POLICY_HAS_TRUSTED != 0 && source::is_trusted(epoch, &pkt.src) {
        return Some(Decision::pass(t.service, reason::TRUSTED));
    }
    Some(Decision::drop(t.service, reason::FLOOD, t.monitor))
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
        addr: source::rate_key(policy, src),
        class,
    };
    let now = clock::now();
    let recheck = policy.scanner_recheck_ms as u64 * 1_000_000;
    let Some(state) = RATES.get_ptr_mut(&key) else {
        // A new source's first segment with more requests than the burst: over its rate.
        if interval != 0 && payload.requests > burst {
            let state = SourceState {
                tat: now,
                ua_until: 0,
                ua_scanner: 0,
                _pad: 0,
            };
            let _ = RATES.insert(&key, &state, 0);
            return SourceVerdict::RateLimited;
        }
        let scanner = payload.readable() && ua::is_scanner(ctx, epoch, payload.start, payload.end);
        let state = SourceState {
            tat: if interval == 0 {
                0
            } else {
                now + interval * payload.requests
            },
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
    // SAFETY: the value lives in the map while the program runs.
    let state = unsafe { &mut *state };
    let mut remembered = now < state.ua_until;
    if payload.readable() && remembered && state.ua_scanner != 0 {
        // A forger can make any address look like a scanner for one packet: a source the PBX
        // accepted lately has each request read on its own instead.
        if !learned::accepted_source(policy, src) {
            return SourceVerdict::Scanner { fresh: false };
        }
        remembered = false;
    }
    if interval != 0 {
        // A TCP segment of n requests conforms when all n do (then costs n intervals), and
        // is dropped whole otherwise: TCP sends it again later.
        let tolerance = interval * (burst - 1);
        let extra = interval * (payload.requests - 1);
        if state.tat + extra > now + tolerance {
            return SourceVerdict::RateLimited;
        }
        state.tat = if state.tat > now { state.tat } else { now } + interval * payload.requests;
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
    // REGISTER and INVITE classes only come from UDP or TCP data to a SIP service: the
    // payload is set.
    if policy.flags & POLICY_AUTOBAN != 0
        && (class == rate_class::REGISTER || class == rate_class::INVITE)
        && attempts::over_limit(ctx, policy, src, &payload)
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
    let now = clock::now();
    // SAFETY: map memory for this program run.
    let tat = unsafe { &mut *tat };
    let tolerance = interval * (s.syn_budget_burst.max(1) as u64 - 1);
    if *tat > now + tolerance {
        return false;
    }
    *tat = if *tat > now { *tat } else { now } + interval;
    true
}
