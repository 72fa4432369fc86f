//! The lab's attack timeline, for `cargo xtask lab` (full length) and an end-to-end test
//! (short): sipguard with its built-in default on the PBX's interface (or on the perimeter
//! box in front of it, [`VoipLab::perimeter`]), honest phones
//! registering and calling through Kamailio during every phase, and one attack per phase from
//! the attacker's namespace. Each phase reports what the attacker sent, what sipguard dropped
//! by reason, what reached the PBX, how the honest traffic fared, and the bans.
use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::{daemon::Daemon, voip::VoipLab};

/// How long the attacks run.
#[derive(Clone, Copy, Debug)]
pub struct Length {
    /// Seconds for each SIPVicious tool.
    pub tool_secs: u64,
    /// REGISTERs in the flood (sent at 500/s).
    pub flood: u64,
    /// Packets of each hping3 flood (sent at 10,000/s).
    pub hping: u64,
    /// Honest registrations and calls during each phase.
    pub honest_regs: u32,
    pub honest_calls: u32,
}

impl Length {
    pub const FULL: Length = Length {
        tool_secs: 15,
        flood: 3000,
        hping: 30_000,
        honest_regs: 10,
        honest_calls: 5,
    };
    pub const SHORT: Length = Length {
        tool_secs: 8,
        flood: 600,
        hping: 5_000,
        honest_regs: 3,
        honest_calls: 2,
    };
}

/// One phase's outcome.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Phase {
    pub attack: String,
    /// Packets the attacker sent.
    pub sent: u64,
    /// sipguard's drops during the phase, by reason (all sources; honest traffic has none).
    pub dropped: BTreeMap<String, u64>,
    /// Attack packets that reached the PBX (Kamailio's log, or the PBX kernel's counters).
    pub reached: u64,
    /// What the PBX could let through at most under the built-in default's limits.
    pub limit: u64,
    pub honest_ok: u64,
    pub honest_failed: u64,
    /// Bans in force at the end of the phase, as `prefix reason`.
    pub bans: Vec<String>,
    pub secs: f64,
}

/// What an attack reports: packets sent (None: count the attacker's UDP datagrams).
type Attack<'a> = Box<dyn FnOnce(&VoipLab) -> anyhow::Result<Option<u64>> + Send + 'a>;

/// The most a phase may let reach the PBX, given its length in seconds.
type Limit = Box<dyn Fn(f64) -> u64>;

/// Where reached packets are counted.
enum Reached {
    /// Kamailio's `RX` lines from the attacker.
    Kamailio,
    /// A counter of the PBX's /proc/net/snmp.
    Snmp(&'static str, &'static str),
}

/// Plays the timeline; `on_phase` sees each phase as it ends. Stops between phases when
/// `stop` is set (Ctrl-C), returning what was played.
pub fn run(
    lab: &VoipLab,
    daemon: &Daemon,
    len: Length,
    stop: &AtomicBool,
    mut on_phase: impl FnMut(&Phase),
) -> anyhow::Result<Vec<Phase>> {
    let tool =
        |name: &'static str, args: &'static [&'static str], ua: Option<&'static str>| -> Attack {
            Box::new(move |lab: &VoipLab| {
                lab.sipvicious(name, args, ua, len.tool_secs)?;
                Ok(None)
            })
        };
    let hping = |args: &'static [&'static str]| -> Attack {
        Box::new(move |lab: &VoipLab| {
            let out = lab
                .command_for(&lab.attacker, 60, "hping3")
                .args(args)
                .args(["-c", &len.hping.to_string(), "-i", "u100", lab.target])
                .stdin(std::process::Stdio::null())
                .output()
                .context("running hping3 (apt package hping3)")?;
            let text = String::from_utf8_lossy(&out.stderr).into_owned()
                + &String::from_utf8_lossy(&out.stdout);
            // "5000 packets transmitted, 3 packets received, ..."
            let sent = text
                .lines()
                .find(|l| l.contains("packets transmitted"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(len.hping);
            Ok(Some(sent))
        })
    };
    let flood: Attack = Box::new(move |lab: &VoipLab| {
        lab.register_flood(len.flood, 500)?;
        Ok(None)
    });
    // (name, attack, where it is counted, the most the built-in default lets through)
    let timeline: Vec<(&str, Attack, Reached, Limit)> = vec![
        (
            "svmap: scan for PBXs",
            tool("svmap", &[], None),
            Reached::Kamailio,
            Box::new(|_| 0),
        ),
        (
            "svwar: enumerate extensions",
            tool("svwar", &["-e1000-1020"], None),
            Reached::Kamailio,
            Box::new(|_| 0),
        ),
        (
            "svcrack: guess 1001's password (Zoiper UA)",
            tool(
                "svcrack",
                &["-u1001", "-r1-500"],
                Some("Zoiper rv2.10.20.3"),
            ),
            Reached::Kamailio,
            // 5 wrong passwords, each after its own challenge (no failure): two REGISTERs
            // each; svcrack may send one more pair before its answer, and one retransmission.
            Box::new(|_| 2 * 6 + 2),
        ),
        (
            "REGISTER flood (sipp, 500/s)",
            flood,
            Reached::Kamailio,
            // REGISTER 10/s with a burst of 100 per source. No auto-ban: the PBX's 401s to
            // REGISTERs without credentials are challenges, never failures.
            Box::new(|t| 100 + (10.0 * t) as u64),
        ),
        (
            "SYN flood on 5061/tcp (hping3)",
            hping(&["-S", "-p", "5061"]),
            Reached::Snmp("Tcp", "OutRsts"),
            // 5 new connections a second per source, burst 20.
            Box::new(|t| 20 + (5.0 * t) as u64 + 1),
        ),
        (
            "ICMP echo flood (hping3)",
            hping(&["-1"]),
            Reached::Snmp("Icmp", "InEchos"),
            // 5 echo requests a second per source, burst 10.
            Box::new(|t| 10 + (5.0 * t) as u64 + 1),
        ),
    ];
    let mut phases = Vec::new();
    for (name, attack, reached_at, limit) in timeline {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let reached_now = |lab: &VoipLab| -> anyhow::Result<u64> {
            match reached_at {
                Reached::Kamailio => Ok(lab.kamailio_count("RX", lab.attacker_ip) as u64),
                Reached::Snmp(group, field) => lab.snmp(&lab.pbx, group, field),
            }
        };
        let drops_before = drops_by_reason(&daemon.scrape().context("scraping /metrics")?);
        let sent_before = lab.udp_sent(&lab.attacker)?;
        let reached_before = reached_now(lab)?;
        let started = Instant::now();
        let (sent, honest) = std::thread::scope(|s| {
            let attack = s.spawn(|| attack(lab));
            std::thread::sleep(Duration::from_millis(300));
            let honest = honest(lab, len);
            (attack.join(), honest)
        });
        let sent = sent.map_err(|_| anyhow::anyhow!("the attack thread panicked"))??;
        // Kamailio writes its log asynchronously.
        std::thread::sleep(Duration::from_millis(300));
        let secs = started.elapsed().as_secs_f64();
        let sent = match sent {
            Some(n) => n,
            None => lab.udp_sent(&lab.attacker)? - sent_before,
        };
        let drops_after = drops_by_reason(&daemon.scrape().context("scraping /metrics")?);
        let dropped = drops_after
            .iter()
            .map(|(r, n)| (r.clone(), n - drops_before.get(r).copied().unwrap_or(0)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let (honest_ok, honest_failed) = honest?;
        let phase = Phase {
            attack: name.to_owned(),
            sent,
            dropped,
            reached: reached_now(lab)? - reached_before,
            limit: limit(secs),
            honest_ok,
            honest_failed,
            bans: bans(daemon)?,
            secs,
        };
        on_phase(&phase);
        phases.push(phase);
        // The next attack comes from the same address: lift the ban this one earned, so that
        // each phase shows its own defence (a real attacker would stay banned for the hour).
        if !phases.last().is_some_and(|p| p.bans.is_empty()) {
            let _ = daemon.cli(&["unban", lab.attacker_ip]);
        }
    }
    Ok(phases)
}

/// Honest registrations and calls from the phone namespace: (ok, failed).
fn honest(lab: &VoipLab, len: Length) -> anyhow::Result<(u64, u64)> {
    let regs = lab.honest_registrations(len.honest_regs, 5)?;
    let (calls, _) = lab.honest_calls(len.honest_calls)?;
    let ok = regs.successful + calls.successful;
    let total = u64::from(len.honest_regs) + u64::from(len.honest_calls);
    Ok((ok, total.saturating_sub(ok)))
}

fn bans(daemon: &Daemon) -> anyhow::Result<Vec<String>> {
    let out = daemon.cli(&["bans", "--json"])?;
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).context("sipguard bans")?;
    Ok(rows
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        r["net"].as_str().unwrap_or("?"),
                        r["reason"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// `sipguard_packets_total{verdict="drop"}` summed per reason.
pub fn drops_by_reason(metrics: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("sipguard_packets_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        if !labels.contains("verdict=\"drop\"") {
            continue;
        }
        let reason = labels
            .split(',')
            .find_map(|kv| kv.strip_prefix("reason=\""))
            .map(|r| r.trim_end_matches('"').to_owned());
        if let (Some(reason), Ok(n)) = (reason, value.trim().parse::<f64>()) {
            *out.entry(reason).or_insert(0) += n as u64;
        }
    }
    out
}

/// The table's header and one row per phase.
/// The short timeline for a test, each phase's row on stderr as it ends.
pub fn run_short(lab: &VoipLab, daemon: &Daemon) -> anyhow::Result<Vec<Phase>> {
    let stop = AtomicBool::new(false);
    run(lab, daemon, Length::SHORT, &stop, |p| {
        eprintln!("{}", row(p))
    })
}

/// The timeline's proof, for the tests that play it: every phase played, honest traffic
/// never failed during any, each attack ran, was partly dropped and reached the PBX within the
/// limits; svcrack's phase banned `guesser` (`"ADDR/32 auth_failures"`).
pub fn assert_held(phases: &[Phase], guesser: &str) {
    assert_eq!(phases.len(), 6, "every phase played");
    for p in phases {
        assert_eq!(p.honest_failed, 0, "honest traffic failed during {p:?}");
        assert!(p.honest_ok > 0, "{p:?}");
        assert!(p.sent > 0, "the attack ran: {p:?}");
        assert!(
            p.reached <= p.limit,
            "{}: {} reached the PBX, the limits allow {}",
            p.attack,
            p.reached,
            p.limit
        );
        assert!(!p.dropped.is_empty(), "sipguard dropped part of {p:?}");
    }
    let crack = &phases[2];
    assert!(
        crack.bans.iter().any(|b| b == guesser),
        "svcrack was banned as {guesser}: {crack:?}"
    );
}

pub fn header() -> String {
    format!(
        "{:<44} {:>7} {:>8} {:>7} {:>6}  {:<28} {:<8} {}",
        "ATTACK", "SENT", "REACHED", "LIMIT", "SECS", "DROPPED BY REASON", "HONEST", "BANS"
    )
}

pub fn row(p: &Phase) -> String {
    let dropped: Vec<String> = p.dropped.iter().map(|(r, n)| format!("{r} {n}")).collect();
    format!(
        "{:<44} {:>7} {:>8} {:>7} {:>6.1}  {:<28} {:<8} {}",
        p.attack,
        p.sent,
        p.reached,
        p.limit,
        p.secs,
        dropped.join(", "),
        format!("{}/{}", p.honest_ok, p.honest_ok + p.honest_failed),
        if p.bans.is_empty() {
            "-".to_owned()
        } else {
            p.bans.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_summed_per_reason_over_services() {
        let text = "sipguard_packets_total{reason=\"banned\",service=\"sip\",verdict=\"drop\"} 5\n\
                    sipguard_packets_total{reason=\"banned\",service=\"ssh\",verdict=\"drop\"} 2\n\
                    sipguard_packets_total{reason=\"allowed\",service=\"sip\",verdict=\"pass\"} 9\n";
        let d = drops_by_reason(text);
        assert_eq!(d.get("banned"), Some(&7));
        assert_eq!(d.get("allowed"), None);
    }
}
