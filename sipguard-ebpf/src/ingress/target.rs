//! What a packet is aimed at: its service (from the transport and destination port, or the
//! policy's ICMP echo service), whether that service is in monitor mode, and for UDP or TCP
//! data to a SIP service its SIP class, where its payload lies and how many requests it holds.
//!
//! Resolved once, before any verdict, so that every verdict on the packet (ban, deny, allow
//! list, ...) is counted against the service it targeted and by its SIP class.

use aya_ebpf::programs::XdpContext;
use sipguard_common::{
    port_index, service_index, sip, IcmpClass, Policy, ServicePolicy, DEST_SCOPED, MAX_SERVICES,
    POLICY_MONITOR, POLICY_SCANNERS, PROTO_SLOT_TCP, PROTO_SLOT_UDP, SERVICE_ENABLED,
    SERVICE_MONITOR, SERVICE_NONE, SERVICE_SIP,
};

use super::decision::NO_SIP_CLASS;
use crate::{
    dest,
    maps::{PORT_SERVICE, SERVICES},
    parse::{self, Packet, Proto},
    pipelining,
};

/// The packet's service and SIP class.
#[derive(Clone, Copy)]
pub(crate) struct Target {
    /// The service slot; `SERVICE_NONE` when no enabled service matched.
    pub(crate) service: u32,
    /// The service's policy (`None` with `SERVICE_NONE`).
    pub(crate) policy: Option<&'static ServicePolicy>,
    /// Drops on this service become would_drop: global monitor mode, or the service's.
    pub(crate) monitor: bool,
    /// `sip::class::*`, or [`NO_SIP_CLASS`] for anything but UDP or TCP data to a SIP service.
    pub(crate) sip_class: u32,
    /// The UDP payload, for the User-Agent and credential checks.
    pub(crate) payload: Payload,
}

impl Target {
    /// The service speaks SIP (what a `sip`-scoped ban covers).
    #[inline(always)]
    pub(crate) fn is_sip(&self) -> bool {
        matches!(self.policy, Some(s) if s.flags & SERVICE_SIP != 0)
    }
}

/// The UDP payload to read for a User-Agent, if `readable` (and for credentials: see
/// `limits::attempts_verdict`).
///
/// `readable` is its own flag: the verifier tracks the offsets exactly on each parse path,
/// and a branch on them (`end != 0`) would make it keep every path apart from there on.
#[derive(Clone, Copy)]
pub(crate) struct Payload {
    readable: bool,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Requests the payload carries: 1 for UDP (a datagram is one message), 1 or more for a
    /// TCP segment; the source's bucket is charged that many.
    pub(crate) requests: u64,
}

impl Payload {
    #[inline(always)]
    pub(crate) fn readable(&self) -> bool {
        self.readable
    }
}

/// UDP, or a TCP segment with data that opens no connection: what a SIP service reads.
#[inline(always)]
fn carries_sip(pkt: &Packet) -> bool {
    match pkt.l4.proto {
        Proto::Udp => true,
        Proto::Tcp => pkt.l4.payload_len != 0 && !pkt.l4.is_syn(),
        _ => false,
    }
}

/// Resolves the packet's [`Target`] (array reads only; no verdict).
#[inline(always)]
pub(crate) fn resolve(ctx: &XdpContext, epoch: u32, policy: &Policy, pkt: &Packet) -> Target {
    let service = service_of(ctx, epoch, policy, pkt);
    let service_policy = if service == SERVICE_NONE {
        None
    } else {
        SERVICES
            .get(service_index(epoch, service))
            .filter(|s| s.flags & SERVICE_ENABLED != 0)
    };
    let service = if service_policy.is_some() {
        service
    } else {
        SERVICE_NONE
    };
    // A service in monitor mode softens its own rules (allow list, default), never bans or
    // the global deny list: those only follow the global mode.
    let monitor = policy.flags & POLICY_MONITOR != 0
        || matches!(service_policy, Some(s) if s.flags & SERVICE_MONITOR != 0);

    // UDP to a SIP service: classify it, so every verdict on it (ban, deny, allow list, ...)
    // is also counted by SIP class; keep where its payload is for the User-Agent check.
    // All fields are always set: an Option, or a later match on the enum, leaves registers
    // uninitialised on some path, which the verifier refuses to spill.
    // TCP: a segment with data (not a SYN) is read the same way, from its start; it pays for
    // every request in it ([`pipelining`]).
    let (sip_class, payload) = match service_policy {
        Some(s) if s.flags & SERVICE_SIP != 0 && carries_sip(pkt) => {
            let (start, end) = (pkt.l4.payload, pkt.l4.payload + pkt.l4.payload_len);
            let requests = if pkt.l4.proto == Proto::Tcp {
                1 + pipelining::extra_requests(ctx, start, end)
            } else {
                1
            };
            // A segment with requests after its first line pays for all of them as REGISTERs,
            // the strictest limit: it may start inside a request (a stream cut anywhere), and
            // the requests after the first are not classified one by one.
            let class = if requests > 1 {
                sip::class::REGISTER
            } else {
                sip::classify(
                    &parse::payload_head(ctx, pkt.l4.payload, pkt.l4.payload_len),
                    pkt.l4.payload_len,
                )
            };
            (
                class,
                Payload {
                    readable: policy.flags & POLICY_SCANNERS != 0,
                    start,
                    end,
                    requests,
                },
            )
        }
        _ => (
            NO_SIP_CLASS,
            Payload {
                readable: false,
                start: 0,
                end: 0,
                requests: 1,
            },
        ),
    };
    Target {
        service,
        policy: service_policy,
        monitor,
        sip_class,
        payload,
    }
}

/// (transport, destination port) or ICMP echo request -> service id (0: none); a port whose
/// services name destinations -> the one naming the packet's destination.
#[inline(always)]
fn service_of(ctx: &XdpContext, epoch: u32, policy: &Policy, pkt: &Packet) -> u32 {
    let l4 = &pkt.l4;
    let mut service = match l4.proto {
        Proto::Udp => port_service(port_index(epoch, PROTO_SLOT_UDP, l4.dport)),
        Proto::Tcp => port_service(port_index(epoch, PROTO_SLOT_TCP, l4.dport)),
        Proto::Icmp if l4.icmp == IcmpClass::EchoRequest => policy.icmp_echo_service,
        _ => SERVICE_NONE,
    };
    if service & DEST_SCOPED != 0 {
        service = dest::lookup(ctx, epoch, service);
    }
    if service < MAX_SERVICES {
        service
    } else {
        SERVICE_NONE
    }
}

#[inline(always)]
fn port_service(index: u32) -> u32 {
    match PORT_SERVICE.get(index) {
        Some(s) => *s,
        None => SERVICE_NONE,
    }
}
