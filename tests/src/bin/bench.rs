//! `cargo xtask bench`: mean nanoseconds per packet of every verdict path of the real XDP
//! program, measured by the kernel with BPF_PROG_TEST_RUN (millions of repeats per run,
//! several runs for the spread). A table on stdout, the same numbers as JSON.
use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use sipguard::dataplane::clock::ban_clock_ns;
use sipguard_common::{Ban, BAN_REASON_MANUAL, BAN_SCOPE_ALL};
use sipguard_tests::{
    harness::Harness,
    packets::{self, frame, register, sip, udp, Transport},
    policies::CRAFTED,
};

struct Args {
    repeat: u32,
    runs: usize,
    json: Option<PathBuf>,
    only: Option<String>,
    /// Trials of the lab's auto-ban measurement (0: skip it).
    lab_trials: usize,
    /// Tracked sources of the scale part (0: skip it).
    scale_sources: u32,
    /// Deny prefixes of the scale part.
    scale_prefixes: usize,
    /// Trials of the brute-force comparison with fail2ban, per defence (0: skip it).
    bruteforce_trials: usize,
    /// Seconds of each flood of the flood-capacity comparison (0: skip it).
    flood_secs: u64,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        repeat: 1_000_000,
        runs: 5,
        json: None,
        only: None,
        lab_trials: 10,
        scale_sources: 1 << 20,
        scale_prefixes: 100_000,
        bruteforce_trials: 3,
        flood_secs: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--repeat" => a.repeat = value()?.parse().context("--repeat")?,
            "--runs" => a.runs = value()?.parse().context("--runs")?,
            "--json" => a.json = Some(value()?.into()),
            "--only" => a.only = Some(value()?),
            "--lab-trials" => a.lab_trials = value()?.parse().context("--lab-trials")?,
            "--scale-sources" => a.scale_sources = value()?.parse().context("--scale-sources")?,
            "--scale-prefixes" => {
                a.scale_prefixes = value()?.parse().context("--scale-prefixes")?
            }
            "--flood-secs" => a.flood_secs = value()?.parse().context("--flood-secs")?,
            "--bruteforce-trials" => {
                a.bruteforce_trials = value()?.parse().context("--bruteforce-trials")?
            }
            "-h" | "--help" => {
                println!(
                    "sipguard-bench [--repeat N] [--runs N] [--json FILE] [--only SUBSTRING] \
                     [--lab-trials N (0: skip the lab's auto-ban timing)] \
                     [--scale-sources N (0: skip the scale part)] [--scale-prefixes N] \
                     [--flood-secs N (0: skip the flood-capacity comparison)] \
                     [--bruteforce-trials N (0: skip svcrack against sipguard and fail2ban)]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    Ok(a)
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    if !sipguard::host::is_root() {
        anyhow::bail!("the benchmark loads BPF programs: run it as root");
    }
    // The tests' policy (allow lists, a deny list in both families, default drop) plus one ban:
    // every lookup a hardened deployment makes. The `default_policy_*` paths run the built-in
    // default (no deny list, no bans) in a second instance.
    // Rate limits off here (rate 0): these rows measure classification and lists; the
    // `rate_*` rows below measure the limiter.
    let unlimited = "sip = true\nlimits = { register = { rate = 0, burst = 1 }, \
                     invite = { rate = 0, burst = 1 }, other = { rate = 0, burst = 1 } }\n";
    // SSH and ICMP without their flood limits either: `tcp_syn_ssh_pass_v4` and
    // `icmp_echo_pass_v4` measure the pass paths (a million packets from one source would
    // otherwise be a flood).
    let crafted = CRAFTED
        .replacen("sip = true\n", unlimited, 1)
        .replacen(
            "allow = [\"192.0.2.0/25\"]\n\n[[service]]\nname = \"icmp\"",
            "allow = [\"192.0.2.0/25\"]\nlimits = { syn = { rate = 0, burst = 1 }, syn_budget = { rate = 0, burst = 1 } }\n\n[[service]]\nname = \"icmp\"",
            1,
        )
        // ICMP is CRAFTED's last service: this line lands in its table.
        + "limits = { echo = { rate = 0, burst = 1 } }\n";
    let mut h = Harness::standalone(&crafted);
    h.loaded.maps.ban(
        "192.0.2.66/32".parse().unwrap(),
        Ban {
            expires_ns: ban_clock_ns() + 3_600_000_000_000,
            created_ns: ban_clock_ns(),
            hits: 0,
            reason: BAN_REASON_MANUAL,
            scope: BAN_SCOPE_ALL,
        },
    )?;

    let paths: Vec<(&str, Vec<u8>)> = vec![
        ("non_ip_pass", {
            let mut arp = udp("192.0.2.10", 15000)[..42].to_vec();
            arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
            arp
        }),
        ("rtp_allowed_pass_v4", udp("192.0.2.10", 15000)),
        ("rtp_allowed_pass_v6", udp("2001:db8:1::10", 15000)),
        ("sip_allow_list_pass_v4", udp("192.0.2.10", 5060)),
        ("sip_allow_list_pass_v6", udp("2001:db8:1::10", 5060)),
        ("sip_not_allowed_drop_v4", udp("192.0.2.200", 5060)),
        (
            "sip_register_classified_no_limit_pass_v4",
            frame(
                "192.0.2.10",
                Transport::Udp {
                    sport: 5060,
                    dport: 5060,
                },
                &register(0),
            ),
        ),
        (
            "sip_register_1400b_classified_no_limit_pass_v4",
            frame(
                "192.0.2.10",
                Transport::Udp {
                    sport: 5060,
                    dport: 5060,
                },
                &register(1300),
            ),
        ),
        ("denied_drop_v4", udp("198.51.100.7", 5060)),
        ("banned_drop_v4", udp("192.0.2.66", 5060)),
        ("default_drop_v4", udp("192.0.2.200", 7777)),
        (
            "reply_pass_v4",
            frame(
                "192.0.2.200",
                Transport::Udp {
                    sport: 53,
                    dport: 40000,
                },
                b"answer",
            ),
        ),
        (
            "tcp_syn_ssh_pass_v4",
            frame("192.0.2.10", Transport::TcpSyn { dport: 22 }, &[]),
        ),
        (
            "icmp_echo_pass_v4",
            frame("192.0.2.10", Transport::Echo, b"ping"),
        ),
        (
            "worst_parse_vlan2_ipv6_ext4_pass",
            packets::with_vlan_tags(
                &packets::with_ipv6_ext(&udp("2001:db8:1::10", 5060), &[0, 43, 60, 44], 0),
                2,
            ),
        ),
        (
            "malformed_l4_drop",
            udp("192.0.2.10", 5060)[..14 + 20 + 4].to_vec(),
        ),
    ];

    println!(
        "BPF_PROG_TEST_RUN, {} repeats x {} runs per path (mean ns/packet per run)",
        args.repeat, args.runs
    );
    println!(
        "floor: a no-op XDP program, run right before each run of each path; net = median of \
         (path - floor) per run\n"
    );
    println!(
        "{:<50} {:>8} {:>6} {:>6} {:>8} {:>8} {:>8}",
        "path", "median", "floor", "net", "min", "max", "verdict"
    );
    let default_policy = Harness::standalone(sipguard::config::DEFAULT_CONFIG);
    let default_paths: Vec<(&str, Vec<u8>)> = vec![
        ("default_policy_rtp_pass_v4", udp("198.51.100.20", 15000)),
        (
            "default_policy_sip_keepalive_pass_v4",
            sip("198.51.100.20", b"\r\n\r\n"),
        ),
        (
            "default_policy_register_over_limit_drop_v4",
            sip("198.51.100.21", &register(0)),
        ),
        (
            // A million SYNs from one address: past its burst, this is the SYN-limit drop.
            "default_policy_ssh_private_syn_over_limit_drop_v4",
            frame("10.1.2.3", Transport::TcpSyn { dport: 22 }, &[]),
        ),
        (
            "default_policy_ssh_public_drop_v4",
            frame("198.51.100.20", Transport::TcpSyn { dport: 22 }, &[]),
        ),
    ];
    // A limit no run of a million repeats can reach: the bucket is read and moved on every
    // packet, but never empty.
    let rate_policy = Harness::standalone(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\n\
         sip = true\n[service.limits]\nregister = { rate = 1000000, burst = 1000000 }\n\
         [[service]]\nname = \"ssh\"\nprotocol = \"tcp\"\nports = [22]\nallow = [\"any\"]\n",
    );
    let rate_paths: Vec<(&str, Vec<u8>)> = vec![
        (
            "syn_flood_one_source_over_limit_drop_v4",
            frame("198.51.100.20", Transport::TcpSyn { dport: 22 }, &[]),
        ),
        (
            "rate_register_under_limit_pass_v4",
            sip("198.51.100.20", &register(0)),
        ),
        (
            "rate_register_1400b_under_limit_pass_v4",
            sip("198.51.100.20", &register(1300)),
        ),
    ];
    // Scanner fingerprints, read on every packet (recheck 0: the cost of one read) and
    // remembered (the default 1 s: what a source's further packets cost).
    let scanner_policy = |recheck: &str| {
        format!(
            "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\n\
             sip = true\n[service.limits]\nregister = {{ rate = 0, burst = 1 }}\n\
             other = {{ rate = 0, burst = 1 }}\n[scanners]\nrecheck = \"{recheck}\"\n"
        )
    };
    let read_every = Harness::standalone(&scanner_policy("0"));
    let remembered = Harness::standalone(&scanner_policy("1s"));
    let scanner_end = packets::register_1400_ending_with("User-Agent: friendly-scanner\r\n\r\n");
    let honest_end =
        packets::register_1400_ending_with("User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\r\n");
    let honest_early = b"REGISTER sip:192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-524287-1---3c5e8c2f;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:1001@192.0.2.10:5060;rinstance=8a7c2e1b>\r\n\
To: <sip:1001@192.0.2.1>\r\n\
From: <sip:1001@192.0.2.1>;tag=7d1a3f22\r\n\
Call-ID: Mzk1ZTQ3ZjI5ODg4NjA2YzE0OTQ2OTg1\r\n\
CSeq: 2 REGISTER\r\n\
Expires: 3600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Yealink SIP-T46S 66.86.0.15\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\r\n"
        .to_vec();
    // Auto-ban's second signal: a REGISTER with credentials is searched for its
    // Authorization line and counted on every packet. The source is trusted so that a million
    // repeats measure the search and the count, not a ban (its count starts over past 1000).
    let credentials = Harness::standalone(
        "[global]\ntrusted = [\"198.51.100.20\"]\n[[service]]\nname = \"sip\"\n\
         protocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\nsip = true\n\
         [service.limits]\nregister = { rate = 0, burst = 1 }\n[scanners]\nenabled = false\n\
         [autoban]\nattempts = 1000\n",
    );
    let with_credentials = String::from_utf8(honest_early.clone())?.replace(
        "Content-Length: 0",
        "Authorization: Digest username=\"1001\", realm=\"192.0.2.1\", \
         nonce=\"Z2V0LXNpcGd1YXJkLW5vbmNl\", uri=\"sip:192.0.2.1\", \
         response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, qop=auth, \
         nc=00000001, cnonce=\"0a4f113b\"\r\nContent-Length: 0",
    );
    let scanner_paths: Vec<(&Harness, &str, Vec<u8>)> = vec![
        (
            &credentials,
            "credentials_register_counted_trusted_pass_v4",
            sip("198.51.100.20", with_credentials.as_bytes()),
        ),
        (
            &read_every,
            "scanner_ua_end_of_1400b_read_drop_v4",
            sip("198.51.100.66", &scanner_end),
        ),
        (
            &read_every,
            "honest_ua_end_of_1400b_read_pass_v4",
            sip("198.51.100.20", &honest_end),
        ),
        (
            &read_every,
            "honest_register_ua_early_read_pass_v4",
            sip("198.51.100.20", &honest_early),
        ),
        (
            &remembered,
            "scanner_ua_1400b_remembered_drop_v4",
            sip("198.51.100.66", &scanner_end),
        ),
        (
            &remembered,
            "honest_ua_end_of_1400b_remembered_pass_v4",
            sip("198.51.100.20", &honest_end),
        ),
    ];
    let mut results = Vec::new();
    let runs = paths
        .iter()
        .map(|(n, p)| (&h, *n, p))
        .chain(default_paths.iter().map(|(n, p)| (&default_policy, *n, p)))
        .chain(rate_paths.iter().map(|(n, p)| (&rate_policy, *n, p)))
        .chain(scanner_paths.iter().map(|(h, n, p)| (*h, *n, p)));
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (h, name, pkt) in runs {
        if args
            .only
            .as_ref()
            .is_some_and(|o| !name.contains(o.as_str()))
        {
            continue;
        }
        let mut samples: Vec<f64> = Vec::with_capacity(args.runs);
        let mut floors: Vec<f64> = Vec::with_capacity(args.runs);
        let mut nets: Vec<f64> = Vec::with_capacity(args.runs);
        let mut action = 0;
        // "Under the limit": every run starts from empty rate state (the policy's burst
        // covers a whole run); "over the limit": the bucket is emptied first.
        let under = name.contains("under_limit");
        let repeat = args.repeat;
        if name.contains("over_limit") {
            h.run_repeat(pkt, 1_000);
        }
        for _ in 0..args.runs {
            if under {
                h.clear_rate_state();
            }
            // The floor right before each run, so machine drift cancels out of the net.
            let floor = h.floor(pkt, repeat).as_nanos() as f64;
            let (a, mean): (u32, Duration) = h.run_repeat(pkt, repeat);
            action = a;
            samples.push(mean.as_nanos() as f64);
            floors.push(floor);
            nets.push(mean.as_nanos() as f64 - floor);
        }
        let (floor, net) = (median(&mut floors), median(&mut nets));
        let median = median(&mut samples);
        let verdict = match action {
            1 => "drop",
            2 => "pass",
            _ => "other",
        };
        println!(
            "{:<50} {:>8.0} {:>6.0} {:>6.0} {:>8.0} {:>8.0} {:>8}",
            name,
            median,
            floor,
            net,
            samples[0],
            samples[samples.len() - 1],
            verdict
        );
        results.push(serde_json::json!({
            "path": name,
            "median_ns": median,
            "floor_ns": floor,
            "net_ns": net,
            "min_ns": samples[0],
            "max_ns": samples[samples.len() - 1],
            "samples_ns": samples,
            "verdict": verdict,
            "frame_bytes": pkt.len(),
        }));
    }
    // The parts after the per-packet rows, each with its own JSON next to the main one.
    let wanted = |name: &str, count: u64| {
        count > 0 && args.only.as_ref().is_none_or(|o| name.contains(o.as_str()))
    };
    let mut parts: Vec<(&str, serde_json::Value)> = Vec::new();
    if wanted("autoban_lab", args.lab_trials as u64) {
        parts.push(("autoban_lab", autoban_lab::run(args.lab_trials)?));
    }
    if wanted("flood_capacity", args.flood_secs) {
        parts.push(("flood_capacity", flood_capacity::run(args.flood_secs)?));
    }
    if wanted("bruteforce", args.bruteforce_trials as u64) {
        parts.push(("bruteforce", bruteforce::run(args.bruteforce_trials)?));
    }
    if wanted("scale", args.scale_sources as u64) {
        let scale = sipguard_tests::scale::run(&sipguard_tests::scale::Args {
            sources: args.scale_sources,
            prefixes: args.scale_prefixes,
            runs: args.runs,
            repeat: args.repeat,
        })?;
        parts.push(("scale", scale));
    }
    if let Some(path) = args.json {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        for (name, doc) in &parts {
            let part_path = path.with_file_name(format!("{name}.json"));
            std::fs::write(&part_path, serde_json::to_string_pretty(doc)?)
                .with_context(|| format!("writing {}", part_path.display()))?;
            println!("JSON: {}", part_path.display());
        }
        let doc = serde_json::json!({
            "benchmark": "xdp_prog_test_run",
            "repeat": args.repeat,
            "runs": args.runs,
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "results": results,
        });
        // A run of other parts only (`--only scale`) keeps the last per-packet results.
        if !results.is_empty() {
            std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("\nJSON: {}", path.display());
        }
    }
    Ok(())
}

/// Auto-ban's reaction, measured in the lab (`sipguard_tests::voip`): Kamailio with digest
/// auth, the real `sipguard` daemon with its built-in default on the PBX's interface, and a
/// guesser in the attacker's namespace.
mod autoban_lab {
    use std::time::Duration;

    use anyhow::Context as _;
    use sipguard_tests::{
        daemon::Daemon,
        guesser::{Exchange, Guesser},
        voip::{VoipLab, ATTACKER, PBX, PBX_IF},
    };

    pub fn run(trials: usize) -> anyhow::Result<serde_json::Value> {
        let mut lab = VoipLab::new().context("building the lab")?;
        lab.start_kamailio()?;
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9690, &[])?;
        let guesser = Guesser {
            ns: lab.attacker.clone(),
            src: ATTACKER.parse()?,
            pbx: format!("{PBX}:5060").parse()?,
            user: "1001".into(),
            silence: Duration::from_millis(300),
        };
        println!(
            "\nauto-ban in the lab: Kamailio with digest auth, sipguard's built-in default \
             (failures = 5, attempts = 10), a guesser sending each wrong password the moment \
             the previous answer arrives"
        );
        println!(
            "{:<6} {:>10} {:>16} {:>22} {:>16}",
            "trial", "answered", "wrong_passwords", "last_answer_to_drop_us", "attack_ms"
        );
        let mut rows = Vec::new();
        let mut gaps = Vec::new();
        for trial in 1..=trials {
            let run = guesser.lock_step(50)?;
            let answered: Vec<&Exchange> = run.iter().filter(|e| e.answer.is_some()).collect();
            let (Some(last_answer), Some(first_drop)) = (
                answered.last().and_then(|e| e.answer),
                run.last().filter(|e| e.answer.is_none()),
            ) else {
                anyhow::bail!("trial {trial}: the guesser was never cut off: {run:?}");
            };
            let gap = first_drop.sent - last_answer.1;
            let attack = first_drop.sent - run[0].sent;
            let wrong = answered.iter().filter(|e| e.with_credentials).count();
            println!(
                "{:<6} {:>10} {:>16} {:>22.1} {:>16.2}",
                trial,
                answered.len(),
                wrong,
                gap.as_secs_f64() * 1e6,
                attack.as_secs_f64() * 1e3
            );
            gaps.push(gap.as_secs_f64() * 1e6);
            rows.push(serde_json::json!({
                "trial": trial,
                "answered": answered.len(),
                "wrong_passwords_answered": wrong,
                "last_answer_to_first_drop_us": gap.as_secs_f64() * 1e6,
                "attack_ms": attack.as_secs_f64() * 1e3,
            }));
            unban(&daemon)?;
        }
        gaps.sort_by(f64::total_cmp);
        // Pipelined: 50 wrong passwords back to back, without waiting for answers.
        let before = lab.kamailio_count("AUTHFAIL", ATTACKER);
        let burst = guesser.burst(50)?;
        std::thread::sleep(Duration::from_millis(300));
        let reached = lab.kamailio_count("AUTHFAIL", ATTACKER) - before;
        let answered = burst.iter().filter(|e| e.answer.is_some()).count();
        let bans = daemon.cli(&["bans", "--json"])?;
        let bans: serde_json::Value = serde_json::from_slice(&bans.stdout)?;
        let reason = bans[0]["reason"].as_str().unwrap_or("none").to_owned();
        println!(
            "median last answer -> first dropped request: {:.1} us (min {:.1}, max {:.1})",
            gaps[gaps.len() / 2],
            gaps[0],
            gaps[gaps.len() - 1]
        );
        println!(
            "burst of 50 wrong passwords back to back: {reached} reached Kamailio, \
             {answered} answered, banned for {reason}"
        );
        unban(&daemon)?;
        Ok(serde_json::json!({
            "benchmark": "autoban_lab",
            "policy": "built-in default (failures = 5, attempts = 10, window 60s)",
            "trials": rows,
            "median_last_answer_to_first_drop_us": gaps[gaps.len() / 2],
            "burst": { "sent": 50, "reached_kamailio": reached, "answered": answered, "ban_reason": reason },
        }))
    }

    fn unban(daemon: &Daemon) -> anyhow::Result<()> {
        let out = daemon.cli(&["unban", ATTACKER])?;
        anyhow::ensure!(
            out.status.success(),
            "unban: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

/// Brute force, sipguard against iptables + fail2ban: svcrack guessing 1001's password
/// against Kamailio in the lab, once per trial and defence. Measured from Kamailio's own log,
/// tailed while the attack runs (each new line stamped as it appears, polled every 5 ms):
/// the wrong passwords that reached Kamailio before the attacker was cut off, and the cut-off
/// time, from the first of the attacker's requests to reach Kamailio to the last one.
mod bruteforce {
    use std::{
        io::{Read as _, Seek as _},
        path::Path,
        sync::atomic::{AtomicBool, Ordering},
        time::{Duration, Instant, SystemTime},
    };

    use anyhow::Context as _;
    use sipguard_tests::{
        daemon::Daemon,
        fail2ban::{self, Fail2ban, Thresholds},
        policies::{bench_file, load_bench_iptables},
        voip::{VoipLab, ATTACKER, PBX_IF},
    };

    /// svcrack's arguments: far more passwords than any defence lets it try (1001's password
    /// is guess 151), and an honest phone's User-Agent, so that what stops it is its failed
    /// authentications, not a scanner fingerprint (the policy has fingerprints off anyway).
    const SVCRACK: &[&str] = &["-u1001", "-r1-20000"];
    const USER_AGENT: &str = "Zoiper rv2.10.20.3";
    /// svcrack's time limit per trial.
    const ATTACK_SECS: u64 = 40;
    pub const DEFINITION: &str = "cut_off_s: seconds from the first request of the attacker \
        (192.0.2.66) to reach Kamailio to the last one (Kamailio's RX log lines, each stamped \
        when it appeared in the log, polled every 5 ms); wrong_passwords: Kamailio's AUTHFAIL \
        lines for the attacker; sent: the attacker namespace's Udp OutDatagrams during svcrack";

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Defence {
        Sipguard,
        Fail2ban,
    }

    impl Defence {
        fn name(self) -> &'static str {
            match self {
                Defence::Sipguard => "sipguard",
                Defence::Fail2ban => "iptables+fail2ban",
            }
        }
    }

    /// One line of Kamailio's log and when the tail saw it.
    struct Line {
        at: Instant,
        text: String,
    }

    /// Kamailio's log from its current end, until `stop` (or 10 minutes at most).
    fn tail(path: &Path, stop: &AtomicBool) -> anyhow::Result<Vec<Line>> {
        let mut file = std::fs::File::open(path).context("opening kamailio.log")?;
        file.seek(std::io::SeekFrom::End(0))?;
        let deadline = Instant::now() + Duration::from_secs(600);
        let (mut lines, mut partial) = (Vec::new(), Vec::new());
        let mut chunk = Vec::new();
        loop {
            let last_round = stop.load(Ordering::Relaxed) || Instant::now() > deadline;
            chunk.clear();
            file.read_to_end(&mut chunk)?;
            let at = Instant::now();
            partial.extend_from_slice(&chunk);
            while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = partial.drain(..=i).collect();
                lines.push(Line {
                    at,
                    text: String::from_utf8_lossy(&line).trim_end().to_owned(),
                });
            }
            if last_round {
                return Ok(lines);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn is_attackers(line: &str, tag: &str) -> bool {
        line.contains(&format!(": {tag} "))
            && (line.contains(&format!(" src={ATTACKER}:"))
                || line.contains(&format!(" src={ATTACKER} ")))
    }

    struct Trial {
        sent: u64,
        reached: usize,
        wrong: usize,
        cracked: bool,
        cut_off_s: Option<f64>,
        /// fail2ban: its Ban line, seconds after the first request reached Kamailio.
        ban_decided_s: Option<f64>,
        banned: bool,
        ban: String,
        attack_s: f64,
    }

    pub fn run(trials: usize) -> anyhow::Result<serde_json::Value> {
        let version = Fail2ban::version();
        println!(
            "\nbrute force in the lab: svcrack {} (User-Agent \"{USER_AGENT}\", at most \
             {ATTACK_SECS} s) against Kamailio with digest auth; sipguard with \
             tests/bench/policy.toml (auto-ban: 5 failures in 60 s, 1 h) against \
             tests/bench/iptables.rules + fail2ban {version} (maxretry 5, findtime 60 s, \
             bantime 1 h, iptables-allports DROP)",
            SVCRACK.join(" ")
        );
        println!("{DEFINITION}");
        println!(
            "{:<18} {:>5} {:>7} {:>8} {:>15} {:>10} {:>14} {:>8}  ban",
            "defence",
            "trial",
            "sent",
            "reached",
            "wrong_passwords",
            "cut_off_s",
            "ban_logged_s",
            "attack_s",
        );
        let mut out = serde_json::Map::new();
        let mut backend = None;
        for defence in [Defence::Sipguard, Defence::Fail2ban] {
            let (rows, used) = defend(defence, trials)?;
            if used.is_some() {
                backend = used;
            }
            let median = |f: &dyn Fn(&Trial) -> Option<f64>| -> Option<f64> {
                let mut v: Vec<f64> = rows.iter().filter_map(f).collect();
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied()
            };
            let medians = serde_json::json!({
                "sent": median(&|t| Some(t.sent as f64)),
                "reached_kamailio": median(&|t| Some(t.reached as f64)),
                "wrong_passwords": median(&|t| Some(t.wrong as f64)),
                "cut_off_s": median(&|t| t.cut_off_s),
                "ban_logged_s": median(&|t| t.ban_decided_s),
            });
            let fmt = |v: Option<f64>, p: usize| v.map_or("-".to_owned(), |v| format!("{v:.p$}"));
            println!(
                "{:<18} {:>5} {:>7} {:>8} {:>15} {:>10} {:>14} {:>8}",
                defence.name(),
                "med",
                fmt(medians["sent"].as_f64(), 0),
                fmt(medians["reached_kamailio"].as_f64(), 0),
                fmt(medians["wrong_passwords"].as_f64(), 0),
                fmt(medians["cut_off_s"].as_f64(), 3),
                fmt(medians["ban_logged_s"].as_f64(), 3),
                "",
            );
            let rows: Vec<serde_json::Value> = rows
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    serde_json::json!({
                        "trial": i + 1,
                        "sent": t.sent,
                        "reached_kamailio": t.reached,
                        "wrong_passwords": t.wrong,
                        "password_found": t.cracked,
                        "cut_off_s": t.cut_off_s,
                        "ban_logged_s": t.ban_decided_s,
                        "banned": t.banned,
                        "ban": t.ban,
                        "attack_s": t.attack_s,
                    })
                })
                .collect();
            out.insert(
                defence.name().to_owned(),
                serde_json::json!({ "trials": rows, "median": medians }),
            );
        }
        Ok(serde_json::json!({
            "benchmark": "bruteforce",
            "attack": format!("svcrack {} -x {ATTACKER} with User-Agent {USER_AGENT:?}, at most {ATTACK_SECS} s", SVCRACK.join(" ")),
            "definitions": DEFINITION,
            "sipguard_policy": "tests/bench/policy.toml (autoban failures = 5, window 60s, ban 1h)",
            "iptables_rules": "tests/bench/iptables.rules (iptables-legacy-restore)",
            "fail2ban": {
                "version": version,
                "backend": backend,
                "jail": fail2ban::JAIL,
                "maxretry": Thresholds::BENCH.maxretry,
                "findtime_s": Thresholds::BENCH.findtime_secs,
                "bantime_s": Thresholds::BENCH.bantime_secs,
                "action": "iptables-allports[protocol=all, blocktype=DROP, iptables=iptables-legacy -w]",
                "ban_logged_s": "seconds from the first request to reach Kamailio to fail2ban's `Ban 192.0.2.66` log line",
            },
            "results": out,
        }))
    }

    /// One defence's trials, each with the attacker unbanned and the defence's count of
    /// failures reset; returns fail2ban's backend too.
    fn defend(defence: Defence, trials: usize) -> anyhow::Result<(Vec<Trial>, Option<String>)> {
        let mut lab = VoipLab::new().context("building the lab")?;
        lab.start_kamailio()?;
        let policy = bench_file("policy.toml");
        let policy = policy.to_str().context("policy path")?;
        // Declared after the lab: dropped (stopped) before the lab's namespaces go.
        let (daemon, f2b) = match defence {
            Defence::Sipguard => (
                Some(Daemon::start(
                    &lab.pbx,
                    PBX_IF,
                    9691,
                    &["--config", policy],
                )?),
                None,
            ),
            Defence::Fail2ban => {
                load_bench_iptables(&lab.pbx)?;
                let log = lab.dir.join("kamailio.log");
                (
                    None,
                    Some(Fail2ban::start(&lab.pbx, &log, Thresholds::BENCH)?),
                )
            }
        };
        let mut rows = Vec::new();
        for trial in 1..=trials {
            let t = attack(&lab, daemon.as_ref(), f2b.as_ref())
                .with_context(|| format!("{} trial {trial}", defence.name()))?;
            println!(
                "{:<18} {:>5} {:>7} {:>8} {:>15} {:>10} {:>14} {:>8.1}  {}",
                defence.name(),
                trial,
                t.sent,
                t.reached,
                t.wrong,
                t.cut_off_s.map_or("-".into(), |s| format!("{s:.3}")),
                t.ban_decided_s.map_or("-".into(), |s| format!("{s:.3}")),
                t.attack_s,
                t.ban
            );
            if !t.banned || t.cracked {
                eprintln!(
                    "warning: {} trial {trial}: {}",
                    defence.name(),
                    if t.cracked {
                        "svcrack found the password before it was cut off"
                    } else {
                        "the attacker was not banned"
                    }
                );
            }
            rows.push(t);
            // The next trial starts unbanned and with no failures counted.
            if let Some(d) = &daemon {
                let out = d.cli(&["unban", ATTACKER])?;
                anyhow::ensure!(
                    out.status.success(),
                    "sipguard unban: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            if let Some(f) = &f2b {
                f.reset(ATTACKER)?;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        let backend = f2b.as_ref().and_then(Fail2ban::backend);
        drop((daemon, f2b));
        drop(lab);
        Ok((rows, backend))
    }

    fn attack(
        lab: &VoipLab,
        daemon: Option<&Daemon>,
        f2b: Option<&Fail2ban>,
    ) -> anyhow::Result<Trial> {
        let log = lab.dir.join("kamailio.log");
        let sent_before = lab.udp_sent(&lab.attacker)?;
        let stop = AtomicBool::new(false);
        let anchor = (Instant::now(), SystemTime::now());
        let (svcrack, lines) = std::thread::scope(|s| {
            let tailer = s.spawn(|| tail(&log, &stop));
            // The tail starts at the log's end before the first request.
            std::thread::sleep(Duration::from_millis(50));
            let started = Instant::now();
            let svcrack = lab.sipvicious("svcrack", SVCRACK, Some(USER_AGENT), ATTACK_SECS);
            let elapsed = started.elapsed();
            // Kamailio writes its log as it goes; what is in flight lands within this.
            std::thread::sleep(Duration::from_millis(500));
            stop.store(true, Ordering::Relaxed);
            let lines = tailer
                .join()
                .map_err(|_| anyhow::anyhow!("the log tail panicked"));
            (svcrack.map(|o| (o, elapsed)), lines)
        });
        let (_, attack) = svcrack?;
        let lines = lines??;
        let sent = lab.udp_sent(&lab.attacker)? - sent_before;
        let rx: Vec<&Line> = lines
            .iter()
            .filter(|l| is_attackers(&l.text, "RX"))
            .collect();
        let wrong = lines
            .iter()
            .filter(|l| is_attackers(&l.text, "AUTHFAIL"))
            .count();
        let cracked = lines.iter().any(|l| is_attackers(&l.text, "AUTHOK"));
        let cut_off_s = match (rx.first(), rx.last()) {
            (Some(a), Some(b)) => Some((b.at - a.at).as_secs_f64()),
            _ => None,
        };
        let first_wall = rx.first().map(|l| anchor.1 + (l.at - anchor.0));
        let (banned, ban, ban_decided_s) = if let Some(d) = daemon {
            let out = d.cli(&["bans", "--json"])?;
            let bans: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("sipguard bans --json")?;
            let ours = bans.as_array().and_then(|a| {
                a.iter()
                    .find(|b| b["net"].as_str().is_some_and(|n| n.starts_with(ATTACKER)))
            });
            match ours {
                Some(b) => (
                    true,
                    format!(
                        "{} {} (dropped {})",
                        b["net"].as_str().unwrap_or("?"),
                        b["reason"].as_str().unwrap_or("?"),
                        b["hits"]
                    ),
                    None,
                ),
                None => (false, "none".to_owned(), None),
            }
        } else if let Some(f) = f2b {
            let banned = f.banned()?.iter().any(|ip| ip == ATTACKER);
            // This trial's Ban line (fail2ban logs in milliseconds, after the trial began).
            let logged = first_wall.and_then(|first| {
                let since_start = first.duration_since(anchor.1).ok()?.as_secs_f64();
                f.ban_times(ATTACKER)
                    .into_iter()
                    .filter_map(|t| t.duration_since(anchor.1).ok())
                    .map(|d| d.as_secs_f64() - since_start)
                    .next()
            });
            let ban = if banned {
                format!("{ATTACKER} in [{}]", fail2ban::JAIL)
            } else {
                "none".to_owned()
            };
            (banned, ban, logged)
        } else {
            (false, "none".to_owned(), None)
        };
        Ok(Trial {
            sent,
            reached: rx.len(),
            wrong,
            cracked,
            cut_off_s,
            ban_decided_s,
            banned,
            ban,
            attack_s: attack.as_secs_f64(),
        })
    }
}

/// Flood capacity: a generator that outruns every filter (BPF_PROG_TEST_RUN live frames on an
/// XDP_TX program, `sipguard_tests::flood`) floods the PBX namespace of the VoIP lab through
/// its own veth pair, against sipguard, iptables and nftables with the same policy
/// (`tests/bench/`), while honest registrations and calls go through the bridge. Measured:
/// packets dropped per second of the receiving CPU's softirq time (the generator, the veth
/// receive and the filter all run on CPU 1; the generator's own syscall time is `system`).
mod flood_capacity {
    use std::{
        collections::BTreeMap,
        net::Ipv4Addr,
        sync::atomic::{AtomicBool, Ordering},
        time::Duration,
    };

    use anyhow::Context as _;
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
                what:
                    "the same, sent by AF_PACKET sendmmsg (batches of 64, qdisc bypassed) instead: \
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

    pub fn run(secs: u64) -> anyhow::Result<serde_json::Value> {
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
        Ok(serde_json::json!({
            "benchmark": "flood_capacity",
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "cpus": cpus,
            "cpu_model": std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default().lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|(_, v)| v.trim().to_owned())),
            "generator": generator,
            "generator_cpu": CPU,
            "min_flood_secs": secs,
            "floods": floods.iter().map(|f| serde_json::json!({
                "flood": f.name, "what": f.what, "frame_bytes": f.flood.frame.len(),
            })).collect::<Vec<_>>(),
            "policy": "tests/bench/policy.toml, tests/bench/iptables.rules, tests/bench/nftables.nft",
            "rows": rows,
        }))
    }

    fn measure(
        lab: &VoipLab,
        link: &FloodLink,
        filter: &Filter,
        kind: &FloodKind,
    ) -> anyhow::Result<serde_json::Value> {
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
        Ok(serde_json::json!({
            "filter": filter.name(),
            "flood": kind.name,
            "generator": kind.flood.generator.name(),
            "sent": sent.frames,
            "wall_s": sent.wall.as_secs_f64(),
            "sent_mpps": sent.frames as f64 / sent.wall.as_secs_f64() / 1e6,
            "dropped": dropped,
            "dropped_by": if matches!(filter, Filter::None) { "udp socket buffer (RcvbufErrors)" } else { "the filter's counters" },
            "udp_delivered": delivered,
            "udp_rcvbuf_errors": rcvbuf,
            "softirq_s": cpu.softirq,
            "system_s": cpu.system,
            "user_s": cpu.user,
            "drops_per_softirq_s": per_softirq,
            "drops_per_softirq_plus_system_s": all_in,
            "sipguard_drop_reasons": reasons,
            "honest_registrations_ok": regs_ok,
            "honest_registrations_total": REGISTRATIONS,
            "honest_registrations_error": regs.as_ref().err().map(|e| format!("{e:#}")),
            "honest_calls_ok": calls_ok,
            "honest_calls_total": CALLS,
            "honest_calls_answered": calls.as_ref().map_or(0, |(_, uas)| uas.successful),
            "honest_calls_error": calls.as_ref().err().map(|e| format!("{e:#}")),
        }))
    }
}
