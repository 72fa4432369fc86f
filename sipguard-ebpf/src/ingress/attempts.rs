//! Auto-ban's second signal, from the direction the egress program doesn't see: REGISTER and
//! INVITE requests that carry credentials (an `Authorization` or `Proxy-Authorization`
//! header), counted per source in the same `AUTH_FAILS` entry the egress program keeps. The
//! egress program clears the count when the PBX accepts the source (a 2xx to REGISTER or
//! INVITE, or an 18x to INVITE: the call was routed, so its credentials passed).
//!
//! What it catches that counting failures can't: a PBX that answers a wrong password with
//! silence or with a status the egress program doesn't count, answers that leave through
//! another interface, and guessers that fire credentials without waiting for the answers.
//! An honest phone sends credentials once per challenge and gets its 200 back, so its count
//! never passes one.
//!
//! The count is also what makes the egress program's failures real: a 401/403/407 is a failure
//! only when a request with credentials is waiting for its answer here. So it is kept
//! whenever auto-ban is on; `[autoban] attempts = 0` only turns off the ban on it.
//!
//! The search also reads the nonce the credentials echo ([`crate::nonce`]): when the PBX sent
//! it to this address alone, the request is counted as bound (`AuthFailures::bound`), and the
//! PBX's failure answering it is proven evidence.
//!
//! Retransmissions are one attempt: a request whose digest (of the whole message, seeded per
//! policy) is the source's last one, within RFC 3261's 32 s, is not counted again. A copy is
//! byte for byte the same request; a guess differs at least in its `response=`, so a guesser
//! cannot pass guesses off as copies. Messages longer than [`DIGEST_LIMIT`] always count.
//!
//! Only requests within their source's rate are read (the caller runs after the rate check):
//! a flood costs its drop, not a header search per packet.

use aya_ebpf::{bindings::xdp_md, programs::XdpContext};
use sipguard_common::{
    packed::{AttemptLimits, Span},
    source_key,
    ua::{AUTHORIZ, CASE_BITS, PROXY_AU, THORIZAT},
    AuthFailures, Policy, BAN_COUNTER_RETRANSMISSIONS, RETRANSMISSION_NS,
};

use super::target::Payload;
use crate::{
    clock,
    maps::{self, AUTH_FAILS, BAN_COUNTERS, UA_SCRATCH},
    nonce,
    parse::Src,
    source, ua,
};

/// Counts a request with credentials from `src` (the payload's requests: 1 for UDP, each
/// request of a TCP segment; a retransmission none); true when the policy bans on attempts
/// and the source now has more than its `autoban_attempts` unanswered within the window (its
/// count is then reset: the caller bans it).
#[inline(always)]
pub(crate) fn over_limit(ctx: &XdpContext, policy: &Policy, src: &Src, payload: &Payload) -> bool {
    let words = source::words(policy, src);
    // BPF calls take five arguments: offsets and limits go two to a word (attempts are at
    // most 1000, a prefix at most 128).
    let span = Span {
        start: payload.start as u64,
        end: payload.end as u64,
        requests: payload.requests,
    };
    let limits = AttemptLimits {
        attempts: policy.autoban_attempts as u64,
        prefix: words.prefix,
        window_ms: policy.autoban_window_ms as u64,
    };
    sipguard_credential_attempt(ctx.ctx, words.hi, words.lo, span.pack(), limits.pack()) != 0
}

/// [`over_limit`] as a global BPF function (the source in two words, see
/// [`SourceWords`](sipguard_common::SourceWords); `span`: a packed [`Span`]; `limits`: packed
/// [`AttemptLimits`]): its map work and locals stay off the XDP program's stack, which the
/// verifier adds to the deepest call's (512 bytes in all).
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_credential_attempt(
    ctx: *mut xdp_md,
    hi: u64,
    lo: u64,
    span: u64,
    limits: u64,
) -> u64 {
    let AttemptLimits {
        attempts,
        prefix,
        window_ms,
    } = AttemptLimits::unpack(limits);
    let span = Span::unpack(span);
    // The search reads the first message. A TCP segment's further requests are taken to carry
    // credentials (a guesser streaming them cuts segments anywhere, so the first message may
    // be the tail of one whose credentials were in the segment before); UDP has one request.
    let credentials = sipguard_credentials(ctx, span.start, span.end);
    let found = credentials != NO_CREDENTIALS;
    let weight = ((span.requests & 0x3ff) as u32).saturating_sub((!found) as u32);
    if weight == 0 {
        return 0;
    }
    // The credentials echo a nonce the PBX sent to this address alone: their failure will
    // be proven evidence.
    let bound =
        credentials >= CREDENTIALS_AT && nonce::bound(ctx, credentials & 0x3fff, span.end, hi, lo);
    let seed = match maps::active() {
        Some((_, policy)) => policy.digest_seed as u64,
        None => 0,
    };
    let digest = sipguard_request_digest(ctx, span.start, span.end, seed);
    let key = source_key(hi, lo, prefix);
    let now = clock::now();
    let window = window_ms * 1_000_000;
    let pending = match AUTH_FAILS.get_ptr_mut(&key) {
        Some(st) => {
            // SAFETY: map memory for this program run; two CPUs racing on one source may
            // lose one count, the next request counts again.
            let st = unsafe { &mut *st };
            if digest != 0
                && st.last_digest == digest
                && now.saturating_sub(st.last_digest_ns) <= RETRANSMISSION_NS
            {
                if let Some(n) = BAN_COUNTERS.get_ptr_mut(BAN_COUNTER_RETRANSMISSIONS) {
                    // SAFETY: per-CPU map memory.
                    unsafe { *n += 1 };
                }
                return 0;
            }
            st.last_digest = digest;
            st.last_digest_ns = now;
            if st.pending != 0 && now.saturating_sub(st.pending_start_ns) <= window {
                st.pending += weight;
                st.bound += bound as u32;
            } else {
                st.pending = weight;
                st.bound = bound as u32;
                st.pending_start_ns = now;
            }
            st.pending as u64
        }
        None => {
            let fresh = AuthFailures {
                users: 0,
                pending: weight,
                window_start_ns: now,
                pending_start_ns: now,
                last_digest: digest,
                last_digest_ns: now,
                bound: bound as u32,
                _pad: 0,
            };
            let _ = AUTH_FAILS.insert(&key, &fresh, 0);
            weight as u64
        }
    };
    if attempts == 0 || pending <= attempts {
        return 0;
    }
    let _ = AUTH_FAILS.remove(&key);
    1
}

/// [`sipguard_credentials`]' answers: the headers hold credentials ([`CREDENTIALS_AT`] ORed
/// with the line's offset); they were all read and hold none; or they were not all read (past [`SCAN_LIMIT`](sipguard_common::ua::SCAN_LIMIT),
/// cut by the end of a fragment or a segment, or behind more look-alikes than are followed),
/// so the request counts as one with credentials. A guesser must not hide its credentials
/// from the count behind padding, fragmentation or decoys: over UDP, a request counted
/// here is what makes the PBX's 401 to it a failure.
pub(crate) const CREDENTIALS_AT: u64 = 1 << 32;
pub(crate) const NO_CREDENTIALS: u64 = 0;
pub(crate) const NOT_ALL_READ: u64 = 2;

/// `Proxy-Authenticate` (a response header) lines followed past before giving up.
const LOOKALIKES: usize = 3;

/// [`CREDENTIALS_AT`] with the line's offset if the SIP request's headers (payload `[start, end)`) hold an
/// `Authorization` or `Proxy-Authorization` line, [`NO_CREDENTIALS`] when every header was
/// read and none does, else [`NOT_ALL_READ`]. A global BPF function, like the User-Agent
/// search: its loop and the search's are each verified once.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_credentials(ctx: *mut xdp_md, start: u64, end: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let Some(scratch) = UA_SCRATCH.get_ptr_mut(0) else {
        return NOT_ALL_READ;
    };
    let end = (end & 0x3fff) as usize;
    let mut from = start & 0x3fff;
    for _ in 0..LOOKALIKES {
        let line = sipguard_credential_line(ctx.ctx, from, end as u64);
        match line {
            HEADERS_END => return NO_CREDENTIALS,
            PAYLOAD_END => {
                // The walk stops 16 bytes short of the end: a request with no body ends
                // with its blank line there.
                return if ends_with_blank_line(&ctx, end) {
                    NO_CREDENTIALS
                } else {
                    NOT_ALL_READ
                };
            }
            SEARCH_LIMIT => return NOT_ALL_READ,
            _ => {}
        }
        // The search can end in hundreds of places, each known exactly to the verifier:
        // through memory, the two reads below are walked once, and LLVM can't fold their
        // bounds checks into the loop's (which the verifier then can't follow).
        let line = ua::forget_offset(scratch as *mut u64, line as usize);
        // `Proxy-Au...` is also `Proxy-Authenticate`, a response header: look at the next
        // word, and search on past it if it is not credentials.
        if ua::whole_word(&ctx, line) | CASE_BITS == AUTHORIZ
            || ua::whole_word(&ctx, line + 8) | CASE_BITS == THORIZAT
        {
            return CREDENTIALS_AT | line as u64;
        }
        from = line as u64;
    }
    NOT_ALL_READ
}

/// [`sipguard_credential_line`]'s answers other than a line's offset.
const HEADERS_END: u64 = u64::MAX;
const PAYLOAD_END: u64 = u64::MAX - 1;
const SEARCH_LIMIT: u64 = u64::MAX - 2;

/// Offset of the first line in `[from, end)` whose name looks like `Authorization` or
/// `Proxy-Au...` (the search of [`ua::search_line`]), or how the search ended.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_credential_line(ctx: *mut xdp_md, from: u64, end: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let (from, end) = ((from & 0x3fff) as usize, (end & 0x3fff) as usize);
    match ua::search_line(&ctx, from, end, |w| {
        let w = w | CASE_BITS;
        w == AUTHORIZ || w == PROXY_AU
    }) {
        ua::Search::Found(line) => line as u64,
        ua::Search::HeadersEnd => HEADERS_END,
        ua::Search::PayloadEnd => PAYLOAD_END,
        ua::Search::Limit => SEARCH_LIMIT,
    }
}

/// The payload `[.., end)` ends with a blank line (CRLF CRLF, or LF LF).
#[inline(always)]
fn ends_with_blank_line(ctx: &XdpContext, end: usize) -> bool {
    if end < 8 {
        return false;
    }
    let back = end - 8;
    // Through memory, as in `sipguard_request_digest`.
    // SAFETY: a read of a local.
    let at = ctx.data() + (unsafe { core::ptr::read_volatile(&back) } & 0x3fff);
    if at + 8 > ctx.data_end() {
        return false;
    }
    // SAFETY: bounds checked above.
    let w = unsafe { ua::load(at) };
    (w >> 32) as u32 == u32::from_le_bytes(*b"\r\n\r\n")
        || (w >> 48) as u16 == u16::from_le_bytes(*b"\n\n")
}

/// Bytes of a request the digest covers; a longer message has none (0: always counted), so
/// that no part of a guess can sit beyond what is compared.
pub(crate) const DIGEST_LIMIT: usize = 2048;

/// A digest of the payload `[start, end)` (every byte, and the length), never 0; 0 when the
/// payload is shorter than 8 bytes or longer than [`DIGEST_LIMIT`]. Multiply-xorshift over
/// 8-byte words from the policy's random `seed`, then the last 8 bytes (overlapping the last
/// whole word: every byte is in): not a cryptographic hash, but one whose collisions an
/// attacker who sees neither the seed nor the digests cannot aim. A global BPF function: its
/// loop is verified once, and every way out of it joins one tail.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_request_digest(
    ctx: *mut xdp_md,
    start: u64,
    end: u64,
    seed: u64,
) -> u64 {
    let ctx = XdpContext::new(ctx);
    let (start, end) = ((start & 0x3fff) as usize, (end & 0x3fff) as usize);
    if end < start + 8 || end - start > DIGEST_LIMIT {
        return 0;
    }
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mix = |h: u64, w: u64| {
        let h = (h ^ w).wrapping_mul(K);
        h ^ (h >> 29)
    };
    let (data, data_end) = (ctx.data(), ctx.data_end());
    let mut h = (seed ^ (end - start) as u64).wrapping_mul(K);
    let mut off = start;
    for _ in 0..DIGEST_LIMIT / 8 {
        if off + 8 > end || data + off + 8 > data_end {
            break;
        }
        // SAFETY: bounds checked above.
        h = mix(h, unsafe { ua::load(data + off) });
        off += 8;
    }
    // Through memory: else LLVM checks `data + end` and loads 8 below it, which the verifier
    // refuses (see `ua::word`).
    let back = end - 8;
    // SAFETY: a read of a local.
    let last = data + (unsafe { core::ptr::read_volatile(&back) } & 0x3fff);
    if last + 8 > data_end {
        return 0;
    }
    // SAFETY: bounds checked above.
    mix(h, unsafe { ua::load(last) }) | 1
}
