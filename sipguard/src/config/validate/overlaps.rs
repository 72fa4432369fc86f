//! No (protocol, port) pair belongs to two services, and only one service serves icmp: the
//! data plane maps each port to one service slot. Reported at the later service's entry,
//! naming the earlier service and its line.
use toml::Spanned;

use super::{service::svc_field, Span, Validator};
use crate::config::{
    raw::{RawPorts, RawService},
    ConfigError, PortRange, Protocol, Service,
};

impl Validator<'_> {
    /// A (protocol, port) pair belongs to one service at most; so does icmp.
    pub(super) fn check_overlaps(
        &self,
        raw: &[Spanned<RawService>],
        services: &[Service],
    ) -> Result<(), ConfigError> {
        let name_line = |i: usize| self.line(&raw[i].get_ref().name.span());

        let mut icmp_owner: Option<usize> = None;
        for (i, s) in services.iter().enumerate() {
            if s.protocols.contains(&Protocol::Icmp) {
                if let Some(first) = icmp_owner {
                    return Err(self.at_value(
                        &raw[i].get_ref().protocol.span(),
                        svc_field(&s.name, "protocol"),
                        format!(
                            "icmp is also served by service {:?} (line {}): a protocol and port \
                             can belong to one service only",
                            services[first].name,
                            name_line(first)
                        ),
                    ));
                }
                icmp_owner = Some(i);
            }
        }

        for proto in [Protocol::Udp, Protocol::Tcp] {
            // (range, service index, span of the entry as written)
            let mut entries: Vec<(PortRange, usize, Span)> = Vec::new();
            for (i, s) in services.iter().enumerate() {
                if !s.protocols.contains(&proto) {
                    continue;
                }
                let spans = port_spans(raw[i].get_ref());
                entries.extend(s.ports.iter().zip(spans).map(|(&r, sp)| (r, i, sp)));
            }
            entries.sort_by_key(|(r, i, _)| (r.lo, r.hi, *i));
            // Sweep in order of `lo`, remembering the entry reaching highest (`best`) and the
            // entry reaching highest among the other services (`other`): an entry overlaps a
            // different service exactly when the relevant one of them reaches its `lo`.
            let mut best: Option<usize> = None;
            let mut other: Option<usize> = None;
            for k in 0..entries.len() {
                let (r, svc, _) = &entries[k];
                let candidate = match best {
                    Some(b) if entries[b].1 != *svc => Some(b),
                    _ => other,
                };
                if let Some(c) = candidate {
                    if entries[c].0.hi >= r.lo {
                        debug_assert!(entries[c].0.overlaps(r));
                        let port = r.lo;
                        let (later, earlier) = if entries[c].1 > *svc { (c, k) } else { (k, c) };
                        let (_, later_svc, later_span) = &entries[later];
                        let earlier_svc = entries[earlier].1;
                        return Err(self.at_value(
                            later_span,
                            svc_field(&services[*later_svc].name, "ports"),
                            format!(
                                "{proto} port {port} is also served by service {:?} (line {}): \
                                 a protocol and port can belong to one service only",
                                services[earlier_svc].name,
                                name_line(earlier_svc)
                            ),
                        ));
                    }
                }
                match best {
                    Some(b) if entries[b].0.hi >= r.hi => {
                        if entries[b].1 != *svc && other.is_none_or(|o| entries[o].0.hi < r.hi) {
                            other = Some(k);
                        }
                    }
                    Some(b) => {
                        if entries[b].1 != *svc {
                            other = Some(b);
                        }
                        best = Some(k);
                    }
                    None => best = Some(k),
                }
            }
        }
        Ok(())
    }
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
