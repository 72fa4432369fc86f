//! The benchmark compares sipguard, iptables and nftables on "the same policy written three
//! ways" (`tests/bench/`). These tests hold the three files to that: each one, loaded into
//! the PBX namespace, passes SIP and RTP from the LAN, drops them from outside it, drops
//! other ports, and lets a back-to-back REGISTER burst from one LAN source through up to its
//! burst of 100 (plus the 10/s refill while it is sent), no further.
use std::net::SocketAddr;

use sipguard_tests::{
    daemon::Daemon,
    flood::register_payload,
    netns::{addr, Lab, PBX_IF, PBX_V4},
    policies::{bench_file, load_bench_iptables, load_bench_nftables},
    privileged_test,
    traffic::{send_udp, UdpCounter},
};

const LAN: &str = "192.0.2.10";
const LAN_FLOODER: &str = "192.0.2.66";
const OUTSIDE: &str = "198.51.100.7";

/// Datagrams that arrived on `port` in the PBX namespace from each of `from`, after
/// `count` were sent from each with `payload`.
fn arrivals(lab: &Lab, port: u16, from: &[&str], count: u32, payload: &[u8]) -> Vec<u64> {
    let counter = UdpCounter::start(&lab.pbx, port).unwrap();
    for src in from {
        send_udp(
            &lab.client,
            addr(src),
            SocketAddr::new(addr(PBX_V4), port),
            count,
            payload,
        )
        .unwrap();
    }
    let got = counter.finish().unwrap();
    from.iter()
        .map(|s| got.get(&addr(s)).copied().unwrap_or(0))
        .collect()
}

/// The policy's behaviour, whichever filter enforces it in `lab`'s PBX namespace.
fn assert_enforces_the_bench_policy(lab: &Lab, filter: &str) {
    let sip = arrivals(
        lab,
        5060,
        &[LAN, OUTSIDE],
        5,
        b"OPTIONS sip:pbx SIP/2.0\r\n\r\n",
    );
    assert_eq!(
        sip,
        [5, 0],
        "{filter}: SIP from the LAN passes, from outside it drops"
    );
    let rtp = arrivals(lab, 10000, &[LAN, OUTSIDE], 5, b"rtp");
    assert_eq!(
        rtp,
        [5, 0],
        "{filter}: RTP from the LAN passes, from outside it drops"
    );
    let other = arrivals(lab, 7777, &[LAN], 5, b"other");
    assert_eq!(other, [0], "{filter}: other ports drop, even from the LAN");
    // 150 REGISTERs, 2 ms apart: the burst of 100 and about 3 more from the refill.
    let register = register_payload(LAN_FLOODER.parse().unwrap(), PBX_V4.parse().unwrap());
    let passed = arrivals(lab, 5060, &[LAN_FLOODER], 150, &register)[0];
    assert!(
        (100..=110).contains(&passed),
        "{filter}: {passed} of 150 back-to-back REGISTERs passed (burst 100, 10/s)"
    );
}

fn lab() -> Lab {
    Lab::new(&[LAN, LAN_FLOODER, OUTSIDE]).unwrap()
}

privileged_test! {
    fn the_bench_policy_for_sipguard_enforces_the_shared_policy() {
        let lab = lab();
        let config = bench_file("policy.toml");
        let _d = Daemon::start(
            &lab.pbx,
            PBX_IF,
            9520,
            &["--config", config.to_str().unwrap()],
        )
        .unwrap();
        assert_enforces_the_bench_policy(&lab, "sipguard");
    }
}

privileged_test! {
    fn the_bench_policy_for_iptables_enforces_the_shared_policy() {
        let lab = lab();
        load_bench_iptables(&lab.pbx).unwrap();
        assert_enforces_the_bench_policy(&lab, "iptables");
    }
}

privileged_test! {
    fn the_bench_policy_for_nftables_enforces_the_shared_policy() {
        let lab = lab();
        load_bench_nftables(&lab.pbx).unwrap();
        assert_enforces_the_bench_policy(&lab, "nftables");
    }
}
