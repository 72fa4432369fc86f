//! sipguard against the attack tools admins face, with real peers (see `sipguard_tests::voip`):
//! Kamailio as registrar with digest authentication, sipp as honest phones, SIPVicious
//! (svmap, svwar, svcrack) and a sipp REGISTER flood as the attacker. Each test first shows
//! the tool working against the unprotected PBX, then attaches the real `sipguard` binary to
//! the PBX's interface and checks what reaches Kamailio, what the honest phones get, and that
//! sipguard's counters add up to what the attacker sent.
use std::time::{Duration, Instant};

use sipguard_tests::{
    daemon::Daemon,
    forgery,
    guesser::Guesser,
    policies::TempFile,
    privileged_test,
    voip::{VoipLab, ATTACKER, PBX, PBX_IF, PHONE},
};

/// SIP open to all with the default limits, auto-ban off.
pub(crate) const SIP_ONLY_NO_AUTOBAN: &str =
    "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\n\
    ports = [5060]\nallow = [\"any\"]\nsip = true\n[autoban]\nenabled = false\n";

pub(crate) fn lab() -> VoipLab {
    let mut lab = VoipLab::new().expect("building the VoIP lab");
    lab.start_kamailio().expect("starting Kamailio");
    lab
}

pub(crate) fn sip_class(d: &Daemon, class: &str, verdict: &str) -> u64 {
    d.sample(
        "sipguard_sip_packets_total",
        &[("service", "sip"), ("class", class), ("verdict", verdict)],
    )
}

privileged_test! {
    fn svmap_finds_no_pbx_and_svwar_no_extension_behind_sipguard() {
        let lab = lab();
        // Unprotected: both tools work against this PBX.
        let map = lab.sipvicious("svmap", &["-p", "5060"], None, 30).unwrap();
        let map_out = String::from_utf8_lossy(&map.stdout);
        assert!(
            map_out.contains("| 192.0.2.1:5060"),
            "svmap should find the unprotected PBX:\n{map_out}"
        );
        let war = lab.sipvicious("svwar", &["-e1000-1020"], None, 30).unwrap();
        let war_out = String::from_utf8_lossy(&war.stdout);
        assert!(
            war_out.contains("| 1001 ") && war_out.contains("| 1010 "),
            "svwar should enumerate 1001-1010 on the unprotected PBX:\n{war_out}"
        );

        // Protected by the built-in default policy.
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9601, &[]).unwrap();
        let sent_before = lab.udp_sent(&lab.attacker).unwrap();
        let reached_before = lab.kamailio_count("RX", ATTACKER);

        let map = lab.sipvicious("svmap", &["-p", "5060"], None, 30).unwrap();
        let map_out = String::from_utf8_lossy(&map.stdout);
        assert!(
            !map_out.contains("192.0.2.1"),
            "svmap found the PBX behind sipguard:\n{map_out}"
        );
        assert!(
            String::from_utf8_lossy(&map.stderr).contains("found nothing"),
            "svmap: {}",
            String::from_utf8_lossy(&map.stderr)
        );
        let war = lab.sipvicious("svwar", &["-e1000-1020"], None, 30).unwrap();
        let war_out = String::from_utf8_lossy(&war.stdout);
        assert!(
            !war_out.contains("reqauth") && !war_out.contains("| 10"),
            "svwar enumerated extensions behind sipguard:\n{war_out}"
        );

        let sent = lab.udp_sent(&lab.attacker).unwrap() - sent_before;
        assert!(sent >= 2, "the tools sent {sent} datagrams");
        assert_eq!(
            lab.kamailio_count("RX", ATTACKER),
            reached_before,
            "a scanner request reached Kamailio"
        );
        // Every datagram the tools sent was dropped as a scanner: svmap's OPTIONS, svwar's
        // REGISTERs.
        let scanner = daemon.sample("sipguard_packets_total",
            &[
                ("service", "sip"),
                ("reason", "scanner"),
                ("verdict", "drop"),
            ],
        );
        assert_eq!(scanner, sent, "scanner drops vs datagrams the tools sent");
        assert_eq!(
            sip_class(&daemon, "options", "drop") + sip_class(&daemon, "register", "drop"),
            sent
        );

        // The admin sees it without any per-packet log: `sipguard status` from another shell.
        let status = daemon.cli(&["status"]).unwrap();
        let status = String::from_utf8_lossy(&status.stdout);
        let line = status
            .lines()
            .find(|l| l.contains("scanner") && l.contains("drop"))
            .unwrap_or_else(|| panic!("no scanner row in `sipguard status`:\n{status}"));
        assert!(line.contains(&sent.to_string()), "{line}");

        // Honest phones are unaffected.
        lab.honest_traffic_succeeds(5, 5);
        assert!(lab.kamailio_count("REGOK", PHONE) >= 6);
    }
}

privileged_test! {
    fn svcrack_guesses_reaching_kamailio_are_capped_at_the_register_rate() {
        let lab = lab();
        // svcrack with a phone's User-Agent, so that only the rate limit can stop it.
        const UA: &str = "Zoiper rv2.10.20.3";
        let crack = ["-u1001", "-r1-200"];
        // Unprotected: password 150 (guess 151) is found within about a second.
        let open = lab.sipvicious("svcrack", &crack, Some(UA), 40).unwrap();
        let open_out = String::from_utf8_lossy(&open.stdout);
        assert!(
            open_out.contains("| 1001 ") && open_out.contains(" 150 "),
            "svcrack should crack the unprotected PBX:\n{open_out}"
        );

        const RATE: u64 = 2;
        const BURST: u64 = 20;
        // Auto-ban off: this test is about the rate limit alone.
        let config = TempFile::with_contents(&format!(
            "[[service]]\nname = \"sip\"\nprotocol = [\"udp\", \"tcp\"]\nports = [5060]\n\
             allow = [\"any\"]\nsip = true\n[service.limits]\n\
             register = {{ rate = {RATE}, burst = {BURST} }}\n[autoban]\nenabled = false\n"
        ));
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9602, &["--config", config.as_str()]).unwrap();
        let sent_before = lab.udp_sent(&lab.attacker).unwrap();
        let reached_before = lab.kamailio_count("RX", ATTACKER);
        let guesses_before = lab.kamailio_count("AUTHFAIL", ATTACKER);
        let ok_before = lab.kamailio_count("AUTHOK", ATTACKER);

        let started = Instant::now();
        let attack = std::thread::scope(|s| {
            let attack = s.spawn(|| lab.sipvicious("svcrack", &["-u1001", "-r1-200"], Some(UA), 15));
            // The phones register and call while the attack runs.
            lab.honest_traffic_succeeds(5, 5);
            attack.join().expect("svcrack thread")
        })
        .unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        let out = String::from_utf8_lossy(&attack.stdout);
        assert!(!out.contains(" 150 "), "svcrack found the password:\n{out}");

        let reached = (lab.kamailio_count("RX", ATTACKER) - reached_before) as u64;
        let guesses = lab.kamailio_count("AUTHFAIL", ATTACKER) - guesses_before;
        let cap = BURST + (RATE as f64 * elapsed).ceil() as u64 + 1;
        assert!(
            reached <= cap,
            "{reached} REGISTERs reached Kamailio in {elapsed:.1} s; the limit allows {cap}"
        );
        assert!(reached >= BURST, "the burst itself must pass: {reached}");
        assert_eq!(lab.kamailio_count("AUTHOK", ATTACKER), ok_before);
        eprintln!(
            "svcrack behind sipguard: {reached} REGISTERs ({guesses} wrong passwords) reached \
             Kamailio in {elapsed:.1} s, cap {cap}"
        );

        // Counters: what svcrack sent = what reached Kamailio + what sipguard dropped.
        let sent = lab.udp_sent(&lab.attacker).unwrap() - sent_before;
        let dropped = sip_class(&daemon, "register", "drop");
        assert_eq!(
            dropped + reached,
            sent,
            "drops {dropped} + reached {reached} vs sent {sent}"
        );
        let rate_limited = daemon.sample("sipguard_packets_total",
            &[
                ("service", "sip"),
                ("reason", "rate_limited"),
                ("verdict", "drop"),
            ],
        );
        assert_eq!(
            rate_limited, dropped,
            "only svcrack's REGISTERs were dropped"
        );
    }
}

privileged_test! {
    fn a_register_flood_is_capped_while_honest_phones_register_and_call() {
        let lab = lab();
        // The default limits (REGISTER 10/s, burst 100 per source); auto-ban off (the flood's
        // REGISTERs carry no credentials: the PBX's 401s to them are challenges, not
        // failures, so the limit alone holds it).
        const RATE: u64 = 10;
        const BURST: u64 = 100;
        const FLOOD: u64 = 2000;
        let config = TempFile::with_contents(SIP_ONLY_NO_AUTOBAN);
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9603, &["--config", config.as_str()]).unwrap();
        let sent_before = lab.udp_sent(&lab.attacker).unwrap();
        let flood = lab
            .register_flood_during(FLOOD, 500, || lab.honest_traffic_succeeds(5, 10))
            .unwrap();
        let sent = lab.udp_sent(&lab.attacker).unwrap() - sent_before;
        assert_eq!(sent, FLOOD);
        let (reached, elapsed, cap) = (flood.reached, flood.secs, flood.cap(BURST, RATE));
        assert!(
            reached <= cap,
            "{reached} of {FLOOD} flood REGISTERs reached Kamailio in {elapsed:.1} s; cap {cap}"
        );
        assert!(reached >= BURST, "the burst itself must pass: {reached}");
        let dropped = sip_class(&daemon, "register", "drop");
        assert_eq!(
            dropped + reached,
            sent,
            "drops {dropped} + reached {reached} vs sent {sent}"
        );
        eprintln!(
            "flood: {reached} of {sent} REGISTERs reached Kamailio in {elapsed:.1} s (cap {cap})"
        );
    }
}

privileged_test! {
    fn svcrack_is_banned_after_a_handful_of_wrong_passwords() {
        let lab = lab();
        // The built-in default: the fifth failure in a minute bans, for an hour. svcrack asks
        // for a fresh challenge before its guesses: those are no failures.
        const FAILURES: usize = 5;
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9604, &[]).unwrap();
        // Honest phones re-register (each with its 401 round) and call during the attack.
        let guesses = lab
            .svcrack_during(|| {
                lab.honest_traffic_succeeds(5, 5);
                lab.honest_traffic_succeeds(5, 0);
            })
            .unwrap();
        assert!(
            guesses <= FAILURES + 1,
            "{guesses} wrong passwords reached Kamailio; the ban comes at {FAILURES} failures (one more may be in flight)"
        );
        eprintln!("svcrack banned after {guesses} wrong passwords reached Kamailio");

        let bans = daemon.cli(&["bans", "--json"]).unwrap();
        let bans: serde_json::Value = serde_json::from_slice(&bans.stdout).unwrap();
        let bans = bans.as_array().unwrap();
        assert_eq!(bans.len(), 1, "only the attacker is banned: {bans:?}");
        assert_eq!(bans[0]["net"], "192.0.2.66/32");
        assert_eq!(bans[0]["reason"], "auth_failures");
        assert_eq!(
            daemon.sample("sipguard_bans_created_total",
                &[("reason", "auth_failures")]
            ),
            1
        );
        assert!(
            daemon.wait_for_log("banned", Duration::from_secs(5)),
            "the daemon logs the ban:\n{}",
            daemon.log_text()
        );
        assert!(daemon.log_text().contains("192.0.2.66/32"));
        assert!(
            daemon.packets("sip", "banned", "drop") > 0
        );
    }
}

privileged_test! {
    fn calls_whose_invite_is_fragmented_get_through() {
        let lab = lab();
        // An INVITE with a 2.4 KB SDP leaves the phone as two or three IP fragments; only the
        // first has a UDP header. The built-in default drops what matches no service, so the later
        // fragments pass only because they follow their first fragment's verdict.
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9605, &[]).unwrap();
        // The caller 1003 must be registered to call.
        lab.honest_traffic_succeeds(5, 0);
        let (caller, callee) = lab
            .honest_calls_with(5, "uac_call_fragmented.xml")
            .expect("sipp calls");
        assert!(
            caller.all_ok(5),
            "fragmented calls: {caller:?}\n{}",
            lab.kamailio_log()
        );
        assert_eq!(callee.successful, 5, "calls answered: {callee:?}");
        let passed = daemon.sample("sipguard_packets_total",
            &[
                ("service", "sip"),
                ("reason", "fragment"),
                ("verdict", "pass"),
            ],
        );
        // Two INVITEs per call (the 407 round), each with at least one later fragment.
        assert!(passed >= 5 * 2, "later fragments passed: {passed}");
        let dropped = daemon.sample("sipguard_packets_total",
            &[
                ("service", "none"),
                ("reason", "fragment"),
                ("verdict", "drop"),
            ],
        );
        assert_eq!(dropped, 0, "no orphan fragments");
    }
}

/// The lab's guesser against Kamailio, 1001, from the attacker namespace, with a wrong
/// password.
pub(crate) fn guesser(lab: &VoipLab) -> Guesser {
    Guesser {
        ns: lab.attacker.clone(),
        src: ATTACKER.parse().unwrap(),
        pbx: format!("{PBX}:5060").parse().unwrap(),
        user: "1001".into(),
        password: "wrong".into(),
        silence: Duration::from_millis(500),
    }
}

privileged_test! {
    fn the_request_right_after_the_banning_answer_is_dropped() {
        let lab = lab();
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9606, &[]).unwrap();
        // Lock-step: every request leaves the moment the previous answer arrives.
        let run = guesser(&lab).lock_step(20).unwrap();
        let answered: Vec<u16> = run.iter().filter_map(|e| e.answer.map(|a| a.0)).collect();
        // The challenge (no failure: that REGISTER had no credentials) and five wrong
        // passwords are answered (401); the fifth failure bans.
        assert_eq!(answered, vec![401; 6], "{run:?}");
        let last = run.last().unwrap();
        assert!(last.answer.is_none() && last.with_credentials);
        assert_eq!(
            run.len(),
            7,
            "the guesser stops at its first unanswered request"
        );
        assert_eq!(
            daemon.packets("sip", "banned", "drop"),
            1,
            "the seventh request was dropped as banned"
        );
        let gap = last.sent - run[5].answer.unwrap().1;
        eprintln!("last failure answer -> first dropped request: {gap:?}");
        // Each guess echoed the nonce Kamailio had just sent to the guesser, and to nobody
        // else: proven evidence over UDP, so the ban takes the configured scope (`all`).
        assert_eq!(
            daemon.sample("sipguard_autoban_evidence_total", &[("kind", "nonce_proven")]),
            5
        );
        let row = daemon.wait_for_ban("192.0.2.66/32").expect("the guesser is banned");
        assert_eq!(row["scope"], "all", "{row}");
    }
}

privileged_test! {
    fn the_lab_timeline_in_short_keeps_honest_calls_whole_and_attacks_within_limits() {
        let lab = lab();
        // `cargo xtask lab -- --short`, asserted: the built-in default, every attack of the
        // timeline, honest registrations and calls during each.
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9607, &[]).unwrap();
        let phases = sipguard_tests::scenario::run_short(&lab, &daemon).unwrap();
        sipguard_tests::scenario::assert_held(&phases, "192.0.2.66/32 auth_failures");
    }
}

/// [`forgery::send`], which must go.
fn forged(lab: &VoipLab, src: &str, payloads: &[String]) {
    forgery::send(lab, src, payloads).expect("sending the forged frames");
}

privileged_test! {
    fn a_forger_writing_the_trunks_address_never_bans_it_and_its_calls_go_on() {
        let lab = lab();
        // The built-in default, scanner bans on.
        let config = TempFile::with_contents(
            &sipguard::config::DEFAULT_CONFIG.replace("# ban = \"1h\"", "ban = \"1h\""),
        );
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9616, &["--config", config.as_str()]).unwrap();
        // The trunk (the phones' address, a registering peer) logs in: learned.
        lab.honest_traffic_succeeds(5, 2);
        let authfail_before = lab.kamailio_count("AUTHFAIL", PHONE);
        // 20 of each forgery, far past every threshold (5 failures, 10 attempts, 1 scanner).
        forged(&lab, PHONE, &forgery::against(PHONE, 20));
        // Kamailio believed them: it challenged, and logged wrong passwords "from" the trunk,
        // the lines fail2ban's jail would ban it on.
        std::thread::sleep(Duration::from_millis(500));
        let authfail = lab.kamailio_count("AUTHFAIL", PHONE) - authfail_before;
        assert!(authfail >= 5, "Kamailio logged {authfail} failures from the trunk");
        // The trunk is not banned, with any scope, and its calls go on.
        let bans = daemon.cli(&["bans", "--json"]).unwrap();
        let bans: serde_json::Value = serde_json::from_slice(&bans.stdout).unwrap();
        assert_eq!(bans.as_array().unwrap().len(), 0, "nobody is banned: {bans}");
        lab.honest_traffic_succeeds(5, 5);
        // The metrics count the unproven evidence.
        let evidence = |kind| daemon.sample("sipguard_autoban_evidence_total", &[("kind", kind)]);
        assert!(evidence("challenge") >= 20, "challenges: {}", evidence("challenge"));
        assert!(evidence("unproven_failure") >= 5, "{}", evidence("unproven_failure"));
        assert!(evidence("spared") >= 2, "failure and scanner bans withheld: {}", evidence("spared"));
        assert_eq!(daemon.packets("sip", "scanner", "drop"), 20, "every forged scanner packet dropped");
        eprintln!(
            "forged trunk: Kamailio logged {authfail} AUTHFAILs from it; challenges {}, \
             unproven failures {}, bans spared {}; no ban",
            evidence("challenge"),
            evidence("unproven_failure"),
            evidence("spared")
        );

        // The same forgeries under an address that never logged in (no host owns it):
        // banned, from SIP only, never all of its traffic.
        const NEVER_LOGGED_IN: &str = "192.0.2.77";
        forged(&lab, NEVER_LOGGED_IN, &forgery::against(NEVER_LOGGED_IN, 20));
        let row = daemon
            .wait_for_ban("192.0.2.77/32")
            .expect("the address that never logged in is banned");
        assert_eq!(row["scope"], "sip", "{row}");
        lab.honest_traffic_succeeds(5, 5);
    }
}

/// A lock-step guesser (the attacker, 1001, wrong password) beside a phone (1002 from the
/// phone namespace) that Kamailio challenges before each guess; with `share`, each guess
/// echoes a nonce the phone was also sent. Returns the guesser's ban and the daemon.
fn guess_beside_a_phone(lab: &VoipLab, metrics: u16, share: bool) -> (serde_json::Value, Daemon) {
    let daemon = Daemon::start(&lab.pbx, PBX_IF, metrics, &[]).unwrap();
    let phone = Guesser {
        ns: lab.phone.clone(),
        src: PHONE.parse().unwrap(),
        user: "1002".into(),
        ..guesser(lab)
    };
    let run = guesser(lab)
        .lock_step_beside(20, || phone.challenge(), share)
        .unwrap();
    assert!(
        run.last().is_some_and(|e| e.answer.is_none()),
        "banned: {run:?}"
    );
    let row = daemon
        .wait_for_ban("192.0.2.66/32")
        .expect("the guesser is banned");
    (row, daemon)
}

fn evidence(daemon: &Daemon, kind: &str) -> u64 {
    daemon.sample("sipguard_autoban_evidence_total", &[("kind", kind)])
}

privileged_test! {
    fn kamailios_default_nonces_prove_nothing_for_a_guesser_challenged_beside_a_phone() {
        // Kamailio's default nonce is the same for every client in one second: the guesser's
        // nonces also went to the phone, so its failures are unproven (a forger could have
        // asked for that nonce and written the guesser's address): a ban from SIP only.
        let lab = lab();
        let (row, daemon) = guess_beside_a_phone(&lab, 9617, true);
        assert_eq!(row["scope"], "sip", "{row}");
        assert!(evidence(&daemon, "shared_nonce") >= 1);
        assert_eq!(evidence(&daemon, "nonce_proven"), 0);
        assert_eq!(evidence(&daemon, "unproven_failure"), 5);
    }
}

privileged_test! {
    fn with_kamailios_source_ip_nonce_check_the_same_guesser_is_proven_and_banned_from_everything() {
        // auth_checks_register = 8: each client's nonce is its own, whoever else is challenged
        // in the same second; the guesser's failures are proven, and take the configured
        // scope (the built-in default's "all").
        let mut lab = VoipLab::new().expect("building the VoIP lab");
        lab.start_kamailio_with(&["WITH_SRC_IP_NONCE"]).expect("starting Kamailio");
        let (row, daemon) = guess_beside_a_phone(&lab, 9618, false);
        assert_eq!(row["scope"], "all", "{row}");
        assert_eq!(evidence(&daemon, "shared_nonce"), 0);
        assert_eq!(evidence(&daemon, "nonce_proven"), 5);
        // The phone beside it was challenged, never failed, and is not banned.
        assert!(daemon.wait_for_ban("192.0.2.10/32").is_none());
    }
}

privileged_test! {
    fn six_phones_behind_one_address_with_one_wrong_password_among_them_are_not_banned() {
        // An office NAT: six sipp phones share one address and register at once, three times
        // (the link flapped); one phone still has its old password. Eighteen logins, three
        // failures from the address, all of them the one phone's: below its own threshold
        // (the built-in default's 5), and six users are no enumeration (10).
        let lab = lab();
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9619, &[]).unwrap();
        for round in 0..3 {
            let r = lab.office_registrations(100).expect("sipp office registrations");
            assert_eq!(
                (r.successful, r.failed),
                (5, 1),
                "round {round}: five phones log in, the one with the old password is refused: {r:?}\n{}",
                lab.kamailio_log()
            );
        }
        assert_eq!(lab.kamailio_count("AUTHFAIL REGISTER", "192.0.2.10"), 3);
        assert!(daemon.wait_for_ban("192.0.2.10/32").is_none(), "the office is not banned");
        // Counted, and proven at that: each nonce went to this one address (six phones, one
        // address), so even proven evidence bans per user.
        assert_eq!(
            evidence(&daemon, "unproven_failure") + evidence(&daemon, "nonce_proven"),
            3,
            "the failures were counted"
        );
        // The office's phones and calls go on.
        lab.honest_traffic_succeeds(3, 2);
    }
}

privileged_test! {
    fn a_guesser_trying_50_extensions_one_password_each_is_banned_for_enumeration() {
        // Kamailio challenges unknown users like known ones (-A WITH_UNKNOWN_401, the hardened
        // registrar): every extension's wrong password is a 401. One guess per extension never
        // makes two failures for one user; the tenth user named bans the address.
        let mut lab = VoipLab::new().expect("building the VoIP lab");
        lab.start_kamailio_with(&["WITH_UNKNOWN_401"]).expect("starting Kamailio");
        let daemon = Daemon::start(&lab.pbx, PBX_IF, 9620, &[]).unwrap();
        let mut refused = 0;
        let mut stopped_at = None;
        for ext in 1001..1051 {
            let run = Guesser {
                user: ext.to_string(),
                password: "1234".into(),
                ..guesser(&lab)
            }
            .lock_step(2)
            .unwrap();
            refused += run.iter().filter(|e| e.with_credentials && e.answer.is_some_and(|a| a.0 == 401)).count();
            if run.iter().any(|e| e.answer.is_none()) {
                stopped_at = Some(ext);
                break;
            }
        }
        assert_eq!(refused, 10, "ten wrong passwords, one per extension, reached Kamailio");
        assert_eq!(stopped_at, Some(1011), "the eleventh extension's first request is dropped");
        let row = daemon.wait_for_ban("192.0.2.66/32").expect("the guesser is banned");
        assert_eq!(row["reason"], "auth_enumeration", "{row}");
        assert_eq!(
            daemon.sample("sipguard_bans_created_total", &[("reason", "auth_enumeration")]),
            1
        );
        assert_eq!(daemon.sample("sipguard_bans_created_total", &[("reason", "auth_failures")]), 0);
        // The phone beside it is not.
        lab.honest_traffic_succeeds(2, 1);
    }
}
