//! Challenge nonces (see [`sipguard_common::nonce`]): the egress program records the nonce of
//! each 401/407 the PBX sends, with the address it went to ([`record_challenge`]); the XDP
//! program reads the nonce a request's credentials echo and asks whether the PBX sent it to
//! that address alone ([`bound`]). Hashes, not strings, in an LRU map of
//! [`NONCES_MAX_ENTRIES`](sipguard_common::NONCES_MAX_ENTRIES): eviction only loses proofs.
//!
//! Only the `WWW-Authenticate` and `Proxy-Authenticate` lines of a response are read: the
//! headers the PBX copies from the request (Via, From, To, Call-ID) are the requester's text,
//! and a forger would write `nonce="..."` there to have it recorded under its victim.

use aya_ebpf::{bindings::xdp_md, programs::XdpContext};
use sipguard_common::{
    nonce::{nonce_hash_step, nonce_value_starts, NONCE_HASH_INIT, NONCE_MAX_LEN, NONCE_SCAN},
    source_key,
    ua::{lowest_byte, zero_bytes, CASE_BITS, LF, PROXY_AU},
    NonceOwner, BAN_COUNTER_SHARED_NONCES,
};

use crate::maps::{BAN_COUNTERS, EGRESS_HEAD_BYTES, EGRESS_SCRATCH, NONCES};

/// Bytes of a `WWW-Authenticate`/`Proxy-Authenticate` line searched for its nonce. The PBX
/// writes that line, and puts the nonce near its start (Kamailio and FreeSWITCH after the
/// realm, Asterisk too); a client may order its `Authorization` as it likes
/// ([`NONCE_SCAN`]).
const CHALLENGE_SCAN: usize = 256;
/// The challenge line is looked for in a response's first this many bytes (after the status
/// line and the headers copied from the request; a requester who pads those past it only
/// loses its own proof).
const CHALLENGE_LINE_WITHIN: usize = 1024;

/// [`sipguard_nonce_at`]'s answer when the line has no `nonce="`.
const NO_NONCE: u64 = u64::MAX;

const WWW_AUTH: u64 = u64::from_le_bytes(*b"www-auth");
const ENTICATE: u64 = u64::from_le_bytes(*b"enticate");
const THENTICA: u64 = u64::from_le_bytes(*b"thentica");

/// The request from `hi`, `lo` (its whole address as
/// [`SourceWords`](sipguard_common::SourceWords) gives it) echoes, in the credentials line at
/// `line` of the payload ending at `end`, a nonce the PBX sent to that address and no other.
#[inline(always)]
pub(crate) fn bound(ctx: *mut xdp_md, line: u64, end: u64, hi: u64, lo: u64) -> bool {
    let at = sipguard_nonce_at(ctx, line, end);
    if at == NO_NONCE {
        return false;
    }
    let hash = sipguard_nonce_hash(ctx, at, end);
    if hash == 0 {
        return false;
    }
    match NONCES.get_ptr(&hash) {
        // SAFETY: map memory for this program run.
        Some(owner) => unsafe { (*owner).shared == 0 && (*owner).addr == source_key(hi, lo, 128) },
        None => false,
    }
}

/// Offset of the nonce value in the header line at `line` (payload `[.., end)`): the byte
/// after `nonce="`, within [`NONCE_SCAN`] bytes and before the line feed; or [`NO_NONCE`].
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_nonce_at(ctx: *mut xdp_md, line: u64, end: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let (line, end) = ((line & 0x3fff) as usize, (end & 0x3fff) as usize);
    let mut window = 0u64;
    for i in 0..NONCE_SCAN {
        let at = line + i;
        let Some(b) = byte_at(&ctx, at, end) else {
            break;
        };
        if b == b'\n' {
            break;
        }
        window = window << 8 | b as u64;
        if nonce_value_starts(window) {
            return (at + 1) as u64;
        }
    }
    NO_NONCE
}

/// The hash of the nonce value starting at `at` (payload `[.., end)`), up to its closing
/// quote; 0 when it is empty, longer than [`NONCE_MAX_LEN`] or not closed.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_nonce_hash(ctx: *mut xdp_md, at: u64, end: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let (start, end) = ((at & 0x3fff) as usize, (end & 0x3fff) as usize);
    let mut h = NONCE_HASH_INIT;
    for i in 0..=NONCE_MAX_LEN {
        let Some(b) = byte_at(&ctx, start + i, end) else {
            return 0;
        };
        if b == b'"' {
            return if i == 0 { 0 } else { h | 1 };
        }
        h = nonce_hash_step(h, b);
    }
    0
}

/// The payload byte at `at` (before `end`), read as the low byte of an 8-byte load: a
/// one-byte bounds check is folded by LLVM into a form the verifier refuses. The last 7
/// bytes of the frame read as none: a nonce is followed by at least its closing quote, a
/// line end and the rest of the headers.
#[inline(always)]
fn byte_at(ctx: &XdpContext, at: usize, end: usize) -> Option<u8> {
    if at >= end {
        return None;
    }
    let p = ctx.data() + at;
    if p + 8 > ctx.data_end() {
        return None;
    }
    // SAFETY: bounds checked above.
    Some(unsafe { crate::ua::load(p) } as u8)
}

/// If the response (status `code`) is a challenge (401, 407), records the nonce of it in the
/// egress scratch (`len` bytes copied) as sent to `hi`, `lo` (the client's whole address); a
/// nonce already sent to another address is marked shared, and counted.
#[inline(always)]
pub(crate) fn record_challenge(code: u32, len: usize, hi: u64, lo: u64) {
    sipguard_record_challenge(code as u64 | (len as u64) << 16, hi, lo);
}

/// [`record_challenge`] as a global function (`code_len`: the status | the copied length <<
/// 16): the status test, the key and the value stay out of the egress program.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_record_challenge(code_len: u64, hi: u64, lo: u64) -> u64 {
    let code = code_len & 0xffff;
    if code != 401 && code != 407 {
        return 0;
    }
    let hash = sipguard_challenge_nonce((code_len >> 16) & 0xffff);
    if hash == 0 {
        return 0;
    }
    let addr = source_key(hi, lo, 128);
    if let Some(owner) = NONCES.get_ptr_mut(&hash) {
        // SAFETY: map memory for this program run.
        let owner = unsafe { &mut *owner };
        if owner.addr != addr && owner.shared == 0 {
            owner.shared = 1;
            if let Some(n) = BAN_COUNTERS.get_ptr_mut(BAN_COUNTER_SHARED_NONCES) {
                // SAFETY: per-CPU map memory.
                unsafe { *n += 1 };
            }
            return 1;
        }
        return 0;
    }
    let owner = NonceOwner {
        addr,
        shared: 0,
        _pad: 0,
    };
    let _ = NONCES.insert(&hash, &owner, 0);
    0
}

/// The hash of the nonce in the response's first `WWW-Authenticate` or `Proxy-Authenticate`
/// line (the egress scratch, `len` bytes; the line within [`CHALLENGE_LINE_WITHIN`]), or 0.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_challenge_nonce(len: u64) -> u64 {
    match sipguard_challenge_line(len) {
        NO_LINE => 0,
        line => sipguard_scratch_nonce(line, len),
    }
}

/// [`sipguard_challenge_line`]'s answer when the response has no challenge line.
const NO_LINE: u64 = u64::MAX;

/// Offset in the egress scratch (`len` bytes copied) of the response's first
/// `WWW-Authenticate` or `Proxy-Authenticate` line, within [`CHALLENGE_LINE_WITHIN`], or
/// [`NO_LINE`]. A global BPF function: its line walk is verified once.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_challenge_line(len: u64) -> u64 {
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return NO_LINE;
    };
    let bytes = scratch as *const u8;
    let len = (len as usize).min(EGRESS_HEAD_BYTES);
    for i in 0..CHALLENGE_LINE_WITHIN / 8 {
        if 8 * i + 8 > len {
            break;
        }
        // SAFETY: i < EGRESS_HEAD_BYTES / 8, inside the scratch.
        let mut feeds = zero_bytes(unsafe { (*scratch)[i] } ^ LF);
        for _ in 0..3 {
            if feeds == 0 {
                break;
            }
            let line = (8 * i + lowest_byte(feeds) as usize + 1) & (EGRESS_HEAD_BYTES - 1);
            feeds &= feeds - 1;
            // SAFETY: line < EGRESS_HEAD_BYTES; the scratch has 128 bytes more.
            let (w, next) = unsafe { (read(bytes, line), read(bytes, line + 8)) };
            let first = w as u8;
            if first == b'\r' || first == b'\n' {
                return NO_LINE;
            }
            let (w, next) = (w | CASE_BITS, next | CASE_BITS);
            if (w == WWW_AUTH && next == ENTICATE) || (w == PROXY_AU && next == THENTICA) {
                return line as u64;
            }
        }
    }
    NO_LINE
}

/// The response's challenge line (the egress scratch, `len` bytes copied) says
/// `stale=true` (or `stale="true"`, any case) within [`CHALLENGE_SCAN`] bytes: the nonce the
/// request echoed had expired. Only the PBX writes that line (see the module doc).
#[inline(always)]
pub(crate) fn stale(len: usize) -> bool {
    sipguard_challenge_stale(len as u64) != 0
}

/// [`stale`] as a global BPF function: 1 or 0.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_challenge_stale(len: u64) -> u64 {
    let line = sipguard_challenge_line(len);
    if line == NO_LINE {
        return 0;
    }
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    let bytes = scratch as *const u8;
    let (line, len) = (
        (line as usize) & (EGRESS_HEAD_BYTES - 1),
        (len as usize).min(EGRESS_HEAD_BYTES),
    );
    // Eight bytes at a time (a byte loop cost the verifier a hundred thousand instructions):
    // each `=` before the line's end is a candidate, with `stale` before it and `true` or
    // `"true"` after it (`=` and `"` are unchanged by the case bits).
    for i in 0..CHALLENGE_SCAN / 8 {
        let at = line + 8 * i;
        if at + 8 > len {
            return 0;
        }
        // SAFETY: at + 8 <= len <= EGRESS_HEAD_BYTES.
        let w = unsafe { word(bytes, at) };
        let feeds = zero_bytes(w ^ LF);
        let mut eqs = zero_bytes(w ^ EQUALS);
        if feeds != 0 {
            // Only those before the first line feed.
            eqs &= (feeds & feeds.wrapping_neg()) - 1;
        }
        // A nonce's base64 padding may put two more in the word.
        for _ in 0..3 {
            if eqs == 0 {
                break;
            }
            let eq = at + lowest_byte(eqs) as usize;
            eqs &= eqs - 1;
            if eq < line + 5 || eq + 6 > len {
                continue;
            }
            // SAFETY: eq - 5 >= line and eq + 1 < len; the scratch has 128 bytes past
            // EGRESS_HEAD_BYTES for the rest of each word.
            let (before, after) = unsafe { (word(bytes, eq - 5), word(bytes, eq + 1)) };
            let (before, after) = (before | CASE_BITS, after | CASE_BITS);
            if before & 0xffff_ffff_ffff == STALE_EQ
                && (after & 0xffff_ffff == TRUE || after & 0xff_ffff_ffff == QUOTED_TRUE)
            {
                return 1;
            }
        }
        if feeds != 0 {
            return 0;
        }
    }
    0
}

/// What [`sipguard_challenge_stale`] compares, as little-endian words read lower-cased.
const EQUALS: u64 = 0x3d3d_3d3d_3d3d_3d3d;
const STALE_EQ: u64 = u64::from_le_bytes(*b"stale=\0\0");
const TRUE: u64 = u32::from_le_bytes(*b"true") as u64;
const QUOTED_TRUE: u64 = u64::from_le_bytes(*b"\"true\0\0\0");

/// Eight bytes of the scratch at `at`, masked inside it through memory (see [`scratch_byte`]).
///
/// # Safety
/// `at` must be below EGRESS_HEAD_BYTES (the scratch has 128 bytes more).
#[inline(always)]
unsafe fn word(bytes: *const u8, at: usize) -> u64 {
    // SAFETY: a read of a local.
    let at = unsafe { core::ptr::read_volatile(&at) } & (EGRESS_HEAD_BYTES - 1);
    // SAFETY: the caller's contract, and the mask.
    unsafe { read(bytes, at) }
}

/// [`sipguard_nonce_at`] and [`sipguard_nonce_hash`] in one walk of the egress scratch, from
/// the challenge line at `line` (`len` bytes copied).
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_scratch_nonce(line: u64, len: u64) -> u64 {
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    let bytes = scratch as *const u8;
    let (line, len) = (
        (line as usize) & (EGRESS_HEAD_BYTES - 1),
        (len as usize).min(EGRESS_HEAD_BYTES),
    );
    let mut window = 0u64;
    let mut value = None;
    for i in 0..CHALLENGE_SCAN {
        let at = line + i;
        if at >= len {
            return 0;
        }
        let b = scratch_byte(bytes, at);
        if b == b'\n' {
            return 0;
        }
        window = window << 8 | b as u64;
        if nonce_value_starts(window) {
            value = Some(at + 1);
            break;
        }
    }
    match value {
        Some(start) => sipguard_scratch_nonce_hash(start as u64, len as u64),
        None => 0,
    }
}

/// The hash of the nonce value at `start` of the egress scratch (`len` bytes copied), up to
/// its closing quote, as [`sipguard_nonce_hash`] computes it of a packet. A global function
/// of its own: inlined, its loop was walked again from each of the search's exits.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_scratch_nonce_hash(start: u64, len: u64) -> u64 {
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    let bytes = scratch as *const u8;
    let (start, len) = (
        (start as usize) & (EGRESS_HEAD_BYTES - 1),
        (len as usize).min(EGRESS_HEAD_BYTES),
    );
    let mut h = NONCE_HASH_INIT;
    for i in 0..=NONCE_MAX_LEN {
        let at = start + i;
        if at >= len {
            return 0;
        }
        let b = scratch_byte(bytes, at);
        if b == b'"' {
            return if i == 0 { 0 } else { h | 1 };
        }
        h = nonce_hash_step(h, b);
    }
    0
}

/// The scratch byte at `at`, masked inside the scratch through memory: LLVM drops a mask it
/// can prove idle (the callers check `at` against the copied length) and then adds the
/// offsets in an order the verifier can't bound.
#[inline(always)]
pub(crate) fn scratch_byte(bytes: *const u8, at: usize) -> u8 {
    // SAFETY: a read of a local.
    let at = unsafe { core::ptr::read_volatile(&at) } & (EGRESS_HEAD_BYTES - 1);
    // SAFETY: below EGRESS_HEAD_BYTES, inside the scratch.
    unsafe { *bytes.add(at) }
}

/// Eight bytes of the scratch at any offset.
///
/// # Safety
/// `at + 8` must be inside the scratch.
#[inline(always)]
pub(crate) unsafe fn read(bytes: *const u8, at: usize) -> u64 {
    // SAFETY: the caller keeps `at + 8` inside the scratch (this function's contract).
    unsafe { core::ptr::read_volatile(bytes.add(at) as *const u64) }
}
