//! `[global]`: mode, default action, reply ports, the deny and trusted lists, the protected
//! destinations (and that services' `to` lie within them), and the data plane's global
//! numbers. Each key left out keeps [`Global::default`].
use std::collections::HashSet;

use ipnet::IpNet;
use toml::Spanned;

use super::{parse_mode, service::svc_field, Validator};
use crate::{
    config::{
        limits::{
            MAX_DENY_ENTRIES, MAX_PROTECT_ENTRIES, MAX_TRUSTED_ENTRIES, TRACKED_SOURCES_RANGE,
        },
        raw::{RawGlobal, RawService},
        ConfigError, DefaultAction, Global, PortRange, ReplyPorts,
    },
    parse::{self, ListEntry},
};

impl Validator<'_> {
    pub(super) fn global(&self, g: &RawGlobal) -> Result<Global, ConfigError> {
        let field = |name: &str| format!("[global] field `{name}`");
        let mut global = Global::default();
        if let Some(m) = &g.mode {
            global.mode =
                parse_mode(m.get_ref()).map_err(|e| self.at_value(&m.span(), field("mode"), e))?;
        }
        if let Some(d) = &g.default {
            global.default_action = match d.get_ref().as_str() {
                "pass" => DefaultAction::Pass,
                "drop" => DefaultAction::Drop,
                _ => {
                    return Err(self.at_value(
                        &d.span(),
                        field("default"),
                        r#"expected "pass" or "drop""#,
                    ))
                }
            };
        }
        if let Some(r) = &g.reply_ports {
            global.reply_ports = match r.get_ref().as_str() {
                "auto" => ReplyPorts::Auto,
                "none" => ReplyPorts::None,
                s => {
                    let (lo, hi) = parse::port_range(s).map_err(|e| {
                        self.at_value(
                            &r.span(),
                            field("reply_ports"),
                            format!(r#"expected "auto", "none" or a "LO-HI" range: {e}"#),
                        )
                    })?;
                    ReplyPorts::Range(PortRange { lo, hi })
                }
            };
        }
        global.deny = self.deny(&g.deny)?;
        global.trusted = self.trusted(&g.trusted)?;
        global.protect =
            self.destinations(&g.protect, field("protect"), "protect", MAX_PROTECT_ENTRIES)?;
        if let Some(p) = &g.rate_ipv6_prefix {
            global.rate_ipv6_prefix = match u8::try_from(*p.get_ref()) {
                Ok(len @ 1..=128) => len,
                _ => {
                    return Err(self.at_value(
                        &p.span(),
                        field("rate_ipv6_prefix"),
                        "expected a prefix length from 1 to 128 (64: one bucket per /64)",
                    ))
                }
            };
        }
        if let Some(n) = &g.drop_samples {
            global.drop_samples = match u32::try_from(*n.get_ref()) {
                Ok(n @ 0..=1000) => n,
                _ => {
                    return Err(self.at_value(
                        &n.span(),
                        field("drop_samples"),
                        "expected 0 (none) to 1000 dropped packets logged per second and CPU",
                    ))
                }
            };
        }
        if let Some(n) = &g.tracked_sources {
            global.tracked_sources = match u32::try_from(*n.get_ref()) {
                Ok(n) if TRACKED_SOURCES_RANGE.contains(&n) => n,
                _ => {
                    return Err(self.at_value(
                        &n.span(),
                        field("tracked_sources"),
                        format!(
                            "expected {} to {} sources (about 100 bytes of kernel memory each)",
                            TRACKED_SOURCES_RANGE.start(),
                            TRACKED_SOURCES_RANGE.end()
                        ),
                    ))
                }
            };
        }
        Ok(global)
    }

    /// `deny`: prefixes only, normalized, without duplicates, in file order.
    fn deny(&self, raw: &[Spanned<String>]) -> Result<Vec<IpNet>, ConfigError> {
        let field = || "[global] field `deny`".to_owned();
        let mut deny = Vec::new();
        let mut seen = HashSet::new();
        for entry in raw {
            let net = match parse::list_entry(entry.get_ref()) {
                Ok(ListEntry::Prefix(n)) => n,
                Ok(ListEntry::Any4 | ListEntry::Any6 | ListEntry::Any) => {
                    return Err(self.at_value(
                        &entry.span(),
                        field(),
                        "the `any` keywords are only valid in `allow`; deny takes CIDRs and \
                         addresses",
                    ))
                }
                Err(e) => return Err(self.at_value(&entry.span(), field(), e)),
            };
            if seen.insert(net) {
                if deny.len() == MAX_DENY_ENTRIES {
                    return Err(self.at_value(
                        &entry.span(),
                        field(),
                        format!("too many deny entries: at most {MAX_DENY_ENTRIES}"),
                    ));
                }
                deny.push(net);
            }
        }
        Ok(deny)
    }

    /// `trusted`: prefixes only (trusting `any` would turn the limits off), without duplicates.
    fn trusted(&self, raw: &[Spanned<String>]) -> Result<Vec<IpNet>, ConfigError> {
        let field = || "[global] field `trusted`".to_owned();
        let mut trusted = Vec::new();
        for entry in raw {
            match parse::list_entry(entry.get_ref()) {
                Ok(ListEntry::Prefix(n)) => {
                    if !trusted.contains(&n) {
                        trusted.push(n);
                    }
                }
                Ok(ListEntry::Any4 | ListEntry::Any6 | ListEntry::Any) => {
                    return Err(self.at_value(
                        &entry.span(),
                        field(),
                        "trusting everyone turns rate limits off: list the trunks' and \
                         office's addresses instead",
                    ))
                }
                Err(e) => return Err(self.at_value(&entry.span(), field(), e)),
            }
        }
        if trusted.len() > MAX_TRUSTED_ENTRIES {
            return Err(self.at_value(
                &raw[MAX_TRUSTED_ENTRIES].span(),
                field(),
                format!("too many trusted entries: at most {MAX_TRUSTED_ENTRIES}"),
            ));
        }
        Ok(trusted)
    }

    /// Destinations (`[global] protect`, a service's `to`): prefixes only, an IPv6 form of an
    /// IPv4 address as that address (the data plane looks destinations up folded), without
    /// duplicates, in file order.
    pub(super) fn destinations(
        &self,
        raw: &[Spanned<String>],
        field: String,
        key: &str,
        max: usize,
    ) -> Result<Vec<IpNet>, ConfigError> {
        let mut out = Vec::new();
        for entry in raw {
            let net = match parse::list_entry(entry.get_ref()) {
                Ok(ListEntry::Prefix(n)) => parse::fold_net(n),
                Ok(ListEntry::Any4 | ListEntry::Any6 | ListEntry::Any) => {
                    return Err(self.at_value(
                        &entry.span(),
                        field,
                        format!(
                            "the `any` keywords are only valid in `allow`; leave `{key}` out to \
                             cover every destination"
                        ),
                    ))
                }
                Err(e) => return Err(self.at_value(&entry.span(), field, e)),
            };
            if out.contains(&net) {
                continue;
            }
            if out.len() == max {
                return Err(self.at_value(
                    &entry.span(),
                    field,
                    format!("too many `{key}` entries: at most {max}"),
                ));
            }
            out.push(net);
        }
        Ok(out)
    }

    /// With `[global] protect` set, every destination a service names (`to`) lies within it:
    /// traffic to any other destination passes unjudged, so such an entry would never apply.
    pub(super) fn check_to_within_protect(
        &self,
        raw: &[Spanned<RawService>],
        protect: &[IpNet],
    ) -> Result<(), ConfigError> {
        if protect.is_empty() {
            return Ok(());
        }
        for s in raw {
            let s = s.get_ref();
            let Some(to) = &s.to else { continue };
            for entry in to.get_ref() {
                let Ok(ListEntry::Prefix(n)) = parse::list_entry(entry.get_ref()) else {
                    continue;
                };
                let net = parse::fold_net(n);
                if !protect.iter().any(|p| p.contains(&net)) {
                    return Err(self.at_value(
                        &entry.span(),
                        svc_field(s.name.get_ref(), "to"),
                        format!(
                            "{net} is outside [global] protect: traffic to it passes \
                             unjudged (reason unprotected); add it to `protect` or remove it \
                             here"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
