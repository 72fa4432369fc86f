//! Flood capacity: a generator that outruns every filter (BPF_PROG_TEST_RUN live frames on an
//! XDP_TX program, `sipguard_tests::flood`) floods the PBX namespace of the VoIP lab through
//! its own veth pair, against sipguard, iptables and nftables with the same policy
//! (`tests/bench/`), while honest registrations and calls go through the bridge. Measured:
//! packets dropped per second of the receiving CPU's softirq time (the generator, the veth
//! receive and the filter all run on CPU 1; the generator's own syscall time is `system`).
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use anyhow::Context as _;
use serde::Serialize;
use sipguard_tests::{
    daemon::Daemon,
    flood::{
        attach_xdp_drop, register_payload, udp_frame, CpuTimes, Flood, FloodLink, Generator,
        FLOOD_IF, GEN_IF,
    },
    netns::run_in,
    policies::{bench_file, load_bench_iptables, load_bench_nftables},
    voip::{VoipLab, PBX, PBX_IF},
};

/// The CPU the generator is pinned to (the receive path runs there too).
const CPU: usize = 1;
const REGISTRATIONS: u32 = 20;
const CALLS: u32 = 10;

/// A filter under test, set up in the PBX namespace; removed on drop.
enum Filter<'a> {
    None,
    /// A bare `return XDP_DROP` on flood0 (no policy, nothing on pbx0): the floor.
    XdpDrop {
        ns: &'a str,
        _link: std::os::fd::OwnedFd,
    },
    Sipguard {
        flood: Box<Daemon>,
        _lan: Box<Daemon>,
    },
    Iptables {
        ns: &'a str,
    },
    Nftables {
        ns: &'a str,
    },
}

impl<'a> Filter<'a> {
    fn name(&self) -> &'static str {
        match self {
            Filter::None => "no filter",
            Filter::XdpDrop { .. } => "xdp_drop",
            Filter::Sipguard { .. } => "sipguard",
            Filter::Iptables { .. } => "iptables",
            Filter::Nftables { .. } => "nftables",
        }
    }

    fn setup(name: &str, ns: &'a str) -> anyhow::Result<Self> {
        Ok(match name {
            "none" => Filter::None,
            "xdp_drop" => Filter::XdpDrop {
                ns,
                _link: attach_xdp_drop(ns, FLOOD_IF)?,
            },
            "sipguard" => {
                let config = bench_file("policy.toml");
                let config = config.to_str().context("config path")?;
                Filter::Sipguard {
                    flood: Box::new(Daemon::start(ns, FLOOD_IF, 9691, &["--config", config])?),
                    _lan: Box::new(Daemon::start(ns, PBX_IF, 9692, &["--config", config])?),
                }
            }
            "iptables" => {
                load_bench_iptables(ns)?;
                Filter::Iptables { ns }
            }
            "nftables" => {
                load_bench_nftables(ns)?;
                Filter::Nftables { ns }
            }
            other => anyhow::bail!("unknown filter {other}"),
        })
    }

    /// sipguard's drops so far by reason (empty for the others).
    fn reasons(&self) -> BTreeMap<String, u64> {
        match self {
            Filter::Sipguard { flood, .. } => flood
                .scrape()
                .map(|t| sipguard_drop_reasons(&t))
                .unwrap_or_default(),
            _ => BTreeMap::new(),
        }
    }

    /// Packets the filter dropped so far, by its own counters (`None`: no filter).
    fn dropped(&self) -> anyhow::Result<Option<u64>> {
        Ok(Some(match self {
            Filter::None => return Ok(None),
            Filter::XdpDrop { ns, .. } => {
                veth_xdp_drops(&run_in(ns, "ethtool", &["-S", FLOOD_IF], None)?)
            }
            Filter::Sipguard { flood, .. } => {
                let text = flood.scrape().context("scraping sipguard")?;
                sipguard_drops(&text)
            }
            Filter::Iptables { ns } => {
                iptables_drops(&run_in(ns, "iptables-legacy-save", &["-c"], None)?)
            }
            Filter::Nftables { ns } => nft_drops(&serde_json::from_str(&run_in(
                ns,
                "nft",
                &["-j", "list", "ruleset"],
                None,
            )?)?),
        }))
    }
}

impl Drop for Filter<'_> {
    fn drop(&mut self) {
        match self {
            Filter::Iptables { ns } => {
                let open = b"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
                             :OUTPUT ACCEPT [0:0]\nCOMMIT\n";
                let _ = run_in(ns, "iptables-legacy-restore", &[], Some(open));
            }
            Filter::Nftables { ns } => {
                let _ = run_in(ns, "nft", &["flush", "ruleset"], None);
            }
            // The daemons stop (and detach) on their own drop.
            Filter::XdpDrop { .. } | Filter::Sipguard { .. } | Filter::None => {}
        }
    }
}

/// The sum of `sipguard_packets_total{verdict="drop"}` over all its other labels.
fn sipguard_drops(text: &str) -> u64 {
    sipguard_drop_reasons(text).values().sum()
}

/// `sipguard_packets_total{verdict="drop"}` by reason (summed over services).
fn sipguard_drop_reasons(text: &str) -> BTreeMap<String, u64> {
    let mut reasons = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("sipguard_packets_total{") && l.contains("verdict=\"drop\""))
    {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let reason = series
            .split(['{', ',', '}'])
            .find_map(|kv| kv.strip_prefix("reason=\""))
            .unwrap_or("")
            .trim_end_matches('"');
        *reasons.entry(reason.to_owned()).or_insert(0) +=
            value.parse::<f64>().unwrap_or(0.0) as u64;
    }
    reasons
}

/// veth's own count of what XDP dropped (`ethtool -S`: `rx_queue_N_xdp_drops`).
fn veth_xdp_drops(stats: &str) -> u64 {
    stats
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .filter(|(k, _)| k.starts_with("rx_queue_") && k.ends_with("_xdp_drops"))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// The packet counters of the DROP policies and rules in `iptables-save -c` output.
fn iptables_drops(save: &str) -> u64 {
    let counter = |s: &str| -> Option<u64> {
        let inner = s.strip_prefix('[')?.split(']').next()?;
        inner.split(':').next()?.parse().ok()
    };
    save.lines()
        .filter_map(|l| {
            if let Some(chain) = l.strip_prefix(':') {
                // `:INPUT DROP [p:b]`
                let mut f = chain.split_whitespace();
                let (_, policy, c) = (f.next()?, f.next()?, f.next()?);
                (policy == "DROP").then(|| counter(c)).flatten()
            } else if l.starts_with('[') && l.ends_with("-j DROP") {
                counter(l.split_whitespace().next()?)
            } else {
                None
            }
        })
        .sum()
}

/// The counters of the rules that drop, in `nft -j list ruleset`.
fn nft_drops(ruleset: &serde_json::Value) -> u64 {
    let Some(items) = ruleset["nftables"].as_array() else {
        return 0;
    };
    items
        .iter()
        .filter_map(|item| item["rule"]["expr"].as_array())
        .filter(|expr| expr.iter().any(|e| e.get("drop").is_some()))
        .flat_map(|expr| expr.iter().filter_map(|e| e["counter"]["packets"].as_u64()))
        .sum()
}

struct FloodKind {
    name: &'static str,
    what: &'static str,
    flood: Flood,
}

fn floods(secs: u64) -> anyhow::Result<Vec<FloodKind>> {
    let pbx: Ipv4Addr = PBX.parse()?;
    let base = |frame, spread| Flood {
        generator: Generator::LiveFrames,
        frame,
        spread,
        max_frames: 2_000_000_000,
        min_time: Duration::from_secs(secs),
        // The flood lasts until the honest traffic is done, within bounds.
        max_time: Duration::from_secs(secs + 60),
        chunk: 1_000_000,
    };
    let junk: Vec<u8> = b"sipguard-bench flood capacity: not from the allow list "
        .iter()
        .copied()
        .cycle()
        .take(100)
        .collect();
    Ok(vec![
        FloodKind {
            name: "not_allowed",
            what: "UDP to 5060 from 203.0.113.0-255 (random per frame), 100-byte payload",
            flood: base(
                udp_frame("203.0.113.0".parse()?, pbx, 40000, 5060, 0x00ff, &junk),
                true,
            ),
        },
        FloodKind {
            name: "not_allowed_af_packet",
            what: "the same, sent by AF_PACKET sendmmsg (batches of 64, qdisc bypassed) instead: \
                   the sender, not the filter, sets the pace",
            flood: Flood {
                generator: Generator::AfPacket,
                ..base(
                    udp_frame("203.0.113.0".parse()?, pbx, 40000, 5060, 0x00ff, &junk),
                    true,
                )
            },
        },
        FloodKind {
            name: "register_over_limit",
            what: "REGISTER from 192.0.2.66 (LAN, allowed; over its 10/s burst 100 limit)",
            flood: base(
                udp_frame(
                    "192.0.2.66".parse()?,
                    pbx,
                    5060,
                    5060,
                    0x00ff,
                    &register_payload("192.0.2.66".parse()?, pbx),
                ),
                false,
            ),
        },
    ])
}

/// `flood_capacity.json`.
#[derive(Serialize)]
pub struct FloodCapacity {
    benchmark: &'static str,
    kernel: String,
    cpus: usize,
    cpu_model: Option<String>,
    generator: String,
    generator_cpu: usize,
    min_flood_secs: u64,
    floods: Vec<FloodDescription>,
    policy: &'static str,
    rows: Vec<Row>,
}

/// One flood kind, as the JSON describes it.
#[derive(Serialize)]
struct FloodDescription {
    flood: &'static str,
    what: &'static str,
    frame_bytes: usize,
}

/// One filter against one flood.
#[derive(Serialize)]
struct Row {
    filter: &'static str,
    flood: &'static str,
    generator: &'static str,
    sent: u64,
    wall_s: f64,
    sent_mpps: f64,
    dropped: u64,
    dropped_by: &'static str,
    udp_delivered: u64,
    udp_rcvbuf_errors: u64,
    softirq_s: f64,
    system_s: f64,
    user_s: f64,
    drops_per_softirq_s: f64,
    drops_per_softirq_plus_system_s: f64,
    sipguard_drop_reasons: BTreeMap<String, u64>,
    honest_registrations_ok: u64,
    honest_registrations_total: u32,
    honest_registrations_error: Option<String>,
    honest_calls_ok: u64,
    honest_calls_total: u32,
    honest_calls_answered: u64,
    honest_calls_error: Option<String>,
}

pub fn run(secs: u64) -> anyhow::Result<FloodCapacity> {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    anyhow::ensure!(
        cpus > CPU,
        "the flood comparison pins its generator to CPU {CPU}: needs 2 CPUs"
    );
    let mut lab = VoipLab::new().context("building the lab")?;
    lab.start_kamailio()?;
    let link = FloodLink::new(&lab.pbx)?;
    let floods = floods(secs)?;
    let generator = format!(
        "BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES (batch 64, 1M frames per call) \
         on an XDP_TX program in a generator namespace, out of {GEN_IF} to its veth peer \
         {FLOOD_IF} in the PBX namespace (GRO on); one thread pinned to CPU {CPU}. \
         The *_af_packet flood sends the same frames from an AF_PACKET socket with \
         sendmmsg instead, on the same CPU"
    );
    println!("\nflood capacity: {generator}");
    println!(
        "each flood at least {secs} s and until the honest traffic through the bridge \
         ({REGISTRATIONS} registrations at 10/s, then {CALLS} calls) is done; \
         drops by the filter's own counters; CPU times of CPU {CPU} from /proc/stat"
    );
    for f in &floods {
        println!("  {}: {}", f.name, f.what);
    }
    println!(
        "Mpps: sent per wall second; deliv: UDP datagrams delivered in the PBX namespace; \
         drop/sirq_s: Mpps dropped per softirq second of CPU {CPU} (the receive path); \
         all-in: per softirq + system second (the generator's sending included); \
         no filter: dropped = UDP socket overflow"
    );
    println!(
        "{:<10} {:<20} {:>9} {:>6} {:>7} {:>9} {:>9} {:>7} {:>7} {:>11} {:>8} {:>6} {:>6}",
        "filter",
        "flood",
        "sent_M",
        "wall_s",
        "Mpps",
        "dropped_M",
        "deliv",
        "sirq_s",
        "sys_s",
        "drop/sirq_s",
        "all-in",
        "regs",
        "calls"
    );
    let mut rows = Vec::new();
    // No filter last: the flood it lets through keeps Kamailio busy for a while after.
    for filter_name in ["xdp_drop", "sipguard", "iptables", "nftables", "none"] {
        let filter = Filter::setup(filter_name, &lab.pbx)?;
        for kind in &floods {
            let row = measure(&lab, &link, &filter, kind)?;
            rows.push(row);
            // Let Kamailio and the phone's sipp leftovers settle between rows.
            std::thread::sleep(Duration::from_secs(1));
        }
        drop(filter);
    }
    drop(link);
    Ok(FloodCapacity {
        benchmark: "flood_capacity",
        kernel: crate::report::kernel_release(),
        cpus,
        cpu_model: std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let (_, v) = l.strip_prefix("model name")?.split_once(':')?;
                Some(v.trim().to_owned())
            }),
        generator,
        generator_cpu: CPU,
        min_flood_secs: secs,
        floods: floods
            .iter()
            .map(|f| FloodDescription {
                flood: f.name,
                what: f.what,
                frame_bytes: f.flood.frame.len(),
            })
            .collect(),
        policy: "tests/bench/policy.toml, tests/bench/iptables.rules, tests/bench/nftables.nft",
        rows,
    })
}

fn measure(
    lab: &VoipLab,
    link: &FloodLink,
    filter: &Filter,
    kind: &FloodKind,
) -> anyhow::Result<Row> {
    let udp = |name| lab.snmp(&lab.pbx, "Udp", name);
    let dropped_before = filter.dropped()?;
    let reasons_before = filter.reasons();
    let (in_before, rcvbuf_before) = (udp("InDatagrams")?, udp("RcvbufErrors")?);
    let honest_running = AtomicBool::new(true);
    let (sent, cpu, regs, calls) = std::thread::scope(|s| -> anyhow::Result<_> {
        let honest = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            let regs = lab.honest_registrations(REGISTRATIONS, 10);
            let calls = lab.honest_calls(CALLS);
            honest_running.store(false, Ordering::Relaxed);
            (regs, calls)
        });
        let before = CpuTimes::read(CPU)?;
        let sent = kind.flood.run(&link.gen, GEN_IF, CPU, &honest_running);
        let cpu = CpuTimes::read(CPU)?.since(&before);
        // The honest thread ends on its own (every sipp run is under `timeout`).
        let (regs, calls) = honest
            .join()
            .map_err(|_| anyhow::anyhow!("the honest traffic thread panicked"))?;
        Ok((sent?, cpu, regs, calls))
    })?;
    // Let the receive side finish what is queued before reading the counters.
    std::thread::sleep(Duration::from_millis(300));
    let dropped = match (filter.dropped()?, dropped_before) {
        (Some(after), Some(before)) => Some(after.saturating_sub(before)),
        _ => None,
    };
    let reasons: BTreeMap<String, u64> = filter
        .reasons()
        .into_iter()
        .map(|(r, n)| {
            let before = reasons_before.get(&r).copied().unwrap_or(0);
            (r, n.saturating_sub(before))
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    let delivered = udp("InDatagrams")?.saturating_sub(in_before);
    let rcvbuf = udp("RcvbufErrors")?.saturating_sub(rcvbuf_before);
    // No filter: what the stack dropped is the socket's overflow.
    let dropped = dropped.unwrap_or(rcvbuf);
    let regs_ok = regs.as_ref().map_or(0, |r| r.successful);
    let calls_ok = calls.as_ref().map_or(0, |(caller, _)| caller.successful);
    let per = |secs: f64| {
        if secs > 0.0 {
            dropped as f64 / secs
        } else {
            0.0
        }
    };
    let per_softirq = per(cpu.softirq);
    // Generator and receiver together on one core (TOOLCHAIN.md's "all-in").
    let all_in = per(cpu.softirq + cpu.system);
    println!(
        "{:<10} {:<20} {:>9.1} {:>6.1} {:>7.2} {:>9.2} {:>9} {:>7.2} {:>7.2} {:>11.2} {:>8.2} {:>6} {:>6}",
        filter.name(),
        kind.name,
        sent.frames as f64 / 1e6,
        sent.wall.as_secs_f64(),
        sent.frames as f64 / sent.wall.as_secs_f64() / 1e6,
        dropped as f64 / 1e6,
        delivered,
        cpu.softirq,
        cpu.system,
        per_softirq / 1e6,
        all_in / 1e6,
        format!("{regs_ok}/{REGISTRATIONS}"),
        format!("{calls_ok}/{CALLS}"),
    );
    if !matches!(filter, Filter::None) && (dropped as f64) < 0.9 * sent.frames as f64 {
        println!(
            "  note: {} dropped {dropped} of {} frames sent (the rest never reached it, \
             or passed)",
            filter.name(),
            sent.frames
        );
    }
    Ok(Row {
        filter: filter.name(),
        flood: kind.name,
        generator: kind.flood.generator.name(),
        sent: sent.frames,
        wall_s: sent.wall.as_secs_f64(),
        sent_mpps: sent.frames as f64 / sent.wall.as_secs_f64() / 1e6,
        dropped,
        dropped_by: if matches!(filter, Filter::None) {
            "udp socket buffer (RcvbufErrors)"
        } else {
            "the filter's counters"
        },
        udp_delivered: delivered,
        udp_rcvbuf_errors: rcvbuf,
        softirq_s: cpu.softirq,
        system_s: cpu.system,
        user_s: cpu.user,
        drops_per_softirq_s: per_softirq,
        drops_per_softirq_plus_system_s: all_in,
        sipguard_drop_reasons: reasons,
        honest_registrations_ok: regs_ok,
        honest_registrations_total: REGISTRATIONS,
        honest_registrations_error: regs.as_ref().err().map(|e| format!("{e:#}")),
        honest_calls_ok: calls_ok,
        honest_calls_total: CALLS,
        honest_calls_answered: calls.as_ref().map_or(0, |(_, uas)| uas.successful),
        honest_calls_error: calls.as_ref().err().map(|e| format!("{e:#}")),
    })
}
