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
//! Only requests within their source's rate are read (the caller runs after the rate check):
//! a flood costs its drop, not a header search per packet.

use aya_ebpf::{bindings::xdp_md, programs::XdpContext};
use sipguard_common::{
    packed::{AttemptLimits, Span},
    source_key,
    ua::{AUTHORIZ, CASE_BITS, PROXY_AU, THORIZAT},
    AuthFailures, Policy,
};

use super::target::Payload;
use crate::{
    clock,
    maps::{AUTH_FAILS, UA_SCRATCH},
    parse::Src,
    source, ua,
};

/// Counts a request with credentials from `src` (the payload's requests: 1 for UDP, each
/// request of a TCP segment); true when the
/// source now has more than the policy's `autoban_attempts` unanswered within the window
/// (its count is then reset: the caller bans it).
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
    let found = sipguard_credentials(ctx, span.start, span.end) != 0;
    let weight = ((span.requests & 0x3ff) as u32).saturating_sub((!found) as u32);
    if weight == 0 {
        return 0;
    }
    let key = source_key(hi, lo, prefix);
    let now = clock::now();
    let window = window_ms * 1_000_000;
    let pending = match AUTH_FAILS.get_ptr_mut(&key) {
        Some(st) => {
            // SAFETY: map memory for this program run; two CPUs racing on one source may
            // lose one count, the next request counts again.
            let st = unsafe { &mut *st };
            if st.pending != 0 && now.saturating_sub(st.pending_start_ns) <= window {
                st.pending += weight;
            } else {
                st.pending = weight;
                st.pending_start_ns = now;
            }
            st.pending as u64
        }
        None => {
            let fresh = AuthFailures {
                count: 0,
                pending: weight,
                window_start_ns: now,
                pending_start_ns: now,
            };
            let _ = AUTH_FAILS.insert(&key, &fresh, 0);
            weight as u64
        }
    };
    if pending <= attempts {
        return 0;
    }
    let _ = AUTH_FAILS.remove(&key);
    1
}

/// 1 if the SIP request's headers (UDP payload `[start, end)`) hold an `Authorization` or
/// `Proxy-Authorization` line, else 0. A global BPF function, like the User-Agent search:
/// the verifier checks its loop once, on its own.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_credentials(ctx: *mut xdp_md, start: u64, end: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    // Offsets above 16 KiB don't occur; the mask gives the verifier the bound it needs.
    let (start, end) = ((start & 0x3fff) as usize, (end & 0x3fff) as usize);
    let found = ua::find_line(&ctx, start, end, |w| {
        let w = w | CASE_BITS;
        w == AUTHORIZ || w == PROXY_AU
    });
    let Some(line) = found else {
        return 0;
    };
    let Some(scratch) = UA_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // The search can end in hundreds of places, each known exactly to the verifier: through
    // memory, the two reads below are walked once, and LLVM can't fold their bounds checks
    // into the loop's (which the verifier then can't follow).
    let line = ua::forget_offset(scratch as *mut u64, line);
    // `Proxy-Au...` is also `Proxy-Authenticate`, a response header: look at the next word.
    if ua::whole_word(&ctx, line) | CASE_BITS == AUTHORIZ {
        return 1;
    }
    (ua::whole_word(&ctx, line + 8) | CASE_BITS == THORIZAT) as u64
}
