//! Scanner User-Agent fingerprints in the XDP program (BPF_PROG_TEST_RUN): where the header
//! may be, how it may be written, what is not a User-Agent, and what a match does (drop,
//! ban, trusted, monitor, remembered verdicts).
use sipguard::config::DEFAULT_SCANNER_USER_AGENTS;
use sipguard_common::{BAN_REASON_SCANNER, BAN_SCOPE_SIP};
use sipguard_tests::{
    bpf_test,
    harness::{XDP_DROP, XDP_PASS},
    packets::{frame, register_1400_ending_with, sip, Transport},
};

/// Scanners read on every request (recheck 0), limits far away.
const POLICY: &str = include_str!("../policies/sip_scanners.toml");

const PHONE: &str = "192.0.2.10";
const ATTACKER: &str = "192.0.2.66";
const TRUSTED_OFFICE: &str = "192.0.2.200";

/// A SIP request: request line, `headers` (each without its CRLF), blank line, `body`.
fn request(method: &str, headers: &[&str], body: &str) -> Vec<u8> {
    let mut m = format!("{method} sip:100@192.0.2.1 SIP/2.0\r\n");
    for h in headers {
        m.push_str(h);
        m.push_str("\r\n");
    }
    m.push_str("\r\n");
    m.push_str(body);
    m.into_bytes()
}

fn with_user_agent(ua: &str) -> Vec<u8> {
    request(
        "OPTIONS",
        &[
            "Via: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK-1",
            "From: <sip:100@192.0.2.66>;tag=1",
            "To: <sip:100@192.0.2.1>",
            "Call-ID: 1@192.0.2.66",
            "CSeq: 1 OPTIONS",
            &format!("User-Agent: {ua}"),
            "Content-Length: 0",
        ],
        "",
    )
}

/// svmap 0.3.8's probe, byte for byte as captured on the wire.
const SVMAP_OPTIONS: &str = "OPTIONS sip:100@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK-1917431148;rport\r\n\
Max-Forwards: 70\r\n\
To: \"sipvicious\"<sip:100@1.1.1.1>\r\n\
From: \"sipvicious\"<sip:100@1.1.1.1>;tag=6330303030323031313363340131333632383835333438\r\n\
User-Agent: friendly-scanner\r\n\
Call-ID: 37700609634793690556021\r\n\
Contact: sip:100@192.0.2.66:5060\r\n\
CSeq: 1 OPTIONS\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\r\n";

bpf_test! {
    fn svmap_probe_is_dropped_as_scanner(h = POLICY) {
        assert_eq!(h.run(&sip(ATTACKER, SVMAP_OPTIONS.as_bytes())), XDP_DROP);
        assert_eq!(h.count("sip", "scanner", "drop"), 1);
        assert_eq!(h.sip_count("sip", "options", "drop"), 1);
        assert_eq!(h.total(), 1);
    }
}

bpf_test! {
    fn every_default_pattern_is_caught_anywhere_in_the_value(h = POLICY) {
        for (i, pattern) in DEFAULT_SCANNER_USER_AGENTS.iter().enumerate() {
            let upper = pattern.to_uppercase();
            for ua in [pattern.to_string(), format!("Mozilla/5.0 {upper} 1.2")] {
                let src = format!("198.51.100.{}", i + 1);
                assert_eq!(
                    h.run(&sip(&src, &with_user_agent(&ua))),
                    XDP_DROP,
                    "User-Agent {ua:?}"
                );
            }
        }
        let n = 2 * DEFAULT_SCANNER_USER_AGENTS.len() as u64;
        assert_eq!(h.count("sip", "scanner", "drop"), n);
    }
}

bpf_test! {
    fn honest_user_agents_pass(h = POLICY) {
        let honest = [
            "Yealink SIP-T46S 66.86.0.15",
            "Grandstream GXP2170 1.0.11.23",
            "Zoiper rv2.10.19.2",
            "Asterisk PBX 18.20.0",
            "FPBX-16.0.40(18.20.0)",
            "Linphone Desktop/5.2.2 (Ubuntu 22.04.3 LTS, Qt 5.15.2) LinphoneCore/5.3.0",
            "MicroSIP/3.21.3",
            "PortSIP VoIP SDK 19.2.0",
            "Ozeki VoIP SIP SDK v10",
            "SIPp",
            "MySIPClient 2.0",
            "Cisco-CP8845/14.1.1",
            "PolycomVVX-VVX_450-UA/5.9.5.0614",
            "Bria 6 release 6.5.0 stamp 106012",
            "snom760/10.1.54.13",
            "FreeSWITCH-mod_sofia/1.10.11",
            "kamailio (5.6.3 (x86_64/linux))",
        ];
        for ua in honest {
            assert_eq!(
                h.run(&sip(PHONE, &with_user_agent(ua))),
                XDP_PASS,
                "User-Agent {ua:?}"
            );
        }
        assert_eq!(h.count("sip", "allowed", "pass"), honest.len() as u64);
        assert_eq!(h.count("sip", "scanner", "drop"), 0);
    }
}

bpf_test! {
    fn the_header_name_matches_in_any_case(h = POLICY) {
        for name in ["user-agent", "USER-AGENT", "uSeR-aGeNt", "User-Agent"] {
            let m = request(
                "REGISTER",
                &["CSeq: 1 REGISTER", &format!("{name}: sipvicious")],
                "",
            );
            assert_eq!(h.run(&sip(ATTACKER, &m)), XDP_DROP, "{name}");
        }
        assert_eq!(h.count("sip", "scanner", "drop"), 4);
    }
}

bpf_test! {
    fn blanks_around_the_colon_and_a_folded_value_are_read(h = POLICY) {
        for line in [
            "User-Agent:friendly-scanner",
            "User-Agent  :  friendly-scanner",
            "User-Agent\t:\tfriendly-scanner",
            "User-Agent:\r\n friendly-scanner",
            "User-Agent:\r\n\tfriendly-scanner",
        ] {
            let m = request("OPTIONS", &["CSeq: 1 OPTIONS", line], "");
            assert_eq!(h.run(&sip(ATTACKER, &m)), XDP_DROP, "{line:?}");
        }
        assert_eq!(h.count("sip", "scanner", "drop"), 5);
    }
}

bpf_test! {
    fn a_user_agent_at_the_end_of_a_1400_byte_request_is_found(h = POLICY) {
        // The User-Agent as the last header of a 1400-byte frame, with and without the blank
        // line (the second ends the frame inside the value's last word).
        for ua_line in ["User-Agent: sipvicious\r\n\r\n", "User-Agent: sipvicious"] {
            let m = register_1400_ending_with(ua_line);
            let f = sip(ATTACKER, &m);
            assert_eq!(f.len(), 1400);
            assert_eq!(h.run(&f), XDP_DROP, "ending {ua_line:?}");
        }
        assert_eq!(h.count("sip", "scanner", "drop"), 2);
    }
}

bpf_test! {
    fn a_user_agent_in_the_body_is_not_read(h = POLICY) {
        let m = request(
            "MESSAGE",
            &["CSeq: 1 MESSAGE", "Content-Type: text/plain"],
            "Did you see this?\r\nUser-Agent: friendly-scanner\r\n",
        );
        assert_eq!(h.run(&sip(PHONE, &m)), XDP_PASS);
        assert_eq!(h.count("sip", "allowed", "pass"), 1);
    }
}

bpf_test! {
    fn headers_that_only_look_like_the_user_agent_are_not_read(h = POLICY) {
        for line in [
            "User-Agents: friendly-scanner",
            "User-Agent-Id: friendly-scanner",
            "X-User-Agent: friendly-scanner",
            "Server: friendly-scanner",
            "Subject: User-Agent: friendly-scanner",
        ] {
            let m = request("OPTIONS", &["CSeq: 1 OPTIONS", line], "");
            assert_eq!(h.run(&sip(PHONE, &m)), XDP_PASS, "{line:?}");
        }
    }
}

bpf_test! {
    fn compact_headers_and_bare_line_feeds_do_not_hide_the_user_agent(h = POLICY) {
        // Short compact-form lines put several line feeds in one 8-byte word.
        let crlf = request(
            "INVITE",
            &[
                "v: SIP/2.0/UDP x",
                "f: a",
                "t: b",
                "i: c",
                "l: 0",
                "User-Agent: sipcli/v1.8",
            ],
            "",
        );
        let lf = String::from_utf8(crlf.clone())
            .unwrap()
            .replace("\r\n", "\n");
        let tiny = "INVITE sip:1@x SIP/2.0\na:\nb:\nc:\nUser-Agent: sipcli/v1.8\n\n";
        for m in [crlf, lf.into_bytes(), tiny.as_bytes().to_vec()] {
            assert_eq!(
                h.run(&sip(ATTACKER, &m)),
                XDP_DROP,
                "{:?}",
                String::from_utf8_lossy(&m)
            );
        }
        assert_eq!(h.count("sip", "scanner", "drop"), 3);
    }
}

bpf_test! {
    fn the_match_stops_at_the_end_of_the_user_agent_line(h = POLICY) {
        let m = request(
            "OPTIONS",
            &["User-Agent: Yealink", "X-Note: friendly-scanner"],
            "",
        );
        assert_eq!(h.run(&sip(PHONE, &m)), XDP_PASS);
    }
}

bpf_test! {
    fn only_the_first_64_bytes_of_the_value_are_compared(h = POLICY) {
        let inside = format!("{}sipvicious", "a".repeat(54));
        let beyond = format!("{}sipvicious", "a".repeat(55));
        assert_eq!(h.run(&sip(ATTACKER, &with_user_agent(&inside))), XDP_DROP);
        assert_eq!(h.run(&sip(PHONE, &with_user_agent(&beyond))), XDP_PASS);
    }
}

bpf_test! {
    fn responses_and_keepalives_are_not_read(h = POLICY) {
        let response = "SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\n\r\n";
        assert_eq!(h.run(&sip(PHONE, response.as_bytes())), XDP_PASS);
        assert_eq!(h.run(&sip(PHONE, b"\r\n\r\n")), XDP_PASS);
        assert_eq!(h.count("sip", "scanner", "drop"), 0);
    }
}

bpf_test! {
    fn a_trusted_source_with_a_scanner_user_agent_passes_as_trusted(h = POLICY) {
        assert_eq!(
            h.run(&sip(TRUSTED_OFFICE, SVMAP_OPTIONS.as_bytes())),
            XDP_PASS
        );
        assert_eq!(h.count("sip", "trusted", "pass"), 1);
    }
}

bpf_test! {
    fn disabled_scanners_let_the_probe_through(h = &POLICY.replace("recheck = \"0\"", "enabled = false")) {
        assert_eq!(h.run(&sip(ATTACKER, SVMAP_OPTIONS.as_bytes())), XDP_PASS);
        assert_eq!(h.count("sip", "allowed", "pass"), 1);
    }
}

bpf_test! {
    fn a_configured_pattern_replaces_the_defaults(h = &POLICY.replace(
            "recheck = \"0\"",
            "recheck = \"0\"\nuser_agents = [\"EvilDialer\"]",
        )) {
        assert_eq!(
            h.run(&sip(ATTACKER, &with_user_agent("evildialer 2.1"))),
            XDP_DROP
        );
        assert_eq!(h.run(&sip(PHONE, SVMAP_OPTIONS.as_bytes())), XDP_PASS);
    }
}

const BANNING: &str = "recheck = \"0\"\nban = \"1h\"";

bpf_test! {
    fn a_scanner_is_banned_from_sip_for_the_configured_time(h = &POLICY.replace("recheck = \"0\"", BANNING)) {
        let before = sipguard::dataplane::clock::ban_clock_ns();
        assert_eq!(h.run(&sip(ATTACKER, SVMAP_OPTIONS.as_bytes())), XDP_DROP);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        let (net, ban) = &bans[0];
        assert_eq!(net.to_string(), "192.0.2.66/32");
        assert_eq!(ban.reason, BAN_REASON_SCANNER);
        let hour = 3_600_000_000_000u64;
        assert!(ban.expires_ns >= before + hour - 1_000_000_000);
        assert!(ban.expires_ns <= sipguard::dataplane::clock::ban_clock_ns() + hour);
        // Anyone can write a User-Agent under any source address: the ban covers SIP only.
        assert_eq!(ban.scope, BAN_SCOPE_SIP);
        assert_eq!(h.run(&sip(ATTACKER, b"REGISTER sip:192.0.2.1 SIP/2.0\r\n\r\n")), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 1);
        let rtp = frame(
            ATTACKER,
            Transport::Udp {
                sport: 4000,
                dport: 10000,
            },
            b"rtp",
        );
        assert_eq!(h.run(&rtp), XDP_PASS, "the forged address's other traffic");
        assert_eq!(h.count("rtp", "allowed", "pass"), 1);
        assert_eq!(h.count("sip", "scanner", "drop"), 1);
    }
}

bpf_test! {
    fn an_ipv6_scanner_is_banned_with_its_64(h = &POLICY.replace("recheck = \"0\"", BANNING)) {
        assert_eq!(
            h.run(&sip("2001:db8:66:1::5", SVMAP_OPTIONS.as_bytes())),
            XDP_DROP
        );
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "2001:db8:66:1::/64");
        let neighbour = sip("2001:db8:66:1::99", &with_user_agent("Yealink"));
        assert_eq!(h.run(&neighbour), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 1);
    }
}

bpf_test! {
    fn monitor_mode_counts_a_scanner_as_would_drop_and_bans_nobody(h = &POLICY.replace("recheck = \"0\"", BANNING).replace(
            "default = \"drop\"",
            "default = \"drop\"\nmode = \"monitor\"",
        )) {
        assert_eq!(h.run(&sip(ATTACKER, SVMAP_OPTIONS.as_bytes())), XDP_PASS);
        assert_eq!(h.count("sip", "scanner", "would_drop"), 1);
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn a_remembered_scanner_is_dropped_without_being_read_again(h = &POLICY.replace("recheck = \"0\"", "recheck = \"1h\"")) {
        assert_eq!(h.run(&sip(ATTACKER, SVMAP_OPTIONS.as_bytes())), XDP_DROP);
        // Same source and class, an honest-looking User-Agent: still the scanner.
        assert_eq!(
            h.run(&sip(ATTACKER, &with_user_agent("Yealink SIP-T46S"))),
            XDP_DROP
        );
        assert_eq!(h.count("sip", "scanner", "drop"), 2);
        // Verdicts are per (source, class): a REGISTER is read on its own.
        let register = request("REGISTER", &["User-Agent: Yealink SIP-T46S"], "");
        assert_eq!(h.run(&sip(ATTACKER, &register)), XDP_PASS);
        // Forgetting the source's state forgets the verdict.
        h.clear_rate_state();
        assert_eq!(
            h.run(&sip(ATTACKER, &with_user_agent("Yealink SIP-T46S"))),
            XDP_PASS
        );
    }
}

bpf_test! {
    fn a_remembered_honest_source_is_not_read_until_the_recheck(h = &POLICY.replace("recheck = \"0\"", "recheck = \"1h\"")) {
        assert_eq!(h.run(&sip(PHONE, &with_user_agent("Yealink"))), XDP_PASS);
        // The documented trade-off: within the recheck interval a source's requests of the
        // same class are not read again.
        assert_eq!(h.run(&sip(PHONE, SVMAP_OPTIONS.as_bytes())), XDP_PASS);
    }
}

bpf_test! {
    fn requests_over_the_rate_are_dropped_unread(h = &POLICY.replace(
            "other = { rate = 1000, burst = 1000 }",
            "other = { rate = 1, burst = 1 }",
        )) {
        assert_eq!(h.run(&sip(PHONE, &with_user_agent("Yealink"))), XDP_PASS);
        assert_eq!(h.run(&sip(PHONE, SVMAP_OPTIONS.as_bytes())), XDP_DROP);
        assert_eq!(h.count("sip", "rate_limited", "drop"), 1);
        assert_eq!(h.count("sip", "scanner", "drop"), 0);
    }
}
