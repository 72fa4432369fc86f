//! Tier 2: the real XDP program under BPF_PROG_TEST_RUN. Each test builds packets, sets the
//! maps through the daemon's own map writer, runs, and asserts the verdict and the counters.
//!
//! Most tests are rows of one table ([`verdicts!`]): packets in, for each the action and
//! the one (service, reason, verdict) counter that must move. The rest (bans, reloads, slots,
//! fragments whose later parts move no counter of their own) are written out.
use ipnet::IpNet;
use sipguard::dataplane::clock::ban_clock_ns;
use sipguard_common::{Ban, BAN_REASON_MANUAL, BAN_SCOPE_ALL, BAN_SCOPE_SIP};
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{self, frame, udp, Transport},
    policies::CRAFTED as POLICY,
};

const ALLOWED4: &str = "192.0.2.10";
const OUTSIDER4: &str = "192.0.2.200";
const DENIED4: &str = "198.51.100.7";
const ALLOWED6: &str = "2001:db8:1::10";
const OUTSIDER6: &str = "2001:db8:2::10";
const DENIED6: &str = "2001:db8:bad::1";

/// Runs `frame`, asserts the action and that exactly this packet was counted under
/// (service, reason, verdict). `case` names the packet in the messages.
fn expect_case(
    h: &Harness,
    case: &str,
    frame: &[u8],
    action: u32,
    (service, reason, verdict): (&str, &str, &str),
) {
    let before = h.count(service, reason, verdict);
    let total_before = h.total();
    assert_eq!(
        h.run(frame),
        action,
        "{case}: action for {service}/{reason}/{verdict}"
    );
    assert_eq!(
        h.count(service, reason, verdict),
        before + 1,
        "{case}: counter {service}/{reason}/{verdict}; all counters: {:?}",
        h.counters()
    );
    assert_eq!(
        h.total(),
        total_before + 1,
        "{case}: exactly one counter moved"
    );
}

/// [`expect_case`] for the written-out tests.
fn expect(h: &Harness, frame: &[u8], action: u32, service: &str, reason: &str, verdict: &str) {
    expect_case(h, "packet", frame, action, (service, reason, verdict));
}

/// The verdict table: each row is a test, `name: [packet => ACTION (service, reason,
/// verdict), ...]`, run in order on the test policy; `name after (POLICY): [...]` applies
/// `POLICY` first, as a reload. A failure names its row (the test) and its packet (the
/// expression).
macro_rules! verdicts {
    ($(
        $(#[$meta:meta])*
        $name:ident $(after ($reload:expr))?: [
            $($frame:expr => $action:ident $counted:expr),+ $(,)?
        ]
    )*) => {$(
        bpf_test! {
            $(#[$meta])*
            fn $name(h = POLICY) {
                $(h.apply($reload);)?
                $(expect_case(&h, stringify!($frame), &$frame, $action, $counted);)+
            }
        }
    )*};
}

/// POLICY with `default = "pass"`.
fn default_pass() -> String {
    POLICY.replace("default = \"drop\"", "default = \"pass\"")
}

fn syn(src: &str, dport: u16) -> Vec<u8> {
    frame(src, Transport::TcpSyn { dport }, &[])
}

fn ack(src: &str, dport: u16) -> Vec<u8> {
    frame(src, Transport::TcpAck { dport }, &[])
}

fn echo(src: &str) -> Vec<u8> {
    frame(src, Transport::Echo, b"ping")
}

fn icmp(src: &str, icmp_type: u8, payload: &[u8]) -> Vec<u8> {
    frame(src, Transport::Icmp { icmp_type }, payload)
}

/// An ARP frame: the first 42 bytes of a UDP frame with EtherType 0x0806.
fn arp() -> Vec<u8> {
    let mut arp = udp(ALLOWED4, 5060)[..42].to_vec();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    arp
}

/// `frame` with byte `at` set to `value`.
fn set_byte(mut frame: Vec<u8>, at: usize, value: u8) -> Vec<u8> {
    frame[at] = value;
    frame
}

/// `frame` with `bits` set in byte `at`.
fn or_byte(mut frame: Vec<u8>, at: usize, bits: u8) -> Vec<u8> {
    frame[at] |= bits;
    frame
}

/// The TCP flags byte of a frame over IPv4 without options.
const TCP_FLAGS4: usize = 14 + 20 + 13;
/// Hop-by-hop, routing, destination options, then a first fragment (offset 0).
const EXT_CHAIN: [u8; 4] = [0, 43, 60, 44];

/// UDP to the SIP port with 600 bytes of data: a first fragment this size is what an honest
/// stack sends (a smaller one is `tiny_fragment`, see `no_bypass`).
fn udp_600(src: &str) -> Vec<u8> {
    packets::sip(src, &[b'x'; 600])
}

const SIP_PASS: (&str, &str, &str) = ("sip", "allowed", "pass");
const SIP_NOT_ALLOWED: (&str, &str, &str) = ("sip", "not_allowed", "drop");
const RTP_PASS: (&str, &str, &str) = ("rtp", "allowed", "pass");
const DEFAULT_DROP: (&str, &str, &str) = ("none", "default", "drop");
const REPLY: (&str, &str, &str) = ("none", "reply", "pass");
const ICMP_CONTROL: (&str, &str, &str) = ("none", "icmp_control", "pass");
const MALFORMED_L2: (&str, &str, &str) = ("none", "malformed_l2", "drop");
const MALFORMED_L3: (&str, &str, &str) = ("none", "malformed_l3", "drop");
const MALFORMED_L4: (&str, &str, &str) = ("none", "malformed_l4", "drop");

verdicts! {
    allowed_ipv4_source_passes_to_its_service: [udp(ALLOWED4, 5060) => XDP_PASS SIP_PASS]
    ipv4_source_outside_the_allow_list_is_dropped: [
        udp(OUTSIDER4, 5060) => XDP_DROP SIP_NOT_ALLOWED,
    ]
    allowed_ipv6_source_passes_to_its_service: [udp(ALLOWED6, 5060) => XDP_PASS SIP_PASS]
    ipv6_source_outside_the_allow_list_is_dropped: [
        udp(OUTSIDER6, 5060) => XDP_DROP SIP_NOT_ALLOWED,
    ]
    global_deny_list_wins_over_a_service_open_to_all: [
        udp(DENIED4, 15000) => XDP_DROP ("rtp", "denied", "drop"),
        udp(DENIED6, 15000) => XDP_DROP ("rtp", "denied", "drop"),
    ]
    service_open_to_all_passes_any_source: [
        udp(OUTSIDER4, 15000) => XDP_PASS RTP_PASS,
        udp(OUTSIDER6, 15000) => XDP_PASS RTP_PASS,
    ]
    port_range_includes_both_ends_and_nothing_beyond: [
        udp(OUTSIDER4, 10000) => XDP_PASS RTP_PASS,
        udp(OUTSIDER4, 20000) => XDP_PASS RTP_PASS,
        udp(OUTSIDER4, 9999) => XDP_DROP DEFAULT_DROP,
        udp(OUTSIDER4, 20001) => XDP_DROP DEFAULT_DROP,
    ]
    tcp_and_udp_share_a_service_but_not_its_ports: [
        syn(ALLOWED4, 5060) => XDP_PASS SIP_PASS,
        syn(OUTSIDER4, 5060) => XDP_DROP SIP_NOT_ALLOWED,
        // rtp is udp only: a TCP SYN to 15000 is no service
        syn(OUTSIDER4, 15000) => XDP_DROP DEFAULT_DROP,
    ]
    traffic_to_no_service_follows_default_drop: [udp(ALLOWED4, 7777) => XDP_DROP DEFAULT_DROP]
    traffic_to_no_service_follows_default_pass after (&default_pass()): [
        udp(OUTSIDER4, 7777) => XDP_PASS ("none", "default", "pass"),
    ]
    udp_to_the_ephemeral_range_passes_as_reply_under_default_drop: [
        frame(OUTSIDER4, Transport::Udp { sport: 53, dport: 40000 }, b"answer") => XDP_PASS REPLY,
    ]
    tcp_segment_with_ack_passes_as_reply_but_syn_does_not: [
        ack(OUTSIDER4, 8080) => XDP_PASS REPLY,
        syn(OUTSIDER4, 8080) => XDP_DROP DEFAULT_DROP,
    ]
    tcp_to_a_restricted_service_is_judged_even_with_ack: [
        ack(OUTSIDER4, 22) => XDP_DROP ("ssh", "not_allowed", "drop"),
    ]
    icmp_echo_request_is_judged_by_the_icmp_service: [
        echo(ALLOWED4) => XDP_PASS ("icmp", "allowed", "pass"),
        echo(OUTSIDER4) => XDP_DROP ("icmp", "not_allowed", "drop"),
        echo(ALLOWED6) => XDP_PASS ("icmp", "allowed", "pass"),
        echo(OUTSIDER6) => XDP_DROP ("icmp", "not_allowed", "drop"),
    ]
    icmp_errors_and_neighbour_discovery_always_pass: [
        icmp(OUTSIDER4, 3, &[0; 28]) => XDP_PASS ICMP_CONTROL, // frag needed
        icmp(OUTSIDER4, 11, &[0; 28]) => XDP_PASS ICMP_CONTROL, // traceroute
        icmp(OUTSIDER6, 2, &[0; 28]) => XDP_PASS ICMP_CONTROL, // too big
        icmp(OUTSIDER6, 135, &[0; 28]) => XDP_PASS ICMP_CONTROL, // NS
        icmp(OUTSIDER6, 134, &[0; 28]) => XDP_PASS ICMP_CONTROL, // RA
    ]
    other_icmp_types_follow_the_default_policy: [
        icmp(OUTSIDER4, 13, &[0; 12]) => XDP_DROP DEFAULT_DROP, // timestamp
    ]
    echo_reply_passes_as_reply: [icmp(OUTSIDER4, 0, b"pong") => XDP_PASS REPLY]
    non_ip_frames_pass: [arp() => XDP_PASS ("none", "non_ip", "pass")]
    single_and_double_vlan_tags_are_parsed_through: [
        packets::with_vlan_tags(&udp(ALLOWED4, 5060), 1) => XDP_PASS SIP_PASS,
        packets::with_vlan_tags(&udp(OUTSIDER6, 5060), 1) => XDP_DROP SIP_NOT_ALLOWED,
        packets::with_vlan_tags(&udp(ALLOWED4, 5060), 2) => XDP_PASS SIP_PASS,
        packets::with_vlan_tags(&udp(OUTSIDER6, 5060), 2) => XDP_DROP SIP_NOT_ALLOWED,
    ]
    a_third_vlan_tag_is_malformed_l2: [
        packets::with_vlan_tags(&udp(ALLOWED4, 5060), 3) => XDP_DROP MALFORMED_L2,
    ]
    ipv4_options_are_skipped_by_ihl: [
        packets::with_ipv4_options(&udp(ALLOWED4, 5060), 1) => XDP_PASS SIP_PASS,
        packets::with_ipv4_options(&udp(OUTSIDER4, 5060), 1) => XDP_DROP SIP_NOT_ALLOWED,
        packets::with_ipv4_options(&udp(ALLOWED4, 5060), 10) => XDP_PASS SIP_PASS,
        packets::with_ipv4_options(&udp(OUTSIDER4, 5060), 10) => XDP_DROP SIP_NOT_ALLOWED,
        // maximum IHL (15 words) still finds the UDP header
        packets::with_ipv4_options(&udp(ALLOWED4, 15000), 10) => XDP_PASS RTP_PASS,
    ]
    ipv6_extension_headers_are_skipped: [
        packets::with_ipv6_ext(&udp_600(ALLOWED6), &EXT_CHAIN, 0) => XDP_PASS SIP_PASS,
        packets::with_ipv6_ext(&udp_600(OUTSIDER6), &EXT_CHAIN, 0) => XDP_DROP SIP_NOT_ALLOWED,
    ]
    ipv6_authentication_header_is_skipped: [
        packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &[51], 0) => XDP_PASS SIP_PASS,
        packets::with_ipv6_ext(&udp(OUTSIDER6, 5060), &[0, 51], 0) => XDP_DROP SIP_NOT_ALLOWED,
    ]
    later_fragments_of_denied_sources_are_dropped_as_denied: [
        packets::as_ipv4_later_fragment(&udp(DENIED4, 5060), 185)
            => XDP_DROP ("none", "denied", "drop"),
    ]
    truncated_vlan_tag_is_malformed_l2: [
        packets::with_vlan_tags(&udp(ALLOWED4, 5060), 1)[..16] => XDP_DROP MALFORMED_L2,
    ]
    truncated_or_invalid_ipv4_header_is_malformed_l3: [
        udp(ALLOWED4, 5060)[..14 + 19] => XDP_DROP MALFORMED_L3,
        set_byte(udp(ALLOWED4, 5060), 14, 0x44) => XDP_DROP MALFORMED_L3, // IHL 4 words < 20 bytes
        set_byte(udp(ALLOWED4, 5060), 14, 0x55) => XDP_DROP MALFORMED_L3, // version 5
        // IHL claims 60 bytes of header but the frame ends before
        set_byte(udp(ALLOWED4, 5060)[..14 + 28].to_vec(), 14, 0x4f) => XDP_DROP MALFORMED_L3,
    ]
    truncated_ipv6_header_or_extension_is_malformed_l3: [
        udp(ALLOWED6, 5060)[..14 + 39] => XDP_DROP MALFORMED_L3,
        packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &[0], 0)[..14 + 40 + 1]
            => XDP_DROP MALFORMED_L3,
    ]
    endless_ipv6_extension_chain_is_malformed_l3: [
        packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &[60u8; 7], 0) => XDP_DROP MALFORMED_L3,
    ]
    truncated_transport_headers_are_malformed_l4: [
        udp(ALLOWED4, 5060)[..14 + 20 + 7] => XDP_DROP MALFORMED_L4,
        syn(ALLOWED4, 22)[..14 + 20 + 19] => XDP_DROP MALFORMED_L4,
        frame(ALLOWED6, Transport::Echo, &[])[..14 + 40 + 7] => XDP_DROP MALFORMED_L4,
    ]
    impossible_tcp_flags_are_malformed_l4: [
        or_byte(syn(ALLOWED4, 22), TCP_FLAGS4, 0x01) => XDP_DROP MALFORMED_L4, // SYN+FIN
        or_byte(syn(ALLOWED4, 22), TCP_FLAGS4, 0x04) => XDP_DROP MALFORMED_L4, // SYN+RST
        set_byte(syn(ALLOWED4, 22), TCP_FLAGS4, 0) => XDP_DROP MALFORMED_L4, // no flags
    ]
    global_monitor_mode_passes_and_counts_would_drop after (&POLICY.replace(
        "default = \"drop\"",
        "default = \"drop\"\nmode = \"monitor\"",
    )): [
        udp(OUTSIDER4, 5060) => XDP_PASS ("sip", "not_allowed", "would_drop"),
        udp(OUTSIDER4, 7777) => XDP_PASS ("none", "default", "would_drop"),
        udp(ALLOWED4, 5060) => XDP_PASS SIP_PASS,
    ]
    service_monitor_mode_only_softens_that_service after (
        &POLICY.replace("name = \"ssh\"", "name = \"ssh\"\nmode = \"monitor\"")
    ): [
        syn(OUTSIDER4, 22) => XDP_PASS ("ssh", "not_allowed", "would_drop"),
        udp(OUTSIDER4, 5060) => XDP_DROP SIP_NOT_ALLOWED,
    ]
    service_monitor_mode_does_not_soften_the_deny_list after (
        &POLICY.replace("name = \"rtp\"", "name = \"rtp\"\nmode = \"monitor\"")
    ): [
        udp(DENIED4, 15000) => XDP_DROP ("rtp", "denied", "drop"),
    ]
}

bpf_test! {
    fn a_later_fragment_follows_its_first_fragments_verdict(h = POLICY) {
        // Allowed: the first fragment (offset 0, more to come) passes, so do the others.
        let first = packets::as_ipv4_later_fragment(&udp_600(ALLOWED4), 0);
        expect(&h, &first, XDP_PASS, "sip", "allowed", "pass");
        let later = packets::as_ipv4_later_fragment(&udp(ALLOWED4, 5060), 185);
        expect(&h, &later, XDP_PASS, "sip", "fragment", "pass");
        let first6 = packets::with_ipv6_ext(&udp_600(ALLOWED6), &[44], 0);
        expect(&h, &first6, XDP_PASS, "sip", "allowed", "pass");
        let later6 = packets::with_ipv6_ext(&udp(ALLOWED6, 5060), &[44], 185);
        assert_eq!(h.run(&later6), XDP_PASS);
        // Not allowed: the first is dropped, and so are the others.
        let first = packets::as_ipv4_later_fragment(&udp_600(OUTSIDER4), 0);
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
        h.apply(&default_pass());
        assert_eq!(h.run(&v4), XDP_PASS);
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
