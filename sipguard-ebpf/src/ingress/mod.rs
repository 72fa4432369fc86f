//! The XDP program's pipeline: one verdict per packet, first match decides. This is the one
//! description of the order; [`judge`] is written in it, one step per line.
//!
//! 1. **Policy**: the active epoch and its policy ([`maps::active`]); unreadable -> pass
//!    `default`.
//! 2. **Parse** ([`parse::packet`]): Ethernet with up to two VLAN tags, IPv4 (any IHL) or IPv6
//!    (hop-by-hop, routing, destination-options, fragment and AH headers skipped),
//!    UDP/TCP/ICMP/ICMPv6. Non-IP -> pass `non_ip`; truncated or invalid headers, an IP length
//!    beyond the frame, a UDP length below 8 or (outside a fragment) beyond the IP payload ->
//!    drop `malformed_l2`, `malformed_l3` or `malformed_l4`. Every length comes from the
//!    header that defines it: an IPv6 UDP length of 0 is the rest of the IP payload.
//!    With `[global] protect` set, a packet to any other destination ([`dest`]) -> pass
//!    `unprotected`: a perimeter box's other traffic is not sipguard's business.
//! 3. **Target** ([`target`], no verdict): (transport, destination port) -> service, ICMP echo
//!    requests -> the policy's echo service; where the port's services name destinations
//!    (`to`), the packet's destination picks among them ([`dest`]), and a destination none of
//!    them names is no service. A disabled service is none. UDP to a SIP service
//!    is classified, so every verdict below is also counted by SIP class.
//! 4. **Banned** ([`lists::banned`]): a ban covering the source, not expired (a `sip`-scoped
//!    ban only on SIP services), and the source not trusted -> drop `banned`.
//! 5. **Denied** ([`lists::denied`]): the source in the global deny list -> drop `denied`.
//! 6. **Later fragments** ([`frag::later`]): the verdict of their datagram's first fragment,
//!    as `fragment` under its service; a first fragment never seen -> the default policy's
//!    verdict, as `fragment`. A first fragment to a SIP service with less than
//!    `SIP_FIRST_FRAGMENT_MIN` bytes of UDP data ([`frag::tiny_first`]) -> drop
//!    `tiny_fragment`, and its later fragments with it.
//! 7. **ICMP without a service**: errors, neighbour discovery, router and MLD messages -> pass
//!    `icmp_control`; echo replies -> pass `reply`.
//! 8. **Default policy** ([`default::judge`]), for a packet with no service: pass `default`;
//!    under default drop, TCP with ACK and UDP to the local ephemeral ports pass as `reply`,
//!    the rest drops as `default`.
//! 9. **Allow list** ([`lists::not_allowed`]): the source not in the service's list -> drop
//!    `not_allowed`.
//! 10. **Per-source limits** ([`limits::per_source`]), for SIP requests (by class: REGISTER,
//!     INVITE, other), new TCP connections (SYN without ACK) and echo requests: a source
//!     remembered as a scanner -> drop `scanner`; over its rate -> drop `rate_limited`; a SIP
//!     request with a scanner User-Agent -> drop `scanner` (and a ban if configured); a
//!     REGISTER/INVITE with credentials past the auto-ban threshold ([`attempts`]) -> ban and
//!     drop `banned`. Both bans are scope `sip`: what this program reads proves nothing of
//!     the source address (a forger writes it, over UDP or in a blind TCP segment). A trusted source passes as `trusted` instead. Keep-alives, responses
//!     and everything else are never limited.
//! 11. **SYN budget** ([`limits::syn_budget`]): a new TCP connection over the service's budget
//!     for all sources together -> drop `flood` (a trusted source passes as `trusted`).
//! 12. Else pass `allowed`.
//!
//! Banned, denied, malformed and later-fragment drops follow the global mode only; the others
//! also follow the service's: in monitor mode a drop is counted as `would_drop` and passed.
//! After the verdict, [`frag::remember`] keeps a first fragment's verdict for the rest of its
//! datagram, and [`decision::finish`] applies monitor mode, samples drops for the log
//! ([`sample`](crate::sample)) and counts the packet per CPU by (service, reason, verdict).
//! Nothing is logged per packet.
//!
//! Every step is `#[inline(always)]`: the verifier sees one function (plus the global
//! functions named in the steps' files), as before the split into files.

mod attempts;
pub(crate) mod decision;
mod default;
pub(crate) mod frag;
mod limits;
mod lists;
mod target;

use aya_ebpf::programs::XdpContext;
use sipguard_common::{reason, IcmpClass, POLICY_MONITOR, POLICY_PROTECT, SERVICE_NONE};

use self::decision::Decision;
use crate::{
    dest, maps,
    parse::{self, Cursor, Parsed, Proto},
};

/// The XDP program: the verdict on the packet in `ctx`, remembered for later fragments and
/// counted; returns the XDP action.
#[inline(always)]
pub(crate) fn run(ctx: &XdpContext) -> u32 {
    let decision = judge(ctx);
    frag::remember(&decision);
    decision::finish(ctx, decision)
}

/// The pipeline, in the order of the module doc.
#[inline(always)]
fn judge(ctx: &XdpContext) -> Decision {
    // 1. Policy. By reference: the policy is read from map memory field by field.
    let Some((epoch, policy)) = maps::active() else {
        return Decision::pass(SERVICE_NONE, reason::DEFAULT);
    };
    // Bans, the deny list and malformed headers follow the global mode only.
    let global_monitor = policy.flags & POLICY_MONITOR != 0;
    // 2. Parse.
    let mut cursor = Cursor::new(ctx);
    let pkt = match parse::packet::<true>(&mut cursor) {
        Ok(Parsed::Ip(pkt)) => pkt,
        Ok(Parsed::NonIp) => return Decision::pass(SERVICE_NONE, reason::NON_IP),
        Err(malformed) => return Decision::drop(SERVICE_NONE, malformed, global_monitor),
    };
    // 2b. Protected destinations.
    if policy.flags & POLICY_PROTECT != 0 && !dest::protected(ctx, epoch) {
        return Decision::pass(SERVICE_NONE, reason::UNPROTECTED);
    }
    // 3. Target: the service first (an array read), so that ban and deny drops are counted
    // against the service they targeted; the verdict order is unchanged.
    let t = target::resolve(ctx, epoch, policy, &pkt);
    // 4. Banned.
    if let Some(d) = lists::banned(epoch, policy, global_monitor, &pkt.src, &t) {
        return d;
    }
    // 5. Denied.
    if let Some(d) = lists::denied(epoch, policy, global_monitor, &pkt.src, &t) {
        return d;
    }
    // 6. Fragments: later ones, then tiny first ones.
    if pkt.l4.proto == Proto::Fragment {
        return frag::later(policy);
    }
    if let Some(d) = frag::tiny_first(policy, &pkt, &t) {
        return d;
    }
    // 7. ICMP without a service.
    if pkt.l4.is_icmp(IcmpClass::Control) {
        return Decision::pass(SERVICE_NONE, reason::ICMP_CONTROL);
    }
    if pkt.l4.is_icmp(IcmpClass::EchoReply) {
        return Decision::pass(SERVICE_NONE, reason::REPLY);
    }
    // 8. Default policy.
    let Some(s) = t.policy else {
        return default::judge(policy, &pkt, t.monitor);
    };
    // 9. Allow list.
    if let Some(d) = lists::not_allowed(epoch, s, &pkt.src, &t) {
        return d;
    }
    // 10. Per-source limits.
    if let Some(d) = limits::per_source(ctx, epoch, policy, s, &pkt, &t) {
        return d;
    }
    // 11. SYN budget.
    if let Some(d) = limits::syn_budget(epoch, policy, s, &pkt, &t) {
        return d;
    }
    // 12. Allowed.
    Decision::pass(t.service, reason::ALLOWED).with_sip_class(t.sip_class)
}
