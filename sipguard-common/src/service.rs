//! The policy of one service of one epoch (`SERVICES` array, index = `service_index`), its
//! flags, and the rate classes its per-source limits are kept by.
//!
//! A service is what a (transport, destination port) or an ICMP echo request resolves to; the
//! XDP program reads its entry once per packet and judges the packet by it.

use crate::sip;

/// Per-service policy of one epoch (`SERVICES` array, index = [`service_index`]).
///
/// [`service_index`]: crate::service_index
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServicePolicy {
    /// `SERVICE_*` flags.
    pub flags: u32,
    /// Per rate class ([`rate_class`]): nanoseconds between requests at the sustained rate
    /// (0: no limit), as in GCRA's emission interval.
    pub rate_interval_ns: [u32; rate_class::COUNT as usize],
    /// Per rate class: requests a source may send at once before the rate applies.
    pub rate_burst: [u32; rate_class::COUNT as usize],
    /// New TCP connections to the service from all sources together (GCRA; 0: no budget).
    pub syn_budget_interval_ns: u32,
    pub syn_budget_burst: u32,
}

pub const SERVICE_ENABLED: u32 = 1 << 0;
/// Every IPv4 / IPv6 source may use the service (no allow-list lookup).
pub const SERVICE_ALLOW_ANY_V4: u32 = 1 << 1;
pub const SERVICE_ALLOW_ANY_V6: u32 = 1 << 2;
/// The service is in monitor mode: its drops become would_drop.
pub const SERVICE_MONITOR: u32 = 1 << 3;
/// The service speaks SIP: UDP payloads are classified ([`sip::classify`]) and counted by
/// class; requests and new TCP connections are rate-limited per source.
pub const SERVICE_SIP: u32 = 1 << 4;

/// Rate-limit classes of SIP requests: every class has its own bucket per source.
pub mod rate_class {
    pub const REGISTER: u32 = 0;
    pub const INVITE: u32 = 1;
    /// OPTIONS, other requests and garbage.
    pub const OTHER: u32 = 2;
    /// New TCP connections (SYN without ACK) to a SIP service.
    pub const SYN: u32 = 3;
    /// ICMP/ICMPv6 echo requests.
    pub const ECHO: u32 = 4;
    pub const COUNT: u32 = 5;
}

/// The rate class of a SIP class, or `None` for keep-alives and responses (not limited:
/// they answer the host's own traffic).
#[inline(always)]
pub const fn rate_class_of(sip_class: u32) -> Option<u32> {
    match sip_class {
        sip::class::REGISTER => Some(rate_class::REGISTER),
        sip::class::INVITE => Some(rate_class::INVITE),
        sip::class::OPTIONS | sip::class::OTHER_REQUEST | sip::class::GARBAGE => {
            Some(rate_class::OTHER)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalives_and_responses_have_no_rate_class() {
        assert_eq!(rate_class_of(sip::class::KEEPALIVE), None);
        assert_eq!(rate_class_of(sip::class::RESPONSE), None);
        assert_eq!(
            rate_class_of(sip::class::REGISTER),
            Some(rate_class::REGISTER)
        );
        assert_eq!(rate_class_of(sip::class::GARBAGE), Some(rate_class::OTHER));
    }
}
