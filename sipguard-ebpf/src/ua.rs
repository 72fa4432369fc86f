//! Scanner fingerprints: find the User-Agent header of a SIP request and match its value
//! against the epoch's patterns ([`sipguard_common::ua`] has the table and the word helpers).
//!
//! Cost is linear in the bytes before the header, 8 bytes per step, plus a fixed-size match of
//! the value's first [`WINDOW`] bytes. The caller remembers the verdict per source, so a
//! source's requests are read about once per recheck interval, not every packet.
//!
//! What is matched: every header (up to three) whose name is `User-Agent` in any case, with
//! optional spaces or tabs before the colon and after it, and a value that may start on a
//! folded continuation line (CRLF or a bare LF, then a blank). The search stops at the blank line that ends the headers, after
//! [`SCAN_LIMIT`] bytes, or at the end of the payload. RFC 3261 gives User-Agent no compact
//! form, so there is none to match.

use aya_ebpf::{bindings::xdp_md, programs::XdpContext};
use sipguard_common::ua::{
    anchor_hash, bytes_below, lower_ascii, lowest_byte, zero_bytes, Scanners, UaPattern, CASE_BITS,
    CR, LF, MAX_PER_SLOT, PATTERN_MAX, PATTERN_MIN, SCAN_LIMIT, SCRATCH_WORDS, USER_AGE, WINDOW,
};

use crate::maps::{SCANNERS, UA_SCRATCH, UA_SCRATCH_WORDS as SCRATCH_MAP_WORDS};

/// The last scratch word passes a value between phases through memory (see [`forget`]).
const HANDOFF: usize = SCRATCH_MAP_WORDS - 1;

const HIGHS: u64 = 0x8080_8080_8080_8080;
const SPACES: u64 = 0x2020_2020_2020_2020;
const TABS: u64 = 0x0909_0909_0909_0909;

/// Does the SIP payload `[start, end)` carry a scanner User-Agent per the epoch's patterns?
#[inline(always)]
pub fn is_scanner(ctx: &XdpContext, epoch: u32, start: usize, end: usize) -> bool {
    sipguard_scanner_user_agent(ctx.ctx, epoch, start as u64, end as u64) != 0
}

/// The whole check as a global BPF function: the verifier checks it once, on its own, with
/// its arguments unknown. Inlined, it was walked again for every distinct state of the
/// pipeline that reaches it (each parse path, IPv4 or IPv6, each verdict so far), and the
/// header search alone is some 40,000 instructions per walk: the program went past the
/// verifier's million. Returns 1 for a scanner.
///
/// Every User-Agent header up to [`MAX_USER_AGENTS`] is read, not only the first: an
/// honest-looking decoy must not hide a second one. The search and the match are global
/// functions of their own, each verified once however many headers are read.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_scanner_user_agent(
    ctx: *mut xdp_md,
    epoch: u32,
    start: u64,
    end: u64,
) -> u64 {
    let Some(table) = SCANNERS.get(epoch & 1) else {
        return 0;
    };
    if table.count == 0 {
        return 0;
    }
    let end = end & 0x3fff;
    let mut from = start & 0x3fff;
    for _ in 0..MAX_USER_AGENTS {
        let line = sipguard_user_agent_line(ctx, from, end);
        if line == NO_LINE {
            return 0;
        }
        if sipguard_user_agent_matches(ctx, epoch, line, end) != 0 {
            return 1;
        }
        // The next search starts inside this line: its line feed is ahead.
        from = line & 0x3fff;
    }
    0
}

/// User-Agent headers read per request: a request has one; a decoy and the real one are two.
const MAX_USER_AGENTS: usize = 3;

/// [`sipguard_user_agent_line`]'s answer when no User-Agent line is left.
const NO_LINE: u64 = u64::MAX;

/// Offset of the first line in `[from, end)` whose name looks like `User-Agent` (the
/// search of [`find_line`]), or [`NO_LINE`].
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_user_agent_line(ctx: *mut xdp_md, from: u64, end: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let (from, end) = ((from & 0x3fff) as usize, (end & 0x3fff) as usize);
    match find_line(&ctx, from, end, |w| w | CASE_BITS == USER_AGE) {
        Some(line) => line as u64,
        None => NO_LINE,
    }
}

/// 1 when the header at `line` is a User-Agent whose value matches one of the epoch's
/// patterns.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_user_agent_matches(
    ctx: *mut xdp_md,
    epoch: u32,
    line: u64,
    end: u64,
) -> u64 {
    let ctx = XdpContext::new(ctx);
    let Some(table) = SCANNERS.get(epoch & 1) else {
        return 0;
    };
    let Some(scratch) = UA_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: a per-CPU map value, used by this program run only.
    let scratch = unsafe { &mut *scratch };
    let words = scratch.as_mut_ptr();
    // The offsets are unknown here (a global function's arguments); each step below refines
    // them, and forgetting them again lets the verifier walk the next step once.
    let end = forget_offset(words, (end & 0x3fff) as usize);
    let Some(value) = value_at(&ctx, forget_offset(words, (line & 0x3fff) as usize), end) else {
        return 0;
    };
    let end = forget_offset(words, end);
    copy_value(&ctx, forget_offset(words, value), end, scratch);
    matches(table, scratch) as u64
}

/// A packet offset through [`forget`], masked to 14 bits: every real offset is far below,
/// and the verifier needs a bound well under 64 KiB. A mask, not a compare: LLVM merges
/// compares of two values into one the verifier can't split.
#[inline(always)]
pub(crate) fn forget_offset(scratch: *mut u64, off: usize) -> usize {
    (forget(scratch, off as u64) & 0x3fff) as usize
}

/// Returns `x` through a volatile store and load, so the verifier knows nothing about it.
///
/// The verifier walks a loop iteration by iteration, and an offset that it tracks exactly
/// splits every later path by the iteration it came from: the header search can end in any
/// of 2048 places, and each would have the value copy and the match walked again (the
/// program went past the verifier's million instructions). After this, one walk covers all;
/// the caller re-checks the range the verifier then needs.
#[inline(always)]
pub(crate) fn forget(scratch: *mut u64, x: u64) -> u64 {
    // SAFETY: `scratch` is the per-CPU map value; HANDOFF is inside it.
    unsafe {
        let slot = scratch.add(HANDOFF);
        core::ptr::write_volatile(slot, x);
        core::ptr::read_volatile(slot)
    }
}

/// Eight payload bytes at `off` as a little-endian word; bytes at or past `end` read as zero.
#[inline(always)]
pub(crate) fn word(ctx: &XdpContext, off: usize, end: usize) -> u64 {
    let data = ctx.data();
    let data_end = ctx.data_end();
    if off + 8 <= end {
        if data + off + 8 > data_end {
            return 0;
        }
        // SAFETY: bounds checked above.
        return unsafe { load(data + off) };
    }
    if off >= end {
        return 0;
    }
    // The tail, 1 to 7 bytes before `end`.
    let n = end - off;
    if data + off + 8 <= data_end {
        // SAFETY: bounds checked above.
        let w = unsafe { load(data + off) };
        return w & ((1u64 << (8 * (n & 7))) - 1);
    }
    // The frame ends there too: load the frame's last 8 bytes and shift the wanted ones down.
    // No byte loop (the verifier can't follow the pointer checks LLVM makes of one) and no
    // `bpf_xdp_load_bytes` (Linux 5.18). The masks keep LLVM from folding `data + len` back
    // into `data_end`, on which the verifier allows no arithmetic, and give the verifier the
    // bound it wants of a packet offset (below 64 KiB, with the 8 bytes read).
    // Exact: `off` is below 16 KiB, so the frame here is shorter than 16 KiB + 8.
    let len = (data_end - data) & 0x7fff;
    if len < 8 || off + n > len {
        return 0;
    }
    // Through memory: else LLVM checks `data + len` against `data_end` and loads at 8 below
    // it, which the verifier can't prove is inside the packet.
    let start = len - 8;
    // SAFETY: a read of a local.
    let last = data + (unsafe { core::ptr::read_volatile(&start) } & 0x7fff);
    if last + 8 > data_end {
        return 0;
    }
    // SAFETY: bounds checked above.
    let w = unsafe { load(last) };
    // `off + 8 > len >= off + n`: the wanted bytes start 1 to 7 bytes into the last word.
    let skip = (off + 8 - len) & 7;
    (w >> (8 * skip)) & ((1u64 << (8 * (n & 7))) - 1)
}

/// One 8-byte load at any address.
///
/// # Safety
/// `addr..addr + 8` must be readable (checked against `data_end` for packet memory).
#[inline(always)]
pub(crate) unsafe fn load(addr: usize) -> u64 {
    // The address may be unaligned: x86-64 and arm64 load unaligned words natively, and the
    // verifier only enforces alignment where the CPU can't. `read_unaligned` would be lowered
    // by LLVM's BPF backend into eight byte loads and shifts; a volatile word load keeps one
    // instruction and stops LLVM from deriving anything from the pointer's alignment.
    // SAFETY: the caller keeps `addr..addr + 8` readable (this function's contract).
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

/// Flags (high bit) exactly the bytes of `x` that are zero.
#[inline(always)]
const fn exact_zero_bytes(x: u64) -> u64 {
    !(((x & !HIGHS).wrapping_add(!HIGHS)) | x) & HIGHS
}

/// Number of spaces and tabs `w` starts with (8: all of it).
#[inline(always)]
fn leading_blanks(w: u64) -> usize {
    let blank = exact_zero_bytes(w ^ SPACES) | exact_zero_bytes(w ^ TABS);
    let other = !blank & HIGHS;
    if other == 0 {
        8
    } else {
        lowest_byte(other) as usize
    }
}

/// Eight bytes at `off` if the frame has them, else 0: the search only needs whole words.
#[inline(always)]
pub(crate) fn whole_word(ctx: &XdpContext, off: usize) -> u64 {
    let at = ctx.data() + off;
    if at + 8 > ctx.data_end() {
        return 0;
    }
    // SAFETY: bounds checked above.
    unsafe { load(at) }
}

/// Offset of the first header line whose first 8 bytes satisfy `wanted`, walking the payload
/// 8 bytes per step for line feeds. None at the blank line that ends the headers, or where the
/// search ends without it ([`search_line`] tells the two apart).
#[inline(always)]
pub(crate) fn find_line(
    ctx: &XdpContext,
    start: usize,
    end: usize,
    wanted: impl Fn(u64) -> bool,
) -> Option<usize> {
    match search_line(ctx, start, end, wanted) {
        Search::Found(line) => Some(line),
        Search::HeadersEnd | Search::PayloadEnd | Search::Limit => None,
    }
}

/// How [`search_line`] ended.
pub(crate) enum Search {
    /// The line's offset.
    Found(usize),
    /// At the blank line that ends the headers: every header was looked at.
    HeadersEnd,
    /// Within 16 bytes of the payload's end (a blank line there is not seen).
    PayloadEnd,
    /// After [`SCAN_LIMIT`] bytes: the rest was not looked at.
    Limit,
}

/// [`find_line`]'s walk, telling how it ended.
///
/// Up to three line feeds per word are tested: a header line is at least 3 bytes (`x:` and
/// LF), so no word holds more. The verifier walks every step of a loop, and a nested
/// per-word loop of eight steps multiplied its paths past its million-instruction limit.
/// Only the 8-byte name test runs here; the caller parses the rest once.
#[inline(always)]
pub(crate) fn search_line(
    ctx: &XdpContext,
    start: usize,
    end: usize,
    wanted: impl Fn(u64) -> bool,
) -> Search {
    let mut off = start;
    for _ in 0..SCAN_LIMIT / 8 {
        // The lines searched for are at least 12 bytes with their colon and a value: none
        // starts in the last 8 bytes.
        if off + 16 > end {
            return Search::PayloadEnd;
        }
        let mut feeds = zero_bytes(whole_word(ctx, off) ^ LF);
        // A constant count of 3: LLVM unrolls it, and the verifier walks no inner loop.
        for _ in 0..3 {
            if feeds == 0 {
                break;
            }
            let line = off + lowest_byte(feeds) as usize + 1;
            let w = whole_word(ctx, line);
            let first = w as u8;
            if first == b'\r' || first == b'\n' {
                // The blank line that ends the headers.
                return Search::HeadersEnd;
            }
            if wanted(w) {
                return Search::Found(line);
            }
            feeds &= feeds - 1;
        }
        off += 8;
    }
    Search::Limit
}

/// Where the value of the header at `line` starts, if the name is exactly `User-Agent`:
/// HCOLON = *( SP / HTAB ) ":" SWS, and SWS may fold (CRLF then a blank continues the line).
#[inline(always)]
fn value_at(ctx: &XdpContext, line: usize, end: usize) -> Option<usize> {
    let w = word(ctx, line + 8, end);
    if (w as u16) | 0x2020 != u16::from_le_bytes(*b"nt") {
        return None;
    }
    let mut at = line + 10;
    let w = word(ctx, at, end);
    let blanks = leading_blanks(w);
    if blanks == 8 || (w >> (8 * blanks)) as u8 != b':' {
        return None;
    }
    at += blanks + 1;
    let blanks = leading_blanks(word(ctx, at, end));
    if blanks == 8 {
        return None;
    }
    at += blanks;
    let w = word(ctx, at, end);
    // Folding: CRLF, or a bare LF (which SIP parsers accept), then a blank.
    let crlf = w & 0xffff == u16::from_le_bytes(*b"\r\n") as u64
        && matches!((w >> 16) as u8, b' ' | b'\t');
    let lf = w as u8 == b'\n' && matches!((w >> 8) as u8, b' ' | b'\t');
    if crlf || lf {
        at += if crlf { 2 } else { 1 };
        let blanks = leading_blanks(word(ctx, at, end));
        if blanks == 8 {
            return None;
        }
        at += blanks;
    }
    Some(at)
}

/// Copies the first [`WINDOW`] bytes of the value into `scratch`, lower-cased, cut at the
/// first CR or LF, zero after.
#[inline(always)]
fn copy_value(ctx: &XdpContext, value: usize, end: usize, scratch: &mut [u64; SCRATCH_MAP_WORDS]) {
    let mut alive = u64::MAX;
    for (i, slot) in scratch.iter_mut().take(SCRATCH_WORDS).enumerate() {
        if i >= WINDOW / 8 {
            *slot = 0;
            continue;
        }
        let w = word(ctx, value + 8 * i, end) & alive;
        let line_end = zero_bytes(w ^ CR) | zero_bytes(w ^ LF);
        // bytes_below(0) keeps everything.
        *slot = lower_ascii(w & bytes_below(line_end));
        alive &= ((line_end == 0) as u64).wrapping_neg();
    }
}

/// Candidate starts checked in full per value: an honest 64-byte value hits an occupied slot
/// at about one start in fifty, a scanner's at its pattern.
const MAX_CANDIDATES: usize = 8;

/// Rolls a 4-byte anchor over the value and marks the starts whose slot names a pattern;
/// then checks those starts against the patterns their slot names.
///
/// Two phases rather than checking inside the roll: the verifier walks every start of the
/// roll separately (the start is an offset into the scratch), so a check inside it was
/// walked 61 times over and the program went past the verifier's million instructions.
/// Here the check runs on a start the verifier knows only as a range, and is walked once.
#[inline(always)]
fn matches(table: &Scanners, scratch: &mut [u64; SCRATCH_MAP_WORDS]) -> bool {
    let words = scratch.as_mut_ptr();
    let bytes = words as *const u8;
    let mut candidates = 0u64;
    // SAFETY: word 0 of the scratch.
    let mut anchor = unsafe { *words } as u32;
    for at in 0..=(WINDOW - PATTERN_MIN) {
        if at > 0 {
            // SAFETY: at + 3 < WINDOW <= the scratch's size.
            let next = unsafe { *bytes.add(at + 3) } as u32;
            anchor = (anchor >> 8) | (next << 24);
        }
        if anchor >> 24 == 0 {
            // The value ended: no 4-byte pattern starts here or later.
            break;
        }
        let Some(&slot) = table.slots.get(anchor_hash(anchor) as usize) else {
            break;
        };
        candidates |= ((slot != 0) as u64) << at;
    }
    let mut candidates = forget(words, candidates);
    for _ in 0..MAX_CANDIDATES {
        if candidates == 0 {
            return false;
        }
        let low = candidates & candidates.wrapping_neg();
        candidates &= candidates - 1;
        let at = (popcount(low - 1) & 63) as usize;
        // SAFETY: at + 4 <= 259, inside the scratch.
        let anchor = unsafe { core::ptr::read_unaligned(bytes.add(at) as *const u32) };
        let Some(&slot) = table.slots.get(anchor_hash(anchor) as usize) else {
            return false;
        };
        let mut slot = slot as u64;
        for _ in 0..MAX_PER_SLOT as usize {
            if slot == 0 {
                break;
            }
            let low = slot & slot.wrapping_neg();
            slot &= slot - 1;
            // Through memory: LLVM knows the index is below 32 and drops the bounds check
            // the verifier needs.
            let index = forget(words, popcount(low - 1)) as usize;
            let Some(pattern) = table.patterns.get(index) else {
                break;
            };
            if pattern.anchor == anchor && rest_matches(pattern, bytes, at) {
                return true;
            }
        }
    }
    false
}

/// Number of set bits, without a popcount instruction (BPF has none).
#[inline(always)]
const fn popcount(x: u64) -> u64 {
    let x = x - ((x >> 1) & 0x5555_5555_5555_5555);
    let x = (x & 0x3333_3333_3333_3333) + ((x >> 2) & 0x3333_3333_3333_3333);
    let x = (x + (x >> 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    x.wrapping_mul(0x0101_0101_0101_0101) >> 56
}

/// `pattern` against the value at `at`, a word at a time (the anchor's bytes are compared
/// again: cheaper than an offset).
#[inline(always)]
fn rest_matches(pattern: &UaPattern, bytes: *const u8, at: usize) -> bool {
    let len = pattern.len as usize;
    let pat = pattern.bytes.as_ptr();
    for k in 0..PATTERN_MAX / 8 {
        let from = 8 * k;
        if from >= len {
            break;
        }
        let n = len - from;
        let mask = if n >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * n)) - 1
        };
        // SAFETY: `from + 8 <= PATTERN_MAX`, and `at + from + 8 <= WINDOW - PATTERN_MIN +
        // PATTERN_MAX + 8`, inside the scratch.
        let (v, p) = unsafe {
            (
                load(bytes.add(at + from) as usize),
                load(pat.add(from) as usize),
            )
        };
        if (v ^ p) & mask != 0 {
            return false;
        }
    }
    true
}
