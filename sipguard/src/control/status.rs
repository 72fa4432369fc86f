//! `sipguard status`: what the running filter does, read from the pinned maps.
use std::{fmt::Write as _, path::Path, time::Duration};

use serde::Serialize;
use sipguard_common::{POLICY_CONFIGURED, POLICY_DEFAULT_DROP, POLICY_MONITOR};

use super::ControlError;
use crate::{
    dataplane::{
        kernel,
        maps::{CounterRow, Fill, Maps, SipCounterRow},
        pin_dir,
    },
    host::iface,
};

#[derive(Debug, Serialize)]
pub struct Status {
    /// Interfaces with a pinned sipguard link, and whether XDP is on each now.
    pub interfaces: Vec<Attachment>,
    /// The daemon holding the pins (None: none runs; the filter stays as it was left).
    pub daemon_pid: Option<i32>,
    /// The running kernel's release.
    pub kernel: String,
    /// How sipguard runs on it where that differs from the newest kernels (empty: it
    /// doesn't), or why the probe failed.
    pub kernel_notes: Vec<String>,
    pub configured: bool,
    pub epoch: u32,
    pub mode: &'static str,
    pub default_policy: &'static str,
    pub services: Vec<String>,
    /// `[global] protect`, from the destination tries (empty: every destination is judged).
    pub protect: Vec<String>,
    /// The services that name their destinations (`to`), in slot order.
    pub destinations: Vec<ServiceDestinations>,
    pub counters: Vec<CounterRow>,
    /// Packets per second of each counter row (same order), over `rate_interval_s`.
    pub packets_per_second: Vec<f64>,
    pub rate_interval_s: f64,
    pub sip: Vec<SipCounterRow>,
    pub bans: usize,
    pub maps: Vec<Fill>,
}

#[derive(Debug, Serialize)]
pub struct ServiceDestinations {
    pub service: String,
    pub to: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Attachment {
    pub iface: String,
    /// `ip` could not say when None.
    pub xdp_attached: Option<bool>,
    /// "native", "skb", ... when attached.
    pub xdp_mode: Option<&'static str>,
}

impl Status {
    /// Reads the maps in `pin_dir`; counters twice, `interval` apart, for their rates
    /// (`interval` zero: once, rates 0).
    pub fn read(maps: &Maps, pin_dir: &Path, interval: Duration) -> Result<Self, ControlError> {
        let policy = maps.active_policy()?;
        let first = maps.counters()?;
        let counters = if interval.is_zero() {
            first.clone()
        } else {
            std::thread::sleep(interval);
            maps.counters()?
        };
        let packets_per_second = counters
            .iter()
            .map(|c| {
                let before = first
                    .iter()
                    .find(|f| {
                        f.service == c.service && f.reason == c.reason && f.verdict == c.verdict
                    })
                    .map_or(0, |f| f.packets);
                if interval.is_zero() {
                    0.0
                } else {
                    c.packets.saturating_sub(before) as f64 / interval.as_secs_f64()
                }
            })
            .collect();
        let sip = maps.sip_counters()?;
        let dests = maps.destinations()?;
        let strings = |nets: &[ipnet::IpNet]| nets.iter().map(|n| n.to_string()).collect();
        Ok(Self {
            protect: strings(&dests.protect),
            destinations: dests
                .to
                .iter()
                .map(|(service, to)| ServiceDestinations {
                    service: service.clone(),
                    to: strings(to),
                })
                .collect(),
            interfaces: pin_dir::pinned_interfaces(pin_dir)
                .into_iter()
                .map(|iface| {
                    let mode = iface::xdp_mode(&iface);
                    Attachment {
                        xdp_attached: mode.map(|m| m.is_some()),
                        xdp_mode: mode.flatten(),
                        iface,
                    }
                })
                .collect(),
            daemon_pid: pin_dir::daemon_pid(pin_dir),
            kernel: kernel::release(),
            kernel_notes: match kernel::probe() {
                Ok(features) => features
                    .differences()
                    .into_iter()
                    .map(String::from)
                    .collect(),
                Err(e) => vec![e.to_string()],
            },
            packets_per_second,
            rate_interval_s: interval.as_secs_f64(),
            configured: policy.flags & POLICY_CONFIGURED != 0,
            epoch: maps.active_epoch()?,
            mode: if policy.flags & POLICY_MONITOR != 0 {
                "monitor"
            } else {
                "enforce"
            },
            default_policy: if policy.flags & POLICY_DEFAULT_DROP != 0 {
                "drop"
            } else {
                "pass"
            },
            services: maps
                .service_names()?
                .into_iter()
                .skip(1)
                .filter(|n| !n.is_empty())
                .collect(),
            counters,
            sip,
            bans: maps.bans()?.len(),
            maps: maps.fill()?,
        })
    }

    /// A readable report.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for a in &self.interfaces {
            let _ = writeln!(
                out,
                "interface {}: {}",
                a.iface,
                match (a.xdp_attached, a.xdp_mode) {
                    (Some(true), Some(mode)) => format!("XDP attached ({mode})"),
                    (Some(true), None) => "XDP attached".to_owned(),
                    (Some(false), _) => "XDP NOT attached (no such interface in this network \
                                         namespace, or it was reset)"
                        .to_owned(),
                    (None, _) => "XDP state unknown (no `ip`)".to_owned(),
                }
            );
        }
        let _ = writeln!(
            out,
            "daemon: {}",
            match self.daemon_pid {
                Some(pid) => format!("running (pid {pid})"),
                None => "not running (the filter keeps its last policy; bans still expire)".into(),
            }
        );
        let _ = writeln!(
            out,
            "kernel: {} ({})",
            self.kernel,
            if self.kernel_notes.is_empty() {
                "every feature in its newest form".to_owned()
            } else {
                self.kernel_notes.join("; ")
            }
        );
        let _ = writeln!(
            out,
            "policy: {} (mode {}, default {}), services: {}",
            if self.configured {
                "loaded"
            } else {
                "not loaded"
            },
            self.mode,
            self.default_policy,
            self.services.join(", ")
        );
        if !self.protect.is_empty() {
            let _ = writeln!(
                out,
                "protect: {} (traffic to other destinations passes, counted as unprotected)",
                self.protect.join(", ")
            );
        }
        for d in &self.destinations {
            let _ = writeln!(out, "service {}: to {}", d.service, d.to.join(", "));
        }
        let _ = writeln!(out, "bans: {}", self.bans);
        let _ = writeln!(out);
        let row = |out: &mut String, cells: [&str; 3], packets: &str, bytes: &str, pps: &str| {
            let _ = writeln!(
                out,
                "{:<16} {:<14} {:<10} {packets:>14} {bytes:>16} {pps:>10}",
                cells[0], cells[1], cells[2]
            );
        };
        row(
            &mut out,
            ["SERVICE", "REASON", "VERDICT"],
            "PACKETS",
            "BYTES",
            if self.rate_interval_s > 0.0 {
                "PKT/S"
            } else {
                ""
            },
        );
        for (c, pps) in self.counters.iter().zip(&self.packets_per_second) {
            let (p, b) = (c.packets.to_string(), c.bytes.to_string());
            let r = if self.rate_interval_s > 0.0 {
                format!("{pps:.0}")
            } else {
                String::new()
            };
            row(&mut out, [&c.service, c.reason, c.verdict], &p, &b, &r);
        }
        if self.counters.is_empty() {
            let _ = writeln!(out, "(no packets seen yet)");
        }
        if !self.sip.is_empty() {
            let _ = writeln!(out);
            row(
                &mut out,
                ["SIP SERVICE", "CLASS", "VERDICT"],
                "PACKETS",
                "BYTES",
                "",
            );
            for c in &self.sip {
                let (p, b) = (c.packets.to_string(), c.bytes.to_string());
                row(&mut out, [&c.service, c.class, c.verdict], &p, &b, "");
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{:<16} {:>10} {:>10}", "MAP", "ENTRIES", "CAPACITY");
        for m in &self.maps {
            let _ = writeln!(out, "{:<16} {:>10} {:>10}", m.map, m.entries, m.capacity);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        Status {
            interfaces: vec![Attachment {
                iface: "eth0".into(),
                xdp_attached: Some(true),
                xdp_mode: Some("native"),
            }],
            daemon_pid: None,
            kernel: "6.12.0".into(),
            kernel_notes: Vec::new(),
            configured: true,
            epoch: 1,
            mode: "enforce",
            default_policy: "drop",
            services: vec!["sip".into(), "ssh".into()],
            protect: Vec::new(),
            destinations: Vec::new(),
            counters: vec![CounterRow {
                service: "sip".into(),
                reason: "allowed",
                verdict: "pass",
                packets: 10,
                bytes: 1000,
            }],
            packets_per_second: vec![2.0],
            rate_interval_s: 1.0,
            sip: Vec::new(),
            bans: 0,
            maps: Vec::new(),
        }
    }

    #[test]
    fn the_report_names_the_attachment_daemon_kernel_and_policy() {
        let text = status().to_text();
        assert!(
            text.starts_with("interface eth0: XDP attached (native)\n"),
            "{text}"
        );
        assert!(
            text.contains("daemon: not running (the filter keeps its last policy"),
            "{text}"
        );
        assert!(
            text.contains("kernel: 6.12.0 (every feature in its newest form)"),
            "{text}"
        );
        assert!(
            text.contains("policy: loaded (mode enforce, default drop), services: sip, ssh"),
            "{text}"
        );
        assert!(text.contains("PKT/S"), "{text}");
    }

    #[test]
    fn the_report_names_the_protected_hosts_and_each_services_destinations() {
        let mut s = status();
        assert!(!s.to_text().contains("protect:"));
        s.protect = vec!["203.0.113.1/32".into(), "2001:db8:5::/64".into()];
        s.destinations = vec![ServiceDestinations {
            service: "sip".into(),
            to: vec!["203.0.113.10/32".into(), "2001:db8:5::10/128".into()],
        }];
        let text = s.to_text();
        assert!(
            text.contains(
                "protect: 203.0.113.1/32, 2001:db8:5::/64 (traffic to other destinations \
                 passes, counted as unprotected)\nservice sip: to 203.0.113.10/32, \
                 2001:db8:5::10/128\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn without_a_rate_interval_the_rate_column_is_empty() {
        let mut s = status();
        s.rate_interval_s = 0.0;
        s.counters.clear();
        s.packets_per_second.clear();
        let text = s.to_text();
        assert!(!text.contains("PKT/S"), "{text}");
        assert!(text.contains("(no packets seen yet)"), "{text}");
    }
}
