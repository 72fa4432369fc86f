//! The ban maps' rooms (BPF_PROG_TEST_RUN, and the daemon's own readers of the maps): the
//! programs' bans live apart from the admin's, the most recent `AUTO_BAN_ROOM` of them are
//! kept and the oldest give way (counted), so that an attack that makes the programs ban can
//! never push out, nor block, a ban the admin makes.
use sipguard::{
    control::{bans, metrics},
    dataplane::{
        clock::ban_clock_ns,
        maps::{Expiry, FleetBan, BAN_REASON_CROWDSEC},
        DataplaneError,
    },
};
use sipguard_common::{
    Ban, AUTO_BAN_ROOM, BAN_MAX_ENTRIES, BAN_REASON_MANUAL, BAN_REASON_SCANNER, BAN_SCOPE_ALL,
};
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{from_pbx, response, sip, with_credentials},
};

/// SIP open to all, scanners banned on sight (one packet, one ban), IPv6 sources one per /80:
/// an attacker with a /48 holds 2^32 of them.
const POLICY: &str = "[global]\ndefault = \"drop\"\nrate_ipv6_prefix = 80\n\
    [[service]]\nname = \"sip\"\nprotocol = \"udp\"\nports = [5060]\nallow = [\"any\"]\nsip = true\n\
    [service.limits]\nregister = { rate = 1000, burst = 1000 }\n\
    invite = { rate = 1000, burst = 1000 }\nother = { rate = 1000, burst = 1000 }\n\
    [scanners]\nrecheck = \"0\"\nban = \"1h\"\n\
    [autoban]\nfailures = 3\n";

const PROBE: &str =
    "OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK-1\r\n\
    From: <sip:100@192.0.2.1>;tag=1\r\nTo: <sip:100@192.0.2.1>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\
    User-Agent: friendly-scanner\r\nContent-Length: 0\r\n\r\n";
const HONEST: &str =
    "OPTIONS sip:100@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK-1\r\n\
    From: <sip:100@192.0.2.1>;tag=1\r\nTo: <sip:100@192.0.2.1>\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\
    User-Agent: Yealink SIP-T46S\r\nContent-Length: 0\r\n\r\n";

/// Attacker `i` of the /48 2001:db8:48::/48, each in a /80 of its own.
fn attacker(i: u32) -> String {
    format!("2001:db8:48:{:x}:{:x}::1", i >> 16, i & 0xffff)
}

fn manual(h: &mut Harness, net: &str) -> Result<(), DataplaneError> {
    let ban = Ban {
        expires_ns: 0,
        created_ns: ban_clock_ns(),
        hits: 0,
        reason: BAN_REASON_MANUAL,
        scope: BAN_SCOPE_ALL,
    };
    h.loaded.maps.ban(net.parse().unwrap(), ban)
}

bpf_test! {
    fn filling_the_programs_room_from_an_ipv6_48_evicts_their_oldest_bans_and_never_the_admins(h = POLICY) {
        manual(&mut h, "198.51.100.7/32").expect("a manual ban before the attack");
        manual(&mut h, "2001:db8:bad::/48").expect("a manual IPv6 ban before the attack");
        // One scanner probe from each of ROOM + 1000 sources of one /48: a ban each.
        const OVER: u32 = 1000;
        for i in 0..AUTO_BAN_ROOM + OVER {
            assert_eq!(h.run(&sip(&attacker(i), PROBE.as_bytes())), XDP_DROP, "probe {i}");
        }
        assert_eq!(h.ban_count("scanner"), u64::from(AUTO_BAN_ROOM + OVER), "every ban was made");
        assert_eq!(h.loaded.maps.ban_evictions().unwrap(), u64::from(OVER), "the oldest gave way");
        assert_eq!(h.loaded.maps.ban_insert_failures().unwrap(), 0, "none was lost");
        let rows = bans::list(&h.loaded.maps).unwrap();
        let programs = rows.iter().filter(|r| r.room == "programs").count();
        assert_eq!(programs, AUTO_BAN_ROOM as usize, "the room holds the most recent");
        // The first thousand were evicted (their next honest request passes), the rest hold.
        assert_eq!(h.run(&sip(&attacker(0), HONEST.as_bytes())), XDP_PASS);
        assert_eq!(h.run(&sip(&attacker(OVER - 1), HONEST.as_bytes())), XDP_PASS);
        assert_eq!(h.run(&sip(&attacker(OVER), HONEST.as_bytes())), XDP_DROP);
        assert_eq!(h.run(&sip(&attacker(AUTO_BAN_ROOM + OVER - 1), HONEST.as_bytes())), XDP_DROP);
        // The admin's bans stood through it, and a new one still finds room.
        assert_eq!(h.run(&sip("198.51.100.7", HONEST.as_bytes())), XDP_DROP);
        assert_eq!(h.run(&sip("2001:db8:bad:1::1", HONEST.as_bytes())), XDP_DROP);
        manual(&mut h, "203.0.113.9/32").expect("a manual ban during the attack");
        assert_eq!(h.run(&sip("203.0.113.9", HONEST.as_bytes())), XDP_DROP);
        let admin: Vec<_> = bans::list(&h.loaded.maps)
            .unwrap()
            .into_iter()
            .filter(|r| r.room == "admin")
            .map(|r| r.net)
            .collect();
        assert_eq!(admin.len(), 3, "{admin:?}");
        // `sipguard bans` and /metrics show the pressure.
        let rows = bans::list(&h.loaded.maps).unwrap();
        let line = bans::pressure(&rows, 0, h.loaded.maps.ban_evictions().unwrap())
            .expect("the pressure line");
        assert!(line.contains("the data plane's room 65536 of 65536"), "{line}");
        assert!(line.contains("1000 evicted"), "{line}");
        let text = metrics::render(&h.loaded.maps, None).unwrap();
        assert!(text.contains("\nsipguard_bans_evicted_total 1000\n"), "{text}");
        assert!(text.contains("sipguard_map_entries{map=\"AUTO_BANS_V6\"} 65536"), "{text}");
    }
}

bpf_test! {
    fn a_full_admin_room_refuses_a_manual_ban_and_leaves_the_programs_theirs(h = POLICY) {
        // Fill the admin's IPv4 trie with /32s of 10.0.0.0/8 (a fleet feed).
        let fill: Vec<FleetBan> = (0..BAN_MAX_ENTRIES)
            .map(|i| FleetBan {
                net: ipnet::IpNet::new(std::net::Ipv4Addr::from(0x0a00_0000 | i).into(), 32).unwrap(),
                expiry: Expiry::Never,
                reason: BAN_REASON_CROWDSEC,
                scope: BAN_SCOPE_ALL,
                note: String::new(),
            })
            .collect();
        h.loaded.maps.ban_many(&fill, ban_clock_ns(), 0).expect("filling the ban map");
        // A ban by hand names the full room.
        let err = manual(&mut h, "192.0.2.99/32").unwrap_err();
        assert!(matches!(err, DataplaneError::BanMapFull { .. }), "{err}");
        assert!(err.to_string().starts_with("the ban map BANS_V4 is full (65536 prefixes)"), "{err}");
        // The programs ban in their own room all the same: a scanner, and a guesser.
        assert_eq!(h.run(&sip("192.0.2.77", PROBE.as_bytes())), XDP_DROP);
        for g in 0..3 {
            h.round_trip(
                &sip("192.0.2.66", &with_credentials("REGISTER", g)),
                &from_pbx("192.0.2.66", &response(401, "REGISTER", 0)),
            );
        }
        let bans = h.bans();
        assert!(bans.iter().any(|(n, b)| n.to_string() == "192.0.2.77/32" && b.reason == BAN_REASON_SCANNER));
        assert!(bans.iter().any(|(n, _)| n.to_string() == "192.0.2.66/32"), "the guesser is banned");
        assert_eq!(h.run(&sip("192.0.2.66", HONEST.as_bytes())), XDP_DROP);
        assert_eq!(h.loaded.maps.ban_insert_failures().unwrap(), 0);
        assert_eq!(h.ban_count("auth_failures"), 1);
    }
}

bpf_test! {
    fn unban_lifts_a_programs_ban(h = POLICY) {
        assert_eq!(h.run(&sip("192.0.2.77", PROBE.as_bytes())), XDP_DROP);
        assert_eq!(h.run(&sip("192.0.2.77", HONEST.as_bytes())), XDP_DROP);
        assert!(h.loaded.maps.unban("192.0.2.77/32".parse().unwrap()).unwrap());
        assert_eq!(h.run(&sip("192.0.2.77", HONEST.as_bytes())), XDP_PASS);
        assert!(!h.loaded.maps.unban("192.0.2.77/32".parse().unwrap()).unwrap(), "gone");
    }
}

bpf_test! {
    fn an_admins_ban_covering_a_source_takes_precedence_over_a_new_programs_ban(h = POLICY) {
        manual(&mut h, "192.0.2.0/24").unwrap();
        assert_eq!(h.run(&sip("192.0.2.77", PROBE.as_bytes())), XDP_DROP);
        assert_eq!(h.ban_count("scanner"), 0, "already banned: the first verdict stands");
        let rows = bans::list(&h.loaded.maps).unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].room, "admin");
    }
}
