//! Tier 3: the real `sipguard run` binary attached to a veth in a network namespace, real
//! UDP/TCP/ICMP traffic from allowed, outside and denied IPv4 and IPv6 sources, and /metrics
//! scraped over HTTP and checked against what was sent.
use std::{
    net::{IpAddr, SocketAddr},
    process::Command,
    time::Duration,
};

use sipguard_tests::{
    daemon::{binary, refused, Daemon},
    netns::{
        self, addr,
        clients::{ALLOWED4, ALLOWED6, DENIED4, DENIED6, OUTSIDER4, OUTSIDER6},
        metric, packets_total, Lab, PBX_IF, PBX_V4, PBX_V6,
    },
    policies::{TempFile, LAB},
    privileged_test,
    traffic::{
        send_guesses, send_udp, tcp_connects, SteadyUdp, TcpAcceptor, UdpCounter, DATAGRAMS,
    },
    wait_every, wait_until,
};

privileged_test! {
    fn denied_sources_are_dropped_and_counted_while_allowed_traffic_flows() {
        let lab = Lab::new(&[ALLOWED4, OUTSIDER4, DENIED4, ALLOWED6, OUTSIDER6, DENIED6]).unwrap();
        let config = TempFile::with_contents(LAB);
        let udp = UdpCounter::start(&lab.pbx, 5060).unwrap();
        let tcp = TcpAcceptor::start(&lab.pbx, 22).unwrap();
        let mut daemon = Daemon::start(
            &lab.pbx,
            PBX_IF,
            9477,
            &["--config", config.as_str(), "--xdp-mode", "native"],
        )
        .unwrap();

        // UDP to SIP from every source, both families
        for src in [ALLOWED4, OUTSIDER4, DENIED4] {
            let dst = SocketAddr::new(addr(PBX_V4), 5060);
            send_udp(
                &lab.client,
                addr(src),
                dst,
                DATAGRAMS,
                b"OPTIONS sip:100@pbx SIP/2.0\r\n\r\n",
            )
            .unwrap();
        }
        for src in [ALLOWED6, OUTSIDER6, DENIED6] {
            let dst = SocketAddr::new(addr(PBX_V6), 5060);
            send_udp(
                &lab.client,
                addr(src),
                dst,
                DATAGRAMS,
                b"OPTIONS sip:100@pbx SIP/2.0\r\n\r\n",
            )
            .unwrap();
        }
        let received = udp.finish().unwrap();
        assert_eq!(
            received.get(&addr(ALLOWED4)),
            Some(&(DATAGRAMS as u64)),
            "{received:?}"
        );
        assert_eq!(
            received.get(&addr(ALLOWED6)),
            Some(&(DATAGRAMS as u64)),
            "{received:?}"
        );
        for src in [OUTSIDER4, DENIED4, OUTSIDER6, DENIED6] {
            assert_eq!(
                received.get(&addr(src)),
                None,
                "{src} got through: {received:?}"
            );
        }

        // TCP to SSH
        let ssh4 = SocketAddr::new(addr(PBX_V4), 22);
        let ssh6 = SocketAddr::new(addr(PBX_V6), 22);
        let t = Duration::from_millis(1500);
        assert!(
            tcp_connects(&lab.client, addr(ALLOWED4), ssh4, t).unwrap(),
            "allowed v4 ssh"
        );
        assert!(
            tcp_connects(&lab.client, addr(ALLOWED6), ssh6, t).unwrap(),
            "allowed v6 ssh"
        );
        assert!(
            !tcp_connects(&lab.client, addr(OUTSIDER4), ssh4, t).unwrap(),
            "outsider v4 ssh"
        );
        assert!(
            !tcp_connects(&lab.client, addr(OUTSIDER6), ssh6, t).unwrap(),
            "outsider v6 ssh"
        );
        assert_eq!(
            tcp.finish().unwrap(),
            2,
            "exactly the two allowed connections were accepted"
        );

        // ICMP echo
        assert!(lab.ping(ALLOWED4, PBX_V4, 3), "allowed v4 ping");
        assert!(lab.ping(ALLOWED6, PBX_V6, 3), "allowed v6 ping");
        assert!(!lab.ping(OUTSIDER4, PBX_V4, 3), "outsider v4 ping");
        assert!(!lab.ping(OUTSIDER6, PBX_V6, 3), "outsider v6 ping");

        // the counters say exactly what was sent
        let m = daemon.scrape().expect("metrics");
        let n = f64::from(DATAGRAMS);
        assert_eq!(packets_total(&m, "sip", "allowed", "pass"), 2.0 * n, "{m}");
        assert_eq!(packets_total(&m, "sip", "not_allowed", "drop"), 2.0 * n, "{m}");
        assert_eq!(packets_total(&m, "sip", "denied", "drop"), 2.0 * n, "{m}");
        // every datagram was an OPTIONS request: counted by SIP class with its verdict
        let options = |verdict| {
            metric(
                &m,
                "sipguard_sip_packets_total",
                &[
                    ("service", "sip"),
                    ("class", "options"),
                    ("verdict", verdict),
                ],
            )
            .unwrap_or(0.0)
        };
        assert_eq!(options("pass"), 2.0 * n, "{m}");
        assert_eq!(options("drop"), 4.0 * n, "{m}");
        assert_eq!(packets_total(&m, "icmp", "allowed", "pass"), 6.0, "{m}");
        assert_eq!(packets_total(&m, "icmp", "not_allowed", "drop"), 6.0, "{m}");
        assert!(
            packets_total(&m, "ssh", "allowed", "pass") >= 4.0,
            "SYN and ACKs of two sessions: {m}"
        );
        assert!(
            packets_total(&m, "ssh", "not_allowed", "drop") >= 2.0,
            "SYNs of two refused sessions: {m}"
        );
        assert!(
            packets_total(&m, "none", "icmp_control", "pass") >= 1.0,
            "neighbour discovery: {m}"
        );
        assert_eq!(metric(&m, "sipguard_build_info", &[]), Some(1.0), "{m}");
        assert_eq!(metric(&m, "sipguard_default_drop", &[]), Some(1.0), "{m}");
        assert!(
            metric(&m, "sipguard_map_entries", &[("map", "ALLOW_V4")]).unwrap() >= 3.0,
            "{m}"
        );

        // `sipguard status` from another shell reads the same pinned counters
        let status = daemon.cli(&["status"]).unwrap();
        let text = String::from_utf8_lossy(&status.stdout);
        assert!(
            status.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&status.stderr)
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("sip ") && l.contains("denied") && l.contains(" 40 ")),
            "{text}"
        );

        // SIGTERM exits cleanly and leaves the filter in place (an upgrade must not open a gap);
        // `sipguard detach` removes it and the pinned maps.
        let exit = daemon.stop().unwrap();
        assert!(exit.success(), "exit {exit}: {}", daemon.log_text());
        assert!(xdp_attached(&lab), "XDP left the interface with the daemon");
        let out = daemon.cli(&["detach", "--iface", PBX_IF]).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!xdp_attached(&lab), "XDP still attached after detach");
        assert!(!daemon.pin_dir.exists(), "pinned maps left behind");
    }
}

fn xdp_attached(lab: &Lab) -> bool {
    let link = netns::ip(&["-n", &lab.pbx, "link", "show", PBX_IF]).unwrap();
    String::from_utf8_lossy(&link.stdout).contains("xdp")
}

privileged_test! {
    fn built_in_default_keeps_sip_open_and_ssh_private() {
        // a public-looking phone and a private admin workstation
        let phone = "198.51.100.20";
        let admin = "10.9.8.7";
        let lab = Lab::new(&[phone, admin]).unwrap();
        for (ns, route) in [
            (&lab.client, "192.0.2.1/32"),
            (&lab.pbx, "198.51.100.0/24"),
            (&lab.pbx, "10.0.0.0/8"),
        ] {
            let dev = if ns == &lab.pbx {
                PBX_IF
            } else {
                netns::CLIENT_IF
            };
            netns::ip(&["-n", ns, "route", "add", route, "dev", dev]).unwrap();
        }
        let udp = UdpCounter::start(&lab.pbx, 5060).unwrap();
        let tcp = TcpAcceptor::start(&lab.pbx, 22).unwrap();
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9478, &[]).unwrap();

        send_udp(
            &lab.client,
            addr(phone),
            SocketAddr::new(addr(PBX_V4), 5060),
            5,
            b"REGISTER",
        )
        .unwrap();
        let ssh = SocketAddr::new(addr(PBX_V4), 22);
        let t = Duration::from_millis(1500);
        assert!(
            tcp_connects(&lab.client, addr(admin), ssh, t).unwrap(),
            "private admin reaches ssh"
        );
        assert!(
            !tcp_connects(&lab.client, addr(phone), ssh, t).unwrap(),
            "public source can't reach ssh"
        );
        assert_eq!(udp.finish().unwrap().get(&addr(phone)), Some(&5));
        assert_eq!(tcp.finish().unwrap(), 1);

        let m = daemon.scrape().unwrap();
        assert_eq!(packets_total(&m, "sip", "allowed", "pass"), 5.0, "{m}");
        assert!(packets_total(&m, "ssh", "not_allowed", "drop") >= 1.0, "{m}");
    }
}

/// Sends `count` UDP datagrams to the PBX's SIP port from `src`; returns how many arrived.
fn sip_datagrams_through(lab: &Lab, src: &str, count: u32) -> u64 {
    let udp = UdpCounter::start(&lab.pbx, 5060).unwrap();
    send_udp(
        &lab.client,
        addr(src),
        SocketAddr::new(addr(PBX_V4), 5060),
        count,
        b"OPTIONS",
    )
    .unwrap();
    udp.finish().unwrap().get(&addr(src)).copied().unwrap_or(0)
}

privileged_test! {
    fn second_daemon_on_another_pin_directory_is_refused_by_the_busy_interface() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let _first = Daemon::start(&lab.pbx, PBX_IF, 9479, &[]).unwrap();
        let pin = format!("/sys/fs/bpf/{}", sipguard_tests::unique("sipguard-test-"));
        let stderr = refused(Lab::netns_command(&lab.pbx, binary()).unwrap().args([
            "run",
            "--iface",
            PBX_IF,
            "--pin-path",
            &pin,
        ]));
        let _ = std::fs::remove_dir_all(&pin);
        assert!(stderr.contains("already attached to pbx0"), "{stderr}");
    }
}

privileged_test! {
    fn second_daemon_on_the_same_pins_changes_nothing() {
        let lab = Lab::new(&[OUTSIDER4]).unwrap();
        let config = TempFile::with_contents(LAB);
        let first = Daemon::start(&lab.pbx, PBX_IF, 9480, &["--config", config.as_str()]).unwrap();
        // the second one would open SIP to all (built-in default) if it wrote its policy
        let stderr = refused(
            Lab::netns_command(&lab.pbx, binary())
                .unwrap()
                .args(["run", "--iface", PBX_IF])
                .arg("--pin-path")
                .arg(&first.pin_dir),
        );
        assert!(stderr.contains("another sipguard is running"), "{stderr}");
        assert_eq!(
            sip_datagrams_through(&lab, OUTSIDER4, 5),
            0,
            "the first policy still holds"
        );
    }
}

privileged_test! {
    fn sighup_applies_a_good_config_and_rejects_a_broken_one() {
        use nix::sys::signal::Signal::SIGHUP;
        let lab = Lab::new(&[OUTSIDER4]).unwrap();
        let config = TempFile::with_contents(LAB);
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9481, &["--config", config.as_str()]).unwrap();
        assert_eq!(sip_datagrams_through(&lab, OUTSIDER4, 5), 0);

        // broken: rejected, the running policy stays
        std::fs::write(&config.0, LAB.replace("ports = [5060]", "ports = [0]")).unwrap();
        daemon.signal(SIGHUP).unwrap();
        assert!(
            daemon.wait_for_log("reload rejected", Duration::from_secs(10)),
            "{}",
            daemon.log_text()
        );
        assert!(
            daemon.log_text().contains("port 0"),
            "{}",
            daemon.log_text()
        );
        assert_eq!(
            sip_datagrams_through(&lab, OUTSIDER4, 5),
            0,
            "old policy still enforced"
        );

        // good: SIP opened to all
        let open = LAB.replacen(
            r#"allow = ["192.0.2.0/25", "2001:db8:1::/112"]"#,
            r#"allow = ["any"]"#,
            1,
        );
        std::fs::write(&config.0, open).unwrap();
        daemon.signal(SIGHUP).unwrap();
        assert!(
            daemon.wait_for_log("policy reloaded", Duration::from_secs(10)),
            "{}",
            daemon.log_text()
        );
        assert_eq!(
            sip_datagrams_through(&lab, OUTSIDER4, 5),
            5,
            "new policy applied"
        );
    }
}

privileged_test! {
    fn non_ethernet_interface_is_refused() {
        let lab = Lab::new(&[]).unwrap();
        netns::ip(&[
            "-n", &lab.pbx, "tuntap", "add", "dev", "tun7", "mode", "tun",
        ])
        .unwrap();
        let stderr = refused(Lab::netns_command(&lab.pbx, binary()).unwrap().args([
            "run",
            "--iface",
            "tun7",
            "--pin-path",
            "/sys/fs/bpf/sipguard-test-unused",
        ]));
        assert!(
            stderr.contains("tun7 is not an Ethernet interface"),
            "{stderr}"
        );
    }
}

privileged_test! {
    fn missing_interface_is_reported_by_name() {
        let stderr = refused(Command::new(binary()).args([
            "run",
            "--iface",
            "nosuch0",
            "--pin-path",
            "/sys/fs/bpf/sipguard-test-unused",
        ]));
        assert!(
            stderr.contains("interface \"nosuch0\" not found"),
            "{stderr}"
        );
    }
}

privileged_test! {
    fn run_without_root_says_it_needs_root() {
        // setpriv is util-linux's: drop to nobody before running the binary
        let stderr = refused(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(binary())
                .args(["run", "--iface", "lo"]),
        );
        assert!(stderr.contains("needs root"), "{stderr}");
    }
}

#[test]
fn check_names_file_line_field_and_value_of_a_bad_config() {
    let config = TempFile::with_contents(
        "[[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"10.0.0.300/8\"]\n",
    );
    let stderr = refused(Command::new(binary()).args(["check", "--config", config.as_str()]));
    assert!(
        stderr.contains(&format!("{}:5:", config.as_str())),
        "{stderr}"
    );
    assert!(stderr.contains("allow"), "{stderr}");
    assert!(stderr.contains("10.0.0.300/8"), "{stderr}");
}

#[test]
fn check_accepts_the_example_config() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sipguard/examples/sipguard.toml"
    );
    let out = Command::new(binary())
        .args(["check", "--config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_ok(d: &Daemon, args: &[&str]) -> String {
    let out = d.cli(args).expect("running the sipguard CLI");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sipguard {args:?}: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

privileged_test! {
    fn a_manual_ban_drops_a_source_until_unbanned() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let config = TempFile::with_contents(LAB);
        let d = Daemon::start(&lab.pbx, PBX_IF, 9490, &["--config", config.as_str()]).unwrap();
        let sip = SocketAddr::new(addr(PBX_V4), 5060);
        let send = |n| {
            let udp = UdpCounter::start(&lab.pbx, 5060).unwrap();
            send_udp(
                &lab.client,
                addr(ALLOWED4),
                sip,
                n,
                b"OPTIONS sip:100@pbx SIP/2.0\r\n\r\n",
            )
            .unwrap();
            udp.finish()
                .unwrap()
                .get(&addr(ALLOWED4))
                .copied()
                .unwrap_or(0)
        };
        assert_eq!(send(DATAGRAMS), DATAGRAMS as u64, "before the ban");

        let out = run_ok(
            &d,
            &[
                "ban",
                ALLOWED4,
                "--for",
                "1h",
                "--reason",
                "guessing passwords",
            ],
        );
        assert!(out.contains("banned 192.0.2.10/32"), "{out}");
        assert_eq!(send(DATAGRAMS), 0, "while banned");
        let text = d.scrape().unwrap();
        assert_eq!(packets_total(&text, "sip", "banned", "drop"), DATAGRAMS as f64);

        let list = run_ok(&d, &["bans"]);
        let row = list
            .lines()
            .find(|l| l.starts_with("192.0.2.10/32"))
            .unwrap_or_else(|| panic!("{list}"));
        assert!(
            row.contains("manual") && row.contains("guessing passwords"),
            "{row}"
        );
        assert!(row.contains(&DATAGRAMS.to_string()), "hits: {row}");
        assert!(
            row.contains("59m") || row.contains("1h00m"),
            "time left: {row}"
        );
        let json: serde_json::Value = serde_json::from_str(&run_ok(&d, &["bans", "--json"])).unwrap();
        assert_eq!(json[0]["hits"], DATAGRAMS);

        assert!(run_ok(&d, &["unban", ALLOWED4]).contains("unbanned"));
        assert_eq!(send(DATAGRAMS), DATAGRAMS as u64, "after unban");
        let again = refused(
            Command::new(binary())
                .args(["unban", ALLOWED4, "--pin-path"])
                .arg(&d.pin_dir),
        );
        assert!(again.contains("no ban on 192.0.2.10/32"), "{again}");
    }
}

privileged_test! {
    fn a_trusted_address_cannot_be_banned() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let config = TempFile::with_contents(&LAB.replace(
            "default = \"drop\"",
            "default = \"drop\"\ntrusted = [\"192.0.2.10\"]",
        ));
        let d = Daemon::start(&lab.pbx, PBX_IF, 9491, &["--config", config.as_str()]).unwrap();
        let err = refused(
            Command::new(binary())
                .args(["ban", "192.0.2.0/24", "--pin-path"])
                .arg(&d.pin_dir),
        );
        assert!(
            err.contains("refusing to ban 192.0.2.0/24") && err.contains("192.0.2.10/32"),
            "{err}"
        );
        assert!(run_ok(&d, &["bans"]).contains("no bans"));
        let err = refused(
            Command::new(binary())
                .args(["ban", "192.0.2.1/24", "--pin-path"])
                .arg(&d.pin_dir),
        );
        assert!(err.contains("host bits set"), "{err}");
    }
}

privileged_test! {
    fn bans_survive_a_restart_and_expire_on_their_own() {
        let lab = Lab::new(&[ALLOWED4, ALLOWED6]).unwrap();
        let config = TempFile::with_contents(LAB);
        let mut d = Daemon::start(&lab.pbx, PBX_IF, 9492, &["--config", config.as_str()]).unwrap();
        run_ok(&d, &["ban", ALLOWED4, "--for", "1h"]);
        run_ok(
            &d,
            &["ban", "2001:db8:1::/64", "--for", "4s", "--scope", "sip"],
        );
        d.restart().unwrap();
        let list = run_ok(&d, &["bans"]);
        assert!(
            list.contains("192.0.2.10/32") && list.contains("2001:db8:1::/64"),
            "{list}"
        );

        let send = |src: &str, dst: &str| {
            let udp = UdpCounter::start(&lab.pbx, 5060).unwrap();
            let to = SocketAddr::new(addr(dst), 5060);
            send_udp(
                &lab.client,
                addr(src),
                to,
                5,
                b"OPTIONS sip:100@pbx SIP/2.0\r\n\r\n",
            )
            .unwrap();
            udp.finish().unwrap().get(&addr(src)).copied().unwrap_or(0)
        };
        assert_eq!(
            send(ALLOWED4, PBX_V4),
            0,
            "banned before the restart, still banned"
        );
        assert_eq!(
            send(ALLOWED6, PBX_V6),
            0,
            "the /64 is banned for a few seconds"
        );
        std::thread::sleep(Duration::from_millis(4500));
        assert_eq!(send(ALLOWED6, PBX_V6), 5, "the ban expired");
        assert_eq!(send(ALLOWED4, PBX_V4), 0);
    }
}

privileged_test! {
    fn hping3_syn_and_icmp_floods_are_cut_while_an_honest_client_connects_and_pings() {
        const ATTACKER: &str = "192.0.2.66";
        const SYNS: u64 = 3000;
        const ECHOES: u64 = 2000;
        let lab = Lab::new(&[ALLOWED4, ATTACKER]).unwrap();
        // LAB allows both addresses on SSH and ICMP; the default limits apply: 10 SYN/s (burst
        // 50) and 5 echo requests/s (burst 10) per source.
        let config = TempFile::with_contents(LAB);
        let tcp = TcpAcceptor::start(&lab.pbx, 22).unwrap();
        let d = Daemon::start(&lab.pbx, PBX_IF, 9493, &["--config", config.as_str()]).unwrap();
        let started = std::time::Instant::now();
        let honest = std::thread::scope(|s| {
            let hping = |args: Vec<String>| {
                let client = lab.client.clone();
                s.spawn(move || {
                    Lab::command(&client, "timeout")
                        .arg("30")
                        .arg("hping3")
                        .args(&args)
                        .output()
                        .expect("running hping3 (apt package hping3)")
                })
            };
            let syn_flood = hping(
                format!("-q -S -p 22 -a {ATTACKER} -c {SYNS} -i u300 {PBX_V4}")
                    .split(' ')
                    .map(String::from)
                    .collect(),
            );
            let icmp_flood = hping(
                format!("-q -1 -a {ATTACKER} -c {ECHOES} -i u400 {PBX_V4}")
                    .split(' ')
                    .map(String::from)
                    .collect(),
            );
            std::thread::sleep(Duration::from_millis(200));
            let ssh = SocketAddr::new(addr(PBX_V4), 22);
            let connects = (0..20)
                .filter(|_| {
                    tcp_connects(&lab.client, addr(ALLOWED4), ssh, Duration::from_secs(2)).unwrap()
                })
                .count();
            let pinged = lab.ping(ALLOWED4, PBX_V4, 5);
            syn_flood.join().unwrap();
            icmp_flood.join().unwrap();
            (connects, pinged)
        });
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(
            honest.0, 20,
            "honest TCP connections completed during the SYN flood"
        );
        assert!(honest.1, "honest pings answered during the ICMP flood");
        assert!(tcp.finish().unwrap() >= 20);

        let text = d.scrape().unwrap();
        let syn_dropped = packets_total(&text, "ssh", "rate_limited", "drop") as u64;
        let syn_cap = 50 + (10.0 * elapsed).ceil() as u64 + 1;
        assert!(
            syn_dropped >= SYNS - syn_cap && syn_dropped <= SYNS,
            "{syn_dropped} of {SYNS} flood SYNs dropped in {elapsed:.1} s (at most {syn_cap} may pass)"
        );
        let echo_dropped = packets_total(&text, "icmp", "rate_limited", "drop") as u64;
        let echo_cap = 10 + (5.0 * elapsed).ceil() as u64 + 1;
        assert!(
            echo_dropped >= ECHOES - echo_cap && echo_dropped <= ECHOES,
            "{echo_dropped} of {ECHOES} flood echo requests dropped in {elapsed:.1} s (cap {echo_cap})"
        );
        eprintln!(
            "hping3: {syn_dropped}/{SYNS} SYNs and {echo_dropped}/{ECHOES} echo requests dropped in \
             {elapsed:.1} s; 20/20 honest connections, 5/5 pings"
        );
    }
}

privileged_test! {
    fn log_lines_ban_their_source_but_never_the_pbx_itself() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let dir = std::env::temp_dir().join(sipguard_tests::unique("sipguard-logs-"));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("security");
        std::fs::write(&log, "").unwrap();
        let config = TempFile::with_contents(&format!(
            "{LAB}\n[[logwatch]]\npath = \"{}\"\npatterns = [\"asterisk\", \"sshd\"]\n\
             failures = 2\nban = \"1h\"\n",
            log.display()
        ));
        let d = Daemon::start(&lab.pbx, PBX_IF, 9494, &["--config", config.as_str()]).unwrap();
        let append = |path: &std::path::Path, line: &str, n: usize| {
            use std::io::Write as _;
            let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            for _ in 0..n {
                writeln!(f, "{line}").unwrap();
            }
        };
        // The PBX's own address and loopback in a log line: never banned.
        append(&log, "[2026-11-21 10:00:00] NOTICE[1] chan_sip.c: Registration from '<sip:1@x>' failed for '192.0.2.1:5060' - Wrong password", 5);
        append(
            &log,
            "[2026-11-21 10:00:00] NOTICE[1] manager.c: 127.0.0.1 failed to authenticate as 'admin'",
            5,
        );
        // An Asterisk security event: three strikes against 192.0.2.10.
        append(
            &log,
            r#"[2026-11-21 10:00:01] SECURITY[1] res_security_log.c: SecurityEvent="InvalidPassword",EventTV="2026-11-21T10:00:01",Severity="Error",Service="PJSIP",EventVersion="2",AccountID="1001",SessionID="0x1",LocalAddress="IPV4/UDP/192.0.2.1/5060",RemoteAddress="IPV4/UDP/192.0.2.10/5060",Challenge="abc",ReceivedChallenge="abc",ReceivedHash="def""#,
            3,
        );
        let row = d.wait_for_ban("192.0.2.10/32").expect("the security log's attacker is banned");
        assert_eq!(row["reason"], "log");
        assert!(
            d.wait_for_log("banned", Duration::from_secs(2)),
            "{}",
            d.log_text()
        );

        // Its traffic is dropped from now on.
        let udp = UdpCounter::start(&lab.pbx, 5060).unwrap();
        let sip = SocketAddr::new(addr(PBX_V4), 5060);
        send_udp(
            &lab.client,
            addr(ALLOWED4),
            sip,
            5,
            b"OPTIONS sip:1@pbx SIP/2.0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(udp.finish().unwrap().get(&addr(ALLOWED4)), None);

        // After a rotation, the new file is read from its start: sshd lines, IPv6.
        std::fs::rename(&log, dir.join("security.1")).unwrap();
        std::fs::write(&log, "").unwrap();
        append(
            &log,
            "Nov 21 10:00:02 pbx sshd[77]: Failed password for invalid user admin from 2001:db8:1::77 port 40000 ssh2",
            3,
        );
        let row = d.wait_for_ban("2001:db8:1::77/128").expect("banned from the rotated file");
        assert_eq!(row["reason"], "log");

        let rows: serde_json::Value = serde_json::from_str(&run_ok(&d, &["bans", "--json"])).unwrap();
        let nets: Vec<&str> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["net"].as_str().unwrap())
            .collect();
        assert_eq!(nets.len(), 2, "only the two attackers: {nets:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

privileged_test! {
    fn a_guesser_the_pbx_never_answers_is_banned_after_its_unanswered_attempts() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        // A silent PBX: it takes the REGISTERs and never answers, so the egress program has no
        // failure to count; the built-in default's `attempts = 10` still stops the guesser.
        let pbx = UdpCounter::start(&lab.pbx, 5060).unwrap();
        let d = Daemon::start(&lab.pbx, PBX_IF, 9495, &[]).unwrap();
        let register = "REGISTER sip:192.0.2.1 SIP/2.0\r\n\
                        Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-guess\r\n\
                        From: <sip:1001@192.0.2.1>;tag=1\r\nTo: <sip:1001@192.0.2.1>\r\n\
                        Call-ID: guess@192.0.2.10\r\nCSeq: 2 REGISTER\r\n\
                        Authorization: Digest username=\"1001\", realm=\"192.0.2.1\", nonce=\"n\", \
                        uri=\"sip:192.0.2.1\", response=\"00000000000000000000000000000000\"\r\n\
                        Content-Length: 0\r\n\r\n";
        let sip = SocketAddr::new(addr(PBX_V4), 5060);
        send_guesses(&lab.client, addr(ALLOWED4), sip, 25, register).unwrap();
        let received = pbx.finish().unwrap();
        assert_eq!(
            received.get(&addr(ALLOWED4)),
            Some(&10),
            "ten unanswered attempts reach the PBX, no more"
        );
        let row = d.wait_for_ban("192.0.2.10/32").expect("the guesser is banned");
        assert_eq!(row["reason"], "auth_attempts");
        assert!(
            d.wait_for_log("banned", Duration::from_secs(2)),
            "{}",
            d.log_text()
        );
        let text = d.scrape().expect("metrics");
        assert_eq!(
            metric(
                &text,
                "sipguard_bans_created_total",
                &[("reason", "auth_attempts")]
            ),
            Some(1.0)
        );
        // The eleventh, which set the ban, and the fourteen after it.
        assert_eq!(packets_total(&text, "sip", "banned", "drop"), 15.0);
    }
}

/// Media open to the office, one address denied: the two policies the reload test alternates
/// differ in every list and in their services, but agree on those two verdicts.
const RELOAD_A: &str = include_str!("../policies/reload_a.toml");

const RELOAD_B: &str = include_str!("../policies/reload_b.toml");

/// Datagrams to 192.0.2.1:10000 from the office (allowed) and from the denied address,
/// every millisecond, while `change` runs; returns (sent, received) per source.
fn under_steady_traffic(
    lab: &Lab,
    change: impl FnOnce(),
) -> (
    std::collections::BTreeMap<IpAddr, u64>,
    std::collections::BTreeMap<IpAddr, u64>,
) {
    let media = UdpCounter::start(&lab.pbx, 10000).unwrap();
    let traffic = SteadyUdp::start(
        &lab.client,
        &[addr(ALLOWED4), addr(DENIED4)],
        SocketAddr::new(addr(PBX_V4), 10000),
        Duration::from_millis(1),
    );
    change();
    let sent = traffic.finish().unwrap();
    (sent, media.finish().unwrap())
}

/// After [`under_steady_traffic`]: every datagram from the allowed source arrived and none
/// from the denied one; `when` names the change the traffic ran across.
fn assert_steady_traffic_held(
    sent: &std::collections::BTreeMap<IpAddr, u64>,
    received: &std::collections::BTreeMap<IpAddr, u64>,
    when: &str,
) {
    assert_eq!(
        received.get(&addr(ALLOWED4)),
        Some(&sent[&addr(ALLOWED4)]),
        "every allowed datagram arrived {when}"
    );
    assert_eq!(
        received.get(&addr(DENIED4)),
        None,
        "no denied datagram passed {when}"
    );
}

privileged_test! {
    fn a_hundred_reloads_under_traffic_never_pass_a_denied_packet_nor_drop_an_allowed_one() {
        let lab = Lab::new(&[ALLOWED4, DENIED4]).unwrap();
        let config = TempFile::with_contents(RELOAD_A);
        let d = Daemon::start(&lab.pbx, PBX_IF, 9496, &["--config", config.as_str()]).unwrap();
        let (sent, received) = under_steady_traffic(&lab, || {
            for i in 0..100 {
                std::fs::write(&config.0, if i % 2 == 0 { RELOAD_B } else { RELOAD_A }).unwrap();
                let out = d.cli(&["reload"]).unwrap();
                assert!(
                    out.status.success(),
                    "reload {i}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        });
        assert!(sent[&addr(ALLOWED4)] > 100, "{sent:?}");
        assert_steady_traffic_held(&sent, &received, "across 100 reloads");
        assert_eq!(
            d.log_text().matches("policy reloaded").count(),
            100,
            "{}",
            d.log_text()
        );
    }
}

privileged_test! {
    fn reload_of_a_broken_config_is_refused_by_name_and_the_old_policy_stays() {
        let lab = Lab::new(&[ALLOWED4, DENIED4]).unwrap();
        let config = TempFile::with_contents(RELOAD_A);
        let d = Daemon::start(&lab.pbx, PBX_IF, 9497, &["--config", config.as_str()]).unwrap();
        std::fs::write(
            &config.0,
            RELOAD_A.replace("deny = [\"192.0.2.250/32\"]", "deny = [\"192.0.2.250/33\"]"),
        )
        .unwrap();
        let out = d.cli(&["reload"]).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains(config.as_str()), "{stderr}");
        // Line 3 of tests/policies/reload_a.toml (line 4 of the const it was, which began
        // with a blank line).
        assert!(stderr.contains(":3:9: [global] field `deny`"), "{stderr}");
        assert!(stderr.contains("192.0.2.250/33"), "{stderr}");
        assert!(stderr.contains("the running policy stays"), "{stderr}");
        let (sent, received) =
            under_steady_traffic(&lab, || std::thread::sleep(Duration::from_millis(300)));
        assert_steady_traffic_held(
            &sent,
            &received,
            "after the refused reload (the old policy holds)",
        );
    }
}

privileged_test! {
    fn kill_9_leaves_filtering_and_bans_in_force_and_a_restart_adopts_them() {
        let lab = Lab::new(&[ALLOWED4, DENIED4, "192.0.2.20"]).unwrap();
        let config = TempFile::with_contents(RELOAD_A);
        let mut d = Daemon::start(&lab.pbx, PBX_IF, 9498, &["--config", config.as_str()]).unwrap();
        run_ok(
            &d,
            &["ban", "192.0.2.20", "--for", "1h", "--reason", "kept"],
        );
        let (sent, received) = under_steady_traffic(&lab, || {
            std::thread::sleep(Duration::from_millis(200));
            d.kill9().unwrap();
            // No daemon at all for a while: the pinned link keeps the program attached.
            std::thread::sleep(Duration::from_millis(500));
            assert!(xdp_attached(&lab), "XDP left with the killed daemon");
            let banned = UdpCounter::start(&lab.pbx, 5060).unwrap();
            send_udp(
                &lab.client,
                addr("192.0.2.20"),
                SocketAddr::new(addr(PBX_V4), 5060),
                5,
                b"OPTIONS sip:1@pbx SIP/2.0\r\n\r\n",
            )
            .unwrap();
            assert_eq!(
                banned.finish().unwrap().get(&addr("192.0.2.20")),
                None,
                "the ban holds"
            );
            // The new daemon swaps its program into the pinned link.
            d.spawn().unwrap();
            std::thread::sleep(Duration::from_millis(200));
        });
        assert_steady_traffic_held(&sent, &received, "before, during and after");
        let log = d.log_text();
        assert!(
            log.matches("sipguard attached").count() == 2 && log.matches("\"adopted\"").count() == 2,
            "the new daemon adopted both links:\n{log}"
        );
        let bans: serde_json::Value = serde_json::from_str(&run_ok(&d, &["bans", "--json"])).unwrap();
        assert_eq!(bans[0]["net"], "192.0.2.20/32", "{bans}");
        assert_eq!(bans[0]["note"], "kept", "{bans}");
    }
}

privileged_test! {
    fn a_service_in_monitor_mode_passes_what_enforce_would_drop_and_counts_it() {
        let lab = Lab::new(&[ALLOWED4, OUTSIDER4, DENIED4]).unwrap();
        // The media service is new and watched in monitor mode: the outsider, not on its allow
        // list, still gets through and is counted as would_drop. The global deny list is not the
        // service's to soften: the denied address stays dropped.
        let config = TempFile::with_contents(&RELOAD_A.replace(
            "allow = [\"192.0.2.0/25\"]",
            "allow = [\"192.0.2.0/25\"]\nmode = \"monitor\"",
        ));
        let d = Daemon::start(&lab.pbx, PBX_IF, 9499, &["--config", config.as_str()]).unwrap();
        let media = UdpCounter::start(&lab.pbx, 10000).unwrap();
        let dst = SocketAddr::new(addr(PBX_V4), 10000);
        for src in [ALLOWED4, OUTSIDER4, DENIED4] {
            send_udp(&lab.client, addr(src), dst, DATAGRAMS, b"rtp").unwrap();
        }
        let received = media.finish().unwrap();
        assert_eq!(received.get(&addr(ALLOWED4)), Some(&(DATAGRAMS as u64)));
        assert_eq!(received.get(&addr(OUTSIDER4)), Some(&(DATAGRAMS as u64)));
        assert_eq!(received.get(&addr(DENIED4)), None);
        let text = d.scrape().unwrap();
        assert_eq!(
            packets_total(&text, "media", "not_allowed", "would_drop"),
            DATAGRAMS as f64
        );
        assert_eq!(packets_total(&text, "media", "not_allowed", "drop"), 0.0);
        assert_eq!(packets_total(&text, "media", "denied", "drop"), DATAGRAMS as f64);
        let status = run_ok(&d, &["status"]);
        assert!(
            status
                .lines()
                .any(|l| l.starts_with("media ") && l.contains("would_drop")),
            "{status}"
        );
    }
}

privileged_test! {
    fn metrics_say_when_each_reason_last_matched_and_that_the_filter_is_attached() {
        let lab = Lab::new(&[ALLOWED4, DENIED4]).unwrap();
        let config = TempFile::with_contents(LAB);
        let d = Daemon::start(&lab.pbx, PBX_IF, 9500, &["--config", config.as_str()]).unwrap();
        let unix_now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        };
        let sip = SocketAddr::new(addr(PBX_V4), 5060);
        let options = b"OPTIONS sip:1@pbx SIP/2.0\r\n\r\n";
        // Let the sampler see the counters before any traffic.
        std::thread::sleep(Duration::from_millis(1500));
        let before = unix_now();
        send_udp(&lab.client, addr(ALLOWED4), sip, 5, options).unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let text = d.scrape().unwrap();
        assert_eq!(
            metric(&text, "sipguard_attached", &[("iface", PBX_IF)]),
            Some(1.0),
            "{text}"
        );
        let allowed = metric(
            &text,
            "sipguard_last_match_timestamp_seconds",
            &[("reason", "allowed")],
        )
        .expect("allowed traffic was seen");
        assert!(
            allowed >= before - 1.0 && allowed <= unix_now(),
            "{allowed} vs {before}"
        );
        assert_eq!(
            metric(
                &text,
                "sipguard_last_match_timestamp_seconds",
                &[("reason", "denied")]
            ),
            None,
            "no denied packet yet"
        );
        let before_denied = unix_now();
        send_udp(&lab.client, addr(DENIED4), sip, 5, options).unwrap();
        std::thread::sleep(Duration::from_millis(2500));
        let text = d.scrape().unwrap();
        let denied = metric(
            &text,
            "sipguard_last_match_timestamp_seconds",
            &[("reason", "denied")],
        )
        .expect("denied traffic was seen");
        assert!(denied >= before_denied - 1.0, "{denied} vs {before_denied}");
        // Allowed traffic stopped: its time stays where it was.
        assert_eq!(
            metric(
                &text,
                "sipguard_last_match_timestamp_seconds",
                &[("reason", "allowed")]
            ),
            Some(allowed)
        );
    }
}

/// A Prometheus server (the Debian package) in namespace `ns`, scraping `target` every
/// second; killed on drop.
struct PrometheusServer {
    child: std::process::Child,
    dir: std::path::PathBuf,
    ns: String,
    web: SocketAddr,
}

impl PrometheusServer {
    fn start(ns: &str, target: SocketAddr, web: SocketAddr) -> Self {
        let dir = std::env::temp_dir().join(sipguard_tests::unique("sipguard-prom-"));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: sipguard\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let child = Lab::command(ns, "timeout")
            .args(["-k", "5", "120", "prometheus"])
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("starting prometheus (Debian package prometheus)");
        Self {
            child,
            dir,
            ns: ns.to_owned(),
            web,
        }
    }

    /// The value of an instant query's single sample, if it has one.
    fn query(&self, query: &str) -> Option<f64> {
        let encoded: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let body = netns::http_get(
            &self.ns,
            self.web,
            &format!("/api/v1/query?query={encoded}"),
        )?;
        let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = doc["data"]["result"].as_array()?;
        if result.len() != 1 {
            return None;
        }
        result[0]["value"][1].as_str()?.parse().ok()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

privileged_test! {
    fn a_real_prometheus_server_scrapes_the_drop_counters() {
        let lab = Lab::new(&[ALLOWED4, DENIED4]).unwrap();
        let config = TempFile::with_contents(LAB);
        let d = Daemon::start(&lab.pbx, PBX_IF, 9501, &["--config", config.as_str()]).unwrap();
        // The daemon's first sample of the counters precedes the traffic, so the last-match time
        // of `denied` is known (the dashboard queries it).
        std::thread::sleep(Duration::from_millis(1500));
        send_udp(
            &lab.client,
            addr(DENIED4),
            SocketAddr::new(addr(PBX_V4), 5060),
            DATAGRAMS,
            b"OPTIONS sip:1@pbx SIP/2.0\r\n\r\n",
        )
        .unwrap();
        let prom = PrometheusServer::start(&lab.pbx, d.metrics, ([127, 0, 0, 1], 9590).into());
        let query = r#"sipguard_packets_total{service="sip",reason="denied",verdict="drop"}"#;
        let scraped = || prom.query(query);
        let value = wait_every(Duration::from_secs(30), Duration::from_millis(500), query, scraped)
            .ok();
        assert_eq!(
            value,
            Some(DATAGRAMS as f64),
            "Prometheus answered {value:?} for {query}; its log:\n{}",
            prom.log()
        );
        assert_eq!(
            prom.query(r#"sipguard_attached{iface="pbx0"}"#),
            Some(1.0),
            "the attached gauge reaches Prometheus too"
        );
        // Every metric the shipped Grafana dashboard queries is one the daemon exports.
        let dashboard = sipguard::host::install::GRAFANA_DASHBOARD;
        let mut names: Vec<&str> = dashboard
            .match_indices("sipguard_")
            .map(|(at, _)| {
                let rest = &dashboard[at..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        assert!(names.len() >= 8, "{names:?}");
        for name in names {
            let series = format!("{name}{{");
            let text = d.scrape().unwrap();
            assert!(
                text.lines()
                    .any(|l| l.starts_with(&series) || l.starts_with(&format!("{name} "))),
                "the dashboard queries {name}, which /metrics lacks:\n{text}"
            );
        }
    }
}

privileged_test! {
    fn a_watched_config_is_applied_when_saved_and_a_broken_save_is_rejected() {
        let lab = Lab::new(&[ALLOWED4, "192.0.2.20"]).unwrap();
        let config = TempFile::with_contents(RELOAD_A);
        let d = Daemon::start(
            &lab.pbx,
            PBX_IF,
            9502,
            &["--config", config.as_str(), "--watch"],
        )
        .unwrap();
        let media_from = |src: &str| {
            let media = UdpCounter::start(&lab.pbx, 10000).unwrap();
            send_udp(
                &lab.client,
                addr(src),
                SocketAddr::new(addr(PBX_V4), 10000),
                5,
                b"rtp",
            )
            .unwrap();
            media.finish().unwrap().get(&addr(src)).copied().unwrap_or(0)
        };
        assert_eq!(media_from("192.0.2.20"), 5);
        // A broken save: logged, and the running policy stays.
        std::fs::write(&config.0, "[global]\ndefault = \"sometimes\"\n").unwrap();
        assert!(
            d.wait_for_log("reload rejected", Duration::from_secs(5)),
            "{}",
            d.log_text()
        );
        assert_eq!(media_from("192.0.2.20"), 5);
        // The fixed save denies 192.0.2.20: applied without a signal.
        std::fs::write(
            &config.0,
            RELOAD_A.replace("deny = [\"192.0.2.250/32\"]", "deny = [\"192.0.2.20/32\"]"),
        )
        .unwrap();
        assert!(
            d.wait_for_log("policy reloaded", Duration::from_secs(5)),
            "{}",
            d.log_text()
        );
        assert_eq!(media_from("192.0.2.20"), 0);
        assert_eq!(media_from(ALLOWED4), 5);
    }
}

privileged_test! {
    fn check_diff_shows_what_a_config_would_change_against_the_running_policy() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let config = TempFile::with_contents(RELOAD_A);
        let d = Daemon::start(&lab.pbx, PBX_IF, 9503, &["--config", config.as_str()]).unwrap();
        let next = TempFile::with_contents(RELOAD_B);
        let out = run_ok(&d, &["check", "--config", next.as_str(), "--diff"]);
        for line in [
            "+ deny 198.51.100.0/24",
            "+ trusted 192.0.2.5/32",
            "- service sip: udp 5060 sip",
            "+ service ssh: tcp 22",
            "~ service media: udp 10000-20000 -> udp 10000-12000,12001-20000",
            "- service media allow 192.0.2.0/25",
            "+ service media allow 192.0.2.0/26",
        ] {
            assert!(
                out.lines().any(|l| l == line),
                "missing {line:?} in:\n{out}"
            );
        }
        // The running policy is what was applied, not the file: after a reload to B, B is it.
        std::fs::write(&config.0, RELOAD_B).unwrap();
        run_ok(&d, &["reload"]);
        let out = run_ok(&d, &["check", "--config", next.as_str(), "--diff"]);
        assert!(
            out.contains("no change against the running policy"),
            "{out}"
        );
    }
}

privileged_test! {
    fn status_shows_the_interface_the_daemon_and_current_rates() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let config = TempFile::with_contents(RELOAD_A);
        let mut d = Daemon::start(&lab.pbx, PBX_IF, 9504, &["--config", config.as_str()]).unwrap();
        let media = UdpCounter::start(&lab.pbx, 10000).unwrap();
        let traffic = SteadyUdp::start(
            &lab.client,
            &[addr(ALLOWED4)],
            SocketAddr::new(addr(PBX_V4), 10000),
            Duration::from_millis(2),
        );
        // From a shell on the host the PBX is: its network namespace.
        let pins = d.pin_dir.clone();
        let status_in_pbx = |args: &[&str]| {
            let out = Lab::netns_command(&lab.pbx, binary())
                .unwrap()
                .args(args)
                .arg("--pin-path")
                .arg(&pins)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        };
        let status: serde_json::Value =
            serde_json::from_str(&status_in_pbx(&["status", "--json", "--interval", "1s"])).unwrap();
        let sent = traffic.finish().unwrap()[&addr(ALLOWED4)];
        let _ = media.finish();
        assert_eq!(status["interfaces"][0]["iface"], PBX_IF, "{status}");
        assert_eq!(status["interfaces"][0]["xdp_attached"], true, "{status}");
        assert_eq!(status["interfaces"][0]["xdp_mode"], "native", "{status}");
        assert!(status["daemon_pid"].as_i64().is_some(), "{status}");
        let rows = status["counters"].as_array().unwrap();
        let at = rows
            .iter()
            .position(|r| r["service"] == "media" && r["reason"] == "allowed" && r["verdict"] == "pass")
            .expect("a media row");
        let pps = status["packets_per_second"][at].as_f64().unwrap();
        // One datagram every 2 ms at most is 500/s; sleeps overshoot, so expect well above 50.
        assert!(pps > 50.0 && pps <= 520.0, "{pps} packets/s ({sent} sent)");
        // With no daemon, the filter is still there and status says so.
        d.kill9().unwrap();
        let text = status_in_pbx(&["status", "--interval", "0"]);
        assert!(
            text.contains(&format!("interface {PBX_IF}: XDP attached")),
            "{text}"
        );
        assert!(text.contains("daemon: not running"), "{text}");
    }
}

privileged_test! {
    fn drop_samples_reach_the_json_log_bounded_per_second() {
        let lab = Lab::new(&[ALLOWED4, DENIED4]).unwrap();
        let config = TempFile::with_contents(LAB);
        let d = Daemon::start(
            &lab.pbx,
            PBX_IF,
            9505,
            &["--config", config.as_str(), "--log-format", "json"],
        )
        .unwrap();
        let start = std::time::Instant::now();
        send_udp(
            &lab.client,
            addr(DENIED4),
            SocketAddr::new(addr(PBX_V4), 5060),
            300,
            b"OPTIONS sip:1@pbx SIP/2.0\r\n\r\n",
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(1200));
        let seconds = start.elapsed().as_secs_f64().ceil();
        let samples: Vec<serde_json::Value> = d
            .log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "dropped")
            .collect();
        assert!(!samples.is_empty(), "no drop sample in:\n{}", d.log_text());
        let s = &samples[0]["fields"];
        assert_eq!(s["src"], DENIED4, "{s}");
        assert_eq!(s["reason"], "denied", "{s}");
        assert_eq!(s["service"], "sip", "{s}");
        assert_eq!(s["protocol"], "udp", "{s}");
        assert_eq!(s["dport"], 5060, "{s}");
        assert_eq!(s["verdict"], "drop", "{s}");
        // The default: at most one sample a second per CPU, whatever the flood.
        let cpus = std::thread::available_parallelism().unwrap().get() as f64;
        assert!(
            (samples.len() as f64) <= cpus * (seconds + 1.0),
            "{} samples for 300 drops in {seconds} s on {cpus} CPUs",
            samples.len()
        );
        // What was not sampled is accounted for: samples plus skipped cover every drop.
        let skipped: u64 = samples
            .iter()
            .map(|v| v["fields"]["skipped"].as_u64().unwrap())
            .sum();
        assert!(samples.len() as u64 + skipped <= 300);
    }
}

/// A lab and a daemon on `config` that has banned 192.0.2.20 with the note "carried": what
/// the map replacement tests restart.
fn daemon_with_a_ban(port: u16, config: &TempFile) -> (Lab, Daemon) {
    let lab = Lab::new(&[ALLOWED4, DENIED4, "192.0.2.20"]).unwrap();
    let d = Daemon::start(&lab.pbx, PBX_IF, port, &["--config", config.as_str()]).unwrap();
    run_ok(
        &d,
        &["ban", "192.0.2.20", "--for", "1h", "--reason", "carried"],
    );
    (lab, d)
}

/// Restarts the stopped `d` under steady traffic and checks that its maps were replaced
/// without a gap: every allowed datagram arrived, no denied one passed, the log says `why`,
/// the ban and its note were carried over and still drop, the old pins (`DIR-old_suffix`)
/// are gone and XDP is attached.
fn restart_replaces_the_maps_without_a_gap(lab: &Lab, d: &mut Daemon, why: &str, old_suffix: &str) {
    let (sent, received) = under_steady_traffic(lab, || {
        std::thread::sleep(Duration::from_millis(200));
        d.spawn().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    });
    assert_steady_traffic_held(&sent, &received, "across the replacement");
    let log = d.log_text();
    assert!(log.contains(why), "{log}");
    let bans: serde_json::Value = serde_json::from_str(&run_ok(d, &["bans", "--json"])).unwrap();
    assert_eq!(bans[0]["net"], "192.0.2.20/32", "{bans}");
    assert_eq!(bans[0]["note"], "carried", "{bans}");
    let old = d.pin_dir.with_file_name(format!(
        "{}-{old_suffix}",
        d.pin_dir.file_name().unwrap().to_string_lossy()
    ));
    assert!(!old.exists(), "the old maps were removed");
    assert!(xdp_attached(lab));
    // The banned address is still dropped by the new program.
    let banned = UdpCounter::start(&lab.pbx, 10000).unwrap();
    send_udp(
        &lab.client,
        addr("192.0.2.20"),
        SocketAddr::new(addr(PBX_V4), 10000),
        5,
        b"rtp",
    )
    .unwrap();
    assert_eq!(banned.finish().unwrap().get(&addr("192.0.2.20")), None);
}

privileged_test! {
    fn a_new_tracked_sources_size_resizes_the_table_at_restart_without_a_gap_and_keeps_the_bans() {
        let config = TempFile::with_contents(RELOAD_A);
        let (lab, mut d) = daemon_with_a_ban(9507, &config);
        let rates_size = |d: &Daemon| {
            aya::maps::MapData::from_pin(d.pin_dir.join("RATES"))
                .unwrap()
                .info()
                .unwrap()
                .max_entries()
        };
        assert_eq!(rates_size(&d), 131072);
        // A reload can't resize a table in use: it says so and keeps it.
        std::fs::write(
            &config.0,
            RELOAD_A.replacen("[global]\n", "[global]\ntracked_sources = 262144\n", 1),
        )
        .unwrap();
        run_ok(&d, &["reload"]);
        assert!(
            d.wait_for_log("takes effect at the next start", Duration::from_secs(5)),
            "{}",
            d.log_text()
        );
        assert_eq!(rates_size(&d), 131072);
        d.stop().unwrap();
        restart_replaces_the_maps_without_a_gap(
            &lab,
            &mut d,
            "per-source table had another size",
            "sources-131072",
        );
        assert_eq!(rates_size(&d), 262144);
    }
}

privileged_test! {
    fn a_new_layout_replaces_maps_and_program_without_a_gap_and_keeps_the_bans() {
        let config = TempFile::with_contents(RELOAD_A);
        let (lab, mut d) = daemon_with_a_ban(9506, &config);
        d.stop().unwrap();
        // What an older sipguard left: pinned maps that say they have another layout.
        {
            use aya::maps::{Array, Map, MapData};
            let data = MapData::from_pin(d.pin_dir.join("STATE")).unwrap();
            let mut state: Array<MapData, u32> =
                Array::try_from(Map::from_map_data(data).unwrap()).unwrap();
            state.set(sipguard_common::STATE_LAYOUT, 999, 0).unwrap();
        }
        restart_replaces_the_maps_without_a_gap(&lab, &mut d, "another layout", "layout-999");
    }
}

/// The `sipguard_egress` filters on the PBX's interface as `tc filter show` lists them.
fn egress_filters(lab: &Lab) -> Vec<String> {
    let out = Lab::command(&lab.pbx, "tc")
        .args(["filter", "show", "dev", PBX_IF, "egress"])
        .output()
        .expect("running tc");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("sipguard_egress"))
        .map(str::to_owned)
        .collect()
}

/// The program id in a `tc filter show` line (`... id 42 name ...`).
fn filter_prog_id(line: &str) -> u32 {
    let mut words = line.split_whitespace();
    words
        .find(|w| *w == "id")
        .and_then(|_| words.next())
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no program id in {line:?}"))
}

privileged_test! {
    fn without_tcx_the_egress_filter_outlives_the_daemon_and_a_restart_swaps_its_program_in_place() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        // The kernels before 6.6 (5.10, 6.1) take this path by themselves; here it is forced, so
        // that it also runs on the newest kernels, with the older clock too.
        let env = [(sipguard::dataplane::kernel::OVERRIDE_ENV, "tcx=0,coarse_clock=0")];
        let mut d = Daemon::start_with_env(&lab.pbx, PBX_IF, 9499, &[], &env).unwrap();
        let first = egress_filters(&lab);
        assert_eq!(first.len(), 1, "one egress filter: {first:?}");
        assert!(
            first[0].contains("pref 20839") && first[0].contains("handle 0x5167"),
            "at sipguard's own priority and handle: {first:?}"
        );
        d.kill9().unwrap();
        assert_eq!(egress_filters(&lab), first, "the filter stays with no daemon");
        d.spawn().unwrap();
        let adopted = egress_filters(&lab);
        assert_eq!(adopted.len(), 1, "still one filter, not a second one: {adopted:?}");
        assert_ne!(
            filter_prog_id(&adopted[0]),
            filter_prog_id(&first[0]),
            "the new daemon's program runs in the old filter"
        );
        let log = d.log_text();
        // xdp_mode="adopted" and egress="adopted" (the log is coloured between key and value).
        assert_eq!(log.matches("\"adopted\"").count(), 2, "{log}");
        assert!(log.contains("on this kernel: egress: a clsact filter"), "{log}");
        d.stop().unwrap();
        assert_eq!(egress_filters(&lab), adopted, "SIGTERM leaves it too");
        let out = d.cli_in_ns(&["detach", "--iface", PBX_IF]).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("removed the egress filter on pbx0"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(egress_filters(&lab), Vec::<String>::new(), "detach removes it");
        assert!(!xdp_attached(&lab), "and the XDP program");
    }
}

/// A PBX that answers every datagram on 5060 with `401 Unauthorized` to a REGISTER (CSeq
/// taken from the request), counting requests per source. Bounded like every receiver.
fn challenging_pbx(
    ns: &str,
) -> sipguard_tests::traffic::Receiver<std::collections::BTreeMap<IpAddr, u64>> {
    use std::net::UdpSocket;
    let bind = || {
        let sock = UdpSocket::bind(("::", 5060))?;
        sock.set_read_timeout(Some(Duration::from_millis(100)))?;
        Ok(sock)
    };
    let step = |sock: &UdpSocket, counts: &mut std::collections::BTreeMap<IpAddr, u64>| {
        let mut buf = [0u8; 2048];
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            return;
        };
        let request = String::from_utf8_lossy(&buf[..n]);
        let cseq = request
            .lines()
            .find_map(|l| l.strip_prefix("CSeq: "))
            .unwrap_or("1 REGISTER");
        let answer = format!(
            "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-1\r\n\
             CSeq: {cseq}\r\nWWW-Authenticate: Digest realm=\"pbx\", nonce=\"abc\"\r\n\
             Content-Length: 0\r\n\r\n"
        );
        let _ = sock.send_to(answer.as_bytes(), from);
        *counts.entry(from.ip().to_canonical()).or_insert(0) += 1;
    };
    sipguard_tests::traffic::Receiver::start(ns, bind, step).expect("the PBX's socket")
}

privileged_test! {
    fn a_client_answered_401_past_the_threshold_is_banned_by_the_egress_program() {
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let pbx = challenging_pbx(&lab.pbx);
        // The built-in default: the 5th failure (a 401 to a request with credentials) bans.
        let d = Daemon::start(&lab.pbx, PBX_IF, 9500, &[]).unwrap();
        let sip = SocketAddr::new(addr(PBX_V4), 5060);
        in_client(&lab, |sock| {
            for cseq in 1..=20 {
                let register = format!(
                    "REGISTER sip:192.0.2.1 SIP/2.0\r\n\
                     Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-{cseq}\r\n\
                     From: <sip:1001@192.0.2.1>;tag=1\r\nTo: <sip:1001@192.0.2.1>\r\n\
                     Call-ID: guess@192.0.2.10\r\nCSeq: {cseq} REGISTER\r\n\
                     Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"made-up\", \
                     uri=\"sip:192.0.2.1\", response=\"{cseq:032}\"\r\n\
                     Content-Length: 0\r\n\r\n"
                );
                sock.send_to(register.as_bytes(), sip).unwrap();
                // Room for the answer to leave through the egress program before the next guess.
                std::thread::sleep(Duration::from_millis(30));
            }
        });
        let received = pbx.finish().unwrap();
        assert_eq!(
            received.get(&addr(ALLOWED4)),
            Some(&5),
            "four failures are allowed, the fifth answer bans, nothing after it reaches the PBX"
        );
        let row = d.wait_for_ban("192.0.2.10/32").expect("the guesser is banned");
        assert_eq!(row["reason"], "auth_failures", "{row}");
        // Answered over UDP to requests echoing a nonce the PBX never sent: the address may be
        // forged, so the ban covers SIP only (the built-in default's scope is "all").
        assert_eq!(row["scope"], "sip", "{row}");
        let text = d.scrape().expect("metrics");
        assert_eq!(
            metric(
                &text,
                "sipguard_bans_created_total",
                &[("reason", "auth_failures")]
            ),
            Some(1.0)
        );
        assert_eq!(packets_total(&text, "sip", "banned", "drop"), 15.0);
    }
}

/// Runs `f` with a UDP socket bound to the client's allowed address in its namespace.
fn in_client(lab: &Lab, f: impl FnOnce(&std::net::UdpSocket) + Send) {
    netns::in_ns(&lab.client, || {
        let sock = std::net::UdpSocket::bind(SocketAddr::new(addr(ALLOWED4), 0)).unwrap();
        f(&sock);
    })
    .unwrap();
}

privileged_test! {
    fn a_variant_the_kernel_lacks_is_refused_by_its_verifier_in_one_sentence_naming_the_kernel() {
        use aya::{programs::ProgramType, sys::{is_helper_supported, BpfHelper}};
        let lab = Lab::new(&[ALLOWED4]).unwrap();
        let pin_dir = format!("/sys/fs/bpf/{}", sipguard_tests::unique("sipguard-test-"));
        // The coarse clock forced on: kernels before 5.11 lack the helper, so their verifier
        // refuses the program (the reliable way to provoke a refusal); newer kernels load it.
        let log = std::env::temp_dir().join(format!("{}.log", sipguard_tests::unique("refusal-")));
        let mut child = Lab::netns_command(&lab.pbx, binary())
            .unwrap()
            .args(["run", "--iface", PBX_IF, "--pin-path", &pin_dir])
            .env(sipguard::dataplane::kernel::OVERRIDE_ENV, "coarse_clock=1")
            .stdin(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
        let exited = wait_until(Duration::from_secs(90), "sipguard exiting or attaching", || {
            (child.try_wait().unwrap().is_some() || read_log().contains("sipguard attached"))
                .then_some(())
        })
        .is_ok()
            && child.try_wait().unwrap().is_some();
        let attached = xdp_attached(&lab);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let text = read_log();
        let _ = std::fs::remove_file(&log);
        let _ = std::fs::remove_dir_all(&pin_dir);
        let has_coarse =
            is_helper_supported(ProgramType::Xdp, BpfHelper::BPF_FUNC_ktime_get_coarse_ns).unwrap();
        if has_coarse {
            assert!(!exited && attached, "a kernel with the helper loads it:\n{text}");
            return;
        }
        assert!(exited && !status.success(), "refused, exit non-zero:\n{text}");
        let release = sipguard::dataplane::kernel::release();
        assert!(
            text.starts_with(&format!("error: Linux {release} refused the XDP program (")),
            "{text}"
        );
        assert!(
            text.contains("verifier's last lines") && text.contains("invalid func"),
            "{text}"
        );
        assert!(!attached, "nothing attached after a refusal");
    }
}
