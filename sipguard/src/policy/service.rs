//! One `[[service]]` as it goes into the maps: its `ServicePolicy` value (flags, GCRA
//! intervals and bursts per rate class), its (transport, port range) pairs and allow list.
use std::net::IpAddr;

use ipnet::IpNet;
use sipguard_common::{
    rate_class, ServicePolicy, PROTO_SLOT_TCP, PROTO_SLOT_UDP, SERVICE_ALLOW_ANY_V4,
    SERVICE_ALLOW_ANY_V6, SERVICE_ENABLED, SERVICE_MONITOR, SERVICE_SIP,
};

use crate::config::{Limit, Mode, PortRange, Protocol, Service};

/// One service as it goes into the maps. `name` identifies it across reloads; the map slot
/// is chosen by the map writer (`Maps::apply`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledService {
    pub name: String,
    pub flags: u32,
    /// Per rate class: ns between requests (0: unlimited) and burst.
    pub rate_interval_ns: [u32; rate_class::COUNT as usize],
    pub rate_burst: [u32; rate_class::COUNT as usize],
    pub syn_budget_interval_ns: u32,
    pub syn_budget_burst: u32,
    /// (transport slot, port range)
    pub ports: Vec<(u32, PortRange)>,
    pub icmp: bool,
    pub allow: Vec<IpNet>,
    /// The destinations it protects (`to`); empty: every destination.
    pub to: Vec<IpNet>,
}

impl CompiledService {
    /// Translates one validated service.
    pub(super) fn compile(s: &Service) -> Self {
        let mut flags = SERVICE_ENABLED;
        if s.allow_any_v4 {
            flags |= SERVICE_ALLOW_ANY_V4;
        }
        if s.allow_any_v6 {
            flags |= SERVICE_ALLOW_ANY_V6;
        }
        // Global monitor is applied through the policy flag; a per-service
        // "monitor" is the service's own.
        if s.mode == Some(Mode::Monitor) {
            flags |= SERVICE_MONITOR;
        }
        if s.sip {
            flags |= SERVICE_SIP;
        }
        let mut ports = Vec::new();
        for p in &s.protocols {
            let slot = match p {
                Protocol::Udp => PROTO_SLOT_UDP,
                Protocol::Tcp => PROTO_SLOT_TCP,
                Protocol::Icmp => continue,
            };
            ports.extend(s.ports.iter().map(|&r| (slot, r)));
        }
        let mut rate_interval_ns = [0u32; rate_class::COUNT as usize];
        let mut rate_burst = [1u32; rate_class::COUNT as usize];
        let mut syn_budget = (0, 1);
        if let Some(l) = s.limits {
            for (class, limit) in [
                (rate_class::REGISTER, l.register),
                (rate_class::INVITE, l.invite),
                (rate_class::OTHER, l.other),
                (rate_class::SYN, l.syn),
                (rate_class::ECHO, l.echo),
            ] {
                rate_interval_ns[class as usize] = interval_ns(limit);
                rate_burst[class as usize] = limit.burst;
            }
            syn_budget = (interval_ns(l.syn_budget), l.syn_budget.burst);
        }
        CompiledService {
            name: s.name.clone(),
            flags,
            rate_interval_ns,
            rate_burst,
            syn_budget_interval_ns: syn_budget.0,
            syn_budget_burst: syn_budget.1,
            ports,
            icmp: s.protocols.contains(&Protocol::Icmp),
            allow: s.allow.clone(),
            to: s.to.clone(),
        }
    }

    /// The `SERVICES` map value.
    pub fn map_value(&self) -> ServicePolicy {
        ServicePolicy {
            flags: self.flags,
            rate_interval_ns: self.rate_interval_ns,
            rate_burst: self.rate_burst,
            syn_budget_interval_ns: self.syn_budget_interval_ns,
            syn_budget_burst: self.syn_budget_burst,
        }
    }

    /// Whether the service covers `port` on transport `slot`.
    pub(super) fn serves(&self, slot: u32, port: u16) -> bool {
        self.ports
            .iter()
            .any(|&(s, r)| s == slot && r.lo <= port && port <= r.hi)
    }

    /// Whether the allow list (or an `any`) admits `addr`.
    pub(super) fn allows(&self, addr: IpAddr) -> bool {
        let any = match addr {
            IpAddr::V4(_) => self.flags & SERVICE_ALLOW_ANY_V4 != 0,
            IpAddr::V6(_) => self.flags & SERVICE_ALLOW_ANY_V6 != 0,
        };
        any || self.allow.iter().any(|net| net.contains(&addr))
    }
}

/// GCRA's emission interval for a limit: nanoseconds between requests at the sustained rate
/// (0: unlimited).
fn interval_ns(limit: Limit) -> u32 {
    1_000_000_000u32.checked_div(limit.rate).unwrap_or(0)
}
