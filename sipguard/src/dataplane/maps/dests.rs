//! Where a policy's destinations go: the `PORT_SERVICE` values, the icmp service and the
//! destination-trie entries of one epoch, from the compiled policy and its service slots.
//!
//! A port served by one service without `to` maps to that service's slot, as always. A port
//! whose services name their destinations maps to a destination group (`DEST_SCOPED` | group):
//! every port served by the same set of services shares one group, and the group's trie
//! entries map each destination of each of those services to its slot. Group
//! `DEST_GROUP_PROTECT` holds `[global] protect`. Pure: unit-tested without root.
use std::collections::HashMap;

use ipnet::IpNet;
use sipguard_common::{DEST_GROUPS, DEST_GROUP_PROTECT, DEST_SCOPED, PORTS, PROTO_SLOTS};

use crate::policy::CompiledPolicy;

/// One epoch's port table and destination entries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct DestLayout {
    /// `PORT_SERVICE` value per (transport slot, port), index `slot * PORTS + port`.
    pub ports: Vec<u32>,
    /// `Policy::icmp_echo_service`.
    pub icmp: u32,
    /// (group, destination, value): a service slot, or 1 for a protected host.
    pub entries: Vec<(u32, IpNet, u32)>,
}

impl DestLayout {
    /// Entries of the IPv4 and the IPv6 trie.
    pub fn counts(&self) -> (usize, usize) {
        let v4 = self
            .entries
            .iter()
            .filter(|(_, n, _)| matches!(n, IpNet::V4(_)))
            .count();
        (v4, self.entries.len() - v4)
    }
}

/// The layout of `policy` with its services in `slots` (the policy's order).
pub(crate) fn layout(policy: &CompiledPolicy, slots: &[u32]) -> DestLayout {
    // Which services (bit = index in the policy) serve each port; at most 31.
    let mut served = vec![0u32; (PROTO_SLOTS * PORTS) as usize];
    let mut icmp_mask = 0u32;
    for (i, s) in policy.services.iter().enumerate() {
        for &(proto, range) in &s.ports {
            for port in range.lo..=range.hi {
                served[(proto * PORTS + port as u32) as usize] |= 1 << i;
            }
        }
        if s.icmp {
            icmp_mask |= 1 << i;
        }
    }
    let mut out = DestLayout {
        ports: vec![0; served.len()],
        icmp: 0,
        entries: policy
            .protect
            .iter()
            .map(|&net| (DEST_GROUP_PROTECT, net, 1))
            .collect(),
    };
    let mut groups: HashMap<u32, u32> = HashMap::new();
    let mut value_of = |mask: u32, entries: &mut Vec<(u32, IpNet, u32)>| -> u32 {
        if mask == 0 {
            return 0;
        }
        let members = || (0..policy.services.len()).filter(move |i| mask & (1 << i) != 0);
        let scoped = members().any(|i| !policy.services[i].to.is_empty());
        if !scoped {
            // Validation leaves one service per port without destinations.
            return members().next().map_or(0, |i| slots[i]);
        }
        if let Some(&g) = groups.get(&mask) {
            return DEST_SCOPED | g;
        }
        let g = groups.len() as u32 + 1;
        debug_assert!(g < DEST_GROUPS);
        groups.insert(mask, g);
        for i in members() {
            let s = &policy.services[i];
            // A service without `to` among scoped ones (validation refuses it): it keeps
            // every destination the others do not name, the trie's longest match.
            let every = [
                IpNet::V4(ipnet::Ipv4Net::default()),
                IpNet::V6(ipnet::Ipv6Net::default()),
            ];
            let nets: &[IpNet] = if s.to.is_empty() { &every } else { &s.to };
            entries.extend(nets.iter().map(|&n| (g, n, slots[i])));
        }
        DEST_SCOPED | g
    };
    for (k, &mask) in served.iter().enumerate() {
        out.ports[k] = value_of(mask, &mut out.entries);
    }
    out.icmp = value_of(icmp_mask, &mut out.entries);
    out
}

#[cfg(test)]
mod tests {
    use sipguard_common::{PROTO_SLOT_TCP, PROTO_SLOT_UDP};

    use super::*;
    use crate::{
        config::Config,
        policy::{CompiledPolicy, HostFacts},
    };

    fn compile(toml: &str) -> CompiledPolicy {
        let config = Config::from_str(toml, "test.toml").unwrap();
        CompiledPolicy::compile(&config, &HostFacts::default())
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    const TWO_PBXS: &str = r#"
[global]
protect = ["203.0.113.1", "203.0.113.10", "203.0.113.20", "2001:db8::10"]

[[service]]
name = "sip-a"
protocol = "udp"
ports = 5060
allow = ["any"]
sip = true
to = ["203.0.113.10", "2001:db8::10"]

[[service]]
name = "sip-b"
protocol = "udp"
ports = 5060
allow = ["198.51.100.0/24"]
sip = true
to = ["203.0.113.20"]

[[service]]
name = "ssh-box"
protocol = "tcp"
ports = 22
allow = ["192.0.2.0/24"]
to = ["203.0.113.1"]

[[service]]
name = "web"
protocol = "tcp"
ports = 443
allow = ["any"]
"#;

    #[test]
    fn a_port_without_destinations_maps_to_its_slot() {
        let l = layout(&compile(TWO_PBXS), &[1, 2, 3, 4]);
        assert_eq!(l.ports[(PROTO_SLOT_TCP * PORTS + 443) as usize], 4);
        assert_eq!(l.ports[(PROTO_SLOT_TCP * PORTS + 80) as usize], 0);
    }

    #[test]
    fn services_sharing_a_port_share_one_group_told_apart_by_destination() {
        let l = layout(&compile(TWO_PBXS), &[1, 2, 3, 4]);
        let sip = l.ports[(PROTO_SLOT_UDP * PORTS + 5060) as usize];
        assert_eq!(sip & DEST_SCOPED, DEST_SCOPED);
        let g = sip & !DEST_SCOPED;
        let mut of_group: Vec<_> = l.entries.iter().filter(|e| e.0 == g).collect();
        of_group.sort_by_key(|e| e.2);
        assert_eq!(
            of_group,
            [
                &(g, net("203.0.113.10/32"), 1),
                &(g, net("2001:db8::10/128"), 1),
                &(g, net("203.0.113.20/32"), 2),
            ]
        );
    }

    #[test]
    fn a_single_service_with_destinations_gets_its_own_group() {
        let l = layout(&compile(TWO_PBXS), &[1, 2, 3, 4]);
        let ssh = l.ports[(PROTO_SLOT_TCP * PORTS + 22) as usize];
        let sip = l.ports[(PROTO_SLOT_UDP * PORTS + 5060) as usize];
        assert_eq!(ssh & DEST_SCOPED, DEST_SCOPED);
        assert_ne!(ssh, sip);
        let g = ssh & !DEST_SCOPED;
        assert!(l.entries.contains(&(g, net("203.0.113.1/32"), 3)));
    }

    #[test]
    fn protect_fills_group_zero() {
        let l = layout(&compile(TWO_PBXS), &[1, 2, 3, 4]);
        let protect: Vec<_> = l.entries.iter().filter(|e| e.0 == 0).collect();
        assert_eq!(protect.len(), 4);
        assert!(protect.iter().all(|e| e.2 == 1));
        assert_eq!(l.counts(), (3 + 2 + 1, 1 + 1));
    }

    #[test]
    fn a_range_served_by_the_same_services_is_one_group() {
        let l = layout(
            &compile(
                r#"
[[service]]
name = "rtp-a"
protocol = "udp"
ports = "10000-20000"
allow = ["any"]
to = ["10.0.0.1"]

[[service]]
name = "rtp-b"
protocol = "udp"
ports = "10000-20000"
allow = ["any"]
to = ["10.0.0.2"]
"#,
            ),
            &[5, 6],
        );
        let first = l.ports[(PROTO_SLOT_UDP * PORTS + 10000) as usize];
        assert_eq!(first & DEST_SCOPED, DEST_SCOPED);
        assert!((10000..=20000).all(|p| l.ports[(PROTO_SLOT_UDP * PORTS + p) as usize] == first));
        assert_eq!(l.entries.len(), 2, "{:?}", l.entries);
    }

    #[test]
    fn icmp_services_with_destinations_are_a_group() {
        let l = layout(
            &compile(
                r#"
[[service]]
name = "ping-box"
protocol = "icmp"
allow = ["any"]
to = ["203.0.113.1"]

[[service]]
name = "ping-pbx"
protocol = "icmp"
allow = ["192.0.2.0/24"]
to = ["203.0.113.10"]
"#,
            ),
            &[1, 2],
        );
        assert_eq!(l.icmp & DEST_SCOPED, DEST_SCOPED);
        let g = l.icmp & !DEST_SCOPED;
        assert!(l.entries.contains(&(g, net("203.0.113.1/32"), 1)));
        assert!(l.entries.contains(&(g, net("203.0.113.10/32"), 2)));
    }
}
