//! `[[service]]`: one protocol/port set with its allow list, mode, SIP flag and rate limits.
//!
//! [`Validator::service`] reads a service in named steps, in the order its errors are
//! reported: name, protocols, ports, allow list, destinations, mode, SIP flag, limits. [`Validator::services`]
//! checks what involves several services: their number, unique names, the allow entries of
//! all of them together, and (in [`super::overlaps`]) that no (port, destination) belongs to two.
use std::collections::{HashMap, HashSet};

use ipnet::IpNet;
use toml::Spanned;

use super::{parse_mode, Validator};
use crate::{
    config::{
        limits::{MAX_ALLOW_ENTRIES, MAX_CONFIG_SERVICES, MAX_RATE, MAX_TO_ENTRIES},
        raw::{RawLimit, RawLimits, RawPort, RawPorts, RawProtocols, RawService},
        ConfigError, Limit, PortRange, Protocol, Service, SipLimits,
    },
    parse::{self, ListEntry},
};

/// A service's allow list: the explicit prefixes and the `any` keywords.
struct Allow {
    nets: Vec<IpNet>,
    any_v4: bool,
    any_v6: bool,
}

impl Validator<'_> {
    /// Every `[[service]]`, in file order.
    pub(super) fn services(
        &self,
        raw: &[Spanned<RawService>],
    ) -> Result<Vec<Service>, ConfigError> {
        let mut services = Vec::with_capacity(raw.len());
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut allow_total = 0usize;
        for (index, raw_service) in raw.iter().enumerate() {
            let header = raw_service.span();
            let rs = raw_service.get_ref();
            if index >= MAX_CONFIG_SERVICES {
                return Err(self.at(
                    &header,
                    format!("service {:?}", rs.name.get_ref()),
                    format!(
                        "too many services: at most {MAX_CONFIG_SERVICES} \
                         (the data plane has {} service slots and slot 0 means \"none\")",
                        MAX_CONFIG_SERVICES + 1
                    ),
                ));
            }
            let service = self.service(raw_service)?;
            if let Some(first) = names.get(&service.name) {
                return Err(self.at_value(
                    &rs.name.span(),
                    format!("service {:?} field `name`", service.name),
                    format!("duplicate service name (first defined on line {first})"),
                ));
            }
            names.insert(service.name.clone(), self.line(&rs.name.span()));
            if allow_total + service.allow.len() > MAX_ALLOW_ENTRIES {
                let span = rs.allow.span();
                return Err(self.at(
                    &span,
                    svc_field(&service.name, "allow"),
                    format!(
                        "too many allow entries: more than {MAX_ALLOW_ENTRIES} in all services \
                         together"
                    ),
                ));
            }
            allow_total += service.allow.len();
            services.push(service);
        }
        self.check_overlaps(raw, &services)?;
        Ok(services)
    }

    /// One `[[service]]` on its own.
    fn service(&self, raw: &Spanned<RawService>) -> Result<Service, ConfigError> {
        let header = raw.span();
        let rs = raw.get_ref();
        let name = rs.name.get_ref().clone();
        if let Err(e) = check_name(&name) {
            return Err(self.at_value(&rs.name.span(), svc_field(&name, "name"), e));
        }
        let protocols = self.protocols(&name, &rs.protocol)?;
        let icmp = protocols == [Protocol::Icmp];
        let ports = self.ports(&name, &header, rs.ports.as_ref(), icmp)?;
        let allow = self.allow(&name, rs.allow.get_ref())?;
        let to = match &rs.to {
            Some(to) => {
                let nets =
                    self.destinations(to.get_ref(), svc_field(&name, "to"), "to", MAX_TO_ENTRIES)?;
                if nets.is_empty() {
                    return Err(self.at_value(
                        &to.span(),
                        svc_field(&name, "to"),
                        "an empty `to` would match no destination: list the protected hosts, \
                         or leave `to` out to cover every destination",
                    ));
                }
                nets
            }
            None => Vec::new(),
        };
        let mode = match &rs.mode {
            Some(m) => Some(
                parse_mode(m.get_ref())
                    .map_err(|e| self.at_value(&m.span(), svc_field(&name, "mode"), e))?,
            ),
            None => None,
        };
        let sip = self.sip_flag(&name, rs.sip.as_ref(), icmp)?;
        let limits = self.limits(&name, rs.limits.as_ref(), sip)?;
        Ok(Service {
            name,
            protocols,
            ports,
            allow_any_v4: allow.any_v4,
            allow_any_v6: allow.any_v6,
            allow: allow.nets,
            to,
            mode,
            sip,
            limits: Some(limits),
        })
    }

    /// `protocol`: one name or a list; sorted, without duplicates; `icmp` only alone.
    fn protocols(
        &self,
        name: &str,
        raw: &Spanned<RawProtocols>,
    ) -> Result<Vec<Protocol>, ConfigError> {
        let field = || svc_field(name, "protocol");
        let mut protocols = Vec::new();
        match raw.get_ref() {
            RawProtocols::One(p) => protocols
                .push(parse_protocol(p).map_err(|e| self.at_value(&raw.span(), field(), e))?),
            RawProtocols::Many(list) => {
                if list.is_empty() {
                    return Err(self.at_value(
                        &raw.span(),
                        field(),
                        r#"must not be empty: use "udp", "tcp", ["udp", "tcp"] or "icmp""#,
                    ));
                }
                for p in list {
                    let proto = parse_protocol(p.get_ref())
                        .map_err(|e| self.at_value(&p.span(), field(), e))?;
                    if proto == Protocol::Icmp && list.len() > 1 {
                        return Err(self.at_value(
                            &p.span(),
                            field(),
                            r#""icmp" must be alone: put it in a service of its own with protocol = "icmp""#,
                        ));
                    }
                    if protocols.contains(&proto) {
                        return Err(self.at_value(
                            &p.span(),
                            field(),
                            format!("duplicate protocol \"{proto}\""),
                        ));
                    }
                    protocols.push(proto);
                }
            }
        }
        protocols.sort();
        Ok(protocols)
    }

    /// `ports`: required for udp and tcp, refused for icmp; kept as written.
    fn ports(
        &self,
        name: &str,
        header: &super::Span,
        raw: Option<&Spanned<RawPorts>>,
        icmp: bool,
    ) -> Result<Vec<PortRange>, ConfigError> {
        let field = || svc_field(name, "ports");
        let mut ports = Vec::new();
        match raw {
            Some(p) if icmp => {
                return Err(self.at_value(
                    &p.span(),
                    field(),
                    "icmp services take no ports: remove `ports`",
                ))
            }
            None if !icmp => {
                return Err(self.at(
                    header,
                    field(),
                    "required field is missing: udp and tcp services need ports",
                ))
            }
            None => {}
            Some(p) => match p.get_ref() {
                RawPorts::One(port) => {
                    ports.push(parse_port(port).map_err(|e| self.at_value(&p.span(), field(), e))?)
                }
                RawPorts::Many(list) => {
                    if list.is_empty() {
                        return Err(self.at_value(
                            &p.span(),
                            field(),
                            "must not be empty: udp and tcp services need ports",
                        ));
                    }
                    for port in list {
                        ports.push(
                            parse_port(port.get_ref())
                                .map_err(|e| self.at_value(&port.span(), field(), e))?,
                        );
                    }
                }
            },
        }
        Ok(ports)
    }

    /// `allow`: prefixes (normalized, deduplicated, in file order) and the `any` keywords.
    fn allow(&self, name: &str, raw: &[Spanned<String>]) -> Result<Allow, ConfigError> {
        let mut allow = Allow {
            nets: Vec::new(),
            any_v4: false,
            any_v6: false,
        };
        let mut seen = HashSet::new();
        for entry in raw {
            match parse::list_entry(entry.get_ref())
                .map_err(|e| self.at_value(&entry.span(), svc_field(name, "allow"), e))?
            {
                ListEntry::Any => (allow.any_v4, allow.any_v6) = (true, true),
                ListEntry::Any4 => allow.any_v4 = true,
                ListEntry::Any6 => allow.any_v6 = true,
                ListEntry::Prefix(net) => {
                    if seen.insert(net) {
                        allow.nets.push(net);
                    }
                }
            }
        }
        Ok(allow)
    }

    /// `sip`: off unless set; SIP runs over udp or tcp only.
    fn sip_flag(
        &self,
        name: &str,
        raw: Option<&Spanned<bool>>,
        icmp: bool,
    ) -> Result<bool, ConfigError> {
        match raw {
            Some(flag) if *flag.get_ref() && icmp => Err(self.at_value(
                &flag.span(),
                svc_field(name, "sip"),
                "SIP runs over udp or tcp: an icmp service can't be a SIP service",
            )),
            Some(flag) => Ok(*flag.get_ref()),
            None => Ok(false),
        }
    }

    /// `limits`: the defaults of a SIP or non-SIP service, with the classes the file sets.
    fn limits(
        &self,
        name: &str,
        raw: Option<&Spanned<RawLimits>>,
        sip: bool,
    ) -> Result<SipLimits, ConfigError> {
        let defaults = if sip {
            SipLimits::default()
        } else {
            SipLimits::non_sip()
        };
        let Some(l) = raw else {
            return Ok(defaults);
        };
        let raw = l.get_ref();
        if !sip {
            if let Some(r) = raw
                .register
                .as_ref()
                .or(raw.invite.as_ref())
                .or(raw.other.as_ref())
            {
                return Err(self.at(
                    &r.span(),
                    svc_field(name, "limits"),
                    "register, invite and other limit SIP requests: add `sip = true` to the \
                     service",
                ));
            }
        }
        let one = |r: &Option<Spanned<RawLimit>>, default: Limit, class: &str| match r {
            Some(r) => self.limit(name, class, r.get_ref()),
            None => Ok(default),
        };
        Ok(SipLimits {
            register: one(&raw.register, defaults.register, "register")?,
            invite: one(&raw.invite, defaults.invite, "invite")?,
            other: one(&raw.other, defaults.other, "other")?,
            syn: one(&raw.syn, defaults.syn, "syn")?,
            echo: one(&raw.echo, defaults.echo, "echo")?,
            syn_budget: one(&raw.syn_budget, defaults.syn_budget, "syn_budget")?,
        })
    }

    /// One `limits.<class> = { rate, burst }`.
    fn limit(&self, name: &str, class: &str, r: &RawLimit) -> Result<Limit, ConfigError> {
        let field = svc_field(name, &format!("limits.{class}"));
        let rate = u32::try_from(*r.rate.get_ref())
            .ok()
            .filter(|&v| v <= MAX_RATE)
            .ok_or_else(|| {
                self.at_value(
                    &r.rate.span(),
                    field.clone(),
                    format!(
                        "`rate` is requests per second per source, from 0 (unlimited) to \
                         {MAX_RATE}"
                    ),
                )
            })?;
        let burst = u32::try_from(*r.burst.get_ref())
            .ok()
            .filter(|&v| (1..=MAX_RATE).contains(&v))
            .ok_or_else(|| {
                self.at_value(
                    &r.burst.span(),
                    field.clone(),
                    format!("`burst` is requests at once, from 1 to {MAX_RATE}"),
                )
            })?;
        Ok(Limit { rate, burst })
    }
}

/// How errors name a service's field: `service "sip" field` and the field in backticks.
pub(super) fn svc_field(name: &str, field: &str) -> String {
    format!("service {name:?} field `{field}`")
}

fn check_name(name: &str) -> Result<(), String> {
    let valid_first = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(valid_first)
        && chars.all(|c| valid_first(c) || c == '_' || c == '-')
        && name.len() <= 23;
    if ok {
        Ok(())
    } else {
        Err(
            "invalid service name: use 1 to 23 characters a-z, 0-9, '_' and '-', starting with \
             a letter or digit"
                .into(),
        )
    }
}

fn parse_protocol(s: &str) -> Result<Protocol, String> {
    match s {
        "udp" => Ok(Protocol::Udp),
        "tcp" => Ok(Protocol::Tcp),
        "icmp" => Ok(Protocol::Icmp),
        _ => Err(r#"unknown protocol: expected "udp", "tcp" or "icmp""#.into()),
    }
}

fn parse_port(p: &RawPort) -> Result<PortRange, String> {
    let (lo, hi) = match p {
        RawPort::Int(n) => {
            let p = parse::port_number(*n)?;
            (p, p)
        }
        RawPort::Str(s) => parse::port_range(s)?,
    };
    Ok(PortRange { lo, hi })
}
