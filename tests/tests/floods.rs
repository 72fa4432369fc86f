//! Flood limits in the XDP program (BPF_PROG_TEST_RUN): new TCP connections per source and per
//! service, ICMP echo requests per source; what the network needs is never limited.
use sipguard_common::{Ban, BAN_REASON_MANUAL, BAN_SCOPE_ALL};
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{self, frame, Transport},
    privileged_test,
    reset::{resettable_maps, Entry},
};

const POLICY: &str = include_str!("../policies/floods.toml");

fn syn(src: &str) -> Vec<u8> {
    frame(src, Transport::TcpSyn { dport: 22 }, &[])
}

fn passed(h: &Harness, frame: &[u8], n: usize) -> usize {
    (0..n).filter(|_| h.run(frame) == XDP_PASS).count()
}

bpf_test! {
    fn syns_from_one_source_past_its_burst_are_rate_limited(h = POLICY) {
        assert_eq!(passed(&h, &syn("192.0.2.10"), 5), 3);
        assert_eq!(h.count("ssh", "rate_limited", "drop"), 2);
        // Segments of established connections are never limited.
        let ack = frame("192.0.2.10", Transport::TcpAck { dport: 22 }, b"data");
        assert_eq!(passed(&h, &ack, 50), 50);
    }
}

bpf_test! {
    fn the_service_budget_caps_syns_from_many_sources(h = POLICY) {
        let sources: Vec<String> = (1..=12).map(|i| format!("198.51.100.{i}")).collect();
        let passed = sources
            .iter()
            .filter(|s| h.run(&syn(s)) == XDP_PASS)
            .count();
        assert_eq!(passed, 5, "the budget's burst");
        assert_eq!(h.count("ssh", "flood", "drop"), 7);
        assert_eq!(h.count("ssh", "rate_limited", "drop"), 0);
    }
}

bpf_test! {
    fn a_trusted_source_passes_an_exhausted_budget_as_trusted(h = POLICY) {
        for i in 1..=6 {
            h.run(&syn(&format!("198.51.100.{i}")));
        }
        assert_eq!(h.run(&syn("192.0.2.200")), XDP_PASS);
        assert_eq!(h.count("ssh", "trusted", "pass"), 1);
    }
}

bpf_test! {
    fn echo_requests_are_limited_per_source_and_control_messages_never(h = POLICY) {
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
}

bpf_test! {
    fn monitor_mode_counts_a_flood_as_would_drop(h = &POLICY.replace(
            "default = \"drop\"",
            "default = \"drop\"\nmode = \"monitor\"",
        )) {
        for i in 1..=8 {
            assert_eq!(h.run(&syn(&format!("198.51.100.{i}"))), XDP_PASS);
        }
        assert_eq!(h.count("ssh", "flood", "would_drop"), 3);
        assert_eq!(h.count("ssh", "flood", "drop"), 0);
    }
}

/// Every kind of state the programs keep, for the reset test: SIP with a rate limit, scanner
/// bans and auto-ban, SSH with SYN limits, deny and trusted entries in both families.
const EVERYTHING: &str = include_str!("../policies/floods_everything.toml");

/// Maps the programs use as per-packet scratch space: what a packet leaves in them depends on
/// the path it took, so the test doesn't require a mark there (the reset still zeroes them).
const SCRATCH: [&str; 3] = ["EGRESS_SCRATCH", "FRAG_SCRATCH", "UA_SCRATCH"];

/// Leaves a mark in every map: counters, SIP counters, rate state, the SYN budget, a
/// scanner ban per family with its event, a drop sample, auth failures, a learned login, a fragment's verdict, manual
/// bans (IPv6 with a note, IPv4), and a second policy (with protected destinations) in the other epoch.
fn dirty_everything(h: &mut Harness) {
    let register = b"REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n";
    for _ in 0..4 {
        h.run(&packets::sip("192.0.2.10", register));
    }
    h.run(&packets::udp("192.0.2.10", 9));
    for i in 1..=8 {
        h.run(&syn(&format!("192.0.2.{i}")));
    }
    let scanner = b"OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nUser-Agent: friendly-scanner\r\n\r\n";
    assert_eq!(h.run(&packets::sip("192.0.2.66", scanner)), XDP_DROP);
    // And from IPv6: a ban in each family of the programs' room.
    assert_eq!(h.run(&packets::sip("2001:db8:1::66", scanner)), XDP_DROP);
    for g in 0..2 {
        h.round_trip(
            &packets::sip("192.0.2.77", &packets::with_credentials("REGISTER", g)),
            &packets::from_pbx("192.0.2.77", &packets::response(401, "REGISTER", 0)),
        );
    }
    // A login the PBX accepts: learned trust.
    h.round_trip(
        &packets::sip("192.0.2.78", &packets::with_credentials("REGISTER", 9)),
        &packets::from_pbx("192.0.2.78", &packets::response(200, "REGISTER", 0)),
    );
    h.run(&packets::as_ipv4_later_fragment(
        &packets::udp("192.0.2.11", 5060),
        0,
    ));
    let ban = Ban {
        expires_ns: 0,
        created_ns: sipguard::dataplane::clock::ban_clock_ns(),
        hits: 0,
        reason: BAN_REASON_MANUAL,
        scope: BAN_SCOPE_ALL,
    };
    let net = "2001:db8:2::/48".parse().expect("a test prefix");
    h.loaded
        .maps
        .ban_with_note(net, ban, "a note")
        .expect("writing a ban");
    h.loaded
        .maps
        .ban("203.0.113.0/24".parse().expect("a test prefix"), ban)
        .expect("writing a ban");
    // The second policy also protects destinations, and scopes a service by destination:
    // entries in both destination tries.
    h.apply(
        &EVERYTHING
            .replace("2001:db8:1::/64", "2001:db8:3::/64")
            .replace(
                "[global]\n",
                "[global]\nprotect = [\"192.0.2.0/24\", \"2001:db8:5::/64\"]\n",
            ),
    );
    assert_eq!(
        h.loaded
            .maps
            .destinations()
            .expect("reading the destinations")
            .protect
            .len(),
        2
    );
}

/// `entries` of `map`, the POLICY values without their digest seed (random per policy
/// written, by design).
fn without_seed(map: &str, entries: &[Entry]) -> Vec<Entry> {
    let seed = std::mem::offset_of!(sipguard_common::Policy, digest_seed);
    let mut entries = entries.to_vec();
    if map == "POLICY" {
        for (_, value) in &mut entries {
            if value.len() >= seed + 4 {
                value[seed..seed + 4].fill(0);
            }
        }
    }
    entries
}

/// The entries of `map` in `snapshot`.
fn entries<'a>(snapshot: &'a [(String, Vec<Entry>)], map: &str) -> &'a [Entry] {
    snapshot
        .iter()
        .find(|(name, _)| name == map)
        .map(|(_, e)| e.as_slice())
        .unwrap_or_else(|| panic!("{map} in the snapshot"))
}

privileged_test! {
    /// The one-load-per-binary harness hands each test maps indistinguishable from a fresh
    /// load's: a test dirties every map, and the next handle finds them exactly as a program
    /// loaded just for it, with the same policy, has them.
    fn the_next_harness_finds_every_map_as_a_fresh_load_leaves_it() {
        let mut fresh = Harness::standalone(EVERYTHING);
        let fresh = fresh.snapshot();
        let mut h = Harness::with_config(EVERYTHING);
        dirty_everything(&mut h);
        let dirty = h.snapshot();
        for map in resettable_maps() {
            if !SCRATCH.contains(&map) {
                assert_ne!(
                    entries(&dirty, map),
                    entries(&fresh, map),
                    "no mark left in {map}"
                );
            }
        }
        drop(h);
        let mut h = Harness::with_config(EVERYTHING);
        assert_eq!(h.total(), 0, "counters: {:?}", h.counters());
        assert_eq!(h.sip_total(), 0);
        assert!(h.bans().is_empty(), "bans: {:?}", h.bans());
        assert_eq!(h.ban_count("scanner"), 0);
        assert_eq!(h.loaded.maps.generation().expect("reading STATE"), 1);
        let reset = h.snapshot();
        for map in [
            "RATES",
            "EVENTS",
            "AUTH_FAILS",
            "FRAGS",
            "SYN_BUDGET",
            "BAN_NOTES",
            "LEARNED",
        ] {
            assert!(
                entries(&reset, map).is_empty(),
                "{map}: {:?}",
                entries(&reset, map)
            );
        }
        for (map, entries) in &reset {
            assert_eq!(
                without_seed(map, entries),
                without_seed(map, self::entries(&fresh, map)),
                "{map} after the reset"
            );
        }
        assert_eq!(reset.len(), fresh.len(), "the same maps");
    }
}
