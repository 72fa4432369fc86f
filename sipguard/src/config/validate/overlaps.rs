//! No (protocol, port, destination) belongs to two services, and no destination of icmp: the
//! data plane maps each port, and each destination of a port whose services name theirs
//! (`to`), to one service slot. Two services may share a port only when both name their
//! destinations and no destination of one overlaps one of the other's; a service without `to`
//! covers every destination. Reported at the later service's entry, naming the earlier service
//! and its line.
use ipnet::IpNet;
use toml::Spanned;

use super::{service::svc_field, Span, Validator};
use crate::config::{
    raw::{RawPorts, RawService},
    ConfigError, Protocol, Service,
};

impl Validator<'_> {
    /// A (protocol, port, destination) belongs to one service at most; so does icmp to a
    /// destination.
    pub(super) fn check_overlaps(
        &self,
        raw: &[Spanned<RawService>],
        services: &[Service],
    ) -> Result<(), ConfigError> {
        let name_line = |i: usize| self.line(&raw[i].get_ref().name.span());
        let why = |later: usize, earlier: usize| match shared_destination(
            &services[later],
            &services[earlier],
        ) {
            Shared::None => None,
            Shared::Every => Some(String::new()),
            Shared::Prefix(a, b) => Some(format!(" (to {a}, and {b} there)")),
        };

        for (j, s) in services.iter().enumerate() {
            if !s.protocols.contains(&Protocol::Icmp) {
                continue;
            }
            for (i, earlier) in services[..j].iter().enumerate() {
                if !earlier.protocols.contains(&Protocol::Icmp) {
                    continue;
                }
                if let Some(dest) = why(j, i) {
                    return Err(self.at_value(
                        &raw[j].get_ref().protocol.span(),
                        svc_field(&s.name, "protocol"),
                        format!(
                            "icmp is also served by service {:?} (line {}){dest}: a protocol, \
                             port and destination can belong to one service only",
                            earlier.name,
                            name_line(i)
                        ),
                    ));
                }
            }
        }

        for (j, s) in services.iter().enumerate() {
            let spans = port_spans(raw[j].get_ref());
            for proto in [Protocol::Udp, Protocol::Tcp] {
                if !s.protocols.contains(&proto) {
                    continue;
                }
                for (r, span) in s.ports.iter().zip(&spans) {
                    for (i, earlier) in services[..j].iter().enumerate() {
                        if !earlier.protocols.contains(&proto) {
                            continue;
                        }
                        let Some(e) = earlier.ports.iter().find(|e| e.overlaps(r)) else {
                            continue;
                        };
                        let Some(dest) = why(j, i) else {
                            continue;
                        };
                        let port = r.lo.max(e.lo);
                        return Err(self.at_value(
                            span,
                            svc_field(&s.name, "ports"),
                            format!(
                                "{proto} port {port} is also served by service {:?} (line {})\
                                 {dest}: a protocol, port and destination can belong to one \
                                 service only",
                                earlier.name,
                                name_line(i)
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// What two services' destinations have in common.
enum Shared {
    None,
    /// One of them (or both) names no destination: it covers all of the other's.
    Every,
    /// A prefix of the first and one of the second that overlap.
    Prefix(IpNet, IpNet),
}

fn shared_destination(a: &Service, b: &Service) -> Shared {
    if a.to.is_empty() || b.to.is_empty() {
        return Shared::Every;
    }
    for x in &a.to {
        for y in &b.to {
            if x.contains(&y.network()) || y.contains(&x.network()) {
                return Shared::Prefix(*x, *y);
            }
        }
    }
    Shared::None
}

/// The spans of a service's port entries, in the order of [`Service::ports`].
fn port_spans(rs: &RawService) -> Vec<Span> {
    match &rs.ports {
        None => Vec::new(),
        Some(p) => match p.get_ref() {
            RawPorts::One(_) => vec![p.span()],
            RawPorts::Many(list) => list.iter().map(|e| e.span()).collect(),
        },
    }
}
