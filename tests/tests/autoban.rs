//! Auto-ban from the wire (BPF_PROG_TEST_RUN on the TC egress program, then the XDP program):
//! the PBX's authentication failures to one client, with no success between them, ban it.
use sipguard_common::{
    BAN_REASON_AUTH_ATTEMPTS, BAN_REASON_AUTH_FAILURES, BAN_SCOPE_ALL, BAN_SCOPE_SIP,
};
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{from_pbx, response, sip},
};

const TC_ACT_OK: i32 = 0;

const POLICY: &str = include_str!("../policies/autoban.toml");

const GUESSER: &str = "192.0.2.66";
const PHONE: &str = "192.0.2.10";
const TRUNK: &str = "192.0.2.200";

fn register() -> Vec<u8> {
    b"REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 8 REGISTER\r\n\r\n".to_vec()
}

/// The PBX answers `client` with `code` to `method` `n` times; every answer leaves.
fn answer(h: &Harness, client: &str, code: u16, method: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(
            h.run_egress(&from_pbx(client, &response(code, method, 0))),
            TC_ACT_OK
        );
    }
}

bpf_test! {
    fn failures_past_the_threshold_ban_the_client(h = POLICY) {
        answer(&h, GUESSER, 401, "REGISTER", 3);
        assert!(h.bans().is_empty(), "three failures are tolerated");
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_PASS);
        answer(&h, GUESSER, 401, "REGISTER", 1);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
        assert_eq!(bans[0].1.reason, BAN_REASON_AUTH_FAILURES);
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 1);
    }
}

bpf_test! {
    fn failures_answered_over_udp_ban_from_sip_only_whatever_the_configured_scope(
        h = &POLICY.replace("ban = \"1h\"", "ban = \"1h\"\nscope = \"all\"")
    ) {
        // The answers went to whatever source the requests claimed: a forger's victim.
        answer(&h, GUESSER, 401, "REGISTER", 4);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].1.scope, BAN_SCOPE_SIP);
        assert_ne!(bans[0].1.scope, BAN_SCOPE_ALL);
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 1);
        // Its other traffic meets the policy as before: here, the default drop.
        assert_eq!(h.run(&sipguard_tests::packets::udp(GUESSER, 7777)), XDP_DROP);
        assert_eq!(h.count("none", "default", "drop"), 1);
        assert_eq!(h.count("none", "banned", "drop"), 0);
    }
}

bpf_test! {
    fn a_success_clears_the_count(h = POLICY) {
        // An honest phone: challenged, then accepted, over and over.
        for _ in 0..10 {
            answer(&h, PHONE, 401, "REGISTER", 1);
            answer(&h, PHONE, 200, "REGISTER", 1);
        }
        // A call: 407, then 100/180/200.
        for _ in 0..10 {
            answer(&h, PHONE, 407, "INVITE", 1);
            answer(&h, PHONE, 200, "INVITE", 1);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn proxy_auth_and_forbidden_count_as_failures_for_invite(h = POLICY) {
        answer(&h, GUESSER, 407, "INVITE", 2);
        answer(&h, GUESSER, 403, "INVITE", 2);
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn answers_to_other_methods_neither_count_nor_clear(h = POLICY) {
        answer(&h, GUESSER, 401, "REGISTER", 3);
        // An OPTIONS answered 200 must not wipe the guesser's record; a SUBSCRIBE challenged
        // is not a password guess.
        answer(&h, GUESSER, 200, "OPTIONS", 1);
        answer(&h, GUESSER, 401, "SUBSCRIBE", 5);
        assert!(h.bans().is_empty());
        answer(&h, GUESSER, 401, "REGISTER", 1);
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn the_cseq_is_found_far_down_the_headers(h = POLICY) {
        for _ in 0..4 {
            let frame = from_pbx(GUESSER, &response(401, "REGISTER", 1000));
            assert!(frame.len() > 1100);
            assert_eq!(h.run_egress(&frame), TC_ACT_OK);
        }
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn a_trusted_client_is_never_banned(h = POLICY) {
        answer(&h, TRUNK, 403, "INVITE", 20);
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn monitor_mode_bans_nobody(h = &POLICY.replace(
            "default = \"drop\"",
            "default = \"drop\"\nmode = \"monitor\"",
        )) {
        answer(&h, GUESSER, 401, "REGISTER", 10);
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn disabled_autoban_counts_nothing(h = &POLICY.replace("failures = 3", "enabled = false")) {
        answer(&h, GUESSER, 401, "REGISTER", 10);
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn an_ipv6_client_is_banned_with_its_64_and_sip_scope_spares_other_traffic(h = &POLICY.replace("ban = \"1h\"", "ban = \"1h\"\nscope = \"sip\"")) {
        answer(&h, "2001:db8:66::5", 401, "REGISTER", 4);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "2001:db8:66::/64");
        assert_eq!(h.run(&sip("2001:db8:66::77", &register())), XDP_DROP);
    }
}

// The second signal: requests carrying credentials, counted by the XDP program, cleared by
// the PBX's 2xx (INVITE: or 18x) on the egress side.

const ATTEMPTS: &str = include_str!("../policies/autoban_attempts.toml");

/// A REGISTER with `header` (`Authorization: Digest ...` or anything else) after `pad`
/// bytes of other headers.
fn register_with(header: &str, pad: usize) -> Vec<u8> {
    format!(
        "REGISTER sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK1\r\n\
         X-Pad: {}\r\nCSeq: 9 REGISTER\r\n{header}\r\nContent-Length: 0\r\n\r\n",
        "p".repeat(pad)
    )
    .into_bytes()
}

const DIGEST: &str = "Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"abc\", \
                      uri=\"sip:192.0.2.1\", response=\"0123456789abcdef0123456789abcdef\"";

fn invite_with(header: &str) -> Vec<u8> {
    format!(
        "INVITE sip:1002@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK2\r\n\
         CSeq: 2 INVITE\r\n{header}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

bpf_test! {
    fn requests_with_credentials_and_no_success_ban_the_source(h = ATTEMPTS) {
        for _ in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(DIGEST, 0))), XDP_PASS);
        }
        assert!(
            h.bans().is_empty(),
            "three unanswered attempts are tolerated"
        );
        // The fourth is dropped itself, and bans its source.
        assert_eq!(h.run(&sip(GUESSER, &register_with(DIGEST, 0))), XDP_DROP);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
        assert_eq!(bans[0].1.reason, BAN_REASON_AUTH_ATTEMPTS);
        assert_eq!(bans[0].1.scope, BAN_SCOPE_SIP, "requests prove nothing of their source");
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 2);
        assert_eq!(h.ban_count("auth_attempts"), 1);
    }
}

bpf_test! {
    fn a_success_clears_the_attempts(h = ATTEMPTS) {
        // An honest phone registering again and again, each time accepted.
        for _ in 0..10 {
            assert_eq!(h.run(&sip(PHONE, &register_with(DIGEST, 0))), XDP_PASS);
            answer(&h, PHONE, 200, "REGISTER", 1);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn ringing_clears_an_invites_attempts(h = ATTEMPTS) {
        // Calls that ring but are never answered (no 2xx): the credentials passed.
        let proxy_auth = DIGEST.replace("Authorization", "Proxy-Authorization");
        for _ in 0..10 {
            assert_eq!(h.run(&sip(PHONE, &invite_with(&proxy_auth))), XDP_PASS);
            answer(&h, PHONE, 180, "INVITE", 1);
            answer(&h, PHONE, 487, "INVITE", 1);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn proxy_authorization_in_any_case_counts(h = ATTEMPTS) {
        let header = DIGEST.replace("Authorization", "pRoXy-AUTHORIZATION");
        for _ in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &invite_with(&header))), XDP_PASS);
        }
        assert_eq!(h.run(&sip(GUESSER, &invite_with(&header))), XDP_DROP);
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn credentials_far_down_the_headers_count(h = ATTEMPTS) {
        let packet = register_with(DIGEST, 1200);
        for _ in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &packet)), XDP_PASS);
        }
        assert_eq!(h.run(&sip(GUESSER, &packet)), XDP_DROP);
    }
}

bpf_test! {
    fn requests_without_credentials_are_not_attempts(h = ATTEMPTS) {
        // No credentials, a look-alike name (Proxy-Authenticate is a response header), and an
        // Authorization header in the body after the blank line.
        let body = "REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 9 REGISTER\r\nContent-Length: 40\r\n\r\n\
                    Authorization: Digest username=\"1001\"\r\n";
        for _ in 0..5 {
            assert_eq!(
                h.run(&sip(GUESSER, &register_with("X-Note: 1", 0))),
                XDP_PASS
            );
            assert_eq!(
                h.run(&sip(
                    GUESSER,
                    &register_with("Proxy-Authenticate: Digest", 0)
                )),
                XDP_PASS
            );
            assert_eq!(h.run(&sip(GUESSER, body.as_bytes())), XDP_PASS);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn attempts_of_a_trusted_source_never_ban(h = ATTEMPTS) {
        for _ in 0..10 {
            assert_eq!(h.run(&sip(TRUNK, &register_with(DIGEST, 0))), XDP_PASS);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn zero_attempts_turns_the_signal_off(h = &ATTEMPTS.replace("attempts = 3", "attempts = 0")) {
        for _ in 0..10 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(DIGEST, 0))), XDP_PASS);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn attempts_in_monitor_mode_are_would_drop_and_ban_nobody(h = &ATTEMPTS.replace("sip = true", "sip = true\nmode = \"monitor\"")) {
        for _ in 0..5 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(DIGEST, 0))), XDP_PASS);
        }
        assert!(h.bans().is_empty());
        assert_eq!(h.count("sip", "banned", "would_drop"), 1);
    }
}

bpf_test! {
    fn a_ban_in_force_keeps_its_reason_when_the_other_signal_fires(h = &ATTEMPTS.replace("failures = 100", "failures = 2")) {
        // A pipelined guesser: four requests with credentials go out before any answer.
        for _ in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(DIGEST, 0))), XDP_PASS);
        }
        assert_eq!(h.run(&sip(GUESSER, &register_with(DIGEST, 0))), XDP_DROP);
        // Then the PBX's answers to the three that got through: past `failures` too.
        answer(&h, GUESSER, 401, "REGISTER", 3);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(
            bans[0].1.reason, BAN_REASON_AUTH_ATTEMPTS,
            "the first verdict stands"
        );
        assert_eq!(h.ban_count("auth_attempts"), 1);
        assert_eq!(h.ban_count("auth_failures"), 0, "one ban, one event");
    }
}

// A full ban map: what the programs decide is counted as lost, and a ban by hand says why it
// was not made.

bpf_test! {
    fn on_a_full_ban_map_an_auto_ban_is_counted_as_lost_and_a_manual_ban_is_refused(h = POLICY) {
        use sipguard::dataplane::{
            maps::{Expiry, FleetBan, BAN_REASON_CROWDSEC},
            DataplaneError,
        };
        use sipguard_common::{Ban, BAN_MAX_ENTRIES, BAN_REASON_MANUAL};
        // Fill the IPv4 trie with /32s of 10.0.0.0/8.
        let fill: Vec<FleetBan> = (0..BAN_MAX_ENTRIES)
            .map(|i| FleetBan {
                net: ipnet::IpNet::new(std::net::Ipv4Addr::from(0x0a00_0000 | i).into(), 32).unwrap(),
                expiry: Expiry::Never,
                reason: BAN_REASON_CROWDSEC,
                scope: BAN_SCOPE_ALL,
                note: String::new(),
            })
            .collect();
        let now = sipguard::dataplane::clock::ban_clock_ns();
        h.loaded.maps.ban_many(&fill, now, 0).expect("filling the ban map");
        assert_eq!(h.bans().len(), BAN_MAX_ENTRIES as usize);
        assert_eq!(h.loaded.maps.ban_insert_failures().unwrap(), 0);
        // The guesser's failures: the ban is decided, not written, and counted as lost.
        answer(&h, GUESSER, 401, "REGISTER", 4);
        assert!(!h.bans().iter().any(|(n, _)| n.to_string() == "192.0.2.66/32"));
        assert_eq!(h.loaded.maps.ban_insert_failures().unwrap(), 1);
        assert_eq!(h.ban_count("auth_failures"), 0, "no ban made is counted as made");
        // A ban by hand names the full map.
        let ban = Ban {
            expires_ns: 0,
            created_ns: now,
            hits: 0,
            reason: BAN_REASON_MANUAL,
            scope: BAN_SCOPE_ALL,
        };
        let err = h.loaded.maps.ban("192.0.2.99/32".parse().unwrap(), ban).unwrap_err();
        assert!(matches!(err, DataplaneError::BanMapFull { .. }), "{err}");
        assert!(err.to_string().starts_with("the ban map BANS_V4 is full (65536 prefixes)"), "{err}");
    }
}
