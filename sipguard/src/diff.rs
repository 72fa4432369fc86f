//! `sipguard check --config FILE --diff`: what applying FILE would change against the policy
//! the daemon runs. The daemon records the text of every policy it applies (see [`record`]);
//! both are parsed and compared item by item: global settings, each deny and trusted prefix,
//! each service's shape and each of its allow entries, the scanner, auto-ban and log-watch
//! settings.
use std::collections::BTreeMap;

use crate::config::{Config, Service};

/// The policy as named items: key -> a one-line description.
fn items(c: &Config) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let g = &c.global;
    out.insert("global mode".into(), format!("{:?}", g.mode).to_lowercase());
    out.insert(
        "global default".into(),
        format!("{:?}", g.default_action).to_lowercase(),
    );
    out.insert("global reply_ports".into(), format!("{:?}", g.reply_ports));
    out.insert(
        "global rate_ipv6_prefix".into(),
        g.rate_ipv6_prefix.to_string(),
    );
    out.insert("global drop_samples".into(), g.drop_samples.to_string());
    out.insert(
        "global tracked_sources".into(),
        format!("{} (takes effect at the next start)", g.tracked_sources),
    );
    for net in &g.deny {
        out.insert(format!("deny {net}"), String::new());
    }
    for net in &g.trusted {
        out.insert(format!("trusted {net}"), String::new());
    }
    for s in &c.services {
        out.insert(format!("service {}", s.name), service_line(s));
        if s.allow_any_v4 {
            out.insert(format!("service {} allow any IPv4", s.name), String::new());
        }
        if s.allow_any_v6 {
            out.insert(format!("service {} allow any IPv6", s.name), String::new());
        }
        for net in &s.allow {
            out.insert(format!("service {} allow {net}", s.name), String::new());
        }
        if let Some(l) = &s.limits {
            for (class, limit) in [
                ("register", l.register),
                ("invite", l.invite),
                ("other", l.other),
                ("syn", l.syn),
                ("echo", l.echo),
                ("syn_budget", l.syn_budget),
            ] {
                out.insert(
                    format!("service {} limit {class}", s.name),
                    format!("{}/s burst {}", limit.rate, limit.burst),
                );
            }
        }
    }
    out.insert("scanners".into(), format!("{:?}", c.scanners));
    out.insert("autoban".into(), format!("{:?}", c.autoban));
    for w in &c.logwatch {
        out.insert(format!("logwatch {}", w.path.display()), format!("{w:?}"));
    }
    out
}

fn service_line(s: &Service) -> String {
    let protocols: Vec<String> = s
        .protocols
        .iter()
        .map(|p| format!("{p:?}").to_lowercase())
        .collect();
    let ports: Vec<String> = s
        .ports
        .iter()
        .map(|r| {
            if r.lo == r.hi {
                r.lo.to_string()
            } else {
                format!("{}-{}", r.lo, r.hi)
            }
        })
        .collect();
    let mut line = format!("{} {}", protocols.join(","), ports.join(","));
    if let Some(mode) = s.mode {
        line += &format!(" mode={}", format!("{mode:?}").to_lowercase());
    }
    if s.sip {
        line += " sip";
    }
    line.trim().to_owned()
}

/// What changes from `old` to `new`, one line each: `+ item` added, `- item` removed,
/// `~ item: old -> new` changed. Empty when nothing changes.
pub fn diff(old: &Config, new: &Config) -> Vec<String> {
    let (old, new) = (items(old), items(new));
    let show = |key: &str, value: &str| {
        if value.is_empty() {
            key.to_owned()
        } else {
            format!("{key}: {value}")
        }
    };
    let mut out = Vec::new();
    for (key, value) in &old {
        match new.get(key) {
            None => out.push(format!("- {}", show(key, value))),
            Some(v) if v != value => out.push(format!("~ {key}: {value} -> {v}")),
            Some(_) => {}
        }
    }
    for (key, value) in &new {
        if !old.contains_key(key) {
            out.push(format!("+ {}", show(key, value)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::from_str(text, "test.toml").expect("valid config")
    }

    const BASE: &str = "[global]\ndefault = \"drop\"\ndeny = [\"203.0.113.0/24\"]\n\
        [[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\n\
        allow = [\"192.0.2.0/24\"]\nsip = true\n";

    #[test]
    fn the_same_policy_changes_nothing() {
        assert!(diff(&config(BASE), &config(BASE)).is_empty());
    }

    #[test]
    fn added_and_removed_prefixes_are_listed_one_per_line() {
        let new = BASE
            .replace("203.0.113.0/24", "198.51.100.0/24")
            .replace("\"192.0.2.0/24\"", "\"192.0.2.0/24\", \"2001:db8::/32\"");
        assert_eq!(
            diff(&config(BASE), &config(&new)),
            vec![
                "- deny 203.0.113.0/24",
                "+ deny 198.51.100.0/24",
                "+ service sip allow 2001:db8::/32",
            ]
        );
    }

    #[test]
    fn a_changed_service_shows_old_and_new() {
        let new = BASE.replace("ports = [5060]", "ports = [5060, 5080]\nmode = \"monitor\"");
        assert_eq!(
            diff(&config(BASE), &config(&new)),
            vec!["~ service sip: udp 5060 sip -> udp 5060,5080 mode=monitor sip"]
        );
    }

    #[test]
    fn a_changed_limit_is_one_line() {
        let new = BASE.replace(
            "sip = true",
            "sip = true\nlimits = { register = { rate = 2, burst = 20 } }",
        );
        assert_eq!(
            diff(&config(BASE), &config(&new)),
            vec!["~ service sip limit register: 10/s burst 100 -> 2/s burst 20"]
        );
    }

    #[test]
    fn a_new_service_and_a_changed_global_mode_are_shown() {
        let new = BASE.replace(
            "default = \"drop\"",
            "default = \"drop\"\nmode = \"monitor\"",
        )
            + "[[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"any\"]\n";
        let d = diff(&config(BASE), &config(&new));
        assert!(
            d.contains(&"~ global mode: enforce -> monitor".to_owned()),
            "{d:?}"
        );
        assert!(d.contains(&"+ service ssh: tcp 22".to_owned()), "{d:?}");
        assert!(
            d.contains(&"+ service ssh allow any IPv4".to_owned()),
            "{d:?}"
        );
    }
}
