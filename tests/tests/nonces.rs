//! Nonce binding (BPF_PROG_TEST_RUN on the egress and XDP programs): the egress program
//! records each challenge's nonce with the address it went to; a failure answered over UDP to
//! a request echoing a nonce the PBX sent to that address alone is proven evidence, and bans
//! with the configured scope, even a source the PBX accepted lately. A made-up nonce, one sent
//! to another address, or one sent to two addresses (Kamailio's default nonce, the same for
//! every client in a second) proves nothing.
use sipguard_common::{BAN_SCOPE_ALL, BAN_SCOPE_SIP};
use sipguard_tests::{
    bpf_test,
    harness::Harness,
    packets::{challenge_with, from_pbx, response, sip, with_credentials, with_nonce},
};

/// Auto-ban on three failures, scope `all`, learned trust on.
const POLICY: &str = include_str!("../policies/learned_trust.toml");

const GUESSER: &str = "192.0.2.66";
const TRUNK: &str = "192.0.2.20";
const OTHER: &str = "192.0.2.30";

/// The PBX challenges `client` with `nonce` (a 401 to a REGISTER without credentials).
fn challenged(h: &Harness, client: &str, nonce: &str) {
    h.round_trip(
        &sip(
            client,
            b"REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n",
        ),
        &from_pbx(client, &challenge_with(401, "REGISTER", 0, nonce)),
    );
}

/// `n` guesses from `src` echoing `nonce`, each refused with a fresh challenge of the same
/// nonce (Kamailio within one second).
fn guesses_with(h: &Harness, src: &str, nonce: &str, first: usize, n: usize) {
    for g in first..first + n {
        h.round_trip(
            &sip(src, &with_nonce("REGISTER", g, nonce)),
            &from_pbx(src, &challenge_with(401, "REGISTER", 0, nonce)),
        );
    }
}

fn scope_of(h: &Harness, net: &str) -> Option<u32> {
    h.bans()
        .iter()
        .find(|(n, _)| n.to_string() == net)
        .map(|(_, b)| b.scope)
}

bpf_test! {
    fn failures_echoing_the_nonce_sent_to_that_address_are_proven_and_ban_with_the_configured_scope(h = POLICY) {
        challenged(&h, GUESSER, "n-guesser");
        guesses_with(&h, GUESSER, "n-guesser", 0, 3);
        assert_eq!(scope_of(&h, "192.0.2.66/32"), Some(BAN_SCOPE_ALL));
        assert_eq!(h.evidence("nonce_proven"), 3);
        assert_eq!(h.evidence("unproven_failure"), 0);
    }
}

bpf_test! {
    fn a_made_up_nonce_proves_nothing(h = POLICY) {
        challenged(&h, GUESSER, "n-guesser");
        for g in 0..3 {
            h.round_trip(
                &sip(GUESSER, &with_credentials("REGISTER", g)),
                &from_pbx(GUESSER, &response(401, "REGISTER", 0)),
            );
        }
        assert_eq!(scope_of(&h, "192.0.2.66/32"), Some(BAN_SCOPE_SIP));
        assert_eq!(h.evidence("nonce_proven"), 0);
        assert_eq!(h.evidence("unproven_failure"), 3);
    }
}

bpf_test! {
    fn a_nonce_sent_to_another_address_proves_nothing_for_a_forged_source(h = POLICY) {
        // The forger asks for its own challenge, then writes its victim's address with the
        // nonce it got.
        challenged(&h, GUESSER, "n-forger");
        for g in 0..3 {
            h.round_trip(
                &sip(OTHER, &with_nonce("REGISTER", g, "n-forger")),
                &from_pbx(OTHER, &challenge_with(401, "REGISTER", 0, &format!("n-other-{g}"))),
            );
        }
        assert_eq!(scope_of(&h, "192.0.2.30/32"), Some(BAN_SCOPE_SIP));
        assert_eq!(h.evidence("nonce_proven"), 0);
    }
}

bpf_test! {
    fn a_nonce_sent_to_two_addresses_proves_nothing_for_either(h = POLICY) {
        // Kamailio's default nonce: the same for every client challenged in one second.
        challenged(&h, GUESSER, "n-shared");
        challenged(&h, OTHER, "n-shared");
        assert_eq!(h.evidence("shared_nonce"), 1);
        guesses_with(&h, GUESSER, "n-shared", 0, 3);
        assert_eq!(scope_of(&h, "192.0.2.66/32"), Some(BAN_SCOPE_SIP));
        assert_eq!(h.evidence("nonce_proven"), 0);
    }
}

bpf_test! {
    fn proven_failures_ban_a_source_the_pbx_accepted_lately(h = POLICY) {
        // The trunk logs in, then (its password changed under it, or a guesser on its own
        // address) fails with the nonces it was sent: its own evidence, proven.
        h.round_trip(
            &sip(TRUNK, &with_credentials("REGISTER", 1)),
            &from_pbx(TRUNK, &response(200, "REGISTER", 0)),
        );
        challenged(&h, TRUNK, "n-trunk");
        guesses_with(&h, TRUNK, "n-trunk", 10, 3);
        assert_eq!(scope_of(&h, "192.0.2.20/32"), Some(BAN_SCOPE_ALL));
        assert_eq!(h.evidence("spared"), 0);
    }
}

bpf_test! {
    fn a_nonce_written_into_a_copied_header_is_not_recorded(h = POLICY) {
        // The forger puts `nonce="..."` into its Call-ID "from" the victim; the PBX copies it
        // into its 401 above its own WWW-Authenticate. Only that line is read.
        let request = b"REGISTER sip:192.0.2.1 SIP/2.0\r\nCSeq: 1 REGISTER\r\n\r\n";
        let answer = String::from_utf8(challenge_with(401, "REGISTER", 0, "n-real"))
            .unwrap()
            .replace("Call-ID: 42@192.0.2.66", "Call-ID: x, nonce=\"n-evil\"");
        h.round_trip(&sip(OTHER, request), &from_pbx(OTHER, answer.as_bytes()));
        for g in 0..3 {
            h.round_trip(
                &sip(OTHER, &with_nonce("REGISTER", g, "n-evil")),
                &from_pbx(OTHER, &challenge_with(401, "REGISTER", 0, "n-real")),
            );
        }
        assert_eq!(scope_of(&h, "192.0.2.30/32"), Some(BAN_SCOPE_SIP));
        assert_eq!(h.evidence("nonce_proven"), 0);
    }
}

bpf_test! {
    fn the_cnonce_is_not_the_nonce(h = POLICY) {
        // The client's own cnonce names the PBX's nonce; the real nonce is made up.
        challenged(&h, GUESSER, "n-guesser");
        for g in 0..3 {
            let request = String::from_utf8(with_nonce("REGISTER", g, "made-up"))
                .unwrap()
                .replace("Digest username", "Digest cnonce=\"n-guesser\", username");
            h.round_trip(
                &sip(GUESSER, request.as_bytes()),
                &from_pbx(GUESSER, &challenge_with(401, "REGISTER", 0, "n-guesser")),
            );
        }
        assert_eq!(scope_of(&h, "192.0.2.66/32"), Some(BAN_SCOPE_SIP));
    }
}
