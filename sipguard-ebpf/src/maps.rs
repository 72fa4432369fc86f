//! Every map of the programs, in one place, grouped by role, and the accessors every program
//! needs (the active epoch and its policy, whether any ban exists).
//!
//! A map is named after its static (`#[map]` takes the identifier); each identifier is spelled
//! as its constant in [`sipguard_common::map_names`], and the daemon's object test checks the
//! built object against that list, the key and value sizes and the map types. The pinned maps'
//! key and value types are all in `sipguard-common`; only the per-CPU scratch values (never
//! pinned, never seen by the daemon) are declared here.
//!
//! - policy, per epoch: written by the daemon into the inactive epoch, read by the programs;
//! - runtime state: not per epoch, kept across reloads and restarts;
//! - counters and events: written by the programs, read by the daemon;
//! - scratch: per-CPU memory of one program run, to keep large values off the 512-byte stack.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use sipguard_common::{
    ua::{Scanners, PATTERN_MAX},
    AuthFailures, AutoBanSlot, Ban, BanNoteKey, Counter, FragKey, FragVerdict, NonceOwner, Policy,
    RateKey, ScopedV4, ScopedV6, ServicePolicy, SourceState, UserFailures, UserKey,
    ALLOW_MAX_ENTRIES, AUTH_FAILS_MAX_ENTRIES, AUTO_BANS_MAX_ENTRIES, AUTO_BAN_ROOM,
    BAN_COUNTER_ENTRIES, BAN_MAX_ENTRIES, BAN_NOTE_LEN, COUNTER_ENTRIES, DENY_MAX_ENTRIES,
    DEST_MAX_ENTRIES, EPOCHS, EVENTS_BYTES, FRAG_MAX_ENTRIES, LEARNED_MAX_ENTRIES, MAX_SERVICES,
    NONCES_MAX_ENTRIES, PORT_MAP_ENTRIES, RATE_MAX_ENTRIES, SERVICE_NAME_LEN, SIP_COUNTER_ENTRIES,
    STATE_ACTIVE_EPOCH, STATE_AUTO_BAN_HEAD, STATE_BANS_PRESENT, STATE_ENTRIES,
    TRUSTED_MAX_ENTRIES, USER_FAILS_MAX_ENTRIES,
};

// ---- Policy, per epoch ----------------------------------------------------------------

/// The global settings of each epoch.
#[map]
pub(crate) static POLICY: Array<Policy> = Array::pinned(EPOCHS, 0);
/// Each epoch's services, by `service_index`.
#[map]
pub(crate) static SERVICES: Array<ServicePolicy> = Array::pinned(EPOCHS * MAX_SERVICES, 0);
/// Written by the daemon for `sipguard status` and metrics; the programs never read it.
#[map]
pub(crate) static SERVICE_NAMES: Array<[u8; SERVICE_NAME_LEN]> =
    Array::pinned(EPOCHS * MAX_SERVICES, 0);
/// (epoch, transport, destination port) -> service slot, by `port_index`.
#[map]
pub(crate) static PORT_SERVICE: Array<u32> = Array::pinned(PORT_MAP_ENTRIES, 0);
/// Allow lists of every service of both epochs, scoped by `allow_scope`.
#[map]
pub(crate) static ALLOW_V4: LpmTrie<ScopedV4, u32> = LpmTrie::pinned(ALLOW_MAX_ENTRIES, 0);
#[map]
pub(crate) static ALLOW_V6: LpmTrie<ScopedV6, u32> = LpmTrie::pinned(ALLOW_MAX_ENTRIES, 0);
/// The global deny list of both epochs, scoped by `epoch_scope`.
#[map]
pub(crate) static DENY_V4: LpmTrie<ScopedV4, u32> = LpmTrie::pinned(DENY_MAX_ENTRIES, 0);
#[map]
pub(crate) static DENY_V6: LpmTrie<ScopedV6, u32> = LpmTrie::pinned(DENY_MAX_ENTRIES, 0);
/// SIP sources exempt from rate limits (trunks, the office), per epoch.
#[map]
pub(crate) static TRUSTED_V4: LpmTrie<ScopedV4, u32> = LpmTrie::pinned(TRUSTED_MAX_ENTRIES, 0);
#[map]
pub(crate) static TRUSTED_V6: LpmTrie<ScopedV6, u32> = LpmTrie::pinned(TRUSTED_MAX_ENTRIES, 0);
/// The protected hosts and the services' destinations of both epochs, scoped by
/// `dest_scope` (`dest`): a service slot, or 1 for a protected host.
#[map]
pub(crate) static DESTS_V4: LpmTrie<ScopedV4, u32> = LpmTrie::pinned(DEST_MAX_ENTRIES, 0);
#[map]
pub(crate) static DESTS_V6: LpmTrie<ScopedV6, u32> = LpmTrie::pinned(DEST_MAX_ENTRIES, 0);
/// The scanner User-Agent patterns of each epoch.
#[map]
pub(crate) static SCANNERS: Array<Scanners> = Array::pinned(EPOCHS, 0);

// ---- Runtime state ---------------------------------------------------------------------

/// The active epoch, the layout version and the "bans may exist" flag (`STATE_*`).
#[map]
pub(crate) static STATE: Array<u32> = Array::pinned(STATE_ENTRIES, 0);
/// Bans by source prefix: the admin's, from logs and from the fleet (the daemon writes them).
#[map]
pub(crate) static BANS_V4: LpmTrie<[u8; 4], Ban> = LpmTrie::pinned(BAN_MAX_ENTRIES, 0);
#[map]
pub(crate) static BANS_V6: LpmTrie<[u8; 16], Ban> = LpmTrie::pinned(BAN_MAX_ENTRIES, 0);
/// The programs' own bans, in their own room (`ban`): IPv4 /32s, IPv6 rate prefixes.
#[map]
pub(crate) static AUTO_BANS_V4: LpmTrie<[u8; 4], Ban> = LpmTrie::pinned(AUTO_BANS_MAX_ENTRIES, 0);
#[map]
pub(crate) static AUTO_BANS_V6: LpmTrie<[u8; 16], Ban> = LpmTrie::pinned(AUTO_BANS_MAX_ENTRIES, 0);
/// Which ban holds each slot of the programs' room, oldest next (`STATE_AUTO_BAN_HEAD`).
#[map]
pub(crate) static AUTO_BAN_RING: Array<AutoBanSlot> = Array::pinned(AUTO_BAN_ROOM, 0);
/// The admin's text per ban (`sipguard ban --reason`); the programs never read it.
#[map]
pub(crate) static BAN_NOTES: HashMap<BanNoteKey, [u8; BAN_NOTE_LEN]> =
    HashMap::pinned(BAN_MAX_ENTRIES, 0);
/// Per (source, rate class): GCRA state and the remembered scanner verdict.
#[map]
pub(crate) static RATES: LruHashMap<RateKey, SourceState> = LruHashMap::pinned(RATE_MAX_ENTRIES, 0);
/// Failures per client (IPv4 as ::ffff:a.b.c.d, IPv6 cut to the rate prefix), and the
/// requests with credentials the XDP program saw from it (`ingress::attempts`).
#[map]
pub(crate) static AUTH_FAILS: LruHashMap<[u8; 16], AuthFailures> =
    LruHashMap::pinned(AUTH_FAILS_MAX_ENTRIES, 0);
/// Failures per (client, SIP user) (`users`): one user's run, and whether it is counted
/// among its client's `AuthFailures::users`.
#[map]
pub(crate) static USER_FAILS: LruHashMap<UserKey, UserFailures> =
    LruHashMap::pinned(USER_FAILS_MAX_ENTRIES, 0);
/// Sources the PBX recently accepted (same key as `AUTH_FAILS`), with the time their trust
/// ends on the programs' clock (`learned`).
#[map]
pub(crate) static LEARNED: LruHashMap<[u8; 16], u64> = LruHashMap::pinned(LEARNED_MAX_ENTRIES, 0);
/// Challenge nonces by hash, with the address the PBX sent each to (`nonce`).
#[map]
pub(crate) static NONCES: LruHashMap<u64, NonceOwner> = LruHashMap::pinned(NONCES_MAX_ENTRIES, 0);
/// GCRA state of each service's SYN budget, by service slot.
#[map]
pub(crate) static SYN_BUDGET: Array<u64> = Array::pinned(MAX_SERVICES, 0);
/// First-fragment verdicts by (source, identification).
#[map]
pub(crate) static FRAGS: LruHashMap<FragKey, FragVerdict> = LruHashMap::pinned(FRAG_MAX_ENTRIES, 0);

// ---- Counters and events ---------------------------------------------------------------

/// Packets and bytes by (service, reason, verdict), per CPU.
#[map]
pub(crate) static COUNTERS: PerCpuArray<Counter> = PerCpuArray::pinned(COUNTER_ENTRIES, 0);
/// SIP services only: packets by (service, SIP class, verdict).
#[map]
pub(crate) static SIP_COUNTERS: PerCpuArray<Counter> = PerCpuArray::pinned(SIP_COUNTER_ENTRIES, 0);
/// Bans the programs made, per CPU, by `BAN_REASON_*`.
#[map]
pub(crate) static BAN_COUNTERS: PerCpuArray<u64> = PerCpuArray::pinned(BAN_COUNTER_ENTRIES, 0);
/// Events for the daemon's log: the programs' bans and the drop samples.
#[map]
pub(crate) static EVENTS: RingBuf = RingBuf::pinned(EVENTS_BYTES, 0);

// ---- Scratch, per CPU, one program run ---------------------------------------------------

/// What parsing learnt of the current packet's fragment (`ingress::frag`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct FragNote {
    /// 0: the current packet is not a fragment; else `frag::FRAGMENT` | flags | its
    /// identification in the low 32 bits.
    pub(crate) word: u64,
    /// Its source, IPv4 as ::ffff:a.b.c.d.
    pub(crate) addr: [u8; 16],
}

#[map]
pub(crate) static FRAG_SCRATCH: PerCpuArray<FragNote> = PerCpuArray::with_max_entries(1, 0);

/// Words of the User-Agent scratch ([`UA_SCRATCH`]).
pub(crate) const UA_SCRATCH_WORDS: usize = (256 + PATTERN_MAX + 8) / 8 + 1;
/// The value, lower-cased and cut at the end of its line, zero-padded (`ua`).
/// Only the first `SCRATCH_WORDS` are ever written; the rest stay zero. They exist because
/// the verifier can't see that a candidate start is below 64 (LLVM drops the mask that would
/// tell it, knowing better), only below 256: reads up to there must stay inside the value.
#[map]
pub(crate) static UA_SCRATCH: PerCpuArray<[u64; UA_SCRATCH_WORDS]> =
    PerCpuArray::with_max_entries(1, 0);

/// Bytes of a response the egress program searches for its CSeq.
pub(crate) const EGRESS_HEAD_BYTES: usize = 2048;
/// A copy of a response's first [`EGRESS_HEAD_BYTES`], with room for reads past a line start.
#[map]
pub(crate) static EGRESS_SCRATCH: PerCpuArray<[u64; EGRESS_HEAD_BYTES / 8 + 16]> =
    PerCpuArray::with_max_entries(1, 0);

/// The drop samples' budget on one CPU (`sample`).
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct SampleBudget {
    /// Start of the current second, on the programs' clock.
    pub(crate) second_start_ns: u64,
    /// Samples sent in that second.
    pub(crate) sent: u64,
    /// Drops skipped since the last sample.
    pub(crate) skipped: u64,
}

#[map]
pub(crate) static SAMPLES: PerCpuArray<SampleBudget> = PerCpuArray::with_max_entries(1, 0);

// ---- Accessors ---------------------------------------------------------------------------

/// The active epoch and its policy, by reference (read from map memory field by field, not
/// copied); `None` only if the arrays can't be read.
#[inline(always)]
pub(crate) fn active() -> Option<(u32, &'static Policy)> {
    let epoch = *STATE.get(STATE_ACTIVE_EPOCH)? & 1;
    Some((epoch, POLICY.get(epoch)?))
}

/// Whether any ban may exist (`STATE_BANS_PRESENT`): the ban tries are searched only then.
#[inline(always)]
pub(crate) fn bans_present() -> bool {
    matches!(STATE.get(STATE_BANS_PRESENT), Some(&flag) if flag != 0)
}

/// The slot of the programs' ban room to write next (`STATE_AUTO_BAN_HEAD`), moving the
/// head on. A plain read and write: two CPUs banning at once may take one slot, and the ban
/// whose slot is overwritten then stays until it expires (the tries have slack for it).
#[inline(always)]
pub(crate) fn next_auto_ban_slot() -> Option<u32> {
    let head = STATE.get_ptr_mut(STATE_AUTO_BAN_HEAD)?;
    // SAFETY: a pointer into the array's map memory, valid while the program runs.
    let slot = unsafe { *head };
    // SAFETY: as above.
    unsafe { *head = slot.wrapping_add(1) };
    Some(slot % AUTO_BAN_ROOM)
}

/// Tells the ban lookups a ban exists (after inserting it; see `STATE_BANS_PRESENT`).
#[inline(always)]
pub(crate) fn set_bans_present() {
    if let Some(flag) = STATE.get_ptr_mut(STATE_BANS_PRESENT) {
        // SAFETY: a pointer into the array's map memory, valid while the program runs.
        unsafe { *flag = 1 };
    }
}
