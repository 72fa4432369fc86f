//! The scale part of `cargo xtask bench`: sipguard with a million tracked sources and a
//! hundred thousand deny prefixes, next to the same policy with an empty deny list and the
//! default per-source table. Per-packet cost (BPF_PROG_TEST_RUN), kernel memory of the maps
//! (their fdinfo `memlock`, which the kernel computes from what the map really holds), time
//! to load and to replace 100k prefixes, a reload of 100k prefixes under traffic through the
//! real daemon, and the time nftables and iptables take to load the same prefixes.
use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    os::fd::{AsFd as _, AsRawFd as _},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::bail;
use aya::maps::{HashMap, Map, MapData};
use serde_json::json;
use sipguard_common::{RateKey, SourceState};

use crate::{
    daemon::Daemon,
    harness::Harness,
    netns::{run_in, Lab, PBX_IF, PBX_V4},
    packets::{frame, register, udp, Transport},
    policies::{edit, service, TempFile},
    traffic::{SteadyUdp, UdpCounter},
};

/// The side-by-side policy (`tests/bench/policy.toml`).
pub const BENCH_POLICY: &str = include_str!("../bench/policy.toml");

/// A source inside the LAN that every generated deny list carries: allowed by the services,
/// so only the deny list stops it.
pub const DENIED_IN_LAN: &str = "192.0.2.77";
/// An honest LAN source, never denied.
pub const HONEST: &str = "192.0.2.10";

pub struct Args {
    pub sources: u32,
    pub prefixes: usize,
    pub runs: usize,
    pub repeat: u32,
}

/// `n` distinct deny prefixes from `seed`: three quarters IPv4 /32, one quarter IPv4 /24
/// (the shape of VoIP blocklists), spread over the unicast space, never the lab's LAN,
/// loopback or 0/8; plus [`DENIED_IN_LAN`].
pub fn deny_prefixes(n: usize, seed: u64) -> Vec<String> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut seen = HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    out.push(format!("{DENIED_IN_LAN}/32"));
    seen.insert(format!("{DENIED_IN_LAN}/32"));
    while out.len() < n {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let a = (x >> 32) as u32;
        let [o1, o2, o3, o4] = a.to_be_bytes();
        if o1 == 0 || o1 == 127 || o1 >= 224 || (o1, o2, o3) == (192, 0, 2) {
            continue;
        }
        let p = if x & 3 == 0 {
            format!("{o1}.{o2}.{o3}.0/24")
        } else {
            format!("{o1}.{o2}.{o3}.{o4}/32")
        };
        if seen.insert(p.clone()) {
            out.push(p);
        }
    }
    out
}

/// The bench policy with `deny` as its global deny list, a per-source table of `tracked`
/// entries and `extra_sip_allow` added to SIP's allow list; edited as a value.
pub fn policy_with(
    deny: &[String],
    tracked: u32,
    extra_sip_allow: &[&str],
) -> anyhow::Result<String> {
    let mut missing = Ok(());
    let policy = edit(BENCH_POLICY, |p| {
        if let Some(global) = p.get_mut("global").and_then(toml::Value::as_table_mut) {
            global.insert("tracked_sources".into(), i64::from(tracked).into());
            global.insert(
                "deny".into(),
                toml::Value::Array(deny.iter().map(|d| d.as_str().into()).collect()),
            );
        }
        let allow = service(p, "sip").and_then(|sip| {
            sip.get_mut("allow")
                .and_then(toml::Value::as_array_mut)
                .ok_or_else(|| anyhow::anyhow!("the bench policy's sip service has no allow list"))
        });
        match allow {
            Ok(allow) => allow.extend(extra_sip_allow.iter().map(|&a| toml::Value::from(a))),
            Err(e) => missing = Err(e),
        }
    })?;
    missing.map(|()| policy)
}

/// Kernel memory of the maps pinned in `dir` (fdinfo `memlock`), per map name.
pub fn map_memory(dir: &Path) -> anyhow::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("link_") {
            continue;
        }
        let Ok(data) = MapData::from_pin(entry.path()) else {
            continue;
        };
        let fd = data.fd().as_fd().as_raw_fd();
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}"))?;
        let memlock = info
            .lines()
            .find_map(|l| l.strip_prefix("memlock:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        out.push((name, memlock));
    }
    out.sort_by_key(|m| std::cmp::Reverse(m.1));
    Ok(out)
}

/// Fills the per-source table with `n` synthetic sources (one rate bucket each), as a
/// spoofed-source flood or a very large phone estate would.
fn fill_sources(h: &Harness, n: u32) -> anyhow::Result<()> {
    let data = MapData::from_pin(h.pin_dir().join(sipguard::dataplane::object::map::RATES))?;
    let mut rates: HashMap<MapData, RateKey, SourceState> =
        HashMap::try_from(Map::LruHashMap(data))?;
    let now = sipguard::dataplane::clock::ban_clock_ns();
    for i in 0..n {
        let mut addr = [0u8; 16];
        // 2001:db8:5ca1:e::/64-style keys, distinct per i; the program never sends them.
        addr[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0x5c, 0xa1]);
        addr[12..].copy_from_slice(&i.to_be_bytes());
        let key = RateKey { addr, class: 1 };
        let state = SourceState {
            tat: now,
            ..Default::default()
        };
        rates.insert(key, state, 0)?;
    }
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median net ns per packet of `pkt` over `runs` runs of `repeat` (the no-op floor taken
/// right before each run is subtracted).
fn net_ns(h: &Harness, pkt: &[u8], runs: usize, repeat: u32) -> (f64, u32) {
    let mut nets = Vec::with_capacity(runs);
    let mut action = 0;
    for _ in 0..runs {
        let floor = h.floor(pkt, repeat).as_nanos() as f64;
        let (a, mean) = h.run_repeat(pkt, repeat);
        action = a;
        nets.push(mean.as_nanos() as f64 - floor);
    }
    (median(&mut nets), action)
}

/// Net ns of a REGISTER from each of `n` sources never seen before, one run each (the
/// kernel's own timing of a single run; its floor is the median of as many no-op runs).
fn new_sources_ns(h: &Harness, n: u32) -> f64 {
    let mut runs = Vec::with_capacity(n as usize);
    let mut floors = Vec::with_capacity(n as usize);
    for i in 0..n {
        let src = format!("198.18.{}.{}", (i >> 8) & 0xff, i & 0xff);
        let pkt = frame(
            &src,
            Transport::Udp {
                sport: 5060,
                dport: 5060,
            },
            &register(0),
        );
        floors.push(h.floor(&pkt, 1).as_nanos() as f64);
        runs.push(h.run_repeat(&pkt, 1).1.as_nanos() as f64);
    }
    median(&mut runs) - median(&mut floors)
}

struct Setup {
    name: &'static str,
    deny: usize,
    tracked: u32,
    filled: u32,
}

pub fn run(args: &Args) -> anyhow::Result<serde_json::Value> {
    println!(
        "\nscale: {} deny prefixes and {} tracked sources vs the bench policy as it is \
         (BPF_PROG_TEST_RUN, net ns per packet, median of {} runs of {})",
        args.prefixes, args.sources, args.runs, args.repeat
    );
    let set_a = deny_prefixes(args.prefixes, 1);
    let set_b = deny_prefixes(args.prefixes, 2);
    // Remote phones in 198.18.0.0/15 may use SIP too, so that new sources reach the limiter.
    let remote = ["198.18.0.0/15"];
    let setups = [
        Setup {
            name: "bench policy (1 deny prefix, 131072 sources table)",
            deny: 1,
            tracked: sipguard::config::DEFAULT_TRACKED_SOURCES,
            filled: 0,
        },
        Setup {
            name: "scaled",
            deny: args.prefixes,
            tracked: args.sources,
            filled: args.sources,
        },
    ];
    let mut results = Vec::new();
    let mut load = serde_json::Map::new();
    for s in &setups {
        let deny: Vec<String> = set_a[..s.deny].to_vec();
        let policy = policy_with(&deny, s.tracked, &remote)?;
        let t = Instant::now();
        let mut h = Harness::standalone(&policy);
        let load_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        fill_sources(&h, s.filled.saturating_sub(1))?;
        let fill_s = t.elapsed().as_secs_f64();
        let memory = map_memory(h.pin_dir())?;
        let total: u64 = memory.iter().map(|m| m.1).sum();
        println!(
            "{}: load + apply {:.2} s, {} sources written in {:.2} s, map memory {:.1} MiB \
             (largest: {})",
            s.name,
            load_s,
            s.filled,
            fill_s,
            total as f64 / 1048576.0,
            memory
                .iter()
                .take(3)
                .map(|(n, b)| format!("{n} {:.1} MiB", *b as f64 / 1048576.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let register_from = |src: &str| {
            frame(
                src,
                Transport::Udp {
                    sport: 5060,
                    dport: 5060,
                },
                &register(0),
            )
        };
        let rows: Vec<(&str, Vec<u8>)> = vec![
            ("denied_drop_v4", udp(DENIED_IN_LAN, 5060)),
            ("deny_miss_sip_pass_v4", udp(HONEST, 5060)),
            (
                "register_flood_one_source_drop",
                register_from("192.0.2.66"),
            ),
        ];
        // The flooding source is over its limit before the runs.
        h.run_repeat(&rows[2].1, 1_000);
        let mut row_json = Vec::new();
        for (name, pkt) in &rows {
            let (net, action) = net_ns(&h, pkt, args.runs, args.repeat);
            let verdict = match action {
                1 => "drop",
                2 => "pass",
                _ => "other",
            };
            println!("  {name:<44} {net:>7.0} ns  {verdict}");
            row_json.push(json!({"path": name, "net_ns": net, "verdict": verdict}));
        }
        let insert = new_sources_ns(&h, 5000);
        println!(
            "  {:<44} {insert:>7.0} ns  (table {})",
            "register_from_new_source (LRU insert)",
            if s.filled > 0 {
                "full: evicts"
            } else {
                "empty"
            }
        );
        row_json.push(json!({"path": "register_from_new_source", "net_ns": insert}));
        let mut reload_s = None;
        if s.deny > 1 {
            // Replace the whole list: a reload that rewrites 100k entries in the other epoch,
            // switches, and deletes the old ones.
            let policy_b = policy_with(&set_b, s.tracked, &remote)?;
            let t = Instant::now();
            h.apply(&policy_b);
            let reload = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let parsed = sipguard::config::Config::from_str(&policy_b, "b.toml")?;
            let parse = t.elapsed().as_secs_f64();
            drop(parsed);
            println!(
                "  replace {} prefixes by {} others (parse, compile, write, switch, delete): \
                 {reload:.2} s, of which parsing {parse:.2} s",
                s.deny,
                set_b.len()
            );
            reload_s = Some(json!({"replace_s": reload, "parse_s": parse}));
        }
        results.push(json!({
            "setup": s.name,
            "deny_prefixes": s.deny,
            "tracked_sources": s.tracked,
            "sources_filled": s.filled,
            "load_and_apply_s": load_s,
            "fill_s": fill_s,
            "map_memory_bytes": total,
            "map_memory": memory.iter().map(|(n, b)| json!({"map": n, "bytes": b})).collect::<Vec<_>>(),
            "paths": row_json,
            "replace_prefixes": reload_s,
        }));
    }
    let daemon = daemon_reload_under_traffic(&set_a, &set_b, args.sources)?;
    load.insert("sipguard_daemon".into(), daemon);
    load.insert("nftables".into(), nft_load(&set_a, &set_b)?);
    load.insert("iptables".into(), iptables_load(&set_a)?);
    Ok(json!({
        "benchmark": "scale",
        "deny_prefixes": args.prefixes,
        "tracked_sources": args.sources,
        "runs": args.runs,
        "repeat": args.repeat,
        "setups": results,
        "load": load,
    }))
}

/// The real daemon: start with 100k prefixes, then reloads between two lists of 100k under
/// steady traffic from an honest and a denied LAN source, 1 datagram per ms each.
fn daemon_reload_under_traffic(
    set_a: &[String],
    set_b: &[String],
    tracked: u32,
) -> anyhow::Result<serde_json::Value> {
    let lab = Lab::new(&[HONEST, DENIED_IN_LAN])?;
    let policy_a = policy_with(set_a, tracked, &[])?;
    let policy_b = policy_with(set_b, tracked, &[])?;
    let config = TempFile::with_contents(&policy_a);
    let t = Instant::now();
    let d = Daemon::start(&lab.pbx, PBX_IF, 9710, &["--config", config.as_str()])?;
    let start_s = t.elapsed().as_secs_f64();
    let media = UdpCounter::start(&lab.pbx, 10000)?;
    let ip = |s: &str| s.parse::<IpAddr>().expect("address");
    let traffic = SteadyUdp::start(
        &lab.client,
        &[ip(HONEST), ip(DENIED_IN_LAN)],
        SocketAddr::new(ip(PBX_V4), 10000),
        Duration::from_millis(1),
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut reloads = Vec::new();
    for i in 0..4 {
        let text = if i % 2 == 0 { &policy_b } else { &policy_a };
        std::fs::write(&config.0, text)?;
        let t = Instant::now();
        let out = d.cli(&["reload"])?;
        if !out.status.success() {
            bail!("sipguard reload: {}", String::from_utf8_lossy(&out.stderr));
        }
        reloads.push(t.elapsed().as_secs_f64());
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = traffic.finish()?;
    let received = media.finish()?;
    let honest_sent = sent.get(&ip(HONEST)).copied().unwrap_or(0);
    let honest_received = received.get(&ip(HONEST)).copied().unwrap_or(0);
    let denied_passed = received.get(&ip(DENIED_IN_LAN)).copied().unwrap_or(0);
    let mut sorted = reloads.clone();
    let med = median(&mut sorted);
    println!(
        "daemon: start with {} prefixes {start_s:.2} s (until /metrics answers); `sipguard reload` \
         of {} other prefixes median {med:.2} s; under traffic: honest {honest_received}/{honest_sent} \
         arrived, denied source passed {denied_passed}",
        set_a.len(),
        set_b.len()
    );
    Ok(json!({
        "start_s": start_s,
        "reload_s": reloads,
        "reload_median_s": med,
        "honest_sent": honest_sent,
        "honest_received": honest_received,
        "denied_passed": denied_passed,
    }))
}

/// Seconds `program args` takes in `ns`, reading `stdin`.
fn timed_in(ns: &str, program: &str, args: &[&str], stdin: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    run_in(ns, program, args, Some(stdin.as_bytes()))?;
    Ok(t.elapsed().as_secs_f64())
}

/// nftables: the same prefixes as an interval set (the nftables way), loaded with `nft -f`,
/// then replaced by the other list in one transaction.
fn nft_load(set_a: &[String], set_b: &[String]) -> anyhow::Result<serde_json::Value> {
    let lab = Lab::new(&[])?;
    let elements = |set: &[String]| set.join(",\n");
    let table = format!(
        "table inet scale {{\n set deny4 {{ type ipv4_addr; flags interval; auto-merge; \
         elements = {{ {} }} }}\n chain input {{ type filter hook input priority filter; \
         ip saddr @deny4 counter drop; }}\n}}\n",
        elements(set_a)
    );
    let load = timed_in(&lab.pbx, "nft", &["-f", "-"], &table)?;
    let replace = format!(
        "flush set inet scale deny4\nadd element inet scale deny4 {{ {} }}\n",
        elements(set_b)
    );
    let reload = timed_in(&lab.pbx, "nft", &["-f", "-"], &replace)?;
    println!(
        "nftables: load {} prefixes as an interval set {load:.2} s; replace them {reload:.2} s",
        set_a.len()
    );
    Ok(json!({"load_s": load, "replace_s": reload}))
}

/// iptables (legacy x_tables, as in the seeds): one DROP rule per prefix, loaded with
/// `iptables-legacy-restore`.
fn iptables_load(set_a: &[String]) -> anyhow::Result<serde_json::Value> {
    let lab = Lab::new(&[])?;
    let mut rules = String::from("*filter\n:INPUT ACCEPT [0:0]\n");
    for p in set_a {
        rules.push_str(&format!("-A INPUT -s {p} -j DROP\n"));
    }
    rules.push_str("COMMIT\n");
    let load = timed_in(&lab.pbx, "iptables-legacy-restore", &[], &rules)?;
    println!(
        "iptables: load {} prefixes as DROP rules {load:.2} s (each packet then walks them in order)",
        set_a.len()
    );
    Ok(json!({"load_s": load}))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text patch `policy_with` applied before it edited a value.
    fn patched(deny: &[String], tracked: u32, extra_sip_allow: &[&str]) -> String {
        let list: String = deny.iter().map(|p| format!("\"{p}\",\n")).collect();
        let allow: String = extra_sip_allow
            .iter()
            .map(|a| format!(", \"{a}\""))
            .collect();
        BENCH_POLICY
            .replacen(
                "[global]\n",
                &format!("[global]\ntracked_sources = {tracked}\ndeny = [\n{list}]\n"),
                1,
            )
            .replacen(
                "allow = [\"192.0.2.0/24\", \"2001:db8:1::/64\"]\nsip = true",
                &format!("allow = [\"192.0.2.0/24\", \"2001:db8:1::/64\"{allow}]\nsip = true"),
                1,
            )
    }

    #[test]
    fn the_scale_policy_is_the_one_the_text_patch_gave() {
        let deny = deny_prefixes(100, 1);
        for extra in [&[][..], &["198.18.0.0/15"][..]] {
            let edited: toml::Table = policy_with(&deny, 4096, extra).unwrap().parse().unwrap();
            let old: toml::Table = patched(&deny, 4096, extra).parse().unwrap();
            assert_eq!(edited, old);
        }
    }
}
