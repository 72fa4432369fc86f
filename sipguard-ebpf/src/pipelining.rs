//! SIP over TCP: the requests one segment carries ([`sip::tcp_requests`] is the rule, and its
//! tests), so that a segment pays its source's limits once per request in it.

use aya_ebpf::{bindings::xdp_md, programs::XdpContext};
use sipguard_common::{
    sip,
    ua::{lowest_byte, zero_bytes, LF, SCAN_LIMIT},
};

use crate::{maps::UA_SCRATCH, ua};

/// Eight slashes.
const SLASHES: u64 = 0x2f2f_2f2f_2f2f_2f2f;

/// Request lines in the TCP payload `[start, end)` after its first line (searched in its
/// first [`SCAN_LIMIT`] bytes): the segment carries that many requests beyond its first.
///
/// A global function, verified once. The count is returned as found, never compared here: a
/// compare would make the verifier keep every count apart at every step of the search.
#[inline(always)]
pub fn extra_requests(ctx: &XdpContext, start: usize, end: usize) -> u64 {
    sipguard_tcp_extra_requests(ctx.ctx, start as u64, end as u64)
}

#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_tcp_extra_requests(ctx: *mut xdp_md, start: u64, end: u64) -> u64 {
    let ctx = XdpContext::new(ctx);
    let Some(scratch) = UA_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    let words = scratch as *mut u64;
    let start = ua::forget_offset(words, start as usize);
    let end = ua::forget_offset(words, end as usize);
    let limit = if end < start + SCAN_LIMIT {
        end
    } else {
        start + SCAN_LIMIT
    };
    // The first line feed: the request lines after it are the extra requests.
    let mut off = start;
    let mut first_line_end = 0;
    for _ in 0..SCAN_LIMIT / 8 {
        if off >= limit {
            break;
        }
        let feeds = zero_bytes(ua::whole_word(&ctx, off) ^ LF);
        if feeds != 0 {
            first_line_end = off + lowest_byte(feeds) as usize + 1;
            break;
        }
        off += 8;
    }
    if first_line_end == 0 {
        return 0;
    }
    let from = ua::forget_offset(words, first_line_end);
    let limit = ua::forget_offset(words, limit);
    let mut found = 0u64;
    let mut off = from;
    for _ in 0..SCAN_LIMIT / 8 {
        if off >= limit {
            break;
        }
        let mut slashes = zero_bytes(ua::whole_word(&ctx, off) ^ SLASHES);
        // A request line's version slash has a space at most 4 bytes before it: no word
        // holds more than 4 slashes up to and including it.
        for _ in 0..4 {
            if slashes == 0 {
                break;
            }
            let at = off + lowest_byte(slashes) as usize;
            if at >= from + 3 && at + 5 <= limit {
                // Forgotten, or LLVM reads at `at` with offset -3, which the verifier refuses.
                let version = ua::forget_offset(words, at - 3);
                if sip::ends_request_line(ua::whole_word(&ctx, version)) {
                    found += 1;
                }
            }
            slashes &= slashes - 1;
        }
        off += 8;
    }
    found
}
