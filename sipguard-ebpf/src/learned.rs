//! Learned trust: a source the PBX accepted recently (a 2xx, or an 18x to an INVITE, answering
//! a request that carried credentials) is remembered for `Policy::autoban_learned_s`, and
//! while it is, evidence a forger could have produced never bans it: failures answered over
//! UDP, the count of requests with credentials, scanner User-Agents ([`crate::ban`]), and a
//! remembered scanner verdict (each of its requests is read on its own instead).
//!
//! Only a correct password puts a source here, so a forged-source flood cannot fill the map
//! or push an honest trunk out of it; answers over TCP (the client completed a handshake, its
//! address is proven) still ban it.

use sipguard_common::{source_key, Policy};

use crate::{clock, maps::LEARNED, parse::Src, source};

/// Remembers `key` (a source as `AUTH_FAILS` keys it) as accepted for `seconds` from now.
#[inline(always)]
pub(crate) fn remember(key: &[u8; 16], seconds: u32) {
    if seconds == 0 {
        return;
    }
    let until = clock::now() + seconds as u64 * 1_000_000_000;
    let _ = LEARNED.insert(key, &until, 0);
}

/// 1 when the source (`hi`, `lo`, `prefix`: [`SourceWords`](sipguard_common::SourceWords))
/// was accepted recently, else 0. A global BPF function: the key stays off the callers'
/// stacks.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_learned(hi: u64, lo: u64, prefix: u64) -> u64 {
    accepted(&source_key(hi, lo, prefix & 0xff)) as u64
}

/// `src` was accepted recently (through [`sipguard_learned`]: the key stays off the XDP
/// program's stack).
#[inline(always)]
pub(crate) fn accepted_source(policy: &Policy, src: &Src) -> bool {
    let w = source::words(policy, src);
    sipguard_learned(w.hi, w.lo, w.prefix) != 0
}

/// `key` (a source as `AUTH_FAILS` keys it) was accepted recently.
#[inline(always)]
pub(crate) fn accepted(key: &[u8; 16]) -> bool {
    match LEARNED.get_ptr(key) {
        // SAFETY: map memory for this program run; a racing update changes only the expiry.
        Some(until) => clock::now() < unsafe { *until },
        None => false,
    }
}
