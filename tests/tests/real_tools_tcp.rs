//! SIP over TCP end to end, with the real daemon and real Kamailio (which listens on TCP
//! 5060, `tests/lab/kamailio.cfg`): sipp phones registering and calling over TCP (`-t t1`)
//! while, from the attacker namespace, a digest password guesser over one TCP connection
//! ([`Guesser::lock_step_over`]) is banned by the egress program's reading of Kamailio's TCP
//! answers, and REGISTER floods pipelined over one connection ([`sip_tcp::register_flood`])
//! are held to the same per-source limits as over UDP (`real_tools`).
use std::time::Duration;

use sipguard_tests::{
    daemon::Daemon,
    guesser::{Exchange, Guesser, Transport},
    netns::ip,
    policies::TempFile,
    privileged_test,
    sip_tcp::{self, Packing},
    voip::{Flood, VoipLab, ATTACKER, PBX, PBX_IF, PHONE},
};

use crate::real_tools::{guesser, lab, sip_class, SIP_ONLY_NO_AUTOBAN};

/// A second attacker address, for the same guesser over UDP.
const ATTACKER_UDP: &str = "192.0.2.67";

/// The statuses of the answered exchanges.
fn answered(run: &[Exchange]) -> Vec<u16> {
    run.iter().filter_map(|e| e.answer.map(|a| a.0)).collect()
}

/// The lab with the honest phones on TCP.
fn tcp_lab() -> VoipLab {
    let mut lab = lab();
    lab.honest_transport = "t1";
    lab
}

privileged_test! {
    fn a_tcp_password_guesser_is_banned_after_as_many_wrong_passwords_as_over_udp() {
        let lab = tcp_lab();
        // Unprotected: the guesser's digest is the real thing; with 1001's password, Kamailio
        // takes it over TCP.
        let honest = Guesser {
            password: "150".into(),
            ..guesser(&lab)
        };
        let run = honest.lock_step_over(Transport::Tcp, 2).unwrap();
        assert_eq!(answered(&run), vec![401, 200], "{run:?}\n{}", lab.kamailio_log());
        assert_eq!(lab.kamailio_count("AUTHOK", ATTACKER), 1);

        // The built-in default: the fifth failure in a minute bans.
        const FAILURES: usize = 5;
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9611, &[]).unwrap();
        let (fails_before, rx_before) = (
            lab.kamailio_count("AUTHFAIL", ATTACKER),
            lab.kamailio_rx_over(ATTACKER, "tcp"),
        );
        let phone_before = lab.kamailio_rx_over(PHONE, "tcp");
        let run = std::thread::scope(|s| {
            let guessing = s.spawn(|| guesser(&lab).lock_step_over(Transport::Tcp, 20));
            // The phones register and call over TCP while the guesser runs.
            lab.honest_traffic_succeeds(5, 5);
            guessing.join().expect("guesser thread")
        })
        .unwrap();
        // The challenge (no failure: that REGISTER had no credentials) and five wrong
        // passwords are answered (401); the fifth failure bans, so the seventh request, on
        // the same connection, is never answered.
        assert_eq!(answered(&run), vec![401; FAILURES + 1], "{run:?}");
        let last = run.last().unwrap();
        assert!(last.answer.is_none() && last.with_credentials, "{run:?}");
        assert_eq!(run.len(), FAILURES + 2, "{run:?}");
        let tcp_wrong = lab.kamailio_count("AUTHFAIL", ATTACKER) - fails_before;
        assert_eq!(tcp_wrong, FAILURES, "wrong passwords that reached Kamailio over TCP");
        assert_eq!(
            lab.kamailio_rx_over(ATTACKER, "tcp") - rx_before,
            FAILURES + 1,
            "the request after the ban reached Kamailio"
        );
        assert!(
            lab.kamailio_rx_over(PHONE, "tcp") > phone_before,
            "the phones used TCP"
        );

        // The same guesser over UDP, from another address: the same count.
        ip(&["-n", &lab.attacker, "addr", "add", &format!("{ATTACKER_UDP}/24"), "dev", "atk0"])
            .unwrap();
        let over_udp = Guesser {
            src: ATTACKER_UDP.parse().unwrap(),
            ..guesser(&lab)
        };
        let udp_fails_before = lab.kamailio_count("AUTHFAIL", ATTACKER_UDP);
        let udp_run = over_udp.lock_step(20).unwrap();
        let udp_wrong = lab.kamailio_count("AUTHFAIL", ATTACKER_UDP) - udp_fails_before;
        assert_eq!(answered(&udp_run), answered(&run), "UDP {udp_run:?}");
        assert_eq!(udp_wrong, tcp_wrong);
        eprintln!(
            "wrong passwords before the ban: {tcp_wrong} over TCP, {udp_wrong} over UDP \
             (answers {:?})",
            answered(&run)
        );

        let bans = daemon.cli(&["bans", "--json"]).unwrap();
        let bans: serde_json::Value = serde_json::from_slice(&bans.stdout).unwrap();
        let mut nets: Vec<(String, String)> = bans
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["net"].as_str().unwrap().to_owned(), b["reason"].as_str().unwrap().to_owned()))
            .collect();
        nets.sort();
        let auth = || "auth_failures".to_owned();
        assert_eq!(
            nets,
            vec![(format!("{ATTACKER}/32"), auth()), (format!("{ATTACKER_UDP}/32"), auth())],
            "only the two guessers are banned"
        );
        assert_eq!(
            daemon.sample("sipguard_bans_created_total", &[("reason", "auth_failures")]),
            2
        );
        assert!(
            daemon.wait_for_log("banned", Duration::from_secs(5)),
            "the daemon logs the ban:\n{}",
            daemon.log_text()
        );
        assert!(daemon.log_text().contains(&format!("{ATTACKER}/32")));
        // The seventh request and the TCP stack's resends of it.
        assert!(daemon.packets("sip", "banned", "drop") >= 2);
        // The phones are not hurt by it.
        lab.honest_traffic_succeeds(5, 0);
    }
}

/// The default REGISTER limit per source, and how long each flood runs.
const RATE: u64 = 10;
const BURST: u64 = 100;
const FLOOD_FOR: Duration = Duration::from_secs(8);

/// A REGISTER flood over one TCP connection from the attacker, laid out as `packing`, while
/// the phones register and call over TCP; auto-ban off (the flood carries no credentials,
/// so the PBX's 401s to it are no failures either way). What reaches Kamailio is held to the UDP flood's bound, burst + rate x time.
fn tcp_flood_is_capped(packing: Packing, metrics: u16) {
    let lab = tcp_lab();
    let config = TempFile::with_contents(SIP_ONLY_NO_AUTOBAN);
    let daemon = Daemon::start(&lab.pbx, PBX_IF, metrics, &["--config", config.as_str()]).unwrap();
    let before = lab.kamailio_rx_over(ATTACKER, "tcp");
    let flood = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            let pbx = format!("{PBX}:5060").parse().unwrap();
            let src = ATTACKER.parse().unwrap();
            sip_tcp::register_flood(&lab.attacker, src, pbx, packing, 20_000, FLOOD_FOR)
        });
        std::thread::sleep(Duration::from_millis(500));
        lab.honest_traffic_succeeds(5, 5);
        flood.join().expect("flood thread")
    })
    .unwrap();
    // What Kamailio had read by the reset; give its log a moment.
    std::thread::sleep(Duration::from_millis(500));
    let reached = (lab.kamailio_rx_over(ATTACKER, "tcp") - before) as u64;
    let bound = Flood {
        reached,
        secs: flood.secs,
    };
    let cap = bound.cap(BURST, RATE);
    let passed = sip_class(&daemon, "register", "pass");
    let limited = daemon.packets("sip", "rate_limited", "drop");
    let garbage = sip_class(&daemon, "garbage", "pass");
    eprintln!(
        "TCP flood {packing:?}: {reached} REGISTERs reached Kamailio in {:.1} s (cap {cap}); \
         {} written, {} answered; segments: {passed} register passed, {garbage} garbage \
         passed, {limited} rate-limited; MSS {}, REGISTER {} bytes",
        flood.secs, flood.written, flood.answered, flood.mss, flood.request_len
    );
    assert!(
        reached <= cap,
        "{reached} flood REGISTERs reached Kamailio over TCP in {:.1} s; the limit allows {cap}",
        flood.secs
    );
    assert!(reached >= BURST, "the burst itself must pass: {reached}");
    assert!(
        flood.written > reached,
        "the flood pushed past the limit: {flood:?}"
    );
    assert!(limited > 0, "sipguard dropped segments of the flood");
    assert!(flood.answered <= reached, "{flood:?}");
    if packing != Packing::Stream {
        assert_eq!(
            garbage, 0,
            "a segment of the padded flood started inside a request"
        );
    }
    match packing {
        // Every segment started with a REGISTER and held `n` of them.
        Packing::OnePerSegment => assert!(reached <= passed, "{reached} vs {passed} segments"),
        Packing::PerSegment(n) => {
            assert!(
                reached <= passed * n as u64,
                "{reached} vs {passed} segments"
            )
        }
        Packing::Stream => {}
    }
}

privileged_test! {
    fn a_tcp_register_flood_one_per_segment_is_capped_at_the_udp_limit() {
        tcp_flood_is_capped(Packing::OnePerSegment, 9612);
    }
}

privileged_test! {
    fn a_tcp_register_flood_pipelined_four_per_segment_is_capped_at_the_udp_limit() {
        tcp_flood_is_capped(Packing::PerSegment(4), 9613);
    }
}

privileged_test! {
    /// The natural pipelined flood: REGISTERs of 336 bytes written back to back, so that
    /// most segments start inside a request.
    fn a_tcp_register_flood_streamed_across_segment_boundaries_is_capped_at_the_udp_limit() {
        tcp_flood_is_capped(Packing::Stream, 9614);
    }
}

/// Wrong passwords of a burst of `n` back to back from `g` over `transport` that reached
/// Kamailio, how many were answered, and the reasons of the bans then listed.
fn burst_reached(
    lab: &VoipLab,
    daemon: &Daemon,
    g: &Guesser,
    transport: Transport,
    n: usize,
) -> (usize, usize, Vec<String>) {
    let src = g.src.to_string();
    let before = lab.kamailio_count("AUTHFAIL", &src);
    let run = g.burst_over(transport, n).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let bans = daemon.cli(&["bans", "--json"]).unwrap();
    let bans: serde_json::Value = serde_json::from_slice(&bans.stdout).unwrap();
    let reasons = bans
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["net"] == format!("{src}/32"))
        .map(|b| b["reason"].as_str().unwrap().to_owned())
        .collect();
    let reached = lab.kamailio_count("AUTHFAIL", &src) - before;
    (reached, answered(&run).len(), reasons)
}

privileged_test! {
    /// 50 wrong passwords answering one challenge, pipelined in one write on one TCP
    /// connection: no more reach Kamailio than of the same burst over UDP (the built-in
    /// default's `attempts = 10` bans it there).
    fn a_pipelined_tcp_guess_burst_gets_no_more_wrong_passwords_through_than_over_udp() {
        let lab = tcp_lab();
        const N: usize = 50;
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9615, &[]).unwrap();
        let (tcp, tcp_answered, tcp_bans) = burst_reached(&lab, &daemon, &guesser(&lab), Transport::Tcp, N);
        ip(&["-n", &lab.attacker, "addr", "add", &format!("{ATTACKER_UDP}/24"), "dev", "atk0"])
            .unwrap();
        let over_udp = Guesser {
            src: ATTACKER_UDP.parse().unwrap(),
            ..guesser(&lab)
        };
        let (udp, udp_answered, udp_bans) = burst_reached(&lab, &daemon, &over_udp, Transport::Udp, N);
        eprintln!(
            "burst of {N} wrong passwords: {tcp} reached Kamailio over TCP ({tcp_answered} \
             answered, bans {tcp_bans:?}), {udp} over UDP ({udp_answered} answered, bans \
             {udp_bans:?})"
        );
        // Both transports are held to the same cap: the attempts signal's 10 and the one that
        // trips it. Which signal ends a burst first (the 5th failure answered, or the 11th
        // request with credentials) is a race between the PBX's answers and the requests in
        // flight, so the counts themselves vary from run to run (UDP 5 or 10, TCP 7 seen).
        assert!(udp <= 11 && !udp_bans.is_empty(), "UDP: {udp} {udp_bans:?}");
        assert!(!tcp_bans.is_empty(), "the TCP guesser was not banned");
        assert!(tcp <= 11, "{tcp} wrong passwords over TCP, {udp} over UDP");
        lab.honest_traffic_succeeds(5, 0);
    }
}
