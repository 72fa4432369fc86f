//! Translation of a validated [`Config`] plus facts about the host into map contents.
//!
//! [`CompiledPolicy::compile`] is where a policy becomes what the data plane reads: the
//! per-epoch global settings as the very `sipguard_common::Policy` value the map writer
//! stores (`settings.rs`), one `ServicePolicy` per service with its ports and allow list
//! ([`service`]), the deny and trusted lists and the scanner table. The map writer adds only
//! what depends on the maps' state: the service slots and the `POLICY_HAS_*` flags of the
//! lists it wrote.
//!
//! Pure code apart from reading [`HostFacts`]: every rule of the translation is unit-tested on
//! the host, down to the values that reach the kernel.

use ipnet::IpNet;
use sipguard_common::{ua::Scanners, Policy, MAX_SERVICES, PROTO_SLOT_TCP};

use crate::config::Config;

mod exposure;
mod host_facts;
mod service;
mod settings;
#[cfg(test)]
mod tests;

pub use exposure::Exposure;
pub use host_facts::{HostFacts, LINUX_LOCAL_PORT_RANGE};
pub use service::CompiledService;

/// The whole policy as it goes into one epoch of the maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// The `POLICY` map value, as written, except what the map writer fills in: the
    /// `POLICY_HAS_*` flags and `icmp_echo_service` (a slot).
    pub settings: Policy,
    pub services: Vec<CompiledService>,
    pub deny: Vec<IpNet>,
    /// SIP sources exempt from rate limits.
    pub trusted: Vec<IpNet>,
    /// The protected hosts (`[global] protect`); empty: every destination.
    pub protect: Vec<IpNet>,
    /// Scanner User-Agent patterns (none when the check is off).
    pub scanners: Scanners,
    /// What the translation decided on its own, for the log (kept admin sessions...).
    pub notes: Vec<String>,
}

impl CompiledPolicy {
    /// Translates `config` for a host. The SSH session of the admin who started sipguard, if
    /// the policy would cut it, gets a /32 or /128 allow entry in its service and a note:
    /// applying a policy must never lock out the person applying it. Only that session:
    /// exempting every established session would whitelist the brute-forcers connected at
    /// that moment.
    pub fn compile(config: &Config, host: &HostFacts) -> Self {
        let mut notes = Vec::new();
        let reply_ports = settings::reply_ports(config.global.reply_ports, host, &mut notes);
        let mut services: Vec<CompiledService> = config
            .services
            .iter()
            .map(CompiledService::compile)
            .collect();
        keep_admin_sessions(&mut services, host, &mut notes);
        let mut scanners = Scanners::default();
        if config.scanners.enabled {
            for ua in &config.scanners.user_agents {
                // Validated with the same table by the config parser.
                let _ = scanners.push(ua.as_bytes());
            }
        }
        Self {
            settings: settings::settings(config, reply_ports, &scanners),
            services,
            deny: config.global.deny.clone(),
            trusted: config.global.trusted.clone(),
            protect: config.global.protect.clone(),
            scanners,
            notes,
        }
    }

    /// Number of services, checked against the map's slots (slot 0 means "none").
    pub fn fits(&self) -> bool {
        self.services.len() < MAX_SERVICES as usize
    }

    /// The UDP ports treated as replies to the host's own sockets under default drop.
    pub fn reply_ports(&self) -> Option<(u16, u16)> {
        let (lo, hi) = (self.settings.reply_port_lo, self.settings.reply_port_hi);
        (lo != 0).then_some((lo, hi))
    }
}

/// Adds the admin's SSH session to the allow list of the service that would cut it.
fn keep_admin_sessions(
    services: &mut [CompiledService],
    host: &HostFacts,
    notes: &mut Vec<String>,
) {
    for &(remote, local_port) in &host.admin_sessions {
        // IPv4-mapped IPv6 addresses (dual-stack sockets) are IPv4 on the wire.
        let remote = crate::parse::fold_addr(remote);
        // No service: packets of an established session carry ACK and pass as return
        // traffic even under default drop. Several (told apart by `to`): the session's local
        // address is not known here, so each of them keeps it.
        for service in services
            .iter_mut()
            .filter(|s| s.serves(PROTO_SLOT_TCP, local_port))
        {
            if service.allows(remote) {
                continue;
            }
            let net = IpNet::from(remote);
            notes.push(format!(
                "keeping your SSH session from {remote} to tcp port {local_port} open: added \
                 {net} to the allow list of service {:?} (add it to the config to make it \
                 permanent)",
                service.name
            ));
            service.allow.push(net);
        }
    }
}
