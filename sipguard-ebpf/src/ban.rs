//! Bans made by the programs: a scanner User-Agent (XDP), too many credential attempts (XDP)
//! or too many authentication failures (egress). They live in a room of their own
//! (`AUTO_BANS_V4`/`AUTO_BANS_V6`), apart from the admin's: the most recent
//! [`AUTO_BAN_ROOM`](sipguard_common::AUTO_BAN_ROOM) are kept, and a ban still in force that
//! a newer one pushes out is counted as evicted. One global BPF function,
//! [`sipguard_ban_source`], writes the ban, counts it and tells the daemon, for both programs.
//! It is also where unproven evidence meets learned trust ([`crate::learned`]): a ban on
//! evidence a forger could have produced is withheld, and counted, when the PBX recently
//! accepted the source.

use aya_ebpf::maps::lpm_trie::Key;
use sipguard_common::{
    packed::BanArgs, source_key, AutoBanSlot, Ban, Event, Policy, BAN_COUNTER_EVICTED,
    BAN_COUNTER_INSERT_FAILED, BAN_COUNTER_SPARED, BAN_REASON_SCANNER, BAN_SCOPE_SIP, EVENT_BAN,
};

use crate::{
    clock, learned,
    maps::{
        self, AUTO_BANS_V4, AUTO_BANS_V6, AUTO_BAN_RING, BANS_V4, BANS_V6, BAN_COUNTERS, EVENTS,
    },
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
/// the PBX accepted recently is not banned ([`SPARED`]). Returns [`BANNED`], [`SPARED`] or 0
/// (covered already, or the map full).
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
    let answer = sipguard_ban_source(
        words.hi,
        words.lo,
        prefix_family,
        seconds_reason,
        scope_count,
    );
    if answer <= SPARED {
        return answer;
    }
    // Banned: the ban takes its slot in the programs' room here, in a call of its own made
    // from the caller's frame (nested in `sipguard_ban_source`, the two frames on top of the
    // caller's would pass the verifier's 512 bytes).
    let _ = sipguard_keep_auto_ban(words.hi, words.lo, prefix_family, answer);
    BANNED
}

/// Gives the ban just written for the source (`hi`, `lo`, the prefix and family of a packed
/// [`BanArgs`]) at `created_ns` the next slot of the programs' room (`AUTO_BAN_RING`), after
/// evicting ([`evict`]) the ban that held it: the room keeps the most recent
/// [`AUTO_BAN_ROOM`](sipguard_common::AUTO_BAN_ROOM) bans (the trie has room for a few
/// thousand more, so the insert came first). A global BPF function: the keys of the eviction
/// stay off its callers' stacks.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_keep_auto_ban(
    hi: u64,
    lo: u64,
    prefix_family: u64,
    created_ns: u64,
) -> u64 {
    let BanArgs { prefix, family, .. } = BanArgs::unpack(prefix_family, 0, 0);
    let Some(index) = maps::next_auto_ban_slot() else {
        return 0;
    };
    let Some(slot) = AUTO_BAN_RING.get_ptr_mut(index) else {
        return 0;
    };
    // SAFETY: array map memory for this program run; written in place (no copy on the stack).
    let slot = unsafe { &mut *slot };
    evict(slot, created_ns);
    let key = source_key(hi, lo, prefix);
    if family == 4 {
        slot.addr = [0; 16];
        slot.addr[..4].copy_from_slice(&key[12..]);
        slot.prefix_len = 32;
    } else {
        slot.addr = key;
        slot.prefix_len = prefix as u32;
    }
    slot.created_ns = created_ns;
    slot.family = family as u32;
    // A global function returns a scalar (the verifier's rule); the index, for the record.
    index as u64
}

/// Evicts the ban that holds `slot` of the programs' room, if that very ban (the same
/// `created_ns`: a newer ban on the prefix holds another slot) is still in its trie and in
/// force at `now`, and counts it. An expired one is only removed (the daemon would have).
#[inline(always)]
fn evict(slot: &AutoBanSlot, now: u64) {
    if slot.created_ns == 0 {
        return;
    }
    let mut in_force = false;
    if slot.family == 4 {
        let mut a = [0u8; 4];
        a.copy_from_slice(&slot.addr[..4]);
        let k = Key::new(32, a);
        if let Some(b) = AUTO_BANS_V4.get(&k) {
            if b.created_ns == slot.created_ns {
                in_force = b.expires_ns == 0 || now < b.expires_ns;
                let _ = AUTO_BANS_V4.remove(&k);
            }
        }
    } else {
        let k = Key::new(slot.prefix_len, slot.addr);
        if let Some(b) = AUTO_BANS_V6.get(&k) {
            if b.created_ns == slot.created_ns {
                in_force = b.expires_ns == 0 || now < b.expires_ns;
                let _ = AUTO_BANS_V6.remove(&k);
            }
        }
    }
    if in_force {
        if let Some(n) = BAN_COUNTERS.get_ptr_mut(BAN_COUNTER_EVICTED) {
            // SAFETY: per-CPU map memory.
            unsafe { *n += 1 };
        }
    }
}

/// [`ban_source`] as a global BPF function, shared by the XDP and egress programs: the ban, its
/// event and their keys stay off the callers' stacks (the verifier adds a caller's stack to its
/// deepest callee's, 512 bytes in all). `hi`, `lo`: the source as
/// [`SourceWords`](sipguard_common::SourceWords) gives it; the rest: a packed [`BanArgs`].
/// Returns the new ban's `created_ns` (the clock, past [`SPARED`] nanoseconds after boot),
/// [`SPARED`], or 0 (a ban in force already covers the source, or the map is full).
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
    // expiry, one event). The admin's bans count too.
    let active = |b: Option<&Ban>| matches!(b, Some(b) if b.expires_ns == 0 || now < b.expires_ns);
    let mut a = [0u8; 4];
    a.copy_from_slice(&key[12..]);
    let covered = if family == 4 {
        active(BANS_V4.get(Key::new(32, a))) || active(AUTO_BANS_V4.get(Key::new(32, a)))
    } else {
        active(BANS_V6.get(Key::new(128, key))) || active(AUTO_BANS_V6.get(Key::new(128, key)))
    };
    if covered {
        return 0;
    }
    // The programs' own room ([`sipguard_keep_auto_ban`] gives the ban its slot).
    let inserted = if family == 4 {
        AUTO_BANS_V4.insert(&Key::new(32, a), &ban, 0).is_ok()
    } else {
        AUTO_BANS_V6.insert(&Key::new(prefix, key), &ban, 0).is_ok()
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
    // IPv4 in the first four bytes, built from words: LLVM turns the zeroing of the other
    // twelve into a call to `memset`, a third frame on the callers' stack (5.10 rounds each
    // frame up to 32 bytes: 544 of 512).
    let addr = if family == 4 {
        let v4 = u32::from_le_bytes([key[12], key[13], key[14], key[15]]);
        // SAFETY: two u64s are sixteen bytes, any bit pattern valid.
        unsafe { core::mem::transmute::<[u64; 2], [u8; 16]>([v4 as u64, 0]) }
    } else {
        key
    };
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
    now
}
