//! SIP classification in the XDP program (BPF_PROG_TEST_RUN): UDP datagrams to a service
//! with `sip = true` are counted by class and verdict, next to the verdict counters.
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{self, frame, register, sip, Transport},
    policies::CRAFTED,
};

const ALLOWED4: &str = "192.0.2.10";
const OUTSIDER4: &str = "192.0.2.200";
const ALLOWED6: &str = "2001:db8:1::10";

/// Runs `frame` and asserts the action and that exactly it was counted as (class, verdict)
/// of service "sip".
fn expect_class(h: &Harness, frame: &[u8], action: u32, class: &str, verdict: &str) {
    let before = h.sip_count("sip", class, verdict);
    let total = h.sip_total();
    assert_eq!(h.run(frame), action, "action for {class}/{verdict}");
    assert_eq!(
        h.sip_count("sip", class, verdict),
        before + 1,
        "{class}/{verdict}: {:?}",
        h.loaded.maps.sip_counters().unwrap()
    );
    assert_eq!(h.sip_total(), total + 1, "exactly one SIP counter moved");
}

bpf_test! {
    fn double_and_single_crlf_are_keepalives(h = CRAFTED) {
        expect_class(
            &h,
            &sip(ALLOWED4, b"\r\n\r\n"),
            XDP_PASS,
            "keepalive",
            "pass",
        );
        expect_class(&h, &sip(ALLOWED4, b"\r\n"), XDP_PASS, "keepalive", "pass");
    }
}

bpf_test! {
    fn keepalive_in_a_padded_minimum_frame_is_still_a_keepalive(h = CRAFTED) {
        // 14 + 20 + 8 + 4 = 46 bytes: a NIC pads to 60 with zeros after the UDP payload
        let mut f = sip(ALLOWED4, b"\r\n\r\n");
        f.resize(60, 0);
        expect_class(&h, &f, XDP_PASS, "keepalive", "pass");
    }
}

bpf_test! {
    fn status_line_is_a_response(h = CRAFTED) {
        let reply = sip(ALLOWED4, b"SIP/2.0 401 Unauthorized\r\nVia: x\r\n\r\n");
        expect_class(&h, &reply, XDP_PASS, "response", "pass");
    }
}

bpf_test! {
    fn register_invite_and_options_have_their_own_class(h = CRAFTED) {
        expect_class(
            &h,
            &sip(ALLOWED4, &register(0)),
            XDP_PASS,
            "register",
            "pass",
        );
        let invite = sip(ALLOWED4, b"INVITE sip:100@pbx SIP/2.0\r\n\r\n");
        expect_class(&h, &invite, XDP_PASS, "invite", "pass");
        let options = sip(ALLOWED6, b"OPTIONS sip:100@pbx SIP/2.0\r\n\r\n");
        expect_class(&h, &options, XDP_PASS, "options", "pass");
    }
}

bpf_test! {
    fn other_methods_are_other_requests(h = CRAFTED) {
        for m in ["SUBSCRIBE", "NOTIFY", "MESSAGE", "BYE"] {
            let f = sip(
                ALLOWED4,
                format!("{m} sip:100@pbx SIP/2.0\r\n\r\n").as_bytes(),
            );
            expect_class(&h, &f, XDP_PASS, "other_request", "pass");
        }
    }
}

bpf_test! {
    fn wrong_case_method_is_garbage_not_register(h = CRAFTED) {
        let f = sip(ALLOWED4, b"register sip:pbx SIP/2.0\r\n\r\n");
        expect_class(&h, &f, XDP_PASS, "garbage", "pass");
    }
}

bpf_test! {
    fn truncated_request_line_is_garbage(h = CRAFTED) {
        expect_class(&h, &sip(ALLOWED4, b"REGISTER"), XDP_PASS, "garbage", "pass");
        expect_class(&h, &sip(ALLOWED4, b"REGIS"), XDP_PASS, "garbage", "pass");
    }
}

bpf_test! {
    fn binary_payload_is_garbage(h = CRAFTED) {
        let tls_hello = sip(
            ALLOWED4,
            &[0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1],
        );
        expect_class(&h, &tls_hello, XDP_PASS, "garbage", "pass");
    }
}

bpf_test! {
    fn a_1400_byte_register_is_a_register(h = CRAFTED) {
        let f = sip(ALLOWED4, &register(1300));
        assert!(f.len() > 1400);
        expect_class(&h, &f, XDP_PASS, "register", "pass");
    }
}

bpf_test! {
    fn payload_is_found_behind_vlan_tags_and_ipv6_extension_headers(h = CRAFTED) {
        let f = packets::with_vlan_tags(
            &packets::with_ipv6_ext(&sip(ALLOWED6, &register(0)), &[0, 60], 0),
            2,
        );
        expect_class(&h, &f, XDP_PASS, "register", "pass");
    }
}

bpf_test! {
    fn the_class_is_counted_with_the_verdict_of_the_packet(h = CRAFTED) {
        expect_class(
            &h,
            &sip(OUTSIDER4, &register(0)),
            XDP_DROP,
            "register",
            "drop",
        );
        assert_eq!(h.count("sip", "not_allowed", "drop"), 1);
    }
}

bpf_test! {
    fn services_without_sip_are_not_classified(h = CRAFTED) {
        let rtp = frame(
            ALLOWED4,
            Transport::Udp {
                sport: 5060,
                dport: 15000,
            },
            b"REGISTER sip:pbx SIP/2.0\r\n\r\n",
        );
        assert_eq!(h.run(&rtp), XDP_PASS);
        assert_eq!(h.sip_total(), 0);
        // nor is SIP over TCP (a stream, no datagram boundaries)
        let syn = frame(ALLOWED4, Transport::TcpSyn { dport: 5060 }, &[]);
        assert_eq!(h.run(&syn), XDP_PASS);
        assert_eq!(h.sip_total(), 0);
    }
}
