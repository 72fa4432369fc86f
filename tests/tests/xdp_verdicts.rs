//! Tier 2: the real XDP program under BPF_PROG_TEST_RUN. Each test builds packets, sets the
//! maps through the daemon's own map writer, runs, and asserts the verdict and the counters.
use ipnet::IpNet;
use sipguard::maps::ban_clock_ns;
use sipguard_common::{Ban, BAN_REASON_MANUAL, BAN_SCOPE_ALL, BAN_SCOPE_SIP};
use sipguard_tests::{
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{self, frame, udp, Transport},
    policies::CRAFTED as POLICY,
    bpf_test,
};

const ALLOWED4: &str = "192.0.2.10";
const OUTSIDER4: &str = "192.0.2.200";
const DENIED4: &str = "198.51.100.7";
const ALLOWED6: &str = "2001:db8:1::10";
const OUTSIDER6: &str = "2001:db8:2::10";
const DENIED6: &str = "2001:db8:bad::1";

/// Runs `frame`, asserts the action and that exactly this packet was counted under
/// (service, reason, verdict).
fn expect(h: &Harness, frame: &[u8], action: u32, service: &str, reason: &str, verdict: &str) {
    let before = h.count(service, reason, verdict);
    let total_before = h.total();
    assert_eq!(
        h.run(frame),
        action,
        "action for {service}/{reason}/{verdict}"
    );
    assert_eq!(
        h.count(service, reason, verdict),
        before + 1,
        "counter {service}/{reason}/{verdict}; all counters: {:?}",
        h.counters()
    );
    assert_eq!(h.total(), total_before + 1, "exactly one counter moved");
}

bpf_test! {
    fn allowed_ipv4_source_passes_to_its_service(h = POLICY) {
        expect(&h, &udp(ALLOWED4, 5060), XDP_PASS, "sip", "allowed", "pass");
    }
}

bpf_test! {
    fn ipv4_source_outside_the_allow_list_is_dropped(h = POLICY) {
        expect(
            &h,
            &udp(OUTSIDER4, 5060),
            XDP_DROP,
            "sip",
            "not_allowed",
            "drop",
        );
    }
}

bpf_test! {
    fn allowed_ipv6_source_passes_to_its_service(h = POLICY) {
        expect(&h, &udp(ALLOWED6, 5060), XDP_PASS, "sip", "allowed", "pass");
    }
}

bpf_test! {
    fn ipv6_source_outside_the_allow_list_is_dropped(h = POLICY) {
        expect(
            &h,
            &udp(OUTSIDER6, 5060),
            XDP_DROP,
            "sip",
            "not_allowed",
            "drop",
        );
    }
}

bpf_test! {
    fn global_deny_list_wins_over_a_service_open_to_all(h = POLICY) {
        expect(&h, &udp(DENIED4, 15000), XDP_DROP, "rtp", "denied", "drop");
        expect(&h, &udp(DENIED6, 15000), XDP_DROP, "rtp", "denied", "drop");
    }
}

bpf_test! {
    fn service_open_to_all_passes_any_source(h = POLICY) {
        expect(
            &h,
            &udp(OUTSIDER4, 15000),
            XDP_PASS,
            "rtp",
            "allowed",
            "pass",
        );
        expect(
            &h,
            &udp(OUTSIDER6, 15000),
            XDP_PASS,
            "rtp",
            "allowed",
            "pass",
        );
    }
}

bpf_test! {
    fn port_range_includes_both_ends_and_nothing_beyond(h = POLICY) {
        expect(
            &h,
            &udp(OUTSIDER4, 10000),
            XDP_PASS,
            "rtp",
            "allowed",
            "pass",
        );
        expect(
            &h,
            &udp(OUTSIDER4, 20000),
            XDP_PASS,
            "rtp",
            "allowed",
            "pass",
        );
        expect(
            &h,
            &udp(OUTSIDER4, 9999),
            XDP_DROP,
            "none",
            "default",
            "drop",
        );
        expect(
            &h,
            &udp(OUTSIDER4, 20001),
            XDP_DROP,
            "none",
            "default",
            "drop",
        );
    }
}

bpf_test! {
    fn tcp_and_udp_share_a_service_but_not_its_ports(h = POLICY) {
        let syn = |src| frame(src, Transport::TcpSyn { dport: 5060 }, &[]);
        expect(&h, &syn(ALLOWED4), XDP_PASS, "sip", "allowed", "pass");
        expect(&h, &syn(OUTSIDER4), XDP_DROP, "sip", "not_allowed", "drop");
        // rtp is udp only: a TCP SYN to 15000 is no service
        let rtp_syn = frame(OUTSIDER4, Transport::TcpSyn { dport: 15000 }, &[]);
        expect(&h, &rtp_syn, XDP_DROP, "none", "default", "drop");
    }
}

bpf_test! {
    fn traffic_to_no_service_follows_default_drop(h = POLICY) {
        expect(
            &h,
            &udp(ALLOWED4, 7777),
            XDP_DROP,
            "none",
            "default",
            "drop",
        );
    }
}

bpf_test! {
    fn traffic_to_no_service_follows_default_pass(h = POLICY) {
        h.apply(&POLICY.replace("default = \"drop\"", "default = \"pass\""));
        expect(
            &h,
            &udp(OUTSIDER4, 7777),
            XDP_PASS,
            "none",
            "default",
            "pass",
        );
    }
}

bpf_test! {
    fn udp_to_the_ephemeral_range_passes_as_reply_under_default_drop(h = POLICY) {
        let dns_answer = frame(
            OUTSIDER4,
            Transport::Udp {
                sport: 53,
                dport: 40000,
            },
            b"answer",
        );
        expect(&h, &dns_answer, XDP_PASS, "none", "reply", "pass");
    }
}

bpf_test! {
    fn tcp_segment_with_ack_passes_as_reply_but_syn_does_not(h = POLICY) {
        let ack = frame(OUTSIDER4, Transport::TcpAck { dport: 8080 }, &[]);
        expect(&h, &ack, XDP_PASS, "none", "reply", "pass");
        let syn = frame(OUTSIDER4, Transport::TcpSyn { dport: 8080 }, &[]);
        expect(&h, &syn, XDP_DROP, "none", "default", "drop");
    }
}

bpf_test! {
    fn tcp_to_a_restricted_service_is_judged_even_with_ack(h = POLICY) {
        let ack = frame(OUTSIDER4, Transport::TcpAck { dport: 22 }, &[]);
        expect(&h, &ack, XDP_DROP, "ssh", "not_allowed", "drop");
    }
}

bpf_test! {
    fn icmp_echo_request_is_judged_by_the_icmp_service(h = POLICY) {
        let echo = |src| frame(src, Transport::Echo, b"ping");
        expect(&h, &echo(ALLOWED4), XDP_PASS, "icmp", "allowed", "pass");
        expect(
            &h,
            &echo(OUTSIDER4),
            XDP_DROP,
            "icmp",
            "not_allowed",
            "drop",
        );
        expect(&h, &echo(ALLOWED6), XDP_PASS, "icmp", "allowed", "pass");
        expect(
            &h,
            &echo(OUTSIDER6),
            XDP_DROP,
            "icmp",
            "not_allowed",
            "drop",
        );
    }
}

bpf_test! {
    fn icmp_errors_and_neighbour_discovery_always_pass(h = POLICY) {
        let icmp = |src, icmp_type| frame(src, Transport::Icmp { icmp_type }, &[0; 28]);
        expect(
            &h,
            &icmp(OUTSIDER4, 3),
            XDP_PASS,
            "none",
            "icmp_control",
            "pass",
        ); // frag needed
        expect(
            &h,
            &icmp(OUTSIDER4, 11),
            XDP_PASS,
            "none",
            "icmp_control",
            "pass",
        ); // traceroute
        expect(
            &h,
            &icmp(OUTSIDER6, 2),
            XDP_PASS,
            "none",
            "icmp_control",
            "pass",
        ); // too big
        expect(
            &h,
            &icmp(OUTSIDER6, 135),
            XDP_PASS,
            "none",
            "icmp_control",
            "pass",
        ); // NS
        expect(
            &h,
            &icmp(OUTSIDER6, 134),
            XDP_PASS,
            "none",
            "icmp_control",
            "pass",
        ); // RA
    }
}

bpf_test! {
    fn other_icmp_types_follow_the_default_policy(h = POLICY) {
        let timestamp = frame(OUTSIDER4, Transport::Icmp { icmp_type: 13 }, &[0; 12]);
        expect(&h, &timestamp, XDP_DROP, "none", "default", "drop");
    }
}

bpf_test! {
    fn echo_reply_passes_as_reply(h = POLICY) {
        let reply = frame(OUTSIDER4, Transport::Icmp { icmp_type: 0 }, b"pong");
        expect(&h, &reply, XDP_PASS, "none", "reply", "pass");
    }
}

bpf_test! {
    fn non_ip_frames_pass(h = POLICY) {
        let mut arp = udp(ALLOWED4, 5060)[..42].to_vec();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        expect(&h, &arp, XDP_PASS, "none", "non_ip", "pass");
    }
}

bpf_test! {
    fn single_and_double_vlan_tags_are_parsed_through(h = POLICY) {
        for tags in [1, 2] {
            let ok = packets::with_vlan_tags(&udp(ALLOWED4, 5060), tags);
            expect(&h, &ok, XDP_PASS, "sip", "allowed", "pass");
            let bad = packets::with_vlan_tags(&udp(OUTSIDER6, 5060), tags);
            expect(&h, &bad, XDP_DROP, "sip", "not_allowed", "drop");
        }
    }
}

bpf_test! {
    fn a_third_vlan_tag_is_malformed_l2(h = POLICY) {
        let three = packets::with_vlan_tags(&udp(ALLOWED4, 5060), 3);
        expect(&h, &three, XDP_DROP, "none", "malformed_l2", "drop");
    }
}

bpf_test! {
    fn ipv4_options_are_skipped_by_ihl(h = POLICY) {
        for words in [1, 10] {
            let ok = packets::with_ipv4_options(&udp(ALLOWED4, 5060), words);
            expect(&h, &ok, XDP_PASS, "sip", "allowed", "pass");
            let bad = packets::with_ipv4_options(&udp(OUTSIDER4, 5060), words);
            expect(&h, &bad, XDP_DROP, "sip", "not_allowed", "drop");
        }
        // maximum IHL (15 words) still finds the UDP header
        let max = packets::with_ipv4_options(&udp(ALLOWED4, 15000), 10);
        expect(&h, &max, XDP_PASS, "rtp", "allowed", "pass");
    }
}

bpf_test! {
    fn ipv6_extension_headers_are_skipped(h = POLICY) {
        // hop-by-hop, routing, destination options, then a first fragment (offset 0)
        let chain = [0u8, 43, 60, 44];
        let ok = packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &chain, 0);
        expect(&h, &ok, XDP_PASS, "sip", "allowed", "pass");
        let bad = packets::with_ipv6_ext(&udp(OUTSIDER6, 5060), &chain, 0);
        expect(&h, &bad, XDP_DROP, "sip", "not_allowed", "drop");
    }
}

bpf_test! {
    fn ipv6_authentication_header_is_skipped(h = POLICY) {
        let ok = packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &[51], 0);
        expect(&h, &ok, XDP_PASS, "sip", "allowed", "pass");
        let bad = packets::with_ipv6_ext(&udp(OUTSIDER6, 5060), &[0, 51], 0);
        expect(&h, &bad, XDP_DROP, "sip", "not_allowed", "drop");
    }
}

bpf_test! {
    fn a_later_fragment_follows_its_first_fragments_verdict(h = POLICY) {
        // Allowed: the first fragment (offset 0, more to come) passes, so do the others.
        let first = packets::as_ipv4_later_fragment(&udp(ALLOWED4, 5060), 0);
        expect(&h, &first, XDP_PASS, "sip", "allowed", "pass");
        let later = packets::as_ipv4_later_fragment(&udp(ALLOWED4, 5060), 185);
        expect(&h, &later, XDP_PASS, "sip", "fragment", "pass");
        let first6 = packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &[44], 0);
        expect(&h, &first6, XDP_PASS, "sip", "allowed", "pass");
        let later6 = packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &[44], 185);
        assert_eq!(h.run(&later6), XDP_PASS);
        // Not allowed: the first is dropped, and so are the others.
        let first = packets::as_ipv4_later_fragment(&udp(OUTSIDER4, 5060), 0);
        expect(&h, &first, XDP_DROP, "sip", "not_allowed", "drop");
        let later = packets::as_ipv4_later_fragment(&udp(OUTSIDER4, 5060), 185);
        expect(&h, &later, XDP_DROP, "sip", "fragment", "drop");
    }
}

bpf_test! {
    fn an_orphan_later_fragment_follows_the_default_policy(h = POLICY) {
        let v4 = packets::as_ipv4_later_fragment(&udp(OUTSIDER4, 5060), 185);
        expect(&h, &v4, XDP_DROP, "none", "fragment", "drop");
        let v6 = packets::with_ipv6_ext(&udp(OUTSIDER6, 5060), &[44], 185);
        assert_eq!(h.run(&v6), XDP_DROP);
        h.apply(&POLICY.replace("default = \"drop\"", "default = \"pass\""));
        assert_eq!(h.run(&v4), XDP_PASS);
    }
}

bpf_test! {
    fn later_fragments_of_denied_sources_are_dropped_as_denied(h = POLICY) {
        let denied = packets::as_ipv4_later_fragment(&udp(DENIED4, 5060), 185);
        expect(&h, &denied, XDP_DROP, "none", "denied", "drop");
    }
}

bpf_test! {
    fn truncated_vlan_tag_is_malformed_l2(h = POLICY) {
        let tagged = packets::with_vlan_tags(&udp(ALLOWED4, 5060), 1);
        expect(&h, &tagged[..16], XDP_DROP, "none", "malformed_l2", "drop");
    }
}

bpf_test! {
    fn truncated_or_invalid_ipv4_header_is_malformed_l3(h = POLICY) {
        let good = udp(ALLOWED4, 5060);
        expect(
            &h,
            &good[..14 + 19],
            XDP_DROP,
            "none",
            "malformed_l3",
            "drop",
        );
        let mut bad_ihl = good.clone();
        bad_ihl[14] = 0x44; // IHL 4 words < 20 bytes
        expect(&h, &bad_ihl, XDP_DROP, "none", "malformed_l3", "drop");
        let mut bad_version = good.clone();
        bad_version[14] = 0x55;
        expect(&h, &bad_version, XDP_DROP, "none", "malformed_l3", "drop");
        // IHL claims 60 bytes of header but the frame ends before
        let mut short = good[..14 + 28].to_vec();
        short[14] = 0x4f;
        expect(&h, &short, XDP_DROP, "none", "malformed_l3", "drop");
    }
}

bpf_test! {
    fn truncated_ipv6_header_or_extension_is_malformed_l3(h = POLICY) {
        let good = udp(ALLOWED6, 5060);
        expect(
            &h,
            &good[..14 + 39],
            XDP_DROP,
            "none",
            "malformed_l3",
            "drop",
        );
        let ext = packets::with_ipv6_ext(&good, &[0], 0);
        expect(
            &h,
            &ext[..14 + 40 + 1],
            XDP_DROP,
            "none",
            "malformed_l3",
            "drop",
        );
    }
}

bpf_test! {
    fn endless_ipv6_extension_chain_is_malformed_l3(h = POLICY) {
        let chain = [60u8; 7];
        let long = packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &chain, 0);
        expect(&h, &long, XDP_DROP, "none", "malformed_l3", "drop");
    }
}

bpf_test! {
    fn truncated_transport_headers_are_malformed_l4(h = POLICY) {
        let u = udp(ALLOWED4, 5060);
        expect(
            &h,
            &u[..14 + 20 + 7],
            XDP_DROP,
            "none",
            "malformed_l4",
            "drop",
        );
        let t = frame(ALLOWED4, Transport::TcpSyn { dport: 22 }, &[]);
        expect(
            &h,
            &t[..14 + 20 + 19],
            XDP_DROP,
            "none",
            "malformed_l4",
            "drop",
        );
        let i = frame(ALLOWED6, Transport::Echo, &[]);
        expect(
            &h,
            &i[..14 + 40 + 7],
            XDP_DROP,
            "none",
            "malformed_l4",
            "drop",
        );
    }
}

bpf_test! {
    fn impossible_tcp_flags_are_malformed_l4(h = POLICY) {
        let mut synfin = frame(ALLOWED4, Transport::TcpSyn { dport: 22 }, &[]);
        synfin[14 + 20 + 13] |= 0x01;
        expect(&h, &synfin, XDP_DROP, "none", "malformed_l4", "drop");
        let mut synrst = frame(ALLOWED4, Transport::TcpSyn { dport: 22 }, &[]);
        synrst[14 + 20 + 13] |= 0x04;
        expect(&h, &synrst, XDP_DROP, "none", "malformed_l4", "drop");
        let mut null = frame(ALLOWED4, Transport::TcpSyn { dport: 22 }, &[]);
        null[14 + 20 + 13] = 0;
        expect(&h, &null, XDP_DROP, "none", "malformed_l4", "drop");
    }
}

bpf_test! {
    fn global_monitor_mode_passes_and_counts_would_drop(h = POLICY) {
        h.apply(&POLICY.replace(
            "default = \"drop\"",
            "default = \"drop\"\nmode = \"monitor\"",
        ));
        expect(
            &h,
            &udp(OUTSIDER4, 5060),
            XDP_PASS,
            "sip",
            "not_allowed",
            "would_drop",
        );
        expect(
            &h,
            &udp(OUTSIDER4, 7777),
            XDP_PASS,
            "none",
            "default",
            "would_drop",
        );
        expect(&h, &udp(ALLOWED4, 5060), XDP_PASS, "sip", "allowed", "pass");
    }
}

bpf_test! {
    fn service_monitor_mode_only_softens_that_service(h = POLICY) {
        h.apply(&POLICY.replace("name = \"ssh\"", "name = \"ssh\"\nmode = \"monitor\""));
        let ssh = frame(OUTSIDER4, Transport::TcpSyn { dport: 22 }, &[]);
        expect(&h, &ssh, XDP_PASS, "ssh", "not_allowed", "would_drop");
        expect(
            &h,
            &udp(OUTSIDER4, 5060),
            XDP_DROP,
            "sip",
            "not_allowed",
            "drop",
        );
    }
}

bpf_test! {
    fn service_monitor_mode_does_not_soften_the_deny_list(h = POLICY) {
        h.apply(&POLICY.replace("name = \"rtp\"", "name = \"rtp\"\nmode = \"monitor\""));
        expect(&h, &udp(DENIED4, 15000), XDP_DROP, "rtp", "denied", "drop");
    }
}

fn ban(h: &mut Harness, net: &str, expires_ns: u64) {
    let net: IpNet = net.parse().unwrap();
    h.loaded
        .maps
        .ban(
            net,
            Ban {
                expires_ns,
                created_ns: ban_clock_ns(),
                hits: 0,
                reason: BAN_REASON_MANUAL,
                scope: BAN_SCOPE_ALL,
            },
        )
        .expect("writing a ban");
}

bpf_test! {
    fn banned_source_is_dropped_even_when_allowed(h = POLICY) {
        ban(&mut h, &format!("{ALLOWED4}/32"), 0);
        expect(&h, &udp(ALLOWED4, 5060), XDP_DROP, "sip", "banned", "drop");
        ban(&mut h, "2001:db8:1::/64", ban_clock_ns() + 60_000_000_000);
        expect(&h, &udp(ALLOWED6, 5060), XDP_DROP, "sip", "banned", "drop");
        let bans = h.loaded.maps.bans().unwrap();
        assert!(
            bans.iter().all(|(_, b)| b.hits == 1),
            "hits per ban: {bans:?}"
        );
    }
}

bpf_test! {
    fn a_sip_scoped_ban_drops_sip_and_leaves_other_services(h = POLICY) {
        let net: IpNet = format!("{ALLOWED4}/32").parse().unwrap();
        h.loaded
            .maps
            .ban(
                net,
                Ban {
                    expires_ns: 0,
                    created_ns: ban_clock_ns(),
                    hits: 0,
                    reason: BAN_REASON_MANUAL,
                    scope: BAN_SCOPE_SIP,
                },
            )
            .unwrap();
        expect(&h, &udp(ALLOWED4, 5060), XDP_DROP, "sip", "banned", "drop");
        expect(
            &h,
            &udp(ALLOWED4, 15000),
            XDP_PASS,
            "rtp",
            "allowed",
            "pass",
        );
    }
}

bpf_test! {
    fn a_trusted_source_is_never_locked_out_by_a_ban(h = POLICY) {
        // Banned first, trusted by a later policy: the trust wins.
        ban(&mut h, &format!("{ALLOWED4}/32"), 0);
        expect(&h, &udp(ALLOWED4, 5060), XDP_DROP, "sip", "banned", "drop");
        h.apply(&POLICY.replace(
            "default = \"drop\"",
            &format!("default = \"drop\"\ntrusted = [\"{ALLOWED4}\"]"),
        ));
        expect(&h, &udp(ALLOWED4, 5060), XDP_PASS, "sip", "allowed", "pass");
    }
}

bpf_test! {
    fn expired_ban_no_longer_drops(h = POLICY) {
        ban(&mut h, &format!("{ALLOWED4}/32"), ban_clock_ns() - 1);
        expect(&h, &udp(ALLOWED4, 5060), XDP_PASS, "sip", "allowed", "pass");
    }
}

bpf_test! {
    fn a_ban_inside_a_longer_ban_cannot_expire_first(h = POLICY) {
        ban(&mut h, "192.0.2.0/24", 0);
        // an already expired /32 inside the permanent /24: it inherits the /24's expiry
        ban(&mut h, &format!("{ALLOWED4}/32"), ban_clock_ns() - 1);
        expect(&h, &udp(ALLOWED4, 5060), XDP_DROP, "sip", "banned", "drop");
    }
}

bpf_test! {
    fn a_longer_ban_extends_the_bans_inside_it(h = POLICY) {
        ban(
            &mut h,
            &format!("{ALLOWED6}/128"),
            ban_clock_ns() + 1_000_000,
        );
        ban(&mut h, "2001:db8:1::/48", 0);
        let inner = h
            .loaded
            .maps
            .bans()
            .unwrap()
            .into_iter()
            .find(|(n, _)| n.prefix_len() == 128)
            .expect("the /128 ban");
        assert_eq!(
            inner.1.expires_ns, 0,
            "the /128 now lasts as long as the /48"
        );
    }
}

bpf_test! {
    fn reload_switches_policy_and_keeps_service_counters(h = POLICY) {
        expect(
            &h,
            &udp(OUTSIDER4, 5060),
            XDP_DROP,
            "sip",
            "not_allowed",
            "drop",
        );
        // new policy: sip open to all, rtp removed
        let open = POLICY.replace(
            r#"allow = ["192.0.2.0/25", "2001:db8:1::/64"]
    "#,
            "allow = [\"any\"]\n",
        );
        let open = open.replace(
            "[[service]]\nname = \"rtp\"\nprotocol = \"udp\"\nports = [\"10000-20000\"]\nallow = [\"any\"]\n",
            "",
        );
        // sip moves from first to last position: its slot, and so its counters, follow the name
        let sip_block = open
            .split("[[service]]")
            .find(|b| b.contains("name = \"sip\""))
            .unwrap()
            .to_owned();
        let reordered = open.replacen(&format!("[[service]]{sip_block}"), "", 1)
            + &format!("[[service]]{sip_block}");
        h.apply(&reordered);
        expect(
            &h,
            &udp(OUTSIDER4, 5060),
            XDP_PASS,
            "sip",
            "allowed",
            "pass",
        );
        assert_eq!(
            h.count("sip", "not_allowed", "drop"),
            1,
            "sip kept its counters"
        );
        expect(
            &h,
            &udp(OUTSIDER4, 15000),
            XDP_DROP,
            "none",
            "default",
            "drop",
        );
    }
}

/// A policy of `names.len()` UDP services open to all, on ports 30001, 30002, ...
fn many_services(names: &[String]) -> String {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "[[service]]\nname = \"{n}\"\nprotocol = \"udp\"\nports = [{}]\nallow = [\"any\"]\n",
                30001 + i
            )
        })
        .collect()
}

bpf_test! {
    fn a_new_service_reusing_a_slot_starts_from_zero_counters(h = POLICY) {
        // all 31 slots taken; "s0" counts a packet
        let mut names: Vec<String> = (0..31).map(|i| format!("s{i}")).collect();
        h.apply(&many_services(&names));
        expect(
            &h,
            &udp(OUTSIDER4, 30001),
            XDP_PASS,
            "s0",
            "allowed",
            "pass",
        );
        // s0 replaced by "fresh" on the same port: the only free slot is s0's
        names[0] = "fresh".into();
        h.apply(&many_services(&names));
        assert_eq!(h.count("fresh", "allowed", "pass"), 0, "{:?}", h.counters());
        expect(
            &h,
            &udp(OUTSIDER4, 30001),
            XDP_PASS,
            "fresh",
            "allowed",
            "pass",
        );
    }
}

bpf_test! {
    fn bytes_are_counted_with_packets(h = POLICY) {
        let f = udp(ALLOWED4, 5060);
        h.run(&f);
        let rows = h.loaded.maps.counters().unwrap();
        let row = rows
            .iter()
            .find(|r| r.service == "sip" && r.reason == "allowed")
            .expect("counted");
        assert_eq!((row.packets, row.bytes), (1, f.len() as u64));
    }
}
