//! Auto-ban from the wire (BPF_PROG_TEST_RUN on the XDP program, then the TC egress
//! program): the PBX's authentication failures to one client's requests with credentials,
//! with no success between them, ban it. A challenge to a request without credentials is no
//! failure, a retransmission is one attempt, and a client the PBX accepted lately is banned
//! on proven evidence only.
use std::sync::atomic::{AtomicUsize, Ordering};

use sipguard_common::{
    BAN_REASON_AUTH_ATTEMPTS, BAN_REASON_AUTH_FAILURES, BAN_SCOPE_ALL, BAN_SCOPE_SIP,
};
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{from_pbx, response, sip, with_credentials},
};

const TC_ACT_OK: i32 = 0;

const POLICY: &str = include_str!("../policies/autoban.toml");

const GUESSER: &str = "192.0.2.66";
const PHONE: &str = "192.0.2.10";
const TRUNK: &str = "192.0.2.200";

fn register() -> Vec<u8> {
    b"REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 8 REGISTER\r\n\r\n".to_vec()
}

/// The PBX answers `client` with `code` to `method` `n` times, with no request waiting;
/// every answer leaves.
fn answer(h: &Harness, client: &str, code: u16, method: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(
            h.run_egress(&from_pbx(client, &response(code, method, 0))),
            TC_ACT_OK
        );
    }
}

/// `client`'s REGISTER without credentials, challenged (401): the first half of a login.
fn challenge(h: &Harness, client: &str) {
    h.round_trip(
        &sip(client, &register()),
        &from_pbx(client, &response(401, "REGISTER", 0)),
    );
}

/// Guesses so far, so that no two guesses of a test are the same bytes (a copy is a
/// retransmission).
static GUESSES: AtomicUsize = AtomicUsize::new(0);

/// `n` password guesses from `client`: each `method` with credentials reaches the PBX, which
/// answers it with `code`.
fn guess(h: &Harness, client: &str, code: u16, method: &str, n: usize) {
    for _ in 0..n {
        let g = GUESSES.fetch_add(1, Ordering::Relaxed);
        h.round_trip(
            &sip(client, &with_credentials(method, g)),
            &from_pbx(client, &response(code, method, 0)),
        );
    }
}

bpf_test! {
    fn the_failure_at_the_threshold_bans_the_client(h = POLICY) {
        guess(&h, GUESSER, 401, "REGISTER", 2);
        assert!(h.bans().is_empty(), "two failures of three are tolerated");
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_PASS);
        guess(&h, GUESSER, 401, "REGISTER", 1);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
        assert_eq!(bans[0].1.reason, BAN_REASON_AUTH_FAILURES);
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 1);
        assert_eq!(h.evidence("unproven_failure"), 3, "answered over UDP");
    }
}

bpf_test! {
    fn failures_answered_over_udp_ban_from_sip_only_whatever_the_configured_scope(
        h = &POLICY.replace("ban = \"1h\"", "ban = \"1h\"\nscope = \"all\"")
    ) {
        // The answers went to whatever source the requests claimed: a forger's victim.
        guess(&h, GUESSER, 401, "REGISTER", 3);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].1.scope, BAN_SCOPE_SIP);
        assert_ne!(bans[0].1.scope, BAN_SCOPE_ALL);
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 1);
        // Its other traffic meets the policy as before: here, the default drop.
        assert_eq!(h.run(&sipguard_tests::packets::udp(GUESSER, 7777)), XDP_DROP);
        assert_eq!(h.count("none", "default", "drop"), 1);
        assert_eq!(h.count("none", "banned", "drop"), 0);
    }
}

bpf_test! {
    fn challenges_to_requests_without_credentials_are_never_failures(h = POLICY) {
        // Forged credential-less REGISTERs "from" the trunk make the PBX challenge it, again
        // and again: the first half of every digest login, not a wrong password.
        for _ in 0..50 {
            challenge(&h, GUESSER);
        }
        // And challenges with no request seen at all (another interface, a request sipguard
        // never counted).
        answer(&h, GUESSER, 407, "INVITE", 10);
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("challenge"), 60);
        assert_eq!(h.evidence("unproven_failure"), 0);
    }
}

bpf_test! {
    fn each_guess_is_one_failure_however_many_challenges_come_between(h = POLICY) {
        // svcrack's rhythm: a fresh challenge before every guess, then the guess, refused.
        for _ in 0..2 {
            challenge(&h, GUESSER);
            guess(&h, GUESSER, 401, "REGISTER", 1);
        }
        assert!(h.bans().is_empty(), "two wrong passwords, not four failures");
        assert_eq!(h.evidence("challenge"), 2);
        challenge(&h, GUESSER);
        guess(&h, GUESSER, 401, "REGISTER", 1);
        assert_eq!(h.bans().len(), 1, "the third wrong password bans");
    }
}

bpf_test! {
    fn a_success_clears_the_count(h = POLICY) {
        // An honest phone: challenged, then accepted, over and over.
        for _ in 0..10 {
            challenge(&h, PHONE);
            guess(&h, PHONE, 200, "REGISTER", 1);
        }
        // A call: 407, then the INVITE with credentials, 180 and 200.
        for _ in 0..10 {
            answer(&h, PHONE, 407, "INVITE", 1);
            guess(&h, PHONE, 180, "INVITE", 1);
            answer(&h, PHONE, 200, "INVITE", 1);
        }
        // A run of two wrong passwords, then the right one: the count starts again.
        for _ in 0..5 {
            guess(&h, PHONE, 401, "REGISTER", 2);
            guess(&h, PHONE, 200, "REGISTER", 1);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn proxy_auth_and_forbidden_count_as_failures_for_invite(h = POLICY) {
        guess(&h, GUESSER, 407, "INVITE", 2);
        guess(&h, GUESSER, 403, "INVITE", 1);
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn answers_to_other_methods_neither_count_nor_clear(h = POLICY) {
        guess(&h, GUESSER, 401, "REGISTER", 2);
        // An OPTIONS answered 200 must not wipe the guesser's record; a SUBSCRIBE challenged
        // is not a password guess.
        answer(&h, GUESSER, 200, "OPTIONS", 1);
        answer(&h, GUESSER, 401, "SUBSCRIBE", 5);
        assert!(h.bans().is_empty());
        guess(&h, GUESSER, 401, "REGISTER", 1);
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn another_final_answer_takes_its_request_off_the_waiting_ones(h = POLICY) {
        // Calls with credentials that end 404 or 486: answered, so the challenge of the
        // next call (its INVITE had no credentials) is no failure.
        for _ in 0..5 {
            guess(&h, PHONE, 486, "INVITE", 1);
            answer(&h, PHONE, 407, "INVITE", 1);
        }
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("challenge"), 5);
    }
}

bpf_test! {
    fn the_cseq_is_found_far_down_the_headers(h = POLICY) {
        for g in 0..3 {
            let frame = from_pbx(GUESSER, &response(401, "REGISTER", 1000));
            assert!(frame.len() > 1100);
            h.round_trip(&sip(GUESSER, &with_credentials("REGISTER", 1000 + g)), &frame);
        }
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn a_trusted_client_is_never_banned(h = POLICY) {
        guess(&h, TRUNK, 403, "INVITE", 20);
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn monitor_mode_bans_nobody(h = &POLICY.replace(
            "default = \"drop\"",
            "default = \"drop\"\nmode = \"monitor\"",
        )) {
        guess(&h, GUESSER, 401, "REGISTER", 10);
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn disabled_autoban_counts_nothing(h = &POLICY.replace("failures = 3", "enabled = false")) {
        guess(&h, GUESSER, 401, "REGISTER", 10);
        assert!(h.bans().is_empty());
        assert_eq!(h.evidence("unproven_failure"), 0);
    }
}

bpf_test! {
    fn an_ipv6_client_is_banned_with_its_64_and_sip_scope_spares_other_traffic(h = &POLICY.replace("ban = \"1h\"", "ban = \"1h\"\nscope = \"sip\"")) {
        guess(&h, "2001:db8:66::5", 401, "REGISTER", 3);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "2001:db8:66::/64");
        assert_eq!(h.run(&sip("2001:db8:66::77", &register())), XDP_DROP);
    }
}

// Retransmissions: RFC 3261 sends a request up to 11 times in 32 s until it is answered. A
// copy is one attempt, and the PBX's answer to each copy one failure at most.

bpf_test! {
    fn a_retransmitted_request_is_one_attempt_and_its_repeated_answers_one_failure(h = POLICY) {
        let request = sip(PHONE, &with_credentials("REGISTER", 7));
        let refused = from_pbx(PHONE, &response(401, "REGISTER", 0));
        for _ in 0..11 {
            h.round_trip(&request, &refused);
        }
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("retransmission"), 10);
        assert_eq!(h.evidence("unproven_failure"), 1);
        assert_eq!(h.evidence("challenge"), 10, "the copies' answers found nothing waiting");
    }
}

bpf_test! {
    fn a_guess_differs_from_a_copy_wherever_it_differs(h = POLICY) {
        // Same length, same everything but one digit of the digest response: three guesses.
        let mut request = with_credentials("REGISTER", 0x10);
        let refused = from_pbx(GUESSER, &response(401, "REGISTER", 0));
        for last in [b'1', b'2', b'3'] {
            let at = request.windows(2).rposition(|w| w == b"\"\r").unwrap() - 1;
            request[at] = last;
            h.round_trip(&sip(GUESSER, &request), &refused);
        }
        assert_eq!(h.evidence("retransmission"), 0);
        assert_eq!(h.bans().len(), 1, "three guesses, three failures");
    }
}

// A guesser must not hide its credentials from the count: a request whose headers were not
// all read counts as one with credentials, so the PBX's 401 to it is a failure.

bpf_test! {
    fn credentials_past_the_searched_bytes_still_make_the_answer_a_failure(h = POLICY) {
        // 2,500 bytes of padding push Authorization past the 2 KiB search.
        for g in 0..3 {
            let mut request = with_credentials("REGISTER", 500 + g);
            let at = request.windows(7).position(|w| w == b"Call-ID").unwrap();
            let pad = format!("X-Pad: {}\r\n", "p".repeat(2500));
            request.splice(at..at, pad.into_bytes());
            h.round_trip(&sip(GUESSER, &request), &from_pbx(GUESSER, &response(401, "REGISTER", 0)));
        }
        assert_eq!(h.bans().len(), 1, "three hidden guesses, three failures");
    }
}

bpf_test! {
    fn credentials_behind_look_alike_headers_still_make_the_answer_a_failure(h = POLICY) {
        // Proxy-Authenticate (a response header) decoys before the real Authorization: one is
        // looked past, and behind three the request counts as one with credentials anyway.
        for (g, decoys) in [(600, 1), (601, 3), (602, 5)] {
            let mut request = with_credentials("REGISTER", g);
            let at = request.windows(7).position(|w| w == b"Call-ID").unwrap();
            let decoy = "Proxy-Authenticate: Digest realm=\"x\"\r\n".repeat(decoys);
            request.splice(at..at, decoy.into_bytes());
            h.round_trip(&sip(GUESSER, &request), &from_pbx(GUESSER, &response(401, "REGISTER", 0)));
        }
        assert_eq!(h.bans().len(), 1);
        assert_eq!(h.evidence("challenge"), 0);
    }
}

bpf_test! {
    fn a_request_cut_before_its_blank_line_counts_as_one_with_credentials(h = POLICY) {
        // The rest of the headers (and the credentials) in a later fragment or segment.
        let cut = b"REGISTER sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66;branch=z9hG4bK-c\r\n\
                    CSeq: 1 REGISTER\r\nX-Filler: 0123456789012345678901234567890123456789\r\n";
        for g in 0..3u8 {
            let mut request = cut.to_vec();
            request.push(b'a' + g);
            h.round_trip(&sip(GUESSER, &request), &from_pbx(GUESSER, &response(401, "REGISTER", 0)));
        }
        assert_eq!(h.bans().len(), 1);
    }
}

// The second signal: requests carrying credentials, counted by the XDP program, cleared by
// the PBX's 2xx (INVITE: or 18x) on the egress side.

const ATTEMPTS: &str = include_str!("../policies/autoban_attempts.toml");

/// A REGISTER with `header` (`Authorization: Digest ...` or anything else) after `pad`
/// bytes of other headers.
fn register_with(header: &str, pad: usize) -> Vec<u8> {
    format!(
        "REGISTER sip:192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK1\r\n\
         X-Pad: {}\r\nCSeq: 9 REGISTER\r\n{header}\r\nContent-Length: 0\r\n\r\n",
        "p".repeat(pad)
    )
    .into_bytes()
}

/// The `Authorization` header of password guess `guess` (guesses differ in `response=`; a
/// request sent again with the same one is a retransmission).
fn digest(guess: usize) -> String {
    format!(
        "Authorization: Digest username=\"1001\", realm=\"pbx\", nonce=\"abc\", \
         uri=\"sip:192.0.2.1\", response=\"{guess:032x}\""
    )
}

fn invite_with(header: &str) -> Vec<u8> {
    format!(
        "INVITE sip:1002@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.66:5060;branch=z9hG4bK2\r\n\
         CSeq: 2 INVITE\r\n{header}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

bpf_test! {
    fn requests_with_credentials_and_no_success_ban_the_source(h = ATTEMPTS) {
        for i in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(&digest(i), 0))), XDP_PASS);
        }
        assert!(
            h.bans().is_empty(),
            "three unanswered attempts are tolerated"
        );
        // The fourth is dropped itself, and bans its source.
        assert_eq!(h.run(&sip(GUESSER, &register_with(&digest(3), 0))), XDP_DROP);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(bans[0].0.to_string(), "192.0.2.66/32");
        assert_eq!(bans[0].1.reason, BAN_REASON_AUTH_ATTEMPTS);
        assert_eq!(bans[0].1.scope, BAN_SCOPE_SIP, "requests prove nothing of their source");
        assert_eq!(h.run(&sip(GUESSER, &register())), XDP_DROP);
        assert_eq!(h.count("sip", "banned", "drop"), 2);
        assert_eq!(h.ban_count("auth_attempts"), 1);
    }
}

bpf_test! {
    fn a_success_clears_the_attempts(h = ATTEMPTS) {
        // An honest phone registering again and again, each time accepted.
        for i in 0..10 {
            assert_eq!(h.run(&sip(PHONE, &register_with(&digest(i), 0))), XDP_PASS);
            answer(&h, PHONE, 200, "REGISTER", 1);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn ringing_clears_an_invites_attempts(h = ATTEMPTS) {
        // Calls that ring but are never answered (no 2xx): the credentials passed.
        for i in 0..10 {
            let proxy_auth = digest(i).replace("Authorization", "Proxy-Authorization");
            assert_eq!(h.run(&sip(PHONE, &invite_with(&proxy_auth))), XDP_PASS);
            answer(&h, PHONE, 180, "INVITE", 1);
            answer(&h, PHONE, 487, "INVITE", 1);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn proxy_authorization_in_any_case_counts(h = ATTEMPTS) {
        let header = |i: usize| digest(i).replace("Authorization", "pRoXy-AUTHORIZATION");
        for i in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &invite_with(&header(i)))), XDP_PASS);
        }
        assert_eq!(h.run(&sip(GUESSER, &invite_with(&header(3)))), XDP_DROP);
        assert_eq!(h.bans().len(), 1);
    }
}

bpf_test! {
    fn credentials_far_down_the_headers_count(h = ATTEMPTS) {
        let packet = |i: usize| register_with(&digest(i), 1200);
        for i in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &packet(i))), XDP_PASS);
        }
        assert_eq!(h.run(&sip(GUESSER, &packet(3))), XDP_DROP);
    }
}

bpf_test! {
    fn requests_without_credentials_are_not_attempts(h = ATTEMPTS) {
        // No credentials, a look-alike name (Proxy-Authenticate is a response header), and an
        // Authorization header in the body after the blank line.
        let body = "REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 9 REGISTER\r\nContent-Length: 40\r\n\r\n\
                    Authorization: Digest username=\"1001\"\r\n";
        for _ in 0..5 {
            assert_eq!(
                h.run(&sip(GUESSER, &register_with("X-Note: 1", 0))),
                XDP_PASS
            );
            assert_eq!(
                h.run(&sip(
                    GUESSER,
                    &register_with("Proxy-Authenticate: Digest", 0)
                )),
                XDP_PASS
            );
            assert_eq!(h.run(&sip(GUESSER, body.as_bytes())), XDP_PASS);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn attempts_of_a_trusted_source_never_ban(h = ATTEMPTS) {
        for i in 0..10 {
            assert_eq!(h.run(&sip(TRUNK, &register_with(&digest(i), 0))), XDP_PASS);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn zero_attempts_turns_the_ban_on_them_off(h = &ATTEMPTS.replace("attempts = 3", "attempts = 0")) {
        for i in 0..10 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(&digest(i), 0))), XDP_PASS);
        }
        assert!(h.bans().is_empty());
    }
}

bpf_test! {
    fn attempts_in_monitor_mode_are_would_drop_and_ban_nobody(h = &ATTEMPTS.replace("sip = true", "sip = true\nmode = \"monitor\"")) {
        for i in 0..5 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(&digest(i), 0))), XDP_PASS);
        }
        assert!(h.bans().is_empty());
        assert_eq!(h.count("sip", "banned", "would_drop"), 1);
    }
}

bpf_test! {
    fn an_attempts_ban_takes_the_waiting_requests_with_it(h = &ATTEMPTS.replace("failures = 100", "failures = 2")) {
        // A pipelined guesser: four requests with credentials go out before any answer.
        for i in 0..3 {
            assert_eq!(h.run(&sip(GUESSER, &register_with(&digest(i), 0))), XDP_PASS);
        }
        assert_eq!(h.run(&sip(GUESSER, &register_with(&digest(3), 0))), XDP_DROP);
        // Then the PBX's answers to the three that got through: the ban took their count
        // with it, so they make no second ban (nor a second event).
        answer(&h, GUESSER, 401, "REGISTER", 3);
        let bans = h.bans();
        assert_eq!(bans.len(), 1, "{bans:?}");
        assert_eq!(
            bans[0].1.reason, BAN_REASON_AUTH_ATTEMPTS,
            "the first verdict stands"
        );
        assert_eq!(h.ban_count("auth_attempts"), 1);
        assert_eq!(h.ban_count("auth_failures"), 0, "one ban, one event");
    }
}

bpf_test! {
    fn a_phone_retransmitting_one_register_through_a_silent_pbx_is_not_banned(h = ATTEMPTS) {
        // RFC 3261's 11 copies in 32 s, never answered: one attempt.
        let request = sip(PHONE, &register_with(&digest(1), 0));
        for _ in 0..11 {
            assert_eq!(h.run(&request), XDP_PASS);
        }
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("retransmission"), 10);
        // Its next, different requests count from one.
        for i in 2..4 {
            assert_eq!(h.run(&sip(PHONE, &register_with(&digest(i), 0))), XDP_PASS);
        }
        assert_eq!(h.run(&sip(PHONE, &register_with(&digest(4), 0))), XDP_DROP);
    }
}
