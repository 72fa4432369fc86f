//! Failures per (source, SIP user) (BPF_PROG_TEST_RUN on the XDP program, then the TC egress
//! program): one user's failures ban at `failures`, failures naming `users` users ban as an
//! enumeration, a login clears its own user's run only, and a `stale=true` challenge is no
//! failure. The user is the user part of the `From` URI the PBX copies into its answer.
use std::sync::atomic::{AtomicUsize, Ordering};

use sipguard_common::{BAN_REASON_AUTH_ENUMERATION, BAN_REASON_AUTH_FAILURES, BAN_SCOPE_SIP};
use sipguard_tests::{
    bpf_test,
    harness::{Harness, XDP_DROP, XDP_PASS},
    packets::{answer_for, from_pbx, response_for_user, sip, with_credentials},
};

/// `[autoban] failures = 3`, `users` at its default (10).
const POLICY: &str = include_str!("../policies/autoban.toml");

/// [`POLICY`] with learned trust off: these answers go over UDP to requests with made-up
/// nonces (unproven), and a login would otherwise spare its address from any ban on them
/// (`learned_trust.rs`); here the tallies themselves are under test.
fn untrusting(extra: &str) -> String {
    POLICY.replace(
        "failures = 3",
        &format!("failures = 3\nlearned_trust = \"0s\"\n{extra}"),
    )
}

/// One office NAT address: several phones, each its own SIP user.
const OFFICE: &str = "192.0.2.50";
const GUESSER: &str = "192.0.2.66";

/// Requests so far, so that no two of a test are the same bytes (a copy is a retransmission).
static REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// A request with credentials from `client` reaches the PBX, which answers `answer`.
fn exchange(h: &Harness, client: &str, answer: &[u8]) {
    let g = REQUESTS.fetch_add(1, Ordering::Relaxed);
    h.round_trip(
        &sip(client, &with_credentials("REGISTER", g)),
        &from_pbx(client, answer),
    );
}

/// `n` REGISTERs with credentials of `user` from `client`, each answered `code`.
fn login(h: &Harness, client: &str, user: &str, code: u16, n: usize) {
    for _ in 0..n {
        exchange(h, client, &response_for_user(code, "REGISTER", user));
    }
}

fn banned(h: &Harness, client: &str) -> Option<sipguard_common::Ban> {
    h.bans()
        .into_iter()
        .find(|(net, _)| net.addr().to_string() == client)
        .map(|(_, b)| b)
}

bpf_test! {
    fn failures_of_different_users_behind_one_address_do_not_add_up(h = POLICY) {
        // Six phones of one office, each refused once (a stale password cache after a
        // provisioning change), and one of them twice: eight failures from one address,
        // at most two for any user.
        for phone in 2001..2007 {
            login(&h, OFFICE, &phone.to_string(), 401, 1);
        }
        login(&h, OFFICE, "2003", 401, 1);
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.run(&sip(OFFICE, &with_credentials("REGISTER", 9999))), XDP_PASS);
        assert_eq!(h.evidence("unproven_failure"), 7);
    }
}

bpf_test! {
    fn one_users_failures_ban_however_many_neighbours_log_in_between(h = &untrusting("")) {
        // The office's other phones keep logging in; the bad phone's run goes on regardless.
        for _ in 0..2 {
            login(&h, OFFICE, "2001", 401, 1);
            for phone in 2002..2007 {
                login(&h, OFFICE, &phone.to_string(), 200, 1);
            }
        }
        assert!(h.bans().is_empty(), "two failures of three are tolerated");
        login(&h, OFFICE, "2001", 401, 1);
        let ban = banned(&h, OFFICE).expect("the third failure of one user bans");
        assert_eq!(ban.reason, BAN_REASON_AUTH_FAILURES);
        assert_eq!(ban.scope, BAN_SCOPE_SIP, "answered over UDP: unproven");
    }
}

bpf_test! {
    fn a_guesser_with_one_valid_account_cannot_clear_the_runs_it_guesses(h = &untrusting("")) {
        // Its own extension logs in between every guess at 1002's password.
        for _ in 0..2 {
            login(&h, GUESSER, "1002", 401, 1);
            login(&h, GUESSER, "1001", 200, 1);
        }
        assert!(h.bans().is_empty());
        login(&h, GUESSER, "1002", 401, 1);
        assert_eq!(banned(&h, GUESSER).map(|b| b.reason), Some(BAN_REASON_AUTH_FAILURES));
    }
}

bpf_test! {
    fn a_guesser_rotating_extensions_is_banned_for_enumeration(h = POLICY) {
        // One guess at each of 50 extensions (svcrack over an extension range, one common
        // password): never two failures for one user.
        let mut dropped_at = None;
        for (i, ext) in (100..150).enumerate() {
            let g = REQUESTS.fetch_add(1, Ordering::Relaxed);
            let verdict = h.run(&sip(GUESSER, &with_credentials("REGISTER", g)));
            if verdict == XDP_DROP {
                dropped_at = Some(i);
                break;
            }
            assert_eq!(verdict, XDP_PASS);
            h.run_egress(&from_pbx(GUESSER, &response_for_user(401, "REGISTER", &ext.to_string())));
        }
        assert_eq!(dropped_at, Some(10), "the tenth user's failure bans; the next guess is dropped");
        let ban = banned(&h, GUESSER).expect("banned");
        assert_eq!(ban.reason, BAN_REASON_AUTH_ENUMERATION);
        assert_eq!(h.ban_count("auth_enumeration"), 1);
        assert_eq!(h.ban_count("auth_failures"), 0);
    }
}

bpf_test! {
    fn a_login_takes_its_user_out_of_the_enumeration_count(h = &untrusting("users = 4")) {
        for user in ["a", "b", "c"] {
            login(&h, OFFICE, user, 401, 1);
        }
        // `a` gets its password right: three users, not four, when `d` fails.
        login(&h, OFFICE, "a", 200, 1);
        login(&h, OFFICE, "d", 401, 1);
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        login(&h, OFFICE, "e", 401, 1);
        assert_eq!(banned(&h, OFFICE).map(|b| b.reason), Some(BAN_REASON_AUTH_ENUMERATION));
    }
}

bpf_test! {
    fn zero_users_turns_the_enumeration_ban_off(h = &POLICY.replace("failures = 3", "failures = 3\nusers = 0")) {
        for ext in 100..150 {
            login(&h, GUESSER, &ext.to_string(), 401, 1);
        }
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        login(&h, GUESSER, "100", 401, 2);
        assert_eq!(banned(&h, GUESSER).map(|b| b.reason), Some(BAN_REASON_AUTH_FAILURES));
    }
}

bpf_test! {
    fn every_form_of_a_from_header_names_its_uris_user(h = POLICY) {
        // The long and the compact name, any case, a display name with a colon and an @ in
        // quotes, sips: and a URI parameter: all user 1001, so three failures of one user.
        let forms = [
            "From: \"Desk: 1001\" <sip:1001@192.0.2.1;transport=udp>",
            "f: <sips:1001@192.0.2.1>",
            "FROM :   \"a@b\" <sip:1001@192.0.2.1>",
        ];
        for (i, form) in forms.iter().enumerate() {
            let (name, value) = form.split_once(':').unwrap();
            let answer = String::from_utf8(answer_for(401, "REGISTER", "X", "nonce=\"abc\"", 0))
                .unwrap()
                .replace("From: X", &format!("{name}:{value}"));
            exchange(&h, GUESSER, answer.as_bytes());
            if i < 2 {
                assert!(h.bans().is_empty(), "{form}: {:?}", h.bans());
            }
        }
        assert_eq!(banned(&h, GUESSER).map(|b| b.reason), Some(BAN_REASON_AUTH_FAILURES));
    }
}

bpf_test! {
    fn a_from_uri_without_a_user_is_one_user(h = POLICY) {
        for host in ["192.0.2.1", "pbx.example.com", "[2001:db8::1]"] {
            exchange(&h, GUESSER, &answer_for(401, "REGISTER", &format!("<sip:{host}>"), "nonce=\"abc\"", 0));
        }
        assert_eq!(banned(&h, GUESSER).map(|b| b.reason), Some(BAN_REASON_AUTH_FAILURES));
    }
}

bpf_test! {
    fn a_stale_challenge_to_credentials_is_no_failure(h = POLICY) {
        // The PBX restarted (or its nonces expired): every phone's next REGISTER echoes a
        // nonce it no longer knows, and is challenged again with stale=true, in the forms
        // PBXs write it.
        for stale in ["stale=true", "stale=TRUE", "stale=\"true\"", "Stale=True"] {
            for phone in 2001..2011 {
                let from = format!("<sip:{phone}@192.0.2.1>");
                let challenge = format!("nonce=\"fresh{phone}\", {stale}, qop=\"auth\"");
                exchange(&h, OFFICE, &answer_for(401, "REGISTER", &from, &challenge, 0));
            }
        }
        // A base64 nonce's padding puts three `=` within eight bytes of the flag.
        let padded = "nonce=\"Zm9vYg==\",stale=true";
        exchange(&h, OFFICE, &answer_for(401, "REGISTER", "<sip:2001@192.0.2.1>", padded, 0));
        assert!(h.bans().is_empty(), "{:?}", h.bans());
        assert_eq!(h.evidence("stale"), 41);
        assert_eq!(h.evidence("unproven_failure"), 0);
    }
}

bpf_test! {
    fn stale_false_and_stale_in_copied_headers_are_failures(h = POLICY) {
        // `stale=false` refuses the password; `stale=true` in a header the requester wrote
        // (the From, copied) is the requester's word, not the PBX's.
        exchange(&h, GUESSER, &answer_for(401, "REGISTER", "<sip:1001@192.0.2.1>", "nonce=\"n\", stale=false", 0));
        exchange(&h, GUESSER, &answer_for(401, "REGISTER", "\"stale=true\" <sip:1001@192.0.2.1>", "nonce=\"n\"", 0));
        exchange(&h, GUESSER, &answer_for(401, "REGISTER", "<sip:1001@192.0.2.1;stale=true>", "nonce=\"n\"", 0));
        assert_eq!(h.evidence("stale"), 0);
        assert_eq!(banned(&h, GUESSER).map(|b| b.reason), Some(BAN_REASON_AUTH_FAILURES));
    }
}
