//! `cargo xtask bench`: mean nanoseconds per packet of every verdict path of the real XDP
//! program, measured by the kernel with BPF_PROG_TEST_RUN (millions of repeats per run,
//! several runs for the spread). A table on stdout, the same numbers as JSON.
use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use sipguard::maps::ban_clock_ns;
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
            "-h" | "--help" => {
                println!(
                    "sipguard-bench [--repeat N] [--runs N] [--json FILE] [--only SUBSTRING] \
                     [--lab-trials N (0: skip the lab's auto-ban timing)] \
                     [--scale-sources N (0: skip the scale part)] [--scale-prefixes N]"
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
    if !sipguard::loader::is_root() {
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
    let mut h = Harness::with_config(&crafted);
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
    let default_policy = Harness::with_config(sipguard::config::DEFAULT_CONFIG);
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
    let rate_policy = Harness::with_config(
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
    let read_every = Harness::with_config(&scanner_policy("0"));
    let remembered = Harness::with_config(&scanner_policy("1s"));
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
    let credentials = Harness::with_config(
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
    let lab = if args.lab_trials > 0
        && args
            .only
            .as_ref()
            .is_none_or(|o| "autoban_lab".contains(o.as_str()))
    {
        Some(autoban_lab::run(args.lab_trials)?)
    } else {
        None
    };
    let scale = if args.scale_sources > 0
        && args
            .only
            .as_ref()
            .is_none_or(|o| "scale".contains(o.as_str()))
    {
        Some(sipguard_tests::scale::run(&sipguard_tests::scale::Args {
            sources: args.scale_sources,
            prefixes: args.scale_prefixes,
            runs: args.runs,
            repeat: args.repeat,
        })?)
    } else {
        None
    };
    if let Some(path) = args.json {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if let Some(scale) = &scale {
            let scale_path = path.with_file_name("scale.json");
            std::fs::write(&scale_path, serde_json::to_string_pretty(scale)?)
                .with_context(|| format!("writing {}", scale_path.display()))?;
            println!("JSON: {}", scale_path.display());
        }
        if let Some(lab) = &lab {
            let lab_path = path.with_file_name("autoban_lab.json");
            std::fs::write(&lab_path, serde_json::to_string_pretty(lab)?)
                .with_context(|| format!("writing {}", lab_path.display()))?;
            println!("JSON: {}", lab_path.display());
        }
        let doc = serde_json::json!({
            "benchmark": "xdp_prog_test_run",
            "repeat": args.repeat,
            "runs": args.runs,
            "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            "results": results,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("\nJSON: {}", path.display());
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
