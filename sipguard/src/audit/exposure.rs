//! Listening sockets judged against the sipguard policy: admin services the policy leaves
//! open to the world, and SIP ports it does not cover with a `sip = true` service. The
//! question "who reaches this port" is the compiled policy's own
//! ([`CompiledPolicy::exposure`]), so the audit judges exactly what the data plane enforces.
use std::collections::BTreeSet;

use sipguard_common::{PROTO_SLOT_TCP, PROTO_SLOT_UDP, SERVICE_SIP};

use super::{
    asterisk,
    sockets::{Listener, Proto},
    Finding, Location, Paths, Severity,
};
use crate::{
    config::Config,
    policy::{CompiledPolicy, Exposure},
};

/// Admin services nobody outside should reach: (protocol, port, what, severity when open).
pub const ADMIN_SERVICES: &[(Proto, u16, &str, Severity)] = &[
    (
        Proto::Tcp,
        5038,
        "AMI (Asterisk Manager Interface)",
        Severity::High,
    ),
    (Proto::Tcp, 3306, "MySQL/MariaDB", Severity::High),
    (Proto::Tcp, 5432, "PostgreSQL", Severity::High),
    (Proto::Tcp, 21, "FTP", Severity::High),
    (
        Proto::Udp,
        69,
        "TFTP (phone provisioning files hold SIP secrets)",
        Severity::High,
    ),
    (Proto::Tcp, 23, "telnet", Severity::High),
    (Proto::Tcp, 8021, "FreeSWITCH event socket", Severity::High),
    (Proto::Tcp, 6379, "Redis", Severity::High),
    (Proto::Tcp, 11211, "memcached", Severity::High),
    (Proto::Udp, 11211, "memcached", Severity::High),
    (Proto::Tcp, 22, "SSH", Severity::Medium),
    (Proto::Tcp, 80, "HTTP (admin GUI)", Severity::Medium),
    (Proto::Tcp, 443, "HTTPS (admin GUI)", Severity::Medium),
    (Proto::Tcp, 8080, "HTTP (admin GUI)", Severity::Medium),
    (Proto::Tcp, 8443, "HTTPS (admin GUI)", Severity::Medium),
    (Proto::Tcp, 8088, "Asterisk HTTP/ARI", Severity::Medium),
    (Proto::Tcp, 8089, "Asterisk HTTPS/ARI", Severity::Medium),
    (Proto::Tcp, 9090, "Cockpit", Severity::Medium),
    (Proto::Tcp, 10000, "Webmin", Severity::Medium),
    (Proto::Udp, 161, "SNMP", Severity::Medium),
];

/// Ports PBXs speak SIP on by default (chan_sip/pjsip 5060/5061, FreePBX's chan_sip 5160/5161
/// beside pjsip, FreeSWITCH's external profile 5080/5081).
const DEFAULT_SIP_PORTS: &[u16] = &[5060, 5061, 5080, 5081, 5160, 5161];

/// The SIP ports of this PBX: the defaults plus those its configs bind.
pub fn sip_ports(paths: &Paths) -> BTreeSet<u16> {
    let mut ports: BTreeSet<u16> = DEFAULT_SIP_PORTS.iter().copied().collect();
    let port_of = |v: &str| {
        v.rsplit(':')
            .next()
            .and_then(|p| p.trim().parse::<u16>().ok())
    };
    if let Some(c) = asterisk::load(&paths.asterisk.join("sip.conf"), &paths.root) {
        let g = c.merged("general");
        ports.extend(
            g.value("bindport")
                .and_then(|p| p.trim().parse::<u16>().ok()),
        );
        for k in ["udpbindaddr", "tcpbindaddr", "tlsbindaddr"] {
            ports.extend(g.value(k).and_then(port_of));
        }
    }
    if let Some(c) = asterisk::load(&paths.asterisk.join("pjsip.conf"), &paths.root) {
        for s in c.objects() {
            let e = c.effective(s);
            if e.value("type")
                .is_some_and(|t| t.eq_ignore_ascii_case("transport"))
            {
                ports.extend(e.value("bind").and_then(port_of));
            }
        }
    }
    ports
}

pub fn audit(
    config: &Config,
    listeners: &[Listener],
    sip_ports: &BTreeSet<u16>,
    out: &mut Vec<Finding>,
) {
    let policy = CompiledPolicy::compile(config, &crate::policy::HostFacts::read());
    let is_sip_service = |name: &str| {
        policy
            .services
            .iter()
            .any(|s| s.name == name && s.flags & SERVICE_SIP != 0)
    };
    for l in listeners.iter().filter(|l| !l.loopback()) {
        let slot = match l.proto {
            Proto::Tcp => PROTO_SLOT_TCP,
            Proto::Udp => PROTO_SLOT_UDP,
        };
        let (v4, v6) = l.families();
        let exposure = policy.exposure(slot, l.port, v4, v6);
        let loc = Location::Socket(l.to_string());
        let admin = ADMIN_SERVICES
            .iter()
            .find(|(p, port, _, _)| *p == l.proto && *port == l.port);
        if let Some(&(_, port, what, severity)) = admin {
            let (service, why) =
                match &exposure {
                    Exposure::Open { service, why } => (service, why),
                    Exposure::Restricted { service, allow } => {
                        out.push(Finding::new(
                        Severity::Info,
                        "socket.admin-restricted",
                        loc,
                        format!(
                            "{what} listens on {}; the policy's service {service:?} lets only {} \
                             reach it",
                            l.addr,
                            if allow.is_empty() {
                                "nobody".to_owned()
                            } else {
                                allow.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                            }
                        ),
                        "nothing to do if those are your networks; bind it to 127.0.0.1 if only \
                         this host uses it",
                    ));
                        continue;
                    }
                    Exposure::Dropped => continue,
                };
            out.push(Finding::new(
                severity,
                "socket.admin-open",
                loc,
                format!("{what} listens on {} and the sipguard policy leaves it open to the world: {why}", l.addr),
                match service {
                    Some(s) => format!(
                        "allow only your office/management ranges in service {s:?} of the \
                         policy (then `sipguard check` and `sipguard reload`), or bind the \
                         service to 127.0.0.1"
                    ),
                    None => format!(
                        "add a service for {}/{port} that allows only your office/management \
                         ranges, or bind the service to 127.0.0.1 or stop it if nobody needs it",
                        l.proto
                    ),
                },
            ));
        } else if sip_ports.contains(&l.port) {
            let covering = match &exposure {
                Exposure::Open { service, .. } => service.clone(),
                Exposure::Restricted { service, .. } => Some(service.clone()),
                Exposure::Dropped => None,
            };
            match (covering, &exposure) {
                (Some(s), _) if is_sip_service(&s) => {}
                (Some(s), _) => out.push(Finding::new(
                    Severity::Medium,
                    "socket.sip-uncovered",
                    loc,
                    format!("SIP port {} is covered by service {s:?}, which is not `sip = true`: no SIP rate limits, scanner filter or auto-ban", l.port),
                    format!("set `sip = true` on service {s:?}"),
                )),
                (None, Exposure::Dropped) => out.push(Finding::new(
                    Severity::Low,
                    "socket.sip-uncovered",
                    loc,
                    format!("SIP listens on port {} but no service of the policy covers it: the default drops it, so phones and trunks using it can't reach the PBX", l.port),
                    format!("add port {} to the `sip` service if phones or trunks use it (or stop the listener)", l.port),
                )),
                (None, _) => out.push(Finding::new(
                    Severity::Medium,
                    "socket.sip-uncovered",
                    loc,
                    format!("SIP port {} is open to the world but no `sip = true` service covers it: no SIP rate limits, scanner filter or auto-ban", l.port),
                    format!("add port {} to the `sip` service", l.port),
                )),
            }
        } else if let Exposure::Open { service: None, why } = &exposure {
            let reply = l.proto == Proto::Udp
                && policy
                    .reply_ports()
                    .is_some_and(|(lo, hi)| lo <= l.port && l.port <= hi);
            if !reply {
                out.push(Finding::new(
                    Severity::Low,
                    "socket.open",
                    loc,
                    format!("listens on {} and is open to the world: {why}", l.addr),
                    "add a service for it with the sources that need it, or `default = \"drop\"`",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(proto: Proto, addr: &str, port: u16) -> Listener {
        Listener {
            proto,
            addr: addr.parse().unwrap(),
            port,
        }
    }

    fn run(config: &Config, listeners: &[Listener]) -> Vec<(String, Severity)> {
        let mut out = Vec::new();
        let sip: BTreeSet<u16> = DEFAULT_SIP_PORTS.iter().copied().collect();
        audit(config, listeners, &sip, &mut out);
        out.into_iter()
            .map(|f| (f.location.to_string(), f.severity))
            .collect()
    }

    #[test]
    fn the_default_policy_closes_admin_ports_and_covers_5060() {
        let c = Config::builtin_default();
        let l = [
            listener(Proto::Tcp, "0.0.0.0", 5038),
            listener(Proto::Tcp, "::", 3306),
            listener(Proto::Udp, "0.0.0.0", 69),
            listener(Proto::Udp, "0.0.0.0", 5060),
            listener(Proto::Tcp, "127.0.0.1", 8021),
        ];
        assert_eq!(
            run(&c, &l),
            [("tcp 0.0.0.0:5038".into(), Severity::Info)],
            "AMI is restricted to private ranges; MySQL and TFTP are dropped"
        );
        assert_eq!(
            run(&c, &[listener(Proto::Udp, "0.0.0.0", 5160)]),
            [("udp 0.0.0.0:5160".into(), Severity::Low)]
        );
    }

    #[test]
    fn open_admin_ports_are_flagged_by_their_severity() {
        let c = Config::from_str(
            "[global]\ndefault = \"pass\"\n[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"any\"]\n",
            "t.toml",
        )
        .unwrap();
        let l = [
            listener(Proto::Tcp, "0.0.0.0", 5038),
            listener(Proto::Tcp, "::", 22),
            listener(Proto::Tcp, "127.0.0.1", 3306),
            listener(Proto::Udp, "0.0.0.0", 5060),
        ];
        assert_eq!(
            run(&c, &l),
            [
                ("tcp 0.0.0.0:5038".into(), Severity::High),
                ("tcp [::]:22".into(), Severity::Medium),
                ("udp 0.0.0.0:5060".into(), Severity::Medium),
            ]
        );
    }
}
