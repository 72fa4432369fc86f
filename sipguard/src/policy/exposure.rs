//! Who reaches a listening port under a compiled policy: the data plane's verdict for a
//! stranger's first packet, for `sipguard audit`.
use ipnet::IpNet;
use sipguard_common::{
    POLICY_DEFAULT_DROP, POLICY_MONITOR, PROTO_SLOT_UDP, SERVICE_ALLOW_ANY_V4,
    SERVICE_ALLOW_ANY_V6, SERVICE_MONITOR,
};

use super::CompiledPolicy;

impl CompiledPolicy {
    /// How the data plane treats a new connection (TCP SYN) or datagram to `port` on
    /// transport `slot` (`PROTO_SLOT_TCP`/`PROTO_SLOT_UDP`) from a source it knows nothing
    /// about (not denied, banned or trusted), for a socket reachable over IPv4 (`v4`), IPv6
    /// (`v6`) or both: the default-policy and allow-list steps of the pipeline
    /// (`sipguard-ebpf/src/ingress/mod.rs`) plus the monitor modes. Used by
    /// `sipguard audit` to tell which listening sockets the policy leaves open to the world.
    pub fn exposure(&self, slot: u32, port: u16, v4: bool, v6: bool) -> Exposure {
        let service = self.services.iter().find(|s| s.serves(slot, port));
        if self.settings.flags & POLICY_MONITOR != 0 {
            return Exposure::Open {
                service: service.map(|s| s.name.clone()),
                why: "the policy is in monitor mode: nothing is dropped".into(),
            };
        }
        let Some(s) = service else {
            if self.settings.flags & POLICY_DEFAULT_DROP == 0 {
                return Exposure::Open {
                    service: None,
                    why: "no service covers it and the default is pass".into(),
                };
            }
            if slot == PROTO_SLOT_UDP
                && self
                    .reply_ports()
                    .is_some_and(|(lo, hi)| lo <= port && port <= hi)
            {
                return Exposure::Open {
                    service: None,
                    why: "it is in the UDP reply-port range, which passes under default drop"
                        .into(),
                };
            }
            return Exposure::Dropped;
        };
        if s.flags & SERVICE_MONITOR != 0 {
            return Exposure::Open {
                service: Some(s.name.clone()),
                why: format!(
                    "service {:?} is in monitor mode: nothing is dropped",
                    s.name
                ),
            };
        }
        let any = (v4 && s.flags & SERVICE_ALLOW_ANY_V4 != 0)
            || (v6 && s.flags & SERVICE_ALLOW_ANY_V6 != 0);
        if any {
            return Exposure::Open {
                service: Some(s.name.clone()),
                why: format!("service {:?} allows any source", s.name),
            };
        }
        Exposure::Restricted {
            service: s.name.clone(),
            allow: s.allow.clone(),
        }
    }
}

/// Who reaches a port under a policy: see [`CompiledPolicy::exposure`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// Any source reaches it; `service` is the one covering the port, if any.
    Open {
        service: Option<String>,
        why: String,
    },
    /// Only the service's allow list reaches it.
    Restricted { service: String, allow: Vec<IpNet> },
    /// No service covers it and the default drops it.
    Dropped,
}
