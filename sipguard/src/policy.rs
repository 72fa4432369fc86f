//! Translation of a validated [`Config`] plus facts about the host into map contents.
//!
//! Pure code: no syscalls here, so every rule of the translation is unit-tested on the host.
use std::net::IpAddr;

use ipnet::IpNet;
use sipguard_common::{
    rate_class, ua::Scanners, ServicePolicy, BAN_SCOPE_ALL, BAN_SCOPE_SIP, MAX_SERVICES,
    POLICY_AUTOBAN, POLICY_CONFIGURED, POLICY_DEFAULT_DROP, POLICY_MONITOR, POLICY_SCANNERS,
    PROTO_SLOT_TCP, PROTO_SLOT_UDP, SERVICE_ALLOW_ANY_V4, SERVICE_ALLOW_ANY_V6, SERVICE_ENABLED,
    SERVICE_MONITOR, SERVICE_SIP,
};

use crate::config::{Config, DefaultAction, Limit, Mode, PortRange, Protocol, ReplyPorts};

/// Facts about the host the policy is applied on.
#[derive(Clone, Debug, Default)]
pub struct HostFacts {
    /// `net.ipv4.ip_local_port_range`, used when the config says `reply_ports = "auto"`.
    pub local_port_range: Option<(u16, u16)>,
    /// The SSH session of the admin who started sipguard (from `SSH_CONNECTION`):
    /// (client address, local sshd port).
    pub admin_sessions: Vec<(IpAddr, u16)>,
}

/// One service as it goes into the maps. `name` identifies it across reloads; the map slot
/// is chosen by [`crate::maps::Maps::apply`].
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
}

impl CompiledService {
    pub fn map_value(&self) -> ServicePolicy {
        ServicePolicy {
            flags: self.flags,
            rate_interval_ns: self.rate_interval_ns,
            rate_burst: self.rate_burst,
            syn_budget_interval_ns: self.syn_budget_interval_ns,
            syn_budget_burst: self.syn_budget_burst,
        }
    }

    fn serves(&self, slot: u32, port: u16) -> bool {
        self.ports
            .iter()
            .any(|&(s, r)| s == slot && r.lo <= port && port <= r.hi)
    }

    fn allows(&self, addr: IpAddr) -> bool {
        let any = match addr {
            IpAddr::V4(_) => self.flags & SERVICE_ALLOW_ANY_V4 != 0,
            IpAddr::V6(_) => self.flags & SERVICE_ALLOW_ANY_V6 != 0,
        };
        any || self.allow.iter().any(|net| net.contains(&addr))
    }
}

/// The whole policy as it goes into one epoch of the maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledPolicy {
    /// `POLICY_*` flags except the per-epoch deny flags, which the map writer sets.
    pub flags: u32,
    pub reply_ports: Option<(u16, u16)>,
    pub services: Vec<CompiledService>,
    pub deny: Vec<IpNet>,
    /// SIP sources exempt from rate limits.
    pub trusted: Vec<IpNet>,
    pub rate_v6_prefix: u32,
    /// Drop samples per second and CPU (0: none).
    pub drop_samples: u32,
    /// Scanner User-Agent patterns (none when the check is off).
    pub scanners: Scanners,
    /// How long a source's scanner verdict is remembered, ms.
    pub scanner_recheck_ms: u32,
    /// Ban time for a scanner, s (0: drop only).
    pub scanner_ban_s: u32,
    /// Auto-ban from the PBX's answers (`POLICY_AUTOBAN` says whether it is on).
    pub autoban_failures: u32,
    pub autoban_window_ms: u32,
    pub autoban_ban_s: u32,
    pub autoban_scope: u32,
    /// Requests with credentials tolerated without a 2xx back (0: off).
    pub autoban_attempts: u32,
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
        let mut flags = POLICY_CONFIGURED;
        if config.global.default_action == DefaultAction::Drop {
            flags |= POLICY_DEFAULT_DROP;
        }
        if config.global.mode == Mode::Monitor {
            flags |= POLICY_MONITOR;
        }
        let mut notes = Vec::new();
        let reply_ports = match config.global.reply_ports {
            ReplyPorts::None => None,
            ReplyPorts::Range(r) => Some((r.lo, r.hi)),
            ReplyPorts::Auto => Some(host.local_port_range.unwrap_or_else(|| {
                notes.push(format!(
                    "could not read net.ipv4.ip_local_port_range: using the Linux default                      {}-{} as reply ports",
                    LINUX_LOCAL_PORT_RANGE.0, LINUX_LOCAL_PORT_RANGE.1
                ));
                LINUX_LOCAL_PORT_RANGE
            })),
        };
        let mut services: Vec<CompiledService> = config
            .services
            .iter()
            .map(|s| {
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
                }
            })
            .collect();

        for &(remote, local_port) in &host.admin_sessions {
            let remote = canonical(remote);
            let Some(service) = services
                .iter_mut()
                .find(|s| s.serves(PROTO_SLOT_TCP, local_port))
            else {
                // No service: packets of an established session carry ACK and pass as
                // return traffic even under default drop.
                continue;
            };
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

        let mut scanners = Scanners::default();
        if config.scanners.enabled {
            for ua in &config.scanners.user_agents {
                // Validated with the same table by the config parser.
                let _ = scanners.push(ua.as_bytes());
            }
        }
        if scanners.count > 0 {
            flags |= POLICY_SCANNERS;
        }
        let autoban = &config.autoban;
        if autoban.enabled {
            flags |= POLICY_AUTOBAN;
        }
        Self {
            flags,
            reply_ports,
            services,
            scanners,
            scanner_recheck_ms: u32::try_from(config.scanners.recheck.as_millis())
                .unwrap_or(u32::MAX),
            scanner_ban_s: config
                .scanners
                .ban
                .map_or(0, |d| u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX)),
            autoban_failures: autoban.failures,
            autoban_window_ms: u32::try_from(autoban.window.as_millis()).unwrap_or(u32::MAX),
            autoban_ban_s: u32::try_from(autoban.ban.as_secs()).unwrap_or(u32::MAX),
            autoban_scope: if autoban.sip_only {
                BAN_SCOPE_SIP
            } else {
                BAN_SCOPE_ALL
            },
            autoban_attempts: autoban.attempts,
            deny: config.global.deny.clone(),
            trusted: config.global.trusted.clone(),
            rate_v6_prefix: u32::from(config.global.rate_ipv6_prefix),
            drop_samples: config.global.drop_samples,
            notes,
        }
    }

    /// Number of services, checked against the map's slots (slot 0 means "none").
    pub fn fits(&self) -> bool {
        self.services.len() < MAX_SERVICES as usize
    }

    /// How the data plane treats a new connection (TCP SYN) or datagram to `port` on
    /// transport `slot` (`PROTO_SLOT_TCP`/`PROTO_SLOT_UDP`) from a source it knows nothing
    /// about (not denied, banned or trusted), for a socket reachable over IPv4 (`v4`), IPv6
    /// (`v6`) or both: steps 5 and 6 of the verdict path plus the monitor modes. Used by
    /// `sipguard audit` to tell which listening sockets the policy leaves open to the world.
    pub fn exposure(&self, slot: u32, port: u16, v4: bool, v6: bool) -> Exposure {
        let service = self.services.iter().find(|s| s.serves(slot, port));
        if self.flags & POLICY_MONITOR != 0 {
            return Exposure::Open {
                service: service.map(|s| s.name.clone()),
                why: "the policy is in monitor mode: nothing is dropped".into(),
            };
        }
        let Some(s) = service else {
            if self.flags & POLICY_DEFAULT_DROP == 0 {
                return Exposure::Open {
                    service: None,
                    why: "no service covers it and the default is pass".into(),
                };
            }
            if slot == PROTO_SLOT_UDP
                && self
                    .reply_ports
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

/// GCRA's emission interval for a limit: nanoseconds between requests at the sustained rate
/// (0: unlimited).
fn interval_ns(limit: Limit) -> u32 {
    1_000_000_000u32.checked_div(limit.rate).unwrap_or(0)
}

/// Linux's default `ip_local_port_range`, used when the host's can't be read.
pub const LINUX_LOCAL_PORT_RANGE: (u16, u16) = (32768, 60999);

/// IPv4-mapped IPv6 addresses (dual-stack sockets) are IPv4 on the wire.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_str(text, "test.toml").expect("valid test config")
    }

    const SSH_PRIVATE: &str = r#"
        [[service]]
        name = "ssh"
        protocol = "tcp"
        ports = [22]
        allow = ["10.0.0.0/8"]
    "#;

    #[test]
    fn default_drop_and_monitor_become_policy_flags() {
        let c = config("[global]\ndefault = \"drop\"\nmode = \"monitor\"\n");
        let p = CompiledPolicy::compile(&c, &HostFacts::default());
        assert_eq!(
            p.flags,
            POLICY_CONFIGURED
                | POLICY_DEFAULT_DROP
                | POLICY_MONITOR
                | POLICY_SCANNERS
                | POLICY_AUTOBAN
        );
    }

    #[test]
    fn scanner_patterns_and_times_reach_the_policy() {
        let c = config(
            "[scanners]\nuser_agents = [\"Evil-Scan\"]\nban = \"15m\"\nrecheck = \"250ms\"\n",
        );
        let p = CompiledPolicy::compile(&c, &HostFacts::default());
        assert_ne!(p.flags & POLICY_SCANNERS, 0);
        assert_eq!(p.scanners.count, 1);
        assert_eq!(&p.scanners.patterns[0].bytes[..9], b"evil-scan");
        assert_eq!(p.scanner_ban_s, 900);
        assert_eq!(p.scanner_recheck_ms, 250);
    }

    #[test]
    fn disabled_scanners_leave_no_patterns() {
        let c = config("[scanners]\nenabled = false\n");
        let p = CompiledPolicy::compile(&c, &HostFacts::default());
        assert_eq!(p.flags & POLICY_SCANNERS, 0);
        assert_eq!(p.scanners.count, 0);
    }

    #[test]
    fn auto_reply_ports_come_from_the_host() {
        let c = config("[global]\nreply_ports = \"auto\"\n");
        let host = HostFacts {
            local_port_range: Some((32768, 60999)),
            ..Default::default()
        };
        assert_eq!(
            CompiledPolicy::compile(&c, &host).reply_ports,
            Some((32768, 60999))
        );
    }

    #[test]
    fn udp_and_tcp_service_gets_ports_in_both_slots() {
        let c = config(
            "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\nallow = [\"any\"]\n",
        );
        let p = CompiledPolicy::compile(&c, &HostFacts::default());
        let s = &p.services[0];
        assert_eq!(s.ports.len(), 2);
        assert!(s.serves(PROTO_SLOT_UDP, 5060) && s.serves(PROTO_SLOT_TCP, 5060));
        assert_eq!(
            s.flags,
            SERVICE_ENABLED | SERVICE_ALLOW_ANY_V4 | SERVICE_ALLOW_ANY_V6
        );
    }

    /// A host with the Linux default port range and the given admin SSH sessions.
    fn admin_host(admin_sessions: Vec<(IpAddr, u16)>) -> HostFacts {
        HostFacts {
            local_port_range: Some(LINUX_LOCAL_PORT_RANGE),
            admin_sessions,
        }
    }

    #[test]
    fn sip_limits_become_intervals_and_bursts_per_class() {
        let c = config(
            "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\nsip = true\n[service.limits]\nregister = { rate = 4, burst = 8 }\ninvite = { rate = 0, burst = 1 }\n",
        );
        let s = &CompiledPolicy::compile(&c, &admin_host(vec![])).services[0];
        // other and syn: defaults (100/s burst 500, 5/s burst 20)
        assert_eq!(
            s.rate_interval_ns,
            [250_000_000, 0, 10_000_000, 200_000_000, 200_000_000]
        );
        assert_eq!(s.rate_burst, [8, 1, 500, 20, 10]);
        assert_eq!(
            (s.syn_budget_interval_ns, s.syn_budget_burst),
            (1_000_000, 2000)
        );
        assert_ne!(s.flags & SERVICE_SIP, 0);
    }

    #[test]
    fn unreadable_port_range_falls_back_to_the_linux_default_with_a_note() {
        let c = config("[global]\nreply_ports = \"auto\"\n");
        let p = CompiledPolicy::compile(&c, &HostFacts::default());
        assert_eq!(p.reply_ports, Some(LINUX_LOCAL_PORT_RANGE));
        assert_eq!(p.notes.len(), 1);
    }

    #[test]
    fn established_admin_session_outside_the_allow_list_is_kept() {
        let c = config(SSH_PRIVATE);
        let host = admin_host(vec![("203.0.113.9".parse().unwrap(), 22)]);
        let p = CompiledPolicy::compile(&c, &host);
        assert!(p.services[0]
            .allow
            .contains(&"203.0.113.9/32".parse().unwrap()));
        assert_eq!(p.notes.len(), 1);
    }

    #[test]
    fn established_session_already_allowed_adds_nothing() {
        let c = config(SSH_PRIVATE);
        let host = admin_host(vec![("10.1.2.3".parse().unwrap(), 22)]);
        let p = CompiledPolicy::compile(&c, &host);
        assert_eq!(p.services[0].allow.len(), 1);
        assert!(p.notes.is_empty());
    }

    #[test]
    fn established_session_from_mapped_ipv6_is_kept_as_ipv4() {
        let c = config(SSH_PRIVATE);
        let host = admin_host(vec![("::ffff:203.0.113.9".parse().unwrap(), 22)]);
        let p = CompiledPolicy::compile(&c, &host);
        assert!(p.services[0]
            .allow
            .contains(&"203.0.113.9/32".parse().unwrap()));
    }

    #[test]
    fn admin_session_to_a_port_of_no_service_adds_nothing() {
        let c = config(SSH_PRIVATE);
        // sshd on 2222, which is no service: the session's packets pass as replies
        let host = admin_host(vec![("203.0.113.9".parse().unwrap(), 2222)]);
        assert!(CompiledPolicy::compile(&c, &host).notes.is_empty());
    }

    #[test]
    fn exposure_follows_services_default_reply_ports_and_monitor() {
        let host = HostFacts {
            local_port_range: Some((32768, 60999)),
            admin_sessions: vec![],
        };
        let p = CompiledPolicy::compile(&Config::builtin_default(), &host);
        let open = |e: &Exposure| matches!(e, Exposure::Open { .. });
        assert!(open(&p.exposure(PROTO_SLOT_UDP, 5060, true, true)));
        assert!(matches!(
            p.exposure(PROTO_SLOT_TCP, 5038, true, true),
            Exposure::Restricted { ref service, .. } if service == "ami"
        ));
        assert_eq!(
            p.exposure(PROTO_SLOT_TCP, 3306, true, true),
            Exposure::Dropped
        );
        assert_eq!(
            p.exposure(PROTO_SLOT_TCP, 40000, true, true),
            Exposure::Dropped
        );
        assert!(
            open(&p.exposure(PROTO_SLOT_UDP, 40000, true, true)),
            "reply ports pass"
        );
        let c = config(
            "[global]\ndefault = \"pass\"\n[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"any6\"]\nmode = \"monitor\"\n[[service]]\nname = \"web\"\nprotocol = \"tcp\"\nports = [80]\nallow = [\"any6\"]\n",
        );
        let p = CompiledPolicy::compile(&c, &host);
        assert!(
            open(&p.exposure(PROTO_SLOT_TCP, 3306, true, false)),
            "default pass"
        );
        assert!(
            open(&p.exposure(PROTO_SLOT_TCP, 22, true, false)),
            "service monitor"
        );
        assert!(
            !open(&p.exposure(PROTO_SLOT_TCP, 80, true, false)),
            "any6 on an IPv4 socket"
        );
        assert!(open(&p.exposure(PROTO_SLOT_TCP, 80, false, true)));
        let p = CompiledPolicy::compile(&config("[global]\nmode = \"monitor\"\n"), &host);
        assert!(
            open(&p.exposure(PROTO_SLOT_TCP, 3306, true, true)),
            "global monitor"
        );
    }
}
