//! Bans made by the programs: a scanner User-Agent (XDP), too many credential attempts (XDP)
//! or too many authentication failures (egress). One global BPF function,
//! [`sipguard_ban_source`], writes the ban, counts it and tells the daemon, for both programs.
//! It is also where unproven evidence meets learned trust ([`crate::learned`]): a ban on
//! evidence a forger could have produced is withheld, and counted, when the PBX recently
//! accepted the source.

use aya_ebpf::maps::lpm_trie::Key;
use sipguard_common::{
    packed::BanArgs, source_key, Ban, Event, Policy, BAN_COUNTER_INSERT_FAILED, BAN_COUNTER_SPARED,
    BAN_REASON_SCANNER, BAN_SCOPE_SIP, EVENT_BAN,
};

use crate::{
    clock, learned,
    maps::{self, BANS_V4, BANS_V6, BAN_COUNTERS, EVENTS},
    parse::Src,
    source,
};

/// [`sipguard_ban_source`]'s answer: the ban was written.
pub(crate) const BANNED: u64 = 1;
/// [`sipguard_ban_source`]'s answer: withheld, the evidence unproven and the source accepted
/// recently.
pub(crate) const SPARED: u64 = 2;

/// Bans a source caught with a scanner User-Agent for the policy's scanner ban time, from
/// SIP only: anyone can write that header under any source address (over TCP too: XDP reads
/// a segment before the kernel knows whether its connection exists). Unproven evidence.
#[inline(always)]
pub(crate) fn ban_scanner(policy: &Policy, src: &Src) {
    ban_source(
        policy,
        src,
        policy.scanner_ban_s,
        BAN_REASON_SCANNER,
        BAN_SCOPE_SIP,
        0,
        false,
    );
}

/// Bans `src` for `seconds`: IPv4 /32, IPv6 the rate prefix (the attacker's /64 by default),
/// unless a ban in force already covers it. Overwrites an expired entry with the same prefix
/// (the daemon may not have reaped it yet). Counts the ban per reason and tells the daemon
/// through the ring buffer; a full ban map or ring buffer loses only the ban or its log line.
/// `proven`: the evidence shows the source receives the PBX's answers; without it, a source
/// the PBX accepted recently is not banned ([`SPARED`]). Returns [`sipguard_ban_source`]'s
/// answer.
#[inline(always)]
pub(crate) fn ban_source(
    policy: &Policy,
    src: &Src,
    seconds: u32,
    reason: u32,
    scope: u32,
    count: u32,
    proven: bool,
) -> u64 {
    let words = source::words(policy, src);
    // BPF calls take five arguments: the small ones go two to a word.
    let (prefix_family, seconds_reason, scope_count) = BanArgs {
        prefix: words.prefix,
        family: if matches!(src, Src::V4(_)) { 4 } else { 6 },
        seconds,
        reason,
        scope,
        count,
        proven,
    }
    .pack();
    sipguard_ban_source(
        words.hi,
        words.lo,
        prefix_family,
        seconds_reason,
        scope_count,
    )
}

/// [`ban_source`] as a global BPF function, shared by the XDP and egress programs: the ban, its
/// event and their keys stay off the callers' stacks (the verifier adds a caller's stack to its
/// deepest callee's, 512 bytes in all). `hi`, `lo`: the source as
/// [`SourceWords`](sipguard_common::SourceWords) gives it; the rest: a packed [`BanArgs`].
/// Returns [`BANNED`], [`SPARED`], or 0 (a ban in force already covers the source, or the
/// map is full).
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_ban_source(
    hi: u64,
    lo: u64,
    prefix_family: u64,
    seconds_reason: u64,
    scope_count: u64,
) -> u64 {
    let BanArgs {
        prefix,
        family,
        seconds,
        reason,
        scope,
        count,
        proven,
    } = BanArgs::unpack(prefix_family, seconds_reason, scope_count);
    let key = source_key(hi, lo, prefix);
    if !proven && learned::accepted(&key) {
        if let Some(n) = BAN_COUNTERS.get_ptr_mut(BAN_COUNTER_SPARED) {
            // SAFETY: per-CPU map memory.
            unsafe { *n += 1 };
        }
        return SPARED;
    }
    let prefix = prefix as u32;
    let now = clock::now();
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
        // The map is full (or the kernel out of memory): the ban is lost, and counted.
        if let Some(n) = BAN_COUNTERS.get_ptr_mut(BAN_COUNTER_INSERT_FAILED) {
            // SAFETY: per-CPU map memory.
            unsafe { *n += 1 };
        }
        return 0;
    }
    maps::set_bans_present();
    if let Some(n) = BAN_COUNTERS.get_ptr_mut(reason) {
        // SAFETY: per-CPU map memory.
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
    BANNED
}
