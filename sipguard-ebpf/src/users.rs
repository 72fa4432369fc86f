//! Failures per (client, SIP user): the egress program tallies each user's run of failures
//! apart (`USER_FAILS`), and counts in the client's `AUTH_FAILS` entry how many users have a
//! run open (`AuthFailures::users`). One user's failures ban at `Policy::autoban_failures`;
//! a client whose failures name `Policy::autoban_users` users is enumerating extensions and
//! is banned however few failures each user has. A login clears that user's run only, so an
//! office behind one NAT address is judged phone by phone: one phone with a wrong password
//! does not add up with its neighbours' stale logins, and a guesser's own valid account does
//! not clear the runs of the extensions it is guessing.
//!
//! The user is the user part of the response's `From` URI, which the PBX copies from the
//! request: the account registered (REGISTER) or the caller (INVITE). It is the requester's
//! text, so a guesser chooses it: keeping it fixed meets the per-user threshold, changing it
//! meets the enumeration one. Hashed with the policy's seed (no collision can be aimed), and
//! bounded: an LRU map of [`USER_FAILS_MAX_ENTRIES`](sipguard_common::USER_FAILS_MAX_ENTRIES),
//! where an evicted run starts again and its user is counted once more.

use sipguard_common::{source_key, SourceWords, UserFailures, UserKey};

use crate::{
    clock,
    maps::{AUTH_FAILS, EGRESS_HEAD_BYTES, EGRESS_SCRATCH, USER_FAILS},
    nonce::{read, scratch_byte},
};

/// Bytes of a response looked at for its `From` line (it follows the status line and the Vias
/// the PBX copied, first among the rest in every PBX's answers). A requester who pads its
/// Vias past it only makes all its failures one user's, judged at the per-user threshold.
const FROM_LINE_WITHIN: usize = 512;
/// Bytes of the `From` value read for its URI's user part.
const FROM_SCAN: usize = 128;

/// The seeded hash of the user part of the response's `From` URI (the egress scratch, `len`
/// bytes copied), never 0; [`NO_USER`] when the response has no `From` within
/// [`FROM_LINE_WITHIN`] or its URI names no user (all such failures are one user's).
#[inline(always)]
pub(crate) fn of_response(len: usize, seed: u64) -> u64 {
    sipguard_response_user(len as u64, seed)
}

/// [`of_response`]'s answer for a response whose `From` names no user.
pub(crate) const NO_USER: u64 = 1;

/// [`of_response`] as a global BPF function: its line walk is verified once.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_response_user(len: u64, seed: u64) -> u64 {
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return NO_USER;
    };
    let bytes = scratch as *const u8;
    let len = (len as usize).min(EGRESS_HEAD_BYTES);
    // The status line is no header: start at the first line feed.
    for i in 0..FROM_LINE_WITHIN / 8 {
        if 8 * i + 8 > len {
            break;
        }
        // SAFETY: i < EGRESS_HEAD_BYTES / 8, inside the scratch.
        let mut feeds = sipguard_common::ua::zero_bytes(unsafe { (*scratch)[i] } ^ LF);
        for _ in 0..3 {
            if feeds == 0 {
                break;
            }
            let line = (8 * i + sipguard_common::ua::lowest_byte(feeds) as usize + 1)
                & (EGRESS_HEAD_BYTES - 1);
            feeds &= feeds - 1;
            // SAFETY: line < EGRESS_HEAD_BYTES; the scratch has 128 bytes more.
            let w = unsafe { read(bytes, line) };
            let first = w as u8;
            if first == b'\r' || first == b'\n' {
                return NO_USER;
            }
            // `From` then blanks or the colon; or the compact form `f`.
            let name = w | 0x2020_2020;
            let after = |n: u32| (w >> (8 * n)) as u8;
            if name & 0xffff_ffff == u32::from_le_bytes(*b"from") as u64
                && matches!(after(4), b':' | b' ' | b'\t')
            {
                return sipguard_from_value_user(line as u64 + 4, len as u64 | seed << 16);
            }
            if first | 0x20 == b'f' && matches!(after(1), b':' | b' ' | b'\t') {
                return sipguard_from_value_user(line as u64 + 1, len as u64 | seed << 16);
            }
        }
    }
    NO_USER
}

const LF: u64 = sipguard_common::ua::LF;

/// The user part of the URI in the `From` value at `at` of the scratch (`len_seed`: the copied
/// length | the seed << 16): the bytes between the last `:` (the scheme's) and the first `@`
/// outside a quoted display name,
/// hashed from the seed; [`NO_USER`] when no `@` comes before the line's end within
/// [`FROM_SCAN`] bytes. A global function of its own: inlined, its byte loop was walked again
/// from each line start.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_from_value_user(at: u64, len_seed: u64) -> u64 {
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return NO_USER;
    };
    let bytes = scratch as *const u8;
    let len = ((len_seed & 0xffff) as usize).min(EGRESS_HEAD_BYTES);
    let start = (len_seed >> 16) ^ FNV_OFFSET;
    let at = (at as usize) & (EGRESS_HEAD_BYTES - 1);
    // Past the header's own colon first: the hash restarts at every colon after it. A
    // display name in quotes is skipped whole (its colons and @s are not the URI's).
    let mut colon_seen = false;
    let mut quoted = false;
    let mut h = start;
    for i in 0..FROM_SCAN {
        let off = at + i;
        if off >= len {
            return NO_USER;
        }
        let b = scratch_byte(bytes, off);
        match b {
            b'\r' | b'\n' => return NO_USER,
            b'"' => quoted = !quoted,
            _ if quoted => {}
            b':' => {
                colon_seen = true;
                h = start;
            }
            b'@' if colon_seen => return h | 2,
            _ => h = (h ^ b as u64).wrapping_mul(FNV_PRIME),
        }
    }
    NO_USER
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One more failure of `user` from the client `words`: (the user's failures in its run, the
/// client's users with a run open), both within `window` ns; (0, 0) when the client has no
/// `AUTH_FAILS` entry.
#[inline(always)]
pub(crate) fn failure(words: &SourceWords, user: u64, window: u64) -> (u32, u32) {
    let packed = sipguard_user_failure(words.hi, words.lo, words.prefix, user, window);
    ((packed >> 32) as u32, packed as u32)
}

/// [`failure`] as a global BPF function (the tally's keys and values stay off the egress
/// program's stack): the user's failures << 32 | the client's users.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_user_failure(
    hi: u64,
    lo: u64,
    prefix: u64,
    user: u64,
    window: u64,
) -> u64 {
    let key = source_key(hi, lo, prefix);
    let Some(st) = AUTH_FAILS.get_ptr_mut(&key) else {
        return 0;
    };
    // SAFETY: map memory for this program run; two CPUs racing on one client may lose one
    // count, the next failure counts again.
    let st = unsafe { &mut *st };
    let now = clock::now();
    if st.users == 0 || now.saturating_sub(st.window_start_ns) > window {
        st.users = 0;
        st.window_start_ns = now;
    }
    let ukey = UserKey { addr: key, user };
    let count = match USER_FAILS.get_ptr_mut(&ukey) {
        Some(u) => {
            // SAFETY: as above.
            let u = unsafe { &mut *u };
            if now.saturating_sub(u.window_start_ns) > window {
                u.count = 1;
                u.window_start_ns = now;
            } else {
                u.count += 1;
            }
            if u.counted_in_ns != st.window_start_ns {
                u.counted_in_ns = st.window_start_ns;
                st.users += 1;
            }
            u.count
        }
        None => {
            let fresh = UserFailures {
                count: 1,
                _pad: 0,
                window_start_ns: now,
                counted_in_ns: st.window_start_ns,
            };
            let _ = USER_FAILS.insert(&ukey, &fresh, 0);
            st.users += 1;
            1
        }
    };
    (count as u64) << 32 | st.users as u64
}

/// The run of `user` from the client `words` ends (it logged in, or its failures were judged):
/// it no longer counts among the client's users, and a client with no run open and no request
/// waiting is forgotten.
#[inline(always)]
pub(crate) fn end_run(words: &SourceWords, user: u64) {
    sipguard_user_success(words.hi, words.lo, words.prefix, user);
}

/// [`end_run`] as a global BPF function.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_user_success(hi: u64, lo: u64, prefix: u64, user: u64) -> u64 {
    let key = source_key(hi, lo, prefix);
    let Some(st) = AUTH_FAILS.get_ptr_mut(&key) else {
        return 0;
    };
    // SAFETY: map memory for this program run.
    let st = unsafe { &mut *st };
    let ukey = UserKey { addr: key, user };
    if let Some(u) = USER_FAILS.get_ptr(&ukey) {
        // SAFETY: as above.
        if unsafe { (*u).counted_in_ns } == st.window_start_ns && st.users != 0 {
            st.users -= 1;
        }
        let _ = USER_FAILS.remove(&ukey);
    }
    if st.users == 0 && st.pending == 0 {
        let _ = AUTH_FAILS.remove(&key);
    }
    0
}
