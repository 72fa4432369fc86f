//! Flood limits in the XDP program (BPF_PROG_TEST_RUN): new TCP connections per source and per
//! service, ICMP echo requests per source; what the network needs is never limited.
use sipguard_tests::{
    harness::{Harness, XDP_PASS},
    packets::{frame, Transport},
    privileged,
};

const POLICY: &str = r#"
[global]
default = "drop"
trusted = ["192.0.2.200"]

[[service]]
name = "ssh"
protocol = "tcp"
ports = [22]
allow = ["any"]
[service.limits]
syn = { rate = 1, burst = 3 }
syn_budget = { rate = 1, burst = 5 }

[[service]]
name = "icmp"
protocol = "icmp"
allow = ["any"]
[service.limits]
echo = { rate = 1, burst = 2 }
"#;

fn harness(test: &str, policy: &str) -> Option<Harness> {
    privileged(test).then(|| Harness::with_config(policy))
}

fn syn(src: &str) -> Vec<u8> {
    frame(src, Transport::TcpSyn { dport: 22 }, &[])
}

fn passed(h: &Harness, frame: &[u8], n: usize) -> usize {
    (0..n).filter(|_| h.run(frame) == XDP_PASS).count()
}

#[test]
fn syns_from_one_source_past_its_burst_are_rate_limited() {
    let Some(h) = harness(
        "syns_from_one_source_past_its_burst_are_rate_limited",
        POLICY,
    ) else {
        return;
    };
    assert_eq!(passed(&h, &syn("192.0.2.10"), 5), 3);
    assert_eq!(h.count("ssh", "rate_limited", "drop"), 2);
    // Segments of established connections are never limited.
    let ack = frame("192.0.2.10", Transport::TcpAck { dport: 22 }, b"data");
    assert_eq!(passed(&h, &ack, 50), 50);
}

#[test]
fn the_service_budget_caps_syns_from_many_sources() {
    let Some(h) = harness("the_service_budget_caps_syns_from_many_sources", POLICY) else {
        return;
    };
    let sources: Vec<String> = (1..=12).map(|i| format!("198.51.100.{i}")).collect();
    let passed = sources
        .iter()
        .filter(|s| h.run(&syn(s)) == XDP_PASS)
        .count();
    assert_eq!(passed, 5, "the budget's burst");
    assert_eq!(h.count("ssh", "flood", "drop"), 7);
    assert_eq!(h.count("ssh", "rate_limited", "drop"), 0);
}

#[test]
fn a_trusted_source_passes_an_exhausted_budget_as_trusted() {
    let Some(h) = harness(
        "a_trusted_source_passes_an_exhausted_budget_as_trusted",
        POLICY,
    ) else {
        return;
    };
    for i in 1..=6 {
        h.run(&syn(&format!("198.51.100.{i}")));
    }
    assert_eq!(h.run(&syn("192.0.2.200")), XDP_PASS);
    assert_eq!(h.count("ssh", "trusted", "pass"), 1);
}

#[test]
fn echo_requests_are_limited_per_source_and_control_messages_never() {
    let Some(h) = harness(
        "echo_requests_are_limited_per_source_and_control_messages_never",
        POLICY,
    ) else {
        return;
    };
    for src in ["192.0.2.10", "2001:db8:1::10"] {
        assert_eq!(
            passed(&h, &frame(src, Transport::Echo, b"ping"), 4),
            2,
            "{src}"
        );
    }
    assert_eq!(h.count("icmp", "rate_limited", "drop"), 4);
    // Destination unreachable, packet too big, echo replies: always through.
    for (src, icmp_type) in [("192.0.2.10", 3), ("2001:db8:1::10", 2), ("192.0.2.10", 0)] {
        let f = frame(src, Transport::Icmp { icmp_type }, &[0; 8]);
        assert_eq!(passed(&h, &f, 20), 20, "{src} type {icmp_type}");
    }
}

#[test]
fn monitor_mode_counts_a_flood_as_would_drop() {
    let policy = POLICY.replace(
        "default = \"drop\"",
        "default = \"drop\"\nmode = \"monitor\"",
    );
    let Some(h) = harness("monitor_mode_counts_a_flood_as_would_drop", &policy) else {
        return;
    };
    for i in 1..=8 {
        assert_eq!(h.run(&syn(&format!("198.51.100.{i}"))), XDP_PASS);
    }
    assert_eq!(h.count("ssh", "flood", "would_drop"), 3);
    assert_eq!(h.count("ssh", "flood", "drop"), 0);
}
