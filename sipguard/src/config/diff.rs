//! `sipguard check --config FILE --diff`: what applying FILE would change against the running
//! policy, item by item: global settings, each deny and trusted prefix, each service's shape,
//! limits and allow entries, the scanner, auto-ban and log-watch settings.
//!
//! Both sides are validated [`Config`]s (the daemon records the text of the policy it applied;
//! reading that record is the control layer's job). Items are rendered from the types' own
//! `Display` impls where they have one. The `[global]` items come from an exhaustive
//! destructuring of [`Global`], so a new global key does not compile until it is listed here.
use std::collections::BTreeMap;

use super::{Config, Global, LogWatch, Service};

/// The policy as named items: key -> a one-line description.
fn items(c: &Config) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    global_items(&c.global, &mut out);
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
        out.insert(format!("logwatch {}", w.path.display()), logwatch_line(w));
    }
    // Secrets show as where they come from, never their text (`Secret`'s Debug).
    if let Some(cs) = &c.crowdsec {
        out.insert("crowdsec".into(), format!("{cs:?}"));
    }
    if let Some(a) = &c.apiban {
        out.insert("apiban".into(), format!("{a:?}"));
    }
    out
}

/// One item per `[global]` key, one per deny and trusted prefix.
fn global_items(g: &Global, out: &mut BTreeMap<String, String>) {
    let Global {
        mode,
        default_action,
        reply_ports,
        deny,
        trusted,
        protect,
        rate_ipv6_prefix,
        drop_samples,
        tracked_sources,
    } = g;
    for (key, value) in [
        ("mode", mode.to_string()),
        ("default", default_action.to_string()),
        ("reply_ports", format!("{reply_ports:?}")),
        ("rate_ipv6_prefix", rate_ipv6_prefix.to_string()),
        ("drop_samples", drop_samples.to_string()),
        (
            "tracked_sources",
            format!("{tracked_sources} (takes effect at the next start)"),
        ),
    ] {
        out.insert(format!("global {key}"), value);
    }
    for net in deny {
        out.insert(format!("deny {net}"), String::new());
    }
    for net in trusted {
        out.insert(format!("trusted {net}"), String::new());
    }
    for net in protect {
        out.insert(format!("protect {net}"), String::new());
    }
}

fn service_line(s: &Service) -> String {
    let protocols: Vec<String> = s.protocols.iter().map(ToString::to_string).collect();
    let ports: Vec<String> = s.ports.iter().map(ToString::to_string).collect();
    let mut line = format!("{} {}", protocols.join(","), ports.join(","));
    if !s.to.is_empty() {
        let to: Vec<String> = s.to.iter().map(ToString::to_string).collect();
        line += &format!(" to={}", to.join(","));
    }
    if let Some(mode) = s.mode {
        line += &format!(" mode={mode}");
    }
    if s.sip {
        line += " sip";
    }
    line.trim().to_owned()
}

/// A `[[logwatch]]` in the form `check --diff` has always shown (the layout of the former
/// `logwatch::Watch`'s `Debug`).
fn logwatch_line(w: &LogWatch) -> String {
    let LogWatch {
        path,
        rules,
        failures,
        window,
        ban,
        sip_only,
    } = w;
    format!(
        "Watch {{ path: {path:?}, rules: {rules:?}, failures: {failures:?}, window: {window:?}, \
         ban: {ban:?}, sip_only: {sip_only:?} }}"
    )
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
    fn protected_hosts_and_a_services_destinations_are_shown() {
        let new = BASE
            .replace(
                "default = \"drop\"",
                "default = \"drop\"\nprotect = [\"198.51.100.10\", \"2001:db8:5::/64\"]",
            )
            .replace(
                "sip = true",
                "sip = true\nto = [\"198.51.100.10\", \"2001:db8:5::10\"]",
            );
        assert_eq!(
            diff(&config(BASE), &config(&new)),
            vec![
                "~ service sip: udp 5060 sip -> udp 5060 to=198.51.100.10/32,2001:db8:5::10/128 sip",
                "+ protect 198.51.100.10/32",
                "+ protect 2001:db8:5::/64",
            ]
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

    #[test]
    fn every_global_key_is_an_item_in_the_form_shown_before() {
        let new = "[global]\nmode = \"monitor\"\ndefault = \"pass\"\nreply_ports = \"1000-2000\"\n\
                   rate_ipv6_prefix = 48\ndrop_samples = 0\ntracked_sources = 2048\n";
        assert_eq!(
            diff(&config(""), &config(new)),
            vec![
                "~ global default: drop -> pass",
                "~ global drop_samples: 1 -> 0",
                "~ global mode: enforce -> monitor",
                "~ global rate_ipv6_prefix: 64 -> 48",
                "~ global reply_ports: Auto -> Range(PortRange { lo: 1000, hi: 2000 })",
                "~ global tracked_sources: 131072 (takes effect at the next start) -> 2048 \
                 (takes effect at the next start)",
            ]
        );
    }

    #[test]
    fn a_changed_logwatch_shows_its_settings_as_before() {
        /// The former `logwatch::Watch`, whose derived `Debug` the diff showed.
        #[derive(Debug)]
        #[allow(dead_code, reason = "only its derived Debug is read")]
        struct Watch<'a> {
            path: &'a std::path::PathBuf,
            rules: &'a Vec<crate::config::log_rules::Rule>,
            failures: u32,
            window: std::time::Duration,
            ban: std::time::Duration,
            sip_only: bool,
        }
        let before = |w: &LogWatch| {
            format!(
                "{:?}",
                Watch {
                    path: &w.path,
                    rules: &w.rules,
                    failures: w.failures,
                    window: w.window,
                    ban: w.ban,
                    sip_only: w.sip_only,
                }
            )
        };
        let old = config("[[logwatch]]\npath = \"/var/log/x\"\npatterns = [\"sshd\"]\n");
        let new = config(
            "[[logwatch]]\npath = \"/var/log/x\"\npatterns = [\"sshd\"]\nfailures = 3\nscope = \"sip\"\n",
        );
        assert_eq!(
            diff(&old, &new),
            vec![format!(
                "~ logwatch /var/log/x: {} -> {}",
                before(&old.logwatch[0]),
                before(&new.logwatch[0])
            )]
        );
        assert!(before(&new.logwatch[0]).contains("failures: 3, window: 600s"));
    }
}
