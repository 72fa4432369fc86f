//! Learned trust (BPF_PROG_TEST_RUN on the XDP and egress programs): a source the PBX
//! accepted lately (a 2xx, or an 18x to an INVITE, answering its credentials) is banned on
//! proven evidence only. Failures answered over UDP, unanswered requests with credentials and
//! scanner User-Agents are what a forger writes under the trunk's address; answers over TCP
//! went to whoever completed the handshake.
use sipguard_common::{BAN_REASON_AUTH_FAILURES, BAN_SCOPE_ALL, BAN_SCOPE_SIP};
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{frame, from_pbx, from_pbx_tcp, response, sip, with_credentials, Transport},
};

const POLICY: &str = include_str!("../policies/learned_trust.toml");

/// A registration-based trunk (a branch office PBX, a provider): not in any trusted list.
const TRUNK: &str = "192.0.2.20";
const STRANGER: &str = "192.0.2.66";

/// `src` logs in: its REGISTER with credentials is answered 200.
fn log_in(h: &Harness, src: &str) {
    h.round_trip(
        &sip(src, &with_credentials("REGISTER", 1)),
        &from_pbx(src, &response(200, "REGISTER", 0)),
    );
}

/// `n` requests with credentials "from" `src` (guesses 100.., as a forger sends them), each
/// refused by the PBX over UDP.
fn refused_over_udp(h: &Harness, src: &str, n: usize) {
    for g in 100..100 + n {
        h.round_trip(
            &sip(src, &with_credentials("REGISTER", g)),
            &from_pbx(src, &response(401, "REGISTER", 0)),
        );
    }
}

/// An OPTIONS (a keep-alive, its own rate class) with `user_agent`.
fn options(user_agent: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:192.0.2.1 SIP/2.0\r\nCSeq: 1 OPTIONS\r\nUser-Agent: {user_agent}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn honest_register() -> Vec<u8> {
    b"REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 2 REGISTER\r\nUser-Agent: Yealink SIP-T46S\r\n\
      Content-Length: 0\r\n\r\n"
        .to_vec()
}

bpf_test! {
    fn failures_answered_over_udp_never_ban_a_source_the_pbx_accepted_lately(h = POLICY) {
        log_in(&h, TRUNK);
        refused_over_udp(&h, TRUNK, 10);
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("unproven_failure"), 10);
        assert_eq!(h.evidence("spared"), 3, "at the 3rd, 6th and 9th failure");
        assert_eq!(h.run(&sip(TRUNK, &honest_register())), XDP_PASS);
        // A stranger with the same evidence is banned, from SIP only.
        refused_over_udp(&h, STRANGER, 3);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
        assert_eq!(bans[0].1.scope, BAN_SCOPE_SIP);
    }
}

bpf_test! {
    fn failures_answered_over_tcp_still_ban_it(h = POLICY) {
        log_in(&h, TRUNK);
        for g in 0..3 {
            h.round_trip(
                &frame(TRUNK, Transport::TcpAck { dport: 5060 }, &with_credentials("REGISTER", 200 + g)),
                &from_pbx_tcp(TRUNK, &response(401, "REGISTER", 0)),
            );
        }
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].1.reason, BAN_REASON_AUTH_FAILURES);
        assert_eq!(bans[0].1.scope, BAN_SCOPE_ALL, "proven: the configured scope");
        assert_eq!(h.evidence("spared"), 0);
    }
}

bpf_test! {
    fn a_success_to_a_request_without_credentials_teaches_no_trust(h = POLICY) {
        // An IP-authenticated request answered 200: anyone could have sent it.
        h.round_trip(
            &sip(TRUNK, &honest_register()),
            &from_pbx(TRUNK, &response(200, "REGISTER", 0)),
        );
        refused_over_udp(&h, TRUNK, 3);
        assert_eq!(h.bans().len(), 1, "banned as a stranger would be");
    }
}

bpf_test! {
    fn ringing_after_an_invite_with_credentials_teaches_trust(h = POLICY) {
        h.round_trip(
            &sip(TRUNK, &with_credentials("INVITE", 1)),
            &from_pbx(TRUNK, &response(180, "INVITE", 0)),
        );
        refused_over_udp(&h, TRUNK, 3);
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("spared"), 1);
    }
}

bpf_test! {
    fn unanswered_credentials_from_a_source_the_pbx_accepted_are_dropped_not_banned(h = POLICY) {
        log_in(&h, TRUNK);
        // Forged requests with made-up credentials that the PBX never answers: past the
        // five tolerated, each is dropped as over its budget, and nobody is banned.
        for g in 0..5 {
            assert_eq!(h.run(&sip(TRUNK, &with_credentials("REGISTER", 300 + g))), XDP_PASS);
        }
        assert_eq!(h.run(&sip(TRUNK, &with_credentials("REGISTER", 305))), XDP_DROP);
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("spared"), 1);
        assert_eq!(h.count("sip", "rate_limited", "drop"), 1);
        assert_eq!(h.count("sip", "banned", "drop"), 0);
        // The count started again: the trunk's own next login passes.
        assert_eq!(h.run(&sip(TRUNK, &with_credentials("REGISTER", 1))), XDP_PASS);
    }
}

bpf_test! {
    fn a_forged_scanner_user_agent_does_not_silence_a_source_the_pbx_accepted(h = POLICY) {
        log_in(&h, TRUNK);
        // The forged packet itself is dropped, and bans nobody.
        assert_eq!(h.run(&sip(TRUNK, &options("friendly-scanner"))), XDP_DROP);
        assert_eq!(h.count("sip", "scanner", "drop"), 1);
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("spared"), 1);
        // The trunk's own next request is read on its own, not judged by the verdict
        // remembered for the hour.
        assert_eq!(h.run(&sip(TRUNK, &options("Asterisk PBX 20.5.0"))), XDP_PASS);
        assert_eq!(h.run(&sip(TRUNK, &options("Asterisk PBX 20.5.0"))), XDP_PASS);
        assert_eq!(h.count("sip", "scanner", "drop"), 1);
        // A stranger caught once is banned (from SIP).
        assert_eq!(h.run(&sip(STRANGER, &options("friendly-scanner"))), XDP_DROP);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
    }
}

bpf_test! {
    fn a_scanner_verdict_is_remembered_for_a_stranger(h = &POLICY.replace("[scanners]\nban = \"1h\"\n", "[scanners]\n")) {
        // Without a ban, the remembered verdict is what stops the stranger's next request.
        assert_eq!(h.run(&sip(STRANGER, &options("friendly-scanner"))), XDP_DROP);
        assert_eq!(h.run(&sip(STRANGER, &options("Asterisk PBX 20.5.0"))), XDP_DROP);
        assert_eq!(h.count("sip", "scanner", "drop"), 2);
    }
}

bpf_test! {
    fn zero_learned_trust_remembers_nobody(h = &POLICY.replace("learned_trust = \"2h\"", "learned_trust = \"0s\"")) {
        log_in(&h, TRUNK);
        refused_over_udp(&h, TRUNK, 3);
        assert_eq!(h.bans().len(), 1);
        assert_eq!(h.evidence("spared"), 0);
    }
}
