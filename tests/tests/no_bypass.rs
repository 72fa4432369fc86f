//! No way around the filter (BPF_PROG_TEST_RUN): every length from the header that defines
//! it, tiny first fragments, and (below) IPv6 forms of IPv4 sources. Each attack is tried
//! with its variants, in both families, against the rate limits of `policies/no_bypass.toml`.
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{self, frame, sip, Transport},
};

const POLICY: &str = include_str!("../policies/no_bypass.toml");

const GUESSER4: &str = "203.0.113.66";
const GUESSER6: &str = "2001:db8:66::1";
/// Per-source REGISTER burst of the policy.
const BURST: usize = 3;

fn register(src: &str) -> Vec<u8> {
    sip(
        src,
        b"REGISTER sip:pbx.example SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n",
    )
}

/// A REGISTER of `size` bytes of UDP data (padded in an `X-Pad` header).
fn register_of(src: &str, size: usize) -> Vec<u8> {
    let head = "REGISTER sip:pbx.example SIP/2.0\r\nCSeq: 1 REGISTER\r\nX-Pad: ";
    let tail = "\r\n\r\n";
    let pad = "p".repeat(size - head.len() - tail.len());
    sip(src, format!("{head}{pad}{tail}").as_bytes())
}

/// Runs `n` copies of `frame`; returns how many passed.
fn passed(h: &Harness, frame: &[u8], n: usize) -> usize {
    (0..n).filter(|_| h.run(frame) == XDP_PASS).count()
}

bpf_test! {
    fn an_ipv6_register_burst_with_udp_length_zero_is_rate_limited(h = POLICY) {
        let zero = packets::with_udp_len(&register(GUESSER6), 0);
        assert_eq!(passed(&h, &zero, 40), BURST);
        assert_eq!(h.count("sip", "rate_limited", "drop"), 40 - BURST as u64);
        assert_eq!(h.sip_count("sip", "register", "drop"), 40 - BURST as u64);
    }
}

bpf_test! {
    fn an_ipv4_udp_length_of_zero_is_malformed(h = POLICY) {
        let zero = packets::with_udp_len(&register(GUESSER4), 0);
        h.expect("v4 len 0", &zero, XDP_DROP, ("none", "malformed_l4", "drop"));
    }
}

bpf_test! {
    fn udp_lengths_one_to_seven_are_malformed_in_both_families(h = POLICY) {
        for src in [GUESSER4, GUESSER6] {
            for len in 1..8 {
                let f = packets::with_udp_len(&register(src), len);
                let case = format!("{src} len {len}");
                h.expect(&case, &f, XDP_DROP, ("none", "malformed_l4", "drop"));
            }
        }
    }
}

bpf_test! {
    fn a_udp_length_beyond_the_ip_payload_is_malformed_in_both_families(h = POLICY) {
        for src in [GUESSER4, GUESSER6] {
            let f = register(src);
            let true_len = (f.len() - packets::l4_offset(&f)) as u16;
            for len in [true_len + 1, true_len + 100, u16::MAX] {
                let bad = packets::with_udp_len(&f, len);
                let case = format!("{src} len {len}");
                h.expect(&case, &bad, XDP_DROP, ("none", "malformed_l4", "drop"));
            }
        }
    }
}

bpf_test! {
    fn a_udp_length_shorter_than_the_datagram_ends_the_payload(h = POLICY) {
        // A UDP length covering only "\r\n\r\n" of a REGISTER: a keep-alive, as the PBX's
        // stack reads it, never rate-limited.
        for src in [GUESSER4, GUESSER6] {
            let keepalive = sip(src, b"\r\n\r\nREGISTER sip:pbx.example SIP/2.0\r\n\r\n");
            let short = packets::with_udp_len(&keepalive, 8 + 4);
            assert_eq!(passed(&h, &short, 20), 20, "{src}");
            assert_eq!(h.sip_count("sip", "keepalive", "pass"), if src == GUESSER4 { 20 } else { 40 });
        }
    }
}

bpf_test! {
    fn an_ip_length_beyond_the_frame_is_malformed_l3_in_both_families(h = POLICY) {
        for src in [GUESSER4, GUESSER6] {
            for delta in [1, 64, 4000] {
                let f = packets::with_ip_len_delta(&register(src), delta);
                let case = format!("{src} ip length +{delta}");
                h.expect(&case, &f, XDP_DROP, ("none", "malformed_l3", "drop"));
            }
        }
    }
}

bpf_test! {
    fn an_ip_length_shorter_than_its_udp_length_is_malformed(h = POLICY) {
        // The IP packet ends before the UDP length says (the rest of the frame is a trailer).
        for src in [GUESSER4, GUESSER6] {
            let f = packets::with_ip_len_delta(&register(src), -10);
            h.expect(src, &f, XDP_DROP, ("none", "malformed_l4", "drop"));
        }
    }
}

bpf_test! {
    fn a_trailer_after_the_ip_packet_is_not_payload(h = POLICY) {
        // Ethernet padding or a forged trailer carrying a REGISTER after a keep-alive: the IP
        // and UDP lengths end the datagram at the keep-alive.
        for src in [GUESSER4, GUESSER6] {
            let f = packets::with_trailer(
                &sip(src, b"\r\n\r\n"),
                b"REGISTER sip:pbx.example SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n",
            );
            assert_eq!(passed(&h, &f, 20), 20, "{src}");
        }
        assert_eq!(h.sip_count("sip", "keepalive", "pass"), 40);
        assert_eq!(h.sip_count("sip", "register", "pass"), 0);
    }
}

bpf_test! {
    fn a_tiny_first_fragment_to_sip_is_dropped_with_its_later_fragment(h = POLICY) {
        for (i, src) in [GUESSER4, GUESSER6].into_iter().enumerate() {
            // The first fragment carries only the UDP header; the request line is in the next.
            let [first, later] = packets::fragments(&register(src), 8, 100 + i as u32);
            let sip_drop = ("sip", "tiny_fragment", "drop");
            h.expect(&format!("{src} first"), &first, XDP_DROP, sip_drop);
            let frag_drop = ("sip", "fragment", "drop");
            h.expect(&format!("{src} later"), &later, XDP_DROP, frag_drop);
        }
    }
}

bpf_test! {
    fn a_burst_of_registers_in_tiny_fragments_reaches_nothing(h = POLICY) {
        for src in [GUESSER4, GUESSER6] {
            for (id, first_len) in (0..40u32).zip([8, 16, 64, 256, 504].into_iter().cycle()) {
                let [first, later] = packets::fragments(&register_of(src, 900), first_len, id);
                assert_eq!(h.run(&first), XDP_DROP, "{src} first of {first_len}");
                assert_eq!(h.run(&later), XDP_DROP, "{src} later after {first_len}");
            }
        }
        assert_eq!(h.count("sip", "tiny_fragment", "drop"), 80);
        assert_eq!(h.count("sip", "fragment", "drop"), 80);
        assert_eq!(h.count("sip", "allowed", "pass"), 0);
    }
}

bpf_test! {
    fn an_honest_fragmented_register_passes_and_pays_its_rate(h = POLICY) {
        // What a stack sends at a 1280-byte IPv6 / 1500-byte IPv4 path MTU: the first
        // fragment holds the request line, so it is classified and rate-limited, and its later
        // fragment follows it.
        for (src, first_len) in [(GUESSER4, 1480), (GUESSER6, 1232)] {
            for id in 0..BURST as u32 + 1 {
                let [first, later] = packets::fragments(&register_of(src, 1800), first_len, id);
                let (action, counted) = if (id as usize) < BURST {
                    (XDP_PASS, ("sip", "allowed", "pass"))
                } else {
                    (XDP_DROP, ("sip", "rate_limited", "drop"))
                };
                h.expect(&format!("{src} first {id}"), &first, action, counted);
                let frag = if action == XDP_PASS { "pass" } else { "drop" };
                let counted = ("sip", "fragment", frag);
                h.expect(&format!("{src} later {id}"), &later, action, counted);
            }
        }
        assert_eq!(h.sip_count("sip", "register", "pass"), 2 * BURST as u64);
    }
}

bpf_test! {
    fn a_small_first_fragment_to_a_service_without_sip_is_judged_as_usual(h = POLICY) {
        for (i, src) in [GUESSER4, GUESSER6].into_iter().enumerate() {
            let rtp = frame(src, Transport::Udp { sport: 4000, dport: 12000 }, &[0x80; 300]);
            let [first, later] = packets::fragments(&rtp, 16, 7 + i as u32);
            h.expect(src, &first, XDP_PASS, ("rtp", "allowed", "pass"));
            h.expect(src, &later, XDP_PASS, ("rtp", "fragment", "pass"));
        }
    }
}

/// The IPv6 forms the programs fold into their IPv4 address.
fn ipv6_forms(v4: &str) -> [String; 3] {
    [
        format!("::ffff:{v4}"),
        format!("::{v4}"),
        format!("64:ff9b::{v4}"),
    ]
}

bpf_test! {
    fn ipv6_forms_of_a_denied_ipv4_source_are_denied(h = POLICY) {
        for src in ipv6_forms("198.51.100.7") {
            h.expect(&src, &register(&src), XDP_DROP, ("sip", "denied", "drop"));
        }
    }
}

bpf_test! {
    fn ipv6_forms_of_ipv4_sources_meet_the_ipv4_allow_list(h = POLICY) {
        let ssh = |src: &str| frame(src, Transport::TcpSyn { dport: 22 }, &[]);
        for src in ipv6_forms("203.0.113.5") {
            h.expect(&src, &ssh(&src), XDP_PASS, ("ssh", "allowed", "pass"));
        }
        for src in ipv6_forms("192.0.2.5") {
            h.expect(&src, &ssh(&src), XDP_DROP, ("ssh", "not_allowed", "drop"));
        }
    }
}

bpf_test! {
    fn ipv6_forms_of_one_ipv4_source_share_its_rate_bucket(h = POLICY) {
        let [mapped, compatible, nat64] = ipv6_forms(GUESSER4);
        assert_eq!(h.run(&register(GUESSER4)), XDP_PASS);
        assert_eq!(h.run(&register(&mapped)), XDP_PASS);
        assert_eq!(h.run(&register(&compatible)), XDP_PASS);
        h.expect(&nat64, &register(&nat64), XDP_DROP, ("sip", "rate_limited", "drop"));
        h.expect(GUESSER4, &register(GUESSER4), XDP_DROP, ("sip", "rate_limited", "drop"));
    }
}

bpf_test! {
    fn ipv6_forms_of_a_banned_ipv4_source_are_banned(h = POLICY) {
        // Banned by its IPv6 form, through the daemon's writer: the IPv4 address is banned.
        h.loaded
            .maps
            .ban(
                "::ffff:203.0.113.66/128".parse().unwrap(),
                sipguard_common::Ban {
                    scope: sipguard_common::BAN_SCOPE_ALL,
                    reason: sipguard_common::BAN_REASON_MANUAL,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(h.bans()[0].0.to_string(), "203.0.113.66/32");
        h.expect(GUESSER4, &register(GUESSER4), XDP_DROP, ("sip", "banned", "drop"));
        for src in ipv6_forms(GUESSER4) {
            h.expect(&src, &register(&src), XDP_DROP, ("sip", "banned", "drop"));
        }
    }
}

bpf_test! {
    fn ipv6_forms_of_a_trusted_ipv4_source_are_trusted(h = POLICY) {
        for src in ipv6_forms("192.0.2.130") {
            h.clear_rate_state();
            assert_eq!(passed(&h, &register(&src), BURST), BURST, "{src}");
            h.expect(&src, &register(&src), XDP_PASS, ("sip", "trusted", "pass"));
        }
    }
}

bpf_test! {
    fn other_ipv6_sources_ending_in_an_ipv4_address_stay_ipv6(h = POLICY) {
        // Ordinary IPv6 whose last 32 bits spell a denied IPv4 address, and the loopback and
        // unspecified forms that `::a.b.c.d` would otherwise swallow.
        for src in ["2001:db8:1::c633:6407", "::1", "::0.1.2.3", "::fffe:198.51.100.7"] {
            h.expect(src, &register(src), XDP_PASS, ("sip", "allowed", "pass"));
        }
    }
}

bpf_test! {
    fn the_pbxs_failures_to_an_ipv6_form_ban_the_ipv4_address(
        h = include_str!("../policies/autoban.toml")
    ) {
        // Requests with credentials from the IPv4 address, answered to its IPv6 form.
        let failure = packets::response(401, "REGISTER", 0);
        for g in 0..3 {
            h.round_trip(
                &sip("192.0.2.66", &packets::with_credentials("REGISTER", g)),
                &packets::from_pbx("::ffff:192.0.2.66", &failure),
            );
        }
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
        assert_eq!(h.run(&register("192.0.2.66")), XDP_DROP);
        assert_eq!(h.run(&register("::ffff:192.0.2.66")), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 2);
    }
}

// SIP over TCP: segments that carry SIP pay what datagrams pay.

/// A TCP segment with data (ACK and PSH) from `src` to the SIP port.
fn segment(src: &str, data: &[u8]) -> Vec<u8> {
    frame(src, Transport::TcpAck { dport: 5060 }, data)
}

const REGISTER: &str = "REGISTER sip:pbx.example SIP/2.0\r\nVia: SIP/2.0/TCP 203.0.113.66\r\n\
                        CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";

bpf_test! {
    fn tcp_registers_pay_the_per_source_register_limit_in_both_families(h = POLICY) {
        for src in [GUESSER4, GUESSER6] {
            assert_eq!(passed(&h, &segment(src, REGISTER.as_bytes()), 20), BURST, "{src}");
        }
        assert_eq!(h.count("sip", "rate_limited", "drop"), 2 * (20 - BURST as u64));
        assert_eq!(h.sip_count("sip", "register", "drop"), 2 * (20 - BURST as u64));
    }
}

bpf_test! {
    fn registers_over_udp_and_tcp_share_one_bucket(h = POLICY) {
        assert_eq!(h.run(&register(GUESSER4)), XDP_PASS);
        assert_eq!(h.run(&segment(GUESSER4, REGISTER.as_bytes())), XDP_PASS);
        assert_eq!(h.run(&register(GUESSER4)), XDP_PASS);
        let d = ("sip", "rate_limited", "drop");
        h.expect("tcp", &segment(GUESSER4, REGISTER.as_bytes()), XDP_DROP, d);
    }
}

bpf_test! {
    fn pipelined_requests_in_one_segment_each_pay(h = POLICY) {
        let two = REGISTER.repeat(2);
        assert_eq!(h.run(&segment(GUESSER4, two.as_bytes())), XDP_PASS, "2 of a burst of 3");
        let d = ("sip", "rate_limited", "drop");
        h.expect("2 more", &segment(GUESSER4, two.as_bytes()), XDP_DROP, d);
        assert_eq!(h.run(&segment(GUESSER4, REGISTER.as_bytes())), XDP_PASS, "the last token");
    }
}

bpf_test! {
    fn a_first_segment_with_more_requests_than_the_burst_is_dropped(h = POLICY) {
        for (src, n) in [(GUESSER4, 4), (GUESSER6, 8), ("203.0.113.67", 30)] {
            let many = REGISTER.repeat(n);
            let d = ("sip", "rate_limited", "drop");
            h.expect(&format!("{src} x{n}"), &segment(src, many.as_bytes()), XDP_DROP, d);
        }
    }
}

bpf_test! {
    fn bodies_and_bare_line_feeds_do_not_hide_pipelined_requests(h = POLICY) {
        // Each REGISTER with a one-byte body, so the next starts mid-line; then lower-case
        // versions and bare LFs.
        let bodies = "REGISTER sip:pbx SIP/2.0\r\nContent-Length: 1\r\n\r\nx".repeat(4);
        let lf = "REGISTER sip:pbx sip/2.0\nl: 0\n\n".repeat(4);
        for (i, m) in [bodies, lf].iter().enumerate() {
            let src = format!("203.0.113.{}", 70 + i);
            let d = ("sip", "rate_limited", "drop");
            h.expect(m, &segment(&src, m.as_bytes()), XDP_DROP, d);
        }
    }
}

bpf_test! {
    fn acks_keepalives_responses_and_vias_cost_nothing_over_tcp(h = POLICY) {
        let ack = segment(GUESSER4, b"");
        let keepalive = segment(GUESSER4, b"\r\n\r\n");
        let ok = segment(GUESSER4, b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP a\r\nCSeq: 1 OPTIONS\r\n\r\n");
        for f in [&ack, &keepalive, &ok] {
            assert_eq!(passed(&h, f, 20), 20);
        }
        // And the REGISTER bucket is still whole.
        assert_eq!(passed(&h, &segment(GUESSER4, REGISTER.as_bytes()), BURST), BURST);
    }
}

bpf_test! {
    fn a_request_line_split_across_segments_pays_the_other_bucket(h = POLICY) {
        // "REGIS" then "TER ...": neither segment starts a REGISTER, both pay `other`
        // (burst 2), so the split costs the sender more, not less.
        let head = segment(GUESSER4, b"REGIS");
        let tail = segment(GUESSER4, &REGISTER.as_bytes()[5..]);
        assert_eq!(h.run(&head), XDP_PASS);
        assert_eq!(h.run(&tail), XDP_PASS);
        h.expect("third", &head, XDP_DROP, ("sip", "rate_limited", "drop"));
        assert_eq!(h.sip_count("sip", "garbage", "drop"), 1);
    }
}

bpf_test! {
    fn a_tcp_scanner_user_agent_is_dropped_as_scanner(
        h = include_str!("../policies/sip_scanners.toml")
    ) {
        let probe = "OPTIONS sip:100@pbx SIP/2.0\r\nVia: SIP/2.0/TCP 203.0.113.66\r\n\
                     User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n";
        let d = ("sip", "scanner", "drop");
        h.expect("probe", &segment(GUESSER4, probe.as_bytes()), XDP_DROP, d);
        h.expect("probe6", &segment(GUESSER6, probe.as_bytes()), XDP_DROP, d);
    }
}

/// `policy` with its SIP service on TCP as well as UDP.
fn over_tcp(policy: &str) -> String {
    policy.replace(
        "protocol = \"udp\"\nports = [5060]",
        "protocol = [\"udp\", \"tcp\"]\nports = [5060]",
    )
}

bpf_test! {
    fn tcp_requests_with_credentials_count_toward_the_autoban(
        h = &over_tcp(include_str!("../policies/autoban_attempts.toml"))
    ) {
        let attempt = packets::with_credentials;
        for g in 0..3 {
            assert_eq!(h.run(&segment("192.0.2.66", &attempt("REGISTER", g))), XDP_PASS);
        }
        assert_eq!(h.run(&segment("192.0.2.66", &attempt("REGISTER", 3))), XDP_DROP);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
    }
}

bpf_test! {
    fn the_pbxs_failures_over_tcp_ban_the_client(
        h = &over_tcp(include_str!("../policies/autoban.toml"))
    ) {
        let failure = packets::from_pbx_tcp("192.0.2.66", &packets::response(401, "REGISTER", 0));
        let guess = |g| segment("192.0.2.66", &packets::with_credentials("REGISTER", g));
        for g in 0..2 {
            h.round_trip(&guess(g), &failure);
        }
        assert!(h.bans().is_empty(), "two failures of three are tolerated");
        h.round_trip(&guess(2), &failure);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
        // Answers over TCP went to the address that completed the handshake: proven
        // evidence, banned with the configured scope (`all` by default).
        assert_eq!(bans[0].1.scope, sipguard_common::BAN_SCOPE_ALL);
        assert_eq!(h.run(&segment("192.0.2.66", REGISTER.as_bytes())), XDP_DROP);
    }
}

// The User-Agent check: a decoy, bare-LF folding and NUL bytes hide nothing.

const SCANNERS: &str = include_str!("../policies/sip_scanners.toml");

/// An OPTIONS request with `headers` (each ending in CRLF) before Content-Length.
fn options_with(headers: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:100@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.66\r\n{headers}\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Each of `requests` is dropped as `scanner` over UDP and TCP, in both families.
fn all_dropped_as_scanner(h: &Harness, requests: &[Vec<u8>]) {
    for (i, r) in requests.iter().enumerate() {
        for src in [
            format!("203.0.113.{}", 100 + i),
            format!("2001:db8:66::{}", 100 + i),
        ] {
            let case = format!("{src}: {}", String::from_utf8_lossy(r));
            let d = ("sip", "scanner", "drop");
            h.expect(&case, &sip(&src, r), XDP_DROP, d);
            h.expect(&case, &segment(&src, r), XDP_DROP, d);
        }
    }
}

bpf_test! {
    fn a_decoy_user_agent_does_not_hide_a_second_one(h = SCANNERS) {
        all_dropped_as_scanner(&h, &[
            options_with("User-Agent: Yealink SIP-T46S 66.86.0.15\r\nUser-Agent: friendly-scanner\r\n"),
            options_with("User-Agent: Zoiper\r\nX-A: b\r\nuser-agent :  sipvicious\r\n"),
            options_with("User-Agent: a\r\nUser-Agent: b\r\nUser-Agent: sipvicious\r\n"),
        ]);
    }
}

bpf_test! {
    fn a_user_agent_folded_with_a_bare_line_feed_is_read(h = SCANNERS) {
        all_dropped_as_scanner(&h, &[
            options_with("User-Agent:\n friendly-scanner\r\n"),
            options_with("User-Agent:\n\tsipvicious\r\n"),
        ]);
    }
}

bpf_test! {
    fn nul_bytes_do_not_end_the_user_agent_early(h = SCANNERS) {
        all_dropped_as_scanner(&h, &[
            options_with("User-Agent: x\0friendly-scanner\r\n"),
            options_with("X-Pad: \0\0\0\r\nUser-Agent: friendly-scanner\r\n"),
        ]);
    }
}

bpf_test! {
    fn honest_user_agents_still_pass_however_many(h = SCANNERS) {
        let honest = options_with("User-Agent: Yealink SIP-T46S\r\nUser-Agent: Zoiper rv2.10\r\n");
        for src in [GUESSER4, GUESSER6] {
            h.expect(src, &sip(src, &honest), XDP_PASS, ("sip", "allowed", "pass"));
            h.expect(src, &segment(src, &honest), XDP_PASS, ("sip", "allowed", "pass"));
        }
    }
}

bpf_test! {
    fn a_segment_starting_inside_a_request_pays_the_register_limit_for_those_after(h = POLICY) {
        // A stream cut anywhere: the tail of one REGISTER, then two whole ones. The two are
        // found by their request lines and the segment pays 3 REGISTER tokens (the burst).
        let cut = format!("{}{}", &REGISTER[40..], REGISTER.repeat(2));
        assert_eq!(h.run(&segment(GUESSER4, cut.as_bytes())), XDP_PASS);
        assert_eq!(h.sip_count("sip", "register", "pass"), 1);
        let d = ("sip", "rate_limited", "drop");
        h.expect("burst spent", &segment(GUESSER4, REGISTER.as_bytes()), XDP_DROP, d);
    }
}

bpf_test! {
    fn pipelined_requests_with_credentials_each_count_toward_the_autoban(
        h = &over_tcp(include_str!("../policies/autoban_attempts.toml"))
    ) {
        // attempts = 3: two segments of two credentialed REGISTERs are four attempts.
        let two = |g| {
            [packets::with_credentials("REGISTER", g), packets::with_credentials("REGISTER", g + 1)]
                .concat()
        };
        assert_eq!(h.run(&segment("192.0.2.66", &two(0))), XDP_PASS);
        assert!(h.bans().is_empty(), "two attempts are tolerated");
        assert_eq!(h.run(&segment("192.0.2.66", &two(2))), XDP_DROP);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
    }
}
