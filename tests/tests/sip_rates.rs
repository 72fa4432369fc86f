//! Per-source SIP rate limits in the XDP program (BPF_PROG_TEST_RUN): a GCRA bucket per
//! (source, request class), IPv6 sources per /64, trusted sources exempt.
use std::time::Duration;

use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{frame, sip, Transport},
};

const POLICY: &str = include_str!("../policies/sip_rates.toml");

const PHONE: &str = "192.0.2.10";
const OTHER_PHONE: &str = "192.0.2.11";
const TRUNK: &str = "192.0.2.200";

fn register(src: &str) -> Vec<u8> {
    sip(
        src,
        b"REGISTER sip:pbx.example SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n",
    )
}

fn invite(src: &str) -> Vec<u8> {
    sip(
        src,
        b"INVITE sip:100@pbx.example SIP/2.0\r\nCSeq: 1 INVITE\r\n\r\n",
    )
}

/// Runs `n` copies of `frame`; returns how many passed.
fn passed(h: &Harness, frame: &[u8], n: usize) -> usize {
    (0..n).filter(|_| h.run(frame) == XDP_PASS).count()
}

bpf_test! {
    fn requests_within_the_burst_pass_and_the_next_is_rate_limited(h = POLICY) {
        assert_eq!(passed(&h, &register(PHONE), 3), 3);
        assert_eq!(h.run(&register(PHONE)), XDP_DROP);
        assert_eq!(h.count("sip", "allowed", "pass"), 3);
        assert_eq!(h.count("sip", "rate_limited", "drop"), 1);
        assert_eq!(h.sip_count("sip", "register", "drop"), 1);
    }
}

bpf_test! {
    fn each_source_has_its_own_bucket(h = POLICY) {
        assert_eq!(passed(&h, &register(PHONE), 5), 3);
        assert_eq!(passed(&h, &register(OTHER_PHONE), 3), 3);
    }
}

bpf_test! {
    fn each_request_class_has_its_own_bucket(h = POLICY) {
        assert_eq!(passed(&h, &register(PHONE), 5), 3);
        assert_eq!(passed(&h, &invite(PHONE), 2), 2);
        assert_eq!(h.run(&invite(PHONE)), XDP_DROP);
    }
}

bpf_test! {
    fn garbage_and_options_share_the_other_bucket(h = POLICY) {
        let options = sip(PHONE, b"OPTIONS sip:pbx.example SIP/2.0\r\n\r\n");
        let garbage = sip(PHONE, b"register sip:pbx.example SIP/2.0\r\n\r\n");
        assert_eq!(h.run(&options), XDP_PASS);
        assert_eq!(h.run(&garbage), XDP_PASS);
        assert_eq!(h.run(&garbage), XDP_DROP, "burst 2 of `other` spent");
        assert_eq!(h.sip_count("sip", "garbage", "drop"), 1);
    }
}

bpf_test! {
    fn keepalives_and_responses_are_never_rate_limited(h = POLICY) {
        assert_eq!(passed(&h, &sip(PHONE, b"\r\n\r\n"), 20), 20);
        let ok = sip(PHONE, b"SIP/2.0 200 OK\r\nCSeq: 1 OPTIONS\r\n\r\n");
        assert_eq!(passed(&h, &ok, 20), 20);
    }
}

bpf_test! {
    fn ipv6_sources_in_one_64_share_a_bucket(h = POLICY) {
        assert_eq!(passed(&h, &register("2001:db8:1::10"), 3), 3);
        assert_eq!(
            h.run(&register("2001:db8:1::ffff:20")),
            XDP_DROP,
            "same /64"
        );
        assert_eq!(
            passed(&h, &register("2001:db8:1:1::10"), 3),
            3,
            "another /64"
        );
    }
}

bpf_test! {
    fn the_aggregation_prefix_is_configurable(h = &POLICY.replace("rate_ipv6_prefix = 64", "rate_ipv6_prefix = 128")) {
        assert_eq!(passed(&h, &register("2001:db8:1::10"), 4), 3);
        assert_eq!(
            passed(&h, &register("2001:db8:1::20"), 3),
            3,
            "one bucket per address"
        );
    }
}

bpf_test! {
    fn a_trusted_source_over_its_rate_passes_as_trusted(h = POLICY) {
        assert_eq!(passed(&h, &register(TRUNK), 10), 10);
        assert_eq!(h.count("sip", "trusted", "pass"), 7);
        assert_eq!(passed(&h, &register("2001:db8:7:1::5"), 5), 5);
    }
}

bpf_test! {
    fn monitor_mode_counts_rate_limited_as_would_drop(h = &POLICY.replace(
            "default = \"drop\"",
            "default = \"drop\"\nmode = \"monitor\"",
        )) {
        assert_eq!(passed(&h, &register(PHONE), 5), 5);
        assert_eq!(h.count("sip", "rate_limited", "would_drop"), 2);
    }
}

bpf_test! {
    fn the_bucket_refills_at_the_configured_rate(h = &POLICY.replace(
            "register = { rate = 1, burst = 3 }",
            "register = { rate = 10, burst = 1 }",
        )) {
        // 10/s: one token every 100 ms, far more than a test run takes even under emulation.
        assert_eq!(h.run(&register(PHONE)), XDP_PASS);
        assert_eq!(h.run(&register(PHONE)), XDP_DROP);
        // The coarse clock ticks every few ms: 250 ms hold two tokens' time, and burst 1 keeps one.
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(h.run(&register(PHONE)), XDP_PASS);
        assert_eq!(h.run(&register(PHONE)), XDP_DROP);
    }
}

bpf_test! {
    fn a_zero_rate_means_unlimited(h = &POLICY.replace(
            "register = { rate = 1, burst = 3 }",
            "register = { rate = 0, burst = 1 }",
        )) {
        assert_eq!(passed(&h, &register(PHONE), 50), 50);
    }
}

bpf_test! {
    fn a_spoofed_source_flood_churns_the_rate_table_but_not_the_policy(h = &POLICY.replace("[global]\n", "[global]\ndeny = [\"198.51.100.0/24\"]\n")) {
        h.loaded
            .maps
            .ban("203.0.113.9/32".parse().unwrap(), Default::default())
            .unwrap();
        // More distinct sources than the LRU holds (131072), one REGISTER each.
        for i in 0..140_000u32 {
            let [_, a, b, c] = (i + (10 << 24)).to_be_bytes();
            let src = format!("10.{a}.{b}.{c}");
            assert_eq!(h.run(&register(&src)), XDP_PASS, "{src}");
        }
        assert_eq!(
            h.run(&register("198.51.100.7")),
            XDP_DROP,
            "deny list intact"
        );
        assert_eq!(h.run(&register("203.0.113.9")), XDP_DROP, "ban intact");
        assert_eq!(passed(&h, &register(TRUNK), 10), 10, "trusted list intact");
    }
}

bpf_test! {
    fn new_tcp_connections_to_sip_are_rate_limited_per_source(h = POLICY) {
        let syn = frame(PHONE, Transport::TcpSyn { dport: 5060 }, &[]);
        assert_eq!(passed(&h, &syn, 3), 2);
        assert_eq!(h.count("sip", "rate_limited", "drop"), 1);
        // segments of established connections without data are never limited; those that
        // carry a request pay its class's bucket (REGISTER: burst 3; see `no_bypass`)
        let ack = frame(PHONE, Transport::TcpAck { dport: 5060 }, &[]);
        assert_eq!(passed(&h, &ack, 10), 10);
        let register = frame(
            PHONE,
            Transport::TcpAck { dport: 5060 },
            b"REGISTER sip:x SIP/2.0\r\n",
        );
        assert_eq!(passed(&h, &register, 10), 3);
        // and another source has its own bucket
        let other = frame(OTHER_PHONE, Transport::TcpSyn { dport: 5060 }, &[]);
        assert_eq!(h.run(&other), XDP_PASS);
    }
}
