//! Destinations on a perimeter box (BPF_PROG_TEST_RUN): `[global] protect` names the hosts
//! whose traffic is sipguard's business, a service's `to` names the hosts it serves, and one
//! port (or ICMP echo) can belong to several services told apart by the packet's destination,
//! IPv4 and IPv6, on the ingress program and on the egress program that reads the answers.
use sipguard_common::BAN_REASON_AUTH_FAILURES;
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{frame_to, from_host, response, with_credentials, Transport},
};

const TC_ACT_OK: i32 = 0;

const POLICY: &str = include_str!("../policies/destinations.toml");

/// The box itself and the PBX behind it: protected.
const BOX4: &str = "203.0.113.1";
const BOX6: &str = "2001:db8:5::1";
const PBX4: &str = "203.0.113.10";
const PBX6: &str = "2001:db8:5::10";
/// Hosts behind the box outside `protect`.
const OTHER4: &str = "203.0.113.50";
const OTHER6: &str = "2001:db8:6::50";

/// The box's administrators (ssh-box) and the PBX's (ssh-pbx).
const BOX_ADMIN4: &str = "10.1.0.5";
const BOX_ADMIN6: &str = "2001:db8:98::5";
const PBX_ADMIN4: &str = "10.2.0.5";
const PBX_ADMIN6: &str = "2001:db8:99::5";
const OUTSIDER4: &str = "198.51.100.9";
const OUTSIDER6: &str = "2001:db8:77::9";

fn syn(src: &str, dst: &str, dport: u16) -> Vec<u8> {
    frame_to(src, dst, Transport::TcpSyn { dport }, &[])
}

fn udp(src: &str, dst: &str, dport: u16) -> Vec<u8> {
    frame_to(src, dst, Transport::Udp { sport: 5060, dport }, b"payload")
}

fn echo(src: &str, dst: &str) -> Vec<u8> {
    frame_to(src, dst, Transport::Echo, b"ping")
}

bpf_test! {
    fn ssh_to_the_box_and_ssh_to_the_pbx_follow_their_own_allow_lists(h = POLICY) {
        for (admin, other, boxa, pbx) in [
            (BOX_ADMIN4, PBX_ADMIN4, BOX4, PBX4),
            (BOX_ADMIN6, PBX_ADMIN6, BOX6, PBX6),
        ] {
            let (box_admin, pbx_admin) = (admin, other);
            h.expect("box admin to the box", &syn(box_admin, boxa, 22), XDP_PASS, ("ssh-box", "allowed", "pass"));
            h.expect("box admin to the PBX", &syn(box_admin, pbx, 22), XDP_DROP, ("ssh-pbx", "not_allowed", "drop"));
            h.expect("PBX admin to the PBX", &syn(pbx_admin, pbx, 22), XDP_PASS, ("ssh-pbx", "allowed", "pass"));
            h.expect("PBX admin to the box", &syn(pbx_admin, boxa, 22), XDP_DROP, ("ssh-box", "not_allowed", "drop"));
        }
        h.expect("an outsider to the box", &syn(OUTSIDER4, BOX4, 22), XDP_DROP, ("ssh-box", "not_allowed", "drop"));
        h.expect("an outsider to the PBX", &syn(OUTSIDER6, PBX6, 22), XDP_DROP, ("ssh-pbx", "not_allowed", "drop"));
    }
}

bpf_test! {
    fn an_ipv4_destination_written_as_ipv6_is_that_ipv4_address(h = POLICY) {
        // ::ffff:a.b.c.d (and a source written so) is the IPv4 address, as for sources: the
        // IPv6 form of the PBX's address is neither unprotected nor another service's.
        let mapped = |a: &str| format!("::ffff:{a}");
        h.expect("mapped PBX admin to the mapped PBX", &syn(&mapped(PBX_ADMIN4), &mapped(PBX4), 22), XDP_PASS, ("ssh-pbx", "allowed", "pass"));
        h.expect("mapped box admin to the mapped PBX", &syn(&mapped(BOX_ADMIN4), &mapped(PBX4), 22), XDP_DROP, ("ssh-pbx", "not_allowed", "drop"));
        h.expect("mapped box admin to the mapped box", &syn(&mapped(BOX_ADMIN4), &mapped(BOX4), 22), XDP_PASS, ("ssh-box", "allowed", "pass"));
        h.expect("mapped outsider to a mapped host outside protect", &syn(&mapped(OUTSIDER4), &mapped(OTHER4), 22), XDP_PASS, ("none", "unprotected", "pass"));
    }
}

bpf_test! {
    fn traffic_to_hosts_outside_protect_passes_untouched_as_unprotected(h = POLICY) {
        let unprotected = ("none", "unprotected", "pass");
        // What would be dropped toward a protected host: an unknown port under default drop,
        // SSH from anyone, SIP from anyone to a port no service serves.
        h.expect("SYN to 22", &syn(OUTSIDER4, OTHER4, 22), XDP_PASS, unprotected);
        h.expect("UDP to 7777", &udp(OUTSIDER4, OTHER4, 7777), XDP_PASS, unprotected);
        h.expect("UDP to 5060", &udp(OUTSIDER4, OTHER4, 5060), XDP_PASS, unprotected);
        h.expect("echo", &echo(OUTSIDER4, OTHER4), XDP_PASS, unprotected);
        h.expect("SYN to 22, IPv6", &syn(OUTSIDER6, OTHER6, 22), XDP_PASS, unprotected);
        h.expect("UDP to 7777, IPv6", &udp(OUTSIDER6, OTHER6, 7777), XDP_PASS, unprotected);
        // The same packets to a protected host meet the policy.
        h.expect("UDP to 7777 on the PBX", &udp(OUTSIDER4, PBX4, 7777), XDP_DROP, ("none", "default", "drop"));
        h.expect("UDP to 7777 on the PBX, IPv6", &udp(OUTSIDER6, PBX6, 7777), XDP_DROP, ("none", "default", "drop"));
        // A /64 in protect covers every address in it.
        h.expect("UDP to 7777 on another protected IPv6 host", &udp(OUTSIDER6, "2001:db8:5::99", 7777), XDP_DROP, ("none", "default", "drop"));
    }
}

bpf_test! {
    fn a_protected_host_no_service_of_the_port_names_meets_the_default_policy(h = POLICY) {
        // SIP serves the PBX only: SIP to the box is no service, and dropped by default.
        h.expect("SIP to the PBX", &udp(OUTSIDER4, PBX4, 5060), XDP_PASS, ("sip", "allowed", "pass"));
        h.expect("SIP to the box", &udp(OUTSIDER4, BOX4, 5060), XDP_DROP, ("none", "default", "drop"));
        h.expect("SIP to the box, IPv6", &udp(OUTSIDER6, BOX6, 5060), XDP_DROP, ("none", "default", "drop"));
        h.expect("SIP over TCP to the PBX, IPv6", &syn(OUTSIDER6, PBX6, 5060), XDP_PASS, ("sip", "allowed", "pass"));
        // A service without `to` serves every protected host.
        h.expect("HTTPS to the box", &syn(OUTSIDER4, BOX4, 443), XDP_PASS, ("https", "allowed", "pass"));
        h.expect("HTTPS to the PBX, IPv6", &syn(OUTSIDER6, PBX6, 443), XDP_PASS, ("https", "allowed", "pass"));
    }
}

bpf_test! {
    fn echo_requests_are_judged_by_the_service_of_their_destination(h = POLICY) {
        h.expect("outsider pings the PBX", &echo(OUTSIDER4, PBX4), XDP_PASS, ("ping-pbx", "allowed", "pass"));
        h.expect("outsider pings the PBX, IPv6", &echo(OUTSIDER6, PBX6), XDP_PASS, ("ping-pbx", "allowed", "pass"));
        h.expect("outsider pings the box", &echo(OUTSIDER4, BOX4), XDP_DROP, ("ping-box", "not_allowed", "drop"));
        h.expect("box admin pings the box", &echo(BOX_ADMIN4, BOX4), XDP_PASS, ("ping-box", "allowed", "pass"));
        // ping-box names only the box's IPv4 address: its IPv6 one has no echo service.
        h.expect("outsider pings the box, IPv6", &echo(OUTSIDER6, BOX6), XDP_DROP, ("none", "default", "drop"));
    }
}

bpf_test! {
    fn without_protect_every_destination_is_judged(h = &POLICY.replace(
        "protect = [\"203.0.113.1\", \"203.0.113.10\", \"2001:db8:5::/64\"]",
        "",
    )) {
        h.expect("SYN to 22 on another host", &syn(OUTSIDER4, OTHER4, 22), XDP_DROP, ("none", "default", "drop"));
        h.expect("UDP to 7777 on another host, IPv6", &udp(OUTSIDER6, OTHER6, 7777), XDP_DROP, ("none", "default", "drop"));
        h.expect("HTTPS to another host", &syn(OUTSIDER4, OTHER4, 443), XDP_PASS, ("https", "allowed", "pass"));
        h.expect("SSH to the PBX", &syn(PBX_ADMIN4, PBX4, 22), XDP_PASS, ("ssh-pbx", "allowed", "pass"));
        assert_eq!(h.count("none", "unprotected", "pass"), 0);
    }
}

bpf_test! {
    fn a_reload_moves_a_destination_from_one_service_to_another(h = POLICY) {
        h.expect("before", &syn(PBX_ADMIN4, BOX4, 22), XDP_DROP, ("ssh-box", "not_allowed", "drop"));
        // The box's SSH is handed to the PBX's admins: the box's address moves to ssh-pbx.
        h.apply(&POLICY.replace(
            "to = [\"203.0.113.1\", \"2001:db8:5::1\"]",
            "to = [\"2001:db8:5::1\"]",
        ).replace(
            "to = [\"203.0.113.10\", \"2001:db8:5::10\"]\n\n[[service]]\nname = \"ping-pbx\"",
            "to = [\"203.0.113.10\", \"203.0.113.1\", \"2001:db8:5::10\"]\n\n[[service]]\nname = \"ping-pbx\"",
        ));
        h.expect("after, IPv4", &syn(PBX_ADMIN4, BOX4, 22), XDP_PASS, ("ssh-pbx", "allowed", "pass"));
        h.expect("after, IPv4, the box's admin", &syn(BOX_ADMIN4, BOX4, 22), XDP_DROP, ("ssh-pbx", "not_allowed", "drop"));
        h.expect("after, IPv6 stays", &syn(BOX_ADMIN6, BOX6, 22), XDP_PASS, ("ssh-box", "allowed", "pass"));
        // And back: nothing of the other epoch's destinations is left.
        h.apply(POLICY);
        h.expect("back", &syn(PBX_ADMIN4, BOX4, 22), XDP_DROP, ("ssh-box", "not_allowed", "drop"));
        h.expect("back, the box's admin", &syn(BOX_ADMIN4, BOX4, 22), XDP_PASS, ("ssh-box", "allowed", "pass"));
    }
}

/// `host` answers `client` with `code` to REGISTER `n` times; every answer leaves.
fn answers(h: &Harness, host: &str, client: &str, code: u16, n: usize) {
    for _ in 0..n {
        assert_eq!(
            h.run_egress(&from_host(host, client, &response(code, "REGISTER", 0))),
            TC_ACT_OK
        );
    }
}

/// `client` sends `host` `n` REGISTERs with credentials (guesses `from..`).
fn guesses(h: &Harness, client: &str, host: &str, from: usize, n: usize) {
    for g in from..from + n {
        let request = frame_to(
            client,
            host,
            Transport::Udp {
                sport: 5060,
                dport: 5060,
            },
            &with_credentials("REGISTER", g),
        );
        assert_eq!(h.run(&request), XDP_PASS);
    }
}

bpf_test! {
    fn the_pbxs_failures_ban_a_guesser_and_other_hosts_answers_are_not_read(h = POLICY) {
        // Guessers with requests to the PBX waiting; then another host behind the box
        // (outside protect), and the box itself on the SIP port it doesn't serve, answer
        // them: their 401s are not the PBX's, and ban nobody.
        for (client, other) in [
            ("198.51.100.21", OTHER4),
            ("2001:db8:77::21", OTHER6),
            ("198.51.100.22", BOX4),
        ] {
            let pbx = if other == OTHER6 { PBX6 } else { PBX4 };
            guesses(&h, client, pbx, 0, 5);
            answers(&h, other, client, 401, 5);
        }
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        // The PBX's, IPv4 and IPv6: at the threshold, each guesser is banned.
        for (client, pbx) in [("198.51.100.23", PBX4), ("2001:db8:77::23", PBX6)] {
            for g in 0..3 {
                guesses(&h, client, pbx, g, 1);
                answers(&h, pbx, client, 401, 1);
            }
        }
        let mut banned: Vec<(String, u32)> = h
            .bans()
            .iter()
            .map(|(net, ban)| (net.to_string(), ban.reason))
            .collect();
        banned.sort();
        assert_eq!(
            banned,
            vec![
                ("198.51.100.23/32".to_owned(), BAN_REASON_AUTH_FAILURES),
                ("2001:db8:77::/64".to_owned(), BAN_REASON_AUTH_FAILURES),
            ]
        );
        h.expect("the guesser to the PBX", &udp("198.51.100.23", PBX4, 5060), XDP_DROP, ("sip", "banned", "drop"));
    }
}
