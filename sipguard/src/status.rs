//! `sipguard status`: what the running filter does, read from the pinned maps.
use std::fmt::Write as _;

use serde::Serialize;
use sipguard_common::{POLICY_CONFIGURED, POLICY_DEFAULT_DROP, POLICY_MONITOR};

use crate::{
    maps::{CounterRow, Fill, Maps, SipCounterRow},
    Error,
};

#[derive(Debug, Serialize)]
pub struct Status {
    pub configured: bool,
    pub epoch: u32,
    pub mode: &'static str,
    pub default_policy: &'static str,
    pub services: Vec<String>,
    pub counters: Vec<CounterRow>,
    pub sip: Vec<SipCounterRow>,
    pub bans: usize,
    pub maps: Vec<Fill>,
}

impl Status {
    pub fn read(maps: &Maps) -> Result<Self, Error> {
        let policy = maps.active_policy()?;
        let counters = maps.counters()?;
        let sip = maps.sip_counters()?;
        Ok(Self {
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
        let _ = writeln!(out, "bans: {}", self.bans);
        let _ = writeln!(out);
        let row = |out: &mut String, cells: [&str; 3], packets: &str, bytes: &str| {
            let _ = writeln!(
                out,
                "{:<16} {:<14} {:<10} {packets:>14} {bytes:>16}",
                cells[0], cells[1], cells[2]
            );
        };
        row(
            &mut out,
            ["SERVICE", "REASON", "VERDICT"],
            "PACKETS",
            "BYTES",
        );
        for c in &self.counters {
            let (p, b) = (c.packets.to_string(), c.bytes.to_string());
            row(&mut out, [&c.service, c.reason, c.verdict], &p, &b);
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
            );
            for c in &self.sip {
                let (p, b) = (c.packets.to_string(), c.bytes.to_string());
                row(&mut out, [&c.service, c.class, c.verdict], &p, &b);
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
