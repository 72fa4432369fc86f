//! sipguard on a perimeter box: the real daemon on a Linux router's outside interface, in front
//! of the lab's Kamailio (`sipguard_tests::voip::Perimeter`), with real packets forwarded
//! through it, routed and with DNAT; and one daemon guarding several interfaces with one set
//! of maps.
use std::{
    net::{SocketAddr, UdpSocket},
    time::{Duration, Instant},
};

use sipguard_tests::{
    daemon::{binary, refused, Daemon},
    netns::{self, addr, in_ns, metric, spawn_in_ns, Lab, PBX_IF},
    policies::TempFile,
    privileged_test,
    traffic::{send_udp, tcp_connects, TcpAcceptor},
    voip::{
        Nat, VoipLab, LAN_CLIENT, OUTSIDE_ATTACKER, OUTSIDE_GW, OUTSIDE_IF, OUTSIDE_PHONE, PBX,
        UPLINK2_HOST, UPLINK2_IF,
    },
};

/// The README's perimeter recipe: the PBX and the box protected, each with its own services
/// (`to`), default drop (replies to the box's own connections pass; the LAN's own traffic is
/// not sent to a protected host and passes as unprotected), auto-ban on.
const PERIMETER: &str = include_str!("../policies/perimeter.toml");

/// Kamailio's REGISTER limits under [`PERIMETER`] (the built-in default's).
const RATE: u64 = 10;
const BURST: u64 = 100;
/// Failures before the auto-ban (the built-in default's).
const FAILURES: usize = 5;

fn lab(nat: Nat) -> VoipLab {
    let mut lab = VoipLab::perimeter(nat).expect("building the routed lab");
    lab.start_kamailio().expect("starting Kamailio");
    lab
}

fn gw(lab: &VoipLab) -> &str {
    &lab.perimeter.as_ref().expect("a routed lab").gw
}

/// Honest phones on the outside register `regs` times (and, routed, place `calls` calls),
/// all of which must succeed.
fn honest_phones_succeed(lab: &VoipLab, regs: u32, calls: u32) {
    let routed = lab.perimeter.as_ref().is_some_and(|p| p.nat == Nat::None);
    lab.honest_traffic_succeeds(regs, if routed { calls } else { 0 });
}

fn bans(d: &Daemon) -> Vec<(String, String)> {
    let out = d.cli(&["bans", "--json"]).expect("sipguard bans");
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bans JSON");
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            (
                r["net"].as_str().unwrap().to_owned(),
                r["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `n` UDP round trips from `client` (in `client_ns`, an ephemeral port) to an echo server on
/// `server` (in `server_ns`): how many answers came back within a second each.
fn udp_echoes(
    client_ns: &str,
    client: SocketAddr,
    server_ns: &str,
    server: SocketAddr,
    n: u32,
) -> u32 {
    let echo = spawn_in_ns(server_ns, move || {
        let sock = UdpSocket::bind(server)?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut echoed = 0;
        let mut buf = [0u8; 512];
        while echoed < n && Instant::now() < deadline {
            if let Ok((len, from)) = sock.recv_from(&mut buf) {
                sock.send_to(&buf[..len], from)?;
                echoed += 1;
            }
        }
        Ok(echoed)
    });
    std::thread::sleep(Duration::from_millis(200));
    let answered = in_ns(client_ns, move || -> anyhow::Result<u32> {
        let sock = UdpSocket::bind(client)?;
        sock.set_read_timeout(Some(Duration::from_secs(1)))?;
        let mut answered = 0;
        let mut buf = [0u8; 512];
        for i in 0..n {
            sock.send_to(format!("ping {i}").as_bytes(), server)?;
            if sock.recv_from(&mut buf).is_ok() {
                answered += 1;
            }
        }
        Ok(answered)
    })
    .expect("the LAN client's thread")
    .expect("the LAN client's socket");
    let _ = echo.join();
    answered
}

/// The LAN client's own outbound TCP and UDP to a server on the outside (the phone's host):
/// its connections complete and its UDP answers come back in through the outside interface.
fn lan_client_reaches_the_outside(lab: &VoipLab) {
    let lan = &lab.perimeter.as_ref().expect("a routed lab").lan;
    let web = TcpAcceptor::start(&lab.phone, 8080).expect("a TCP server outside");
    let server = SocketAddr::new(addr(OUTSIDE_PHONE), 8080);
    for _ in 0..3 {
        assert!(
            tcp_connects(lan, addr(LAN_CLIENT), server, Duration::from_secs(2)).unwrap(),
            "the LAN client's TCP connection to the outside"
        );
    }
    // The acceptor takes them from the backlog at its own pace.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(web.finish().unwrap(), 3);
    let echo = SocketAddr::new(addr(OUTSIDE_PHONE), 7007);
    assert_eq!(
        udp_echoes(
            lan,
            SocketAddr::new(addr(LAN_CLIENT), 0),
            &lab.phone,
            echo,
            5
        ),
        5,
        "UDP answers to the LAN"
    );
    // From a fixed low port, as an office phone talks SIP to a provider outside: masqueraded,
    // the box maps it into the reply range (the recipe's `masquerade to :32768-60999`).
    let echo = SocketAddr::new(addr(OUTSIDE_PHONE), 7008);
    assert_eq!(
        udp_echoes(
            lan,
            SocketAddr::new(addr(LAN_CLIENT), 5062),
            &lab.phone,
            echo,
            5
        ),
        5,
        "UDP answers to the LAN's port 5062"
    );
}

/// An office phone on the LAN registers with the PBX (which the box doesn't judge: LAN to
/// PBX never enters the outside interface) and, routed, calls a phone outside through it: the
/// outside callee's answers to the PBX and to the LAN phone pass.
fn lan_phones_register_and_call_out(lab: &VoipLab) {
    let lan = &lab.perimeter.as_ref().expect("a routed lab").lan;
    let r = lab
        .registrations_from(lan, LAN_CLIENT, PBX, 3, 5)
        .expect("sipp on the LAN");
    assert!(
        r.all_ok(3),
        "the LAN phone's registrations: {r:?}\n{}",
        lab.kamailio_log()
    );
    if lab.perimeter.as_ref().is_some_and(|p| p.nat == Nat::None) {
        let (caller, callee) = lab
            .calls_from(lan, LAN_CLIENT, PBX, 2)
            .expect("sipp calls from the LAN");
        assert!(
            caller.all_ok(2),
            "the LAN phone's calls: {caller:?}\n{}",
            lab.kamailio_log()
        );
        assert_eq!(callee.successful, 2, "calls answered outside: {callee:?}");
    }
}

/// The routed lab's proof, with or without DNAT on the box (`port`: the daemon's metrics).
fn the_box_defends_the_pbx(nat: Nat, port: u16) {
    let lab = lab(nat);
    // Forwarding works before sipguard: a phone registers through the box.
    honest_phones_succeed(&lab, 1, 0);
    // The REGISTER flood first, with the auto-ban off, to see the rate limit alone.
    let config = TempFile::with_contents(
        &PERIMETER.replace("[autoban]\nenabled = true", "[autoban]\nenabled = false"),
    );
    let daemon = Daemon::start(gw(&lab), OUTSIDE_IF, port, &["--config", config.as_str()]).unwrap();

    const FLOOD: u64 = 1500;
    let flood = lab
        .register_flood_during(FLOOD, 500, || honest_phones_succeed(&lab, 5, 3))
        .unwrap();
    let (reached, elapsed, cap) = (flood.reached, flood.secs, flood.cap(BURST, RATE));
    assert!(
        reached <= cap,
        "{reached} of {FLOOD} flood REGISTERs reached Kamailio in {elapsed:.1} s; cap {cap}"
    );
    assert!(reached >= BURST, "the burst itself passes: {reached}");
    let dropped = daemon.sample(
        "sipguard_sip_packets_total",
        &[
            ("service", "sip"),
            ("class", "register"),
            ("verdict", "drop"),
        ],
    );
    assert_eq!(
        dropped + reached,
        FLOOD,
        "drops {dropped} + reached {reached} vs sent {FLOOD}"
    );
    eprintln!("{nat:?}: {reached} of {FLOOD} flood REGISTERs reached Kamailio in {elapsed:.1} s (cap {cap})");

    // Then the recipe as it is, auto-ban on: svcrack is banned from the PBX's answers as the
    // box forwards them out toward it, under its own address (with DNAT too). The flood spent
    // the attacker's REGISTER burst: let it refill (100 at 10/s), so that svcrack meets the
    // auto-ban (its 5th wrong password) and not the rate limit alone, which makes it give up
    // after fewer.
    std::thread::sleep(Duration::from_secs(10));
    std::fs::write(&config.0, PERIMETER).unwrap();
    daemon.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        daemon.wait_for_log("policy reloaded", Duration::from_secs(10)),
        "{}",
        daemon.log_text()
    );
    let guesses = lab
        .svcrack_during(|| honest_phones_succeed(&lab, 5, 0))
        .unwrap();
    assert!(
        guesses <= FAILURES + 1,
        "{guesses} wrong passwords reached Kamailio"
    );
    assert_eq!(
        bans(&daemon),
        vec![(format!("{OUTSIDE_ATTACKER}/32"), "auth_failures".to_owned())],
        "the attacker, under its own address, is the one ban"
    );
    assert!(daemon.packets("sip", "banned", "drop") > 0);
    eprintln!("{nat:?}: svcrack banned after {guesses} wrong passwords reached Kamailio");

    // Honest phones from outside still register 100 %, and the LAN's own traffic works:
    // routed, its answers are sent to the LAN, which the policy doesn't protect; masqueraded,
    // to the box's own address, where they pass as replies.
    honest_phones_succeed(&lab, 5, 2);
    let before = daemon.scrape().unwrap();
    lan_client_reaches_the_outside(&lab);
    lan_phones_register_and_call_out(&lab);
    let m = daemon.scrape().unwrap();
    let (reason, verdict) = match nat {
        Nat::None => ("unprotected", "pass"),
        Nat::Dnat => ("reply", "pass"),
    };
    let moved = netns::packets_total(&m, "none", reason, verdict)
        - netns::packets_total(&before, "none", reason, verdict);
    assert!(
        moved >= 8.0,
        "the LAN's answers pass as {reason}: {moved}\n{m}"
    );

    ssh_follows_each_hosts_allow_list(&lab, &daemon);
}

/// The box's administrator and the PBX vendor's support (both outside, in the phone's
/// namespace; [`PERIMETER`]'s `ssh-box` and `ssh-pbx` allow lists).
const BOX_ADMIN: &str = "198.51.100.20";
const PBX_SUPPORT: &str = "198.51.100.40";

/// SSH to the box is limited by its own allow list, SSH to the PBX (routed, or DNAT'd from the
/// box's public address) by the PBX's: a real listener on port 22 on each.
fn ssh_follows_each_hosts_allow_list(lab: &VoipLab, daemon: &Daemon) {
    for a in [BOX_ADMIN, PBX_SUPPORT] {
        netns::ip(&[
            "-n",
            &lab.phone,
            "addr",
            "add",
            &format!("{a}/24"),
            "dev",
            "ph0",
        ])
        .unwrap();
    }
    let box_sshd = TcpAcceptor::start(gw(lab), 22).expect("a listener on the box's port 22");
    let pbx_sshd = TcpAcceptor::start(&lab.pbx, 22).expect("a listener on the PBX's port 22");
    std::thread::sleep(Duration::from_millis(200));
    let the_box = SocketAddr::new(addr(OUTSIDE_GW), 22);
    let the_pbx = SocketAddr::new(addr(lab.target), 22);
    let connects = |src: &str, to: SocketAddr, wait: u64| {
        tcp_connects(&lab.phone, addr(src), to, Duration::from_secs(wait)).unwrap()
    };
    assert!(
        connects(BOX_ADMIN, the_box, 3),
        "the box's admin to the box"
    );
    assert!(
        connects(PBX_SUPPORT, the_pbx, 3),
        "the PBX's support to the PBX"
    );
    assert!(
        !connects(BOX_ADMIN, the_pbx, 1),
        "the box's admin to the PBX"
    );
    assert!(
        !connects(PBX_SUPPORT, the_box, 1),
        "the PBX's support to the box"
    );
    assert!(!connects(OUTSIDE_PHONE, the_box, 1), "a phone to the box");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        box_sshd.finish().unwrap(),
        1,
        "connections the box accepted"
    );
    assert_eq!(
        pbx_sshd.finish().unwrap(),
        1,
        "connections the PBX accepted"
    );
    assert!(daemon.packets("ssh-box", "allowed", "pass") > 0);
    assert!(daemon.packets("ssh-pbx", "allowed", "pass") > 0);
    assert!(daemon.packets("ssh-box", "not_allowed", "drop") >= 2);
    assert!(daemon.packets("ssh-pbx", "not_allowed", "drop") >= 1);
    for a in [BOX_ADMIN, PBX_SUPPORT] {
        netns::ip(&[
            "-n",
            &lab.phone,
            "addr",
            "del",
            &format!("{a}/24"),
            "dev",
            "ph0",
        ])
        .unwrap();
    }
    // status and /metrics name the protected hosts and each service's destinations.
    let out = daemon.cli_in_ns(&["status", "--interval", "0"]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "protect: 192.0.2.1/32, 198.51.100.1/32, 198.51.100.2/32, 203.0.113.1/32 (traffic \
             to other destinations passes, counted as unprotected)\n"
        ) && text.contains("service ssh-box: to 198.51.100.1/32, 203.0.113.1/32\n")
            && text.contains("service ssh-pbx: to 192.0.2.1/32, 198.51.100.2/32\n"),
        "{text}"
    );
    let m = daemon.scrape().unwrap();
    for (service, to) in [
        ("sip", "192.0.2.1/32"),
        ("sip", "198.51.100.2/32"),
        ("ssh-box", "198.51.100.1/32"),
    ] {
        assert_eq!(
            metric(
                &m,
                "sipguard_service_destination",
                &[("service", service), ("to", to)]
            ),
            Some(1.0),
            "{m}"
        );
    }
    assert_eq!(
        metric(&m, "sipguard_protected", &[("net", "203.0.113.1/32")]),
        Some(1.0),
        "{m}"
    );
}

privileged_test! {
    fn a_routed_box_caps_a_register_flood_bans_svcrack_and_keeps_phones_and_the_lan_working() {
        the_box_defends_the_pbx(Nat::None, 9650);
    }
}

privileged_test! {
    fn with_dnat_on_the_box_the_attacker_is_banned_under_its_own_address() {
        the_box_defends_the_pbx(Nat::Dnat, 9651);
    }
}

privileged_test! {
    fn the_lab_timeline_plays_through_the_box_within_the_limits_it_has_on_the_pbx() {
        // `cargo xtask lab -- --perimeter --short`, asserted, on the recipe: svmap, svwar,
        // svcrack, a REGISTER flood, SYN and ICMP floods from outside, honest phones
        // registering and calling through the box during each.
        let lab = lab(Nat::None);
        let config = TempFile::with_contents(PERIMETER);
        let daemon = Daemon::start(gw(&lab), OUTSIDE_IF, 9654, &["--config", config.as_str()]).unwrap();
        let phases = sipguard_tests::scenario::run_short(&lab, &daemon).unwrap();
        // svcrack is banned under its own address.
        sipguard_tests::scenario::assert_held(&phases, &format!("{OUTSIDE_ATTACKER}/32 auth_failures"));
    }
}

/// A SIP OPTIONS request from `src` to the PBX, which Kamailio logs as `RX`.
fn options(src: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:{PBX} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:5099;branch=z9hG4bK-{src}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{src}>;tag=1\r\nTo: <sip:{PBX}>\r\n\
         Call-ID: probe-{src}\r\nCSeq: 1 OPTIONS\r\nUser-Agent: perimeter-probe\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Kamailio's `RX` lines from `src` after `n` OPTIONS sent from `src` in namespace `ns`.
fn options_reaching(lab: &VoipLab, ns: &str, src: &str, n: u32) -> usize {
    let before = lab.kamailio_count("RX", src);
    send_udp(
        ns,
        addr(src),
        SocketAddr::new(addr(PBX), 5060),
        n,
        &options(src),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    lab.kamailio_count("RX", src) - before
}

fn xdp_on(ns: &str, iface: &str) -> bool {
    let link = netns::ip(&["-n", ns, "link", "show", iface]).unwrap();
    String::from_utf8_lossy(&link.stdout).contains("xdp")
}

privileged_test! {
    fn two_uplinks_on_one_daemon_share_a_ban_and_are_adopted_and_detached_together() {
        let lab = lab(Nat::None);
        let up2 = lab.perimeter.as_ref().unwrap().uplink2.clone();
        let gw = gw(&lab).to_owned();
        // The attacker's address also comes in through the second uplink (another route to
        // the same source: the box's reverse-path filter is off, as on a multihomed router).
        netns::ip(&["-n", &up2, "addr", "add", &format!("{OUTSIDE_ATTACKER}/32"), "dev", "isp0"]).unwrap();
        let config = TempFile::with_contents(PERIMETER);
        let ifaces = format!("{OUTSIDE_IF},{UPLINK2_IF}");
        let mut daemon = Daemon::start(&gw, &ifaces, 9652, &["--config", config.as_str()]).unwrap();

        // status, /metrics and the applied record name both interfaces.
        let out = daemon.cli_in_ns(&["status", "--json", "--interval", "0"]).unwrap();
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let listed: Vec<(String, String)> = status["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["iface"].as_str().unwrap().to_owned(), a["xdp_mode"].as_str().unwrap_or("-").to_owned()))
            .collect();
        assert_eq!(listed, vec![(OUTSIDE_IF.to_owned(), "native".to_owned()), (UPLINK2_IF.to_owned(), "native".to_owned())]);
        let text = String::from_utf8_lossy(&daemon.cli_in_ns(&["status", "--interval", "0"]).unwrap().stdout).into_owned();
        assert!(text.contains("interface out0: XDP attached (native)\ninterface out1: XDP attached (native)\n"), "{text}");
        assert_eq!(sipguard::control::applied::interfaces(&daemon.pin_dir), vec![OUTSIDE_IF, UPLINK2_IF]);
        let m = sipguard_tests::wait_until(Duration::from_secs(5), "both interfaces in /metrics", || {
            let m = daemon.scrape()?;
            [OUTSIDE_IF, UPLINK2_IF]
                .iter()
                .all(|i| metric(&m, "sipguard_attached", &[("iface", i)]) == Some(1.0))
                .then_some(m)
        })
        .unwrap();
        assert_eq!(metric(&m, "sipguard_xdp_mode", &[("iface", UPLINK2_IF), ("mode", "native")]), Some(1.0), "{m}");

        // Before the ban the attacker's address gets through either uplink.
        assert_eq!(options_reaching(&lab, &up2, OUTSIDE_ATTACKER, 3), 3, "through the second uplink");
        // svcrack through the first uplink: banned from the PBX's answers leaving out0 ...
        lab.svcrack_during(|| ()).unwrap();
        assert_eq!(bans(&daemon), vec![(format!("{OUTSIDE_ATTACKER}/32"), "auth_failures".to_owned())]);
        // ... and dropped on out1 too, while the second uplink's own host still gets through.
        let banned_before = daemon.packets("sip", "banned", "drop");
        assert_eq!(options_reaching(&lab, &up2, OUTSIDE_ATTACKER, 5), 0, "the ban holds on the other uplink");
        let banned = daemon.packets("sip", "banned", "drop");
        assert_eq!(banned - banned_before, 5, "dropped as banned");
        assert_eq!(options_reaching(&lab, &up2, UPLINK2_HOST, 3), 3, "the uplink's own host");

        // kill -9: both interfaces stay filtered; the next daemon adopts both links.
        daemon.kill9().unwrap();
        assert!(xdp_on(&gw, OUTSIDE_IF) && xdp_on(&gw, UPLINK2_IF), "XDP stays on both");
        assert_eq!(options_reaching(&lab, &up2, OUTSIDE_ATTACKER, 3), 0, "the ban holds without a daemon");
        daemon.spawn().unwrap();
        let log = daemon.log_text();
        for iface in [OUTSIDE_IF, UPLINK2_IF] {
            assert!(
                log.lines().any(|l| l.contains("attached") && l.contains(iface) && l.matches("\"adopted\"").count() == 2),
                "{iface} adopted:\n{log}"
            );
        }
        assert_eq!(options_reaching(&lab, &up2, OUTSIDE_ATTACKER, 3), 0, "the ban holds after the restart");

        // Stopped, then detached from both in one command: nothing of sipguard's is left.
        daemon.stop().unwrap();
        let out = daemon.cli_in_ns(&["detach", "--iface", OUTSIDE_IF, "--iface", UPLINK2_IF]).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(!xdp_on(&gw, OUTSIDE_IF) && !xdp_on(&gw, UPLINK2_IF), "XDP off both");
        assert!(!daemon.pin_dir.exists(), "pinned maps left behind");
        assert_eq!(options_reaching(&lab, &up2, OUTSIDE_ATTACKER, 3), 3, "no filter, no ban");
    }
}

privileged_test! {
    fn an_interface_that_fails_names_itself_and_leaves_the_others_unattached() {
        let lab = Lab::new(&[]).unwrap();
        netns::ip(&["-n", &lab.pbx, "link", "add", "extra0", "type", "veth", "peer", "name", "extra1"]).unwrap();
        netns::ip(&["-n", &lab.pbx, "link", "set", "extra0", "up"]).unwrap();
        let pin = format!("/sys/fs/bpf/{}", sipguard_tests::unique("sipguard-test-"));
        let run = |ifaces: &[&str]| {
            let mut c = Lab::netns_command(&lab.pbx, binary()).unwrap();
            c.arg("run");
            for i in ifaces {
                c.args(["--iface", i]);
            }
            c.args(["--pin-path", &pin]);
            c
        };
        // A missing interface: refused before anything is loaded.
        let stderr = refused(&mut run(&[PBX_IF, "nosuch0"]));
        assert!(stderr.contains("interface \"nosuch0\" not found"), "{stderr}");
        assert!(!xdp_on(&lab.pbx, PBX_IF));
        let stderr = refused(&mut run(&[PBX_IF, PBX_IF]));
        assert!(stderr.contains("--iface pbx0 is named twice"), "{stderr}");
        // A busy one (another daemon's, on other pins): what was attached before it is undone.
        let other = Daemon::start(&lab.pbx, "extra0", 9653, &[]).unwrap();
        let stderr = refused(&mut run(&[PBX_IF, "extra0"]));
        let _ = std::fs::remove_dir_all(&pin);
        assert!(stderr.contains("already attached to extra0"), "{stderr}");
        assert!(!xdp_on(&lab.pbx, PBX_IF), "pbx0 was left attached");
        assert!(xdp_on(&lab.pbx, "extra0"), "the other daemon's filter stays");
        drop(other);
    }
}
