//! Auto-ban from the wire: a TC egress program on the protected interface reads the PBX's own
//! SIP responses and counts, per client and SIP user ([`users`]), authentication failures
//! (401, 403, 407 to a REGISTER or an INVITE that carried credentials) with no 2xx to that
//! user in between. A client whose failures for one user reach the policy's threshold within
//! its window, or whose failures name too many users (enumeration), is banned in the map the
//! XDP program already checks: the next packet from it is dropped, within the same
//! millisecond, with no log file in between.
//!
//! Outcomes, not volume: an honest phone gets one challenge (not a failure: its request had no
//! credentials), answers it and gets a 200, which clears its count, however often it
//! registers. A password guesser collects a 401 per guess. The ban takes the policy's scope
//! on proven evidence: answers over TCP (the client completed a handshake), or over UDP to
//! requests echoing a nonce the PBX sent to that address alone ([`nonce`]). Otherwise the
//! answers went to whatever source the requests claimed: scope `sip`, and no ban at all
//! against a client the PBX accepted lately ([`learned`]).
//!
//! The program never drops or changes a packet (always `TC_ACT_OK`).
use aya_ebpf::{helpers::generated::bpf_skb_load_bytes, programs::TcContext};
use sipguard_common::{
    addr, port_index, service_index, ua::LF, BAN_COUNTER_CHALLENGES, BAN_COUNTER_NONCE_PROVEN,
    BAN_COUNTER_STALE, BAN_COUNTER_UNPROVEN_FAILURES, BAN_REASON_AUTH_ENUMERATION,
    BAN_REASON_AUTH_FAILURES, BAN_SCOPE_SIP, DEST_GROUP_PROTECT, DEST_SCOPED, MAX_SERVICES,
    POLICY_AUTOBAN, POLICY_HAS_TRUSTED, POLICY_MONITOR, POLICY_PROTECT, PROTO_SLOT_TCP,
    PROTO_SLOT_UDP, SERVICE_ENABLED, SERVICE_SIP,
};

use crate::{
    ban::ban_source,
    clock, dest, learned,
    maps::{
        self, AUTH_FAILS, BAN_COUNTERS, EGRESS_HEAD_BYTES, EGRESS_SCRATCH, PORT_SERVICE, SERVICES,
    },
    net::{
        ETH_P_8021AD, ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, ETH_TYPE_OFFSET, IPPROTO_TCP, IPPROTO_UDP,
        MAX_VLAN_TAGS, VLAN_HLEN,
    },
    nonce,
    parse::Src,
    source, users,
};

/// Bytes of a response searched for its CSeq.
const HEAD_BYTES: usize = EGRESS_HEAD_BYTES;

const METHOD_OTHER: u64 = 0;
const METHOD_REGISTER: u64 = 1;
const METHOD_INVITE: u64 = 2;

enum Outcome {
    /// 2xx to REGISTER or INVITE: the user logged in; its run of failures ends.
    Success,
    /// 18x to INVITE: the call was routed, so its credentials passed; the count of requests
    /// with credentials clears, failures stay (only a 2xx ends a run of failures).
    Progress,
    /// 401, 403, 407 to REGISTER or INVITE.
    Failure,
    /// Any other final answer (3xx to 6xx) to REGISTER or INVITE: one request is answered.
    Other,
}

/// Reads one outgoing packet; counts or clears its client's failures if it is a SIP response
/// of interest, and bans the client at the threshold. `None`: nothing to do.
///
/// A 401/403/407 is a failure only when it answers a request with credentials: the XDP
/// program counts those per client (`AuthFailures::pending`, retransmissions once), and each
/// answer takes one off. A challenge with none waiting answers a request without
/// credentials, the first half of every digest login (and what anyone can make the PBX send
/// to any address over UDP): counted as a challenge, never a failure. A 2xx (or an 18x to an
/// INVITE) answering credentials also teaches trust ([`learned`]).
#[inline(always)]
pub(crate) fn observe(ctx: &TcContext) -> Option<()> {
    let (epoch, policy) = maps::active()?;
    // A copy on the stack, as before the accessor existed.
    let policy = *policy;
    if policy.flags & POLICY_AUTOBAN == 0 {
        return None;
    }
    let (client, payload, len, bound) = sip_response_datagram(ctx, epoch, policy.flags)?;
    if len < 16 {
        return None;
    }
    let scratch = EGRESS_SCRATCH.get_ptr_mut(0)?;
    let n = len.min(HEAD_BYTES);
    // SAFETY: `n` is 1..=HEAD_BYTES, the scratch holds more; the helper checks the packet.
    let copied = unsafe {
        bpf_skb_load_bytes(
            ctx.skb.skb as *const _,
            payload as u32,
            scratch as *mut _,
            (((n - 1) & (HEAD_BYTES - 1)) + 1) as u32,
        )
    };
    if copied != 0 {
        return None;
    }
    // SAFETY: the scratch is 8-aligned and longer than 16 bytes.
    let (w0, w1) = unsafe { ((*scratch)[0], (*scratch)[1]) };
    if w0 != u64::from_le_bytes(*b"SIP/2.0 ") {
        return None;
    }
    let digit = |shift: u32| ((w1 >> shift) as u8).wrapping_sub(b'0') as u32;
    let (d0, d1, d2) = (digit(0), digit(8), digit(16));
    if d0 > 9 || d1 > 9 || d2 > 9 {
        return None;
    }
    let code = d0 * 100 + d1 * 10 + d2;
    let outcome = match code {
        200..=299 => Outcome::Success,
        180..=189 => Outcome::Progress,
        401 | 403 | 407 => Outcome::Failure,
        300..=699 => Outcome::Other,
        _ => return None,
    };
    let method = sipguard_cseq_method(n as u64);
    if !matches!(method, METHOD_REGISTER | METHOD_INVITE) {
        return None;
    }
    let words = source::words(&policy, &client);
    // Every challenge's nonce, with whom it went to: what a later failure's request must
    // echo to be proven (the status is tested inside: no branch here for the verifier to
    // walk the rest of this function down twice).
    nonce::record_challenge(code, n, words.hi, words.lo);
    let key = words.key();
    let Some(st) = AUTH_FAILS.get_ptr_mut(&key) else {
        // No request with credentials from this client is waiting.
        if matches!(outcome, Outcome::Failure) {
            count(BAN_COUNTER_CHALLENGES);
        }
        return Some(());
    };
    // SAFETY: map memory for this program run; two CPUs racing on one client may lose one
    // count, the next answer counts again.
    let st = unsafe { &mut *st };
    let now = clock::now();
    let window = policy.autoban_window_ms as u64 * 1_000_000;
    // This answer is to a request with credentials (the oldest one waiting).
    let answers_credentials = st.pending != 0 && now.saturating_sub(st.pending_start_ns) <= window;
    // ... and that request echoed a nonce the PBX had sent to this address alone.
    let mut nonce_bound = false;
    if answers_credentials {
        st.pending -= 1;
        if st.bound != 0 {
            st.bound -= 1;
            nonce_bound = true;
        }
    }
    match outcome {
        Outcome::Success => {
            // A login clears its user's run only (a guesser's own valid account must not
            // clear the extensions it guesses): only an answer to credentials, so that a 2xx
            // the PBX gives without a password (an IVR answering a guest call) clears nothing.
            if answers_credentials {
                learned::remember(&key, policy.autoban_learned_s);
                let user = users::of_response(n, policy.digest_seed as u64);
                users::end_run(&words, user);
            }
        }
        Outcome::Progress => {
            if method == METHOD_INVITE {
                if answers_credentials {
                    learned::remember(&key, policy.autoban_learned_s);
                }
                st.pending = 0;
            }
        }
        Outcome::Other => {}
        Outcome::Failure => {
            if !answers_credentials {
                count(BAN_COUNTER_CHALLENGES);
                return Some(());
            }
            // `stale=true`: the nonce had expired, no password was refused (what every phone
            // of an office collects when the PBX restarts).
            if nonce::stale(n) {
                count(BAN_COUNTER_STALE);
                return Some(());
            }
            // Proven: answered over TCP (the client completed a handshake), or over UDP to a
            // request whose nonce proves its sender got the PBX's challenge.
            let proven = bound || nonce_bound;
            if !bound {
                count(if nonce_bound {
                    BAN_COUNTER_NONCE_PROVEN
                } else {
                    BAN_COUNTER_UNPROVEN_FAILURES
                });
            }
            let user = users::of_response(n, policy.digest_seed as u64);
            let (failures, named) = users::failure(&words, user, window);
            // One user's run at the threshold, or failures naming too many users.
            let (reason, evidence) = if failures >= policy.autoban_failures {
                (BAN_REASON_AUTH_FAILURES, failures)
            } else if policy.autoban_users != 0 && named >= policy.autoban_users {
                (BAN_REASON_AUTH_ENUMERATION, named)
            } else {
                return Some(());
            };
            // Judged (banned, spared or trusted): the user's run and the client's tally of
            // users start again.
            users::end_run(&words, user);
            let _ = AUTH_FAILS.remove(&key);
            let trusted =
                policy.flags & POLICY_HAS_TRUSTED != 0 && source::is_trusted(epoch, &client);
            if !trusted && policy.flags & POLICY_MONITOR == 0 {
                // Unproven answers went to whatever source a request claimed: a forger's
                // victim is banned from SIP at most, and not at all if it logged in lately.
                let scope = if proven {
                    policy.autoban_scope
                } else {
                    BAN_SCOPE_SIP
                };
                let _ = ban_source(
                    &policy,
                    &client,
                    policy.autoban_ban_s,
                    reason,
                    scope,
                    evidence,
                    proven,
                );
            }
        }
    }
    Some(())
}

/// One more in a `BAN_COUNTERS` slot (per CPU).
#[inline(always)]
fn count(slot: u32) {
    if let Some(n) = BAN_COUNTERS.get_ptr_mut(slot) {
        // SAFETY: per-CPU map memory.
        unsafe { *n += 1 };
    }
}

/// A UDP datagram or TCP segment from one of the policy's SIP services: (its destination,
/// the payload's offset, the payload's length per the UDP header or the IP length). Up to two VLAN tags; IPv6 without
/// extension headers (the host's own responses carry none); no IPv4 fragments.
#[inline(always)]
fn sip_response_datagram(
    ctx: &TcContext,
    epoch: u32,
    flags: u32,
) -> Option<(Src, usize, usize, bool)> {
    let mut off = ETH_TYPE_OFFSET;
    let mut ethertype = u16::from_be(ctx.load::<u16>(off).ok()?);
    for _ in 0..MAX_VLAN_TAGS {
        if ethertype != ETH_P_8021Q && ethertype != ETH_P_8021AD {
            break;
        }
        off += VLAN_HLEN;
        ethertype = u16::from_be(ctx.load::<u16>(off).ok()?);
    }
    off += 2;
    let host: [u8; 16];
    let (client, l4, proto, ip_left) = match ethertype {
        ETH_P_IP => {
            let vihl = ctx.load::<u8>(off).ok()?;
            let frag = u16::from_be(ctx.load::<u16>(off + 6).ok()?);
            let proto = ctx.load::<u8>(off + 9).ok()?;
            if vihl >> 4 != 4
                || frag & 0x3fff != 0
                || !(proto == IPPROTO_UDP || proto == IPPROTO_TCP)
            {
                return None;
            }
            let ihl = (vihl & 0x0f) as usize * 4;
            let total = u16::from_be(ctx.load::<u16>(off + 2).ok()?) as usize;
            let dst = ctx.load::<[u8; 4]>(off + 16).ok()?;
            // The answering host, where the ingress program saw the request's destination.
            let s = ctx.load::<[u8; 4]>(off + 12).ok()?;
            host = [
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, s[0], s[1], s[2], s[3],
            ];
            (Src::V4(dst), off + ihl, proto, total.checked_sub(ihl)?)
        }
        ETH_P_IPV6 => {
            let proto = ctx.load::<u8>(off + 6).ok()?;
            if !(proto == IPPROTO_UDP || proto == IPPROTO_TCP) {
                return None;
            }
            let left = u16::from_be(ctx.load::<u16>(off + 4).ok()?) as usize;
            let dst = ctx.load::<[u8; 16]>(off + 24).ok()?;
            host = ctx.load::<[u8; 16]>(off + 8).ok()?;
            // The client as the ingress program keys it: an IPv6 form of an IPv4 address is
            // that address.
            let client = match addr::ipv4_in_ipv6(&dst) {
                Some(v4) => Src::V4(v4),
                None => Src::V6(dst),
            };
            (client, off + 40, proto, left)
        }
        _ => return None,
    };
    let sport = u16::from_be(ctx.load::<u16>(l4).ok()?);
    // UDP: the payload per the UDP length; TCP: the segment's data, after the TCP header, to
    // the end of the IP payload (a response starting the segment is read; one pipelined
    // behind another is not).
    let (slot, payload, len) = if proto == IPPROTO_TCP {
        let hlen = (ctx.load::<u8>(l4 + 12).ok()? >> 4) as usize * 4;
        (PROTO_SLOT_TCP, l4 + hlen, ip_left.checked_sub(hlen)?)
    } else {
        let udp_len = u16::from_be(ctx.load::<u16>(l4 + 4).ok()?) as usize;
        (PROTO_SLOT_UDP, l4 + 8, udp_len.checked_sub(8)?)
    };
    // A host outside `[global] protect` is not judged, so its answers are not read either.
    if flags & POLICY_PROTECT != 0 && dest::find(epoch, DEST_GROUP_PROTECT, &host) == 0 {
        return None;
    }
    let mut service = *PORT_SERVICE.get(port_index(epoch, slot, sport))?;
    if service & DEST_SCOPED != 0 {
        service = dest::find(epoch, service & !DEST_SCOPED, &host);
    }
    if service == 0 || service >= MAX_SERVICES {
        return None;
    }
    let s = SERVICES.get(service_index(epoch, service))?;
    if s.flags & SERVICE_ENABLED == 0 || s.flags & SERVICE_SIP == 0 {
        return None;
    }
    Some((client, payload, len, slot == PROTO_SLOT_TCP))
}

/// The method of the response's CSeq header (`METHOD_*`), from the first `len` bytes of the
/// per-CPU scratch. A global BPF function: the verifier checks its loop once, on its own.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_cseq_method(len: u64) -> u64 {
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return METHOD_OTHER;
    };
    let bytes = scratch as *const u8;
    let len = (len as usize).min(HEAD_BYTES);
    for i in 0..HEAD_BYTES / 8 {
        if 8 * i + 8 > len {
            break;
        }
        // SAFETY: i < HEAD_BYTES / 8, inside the scratch.
        let mut feeds = sipguard_common::ua::zero_bytes(unsafe { (*scratch)[i] } ^ LF);
        for _ in 0..3 {
            if feeds == 0 {
                break;
            }
            let line =
                (8 * i + sipguard_common::ua::lowest_byte(feeds) as usize + 1) & (HEAD_BYTES - 1);
            feeds &= feeds - 1;
            // SAFETY: line < HEAD_BYTES; the scratch has 128 bytes more.
            let w = unsafe { read(bytes, line) };
            let first = w as u8;
            if first == b'\r' || first == b'\n' {
                // The blank line: the headers ended without a CSeq.
                return METHOD_OTHER;
            }
            if (w | 0x2020_2020) & 0xffff_ffff == u32::from_le_bytes(*b"cseq") as u64 {
                return sipguard_cseq_method_after(line as u64 + 4);
            }
        }
    }
    METHOD_OTHER
}

/// Eight bytes of the scratch at any offset.
///
/// # Safety
/// `at + 8` must be inside the scratch.
#[inline(always)]
unsafe fn read(bytes: *const u8, at: usize) -> u64 {
    // Volatile: one 8-byte load whatever the alignment (see `ua::load`).
    // SAFETY: the caller keeps `at + 8` inside the scratch (this function's contract).
    unsafe { core::ptr::read_volatile(bytes.add(at) as *const u64) }
}

/// CSeq = "CSeq" HCOLON 1*DIGIT LWS Method: parses the scratch from `at`, just after the
/// name. A global BPF function of its own: inlined into [`sipguard_cseq_method`]'s loop, its
/// byte loop was walked again for every line start, which took kernels before 6.8 past the
/// verifier's million instructions.
#[no_mangle]
#[inline(never)]
pub extern "C" fn sipguard_cseq_method_after(at: u64) -> u64 {
    let Some(scratch) = EGRESS_SCRATCH.get_ptr_mut(0) else {
        return METHOD_OTHER;
    };
    let bytes = scratch as *const u8;
    // The scratch holds HEAD_BYTES + 128: room for the 40 bytes read from here.
    let mut at = (at as usize) & (HEAD_BYTES - 1);
    // Blanks, the colon, blanks, up to 10 digits, blanks: byte by byte, bounded.
    let mut seen_colon = false;
    let mut digits = 0;
    for _ in 0..24 {
        // SAFETY: at most at + 24, inside the scratch.
        let b = unsafe { *bytes.add(at) };
        match b {
            b' ' | b'\t' => {}
            b':' if !seen_colon => seen_colon = true,
            b'0'..=b'9' if seen_colon && digits < 10 => digits += 1,
            _ => break,
        }
        at += 1;
    }
    if !seen_colon || digits == 0 {
        return METHOD_OTHER;
    }
    // SAFETY: at <= start + 24; 16 more bytes are inside the scratch.
    let w = unsafe { read(bytes, at) };
    // SAFETY: as above.
    let next = unsafe { *bytes.add(at + 8) };
    if w == u64::from_le_bytes(*b"REGISTER") && matches!(next, b'\r' | b'\n' | b' ' | b'\t') {
        return METHOD_REGISTER;
    }
    let invite = u64::from_le_bytes(*b"INVITE\0\0");
    if w & 0xffff_ffff_ffff == invite && matches!((w >> 48) as u8, b'\r' | b'\n' | b' ' | b'\t') {
        return METHOD_INVITE;
    }
    METHOD_OTHER
}
